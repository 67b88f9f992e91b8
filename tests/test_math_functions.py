"""The math functions beyond exp/log/sin/cos/tanh/pow (log2 log10 log1p exp2 expm1
sinh cosh tan atan asin acos erf atan2 hypot copysign, rounding and sign) under @turbo and
in the loop language: plain Python and NumPy are the oracles, on the scalar path
(a few elements) and the vector one. Their accuracy in ulp is
tests/test_simdmath.py's."""

from __future__ import annotations

import math

import numpy as np
import pytest

import turbo
from turbo import turbo as jit

from helpers import run_both


def transcendental(out, x, y):
    for i in range(x.shape[0]):
        a = x[i]
        b = y[i]
        out[i, 0] = math.log2(a * a + 1.0) + np.log10(a * a + 2.0)
        out[i, 1] = math.log1p(a * a) + np.log1p(b * b)
        out[i, 2] = np.exp2(a) + math.expm1(a)
        out[i, 3] = math.sinh(a) + np.cosh(b)
        out[i, 4] = math.tan(a) + np.tan(b)
        out[i, 5] = np.arctan(a) + math.atan(b * 7.0)
        out[i, 6] = math.erf(a) + math.erf(b * 2.0)
        out[i, 7] = math.atan2(a, b) + np.arctan2(b, a)
        out[i, 8] = np.hypot(a, b) + math.hypot(b, 3.0)
        out[i, 9] = math.copysign(a, b) + np.copysign(2.0, a)
        out[i, 10] = math.asin(a / 3.0) + np.arcsin(b / 3.0)
        out[i, 11] = math.acos(a / 3.0) + np.arccos(b / 3.0)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", [3, 41], ids=["scalar", "vector"])
def test_functions_match_plain_python(dt, n):
    f = jit(transcendental)
    rng = np.random.default_rng(5)
    x = rng.uniform(-3, 3, n).astype(dt)
    y = rng.uniform(-3, 3, n).astype(dt)
    x[:3] = np.array([0.0, -0.0, 0.5], dtype=dt)
    got = np.zeros((n, 12), dt)
    want = np.zeros((n, 12), dt)
    f(got, x, y)
    transcendental(want, x, y)  # in double precision, rounded when stored
    rtol = 4e-7 if dt == np.float32 else 4e-15
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)
    if n > 8:
        assert "vectorize i" in f.explain(got, x, y)


def rounding(out, x):
    for i in range(x.shape[0]):
        out[i, 0] = round(x[i])
        out[i, 1] = np.round(x[i])
        out[i, 2] = np.rint(x[i])
        out[i, 3] = np.sign(x[i])


@pytest.mark.parametrize("n", [5, 40], ids=["scalar", "vector"])
def test_rounding_half_to_even_and_sign_as_python_and_numpy(n):
    """round() gives an int (half to even, as Python), np.round / np.rint floats;
    np.sign: -1, 0 or 1, +0 for -0.0, nan for nan."""
    f = jit(rounding)
    halves = np.array([0.5, 1.5, 2.5, -0.5, -2.5, -0.0, 0.0, 3.49999, -7.5, 1e15 + 0.5, np.nan, np.inf])
    x = np.concatenate([halves, np.random.default_rng(6).uniform(-9, 9, 60)])[:n]
    got = np.zeros((n, 4))
    f(got, x)
    finite = np.isfinite(x)
    np.testing.assert_array_equal(got[finite, 0], [float(round(v)) for v in x[finite]])
    np.testing.assert_array_equal(got[:, 1], np.round(x))
    np.testing.assert_array_equal(got[:, 2], np.rint(x))
    np.testing.assert_array_equal(got[:, 3], np.sign(x))
    np.testing.assert_array_equal(np.signbit(got[:, 3]), np.signbit(np.sign(x)))


def int_sign(out, k):
    for i in range(k.shape[0]):
        out[i] = np.sign(k[i]) + round(k[i]) + np.round(k[i])


def test_sign_and_round_keep_integers():
    f = jit(int_sign)
    k = np.array([-5, 0, 3, 7], dtype=np.int64)
    got, want = np.zeros(4, np.int64), np.zeros(4, np.int64)
    f(got, k)
    int_sign(want, k)
    np.testing.assert_array_equal(got, want)


def test_round_with_digits_is_refused_with_a_hint():
    def f(out, x):
        for i in range(x.shape[0]):
            out[i] = round(x[i], 2)

    with pytest.raises(turbo.UnsupportedError) as e:
        jit(f)(np.zeros(3), np.zeros(3))
    assert "number of digits" in str(e.value) and "round(x * 100.0)" in str(e.value)


DSL = """
kernel k(Y: f64[N, 16], x: f64[N], y: f64[N]) {
    for i in 0:N {
        Y[i, 0] = log2(x[i] + 4.0); Y[i, 1] = log10(x[i] + 4.0); Y[i, 2] = log1p(x[i]); Y[i, 3] = exp2(x[i])
        Y[i, 4] = expm1(x[i]); Y[i, 5] = sinh(x[i]); Y[i, 6] = cosh(x[i]); Y[i, 7] = tan(x[i])
        Y[i, 8] = atan(x[i]); Y[i, 9] = erf(x[i]); Y[i, 10] = atan2(y[i], x[i]); Y[i, 11] = hypot(x[i], y[i])
        Y[i, 12] = copysign(x[i], y[i]); Y[i, 13] = rint(x[i] * 2.0)
        Y[i, 14] = asin(y[i] / 3.0); Y[i, 15] = acos(x[i] / 3.0)
    }
}
"""


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 17])
def test_dsl_functions_match_the_interpreter(n):
    kernel = turbo.compile(DSL)["k"]
    rng = np.random.default_rng(n)
    x = rng.uniform(-0.9, 3, n)
    y = rng.uniform(-3, 3, n)
    got, want = run_both(kernel, np.zeros((n, 16)), x, y)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-15, atol=1e-15)


def test_dsl_function_arity_is_checked():
    with pytest.raises(turbo.DSLTypeError) as e:
        turbo.compile("kernel k(y: f64[N], x: f64[N]) { for i in 0:N { y[i] = atan2(x[i]) } }")
    assert "atan2() takes 2 arguments, got 1" in str(e.value)
