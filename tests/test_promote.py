"""Array elements updated in place across a loop, held in a local
(passes/promote.py), and the loop orders that this opens up: every gemm written
``C[i, j] += A[i, k] * B[k, j]``, in any of its six loop orders, gets the register
tile of the gemm written with an accumulator. Checked as decisions, against the
reference interpreter (sizes with empty loops included), and where the rewrite
must not happen: overlapping arguments, accesses that need bounds checks,
elements at several subscripts, updates whose order matters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import turbo
from turbo.codegen.abi import Variant
from turbo.passes import promote
from turbo.passes import schedule as S

from helpers import AVX2, assert_same, rand
from turbo.interpret import interpret


ORDERS = ["".join(p) for p in itertools.permutations("ijk")]


def gemm_source(order: str) -> str:
    loops = ", ".join(f"{x} in 0:{ {'i': 'M', 'j': 'N', 'k': 'K'}[x] }" for x in order)
    return f"""
kernel gemm_{order}(C: T[M, N], A: T[M, K], B: T[K, N]) {{
    for {loops} {{ C[i, j] += A[i, k] * B[k, j] }}
}}
"""


OTHERS = """
kernel rowsum_if(y: T[M], A: T[M, N]) {
    for i in 0:M, j in 0:N {
        if A[i, j] > 0.0 { y[i] += A[i, j] }
    }
}
kernel decay(y: T[M], A: T[K, L], x: T[M]) {
    for i in 0:M, k in 0:K, l in 0:L { y[i] = 0.5 * y[i] + A[k, l] * x[i] }
}
kernel decay_kli(y: T[M], A: T[K, L], x: T[M]) {
    for k in 0:K, l in 0:L, i in 0:M { y[i] = 0.5 * y[i] + A[k, l] * x[i] }
}
kernel bmm(C: T[P, M, N], A: T[P, M, K], B: T[P, K, N]) {
    for b in 0:P, i in 0:M, k in 0:K, j in 0:N { C[b, i, j] += A[b, i, k] * B[b, k, j] }
}
kernel gemm_n(C: T[P, Q], A: T[R, S], B: T[U, V], n: i64) {
    for i in 0:n, k in 0:n, j in 0:n { C[i, j] += A[i, k] * B[k, j] }
}
kernel total(out: T[1], x: T[N]) {
    for i in 0:N { out[0] += x[i] }
}
kernel shifted(y: T[N], x: T[K]) {
    for i in 0:N, k in 0:K { y[i + 1] += x[k] }
}
kernel shifted_if(y: T[N], x: T[K]) {
    for i in 0:N, k in 0:K {
        if x[k] > 0.0 { y[i + 1] += x[k] }
    }
}
kernel shifted_copy(y: T[N], z: T[K], x: T[K]) {
    for i in 0:N, k in 0:K {
        z[k] = x[k]
        y[i + 1] += x[k]
    }
}
kernel neighbours(y: T[N], x: T[K]) {
    for i in 1:N, k in 0:K { y[i] += y[i - 1] * x[k] }
}
kernel self_update(y: T[N], x: T[N]) {
    for i in 0:N, k in 0:N { y[i] += x[k] }
}
kernel two_nests(y: T[N], x: T[K], z: T[N]) {
    for i in 0:N, k in 0:K { y[i] += x[k] }
    for i in 0:N { z[i + 1] = y[i] }
}
kernel counts(c: i64[M], A: T[M, N]) {
    for i in 0:M, j in 0:N {
        if A[i, j] > 0.0 { c[i] += 1 }
    }
}
"""

_mods: dict = {}


def module(src: str, dt: str, **options):
    key = (src, dt, tuple(sorted(options.items())))
    if key not in _mods:
        _mods[key] = turbo.compile(src.replace("T[", f"{dt}["), "promote.loop", **options)
    return _mods[key]


def scheduled(kernel, target=AVX2):
    variant = Variant((True,) * len(kernel.ir.arrays), False, None)
    return S.schedule(kernel.lowered(variant), variant, target, kernel.options)


@pytest.mark.parametrize("order", ORDERS)
def test_every_loop_order_of_an_in_place_gemm_gets_the_gemm_tile(order):
    kernel = module(gemm_source(order), "f32")[f"gemm_{order}"]
    s = scheduled(kernel)
    (p,) = s.regions
    # the tile of the gemm written with an accumulator (test_vectorize.py)
    assert (p.loops, p.vector, p.width, p.factors) == (("i", "j"), "j", 8, (6, 2))
    (h,) = s.promotions
    assert (h.array, h.subscripts, h.loop) == ("C", "i, j", "k")
    if order.endswith("k"):  # held as written: only i and j are left to order
        assert [(x.order, x.written) for x in s.interchanges] == ([] if order == "ijk" else [(("i", "j"), ("j", "i"))])
    else:  # k moved inward, then held across it
        (x,) = s.interchanges
        assert x.order == ("i", "j", "k") and x.written == tuple(order)
    text = kernel.explain()
    assert "held in a register: C[i, j] is held in local C_i_j across loop k" in text


@pytest.mark.parametrize("dt", ["f32", "f64", "i64"])
@pytest.mark.parametrize("order", ORDERS)
def test_in_place_gemms_match_the_interpreter(order, dt):
    kernel = module(gemm_source(order), dt)[f"gemm_{order}"]
    npdt = {"f32": np.float32, "f64": np.float64, "i64": np.int64}[dt]
    rng = np.random.default_rng(len(order))
    for M, N, K in [(0, 3, 2), (4, 5, 0), (1, 1, 1), (7, 9, 5), (13, 17, 8), (6, 16, 3)]:
        C = rand(rng, (M, N), npdt)  # accumulated into: K = 0 leaves it as it was
        assert_same(kernel, C, rand(rng, (M, K), npdt), rand(rng, (K, N), npdt))
        # transposed and strided operands take other variants
        At = rand(rng, (K, M), npdt).T
        Bs = rand(rng, (K, 2 * N), npdt)[:, ::2]
        assert_same(kernel, C, At, Bs)


def test_without_fastmath_the_update_order_is_kept_exactly():
    kernel = module(gemm_source("ijk"), "f64", fastmath=False).gemm_ijk
    assert scheduled(kernel).promotions  # legal without reassociating anything
    rng = np.random.default_rng(3)
    for M, N, K in [(5, 7, 9), (16, 3, 33)]:
        assert_same(kernel, rand(rng, (M, N), "float64"), rand(rng, (M, K), "float64"), rand(rng, (K, N), "float64"))


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_other_updates_match_the_interpreter(dt):
    m = module(OTHERS, dt)
    npdt = np.dtype({"f32": "float32", "f64": "float64"}[dt])
    rng = np.random.default_rng(5)
    for n in (0, 1, 7, 16, 33):
        assert_same(m.rowsum_if, rand(rng, n, npdt), rand(rng, (n, n + 3), npdt))
        assert_same(m.decay, rand(rng, n, npdt), rand(rng, (3, n % 5), npdt), rand(rng, n, npdt))
        assert_same(m.decay_kli, rand(rng, n, npdt), rand(rng, (3, n % 5 + 1), npdt), rand(rng, n, npdt))
        assert_same(m.total, rand(rng, 1, npdt), rand(rng, n, npdt))
        assert_same(m.neighbours, rand(rng, n, npdt), rand(rng, 3, npdt) * 0.5)
        assert_same(m.counts, np.zeros(n, np.int64), rand(rng, (n, 5), npdt))


def test_what_is_held_and_what_is_not():
    m = module(OTHERS, "f64")
    held = lambda name: {(h.array, h.subscripts, h.loop) for h in scheduled(m[name]).promotions}
    assert held("rowsum_if") == {("y", "i", "j")}  # a conditional update, no threads
    assert held("total") == {("out", "0", "i")}  # a sum into an element: then a reduction
    assert held("counts") == {("c", "i", "j")}
    # the element is updated across k and l, and 0.5 * y + ... is no reduction:
    # held across k (the outer of them), and k stays outside l
    assert held("decay") == {("y", "i", "k")}
    # written k, l, i: i may move outward, but k stays outside l
    (x,) = scheduled(m.decay_kli).interchanges
    assert x.order.index("k") < x.order.index("l")
    # y[i + 1] needs a bounds check: held only when k runs, and then k's first
    # iteration would have checked it first
    (h,) = scheduled(m.shifted).promotions
    assert (h.array, h.subscripts, h.loop, h.guarded) == ("y", "i + 1", "k", True)
    assert "held in local y_elem across loop k, when the loop runs at all" in m.shifted.explain()
    # ... but not when an iteration may skip it, or stores something else first
    assert held("shifted_if") == held("shifted_copy") == set()
    assert held("neighbours") == set()  # y[i] and y[i - 1]: two elements
    # threads: a conditional update is not held (its store after the loop would
    # write the element even when no iteration did)
    threaded = module(OTHERS, "f64", parallel=True)
    assert all(h.array != "y" for h in scheduled(threaded.rowsum_if).promotions)


def test_orders_keep_the_loops_an_element_is_updated_across_in_their_order():
    from turbo.passes import analysis, interchange

    kernel = module(OTHERS, "f64").decay_kli
    variant = Variant((True,) * 3, False, None)
    ctx = analysis.Context.of(kernel.ir)
    (site,) = [x for x in analysis.loop_sites(kernel.ir.body) if not x.outer]
    orders = [o for _, o in interchange.orders(ctx, site, variant, True)]
    # of the five other orders of k, l, i, those with k before l
    assert sorted(orders) == [("i", "k", "l"), ("k", "i", "l")]


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_a_deeper_nest_runs_the_loop_an_element_is_updated_across_innermost(dt):
    # for b, i, k, j: orders of b, i, k alone never bring k inside j
    m = module(OTHERS, dt)
    s = scheduled(m.bmm)
    (x,) = s.interchanges
    assert (x.order, x.written) == (("b", "i", "j", "k"), ("b", "i", "k", "j"))
    assert [(h.array, h.loop) for h in s.promotions] == [("C", "k")]
    (p,) = s.regions
    assert p.vector == "j" and p.factor("i") > 1
    npdt = np.dtype({"f32": "float32", "f64": "float64"}[dt])
    rng = np.random.default_rng(11)
    for P, M, N, K in [(0, 2, 3, 4), (2, 3, 0, 4), (1, 5, 9, 0), (3, 7, 17, 6), (2, 13, 8, 33)]:
        assert_same(m.bmm, rand(rng, (P, M, N), npdt), rand(rng, (P, M, K), npdt), rand(rng, (P, K, N), npdt))


def test_a_deeper_nest_tries_one_order_beyond_its_first_three_loops():
    from turbo.passes import analysis, interchange

    kernel = module(OTHERS, "f64").bmm
    ctx = analysis.Context.of(kernel.ir)
    (site,) = [x for x in analysis.loop_sites(kernel.ir.body) if not x.outer]
    orders = [o for _, o in interchange.orders(ctx, site, Variant((True,) * 3, False, None), True)]
    # five other orders of b, i, k (j innermost), and k moved inside j
    assert len(orders) == 6 and orders[-1] == ("b", "i", "j", "k")
    assert sorted(orders[:5]) == sorted(p for p in itertools.permutations("bik") if p != ("b", "i", "k"))


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_a_versioned_nests_unchecked_copy_is_reordered_and_holds_the_element(dt):
    # n is a parameter: every access needs a check, decided before the nest (n <= the
    # dims). The unchecked copy runs as i, j, k with C[i, j] in a register; the
    # checked copy keeps the order written, so errors come in that order
    m = module(OTHERS, dt)
    s = scheduled(m.gemm_n)
    (v,) = s.versions
    assert (v.order, v.written) == (("i", "j", "k"), ("i", "k", "j"))
    assert [(h.array, h.subscripts, h.loop) for h in v.promotions] == [("C", "i, j", "k")]
    (p,) = s.fast.regions
    assert p.vector == "j" and p.factor("i") > 1
    assert s.interchanges == () and s.promotions == ()  # the checked copy: as written
    npdt = np.dtype({"f32": "float32", "f64": "float64"}[dt])
    text = m.gemm_n.explain(*(np.zeros((4, 4), npdt) for _ in range(3)), 4)
    assert "unchecked copy interchanged: loops i, j, k (written i, k, j)" in text
    assert "unchecked copy holds in a register: C[i, j]" in text
    rng = np.random.default_rng(9)
    for size, n in [(9, 9), (20, 17), (33, 0), (40, 40)]:
        C, A, B = (rand(rng, (size, size), npdt) for _ in range(3))
        assert_same(m.gemm_n, C, A, B, n)
    C, A, B = (rand(rng, (6, 6), npdt) for _ in range(3))
    B = rand(rng, (6, 8), npdt)
    got, want = C.copy(), C.copy()
    with pytest.raises(IndexError) as mine:
        m.gemm_n(got, A, B, 7)  # guards fail: the checked copy, in the written order
    with pytest.raises(IndexError) as ref:
        interpret(m.gemm_n.ir, want, A.copy(), B.copy(), 7)
    assert str(mine.value).endswith(str(ref.value))  # the same index, axis, array and line
    np.testing.assert_array_equal(got, want)  # the same updates made before the error


def test_an_element_out_of_bounds_is_not_touched_when_its_loop_is_empty():
    m = module(OTHERS, "f64")
    y = np.zeros(4)
    m.shifted(y, np.zeros(0))  # y[4] is never accessed: no error
    np.testing.assert_array_equal(y, 0.0)
    with pytest.raises(IndexError):
        m.shifted(y, np.ones(2))
    # when no iteration reaches y[4], nothing fails and everything else is stored
    y = np.zeros(4)
    m.shifted_if(y, -np.ones(3))
    np.testing.assert_array_equal(y, 0.0)
    z, x = np.zeros(3), np.arange(3.0)
    with pytest.raises(IndexError):
        m.shifted_copy(np.zeros(4), z, x)
    np.testing.assert_array_equal(z, x)  # i = 0..2 ran whole; i = 3 stored z[0] first


def test_errors_point_at_the_access_as_written():
    # the element's load before the loop reports the statement that updates it
    m = module(OTHERS, "f64")
    with pytest.raises(IndexError) as e:
        m.shifted(np.zeros(4), np.ones(2))
    assert "of 'y' with size 4" in str(e.value) and e.value.loc.source_line.strip().startswith("for i in 0:N, k")
    assert e.value.loc.column == e.value.loc.source_line.index("y[i + 1]") + 1
    # statements added before a nest do not shift the sites after it
    assert scheduled(m.two_nests).promotions
    with pytest.raises(IndexError) as e:
        m.two_nests(np.zeros(3), np.ones(2), np.zeros(3))
    assert "of 'z' with size 3" in str(e.value) and "z[i + 1] = y[i]" in e.value.loc.source_line


def test_a_subscript_read_from_an_array_the_loop_writes_is_not_invariant():
    # without bounds checks h[c[0]] looks invariant in k by its names alone, but
    # c[0] changes every iteration
    m = turbo.compile("""
