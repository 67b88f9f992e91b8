"""Search loops (analysis.search_exit, codegen/vector.py ``search_loop``): a loop
left by a ``break`` whose body before the exit if only assigns locals runs in
vectors up to the first step where a lane breaks, then one iteration at a time.
Against the plain Python function, at sizes and break positions around every
step, and what the plan says."""

from __future__ import annotations

import math

import numpy as np
import pytest

import turbo
from turbo import turbo as jit

from test_control import first_above


def first_nan(x):
    r = -1
    for i in range(x.shape[0]):
        if x[i] != x[i]:
            r = i
            break
    return r


def first_far(x, y, tol):  # assignments before the exit if, read by it and in it
    at = -1
    gap = 0.0
    for i in range(x.shape[0]):
        d = x[i] - y[i]
        e = d * d
        if e > tol:
            at = i
            gap = d
            break
    return at * 1000.0 + gap


def mark_first(out, x, t):  # a store before the break, and a return value
    for i in range(1, x.shape[0]):
        if x[i] < x[i - 1] - t:
            out[0] = i
            out[1] = x[i]
            break


def index_of(x, v):
    for i in range(x.shape[0]):
        if x[i] == v:
            return i
    return -1


def rows_first(out, A, t):  # a search in each row: the inner loop alone
    for i in range(A.shape[0]):
        out[i] = -1
        for j in range(A.shape[1]):
            if A[i, j] > t:
                out[i] = j
                break


def _args(fn, n, rng, hit, dt):
    x = rng.standard_normal(n).astype(dt)
    if fn is first_above:
        x = np.abs(x) * 0.5
        if hit is not None:
            x[hit] = 3.0
        return [x, 2.0]
    if fn is first_nan:
        if hit is not None:
            x[hit] = np.nan
        return [x]
    if fn is first_far:
        y = x + np.asarray(0.01, dt)
        if hit is not None:
            y[hit] += 5
        return [x, y, 1.0]
    if fn is mark_first:
        x = np.arange(n, dtype=dt)
        if hit is not None and hit > 0:
            x[hit] = -10
        return [np.zeros(2, dt), x, 1.0]
    if fn is index_of:
        x = np.arange(n, dtype=dt)
        return [x, float(hit if hit is not None else -5)]
    raise AssertionError(fn)


