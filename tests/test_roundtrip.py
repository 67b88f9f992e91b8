"""math.floor / math.ceil / round return ints, so ``x - math.floor(x)`` converts
to i64 and back; passes/roundtrip.py keeps such a round trip in the float type
(AVX2 has no vector f64 <-> i64 conversion). Against Python, with the language's
saturating conversion where Python raises: nan gives 0, ±inf and values beyond
i64 its nearest end (±2**63 as a float)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from turbo import turbo as jit
from turbo.passes.roundtrip import float_roundtrips


def integral_parts(out, x):
    for i in range(x.shape[0]):
        out[i, 0] = math.floor(x[i])
        out[i, 1] = math.ceil(x[i])
        out[i, 2] = round(x[i])
        out[i, 3] = x[i] - math.floor(x[i])


VALUES = [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.7, -2.2, 1e15 + 0.5, 4503599627370497.0, 5e-324, -5e-324,
          9.3e18, -9.3e18, 1e300, -1e300, math.inf, -math.inf, math.nan]


def _saturated(fn, v: float) -> float:
    if math.isnan(v):
        return 0.0
    if math.isinf(v):
        return math.copysign(2.0**63, v)
    return float(max(min(fn(v), 2**63 - 1), -(2**63)))


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("options", [{}, {"vectorize": False}])
def test_float_int_float_round_trips_match_python(dt, options):
    with np.errstate(over="ignore"):
        x = np.tile(np.array(VALUES), 3).astype(dt)
    out = np.zeros((x.size, 4), dt)
    f = jit(integral_parts, **options)
    f(out, x)
    want = np.zeros_like(out)
    for i, v in enumerate(x.tolist()):
        floor = _saturated(math.floor, v)
        want[i] = (floor, _saturated(math.ceil, v), _saturated(round, v), np.asarray(v, dt) - np.asarray(floor, dt))
    np.testing.assert_array_equal(out, want)
    assert np.array_equal(np.signbit(out), np.signbit(want))  # ceil(-0.5) is the integer 0: +0.0


def test_the_round_trip_stays_in_the_float_type():
    x = np.ones(16)
    f = jit(integral_parts)
    f(np.zeros((16, 4)), x)
    lowered = str(float_roundtrips(f.kernels[0].ir))
    assert "i64(" not in lowered, lowered
    assert "fptosi" not in f.inspect("llvm", np.zeros((16, 4)), x)