kernel bump(c: i64[2], h: i64[8], x: i64[K]) {
    for k in 0:K {
        c[0] += 1
        h[c[0]] += x[k]
    }
}""", "promote.loop", boundscheck=False)
    variant = Variant((True,) * 3, False, False)
    sched = S.schedule(m.bump.lowered(variant), variant, AVX2, m.bump.options)
    assert {(p.array, p.loop) for p in sched.promotions} == {("c", "k")}
    for K in (0, 1, 5):
        assert_same(m.bump, np.zeros(2, np.int64), np.zeros(8, np.int64), np.arange(1, K + 1, dtype=np.int64))


def test_overlapping_arguments_are_not_held():
    kernel = module(OTHERS, "f64").self_update
    assert not S.schedule(kernel.ir, Variant((True, True), True, None), AVX2).promotions
    x = np.arange(6.0)
    want = x.copy()
    for i in range(6):
        for k in range(6):
            want[i] += want[k]
    kernel(x, x)  # y and x the same array: each y[i] update feeds later x[k] reads
    np.testing.assert_array_equal(x, want)


def test_python_function_in_kij_order_matches_numpy():
    def gemm_kij(C, A, B):
        for k in range(A.shape[1]):
            for i in range(A.shape[0]):
                for j in range(B.shape[1]):
                    C[i, j] += A[i, k] * B[k, j]

    f = turbo.turbo(gemm_kij)
    rng = np.random.default_rng(7)
    for M, N, K in [(3, 5, 4), (20, 33, 17), (64, 64, 64)]:
        A, B = rng.standard_normal((M, K)), rng.standard_normal((K, N))
        C = rng.standard_normal((M, N))
        want = C + A @ B
        f(C, A, B)
        np.testing.assert_allclose(C, want, rtol=1e-12, atol=1e-12)
    assert "held in a register: C[i, j]" in f.explain(C, A, B)


def test_promotion_text():
    h = promote.Promotion("C", "i, j", "k", "C_i_j")
    assert h.describe() == "C[i, j] is held in local C_i_j across loop k"


def test_an_element_proven_only_inside_a_loop_that_may_not_run_is_not_touched():
    """y[K - 1] is in bounds inside ``for k in 0:K`` because that loop runs; with
    K = 0 nothing touches y, and held across the outer loop it would be loaded
    before it. Inside a literal empty loop every access is vacuously proven."""
    m = turbo.compile("""
    kernel last(y: f64[K], x: f64[K], z: f64[N]) {
        for i in 0:N { for k in 0:K { y[K - 1] += x[k] * z[i] } }
    }
    kernel never(y: f64[N], x: f64[K]) {
        for i in 0:N, k in 0:0 { y[i + 1] += x[k] }
    }""")
    assert m.last(np.zeros(0), np.zeros(0), np.ones(3)) is None
    y = np.zeros(3)
    m.last(y, np.ones(3), np.arange(4.0))
    np.testing.assert_array_equal(y, [0.0, 0.0, 18.0])
    y = np.zeros(4)
    m.never(y, np.ones(3))
    np.testing.assert_array_equal(y, 0.0)
