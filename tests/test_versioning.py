"""Run-time versioning of bounds checks: a nest whose accesses the compiler cannot
prove in bounds, but whose extremes are affine in dims and integer parameters,
gets an unchecked (vectorized) copy taken when those guards hold before the
loops start, and keeps its checked copy for every other call."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo.passes.bounds import access_guards, guard_text
from turbo.passes.analysis import Context
from turbo.runtime import threads

from helpers import assert_same, compiled

SOURCE = """
kernel scaled(out: f32[N], x: f32[N], n: i64) {
    for i in 0:n { out[i] = x[i] * 2.0 + out[i] }
}
kernel shifted(out: f64[N], x: f64[M], k: i64) {
    for i in 0:N { out[i] = x[i + k] - x[i] }
}
kernel filter(out: f32[M2, N2], img: f32[M, N], w: f32[R, R]) {
    for i in 0:M - R + 1, j in 0:N - R + 1 {
        s = 0.0
        for di in 0:R, dj in 0:R { s += img[i + di, j + dj] * w[di, dj] }
        out[i, j] = s
    }
}
kernel rowsum(out: f64[M], A: f64[M, N], m: i64) {
    for i in 0:m {
        s = 0.0
        for j in 0:N { s += A[i, j] }
        out[i] = s
    }
}
kernel indirect(out: f64[N], x: f64[M], idx: i64[N]) {
    for i in 0:N { out[i] = x[idx[i]] }
}
kernel lut(out: u8[M, N], img: u8[M, N], table: u8[T]) {
    for i in 0:M, j in 0:N { out[i, j] = table[img[i, j]] }
}
kernel lut256(out: u8[M, N], img: u8[M, N], table: u8[256]) {
    for i in 0:M, j in 0:N { out[i, j] = table[img[i, j]] }
}
kernel signed(out: f64[N], x: f64[M], idx: i8[N]) {
    for i in 0:N { out[i] = x[idx[i] + 1] }
}
kernel histogram(h: i64[T], img: u8[M, N]) {
    for i in 0:M, j in 0:N { h[img[i, j] // 2 + 1] += 1 }
}
kernel upsample(out: f64[P, Q], x: f64[M, N]) {
    for i in 0:P, j in 0:Q { out[i, j] = x[i // 2, (j + 1) // 3] }
}
kernel halves(out: f64[10], x: f64[5]) {
    for i in 0:10 { out[i] = x[i // 2] }
}
kernel below(out: f64[N], x: f64[M]) {
    for i in 0:N { out[i] = x[(i - 1) // 2] }
}
"""


def _module(boundscheck=None):
    return compiled(SOURCE, boundscheck)


def test_guards_are_the_extremes_of_the_subscripts():
    m = _module()
    ir_ = m.scaled.ir
    ctx = Context.of(ir_)
    guards = {g for v in access_guards(ir_, ctx.checks).values() if v for g in v}
    assert [guard_text(g) for g in guards] == ["n <= N"]
    ir_ = m.shifted.ir
    ctx = Context.of(ir_)
    texts = sorted(guard_text(g) for v in access_guards(ir_, ctx.checks).values() if v for g in v)
    assert texts == ["0 <= k", "N + k <= M", "N <= M"]


def test_subscript_through_an_array_has_no_guard():
    ir_ = _module().indirect.ir
    ctx = Context.of(ir_)
    assert list(access_guards(ir_, ctx.checks).values()) == [None]
    x, idx = np.ones(5), np.array([0, 4, 2])
    text = _module().indirect.explain(np.zeros(3), x, idx)
    assert "versioned" not in text


def test_a_subscript_read_from_a_narrow_array_has_the_range_of_its_type():
    """table[img[i, j]] with img u8: 0 .. 255, inside an axis of literal 256 (no
    check), or guarded by 256 <= T before the loops start; h[img // 2 + 1]: 1 ..
    128; an i8 subscript may be negative: checked at each access."""
    m = _module()
    for name, texts in (("lut", ["256 <= T"]), ("histogram", ["129 <= T"]), ("lut256", []), ("signed", None)):
        ir_ = m[name].ir
        ctx = Context.of(ir_)
        guards = access_guards(ir_, ctx.checks)
        if texts is None:
            assert None in guards.values()
        else:
            assert sorted(guard_text(g) for v in guards.values() if v for g in v) == texts
    assert not any(f for flags in Context.of(m.lut256.ir).checks.values() for f in flags)


@pytest.mark.parametrize("T", [0, 100, 255, 256, 300])
def test_narrow_subscripts_match_the_interpreter_or_raise(T):
    m = _module()
    rng = np.random.default_rng(T)
    img = rng.integers(0, 256, (9, 13)).astype(np.uint8)
    img[0, 0] = 255
    table = rng.integers(0, 256, T).astype(np.uint8)
    hist_ok = T >= 129
    if T >= 256:
        assert_same(m.lut, np.zeros((9, 13), np.uint8), img, table)
    else:
        with pytest.raises(turbo.KernelIndexError, match=f"index 255 is out of bounds for axis 0 of 'table' with size {T}"):
            m.lut(np.zeros((9, 13), np.uint8), img, table)
    if hist_ok:
        assert_same(m.histogram, np.zeros(T, np.int64), img)
    else:
        with pytest.raises(turbo.KernelIndexError, match="out of bounds for axis 0 of 'h'"):
            m.histogram(np.zeros(T, np.int64), img)
    assert_same(m.lut256, np.zeros((9, 13), np.uint8), img, rng.integers(0, 256, 256).astype(np.uint8))
    idx = np.array([-1, 5, 126, 0], np.int8)
    assert_same(m.signed, np.zeros(4), np.arange(128.0), idx)
    with pytest.raises(turbo.KernelIndexError, match="index -127 is out of bounds"):
        m.signed(np.zeros(1), np.arange(128.0), np.array([-128], np.int8))


def test_a_floor_of_an_affine_subscript_is_bounded_by_its_numerator():
    """x[i // 2] is in [0, M) exactly when i's range is in [0, 2M - 1]: the guard
    P <= 2*M (i < P); (j + 1) // 3 needs Q + 1 <= 3*N (j + 1 <= Q <= 3N - 1); in
    x: f64[5], i // 2 for i < 10 is proven; (i - 1) // 2 is -1 at i = 0: never
    unchecked, and the error names it."""
    m = _module()
    ir_ = m.upsample.ir
    ctx = Context.of(ir_)
    texts = sorted(guard_text(g) for v in access_guards(ir_, ctx.checks).values() if v for g in v)
    assert texts == ["-2*M + P <= 0", "-3*N + Q + 1 <= 0"], texts
    assert not any(f for flags in Context.of(m.halves.ir).checks.values() for f in flags)
    rng = np.random.default_rng(7)
    for (P, Q, M, N) in ((0, 0, 0, 0), (4, 5, 2, 2), (5, 7, 3, 3), (8, 8, 4, 3), (17, 29, 9, 10)):
        assert_same(m.upsample, np.zeros((P, Q)), rng.standard_normal((M, N)))
    with pytest.raises(turbo.KernelIndexError, match="index 3 is out of bounds for axis 1 of 'x' with size 3"):
        m.upsample(np.zeros((4, 9)), np.zeros((2, 3)))  # (8 + 1) // 3 = 3
    assert_same(m.halves, np.zeros(10), rng.standard_normal(5))
    with pytest.raises(turbo.KernelIndexError, match="index -1 is out of bounds"):
        m.below(np.zeros(4), np.zeros(4))


@pytest.mark.parametrize("N", [0, 1, 7, 8, 9, 17, 64, 65])
def test_scalar_trip_count_within_the_array(N):
    rng = np.random.default_rng(N)
    k = _module().scaled
    for n in sorted({0, N // 2, max(N - 1, 0), N, -3}):
        assert_same(k, rng.standard_normal(N).astype(np.float32), rng.standard_normal(N).astype(np.float32), n)


def test_unchecked_copy_is_vectorized_and_explained():
    k = _module().scaled
    x = np.ones(32, np.float32)
    text = k.explain(x.copy(), x, 32)
    assert "versioned: without the bounds checks of out, x when n <= N" in text
    fast, slow = text.split("otherwise, with the checks:")
    assert "chosen: vectorize i" in fast
    assert "chosen: loops as written (scalar)" in slow


@pytest.mark.parametrize("n, bad", [(33, 32), (1 << 62, 32)])
def test_trip_count_past_the_array_raises_at_the_access(n, bad):
    k = _module().scaled
    out, x = np.zeros(32, np.float32), np.ones(32, np.float32)
    with pytest.raises(turbo.KernelIndexError, match=f"index {bad} is out of bounds for axis 0 of '(out|x)'") as e:
        k(out, x, n)
    assert e.value.loc.line == 3
    # the checked copy ran up to the bad index, as the loop as written does
    np.testing.assert_array_equal(out, np.full(32, 2.0, np.float32))


@pytest.mark.parametrize("k_", [-1, 0, 3, 5, 6])
def test_offset_given_by_a_parameter(k_):
    rng = np.random.default_rng(1)
    x, out = rng.standard_normal(25), np.zeros(20)
    kern = _module().shifted
    if 0 <= k_ <= 5:
        assert_same(kern, out, x, k_)
    else:
        with pytest.raises(turbo.KernelIndexError, match=f"index {-1 if k_ < 0 else 25} is out of bounds"):
            kern(out, x, k_)


@pytest.mark.parametrize("n", [1, 3, 8, 9, 16, 17, 40])
@pytest.mark.parametrize("r", [1, 3, 5])
def test_filter_with_an_output_of_its_own_shape(n, r):
    if n < r:
        return
    rng = np.random.default_rng(n * 10 + r)
    img = rng.standard_normal((n, n + 1)).astype(np.float32)
    w = rng.standard_normal((r, r)).astype(np.float32)
    out = np.zeros((n - r + 1, n - r + 2), np.float32)
    assert_same(_module().filter, out, img, w)
    # a larger output is fine too (its extra elements are left alone)
    assert_same(_module().filter, np.zeros((n + 2, n + 3), np.float32), img, w)


def test_filter_into_a_too_small_output_raises():
    img, w = np.ones((10, 10), np.float32), np.ones((3, 3), np.float32)
    with pytest.raises(turbo.KernelIndexError, match="index 7 is out of bounds for axis 0 of 'out' with size 7"):
        _module().filter(np.zeros((7, 8), np.float32), img, w)


def test_nest_with_an_inner_loop():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((9, 13))
    for m in (0, 5, 9):
        assert_same(_module().rowsum, np.zeros(9), A, m)
    with pytest.raises(turbo.KernelIndexError, match="index 9 is out of bounds"):
        _module().rowsum(np.zeros(9), A, 10)


def test_no_versioning_when_the_user_chose_the_checks():
    x = np.ones(16, np.float32)
    for policy in (True, False):
        assert "versioned" not in _module(policy).scaled.explain(x.copy(), x, 16)
    assert_same(_module(True).scaled, x, x.copy(), 16)


def test_manual_override_that_needs_the_guards():
    m = turbo.compile(SOURCE, vectorize="i")
    out, x = np.zeros(20, np.float32), np.arange(20, dtype=np.float32)
    text = m.scaled.explain(out, x, 20)
    fast, slow = text.split("otherwise, with the checks:")
    assert "chosen: vectorize i" in fast and "chosen: loops as written (scalar)" in slow
    assert_same(m.scaled, out, x, 19)


def test_versioned_parallel_loop():
    threads.set_num_threads(2)
    threads.set_parallel_threshold(0)
    try:
        m = turbo.compile(SOURCE, parallel=True)
        rng = np.random.default_rng(5)
        img, w = rng.standard_normal((30, 30)).astype(np.float32), rng.standard_normal((3, 3)).astype(np.float32)
        text = m.filter.explain(np.zeros((28, 28), np.float32), img, w)
        assert "versioned" in text and "threads: split i" in text
        assert_same(m.filter, np.zeros((28, 28), np.float32), img, w)
        with pytest.raises(turbo.KernelIndexError, match="index 27 is out of bounds"):
            m.filter(np.zeros((27, 28), np.float32), img, w)
    finally:
        threads.set_parallel_threshold(threads.DEFAULT_MIN_CYCLES)
        threads.set_num_threads(threads.default_threads())


def test_turbo_function_with_a_length_parameter():
    def axpy(y, x, a, n):
        for i in range(n):
            y[i] += a * x[i]

    f = turbo.turbo(axpy)
    x, y = np.arange(40.0), np.ones(40)
    assert "versioned" in f.explain(y, x, 2.0, 37)
    want = y.copy()
    axpy(want, x, 2.0, 37)
    f(y, x, 2.0, 37)
    np.testing.assert_array_equal(y, want)
    with pytest.raises(turbo.KernelIndexError):
        f(y, x, 2.0, 41)


def test_local_fixed_for_the_call_counts_as_its_value():
    def filt(out, img, w):
        r = w.shape[0]
        for i in range(img.shape[0] - r + 1):
            for j in range(img.shape[1] - r + 1):
                s = 0.0
                for di in range(r):
                    for dj in range(r):
                        s += img[i + di, j + dj] * w[di, dj]
                out[i, j] = s

    f = turbo.turbo(filt)
    rng = np.random.default_rng(7)
    img, w = rng.standard_normal((19, 21)), rng.standard_normal((3, 3))
    out = np.zeros((17, 19))
    text = f.explain(out, img, w)
    # img's subscripts are proven through r = w.shape[0]; only out (a shape of its own) is guarded
    assert "versioned: without the bounds checks of out when" in text
    want = out.copy()
    filt(want, img, w)
    f(out, img, w)
    np.testing.assert_allclose(out, want, rtol=1e-13)


def test_local_assigned_twice_is_not_a_fixed_value():
    m = turbo.compile("""
kernel k(out: f64[N], x: f64[N]) {
    r = 1
    for i in 0:N - r { out[i] = x[i + r] }
    r = 0
    for i in 0:N - r { out[i] += x[i + r] }
}
""")
    ctx = Context.of(m.k.ir)
    assert ctx.defs == {}
    x = np.arange(6.0)
    assert_same(m.k, np.zeros(6), x)


def test_a_guard_another_implies_is_not_tested():
    src = """
kernel pool(out: f64[N], x: f64[M]) {
    for i in 0:N { out[i] = 0.5 * (x[2*i] + x[2*i + 1]) }
}
"""
    k = compiled(src).pool
    text = k.explain(np.zeros(4), np.zeros(8))
    assert "versioned: without the bounds checks of x when 2*N <= M (tested" in text  # not also 2*N - 1 <= M
    for m in (8, 9, 7):  # the guard holds, holds, fails (x[7] is past the end): the checked copy raises
        x = np.arange(float(m))
        out = np.zeros(4)
        if m >= 8:
            k(out, x)
            np.testing.assert_array_equal(out, 0.5 * (x[0:8:2] + x[1:8:2]))
        else:
            with pytest.raises(IndexError, match="index 7 is out of bounds for axis 0 of 'x'"):
                k(out, x)
