"""@turbo against the plain Python function it compiles.

The oracle is the undecorated function run by CPython on copies of the same
inputs: every array must be equal afterwards and the returned values must agree
(a tolerance only where Python computes in another precision or turbo's libm
differs from NumPy's in the last bits).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import pyloops as P
import turbo
from turbo import turbo as jit
from turbo.interpret import interpret

VEC_SIZES = (0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 129)
MAT_SIZES = (0, 1, 2, 7, 8, 9, 16, 17)


def vec(rng, n, dt, lo=-2.0, hi=2.0):
    dt = np.dtype(dt)
    if dt.kind == "f":
        return rng.uniform(lo, hi, n).astype(dt)
    if dt.kind == "b":
        return rng.random(n) < 0.5
    return rng.integers(-50, 50, n).astype(dt)


def mat(rng, m, n, dt):
    return vec(rng, m * n, dt).reshape(m, n)


def lower(rng, n, dt):
    L = np.tril(rng.uniform(-1, 1, (n, n))) + n * np.eye(n)
    return L.astype(dt)


def spd(rng, n, dt):
    M = rng.uniform(-1, 1, (n, n))
    return (M @ M.T + n * np.eye(n)).astype(dt)


FLOATS = ("float32", "float64")
INTS = ("int32", "int64")

# (function, argument builder (rng, n, dtype) -> args, dtypes, sizes, rtol by dtype kind)
CASES = [
    (P.axpy, lambda r, n, d: (vec(r, n, d), 1.25, vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.scal, lambda r, n, d: (vec(r, n, d), -0.5), FLOATS, VEC_SIZES, 0),
    (P.dot, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS + INTS, VEC_SIZES, 1e-5),
    (P.selfdot, lambda r, n, d: (vec(r, n, d),), FLOATS + INTS, VEC_SIZES, 1e-5),
    (P.asum, lambda r, n, d: (vec(r, n, d),), FLOATS, VEC_SIZES, 1e-5),
    (P.nrm2, lambda r, n, d: (vec(r, n, d),), FLOATS, VEC_SIZES, 1e-6),
    (P.iamax, lambda r, n, d: (vec(r, max(n, 1), d),), FLOATS + INTS, VEC_SIZES, 0),
    (P.swap, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS + INTS, VEC_SIZES, 0),
    (P.rot, lambda r, n, d: (vec(r, n, d), vec(r, n, d), 0.6, 0.8), FLOATS, VEC_SIZES, 0),
    (P.gemv, lambda r, n, d: (vec(r, n, d), mat(r, n, n + 3, d), vec(r, n + 3, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.gemv_t, lambda r, n, d: (vec(r, n + 3, d), mat(r, n, n + 3, d), vec(r, n, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.ger, lambda r, n, d: (mat(r, n, n + 1, d), vec(r, n, d), vec(r, n + 1, d), 0.5), FLOATS, MAT_SIZES, 0),
    (P.dot3, lambda r, n, d: (vec(r, n, d), mat(r, n, n + 2, d), vec(r, n + 2, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.trmv_lower, lambda r, n, d: (vec(r, n, d), lower(r, n, d), vec(r, n, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.gemm, lambda r, n, d: (mat(r, n, n + 1, d), mat(r, n, n + 2, d), mat(r, n + 2, n + 1, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.gemm_tn, lambda r, n, d: (mat(r, n, n + 1, d), mat(r, n + 2, n, d), mat(r, n + 2, n + 1, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.gemm_nt, lambda r, n, d: (mat(r, n, n + 1, d), mat(r, n, n + 2, d), mat(r, n + 1, n + 2, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.gemm_tt, lambda r, n, d: (mat(r, n, n + 1, d), mat(r, n + 2, n, d), mat(r, n + 1, n + 2, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.gemm_update, lambda r, n, d: (mat(r, n, n, d), mat(r, n, n + 1, d), mat(r, n + 1, n, d), 1.5, -0.5), FLOATS, MAT_SIZES, 1e-5),
    (P.syrk_lower, lambda r, n, d: (mat(r, n, n, d), mat(r, n, n + 3, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.blur1d, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.laplacian, lambda r, n, d: (mat(r, n, n + 1, d), mat(r, n, n + 1, d)), FLOATS + INTS, MAT_SIZES, 0),
    (P.filter2d, lambda r, n, d: (mat(r, n, n, d), mat(r, n + 2, n + 2, d), mat(r, 3, 3, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.wrap_ends, lambda r, n, d: (vec(r, max(n, 1), d), vec(r, max(n, 1), d)), FLOATS, VEC_SIZES, 0),
    (P.total, lambda r, n, d: (vec(r, n, d),), FLOATS + INTS, VEC_SIZES, 1e-5),
    (P.mean2d, lambda r, n, d: (mat(r, max(n, 1), n + 1, d),), FLOATS, MAT_SIZES, 1e-5),
    (P.maxval, lambda r, n, d: (vec(r, n, d),), FLOATS, VEC_SIZES, 0),
    (P.minval, lambda r, n, d: (vec(r, n, d),), FLOATS, VEC_SIZES, 0),
    (P.count_positive, lambda r, n, d: (vec(r, n, d),), FLOATS + INTS, VEC_SIZES, 0),
    (P.all_finite, lambda r, n, d: (vec(r, n, d),), FLOATS, VEC_SIZES, 0),
    (P.argmax, lambda r, n, d: (vec(r, max(n, 1), d),), FLOATS + INTS, VEC_SIZES, 0),
    (P.logsumexp, lambda r, n, d: (vec(r, n, d),), FLOATS, VEC_SIZES, 1e-5),
    (P.variance, lambda r, n, d: (vec(r, max(n, 2), d),), FLOATS, VEC_SIZES, 1e-4),
    (P.sum_f64, lambda r, n, d: (vec(r, n, d),), ("float32",), VEC_SIZES, 1e-12),
    (P.forward_subst, lambda r, n, d: (vec(r, n, d), lower(r, n, d), vec(r, n, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.back_subst, lambda r, n, d: (vec(r, n, d), lower(r, n, d).T.copy(), vec(r, n, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.cholesky, lambda r, n, d: (spd(r, n, d),), FLOATS, MAT_SIZES, 1e-4),
    (P.cumsum, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 1e-5),
    (P.scan_inplace, lambda r, n, d: (vec(r, n, d),), FLOATS + INTS, VEC_SIZES, 1e-5),
    (P.every_other_reversed, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS + INTS, VEC_SIZES, 0),
    (P.relu, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.clamp, lambda r, n, d: (vec(r, n, d), vec(r, n, d), -0.5, 0.75), FLOATS, VEC_SIZES, 0),
    (P.sign, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS + INTS, VEC_SIZES, 0),
    (P.histogram, lambda r, n, d: (np.zeros(P.NBINS, np.int64), vec(r, n, d, -0.2, 1.2)), FLOATS, VEC_SIZES, 0),
    (P.leaky_clip, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.masked_sum, lambda r, n, d: (vec(r, n, d), vec(r, n, "bool")), FLOATS, VEC_SIZES, 1e-5),
    (P.int_poly, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), INTS, VEC_SIZES, 0),
    (P.int_divmod, lambda r, n, d: (vec(r, n, d), vec(r, n, d), vec(r, n, d), -7), INTS, VEC_SIZES, 0),
    (P.int_matmul, lambda r, n, d: (mat(r, n, n + 1, d), mat(r, n, n + 2, d), mat(r, n + 2, n + 1, d)), INTS, MAT_SIZES, 0),
    (P.digit_sum, lambda r, n, d: (vec(r, n, d),), INTS, VEC_SIZES, 0),
    (P.softplus, lambda r, n, d: (vec(r, n, d), vec(r, n, d, -20, 20)), FLOATS, VEC_SIZES, 1e-6),
    (P.sigmoid_math, lambda r, n, d: (vec(r, n, d), vec(r, n, d, -20, 20)), FLOATS, VEC_SIZES, 1e-6),
    (P.trig, lambda r, n, d: (vec(r, n, d), vec(r, n, d, -5, 5)), FLOATS, VEC_SIZES, 1e-5),
    (P.quantize, lambda r, n, d: (vec(r, n, "int32"), vec(r, n, d), 100.0), FLOATS, VEC_SIZES, 0),
    (P.to_f32, lambda r, n, d: (vec(r, n, "float32"), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.powers, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 1e-6),
    (P.scaled_by_global, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.chained_compare_and_minmax, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.aug_ops, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.swap_pairs, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.reassigned_param, lambda r, n, d: (vec(r, n, d), 5), FLOATS + INTS, VEC_SIZES, 0),
    (P.shape_props, lambda r, n, d: (np.zeros(4, np.int64), mat(r, max(n, 1), n + 2, d)), FLOATS, MAT_SIZES, 0),
    (P.fib_like, lambda r, n, d: (vec(r, n, d),), ("int64", "float64"), (0, 1, 2, 9, 33, 64), 0),
    (P.docstring_and_pass, lambda r, n, d: (vec(r, n, d),), FLOATS + INTS, VEC_SIZES, 0),
    (P.row_norms, lambda r, n, d: (vec(r, n, d), mat(r, n, n + 3, d)), FLOATS, MAT_SIZES, 1e-5),
    (P.fill_then_add, lambda r, n, d: (vec(r, n, d), vec(r, n, d)), FLOATS, VEC_SIZES, 0),
    (P.index_of, lambda r, n, d: _with_hit(r, vec(r, n, d), None, "value"), FLOATS, VEC_SIZES, 0),
    (P.all_finite_early, lambda r, n, d: _with_hit(r, vec(r, n, d), np.inf, None), FLOATS, VEC_SIZES, 0),
    (P.first_in_rows, lambda r, n, d: (mat(r, n, n + 3, d), 1.9), FLOATS, MAT_SIZES, 0),
    (P.mean_or_zero, lambda r, n, d: (vec(r, n, d),), FLOATS, VEC_SIZES, 1e-5),
    (P.first_value_or_total, lambda r, n, d: (vec(r, n, d), 1.8), FLOATS, VEC_SIZES, 1e-5),
    (P.copy_until_negative, lambda r, n, d: (np.zeros(n, d), *_with_hit(r, np.abs(vec(r, n, d)), -1.0, None)),
     FLOATS, VEC_SIZES, 0),
]


def _with_hit(rng, x, value, extra):
    """``x`` with ``value`` at a random place (or nowhere, one time in three), and
    for "value" the element to search for instead (or one that is not there)."""
    at = int(rng.integers(0, len(x))) if len(x) and rng.random() < 2 / 3 else None
    if extra == "value":
        return x, float(x[at]) if at is not None else 7.5
    if at is not None:
        x[at] = value
    return (x,)

_jitted: dict[object, object] = {}


def compiled(fn):
    if fn not in _jitted:
        _jitted[fn] = jit(fn)
    return _jitted[fn]


_exact: dict[object, object] = {}


def exact_compiled(fn):
    if fn not in _exact:
        _exact[fn] = jit(fastmath=False)(fn)
    return _exact[fn]


def copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def check_against_python(fn, args, rtol, exact=False):
    """Compare with plain Python. Default compilation may fuse a * b + c into an
    FMA and reorder reductions (fastmath), so an exact case (rtol 0) is compared
    with a tolerance of a few roundings; ``exact`` compiles with fastmath=False and
    demands equality."""
    mine, ref = copies(args), copies(args)
    if exact:
        got = exact_compiled(fn)(*mine)
    else:
        got = compiled(fn)(*mine)
        if rtol == 0 and any(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in args):
            rtol = 1e-5 if any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in args) else 1e-12
    with np.errstate(all="ignore"):
        want = fn(*ref)
    if want is None:
        assert got is None
    else:
        assert type(got) in (float, int, bool), type(got)
        if isinstance(want, (bool, np.bool_)):
            assert got is bool(want)
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=f"value returned by {fn.__name__}")
    for k, (a, b) in enumerate(zip(mine, ref)):
        if isinstance(a, np.ndarray):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol, err_msg=f"argument {k} of {fn.__name__}")


@pytest.mark.parametrize("fn,make,dtypes,sizes,rtol", CASES, ids=[c[0].__name__ for c in CASES])
def test_corpus_matches_plain_python(fn, make, dtypes, sizes, rtol):
    rng = np.random.default_rng(7)
    for dt in dtypes:
        tol = 0 if not rtol else (rtol if dt == "float32" else min(rtol, 1e-12) if dt == "float64" else 0)
        if fn in (P.nrm2, P.sigmoid_math, P.powers) and dt == "float32":
            tol = 1e-6  # Python computes math.* in double precision, turbo in the arrays' float32
        for n in sizes:
            check_against_python(fn, make(rng, n, dt), tol)
            if tol == 0:
                # without fastmath, vectorized code rounds exactly like Python
                check_against_python(fn, make(rng, n, dt), 0, exact=True)


def test_closure_variables_are_captured_by_value():
    fn = jit(P.make_scaler(2.5))
    x = np.arange(5, dtype=np.float64)
    y = np.zeros(5)
    fn(y, x)
    np.testing.assert_array_equal(y, 2.5 * x)
    assert "2.5 * x[i]" in fn.inspect("loops")


def test_strided_transposed_and_scalar_kinds():
    rng = np.random.default_rng(1)
    A = mat(rng, 9, 12, "float32")
    for view in (A[::2, 1::3], A.T, A[:, ::-1]):
        y = np.zeros(view.shape[0], np.float32)
        x = vec(rng, view.shape[1], "float32")
        check_against_python(P.gemv, (y, view, x), 1e-5)
    x = vec(rng, 10, "float64")
    for a in (2, 2.5, np.float32(2.5), np.float64(0.5), np.int32(3)):
        check_against_python(P.scal, (x, a), 0)


# ----------------------------------------------------------------------------- precision and signatures


def test_float_literals_follow_the_arrays_precision():
    f = compiled(P.gemm)
    A = np.ones((4, 4), np.float32)
    f(np.zeros((4, 4), np.float32), A, A)
    text = f.inspect("loops", np.zeros((4, 4), np.float32), A, A)
    assert "C: f32[n0, n0]" in text and "acc = 0.0" in text
    # acc is an f32 local: the accumulation stays in the arrays' precision
    kernel = next(k for k in f.kernels if k.ir.params[0].dtype is turbo.ir.DType.F32)
    assert turbo.ir.local_types(kernel.ir)["acc"] is turbo.ir.DType.F32
    # a Python float argument takes the arrays' float type too
    sc = compiled(P.scal)
    sc(np.ones(3, np.float32), 0.5)
    assert "(x: f32[n0], a: f32)" in sc.signatures


def test_integer_literal_expressions_take_pythons_value():
    f = compiled(P.folded_constants)
    x = np.arange(12, dtype=np.int64).reshape(3, 4) * 1000003
    got, want = np.zeros((3, 4), np.int64), np.zeros((3, 4), np.int64)
    f(got, x)
    with np.errstate(over="ignore"):  # the hash wraps, as int64 does
        P.folded_constants(want, x)
    np.testing.assert_array_equal(got, want)
    text = f.inspect("loops", got, x)
    assert "-3750763034362895579" in text and "4611686018427387904" not in text  # each expression one literal
    # a literal that does not fit, alone, is still an error at its column
    def too_big(out):
        out[0] = 14695981039346656037
    with pytest.raises(turbo.errors.DSLTypeError, match="does not fit in 64 bits"):
        jit(too_big)(np.zeros(1, np.int64))


def test_identical_functions_share_code_but_not_dispatch():
    """Two functions with the same source compile to kernels of the same symbol
    names (named by a hash of the code), so the second loads none of its own: each
    must still call its own chain of signatures, whatever order the dtypes come in."""
    def make():
        def double(x, y):
            for i in range(x.shape[0]):
                y[i] = x[i] * 2
        return jit(double)

    f, g = make(), make()
    orders = ((np.float64, np.float32, np.int32), (np.int64, np.float32, np.float64, np.int32))
    for fn, dts in ((f, orders[0]), (g, orders[1]), (f, orders[1]), (g, orders[0])):
        for dt in dts:
            x = np.arange(5).astype(dt)
            y = np.zeros(5, dt)
            fn(x, y)
            np.testing.assert_array_equal(y, 2 * x)
    y = np.zeros(3)
    g(np.arange(6.0)[::2], y)  # a strided view: another variant of the same kernel
    np.testing.assert_array_equal(y, [0.0, 4.0, 8.0])


def test_signatures_follow_dtypes_and_dim_equalities():
    r = np.random.default_rng(0)

    def call(f, m, k, n, dt="float64"):
        C, A, B = np.zeros((m, n), dt), mat(r, m, k, dt), mat(r, k, n, dt)
        f(C, A, B)
        np.testing.assert_allclose(C, A @ B, rtol=1e-5)

    f = jit(P.gemm)
    call(f, 3, 3, 3)  # first call: all dims equal, so one dim name
    assert f.signatures == ["(C: f64[n0, n0], A: f64[n0, n0], B: f64[n0, n0])"]
    call(f, 3, 4, 5)  # needs a more general signature
    call(f, 2, 6, 2)  # taken by the general kernel (the entry points are chained)
    call(f, 2, 2, 2, "float32")
    assert f.signatures == [
        "(C: f64[n0, n0], A: f64[n0, n0], B: f64[n0, n0])",
        "(C: f64[n0, n1], A: f64[n0, n2], B: f64[n2, n1])",
        "(C: f32[n0, n0], A: f32[n0, n0], B: f32[n0, n0])",
    ]
    g = jit(P.gemm)
    call(g, 3, 4, 5)
    call(g, 4, 4, 4)  # the general kernel takes square matrices too: no new signature
    assert g.signatures == ["(C: f64[n0, n1], A: f64[n0, n2], B: f64[n2, n1])"]


def test_calls_after_the_first_take_the_machine_code_entry():
    f = jit(P.dot)
    x = np.ones(4)
    assert f(x, x) == 4.0
    entry = type(f).__call__
    assert type(entry).__name__ == "builtin_function_or_method"
    assert f(x, x) == 4.0
    # another signature goes through the dispatcher once, then the entry points are
    # chained: each one's miss calls the next one's, in C, without the dispatcher
    xi = np.arange(4, dtype=np.int32)
    assert f(xi, xi) == 14 and f(xi, xi) == 14
    assert f(x, x) == 4.0
    chain = type(f).__call__
    assert type(chain).__name__ == "builtin_function_or_method"
    seen = []
    target = f._target
    f._target = lambda args: seen.append(args) or target(args)
    for _ in range(3):
        assert f(x, x) == 4.0 and f(xi, xi) == 14
    assert seen == []
    # a third signature joins the chain; the dispatcher sees it once
    xs = np.ones(3, np.float32)
    assert f(xs, xs) == 3.0 and f(xs, xs) == 3.0 and f(xi, xi) == 14 and f(x, x) == 4.0
    assert len(seen) == 1 and len(f.signatures) == 3
    # a miss for a layout the kernel has not compiled still reaches its checked path
    assert f(x[::2], x[::2]) == 2.0 and f(xi[::2], xi[::2]) == 4


def test_keyword_arguments_reach_the_signature_of_their_values():
    f = jit(P.dot)
    x, xi = np.ones(4), np.arange(4, dtype=np.int32)
    assert f(x, x) == 4.0 and f(xi, xi) == 14  # two signatures, their entry points chained
    assert f(x=x, y=x) == 4.0 and f(xi, y=xi) == 14 and f(y=xi, x=xi) == 14
    assert f(x[::2], y=x[::2]) == 2.0  # a layout not compiled yet, by keyword
    with pytest.raises(turbo.ArgumentTypeError, match="unexpected keyword argument 'z'"):
        f(x, z=x)
    with pytest.raises(turbo.ArgumentTypeError, match="missing 1 required argument: 'y'"):
        f(x=x)
    assert f(x, x) == 4.0  # positional calls still take the chain


def test_inspect_stages_and_errors():
    f = jit(P.selfdot)
    with pytest.raises(TypeError, match="pass example arguments"):
        f.inspect("loops")
    x = np.ones(8, np.float32)
    loops = f.inspect("loops", x)
    assert loops.startswith("kernel selfdot(x: f32[n0]) {") and "return s" in loops
    assert turbo.parse(loops).kernels[0] == f.kernels[0].ir  # the printed text is DSL that parses back
    assert "define" in f.inspect("llvm", x)
    assert f.inspect("asm", x)
    assert repr(f) == "<turbo function selfdot (1 signature)>"
    assert f.__name__ == "selfdot" and f.__wrapped__ is P.selfdot


def test_interpreter_agrees_with_the_translated_ir():
    f = jit(P.logsumexp)
    x = vec(np.random.default_rng(3), 20, "float64")
    got = f(x)
    assert got == pytest.approx(float(interpret(f.kernels[0].ir, x)), rel=1e-12)


# ----------------------------------------------------------------------------- safety


def test_argument_errors():
    f = jit(P.axpy)
    x = np.ones(3)
    with pytest.raises(turbo.ArgumentTypeError, match="takes 3 positional arguments"):
        f(x, 1.0)
    with pytest.raises(turbo.ArgumentTypeError, match="must be a NumPy array or a number, got list"):
        f(x, 1.0, [1.0, 2.0, 3.0])
    with pytest.raises(turbo.ArgumentTypeError, match="dtype complex128"):
        f(x, 1.0, x.astype(complex))
    with pytest.raises(turbo.ArgumentTypeError, match="0-d arrays"):
        f(x, 1.0, np.array(1.0))
    with pytest.raises(turbo.ArgumentValueError, match="read-only"):
        ro = np.ones(3)
        ro.flags.writeable = False
        f(ro, 1.0, x)
    with pytest.raises(TypeError):
        f(x, 1.0, x, y=x)


def test_out_of_bounds_index_raises_at_the_line():
    f = jit(P.gemv)
    y, A, x = np.zeros(3), np.ones((3, 4)), np.ones(2)  # x is too short for A
    with pytest.raises(turbo.KernelIndexError) as info:
        f(y, A, x)
    assert info.value.filename.endswith("pyloops.py")
    assert "x[j]" in str(info.value)
    with pytest.raises(IndexError):  # and it is an IndexError, as in Python
        P.gemv(y, A, x)


def test_integer_division_by_zero_is_a_zero_division_error():
    f = jit(P.int_divmod)
    x = np.arange(3, dtype=np.int64)
    with pytest.raises(ZeroDivisionError):
        f(x.copy(), x.copy(), x, 0)


def test_boundscheck_option_and_unknown_options():
    f = jit(boundscheck=True)(P.dot)
    assert f(np.ones(3), np.ones(3)) == 3.0
    assert f.options["boundscheck"] is True
    with pytest.raises(TypeError, match="unexpected keyword argument 'fast'"):
        jit(fast=True)
    with pytest.raises(TypeError, match="boundscheck must be one of"):
        jit(boundscheck="yes")
    with pytest.raises(TypeError, match="parallel must be True or False"):
        jit(parallel="yes")
    assert jit(parallel=False, fastmath=False)(P.dot)(np.ones(2), np.ones(2)) == 2.0


def test_disable_jit_returns_the_plain_function(monkeypatch):
    monkeypatch.setenv("TURBO_DISABLE_JIT", "1")
    assert jit(P.dot) is P.dot
    assert jit(boundscheck=False)(P.dot) is P.dot


def test_fallback_runs_python_with_a_warning_naming_function_and_line():
    import pybad

    with pytest.warns(turbo.FallbackWarning, match=r"running 'uses_list' \(.*pybad.py:\d+\) as plain Python"):
        f = jit(fallback=True)(pybad.uses_list)
    x = np.zeros(2)
    f(x)
    np.testing.assert_array_equal(x, [1.0, 0.0])
    # a signature that does not type-check falls back at its first call, with a warning
    g = jit(fallback=True)(pybad.bool_arith)
    with pytest.warns(turbo.FallbackWarning, match="bool_arith"):
        g(np.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jit(fallback=True)(P.dot)(np.ones(2), np.ones(2)) == 2.0  # compiles: no warning


def test_math_helpers_edge_values():
    f = jit(P.all_finite)
    assert f(np.array([1.0, 2.0])) is True
    assert f(np.array([1.0, math.inf])) is False
    assert f(np.array([math.nan])) is False
    assert jit(P.maxval)(np.array([], np.float32)) == -math.inf
    vals = np.array([0.0, -0.0, 1.5, -2.0, math.inf, -math.inf, math.nan], np.float64)
    x, y = (a.ravel().copy() for a in np.meshgrid(vals, vals))
    for dt in ("float32", "float64"):
        check_against_python(P.specials, (np.zeros(x.size, dt), x.astype(dt), y.astype(dt)), 0)


# ----------------------------------------------------------------------------- refusals

import pybad  # noqa: E402

AT_DECORATION = [
    "uses_list", "uses_dict", "uses_try", "uses_with",
    "uses_comprehension", "uses_lambda", "uses_generator", "uses_nested_def", "uses_slice",
    "uses_is", "uses_star_args", "uses_default", "uses_raise", "uses_assert", "uses_walrus", "uses_matmul",
    "uses_fstring", "value_or_nothing", "returns_inside_only",
]
AT_FIRST_CALL = [
    # (name, error class, arguments)
    ("uses_string", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_attribute", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_transpose", turbo.UnsupportedError, (np.zeros((2, 2)), np.zeros((2, 2)))),
    ("uses_python_call", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_print", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_iteration_over_array", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_enumerate", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_for_else", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_while_else", turbo.UnsupportedError, (np.zeros(3),)),
    ("returns_tuple", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_global_array", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_expression_statement", turbo.UnsupportedError, (np.zeros(3),)),
    ("uses_recursion", turbo.UnsupportedError, (np.zeros(3), 2)),
    ("bool_arith", turbo.DSLTypeError, (np.zeros(3),)),
    ("undefined_name", turbo.DSLSemanticError, (np.zeros(3),)),
    ("float_index", turbo.DSLTypeError, (np.zeros(3),)),
    ("float_bitwise", turbo.DSLTypeError, (np.zeros(3),)),
    ("partial_index", turbo.DSLSemanticError, (np.zeros((2, 2)),)),
    ("maybe_unassigned", turbo.DSLSemanticError, (np.zeros(3),)),
    ("float_range", turbo.DSLTypeError, (np.zeros(3),)),
    ("unknown_math", turbo.UnsupportedError, (np.zeros(3),)),
]


def _marked_line(fn) -> int:
    import inspect

    lines, first = inspect.getsourcelines(getattr(fn, "py_func", fn))
    marked = [first + k for k, line in enumerate(lines) if "# <- error" in line]
    assert len(marked) == 1, fn
    return marked[0]


def _check_located(e: turbo.TurboError, fn):
    assert isinstance(e, turbo.TurboError)
    assert e.filename.endswith("pybad.py")
    assert e.line == _marked_line(fn), str(e)
    text = str(e)
    assert f"line {e.line}" in text and "^" in text  # the source line with a caret
    assert e.hint or isinstance(e, (turbo.DSLSemanticError,)), text


@pytest.mark.parametrize("name", AT_DECORATION)
def test_unsupported_construct_is_refused_when_decorated(name):
    fn = getattr(pybad, name)
    with pytest.raises(turbo.UnsupportedError) as info:
        jit(fn)
    _check_located(info.value, fn)


@pytest.mark.parametrize("name,cls,args", AT_FIRST_CALL, ids=[c[0] for c in AT_FIRST_CALL])
def test_untranslatable_code_is_refused_at_the_first_call(name, cls, args):
    fn = getattr(pybad, name)
    f = fn if hasattr(fn, "py_func") else jit(fn)
    with pytest.raises(cls) as info:
        f(*args)
    _check_located(info.value, fn)


def test_sizes_zero_and_one_are_not_specialized_as_equal():
    f = jit(P.gemv)
    for m, n in ((1, 1), (5, 3), (0, 4)):
        y, A, x = np.zeros(m), np.ones((m, n)), np.ones(n)
        f(y, A, x)
        np.testing.assert_array_equal(y, A @ x)
    assert f.signatures == ["(y: f64[n0], A: f64[n1, n2], x: f64[n3])"]


@jit
def _find(x, v):
    for i in range(len(x)):
        if x[i] == v:
            return i
    return -1


def test_an_inlined_function_returns_early_inside_the_callers_loop():
    @jit
    def count_found(x, vs):
        c = 0
        for k in range(len(vs)):
            if _find(x, vs[k]) >= 0:
                c += 1
        return c

    x = np.arange(10.0)
    vs = np.array([3.0, 11.0, 9.0, -1.0, 0.0])
    assert count_found(x, vs) == 3
    assert _find(x, 4.0) == 4 and _find(x, 40.0) == -1


def _kmeans_update(C, cnt, X, idx):  # c: a loop variable in two loops and a local in another
    for c in range(C.shape[0]):
        cnt[c] = 0.0
        for k in range(C.shape[1]):
            C[c, k] = 0.0
    for i in range(X.shape[0]):
        c = idx[i]
        cnt[c] += 1.0
        for k in range(X.shape[1]):
            C[c, k] += X[i, k]
    for c in range(C.shape[0]):
        if cnt[c] > 0:
            for k in range(C.shape[1]):
                C[c, k] /= cnt[c]


def _last_index(n, step):  # Python: after the loop, c is its last value (or what it was)
    c = -7
    s = 0
    for c in range(1, n, step):
        s += c
    return c * 1000 + s


def _index_at_break(x, t):  # left by a break: the loop variable is the index it broke at
    i = -1
    for i in range(x.shape[0]):
        if x[i] > t:
            break
    return i


def _last_index_down(n):
    c = -7
    t = 0
    for c in range(n, 0, -3):
        t += c
    return c * 1000 + t


@pytest.mark.parametrize("n", [0, 1, 5, 17])
def test_a_loop_variable_that_is_also_a_local_elsewhere(n):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 3))
    idx = rng.integers(0, 4, n)
    want = [np.zeros((4, 3)), np.zeros(4)]
    _kmeans_update(*want, X, idx)
    got = [np.zeros((4, 3)), np.zeros(4)]
    jit(_kmeans_update)(*got, X, idx)
    np.testing.assert_allclose(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1])
    for step in (1, 2, 5):
        assert jit(_last_index)(n, step) == _last_index(n, step)
    assert jit(_last_index_down)(n) == _last_index_down(n)
    x = np.arange(float(n))
    for t in (-1.0, 0.5, n / 2, n + 1.0):
        assert jit(_index_at_break)(x, t) == _index_at_break(x, t), (n, t)
    # the break sets the local where it leaves: the loop is still a vectorized search
    assert "up to the first step where a lane breaks" in jit(_index_at_break).explain(x, 0.5)


def test_a_loop_variable_local_whose_bounds_change_in_the_loop_is_refused():
    def f(x):
        c = 0
        n = x.shape[0]
        for c in range(n):
            n = n - c
        return c + n

    with pytest.raises(turbo.UnsupportedError, match="bounds read what it assigns") as e:
        jit(f)(np.zeros(3))
    assert "for c in range(n):" in str(e.value)

    def g(x, m):
        c = 0
        for c in range(m[0]):
            m[0] = c
        return c

    with pytest.raises(turbo.UnsupportedError, match="bounds read what it assigns"):
        jit(g)(np.zeros(3), np.array([3]))
