"""Index-set splitting (passes/split.py): loops that test their own index against
values fixed in them run as consecutive loops without the test. Against the plain
Python function at sizes around every split point, and what the pass makes."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo import turbo as jit
from turbo.passes.split import split_loops


def laplacian(out, x):
    n = x.shape[0]
    for i in range(n):
        if i > 0 and i < n - 1:
            out[i] = x[i - 1] - 2.0 * x[i] + x[i + 1]
        else:
            out[i] = 0.0


def boundary(out, u):
    n = u.shape[0]
    m = u.shape[1]
    for i in range(n):
        for j in range(m):
            if i == 0 or j == 0 or i == n - 1 or j == m - 1:
                out[i, j] = u[i, j]
            else:
                out[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])


def at_k(out, x, k):
    for i in range(x.shape[0]):
        if i == k:
            out[i] = -1.0
        elif not (i < k + 2):
            out[i] = x[i] * 2.0
        else:
            out[i] = x[i]


def below_diagonal(out, A):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            if j <= i and A[i, j] > 0.0:  # an outer index, and a test of the data
                out[i, j] = A[i, j]
            else:
                out[i, j] = 0.0


def running_until(out, x, m):
    s = 0.0
    for i in range(x.shape[0]):
        if i >= m:  # a running sum: the copies keep the order
            s += x[i]
        out[i] = s


def left_by_break(out, x):
    for i in range(x.shape[0]):
        if i == 3:
            break
        out[i] = x[i]


def stepped(out, x):
    for i in range(0, x.shape[0], 2):
        if i == 4:
            out[i] = 1.0
        else:
            out[i] = x[i]


def _check(fn, *args, **options):
    mine = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    ref = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    jit(fn, **options)(*mine)
    fn(*ref)
    for a, b in zip(mine, ref):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 8, 17])
def test_split_loops_match_python(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n)
    A = rng.standard_normal((n, n + 1))
    for options in ({}, {"vectorize": False}):
        _check(laplacian, np.zeros(n), x, fastmath=False, **options)
        _check(boundary, np.zeros((n, n + 1)), A, fastmath=False, **options)
        _check(boundary, np.zeros((n + 3, n)), rng.standard_normal((n + 3, n)), fastmath=False, **options)
        for k in (-3, -1, 0, 1, n - 2, n - 1, n, n + 5):
            _check(at_k, np.zeros(n), x, k, **options)
            _check(running_until, np.zeros(n), x, k, fastmath=False, **options)
        _check(below_diagonal, np.zeros((n, n + 1)), A, **options)
        _check(left_by_break, np.zeros(n), x, **options)
        _check(stepped, np.zeros(n), x, **options)


def test_a_boundary_stencil_splits_into_an_interior_without_the_if():
    f = jit(boundary)
    args = (np.zeros((16, 12)), np.ones((16, 12)))
    f(*args)
    text = str(split_loops(f.kernels[0].ir))
    assert "for i in 1:n0 - 1 {" in text and "for j in 1:n1 - 1 {" in text, text
    interior = text.split("for j in 1:n1 - 1 {")[1].split("}")[0]
    assert "if" not in interior and "0.25" in interior, text
    assert "} else {" in text  # the loop as written, where the points are out of order (n < 2)
    explained = f.explain(*args)
    # the interior rows' nest (the if around the column copies prices the copies:
    # the loop as written runs only where the points are out of order)
    interior = explained.split("nest for i (at 2.0.1):")[1].split("chosen:")[1].split("\n")[0]
    assert "vectorize j" in interior, explained


def test_a_guard_no_call_can_satisfy_does_not_version_a_nest():
    """``x[i - 1]`` with ``i`` from 0 is out of bounds on every call that runs the
    loop: its guard would be the constant ``1 <= 0``, so the nest keeps its check
    instead of a copy that never runs."""
    m = turbo.compile("""
    kernel before(out: f64[N], x: f64[N]) {
        for i in 0:N { out[i] = x[i - 1] }
    }""")
    text = m.before.explain(np.zeros(8), np.ones(8))
    assert "versioned" not in text and "1 <= 0" not in text, text
    with pytest.raises(IndexError):
        m.before(np.zeros(8), np.ones(8))


def test_loops_the_split_would_change_are_left_as_written():
    for fn, args in ((left_by_break, (np.zeros(8), np.ones(8))), (stepped, (np.zeros(8), np.ones(8)))):
        f = jit(fn)
        f(*args)
        assert split_loops(f.kernels[0].ir) == f.kernels[0].ir
    m = turbo.compile("""
    kernel p(out: f64[N], x: f64[N]) {
        parallel for i in 0:N {
            if i == 0 { out[i] = 0.0 } else { out[i] = x[i] - x[i - 1] }
        }
    }""")
    assert split_loops(m.p.ir) == m.p.ir


def bound_from_a_local(out, x):
    m = x.shape[0]
    for i in range(m):  # range(m) reads m once; the body changes it
        if i == 2:
            out[i] = 5.0
        else:
            out[i] = x[i]
        m = 1
    out[0] = m


def test_a_loop_whose_bound_reads_a_local_is_not_split():
    f = jit(bound_from_a_local)
    for n in (0, 1, 3, 6):
        _check(bound_from_a_local, np.zeros(max(n, 1)), np.ones(max(n, 1)) * 3.0)
    f(np.zeros(4), np.ones(4))
    assert split_loops(f.kernels[0].ir) == f.kernels[0].ir
