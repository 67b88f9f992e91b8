"""Loop interchange: the cost model runs a perfect nest in another order when
that is cheaper and the iterations are independent; the result equals the
reference interpreter; dependent, triangular and parallel-marked nests keep
their order."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo.passes import schedule as S

from helpers import AVX2, assert_same, scheduled


SOURCE = """
kernel atbt(C: T[M, N], A: T[K, M], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[k, m] * B[n, k] }
        C[m, n] = acc
    }
}
kernel colscale(B: T[M, N], A: T[M, N], s: T[N]) {
    for j in 0:N, i in 0:M { B[i, j] = A[i, j] * s[j] }
}
kernel box(out: T[P, Q, R], x: T[P, Q, R]) {
    for r in 0:R, q in 0:Q, p in 0:P { out[p, q, r] = 2.0 * x[p, q, r] + 1.0 }
}
kernel tri(C: T[N, N], A: T[N, N]) {
    for i in 0:N, j in 0:i + 1 { C[i, j] = A[j, i] }
}
kernel shift(Y: T[M, N], X: T[M, N]) {
    for j in 0:N, i in 1:M { Y[i, j] = Y[i - 1, j] + X[i, j] }
}
kernel add3(out: T[P, Q, R], a: T[P, Q, R], b: T[P, Q, R]) {
    for i in 0:P, j in 0:Q, k in 0:R { out[i, j, k] = a[i, j, k] + b[i, j, k] }
}
kernel pdist(D: T[M, N], X: T[M, K], Y: T[N, K]) {
    for i in 0:M, j in 0:N {
        s = 0.0
        for k in 0:K {
            d = X[i, k] - Y[j, k]
            s += d * d
        }
        D[i, j] = s
    }
}
kernel outer3(out: T[P, Q, R], a: T[P], b: T[Q], c: T[R]) {
    for i in 0:P, j in 0:Q, k in 0:R { out[i, j, k] = a[i] * b[j] * c[k] }
}
kernel marked(C: T[M, N], A: T[N, M]) {
    parallel for m in 0:M {
        for n in 0:N { C[m, n] = A[n, m] }
    }
}
"""

_mods: dict = {}


def module(dt: str):
    if dt not in _mods:
        _mods[dt] = turbo.compile(SOURCE.replace("T[", f"{dt}["), "interchange.loop")
    return _mods[dt]


def sched(name: str, dt="f32", target=AVX2):
    return scheduled(module(dt)[name], target)


def test_atbt_reads_b_from_a_transposed_copy_with_the_gemm_register_tile():
    """B[n, k] vectorized along n is a gather per vector; from a copy of B
    transposed before the nest it is AB's contiguous row, and A[k, m] a broadcast:
    the gemm tile in the written order (measured 0.93-1.01 of AB at n = 16-256
    f32, where running n outside, vectorized along m, made 0.82-0.99)."""
    s = sched("atbt")
    assert s.interchanges == ()
    (p,) = s.regions
    assert p.loops == ("m", "n") and p.vector == "n" and p.factor("m") > 1 and p.packed == ("B",)
    text = module("f32").atbt.explain(np.zeros((8, 8), np.float32), np.ones((8, 8), np.float32),
                                      np.ones((8, 8), np.float32))
    assert "read B from a transposed copy" in text


def test_atbt_runs_n_outside_with_the_gemm_register_tile_without_the_copy(monkeypatch):
    monkeypatch.setattr(S, "_packable", lambda *a: ())
    s = sched("atbt")
    (x,) = s.interchanges
    assert (x.order, x.written) == (("n", "m"), ("m", "n")) and x.cycles < x.written_cycles
    (p,) = s.regions
    assert p.loops == ("n", "m") and p.vector == "m" and p.factor("n") > 1


@pytest.mark.parametrize("name", ["tri", "shift", "marked"])
def test_orders_that_are_not_tried(name):
    # triangular bounds, a dependence along i, a loop marked parallel
    assert sched(name).interchanges == ()


@pytest.mark.parametrize("dt", ["f32", "f64"])
@pytest.mark.parametrize("mnk", [(0, 3, 2), (1, 1, 1), (5, 9, 7), (9, 17, 8), (17, 6, 13), (25, 8, 33)])
def test_interchanged_gemm_matches_interpreter(dt, mnk):
    M, N, K = mnk
    rng = np.random.default_rng(sum(mnk))
    npdt = np.dtype({"f32": "float32", "f64": "float64"}[dt])
    A = rng.standard_normal((K, M)).astype(npdt)
    B = rng.standard_normal((N, K)).astype(npdt)
    assert_same(module(dt).atbt, np.zeros((M, N), npdt), A, B)
    # strided operands: every other column of larger arrays
    A2 = rng.standard_normal((K, 2 * M)).astype(npdt)[:, ::2]
    B2 = rng.standard_normal((N, 2 * K)).astype(npdt)[:, ::2]
    assert_same(module(dt).atbt, np.zeros((M, N), npdt), A2, B2)


@pytest.mark.parametrize("size", [(0, 4, 3), (1, 1, 1), (3, 5, 9), (8, 9, 17), (13, 2, 31)])
def test_other_nests_match_interpreter(size):
    rng = np.random.default_rng(1)
    P, Q, R = size
    m = module("f64")
    assert_same(m.box, np.zeros((P, Q, R)), rng.standard_normal((P, Q, R)))
    assert_same(m.colscale, np.zeros((P, Q)), rng.standard_normal((P, Q)), rng.standard_normal(Q))
    assert_same(m.tri, np.zeros((Q, Q)), rng.standard_normal((Q, Q)))
    assert_same(m.shift, np.zeros((P, Q)), rng.standard_normal((P, Q)))


def test_near_ties_go_to_the_order_that_walks_memory_in_order():
    (x,) = sched("box", "f64").interchanges
    assert x.order[-1] == "r"  # out[p, q, r]: r innermost, the contiguous axis


@pytest.mark.parametrize("name", ["add3", "outer3"])
@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_a_streaming_nest_runs_one_row_at_a_time(name, dt):
    """A 3-d add or outer product: moving j inside the vector loop over k (a
    predicted 5% of loop overhead) walks every array from row to row, which must
    be predicted 15% cheaper. At the assumed sizes the nest streams more than the
    cache holds, longer than it computes: jamming rows (the outer product's 8 x 4,
    predicted 16% cheaper for its shared loads of c) saves loop overhead the
    stream hides, and every jammed row is one more stream."""
    s = sched(name, dt)
    assert s.interchanges == ()
    (p,) = s.regions
    assert p.vector == "k" and p.factor("i") == 1  # j's rows, if jammed, lie next to each other
    args = [np.zeros((4, 4, 4), dt_np(dt))] + ([np.zeros((4, 4, 4), dt_np(dt))] * 2 if name == "add3" else
                                                [np.zeros(4, dt_np(dt)) for _ in range(3)])
    text = module(dt)[name].explain(*args)
    assert "near-tie: chosen over unroll-and-jam" in text and "streams more data than the cache holds" in text


def test_near_ties_jam_the_loop_that_streams_a_block_fewer_times(monkeypatch):
    """Pairwise distances, k in the lanes (Y not copied): unrolling i reads Y's
    rows once per several rows of X; unrolling j (nearer the vector loop) would
    stream all of Y once per row."""
    monkeypatch.setattr(S, "_packable", lambda *a: ())
    (p,) = sched("pdist", "f64").regions
    assert p.vector == "k" and p.factor("i") > 1 and p.factor("j") == 1


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_pairwise_distances_read_y_from_a_transposed_copy(dt):
    """Y[j, k] vectorized along j, from a copy of Y transposed before the nest:
    no horizontal sum per distance (measured 1.14-1.46x the k-lane plan at
    n = 16-256, f32)."""
    (p,) = sched("pdist", dt).regions
    assert p.vector == "j" and p.packed == ("Y",) and p.factor("i") > 1


@pytest.mark.parametrize("size", [(0, 4, 3), (1, 1, 1), (3, 5, 9), (8, 9, 17)])
def test_streaming_and_distance_nests_match_interpreter(size):
    rng = np.random.default_rng(2)
    P, Q, R = size
    for dt in ("f32", "f64"):
        m = module(dt)
        npdt = dt_np(dt)
        assert_same(m.add3, np.zeros((P, Q, R), npdt), *(rng.standard_normal((P, Q, R)).astype(npdt),) * 2)
        assert_same(m.pdist, np.zeros((P, Q), npdt), rng.standard_normal((P, R)).astype(npdt),
                    rng.standard_normal((Q, R)).astype(npdt))
        assert_same(m.outer3, np.zeros((P, Q, R), npdt), *(rng.standard_normal(x).astype(npdt) for x in size))


def dt_np(dt: str):
    return np.dtype({"f32": "float32", "f64": "float64"}[dt])
