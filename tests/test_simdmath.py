"""turbo's SIMD math routines against a long-double reference, in ulp, over wide
ranges and the edge values (0, -0, inf, nan, subnormals, huge arguments). The
bounds are the ones documented in turbo/codegen/simdmath.py."""

from __future__ import annotations

import functools
import re

import numpy as np
import pytest

import turbo

from helpers import run_both

BOUNDS = {  # (f32, f64) maximum ulp (the functions from log2 on run f32 on f64 lanes, rounded once)
    "exp": (1.0, 1.0),
    "log": (1.0, 1.5),
    "tanh": (2.0, 2.0),
    "sigmoid": (3.0, 3.0),
    "sin": (1.0, 1.0),
    "cos": (1.0, 1.0),
    "log2": (1.0, 1.5),
    "log10": (1.0, 2.0),
    "log1p": (1.0, 1.5),
    "exp2": (1.0, 1.0),
    "expm1": (1.0, 1.5),
    "sinh": (1.0, 2.0),
    "cosh": (1.0, 1.5),
    "tan": (1.0, 2.0),
    "atan": (1.0, 1.0),
    "erf": (1.0, 1.5),
    "asin": (1.0, 1.5),
    "acos": (1.0, 1.5),
}
BOUNDS2 = {"atan2": (1.0, 1.0), "hypot": (1.0, 1.5)}  # two arguments
FIRST = ("exp", "log", "tanh", "sigmoid", "sin", "cos")  # the functions turbo started with


def erf_reference(x):
    """erf in 30 digits (mpmath, a dev dependency)."""
    import mpmath

    mpmath.mp.dps = 30
    out = np.empty(len(x), dtype=np.longdouble)
    for k, v in enumerate(x.astype(np.float64)):
        out[k] = np.sign(v) if np.isinf(v) else (v if np.isnan(v) else np.longdouble(mpmath.nstr(mpmath.erf(v), 25)))
    return out


REFERENCE = {  # on long doubles
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "sin": np.sin,
    "cos": np.cos,
    "log2": np.log2,
    "log10": np.log10,
    "log1p": np.log1p,
    "exp2": np.exp2,
    "expm1": np.expm1,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tan": np.tan,
    "atan": np.arctan,
    "erf": erf_reference,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan2": np.arctan2,
    "hypot": np.hypot,
}

SOURCE = "\n".join(
    [f"kernel f_{fn}(y: T[N], x: T[N]) {{ for i in 0:N {{ y[i] = {fn}(x[i]) }} }}" for fn in BOUNDS]
    + [f"kernel f_{fn}(z: T[N], y: T[N], x: T[N]) {{ for i in 0:N {{ z[i] = {fn}(y[i], x[i]) }} }}" for fn in BOUNDS2]
) + """
kernel f_pow(z: T[N], x: T[N], y: T[N]) { for i in 0:N { z[i] = pow(x[i], y[i]) } }
kernel f_half(z: T[N], w: T[N], x: T[N]) { for i in 0:N { z[i] = x[i] ** 0.5; w[i] = pow(x[i], 0.5) } }
kernel f_powers(z: T[N, 6], x: T[N]) {
    for i in 0:N { z[i, 0] = x[i] ** 2; z[i, 1] = x[i] ** 3; z[i, 2] = pow(x[i], 4); z[i, 3] = x[i] ** -1; z[i, 4] = x[i] ** 0; z[i, 5] = x[i] ** 1 }
}
"""


