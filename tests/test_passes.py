"""Analyses and passes tested as decisions, apart from numeric results."""

import dataclasses

import numpy as np
import pytest

import turbo
from turbo import ir
from turbo.passes.bounds import access_checks
from turbo.passes.specialize import specialize_dims
from turbo.passes.verify import verify


def _checks(src: str) -> dict[str, list]:
    """array name -> per-access subscript check flags, in program order."""
    (k,) = turbo.parse(src).kernels
    flags = access_checks(k)
    out: dict[str, list] = {}
    for s in ir.walk_stmts(k.body):
        for e in ir.stmt_exprs(s):
            for sub in ir.walk_expr(e):
                if isinstance(sub, ir.Load):
                    out.setdefault(sub.array, []).append(flags[id(sub)])
        if isinstance(s, ir.Store):
            out.setdefault(s.array, []).append(flags[id(s)])
    return out


def test_gemm_needs_no_checks():
    c = _checks("""kernel gemm(C: f32[M, N], A: f32[M, K], B: f32[K, N]) {
        for m in 0:M, n in 0:N { acc = 0.0
            for k in 0:K { acc += A[m, k] * B[k, n] }
            C[m, n] = acc } }""")
    assert c == {"A": [(False, False)], "B": [(False, False)], "C": [(False, False)]}


def test_triangular_stencil_and_reversed_loops_are_proven():
    c = _checks("""kernel t(L: f64[N, N], x: f64[M], y: f64[M]) {
        for i in 0:N, j in 0:i + 1 { L[i, j] = 1.0 }
        for i in 0:M - 2, d in 0:3 { y[i] += x[i + d] }
        for i in 1:M { y[i] = y[i - 1] }
        for i in M - 1:-1:-1 { y[i] = 0.0 }
        for i in 0:M:4 { y[i] = 2.0 } }""")
    assert c == {"L": [(False, False)], "x": [(False,)], "y": [(False,)] * 5}


def test_unprovable_accesses_are_checked():
    c = _checks("""kernel u(h: i32[B], x: i64[N], y: f64[N], A: f64[N, N], s: i64) {
        for i in 0:N { h[x[i]] += 1 }
        for i in 0:N { y[i] = y[i + s] }
        for i in 0:N { y[i] = A[i, i + 1] }
        for i in 0:N { y[i] = A[0, i * N] }
        for i in 0:s { y[i] = 0.0 } }""")
    assert c["h"] == [(True,)]
    assert c["x"] == [(False,)]
    assert c["y"] == [(True,), (False,), (False,), (False,), (True,)]  # y[i + s] read, then the stores
    assert c["A"] == [(False, True), (False, True)]  # A[0, .]: the loop over 0:N runs only if N >= 1


def test_verifier_names_the_pass_that_broke_the_ir():
    (k,) = turbo.parse("kernel f(y: f32[N], x: f32[N]) { for i in 0:N { y[i] = x[i] + 1.0 } }").kernels
    loop = k.body[0]
    store = loop.body[0]
    bad_value = dataclasses.replace(store.value, right=ir.Const(1.0, ir.DType.F64))  # f32 + f64 operands
    broken = dataclasses.replace(k, body=(dataclasses.replace(loop, body=(dataclasses.replace(store, value=bad_value),)),))
    with pytest.raises(turbo.CompilerError) as info:
        verify(broken, "my_pass")
    assert info.value.pass_name == "my_pass"
    assert "operands of '+' differ" in str(info.value)
    assert "kernel f(" in str(info.value)  # the IR is printed
    with pytest.raises(turbo.CompilerError, match="undefined name 'z'"):
        verify(dataclasses.replace(k, body=(ir.Assign("t", ir.Var("z", ir.DType.F32)),)), "other")


def test_specialize_dims_makes_a_static_kernel():
    mod = turbo.compile("kernel s(y: f32[N], x: f32[N]) { for i in 0:N { y[i] = x[i] * f32(N) } }")
    static = specialize_dims(mod.s.ir, {"N": 4})
    assert static.params[0].shape == (4,) and static.dims == ()
    assert "for i in 0:4" in str(static)
    with pytest.raises(ValueError, match="no dim Q"):
        specialize_dims(mod.s.ir, {"Q": 3})
    from turbo.runtime.kernel import make_kernel

    k = make_kernel(static)
    y, x = np.zeros(4, np.float32), np.arange(4, dtype=np.float32)
    k(y, x)
    np.testing.assert_array_equal(y, x * 4)
    with pytest.raises(ValueError, match="dim 0 must be 4"):
        k(np.zeros(5, np.float32), np.zeros(5, np.float32))
