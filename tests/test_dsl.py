"""Parser, printer and semantic checks of the DSL."""

import pathlib

import pytest

import turbo
from turbo import ir
from turbo.ir import DType
from turbo.passes.verify import verify

GOLDEN = pathlib.Path(__file__).parent / "golden"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.loop")), ids=lambda p: p.stem)
def test_golden_print_and_round_trip(path, request):
    module = turbo.parse(path.read_text(), path.name)
    printed = str(module)
    expected = path.with_suffix(".out")
    if request.config.getoption("--update-golden") or not expected.exists():
        expected.write_text(printed)
    assert printed == expected.read_text()
    again = turbo.parse(printed)
    assert again == module
    assert str(again) == printed
    for k in module.kernels:
        verify(k)


def test_gemm_ir_shape():
    (k,) = turbo.parse((GOLDEN / "gemm.loop").read_text()).kernels
    assert [p.name for p in k.params] == ["C", "A", "B"]
    assert k.dims == ("M", "N", "K")
    outer = k.body[0]
    assert isinstance(outer, ir.For) and outer.index == "m"
    inner = outer.body[0]
    assert isinstance(inner, ir.For) and inner.index == "n"
    init, kloop, store = inner.body
    assert init == ir.Assign("acc", ir.Const(0.0, DType.F32))
    assert isinstance(kloop.body[0], ir.Assign) and kloop.body[0].op == "+"
    assert kloop.body[0].value.type is DType.F32  # f32 kernel: the 0.0 literal did not make acc f64
    assert store == ir.Store("C", (ir.Var("m", DType.I64), ir.Var("n", DType.I64)), ir.Var("acc", DType.F32))


def _types(src):
    (k,) = turbo.parse(src).kernels
    return ir.local_types(k)


def test_local_type_is_join_of_assignments():
    assert _types("kernel f(x: f32[N]) { for i in 0:N { a = 0.0\n a += x[i] } }") == {"a": DType.F32}
    assert _types("kernel f(x: f32[N], y: f64[N]) { for i in 0:N { a = 0\n a += x[i] } }") == {"a": DType.F32}
    # mixed kernel: a bare float literal alone takes f64, the kernel float type
    assert _types("kernel f(x: f32[N], y: f64[N]) { t = 1.5 }") == {"t": DType.F64}
    assert _types("kernel f(x: f32[N]) { t = 1 }") == {"t": DType.I64}
    assert _types("kernel f(x: i32[N]) { for i in 0:N { t = x[i]\n t = t * 2 } }") == {"t": DType.I32}
    assert _types("kernel f(x: f32[N]) { for i in 0:N { t = 0\n t /= 2 } }") == {"t": DType.F32}


def test_literal_follows_array_precision():
    (k,) = turbo.parse("kernel f(y: f32[N], x: f32[N]) { for i in 0:N { y[i] = 2.5 * x[i] + 1 } }").kernels
    value = k.body[0].body[0].value
    assert value.type is DType.F32
    assert value.left.left == ir.Const(2.5, DType.F32)
    assert value.right == ir.Const(1.0, DType.F32)


def test_int_true_division_gives_kernel_float():
    (k,) = turbo.parse("kernel f(y: f32[N]) { for i in 0:N { y[i] = i / 2 } }").kernels
    v = k.body[0].body[0].value
    assert v.type is DType.F32 and isinstance(v.left, ir.Cast)


def test_multiline_and_separators():
    src = """
    kernel f(
        y: f32[N],
        x: f32[N],
    )
    {
        for i in 0:N { a = x[i]; y[i] = (a +
                                        1.0) }
    }
    kernel g(z: i64[3]) { z[0] = 1; z[1] = 2
        z[2] = 3 }
    """
    m = turbo.parse(src)
    assert [k.name for k in m.kernels] == ["f", "g"]


def test_ternary_then_if_on_next_line():
    src = "kernel f(y: f32[N]) {\n for i in 0:N {\n a = 1.0 if i > 2 else 2.0\n if a > 1.0 { y[i] = a }\n }\n}"
    (k,) = turbo.parse(src).kernels
    loop = k.body[0]
    assert isinstance(loop.body[1], ir.If)


# ----------------------------------------------------------------------------- errors

