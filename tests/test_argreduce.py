"""argmax / argmin loops (``if x[j] > best { best = x[j]; k = j }``) vectorized
across the lanes of the loop: each lane keeps its own extreme and where it was
reached, and the lanes combine as the loop run in order would (first occurrence
for ``>`` and ``<``, last for ``>=`` and ``<=``; nan never taken). Checked against
the reference interpreter and plain Python, with ties, nans, every size around
the vector width, tails masked and scalar, and several rows jammed."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo.passes import analysis

from helpers import assert_same

SOURCE = """
kernel argmax(out: i64[M], A: T[M, N]) {
    for i in 0:M {
        best = A[i, 0]
        k = 0
        for j in 1:N {
            if A[i, j] > best { best = A[i, j]; k = j }
        }
        out[i] = k
    }
}
kernel lastmin(out: i64[M], vals: T[M], A: T[M, N]) {
    for i in 0:M {
        best = A[i, 0]
        k = 0
        for j in 0:N {
            if best >= A[i, j] { best = A[i, j]; k = j }
        }
        out[i] = k
        vals[i] = best
    }
}
kernel companions(out: i64[M, 2], vals: T[M], A: T[M, N], w: T[N]) {
    for i in 0:M {
        best = 0
        k = -1
        code = 7
        for j in 0:N {
            d = A[i, j] * w[j] - 1
            if d > best { best = d; code = 3 * j + 1; k = j }
        }
        out[i, 0] = k
        out[i, 1] = code
        vals[i] = best
    }
}
kernel stored(out: i64[M], A: T[M, N]) {
    for i in 0:M {
        best = A[i, 0]
        k = 0
        for j in 0:N {
            if A[i, j] > best { best = A[i, j]; k = j }
        }
        out[i] = k
        A[i, 0] = best + 1
    }
}
kernel flat(x: T[N]) {
    best = x[0]
    k = 0
    for j in 0:N {
        if x[j] < best { best = x[j]; k = j }
    }
    return k
}
"""

TYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "u8": np.uint8}


def module(t: str, **options):
    return turbo.compile(SOURCE.replace("T[", f"{t}["), f"argreduce_{t}.loop", **options)


def data(rng, t, *shape, ties=False):
    if t.startswith("f"):
        x = rng.standard_normal(shape)
        if ties:
            x = np.round(x)  # few distinct values: ties everywhere
        return x.astype(TYPES[t])
    hi = 4 if ties else 100
    return rng.integers(0, hi, size=shape).astype(TYPES[t])


def test_the_pattern_is_recognised():
    k = module("f64").argmax.ir
    loop = k.body[0].body[2]
    (g,) = analysis.arg_reductions(loop.body)
    assert (g.best, g.op, g.strict, g.companions) == ("best", "max", True, ("k",))
    loop = module("f64").lastmin.ir.body[0].body[2]
    (g,) = analysis.arg_reductions(loop.body)
    assert (g.op, g.strict) == ("min", False)  # best >= x: x <= best, the last minimum
    loop = module("f64").companions.ir.body[0].body[3]
    (g,) = analysis.arg_reductions(loop.body)
    assert g.companions == ("code", "k")


def test_a_local_read_elsewhere_is_not_an_arg_reduction():
    src = """kernel k(out: f64[N], x: f64[N]) {
        best = x[0]
        for j in 0:N {
            if x[j] > best { best = x[j] }
            out[j] = best
        }
    }"""
    kernel = turbo.compile(src).k
    assert analysis.arg_reductions(kernel.ir.body[1].body) == ()
    text = kernel.explain(np.zeros(64), np.zeros(64))
    assert "vectorize j" not in text.split("rejected")[0]  # a running maximum: stays in order
    x = np.random.default_rng(0).standard_normal(37)
    assert_same(kernel, np.zeros(37), x)


@pytest.mark.parametrize("t", list(TYPES))
@pytest.mark.parametrize("options", [{}, {"vectorize": "j"}, {"vectorize": "j", "unroll": {"j": 3}},
                                     {"vectorize": "j", "unroll": {"i": 2}}])
def test_argmax_argmin_match_the_interpreter(t, options):
    mod = module(t, **options)
    rng = np.random.default_rng(len(t))
    for m, n in ((1, 1), (3, 2), (2, 7), (5, 8), (4, 9), (3, 16), (6, 17), (2, 33), (9, 64), (3, 100)):
        for ties in (False, True):
            A = data(rng, t, m, n, ties=ties)
            assert_same(mod.argmax, np.zeros(m, np.int64), A)
            assert_same(mod.lastmin, np.zeros(m, np.int64), np.zeros(m, TYPES[t]), A)
            if not t.startswith("u"):
                assert_same(mod.companions, np.zeros((m, 2), np.int64), np.zeros(m, TYPES[t]), A, data(rng, t, n))
            assert_same(mod.flat, A.reshape(-1))
    if options:
        z = np.zeros((4, 64), TYPES[t])
        assert "vectorize j" in mod.argmax.explain(np.zeros(4, np.int64), z).split("rejected")[0]


def test_scalar_tails_go_on_from_the_combined_lanes():
    """A masked tail would load A[i, 0..] right after the row before stored into
    A: scalar tails, which carry on from the lanes' combined values."""
    mod = module("f64")
    assert "scalar tail" in mod.stored.explain(np.zeros(4, np.int64), np.zeros((4, 64))).split("rejected")[0]
    rng = np.random.default_rng(4)
    for n in (1, 3, 4, 5, 8, 9, 29, 33):
        assert_same(mod.stored, np.zeros(6, np.int64), np.round(rng.standard_normal((6, n))))


@pytest.mark.parametrize("t", ["f32", "f64"])
def test_nan_is_never_taken(t):
    mod = module(t, vectorize="j")
    A = np.arange(40, dtype=TYPES[t]).reshape(2, 20)
    A[:, 5] = np.nan
    A[1, 0] = np.nan  # the first value nan: nothing compares greater, k stays 0
    A[0, 19] = np.nan
    assert_same(mod.argmax, np.zeros(2, np.int64), A)
    out = np.zeros(2, np.int64)
    mod.argmax(out, A)
    assert list(out) == [18, 0]


def argmax_py(out, A):
    for i in range(A.shape[0]):
        best = -np.inf
        k = -1
        for j in range(A.shape[1]):
            if A[i, j] >= best:
                best = A[i, j]
                k = j
        out[i] = k


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_turbo_function_matches_python(dt):
    f = turbo.turbo(argmax_py)
    rng = np.random.default_rng(3)
    for n in (1, 4, 9, 31, 64):
        A = np.round(rng.standard_normal((5, n)) * 2).astype(dt)
        got, want = np.zeros(5, np.int64), np.zeros(5, np.int64)
        f(got, A)
        argmax_py(want, A)
        np.testing.assert_array_equal(got, want)
    assert "vectorize j" in f.explain(got, np.zeros((5, 64), dt)).split("rejected")[0]
