"""Flattened subscripts: ``x[i*n + j]``, the way loops ported from C index a
matrix kept in one dimension. Their coefficients are products of symbols, so the
bounds guards are polynomial (``m*n <= S``), writes are proven disjoint by
delinearizing (``j`` in ``[0, n)`` keeps rows apart), and vector code steps
through them contiguously along ``j`` or by a run-time stride along ``i``."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo.passes import analysis
from turbo.passes.analysis import Context
from turbo.passes.bounds import access_guards, guard_text

from helpers import assert_same, compiled

SOURCE = """
kernel scale(out: f32[S], x: f32[S], m: i64, n: i64) {
    for i in 0:m, j in 0:n { out[i*n + j] = 2.0 * x[i*n + j] }
}
kernel gemm(C: f32[S], A: f32[S], B: f32[S], n: i64) {
    for i in 0:n, j in 0:n {
        s = 0.0
        for k in 0:n { s += A[i*n + k] * B[k*n + j] }
        C[i*n + j] = s
    }
}
kernel rowsum(out: f64[M], x: f64[S], n: i64) {
    for i in 0:M {
        s = 0.0
        for j in 0:n { s += x[i*n + j] }
        out[i] = s
    }
}
kernel column(out: f64[M], x: f64[S], n: i64, c: i64) {
    for i in 0:M { out[i] = x[i*n + c] }
}
kernel kron(out: f64[P, Q], A: f64[M, N], B: f64[R, T]) {
    for i in 0:M, j in 0:N, k in 0:R, l in 0:T { out[i*R + k, j*T + l] = A[i, j] * B[k, l] }
}
kernel cube(out: f32[S], x: f32[S], a: i64, b: i64, c: i64) {
    for i in 0:a, j in 0:b, k in 0:c { out[(i*b + j)*c + k] = x[(i*b + j)*c + k] + 1.0 }
}
kernel overlap(out: f32[S], x: f32[M], n: i64) {
    for i in 0:M, j in 0:n + 1 { out[i*n + j] = x[i] + j }
}
kernel gather(out: f64[N], x: f64[M], idx: i64[N]) {
    for i in 0:N { out[i] = x[idx[i]] }
}
"""


def _module(**options):
    return compiled(SOURCE) if not options else turbo.compile(SOURCE, "flat.loop", **options)


def _guards(kernel) -> list[str]:
    ctx = Context.of(kernel.ir)
    return sorted({guard_text(g) for v in access_guards(kernel.ir, ctx.checks).values() if v for g in v})


def test_guards_of_flattened_subscripts_are_products_of_symbols():
    m = _module()
    # n >= 0, the sign the product i*n's bound needs, holds wherever j's loop runs
    assert _guards(m.scale) == ["m*n <= S"]
    # x[i*n + c] for i in 0:M: smallest c, largest (M - 1)*n + c, once n >= 0
    assert _guards(m.column) == ["0 <= c", "0 <= n", "M*n + c - n + 1 <= S"]
    assert _guards(m.kron) == ["M*R <= P", "N*T <= Q"]
    assert "a*b*c <= S" in _guards(m.cube)


def test_flattened_nests_are_vectorized_along_the_row():
    m = _module()
    x = np.ones(64, np.float32)
    text = m.scale.explain(x.copy(), x, 8, 8)
    fast, slow = text.split("otherwise, with the checks:")
    assert "versioned: without the bounds checks of out, x when m*n <= S" in text
    chosen = [line for line in fast.splitlines() if "chosen:" in line]
    assert len(chosen) == 1 and "vectorize j" in chosen[0]  # as for scale on f32[M, N]
    assert "chosen: loops as written (scalar)" in slow
    text = m.kron.explain(np.zeros((12, 20)), np.ones((3, 4)), np.ones((4, 5)))
    chosen = [line for line in text.split("otherwise")[0].splitlines() if "chosen:" in line]
    assert len(chosen) == 1 and "vectorize l" in chosen[0]


def test_flattened_gemm_gets_a_register_tile():
    n = 48
    A, B = np.ones(n * n, np.float32), np.ones(n * n, np.float32)
    fast = _module().gemm.explain(np.zeros(n * n, np.float32), A, B, n).split("otherwise")[0]
    assert "chosen: unroll-and-jam i" in fast and "vectorize j" in fast


@pytest.mark.parametrize("m, n", [(0, 5), (3, 0), (1, 1), (3, 7), (5, 8), (4, 9), (9, 17), (2, 33)])
def test_flattened_kernels_match_the_interpreter(m, n):
    rng = np.random.default_rng(m * 100 + n)
    mod = _module()
    S = m * n + 3
    assert_same(mod.scale, np.zeros(S, np.float32), rng.standard_normal(S).astype(np.float32), m, n)
    assert_same(mod.gemm, np.zeros(n * n, np.float32), rng.standard_normal(n * n).astype(np.float32),
                rng.standard_normal(n * n).astype(np.float32), n)
    assert_same(mod.rowsum, np.zeros(m), rng.standard_normal(S), n)
    if n:
        assert_same(mod.column, np.zeros(m), rng.standard_normal(S), n, n // 2)
    assert_same(mod.cube, np.zeros(S * 2, np.float32), rng.standard_normal(S * 2).astype(np.float32), m, n, 2)
    assert_same(mod.overlap, np.zeros(m * n + 1, np.float32), rng.standard_normal(m).astype(np.float32), n)
    A, B = rng.standard_normal((m, 3)), rng.standard_normal((n, 2))
    assert_same(mod.kron, np.zeros((m * n, 6)), A, B)
    assert_same(mod.kron, np.zeros((m * n + 2, 7)), A, B)  # larger than needed: the rest stays


def test_flattened_gemm_matches_numpy():
    rng = np.random.default_rng(5)
    for n in (1, 6, 16, 37):
        A, B = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)
        C = np.zeros(n * n, np.float32)
        _module().gemm(C, A.ravel(), B.ravel(), n)
        np.testing.assert_allclose(C.reshape(n, n), A.astype(np.float64) @ B, rtol=1e-4, atol=1e-4)


def test_flattened_subscripts_past_the_array_raise():
    x = np.ones(20, np.float32)
    with pytest.raises(turbo.KernelIndexError, match="index 20 is out of bounds for axis 0 of '(out|x)'"):
        _module().scale(np.zeros(20, np.float32), x, 3, 7)
    with pytest.raises(turbo.KernelIndexError, match="index -"):
        _module().column(np.zeros(4), np.ones(20), -2, 1)
    with pytest.raises(turbo.KernelIndexError, match="out of bounds for axis 0 of 'out' with size 5"):
        _module().kron(np.zeros((5, 6)), np.ones((2, 3)), np.ones((3, 2)))


def test_overlapping_rows_are_not_run_together():
    """``out[i*n + j]`` with ``j`` in ``[0, n]``: row i's last element is row
    i + 1's first, so iterations of i may write the same element."""
    mod = _module()
    x = np.ones(8, np.float32)
    text = mod.overlap.explain(np.zeros(40, np.float32), x, 4).split("otherwise")[0]
    assert "unroll-and-jam i" not in text.split("rejected")[0]
    with pytest.raises(turbo.ScheduleError, match="iterations of i may write the same element of out"):
        turbo.compile(SOURCE, "flat.loop", unroll={"i": 2}).overlap(np.zeros(40, np.float32), x, 4)


