"""turbo's SIMD math routines against a long-double reference, in ulp, over wide
ranges and the edge values (0, -0, inf, nan, subnormals, huge arguments). The
bounds are the ones documented in turbo/codegen/simdmath.py."""

from __future__ import annotations

import numpy as np
import pytest

import turbo

SOURCE = """
kernel f_exp(y: T[N], x: T[N]) { for i in 0:N { y[i] = exp(x[i]) } }
kernel f_log(y: T[N], x: T[N]) { for i in 0:N { y[i] = log(x[i]) } }
kernel f_tanh(y: T[N], x: T[N]) { for i in 0:N { y[i] = tanh(x[i]) } }
kernel f_sigmoid(y: T[N], x: T[N]) { for i in 0:N { y[i] = sigmoid(x[i]) } }
"""

BOUNDS = {  # (f32, f64) maximum ulp
    "exp": (1.0, 1.0),
    "log": (1.0, 1.5),
    "tanh": (2.0, 2.0),
    "sigmoid": (3.0, 3.0),
}

REFERENCE = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
}


def max_ulp(got, ref_ld, dt):
    """The largest error in units of the last place of the correctly rounded
    result; special values (inf, nan, 0) must match exactly."""
    with np.errstate(all="ignore"):
        ref = ref_ld.astype(dt)
        special = ~np.isfinite(ref) | ~np.isfinite(got)
        same = (got == ref) | (np.isnan(got) & np.isnan(ref))
        err = np.abs(got.astype(np.longdouble) - ref_ld) / np.spacing(np.abs(ref)).astype(np.longdouble)
    bad_special = special & ~same
    assert not bad_special.any(), list(zip(got[bad_special][:5], ref[bad_special][:5]))
    return float(np.max(np.where(special, 0, err), initial=0.0))


def inputs(fn, dt, rng):
    fi = np.finfo(dt)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, fi.tiny, fi.tiny / 8, fi.smallest_subnormal, fi.max, -fi.max,
             1.0, -1.0, 0.55, -0.55, 0.5499, 88.0, -88.0, 709.0, -745.0, 1e-30, -1e-30, 20.0, -20.0]
    if fn == "log":
        lo = np.log(float(fi.smallest_subnormal))
        body = [np.exp(rng.uniform(lo, np.log(float(fi.max)), 100_000)), rng.uniform(0.5, 2.0, 50_000)]
    else:
        span = {"exp": (-110.0, 90.0) if dt == np.float32 else (-750.0, 710.0), "tanh": (-25.0, 25.0),
                "sigmoid": (-120.0, 120.0) if dt == np.float32 else (-800.0, 800.0)}[fn]
        body = [rng.uniform(*span, 100_000), rng.uniform(-1, 1, 50_000), rng.uniform(-1e-3, 1e-3, 5_000)]
    return np.concatenate([np.concatenate(body).astype(dt), np.array(edges, dtype=np.float64).astype(dt)])


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fn", list(BOUNDS))
def test_ulp_error_within_documented_bound(fn, dt):
    rng = np.random.default_rng(11)
    mod = turbo.compile(SOURCE.replace("T[", "f32[" if dt == np.float32 else "f64["))
    kernel = mod[f"f_{fn}"]
    assert "vectorize i" in kernel.explain()  # the SIMD routine, not a libm call per lane
    x = inputs(fn, dt, rng)
    y = np.zeros_like(x)
    kernel(y, x)
    with np.errstate(all="ignore"):
        ref = REFERENCE[fn](x.astype(np.longdouble))
    bound = BOUNDS[fn][0 if dt == np.float32 else 1]
    assert max_ulp(y, ref, dt) <= bound


def test_scalar_and_vector_paths_agree_on_special_values():
    mod = turbo.compile(SOURCE.replace("T[", "f64["))
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 5e-324])
    for fn in ("exp", "log", "tanh", "sigmoid"):
        y = np.zeros_like(x)
        mod[f"f_{fn}"](y, x)
        with np.errstate(all="ignore"):
            want = REFERENCE[fn](x)
        np.testing.assert_array_equal(np.signbit(y[:5]) & (y[:5] == 0), np.signbit(want[:5]) & (want[:5] == 0))
        np.testing.assert_allclose(y, want, rtol=1e-15, atol=0, equal_nan=True)