@functools.cache
def compiled(dt):
    return turbo.compile(SOURCE.replace("T[", "f32[" if dt == np.float32 else "f64["))


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
             1.0, -1.0, 0.55, -0.55, 0.5499, 88.0, -88.0, 709.0, -745.0, 1e-30, -1e-30, 20.0, -20.0,
             0.5, 2.0, 22.0, -22.0, 40.0, -40.0, 6.0, 4.0, 0.19891236737965800, 0.66817863791929893, -0.9999999]
    n = 40_000

    def magnitudes():  # all of them, log-uniform
        return np.exp(rng.uniform(np.log(float(fi.smallest_subnormal)), np.log(float(fi.max)), n))

    if fn in ("log2", "log10"):
        body = [magnitudes(), rng.uniform(0.5, 2.0, n), 2.0 ** rng.integers(-100, 100, 200),
                10.0 ** rng.integers(-30, 30, 61)]
    elif fn == "log1p":
        body = [magnitudes(), rng.uniform(-1, 1, n), -1 + np.exp(rng.uniform(-30, 0, 5000)),
                rng.uniform(-1e-6, 1e-6, 5000)]
    elif fn == "exp2":
        span = (-155.0, 130.0) if dt == np.float32 else (-1080.0, 1030.0)
        body = [rng.uniform(*span, n), rng.uniform(-1, 1, n), rng.integers(-140, 120, 200).astype(float)]
    elif fn in ("expm1", "sinh", "cosh"):
        span = 95.0 if dt == np.float32 else 715.0
        body = [rng.uniform(-span, span, n), rng.uniform(-2, 2, n), rng.uniform(-1e-4, 1e-4, 5000)]
    elif fn == "tan":
        near = (np.arange(1, 5_000) * (np.pi / 2)).astype(dt)
        body = [rng.uniform(-10, 10, n), rng.uniform(-2.0**30, 2.0**30, 10_000), near, -near,
                magnitudes()[:5000] * rng.choice([-1, 1], 5000)]
    elif fn == "erf":
        body = [rng.uniform(-7, 7, 8000), rng.uniform(-1.2, 1.2, 4000), magnitudes()[:2000] * rng.choice([-1, 1], 2000)]
    elif fn == "atan":
        body = [magnitudes() * rng.choice([-1, 1], n), rng.uniform(-2, 2, n)]
    elif fn in ("asin", "acos"):
        # the whole domain, near its ends (where y = sqrt(1 - x²) is small) and
        # near ±1/√2 (where the ratio is near 1), tiny values; beyond ±1: nan
        ends = 1 - np.exp(rng.uniform(np.log(float(fi.eps)) - 1, 0, 10_000))
        body = [rng.uniform(-1, 1, n), ends, -ends, rng.uniform(0.70, 0.72, 5000), -rng.uniform(0.70, 0.72, 5000),
                magnitudes()[:5000] * rng.choice([-1, 1], 5000)]
    elif fn in ("sin", "cos"):
        # plain ranges, the whole range of the reduction, beyond it (the C library's
        # lanes, mixed in with the others) and the doubles nearest multiples of π/2
        near = (np.arange(1, 20_000) * (np.pi / 2)).astype(dt)
        body = [rng.uniform(-10, 10, 60_000), rng.uniform(-2.0**30, 2.0**30, 40_000), near, -near,
                np.exp(rng.uniform(0, np.log(float(fi.max)), 20_000)) * rng.choice([-1, 1], 20_000)]
        edges += [np.pi / 2, np.pi, 2.0**30, -(2.0**30), 2.0**30 + 64, 1e22]
    elif fn == "log":
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
    mod = compiled(dt)
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
    mod = compiled(np.float64)
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, 5e-324])
    for fn in FIRST:
        y = np.zeros_like(x)
        mod[f"f_{fn}"](y, x)
        with np.errstate(all="ignore"):
            want = REFERENCE[fn](x)
        np.testing.assert_array_equal(np.signbit(y[:5]) & (y[:5] == 0), np.signbit(want[:5]) & (want[:5] == 0))
        np.testing.assert_allclose(y, want, rtol=1e-15, atol=0, equal_nan=True)


POW_BOUND = (1.0, 1.5)  # f32, f64


