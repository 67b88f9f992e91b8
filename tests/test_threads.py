"""Parallel loops: chunks across threads equal the serial kernel (the reference
interpreter) up to float reassociation; illegal loops are refused at their line."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import turbo
from turbo.interpret import interpret
from turbo.passes import parallel
from turbo.runtime import threads

from helpers import run_both


@pytest.fixture(autouse=True)
def split_everything():
    """Split every parallel loop, however small, across 2 threads."""
    threads.set_num_threads(2)
    threads.set_parallel_threshold(0)
    yield
    threads.set_parallel_threshold(threads.DEFAULT_MIN_CYCLES)
    threads.set_num_threads(threads.default_threads())


KERNELS = """
kernel gemm(C: f32[M, N], A: f32[M, K], B: f32[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
kernel ew(y: f64[n], x: f64[n], a: f64) {
    for i in 0:n { y[i] = exp(a * x[i]) + tanh(x[i]) }
}
kernel dot(x: f64[n], y: f64[n]) {
    s = 1.5
    for i in 0:n { s += x[i] * y[i] }
    return s
}
kernel stats(x: f64[n]) {
    hi = -1e300
    lo = 1e300
    c = 0
    d = 10.0
    for i in 0:n {
        hi = max(hi, x[i])
        lo = min(lo, x[i])
        if x[i] > 0.5 { c += 1 }
        d -= x[i]
    }
    return hi - lo + c + d
}
kernel prod(x: f64[n]) {
    p = 2.0
    for i in 0:n { p *= 1.0 + x[i] * 0.001 }
    return p
}
kernel rows(out: f64[n, m], x: f64[n, m], w: f64) {
    scale = w * 2.0
    for i in 0:n {
        t = 0.0
        for j in 0:m { t += x[i, j] }
        for j in 0:m { out[i, j] = scale * x[i, j] - t }
    }
}
kernel strided(y: f64[n], x: f64[n]) {
    for i in 1:n:3 { y[i] = x[i] * 2.0 + x[i - 1] }
}
kernel down(y: f64[n], x: f64[n]) {
    for i in n - 1:-1:-1 { y[i] = x[i] + i }
}
kernel two(y: f64[n], x: f64[n]) {
    for i in 0:n { y[i] = x[i] * x[i] }
    s = 0.0
    for i in 0:n { s += y[i] }
    return s
}
"""

SIZES = (0, 1, 2, 3, 7, 8, 9, 17, 63, 64, 65, 130)


@pytest.fixture(scope="module")
def mod():
    return turbo.compile(KERNELS, "par.loop", parallel=True)


def close(mine, ref, rtol=1e-12):
    for a, b in zip(mine, ref):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12 if a.dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("n", SIZES)
def test_gemm_chunks_match_the_interpreter(mod, n):
    rng = np.random.default_rng(n)
    A = rng.standard_normal((n, n + 3)).astype(np.float32)
    B = rng.standard_normal((n + 3, n)).astype(np.float32)
    C = np.zeros((n, n), np.float32)
    close(*run_both(mod.gemm, C, A, B), rtol=1e-5)
    # transposed (non-contiguous) inputs take another variant, also split
    close(*run_both(mod.gemm, C, np.asfortranarray(A), B.T.copy().T), rtol=1e-5)


@pytest.mark.parametrize("n", SIZES)
def test_elementwise_and_reductions_match(mod, n):
    rng = np.random.default_rng(100 + n)
    x = rng.random(n)
    y = rng.random(n)
    close(*run_both(mod.ew, np.zeros(n), x, 0.7))
    close(*run_both(mod.dot, x, y))
    close(*run_both(mod.stats, x))
    close(*run_both(mod.prod, x))
    close(*run_both(mod.strided, np.zeros(n), x))
    close(*run_both(mod.down, np.zeros(n), x))
    close(*run_both(mod.two, np.zeros(n), x))
    X = rng.random((n, 5))
    close(*run_both(mod.rows, np.zeros((n, 5)), X, 0.25))


def test_thread_counts_and_uneven_chunks(mod):
    x = np.random.default_rng(3).random(1001)
    want = interpret(mod.dot.ir, x, x)
    for k in (1, 2, 3, 4):
        threads.set_num_threads(k)
        assert threads.get_num_threads() == k
        assert mod.dot(x, x) == pytest.approx(want, rel=1e-12)
        y = np.zeros(1001)
        mod.ew(y, x, 0.3)
        np.testing.assert_allclose(y, np.exp(0.3 * x) + np.tanh(x), rtol=1e-13)


def test_reduction_is_exact_for_integers():
    m = turbo.compile("""
kernel count(x: i64[n]) {
    c = 7
    for i in 0:n { c += x[i] * (i % 3) }
    return c
}""", parallel=True)
    x = np.arange(10_001, dtype=np.int64)
    assert m.count(x) == 7 + int((x * (np.arange(x.size) % 3)).sum())


def test_an_error_in_a_chunk_is_reported_at_its_line():
    m = turbo.compile("""
kernel gather(y: f64[n], x: f64[m], idx: i64[n]) {
    parallel for i in 0:n {
        y[i] = x[idx[i]]
    }
}""", "gather.loop")
    idx = np.zeros(200, dtype=np.int64)
    idx[150] = 99  # in the second chunk
    with pytest.raises(turbo.KernelIndexError, match="index 99 is out of bounds") as e:
        m.gather(np.zeros(200), np.ones(10), idx)
    assert e.value.loc.line == 4


def test_dsl_form_round_trips_and_is_reserved():
    src = """kernel f(x: f64[n]) {
    parallel for i in 0:n, j in 0:4 {
        x[i] += 1.0
    }
}
"""
    k = turbo.parse(src).kernels[0]
    assert k.body[0].parallel and not k.body[0].body[0].parallel
    assert str(k) == src
    m = turbo.compile(src)
    x = np.zeros(100)
    m.f(x)
    np.testing.assert_array_equal(x, 4.0)
    with pytest.raises(turbo.DSLSyntaxError) as e:
        turbo.compile("kernel g(x: f64[n]) {\n    parallel = 1.0\n}")
    assert e.value.loc.line == 2


REFUSED = [
    ("kernel f(y: f64[m], A: f64[n, m]) {\n    parallel for i in 0:n {\n"
     "        for j in 0:m { y[j] += A[i, j] }\n    }\n}", "may access the same element of y"),
    ("kernel f(y: f64[n], x: f64[n]) {\n    parallel for i in 1:n {\n"
     "        y[i] = y[i - 1] + x[i]\n    }\n}", "may access the same element of y"),
    ("kernel f(y: f64[n], x: f64[n]) {\n    s = 0.0\n    parallel for i in 0:n {\n"
     "        s = s * 0.5 + x[i]\n        y[i] = s\n    }\n}", "'s' is carried"),
    ("kernel f(x: f64[n]) {\n    t = 0.0\n    parallel for i in 0:n {\n"
     "        t = x[i]\n    }\n    return t\n}", "read after the loop"),
    ("kernel f(x: f64[n, m]) {\n    for i in 0:n {\n        parallel for j in 0:m {\n"
     "            x[i, j] = 1.0\n        }\n    }\n}", "nested in another statement"),
]


@pytest.mark.parametrize("src, why", REFUSED)
def test_illegal_parallel_loops_are_refused_at_their_line(src, why):
    with pytest.raises(turbo.ScheduleError, match=why) as e:
        turbo.compile(src, "bad.loop")
    marked = [n for n, line in enumerate(src.splitlines(), 1) if "parallel for" in line]
    assert e.value.loc.line == marked[0]
    assert e.value.hint


def test_float_reduction_needs_fastmath():
    src = "kernel f(x: f64[n]) {\n    s = 0.0\n    parallel for i in 0:n { s += x[i] }\n    return s\n}"
    with pytest.raises(turbo.ScheduleError, match="fastmath"):
        turbo.compile(src, fastmath=False)
    assert turbo.compile(src).f(np.ones(50)) == 50.0


def test_automatic_mode_warns_about_loops_it_cannot_split():
    src = """
kernel f(y: f64[n], x: f64[n]) {
    for i in 0:n { y[i] = x[i] * 2.0 }
    for i in 1:n { y[i] += y[i - 1] }
}"""
    m = turbo.compile(src, "scan.loop", parallel=True)
    x = np.arange(40.0)
    with pytest.warns(turbo.FallbackWarning, match=r"kernel 'f': loop i \(line 4\) runs on one thread"):
        y = np.zeros(40)
        m.f(y, x)
    np.testing.assert_allclose(y, np.cumsum(2 * x))
    text = m.f.explain()
    assert "threads: split i into one chunk per thread" in text
    assert "threads: loop i (line 4): one thread" in text


def test_overlapping_arguments_run_on_one_thread_with_a_warning():
    m = turbo.compile("kernel f(y: f64[n], x: f64[n]) {\n    parallel for i in 0:n { y[i] = x[i] + 1.0 }\n}")
    buf = np.arange(101.0)
    with pytest.warns(turbo.FallbackWarning, match="overlaps another argument"):
        m.f(buf[1:], buf[:-1])
    ref = np.arange(101.0)
    interpret(m.f.ir, ref[1:], ref[:-1])
    np.testing.assert_array_equal(buf, ref)


def test_turbo_functions_with_prange_and_parallel_true():
    @turbo.turbo
    def scale(y, x):
        for i in turbo.prange(x.shape[0]):
            y[i] = 3.0 * x[i]

    @turbo.turbo(parallel=True)
    def total(x):
        s = 0.0
        for i in range(x.shape[0]):
            s += x[i]
        return s

    x = np.random.default_rng(0).random(999)
    y = np.zeros_like(x)
    scale(y, x)
    np.testing.assert_allclose(y, 3.0 * x)
    assert total(x) == pytest.approx(x.sum(), rel=1e-12)
    assert "threads: split i" in total.explain(x)
    assert list(turbo.prange(2, 8, 3)) == [2, 5]  # plain Python: a range


def test_decisions(mod):
    """Chunks of gemm start at whole row blocks of its register tile; a vectorized
    loop's at whole vectors; reductions are recognised with their combine op."""
    from turbo.passes import schedule as sch
    from turbo.passes.target import host

    k = mod.gemm
    variant = k.variant_for(())
    lowered, s = k.schedule(variant)
    (p,) = s.parallel
    (region,) = s.regions
    assert p.index == "m" and p.align == region.factors[0] and p.rest_cost3 == max(3, 2 * region.factors[0])
    lowered, s = mod.ew.schedule(mod.ew.variant_for(()))
    (p,) = s.parallel
    assert p.align == host().width(turbo.ir.DType.F64)
    lowered, s = mod.stats.schedule(mod.stats.variant_for(()))
    assert {(n, op) for n, op, _ in s.parallel[0].reductions} == {("hi", "max"), ("lo", "min"), ("c", "+"), ("d", "+")}
    assert sch.Options().parallel is False


def test_options_are_checked():
    with pytest.raises(ValueError):
        threads.set_num_threads(0)
    with pytest.raises(ValueError):
        threads.set_parallel_threshold(-1)
    with pytest.raises(TypeError, match="parallel must be True or False"):
        turbo.compile("kernel f(x: f64[n]) { }", parallel=1)


def test_problems_are_none_for_legal_loops():
    k = turbo.parse(KERNELS).kernels[0]
    ctx = parallel.Context.of(k)
    assert parallel.problems(ctx, (0,), k.body[0], True) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plans, notes = parallel.choose(ctx, None, True, True)
    assert [p.index for p in plans] == ["m"] and notes == []


def test_pullback_of_a_threaded_kernel_is_threaded_where_legal():
    src = """
kernel dense(Y: f64[M, N], W: f64[M, K], X: f64[K, N]) {
    parallel for m in 0:M {
        for n in 0:N {
            acc = 0.0
            for k in 0:K { acc += W[m, k] * X[k, n] }
            Y[m, n] = tanh(acc)
        }
    }
}"""
    threaded = turbo.pullback(turbo.compile(src).dense, ("W", "X"))
    serial = turbo.pullback(turbo.compile(src.replace("parallel for", "for")).dense, ("W", "X"))
    assert any(s.parallel for s in threaded.ir.body) and not any(s.parallel for s in serial.ir.body)
    rng = np.random.default_rng(1)
    W, X = rng.standard_normal((37, 29)), rng.standard_normal((29, 41))
    Y = np.tanh(W @ X)
    dY = rng.standard_normal(Y.shape)
    got = [np.zeros_like(W), np.zeros_like(X)]
    want = [np.zeros_like(W), np.zeros_like(X)]
    threaded(Y, W, X, dY, *got)
    serial(Y, W, X, dY, *want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
