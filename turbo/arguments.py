"""Checking call arguments against a kernel's parameters (pure Python).

Used by the reference interpreter and by the runtime's slow call path, so both
accept and refuse exactly the same calls with the same messages. The runtime's
fast path (machine code) accepts a subset of these calls and hands every other
call to this code.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from . import ir
from .errors import ArgumentTypeError, ArgumentValueError
from .ir import DType

NUMPY_DTYPES = {t: np.dtype(t.numpy_name) for t in DType}


@dataclass(frozen=True)
class BoundCall:
    """A checked call: the arguments converted, and the value of every symbolic dim."""

    values: tuple  # arrays as given; scalars as NumPy scalars of the parameter type
    dims: dict[str, int]


def bind_keywords(name: str, params: list[str] | tuple[str, ...], args: tuple, kwargs: dict) -> tuple:
    """``args`` and ``kwargs`` as positional arguments in the order of ``params``,
    refused as Python refuses them (an unknown name, a value given twice, one
    missing)."""
    if len(args) > len(params):
        raise ArgumentTypeError(f"{name}() takes {len(params)} positional argument{'s' if len(params) != 1 else ''} "
                                f"({', '.join(params)}), got {len(args)}")
    out = list(args) + [_MISSING] * (len(params) - len(args))
    for key, value in kwargs.items():
        if key not in params:
            raise ArgumentTypeError(f"{name}() got an unexpected keyword argument '{key}'",
                                    hint=f"its parameters are {', '.join(params)}")
        k = list(params).index(key)
        if out[k] is not _MISSING:
            raise ArgumentTypeError(f"{name}() got multiple values for argument '{key}'")
        out[k] = value
    missing = [p for p, v in zip(params, out) if v is _MISSING]
    if missing:
        raise ArgumentTypeError(f"{name}() missing {len(missing)} required argument{'s' if len(missing) != 1 else ''}: "
                                + ", ".join(f"'{m}'" for m in missing))
    return tuple(out)


_MISSING = object()


def check_arguments(kernel: ir.Kernel, args: tuple, written: frozenset[str]) -> BoundCall:
    name = kernel.name
    params = kernel.params
    if len(args) != len(params):
        names = ", ".join(p.name for p in params)
        raise ArgumentTypeError(
            f"{name}() takes {len(params)} argument{'s' if len(params) != 1 else ''} ({names}), got {len(args)}"
        )
    dims: dict[str, int] = {}
    dim_source: dict[str, str] = {}
    values = []
    for p, a in zip(params, args):
        if isinstance(p, ir.ArrayParam):
            values.append(_check_array(name, p, a, dims, dim_source, p.name in written))
        else:
            values.append(convert_scalar(name, p, a))
    return BoundCall(tuple(values), dims)


def _check_array(kname, p: ir.ArrayParam, a, dims, dim_source, is_written: bool):
    where = f"{kname}(): parameter '{p.name}' ({ir.print_param(p)})"
    if not isinstance(a, np.ndarray):
        raise ArgumentTypeError(
            f"{where} expects a NumPy array, got {type(a).__name__}",
            hint=f"pass np.asarray(x, dtype=np.{p.dtype.numpy_name})",
        )
    want = NUMPY_DTYPES[p.dtype]
    if a.dtype != want and a.dtype.newbyteorder("=") == want:
        raise ArgumentTypeError(f"{where} expects native byte order, got {a.dtype.str}", hint="convert with .astype(a.dtype.newbyteorder('='))")
    if a.dtype != want:
        raise ArgumentTypeError(
            f"{where} expects dtype {want} ({p.dtype}), got {a.dtype}",
            hint=f"convert with .astype(np.{p.dtype.numpy_name})",
        )
    if a.ndim != p.ndim:
        raise ArgumentTypeError(
            f"{where} expects {p.ndim} dim{'s' if p.ndim != 1 else ''}, got an array of shape {a.shape}"
        )
    for axis, (d, size) in enumerate(zip(p.shape, a.shape)):
        if isinstance(d, int):
            if size != d:
                raise ArgumentValueError(f"{where}: dim {axis} must be {d}, got shape {a.shape}")
        elif d in dims:
            if dims[d] != size:
                raise ArgumentValueError(
                    f"{kname}(): dim '{d}' is {dims[d]} from {dim_source[d]} but {size} from {p.name}.shape[{axis}]",
                    hint="arrays that share a dim name must agree on its size",
                )
        else:
            dims[d] = size
            dim_source[d] = f"{p.name}.shape[{axis}]"
    if is_written and not a.flags.writeable:
        raise ArgumentValueError(f"{where} is written by the kernel but the array is read-only", hint="pass a writeable copy: a.copy()")
    if not a.flags.aligned:
        raise ArgumentValueError(f"{where}: the array's data is not aligned to its element size", hint="pass a.copy()")
    if any(s % a.itemsize for s in a.strides):
        raise ArgumentValueError(f"{where}: strides {a.strides} are not multiples of the element size", hint="pass a.copy()")
    return a


def convert_scalar(kname: str, p: ir.ScalarParam, a):
    where = f"{kname}(): parameter '{p.name}' ({p.dtype})"
    t = p.dtype
    if t is DType.BOOL:
        if isinstance(a, (bool, np.bool_)):
            return np.bool_(a)
        raise ArgumentTypeError(f"{where} expects a bool, got {type(a).__name__}")
    if isinstance(a, (bool, np.bool_)) or isinstance(a, np.ndarray):
        raise ArgumentTypeError(f"{where} expects a number, got {type(a).__name__}")
    if t.is_float:
        if isinstance(a, (float, int, np.floating, np.integer)):
            return NUMPY_DTYPES[t].type(a)
        raise ArgumentTypeError(f"{where} expects a number, got {type(a).__name__}")
    # integer parameter: exact integers only, never a silently truncated float
    try:
        v = operator.index(a)
    except TypeError:
        raise ArgumentTypeError(
            f"{where} expects an integer, got {type(a).__name__}", hint="pass int(x) if truncation is intended"
        ) from None
    lo, hi = t.int_range
    if not lo <= v <= hi:
        raise ArgumentValueError(f"{where}: {v} does not fit in {t}")
    return NUMPY_DTYPES[t].type(v)