def pow_inputs(dt, rng):
    """Pairs (x, y) over the ways pow goes wrong: x near 1 with large y (log x must
    carry extra bits), all magnitudes of x, results near underflow and overflow,
    negative x with integer y."""
    fi = np.finfo(dt)
    n = 40_000
    top = 1100 if dt == np.float64 else 150
    xs = [1 + rng.uniform(-1e-3, 1e-3, n), np.exp(rng.uniform(np.log(float(fi.smallest_subnormal)), np.log(float(fi.max)), n)),
          rng.uniform(0.01, 0.5, n), rng.uniform(1.5, 3, n), -rng.uniform(0, 10, n), rng.uniform(0, 4, n),
          1 + rng.integers(-50, 50, n) * float(fi.eps)]
    ys = [rng.uniform(-7e5, 7e5, n), rng.uniform(-1.2, 1.2, n), rng.uniform(20, top, n), rng.uniform(60, top, n),
          np.round(rng.uniform(-60, 60, n)), rng.uniform(-30, 30, n), rng.uniform(-1e14, 1e14, n)]
    return np.concatenate(xs).astype(dt), np.concatenate(ys).astype(dt)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_pow_ulp_error_within_documented_bound(dt):
    kernel = compiled(dt)["f_pow"]
    assert "vectorize i" in kernel.explain()
    x, y = pow_inputs(dt, np.random.default_rng(12))
    z = np.zeros_like(x)
    kernel(z, x, y)
    with np.errstate(all="ignore"):
        ref = np.power(x.astype(np.longdouble), y.astype(np.longdouble))
    assert max_ulp(z, ref, dt) <= POW_BOUND[0 if dt == np.float32 else 1]


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_pow_special_values_follow_c99(dt):
    """Every pair of edge values, on the vector path, against NumPy's pow
    (C99 Annex F): signed zeros, infinities, nan, negative bases with odd, even
    and non-integer exponents, 1 ** nan and nan ** 0."""
    fi = np.finfo(dt)
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 0.3, -7.5,
                      float(fi.max), -float(fi.max), float(fi.tiny), float(fi.smallest_subnormal), 2.0**53, 2.0**53 + 2,
                      1 + float(fi.eps), 1 - float(fi.epsneg)], dtype=dt)
    x, y = (a.ravel() for a in np.meshgrid(edges, edges))
    z = np.zeros_like(x)
    compiled(dt)["f_pow"](z, x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
        close = np.abs(z.astype(np.float64) - want) <= np.spacing(np.abs(want))
    same_sign = (np.signbit(z) == np.signbit(want)) | np.isnan(want)  # a nan's sign means nothing
    exact_kind = (np.isnan(z) == np.isnan(want)) & (np.isinf(z) == np.isinf(want)) & same_sign
    ok = exact_kind & ((z == want) | np.isnan(want) | close)
    assert ok.all(), list(zip(x[~ok], y[~ok], z[~ok], want[~ok]))


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_literal_integer_powers_multiply(dt):
    """x ** 2, x ** 3, pow(x, 4), x ** -1, x ** 0 and x ** 1 are multiplied out:
    no pow in the LLVM IR, and the values are those of the products (x ** 2 is exactly the
    rounded square, as pow gives it)."""
    kernel = compiled(dt)["f_powers"]
    x = np.concatenate([np.random.default_rng(3).uniform(-5, 5, 101), [0.0, -0.0, np.inf, np.nan]]).astype(dt)
    z = np.zeros((len(x), 6), dtype=dt)
    kernel(z, x)
    # neither the C library's pow (scalar code) nor turbo's (vector code, which rounds with rint)
    assert not re.search(r"@(llvm\.)?(pow|rint)", kernel.inspect("llvm-unoptimized", z, x))
    with np.errstate(all="ignore"):
        sq = x * x
        want = np.stack([sq, sq * x, sq * sq, dt(1) / x, np.ones_like(x), x], axis=1)
    np.testing.assert_array_equal(z, want)


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("n", [3, 203], ids=["scalar", "vector"])
def test_half_powers_are_square_roots_with_pows_values(dt, n):
    """x ** 0.5 and pow(x, 0.5) take a square root (no pow in the IR), with NumPy's
    values (np.power(x, 0.5) is np.sqrt(x), -0 and -inf included), as the
    reference interpreter has them."""
    kernel = compiled(dt)["f_half"]
    rng = np.random.default_rng(4)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, -1.0, np.finfo(dt).tiny / 4, np.finfo(dt).max, 2.0]
    x = np.concatenate([special, rng.uniform(0, 1e6, 200) ** rng.uniform(-3, 3, 200)]).astype(dt)[-n:]
    x[: min(n, len(special))] = np.array(special, dtype=dt)[: min(n, len(special))]
    z, w = np.zeros_like(x), np.zeros_like(x)
    kernel(z, w, x)
    assert not re.search(r"@(llvm\.)?pow", kernel.inspect("llvm-unoptimized", z, w, x))
    with np.errstate(all="ignore"):
        want = np.power(x, dt(0.5))
    for got in (z, w):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


