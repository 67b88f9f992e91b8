"""Turning a JIT-compiled entry point into a Python callable (a builtin function).

``make_builtin`` wraps a ``METH_FASTCALL | METH_KEYWORDS`` machine-code function in a
``PyCFunction`` object through ``PyCFunction_NewEx``: calling it costs what calling
``len`` costs. ``layout_ok`` checks, once per process, that the struct offsets the
entry point reads match this interpreter and this NumPy; where they do not (a
free-threaded CPython, a NumPy with another ABI), kernels use the slow path only,
with a warning.
"""

from __future__ import annotations

import ctypes
import sys
import sysconfig
from functools import lru_cache

import numpy as np

from ..codegen import entry as E

METH_FASTCALL = 0x0080
METH_KEYWORDS = 0x0002


class PyMethodDef(ctypes.Structure):
    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


_new_ex = ctypes.pythonapi.PyCFunction_NewEx
_new_ex.restype = ctypes.py_object
_new_ex.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]


def make_builtin(name: str, address: int, self_obj: tuple, doc: str | None = None):
    """A builtin function calling ``address`` with ``self_obj`` as its ``self``.

    Returns (function, keepalive): the method definition must outlive the function."""
    mdef = PyMethodDef(name.encode(), address, METH_FASTCALL | METH_KEYWORDS, doc.encode() if doc else None)
    fn = _new_ex(ctypes.addressof(mdef), self_obj, None)
    return fn, mdef


def _read(addr: int, ctype):
    return ctype.from_address(addr).value


@lru_cache(maxsize=1)
def layout_ok() -> bool:
    """Whether the entry point's struct offsets are right in this process."""
    if sys.maxsize != 2**63 - 1 or sysconfig.get_config_var("Py_GIL_DISABLED"):
        return False
    try:
        a = np.zeros((3, 5), dtype=np.float32)[:, ::2]
        base = id(a)
        ok = (
            _read(base + E.OB_TYPE, ctypes.c_void_p) == id(np.ndarray)
            and _read(base + E.ARR_DATA, ctypes.c_void_p) == a.__array_interface__["data"][0]
            and _read(base + E.ARR_ND, ctypes.c_int) == 2
            and _read(base + E.ARR_DESCR, ctypes.c_void_p) == id(a.dtype)
            and a.dtype is np.dtype("float32")
        )
        dims = _read(base + E.ARR_DIMS, ctypes.c_void_p)
        strides = _read(base + E.ARR_STRIDES, ctypes.c_void_p)
        ok = ok and [ctypes.c_int64.from_address(dims + 8 * i).value for i in range(2)] == [3, 3]
        ok = ok and [ctypes.c_int64.from_address(strides + 8 * i).value for i in range(2)] == list(a.strides)
        flags = _read(base + E.ARR_FLAGS, ctypes.c_int)
        ok = ok and bool(flags & E.NPY_ALIGNED) and bool(flags & E.NPY_WRITEABLE) and not flags & E.NPY_C_CONTIGUOUS
        f = 2.5
        ok = ok and _read(id(f) + E.FLOAT_VALUE, ctypes.c_double) == 2.5
        # NumPy scalars: the value right after the object head, as for a float
        for v, ctype in ((np.float64(2.5), ctypes.c_double), (np.float32(2.5), ctypes.c_float),
                         (np.int64(-7), ctypes.c_int64), (np.int32(-7), ctypes.c_int32), (np.bool_(True), ctypes.c_uint8)):
            ok = ok and _read(id(v) + E.FLOAT_VALUE, ctype) == v.item()
        t = (a, f)
        ok = ok and _read(id(t) + E.TUPLE_ITEMS, ctypes.c_void_p) == id(a)
        return bool(ok)
    except Exception:  # any surprise means: do not trust the offsets
        return False
