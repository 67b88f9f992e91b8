"""What the AD pass cannot differentiate correctly is refused, pointing at the line."""

from __future__ import annotations

import numpy as np
import pytest

import turbo

REFUSED = [
    # (source body, the line the error must point at (1 = first body line), words in the message)
    ("for i in 0:N { Y[i] = Y[i] * x[i] }", 1, "read here and written in the same loop nest"),
    ("for i in 0:N { Y[i] = x[i] }\nfor i in 0:N { Y[i] *= x[i] }", 2, "needs the value 'Y' had before"),
    ("for i in 0:N { Y[0] = x[i] }", 1, "may write one element from several"),
    ("for i in 0:N { Y[i] = x[i] }\nfor i in 0:N { Y[i] = 2.0 * x[i] }", 2, "assigned by two statements"),
    ("for i in 0:N { Y[i] += x[i] }\nfor i in 0:N { Y[i] = x[i] }", 2, "may overwrite accumulated"),
    ("for i in 0:N { Y[i] = floor(x[i]) * x[i] }", 1, "floor"),
    ("for i in 0:N { Y[i] = f64(x[i] > 0.0) * x[i] }", 1, "step function"),
    ("for i in 0:N { Y[i] = x[i] // 0.5 }", 1, "'//'"),
    ("for i in 0:N {\n t = x[i]\n t = t * t\n Y[i] = t * x[i]\n}", 4, "assigned more than once"),
    ("s = 0.0\nfor i in 0:N {\n s += x[i]\n Y[i] = s * s\n}", 4, "needs the value of 's' here"),
    ("p = 1.0\nfor i in 0:N { p *= x[i] }\nY[0] = p", 2, "product"),
]


@pytest.mark.parametrize("body, line, words", REFUSED)
def test_refused_with_location(body, line, words):
    src = "kernel k(Y: f64[N], x: f64[N]) {\n" + body + "\n}\n"
    k = turbo.compile(src, "bad.loop").k
    with pytest.raises(turbo.DifferentiationError) as info:
        turbo.pullback(k, ("x",))
    err = info.value
    assert words in err.message, err.message
    assert err.filename == "bad.loop"
    assert err.line == line + 1, str(err)
    assert "^" in str(err) and "hint:" in str(err)


def test_inactive_arrays_are_not_refused():
    """The same overwriting pattern on values that do not depend on wrt is fine."""
    src = """kernel k(Y: f64[N], Z: f64[N], x: f64[N], c: f64[N]) {
        for i in 0:N { Z[0] = c[i] }
        for i in 0:N { Y[i] = x[i] * x[i] }
    }"""
    k = turbo.compile(src).k
    pb = turbo.pullback(k, ("x",))
    x = np.arange(3.0)
    dx = np.zeros(3)
    pb(np.zeros(3), np.zeros(3), x, np.zeros(3), np.ones(3), np.ones(3), dx)
    np.testing.assert_array_equal(dx, 2 * x)


def test_wrt_must_name_read_float_arrays():
    src = """kernel k(Y: f64[N], x: f64[N], a: f64, n: i64[N]) {
        for i in 0:N { Y[i] = a * x[i] + f64(n[i]) }
    }"""
    k = turbo.compile(src, "w.loop").k
    with pytest.raises(turbo.DifferentiationError, match="is a scalar") as info:
        turbo.pullback(k, ("a",))
    assert "1-element array" in str(info.value)
    with pytest.raises(turbo.DifferentiationError, match="only float arrays"):
        turbo.pullback(k, ("n",))
    with pytest.raises(turbo.DifferentiationError, match="written by the kernel"):
        turbo.pullback(k, ("Y",))
    with pytest.raises(TypeError, match="not a parameter"):
        turbo.pullback(k, ("q",))
    with pytest.raises(TypeError, match="twice"):
        turbo.pullback(k, ("x", "x"))


def test_overlapping_arrays_are_refused_at_call_time():
    src = """kernel k(Y: f64[N], x: f64[N]) {
        for i in 0:N { Y[i] = x[i] * x[i] }
    }"""
    k = turbo.compile(src).k
    pb = turbo.pullback(k, ("x",))
    buf = np.ones(8)
    x = np.ones(4)
    with pytest.raises(turbo.ArgumentValueError, match="share memory"):
        pb(buf[:4], buf[2:6], np.ones(4), np.zeros(4))  # Y overlaps x
    with pytest.raises(turbo.ArgumentValueError, match="share memory"):
        pb(np.ones(4), x, np.ones(4), x)  # dx is x
    dx = np.zeros(4)
    pb(np.ones(4), x, np.ones(4), dx)  # separate arrays work
    np.testing.assert_array_equal(dx, 2 * x)


def test_python_function_refusal_points_at_python_line():
    from turbo import turbo as jit

    @jit
    def f(Y, x):
        for i in range(Y.shape[0]):
            Y[i] = np.floor(x[i]) * x[i]

    pb = turbo.pullback(f, ("x",))
    with pytest.raises(turbo.DifferentiationError, match="floor") as info:
        pb(np.zeros(3), np.ones(3), np.ones(3), np.zeros(3))
    assert info.value.filename == __file__
    assert "np.floor(x[i])" in str(info.value)