def test_delinearization_places_the_least_significant_term_first():
    ir_ = _module().scale.ir
    ctx = Context.of(ir_)
    site = next(iter(analysis.loop_sites(ir_.body)))
    store = next(s for s in analysis.accesses((site.loop,)) if s.array == "out")
    ranges = analysis._ranges_to(ctx, site, store)
    form = ctx.affine(store.indices[0], {"i", "j"}, products=True)
    assert form == {"": 0, "i*n": 1, "j": 1}
    assert analysis._injective(ctx, form, {"i", "j"}, ranges)
    assert not analysis._injective(ctx, {"": 0, "i": 1, "j": 1}, {"i", "j"}, ranges)
    assert not analysis._injective(ctx, {"": 0, "i*n": 1, "j": 2}, {"i", "j"}, ranges)


def test_a_stride_known_at_run_time_is_gathered():
    rng = np.random.default_rng(2)
    mod = _module(vectorize="i")
    x = rng.standard_normal(200)
    for n in (1, 3, 8, 11):
        for M in (0, 5, 8, 17):
            if M * n <= 200:
                assert_same(mod.column, np.zeros(M), x, n, n - 1)
    text = mod.column.explain(np.zeros(8), x, 3, 1).split("otherwise")[0]
    assert "chosen: vectorize i" in text


def test_indirect_subscripts_are_not_vectorized_even_unchecked():
    """Vector code computes an access's address once for its first lane, so a
    subscript read through an array is not run as a vector access."""
    mod = compiled(SOURCE, False)
    rng = np.random.default_rng(0)
    x, idx = rng.standard_normal(50), rng.integers(0, 50, 40)
    out = np.zeros(40)
    mod.gather(out, x, idx)
    np.testing.assert_array_equal(out, x[idx])
    text = mod.gather.explain(out, x, idx)
    assert "changes along i without a constant stride (an indirect access)" in text