CONTEXTS = """
kernel ctx(out: T[1], y: T[N], x: T[N]) {
    s = 0.0
    for i in 0:N {
        s += sin(x[i])
        if x[i] > 0.0 { y[i] = cos(x[i]) * pow(x[i], 0.5) } else { y[i] = sin(x[i] * 3.0) }
    }
    out[0] = s
}
"""


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_routines_inside_reductions_branches_and_tails(dt):
    """sin, cos and pow in a reduction and under an if in a vectorized loop, with
    lanes beyond 2^30 (the C library's branch) at every position, compared with
    the reference interpreter at sizes around the vector width."""
    mod = turbo.compile(CONTEXTS.replace("T[", "f32[" if dt == np.float32 else "f64["))
    kernel = mod["ctx"]
    assert "vectorize i" in kernel.explain()
    rng = np.random.default_rng(4)
    for n in (0, 1, 7, 8, 9, 33, 70):
        x = rng.uniform(-20, 20, n).astype(dt)
        x[rng.random(n) < 0.2] = dt(3e9)
        got, want = run_both(kernel, np.zeros(1, dt), np.zeros(n, dt), x)
        np.testing.assert_allclose(got[1], want[1], rtol=4 * np.finfo(dt).eps, atol=0)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5 if dt == np.float32 else 1e-12, atol=1e-4)


# ----------------------------------------------------------------------------- two arguments, scalar paths


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("fn", list(BOUNDS2))
def test_two_argument_functions_ulp_error_and_c99_special_values(fn, dt):
    """atan2 and hypot over all magnitudes and ratios, and every pair of edge
    values: atan2(±0, -0) = ±π, atan2(±inf, -inf) = ±3π/4, hypot(inf, nan) = inf."""
    fi = np.finfo(dt)
    rng = np.random.default_rng(22)
    n = 30_000
    top = np.log(float(fi.max))
    mag = lambda: np.exp(rng.uniform(np.log(float(fi.smallest_subnormal)), top, n)) * rng.choice([-1, 1], n)  # noqa: E731
    edges = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.5, float(fi.tiny) * -3, float(fi.max) / 7,
                      float(fi.max), float(fi.smallest_subnormal)], dtype=dt)
    ey, ex = (a.ravel() for a in np.meshgrid(edges, edges))
    y = np.concatenate([rng.uniform(-3, 3, n), mag(), rng.uniform(-1, 1, n), ey]).astype(dt)
    x = np.concatenate([rng.uniform(-3, 3, n), mag(), rng.uniform(-1e-3, 1e-3, n), ex]).astype(dt)
    z = np.zeros_like(x)
    kernel = compiled(dt)[f"f_{fn}"]
    assert "vectorize i" in kernel.explain()
    kernel(z, y, x)
    with np.errstate(all="ignore"):
        ref = REFERENCE[fn](y.astype(np.longdouble), x.astype(np.longdouble))
    assert max_ulp(z, ref, dt) <= BOUNDS2[fn][0 if dt == np.float32 else 1]
    want = ref.astype(dt)
    zero = want == 0
    np.testing.assert_array_equal(np.signbit(z[zero]), np.signbit(want[zero]))


@pytest.mark.parametrize("fn", [f for f in BOUNDS if f not in FIRST])
def test_more_functions_scalar_path_and_interpreter_agree(fn):
    """Three elements run the scalar code (the C library's function), the
    reference interpreter NumPy's (math.erf for erf): the same special values,
    and values within a few ulp."""
    kernel = compiled(np.float64)[f"f_{fn}"]
    for x in ([0.0, -0.0, np.nan], [np.inf, -np.inf, 0.75], [-0.5, 3.0, 1e-300]):
        got, want = run_both(kernel, np.zeros(3), np.array(x))
        np.testing.assert_allclose(got[0], want[0], rtol=4e-16, atol=0, equal_nan=True)
        zero = want[0] == 0
        np.testing.assert_array_equal(np.signbit(got[0][zero]), np.signbit(want[0][zero]))