ERRORS = [
    # (source, error class, line, column, words in the message)
    ("kernel f(x: f32[N]) {\n  for i in 0:N {\n    x[i] = y\n  }\n}", turbo.DSLSemanticError, 3, 12, "undefined name 'y'"),
    ("kernel f(x: f32[N]) {\n  x[0, 1] = 1.0\n}", turbo.DSLSemanticError, 2, 3, "has 1 dim but is indexed with 2"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N { i = 2 }\n}", turbo.DSLSemanticError, 2, 18, "cannot assign to the loop index 'i'"),
    ("kernel f(x: i32[N], y: f32[N]) {\n  for i in 0:N { x[i] = y[i] }\n}", turbo.DSLTypeError, 2, 18, "f32 value where i32 is expected"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N { x[i] = x[i] + (i > 2) }\n}", turbo.DSLTypeError, 2, 30, "needs numbers"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N {\n    x[1.5] = 0.0 } }", turbo.DSLTypeError, 3, 7, "must be an integer"),
    ("kernel f(x: f32[N]) {\n  x[0] = frob(1.0)\n}", turbo.DSLSemanticError, 2, 10, "unknown function 'frob'"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N { t = 1.0 }\n  x[0] = t\n}", turbo.DSLSemanticError, 3, 10, "used before it is assigned"),
    ("kernel f(x: f32[N]) {\n  if x[0] { x[0] = 1.0 }\n}", turbo.DSLTypeError, 2, 6, "condition must be a boolean"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N:0 { x[i] = 1.0 }\n}", turbo.DSLSemanticError, 2, 16, "step is zero"),
    ("kernel f(x: f33[N]) { }", turbo.DSLSemanticError, 1, 13, "unknown element type"),
    ("kernel f(x: f32[N], x: f32[N]) { }", turbo.DSLSemanticError, 1, 21, "declared twice"),
    ("kernel f(x: f32[N]) {\n  x = 1.0\n}", turbo.DSLSemanticError, 2, 3, "cannot assign to the array parameter"),
    ("kernel f(x: f32[N], s: f32) {\n  s = 1.0\n}", turbo.DSLSemanticError, 2, 3, "cannot assign to the scalar parameter"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N { for i in 0:N { } }\n}", turbo.DSLSemanticError, 2, 22, "shadows"),
    ("kernel f(x: f32[N]) {\n  x[0] = exp(1.0, 2.0)\n}", turbo.DSLTypeError, 2, 10, "takes 1 argument"),
    ("kernel f(x: f32[N]) {\n  t = x[0] < 1.0\n  t = 2\n}", turbo.DSLTypeError, 3, 3, "bool"),
    ("kernel f(x: i32[N]) {\n  x[0] /= 2\n}", turbo.DSLTypeError, 2, 3, "'/=' on the integer array"),
    ("kernel f(x: f32[N]) {\n  x[0] = N\n  y[0] = 1\n}", turbo.DSLSemanticError, 3, 3, "undefined array 'y'"),
    ("kernel f(x: f32[N]) { }\nkernel f(y: f32[N]) { }", turbo.DSLSemanticError, 2, 8, "defined twice"),
    ("kernel f(x: f32[N]) {\n  x[0] = x\n}", turbo.DSLTypeError, 2, 10, "is an array"),
    ("kernel f(x: i64[N]) {\n  x[0] = 2 ** -1\n}", turbo.DSLTypeError, 2, 10, "negative integer power"),
    ("kernel f(x: i64[N]) {\n  x[0] = 99999999999999999999\n}", turbo.DSLTypeError, 2, 10, "does not fit"),
    ("kernel f(x: f32[N]) {\n  x[0] = not 1.0\n}", turbo.DSLTypeError, 2, 10, "needs booleans"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N { return x[i] }\n}", turbo.DSLSemanticError, 2, 18, "must be the last statement"),
    ("kernel f(x: f32[N]) {\n  return 1.0\n  x[0] = 2.0\n}", turbo.DSLSemanticError, 2, 3, "must be the last statement"),
    # syntax errors
    ("kernel f(x: f32[N]) {\n  for i in 0:N {\n    x[i] = = 1\n  }\n}", turbo.DSLSyntaxError, 3, 12, "unexpected '='"),
    ("kernel f(x: f32[N]) {\n  x[0] = 1.0\n", turbo.DSLSyntaxError, 2, 13, "unexpected end of input"),
    ("kernel f(x: f32[N]) {\n  x[0] = 1.0 $ 2\n}", turbo.DSLSyntaxError, 2, 14, "unexpected character '$'"),
    ("kernel f(x: f32[N]) {\n  x[0] == 1.0\n}", turbo.DSLSyntaxError, 2, 9, "unexpected"),
    ("kernel f(x: f32[N]) {\n  for i in 0:N { x[i] = 0 < i < 3 }\n}", turbo.DSLSyntaxError, 2, 31, "unexpected"),
]


@pytest.mark.parametrize("src,cls,line,col,words", ERRORS, ids=[e[4][:30] for e in ERRORS])
def test_error_location_and_message(src, cls, line, col, words):
    with pytest.raises(cls) as info:
        turbo.compile(src, "bad.loop")
    e = info.value
    assert isinstance(e, turbo.TurboError)
    assert (e.line, e.column) == (line, col), str(e)
    text = str(e)
    assert words in text
    assert 'File "bad.loop", line' in text
    # the caret line sits under the reported column of the shown source line
    lines = text.splitlines()
    caret = next(i for i, s in enumerate(lines) if s.strip().startswith("^"))
    shown = lines[caret - 1]
    source_line = src.splitlines()[line - 1] if line <= len(src.splitlines()) else ""
    assert shown.strip() == source_line.strip()


def test_type_error_is_also_a_python_type_error():
    with pytest.raises(TypeError):
        turbo.compile("kernel f(x: i32[N], y: f32[N]) { for i in 0:N { x[i] = y[i] } }")


@pytest.mark.parametrize("depth", [150, 600, 3000])
def test_deep_nesting_is_a_located_error(depth):
    src = "kernel f(x: f32[N]) {\n x[0] = " + "(1.0 + " * depth + "1.0" + ")" * depth + "\n}"
    with pytest.raises(turbo.DSLSyntaxError, match="nested more than 100 deep") as info:
        turbo.compile(src)
    assert info.value.line == 2
    loops = "kernel f(x: f32[N]) {\n" + "".join(f"for v{k} in 0:N {{\n" for k in range(60)) + "}" * 61
    with pytest.raises(turbo.DSLSyntaxError, match="nested more than 50 deep"):
        turbo.compile(loops)


def test_deepest_allowed_expression_compiles_prints_and_runs():
    import numpy as np

    src = "kernel f(x: f64[N]) { x[0] = " + "(1.0 + " * 95 + "1.0" + ")" * 95 + " }"
    mod = turbo.compile(src)
    assert turbo.parse(str(mod.f.ir)).kernels[0] == mod.f.ir
    x = np.zeros(1)
    mod.f(x)
    assert x[0] == 96.0


def test_non_string_source():
    with pytest.raises(TypeError):
        turbo.compile(b"kernel f() {}")
