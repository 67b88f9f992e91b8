"""Repeated divisions by one local (passes/reciprocal.py): one reciprocal and
products, with fastmath only. Against the plain Python function (a last-bit
tolerance: x * (1 / y) may round differently) and, without fastmath, exactly;
and what the pass makes."""

from __future__ import annotations

import numpy as np
import pytest

from turbo import turbo as jit
from turbo.passes.reciprocal import shared_divisors


def inv2x2(out, M):
    for b in range(M.shape[0]):
        a = M[b, 0, 0]
        c = M[b, 1, 0]
        det = a * M[b, 1, 1] - M[b, 0, 1] * c
        out[b, 0, 0] = M[b, 1, 1] / det
        out[b, 0, 1] = -M[b, 0, 1] / det
        out[b, 1, 0] = -c / det
        out[b, 1, 1] = a / det


def normalize(P):  # x /= n as well as x / n, and a divisor set again between uses
    for i in range(P.shape[0]):
        n = (P[i, 0] ** 2 + P[i, 1] ** 2 + P[i, 2] ** 2) ** 0.5
        P[i, 0] /= n
        P[i, 1] = P[i, 1] / n
        n = n * 2.0
        P[i, 2] = P[i, 2] / n + P[i, 0] / n


def branches(out, x, y):  # divisions in another block share nothing with these
    for i in range(x.shape[0]):
        d = y[i]
        if x[i] > 0.0:
            out[i] = x[i] / d + 1.0 / d
        else:
            out[i] = x[i] / d


@pytest.mark.parametrize("dt", [np.float64, np.float32])
@pytest.mark.parametrize("fastmath", [True, False])
def test_shared_reciprocals_match_python(dt, fastmath):
    rng = np.random.default_rng(0)
    tol = {np.float64: 1e-14, np.float32: 1e-5}[dt] if fastmath else 0
    for n in (0, 1, 5, 17):
        M = (rng.standard_normal((n, 2, 2)) + 3 * np.eye(2)).astype(dt)
        P = rng.standard_normal((n, 3)).astype(dt)
        x, y = rng.standard_normal(n).astype(dt), (rng.random(n) + 0.5).astype(dt)
        for fn, args in ((inv2x2, (np.zeros((n, 2, 2), dt), M)), (normalize, (P,)),
                         (branches, (np.zeros(n, dt), x, y))):
            mine = [a.copy() for a in args]
            ref = [a.copy() for a in args]
            jit(fn, fastmath=fastmath)(*mine)
            fn(*ref)
            for a, b in zip(mine, ref):
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_the_pass_divides_once_per_run_of_a_divisor():
    f = jit(inv2x2)
    args = (np.zeros((3, 2, 2)), np.ones((3, 2, 2)))
    f(*args)
    text = str(shared_divisors(f.kernels[0].ir))
    assert text.count("/ det") == 1 and text.count("* det.inv") == 4, text
    g = jit(normalize)
    g(np.ones((2, 3)))
    text = str(shared_divisors(g.kernels[0].ir))
    # n's first run (/= and /), then n set again: a second run with its own reciprocal
    assert "n.inv = 1.0 / n" in text and "n.inv_1 = 1.0 / n" in text and "P[i, 0] *= n.inv" in text, text
    h = jit(branches)
    h(np.zeros(2), np.ones(2), np.ones(2))
    text = str(shared_divisors(h.kernels[0].ir))
    assert text.count("d.inv") == 3 and text.count("/ d") == 2, text  # the then-branch's two only
    # priced as one division: the loop as written, 5 cycles an iteration (4 divisions: 20)
    assert "chosen: loops as written (scalar)" in f.explain(*args)


def test_without_fastmath_every_division_stays():
    f = jit(inv2x2, fastmath=False)
    args = (np.zeros((3, 2, 2)), np.ones((3, 2, 2)) + np.eye(2))
    f(*args)
    assert "det.inv" not in f.inspect("lowered", *args)
    assert "det.inv" in jit(inv2x2).inspect("lowered", *args)


def forward_sweep(cp, dp, a, b, c, d):  # the Thomas algorithm's recurrence
    for i in range(1, d.shape[0]):
        den = b[i] - a[i] * cp[i - 1]
        cp[i] = c[i] / den
        dp[i] = (d[i] - a[i] * dp[i - 1]) / den


def test_a_divisor_on_a_recurrence_keeps_its_divisions():
    """den is computed from cp[i - 1], which the loop stores at cp[i]: a product
    after the reciprocal would lengthen the chain from one iteration to the next."""
    rng = np.random.default_rng(1)
    n = 40
    a, c, d = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal(n)
    b = rng.standard_normal(n) + 4.0
    f = jit(forward_sweep)
    mine, ref = [np.zeros(n), np.zeros(n)], [np.zeros(n), np.zeros(n)]
    f(*mine, a, b, c, d)
    forward_sweep(*ref, a, b, c, d)
    np.testing.assert_allclose(mine, ref, rtol=1e-14)
    assert "den.inv" not in f.inspect("lowered", *mine, a, b, c, d)