@pytest.mark.parametrize("fn", [first_above, first_nan, first_far, mark_first, index_of])
@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_search_loops_match_python(fn, dt):
    rng = np.random.default_rng(0)
    f = jit(fn)
    for n in (0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100):
        for hit in sorted({None, 0, 1, n // 2, n - 1, n - 2, 7, 8, 16} - {None}, key=lambda h: h) + [None]:
            if hit is not None and not 0 <= hit < n:
                continue
            args = _args(fn, n, rng, hit, dt)
            mine = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            got = f(*mine)
            want = fn(*args)
            if isinstance(want, float) and math.isnan(want):
                assert math.isnan(got)
            else:
                assert got == pytest.approx(want), (n, hit)
            for a, b in zip(mine, args):
                if isinstance(a, np.ndarray):
                    np.testing.assert_array_equal(a, b)


def test_a_search_in_each_row_matches_python():
    rng = np.random.default_rng(1)
    f = jit(rows_first)
    for rows, cols in ((0, 5), (3, 0), (5, 1), (6, 13), (9, 40)):
        A = rng.standard_normal((rows, cols))
        mine, ref = np.zeros(rows, np.int64), np.zeros(rows, np.int64)
        f(mine, A, 1.5)
        rows_first(ref, A, 1.5)
        np.testing.assert_array_equal(mine, ref)


def test_the_plan_vectorizes_a_search_and_says_how_it_ends():
    x = np.zeros(1000)
    text = jit(first_nan).explain(x)
    chosen = text.split("chosen:")[1].split("\n")[0]
    assert "vectorize i" in chosen and "up to the first step where a lane breaks" in chosen, text
    text = jit(first_far).explain(x, x, 1.0)
    assert "vectorize i" in text.split("chosen:")[1].split("\n")[0], text


def test_a_search_whose_exit_reads_what_it_sets_stays_scalar():
    """``last`` is set by the exit if and read by its condition: a value carried
    from one iteration to the next, so the loop runs as written."""
    m = turbo.compile("""
    kernel f(x: f64[N]) {
        last = 0
        for i in 0:N {
            if x[i] > x[last] + 1.0 {
                last = i
                break
            }
        }
        return last
    }""")
    x = np.zeros(40)
    x[30] = 5.0
    assert m.f(x) == 30
    assert "chosen: loops as written" in m.f.explain(x)


def test_a_search_with_a_store_before_its_exit_if_stays_scalar():
    m = turbo.compile("""
    kernel f(out: f64[N], x: f64[N]) {
        r = -1
        for i in 0:N {
            out[i] = x[i] * 2.0
            if x[i] < 0.0 {
                r = i
                break
            }
        }
        return r
    }""")
    x = np.ones(40)
    x[21] = -1.0
    out = np.zeros(40)
    assert m.f(out, x) == 21
    np.testing.assert_array_equal(out[:22], 2.0 * x[:22])
    assert not out[22:].any()
    assert "holds a break" in m.f.explain(out, x)


def test_a_search_past_the_end_of_an_array_raises_only_where_python_does():
    """The vectors read lanes past the break: only where every iteration's
    accesses are in bounds. Here the loop's range runs past ``x``, so a call
    whose break comes first returns, and one that reads past the end raises."""
    m = turbo.compile("""
    kernel f(x: f64[N], n: i64) {
        r = -1
        for i in 0:n {
            if x[i] > 1.0 {
                r = i
                break
            }
        }
        return r
    }""")
    x = np.zeros(20)
    x[5] = 2.0
    assert m.f(x, 40) == 5
    assert m.f(x, 20) == 5
    with pytest.raises(IndexError):
        m.f(np.zeros(20), 40)


def test_an_unchecked_search_reads_ahead_only_where_bounds_are_proven():
    """With boundscheck=False a loop may rely on its break to stay inside its
    array (a sentinel ends it): its vectors would read past the end."""
    src = """
    kernel f(x: f64[N], n: i64) {
        r = -1
        for i in 0:n {
            if x[i] == 0.0 {
                r = i
                break
            }
        }
        return r
    }"""
    x = np.ones(50)
    x[37] = 0.0
    unchecked = turbo.compile(src, boundscheck=False)
    assert unchecked.f(x, 1 << 40) == 37
    assert "would read past the break" in unchecked.f.explain(x, 1 << 40)
    proven = turbo.compile(src.replace("0:n", "0:N"), boundscheck=False)
    assert proven.f(x, 0) == 37
    assert "vectorize i" in proven.f.explain(x, 0).split("chosen:")[1].split("\n")[0]


def scan(x, v):  # Python's way to advance an index: a while loop
    i = 0
    while i < len(x) and x[i] != v:
        i += 1
    return i


def scan_from(x, v, s):
    i = s
    while i < x.shape[0] and x[i] < v:
        i = i + 1
    return i


def advance_in_rows(out, A, t):  # the index set again before each loop, in a loop
    for r in range(A.shape[0]):
        j = 0
        while j < A.shape[1] and A[r, j] <= t:
            j += 1
        out[r] = j


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_while_loops_advancing_an_index_match_python(dt):
    f, g, h = jit(scan), jit(scan_from), jit(advance_in_rows)
    rng = np.random.default_rng(5)
    for n in (0, 1, 3, 8, 9, 17, 100):
        x = np.arange(n, dtype=dt)
        for v in (-1.0, 0.0, 5.0, n - 1.0, 1e9):
            assert f(x, v) == scan(x, v), (n, v)
            for s in (0, 2, n, n + 3):
                assert g(x, v, s) == scan_from(x, v, s), (n, v, s)
        A = rng.standard_normal((5, n)).astype(dt)
        mine, ref = np.zeros(5, np.int64), np.zeros(5, np.int64)
        h(mine, A, 1.0)
        advance_in_rows(ref, A, 1.0)
        np.testing.assert_array_equal(mine, ref)
    with pytest.raises(IndexError):  # a negative start reads x[-1] in both forms
        g(np.arange(4.0), 9.0, -1)


def test_a_while_loop_advancing_an_index_runs_as_a_vectorized_search():
    x = np.zeros(1000)
    lowered = jit(scan).inspect("lowered", x, 1.0)
    assert "while" not in lowered and "for i.at in 0:n0" in lowered, lowered
    assert "up to the first step where a lane breaks" in jit(scan).explain(x, 1.0).split("chosen:")[1].split("\n")[0]


def insertion_sort_rows(A):  # a while loop counting an index down, with a body
    for r in range(A.shape[0]):
        for i in range(1, A.shape[1]):
            v = A[r, i]
            j = i - 1
            while j >= 0 and A[r, j] > v:
                A[r, j + 1] = A[r, j]
                j -= 1
            A[r, j + 1] = v


def back_scan(x, v, s, low):  # counting down from s while above low (> form), no body
    j = s
    t = 0.0
    while j > low and x[j] != v:
        t += x[j]
        j = j - 1
    return j * 1000.0 + t


def countdown(x, s):  # no test: the condition is the bound alone
    j = s
    t = 0.0
    while 1 <= j:
        t = t * 0.5 + x[j]
        j -= 1
    return t + j


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_while_loops_counting_down_match_python(dt):
    rng = np.random.default_rng(7)
    f = jit(insertion_sort_rows)
    for n in (0, 1, 2, 5, 16, 33):
        for A in (rng.standard_normal((4, n)).astype(dt), np.zeros((3, n), dt),
                  np.arange(n, dtype=dt)[None, ::-1].copy()):
            got = A.copy()
            f(got)
            want = A.copy()
            insertion_sort_rows(want)
            np.testing.assert_array_equal(got, want)
    g, h = jit(back_scan), jit(countdown)
    for n in (1, 4, 9, 17):
        x = np.arange(n, dtype=dt)
        for v in (-1.0, 0.0, 3.0, n - 1.0):
            for s in (-2, 0, 2, n - 1):
                for low in (-1, 0, 3):
                    if s >= n:
                        continue
                    assert g(x, v, s, low) == pytest.approx(back_scan(x, v, s, low)), (n, v, s, low)
        for s in sorted({-1, 0, 1, n - 1} - {n}):
            assert h(x, s) == pytest.approx(countdown(x, s)), (n, s)


def test_a_countdown_while_loop_is_a_for_loop_whose_reads_are_proven():
    A = np.zeros((4, 10))
    lowered = jit(insertion_sort_rows).inspect("lowered", A)
    assert "while" not in lowered and "for j.at in i - 1:0 - 1:-1" in lowered, lowered
    text = jit(insertion_sort_rows).explain(A)
    assert "loop j.at holds a break" in text  # a loop, no longer a while loop the scheduler cannot see into
