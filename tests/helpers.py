"""Shared test helpers: compare compiled kernels with the reference interpreter."""

from __future__ import annotations

import numpy as np

import turbo
from turbo.codegen.abi import Variant
from turbo.interpret import interpret
from turbo.passes import schedule as S
from turbo.passes.target import TargetDesc

# targets the decision tests schedule for, whatever the machine running them
AVX2 = TargetDesc.from_features("+avx2,+avx,+fma,-avx512f")
AVX512 = TargetDesc.from_features("+avx512f,+avx2,+avx,+fma")

SIZES = (0, 1, 7, 8, 9, 31, 32, 33, 127, 128, 129)

_modules: dict[str, object] = {}


def compiled(source: str, boundscheck=None):
    key = f"{boundscheck}|{source}"
    if key not in _modules:
        _modules[key] = turbo.compile(source, "test.loop", boundscheck=boundscheck)
    return _modules[key]


def scheduled(kernel, target, may_alias: bool = False):
    """The schedule ``kernel`` (a compiled one) gets for all-contiguous arguments
    on ``target``, as the runtime would make it: after the passes, with the
    kernel's options."""
    variant = Variant((True,) * len(kernel.ir.arrays), may_alias, None)
    return S.schedule(kernel.lowered(variant), variant, target, kernel.options)


def run_both(kernel, *args):
    """Run the compiled kernel and the interpreter on separate copies of the
    arrays; return (compiled results, interpreted results): every array argument,
    then the returned value (as a 0-d array), if the kernel returns one."""
    mine = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    ref = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    got = kernel(*mine)
    want = interpret(kernel.ir, *ref)
    mine = [a for a in mine if isinstance(a, np.ndarray)]
    ref = [a for a in ref if isinstance(a, np.ndarray)]
    if kernel.ir.result is not None:
        assert type(got) is {"f32": float, "f64": float, "i32": int, "i64": int, "bool": bool}[str(kernel.ir.result)]
        mine.append(np.asarray(got, dtype=want.dtype))
        ref.append(np.asarray(want))
    else:
        assert got is None and want is None
    return mine, ref


# Under fastmath (the default) vectorized code may fuse a * b + c into one FMA and
# add a reduction's terms in another order, so float results are compared with a
# tolerance scaled to the result's magnitude; fastmath=False must be exact.
FASTMATH_TOL = {np.dtype("float32"): 2e-5, np.dtype("float64"): 1e-13}


def assert_same(kernel, *args, rtol=0.0, atol=0.0):
    mine, ref = run_both(kernel, *args)
    for k, (a, b) in enumerate(zip(mine, ref)):
        tol = FASTMATH_TOL.get(np.asarray(b).dtype) if kernel.options.fastmath else None
        if rtol == 0 and atol == 0 and tol is not None:
            scale = max(1.0, float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0)))
            np.testing.assert_allclose(a, b, rtol=tol * 8, atol=tol * scale * 8, equal_nan=True,
                                       err_msg=f"array argument {k} of {kernel.name} (fastmath)")
        elif rtol == 0 and atol == 0:
            np.testing.assert_array_equal(a, b, err_msg=f"array argument {k} of {kernel.name}")
        else:
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"array argument {k} of {kernel.name}")


def rand(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    return rng.integers(-50, 50, size=shape).astype(dtype)


# element types by the names the loop language gives them
DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}


def values(dt: str, *shape, rng):
    """Random elements of type ``dt`` (a DTYPES name): normal floats, integers
    in -9 .. 9 (products of a few hundred stay exact in i32)."""
    if dt.startswith("i"):
        return rng.integers(-9, 10, size=shape).astype(DTYPES[dt])
    return rng.standard_normal(shape).astype(DTYPES[dt])


def regions(kernel, target, may_alias: bool = False):
    """The region plans ``scheduled`` gives ``kernel``: those of the nests
    without the checks their guards cover, where a nest is versioned."""
    sched = scheduled(kernel, target, may_alias)
    return (sched.fast or sched).regions
