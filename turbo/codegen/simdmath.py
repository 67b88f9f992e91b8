"""SIMD math: exp, log, tanh, sigmoid, sin, cos, pow on whole vectors.

(First version: LLVM's vector intrinsics, which the backend turns into one C
library call per lane.)
"""

from __future__ import annotations

from llvmlite import ir as ll

from ..ir import DType
from .cpu import const_like


def call(cg, fn: str, t: DType, args):
    b = cg.b
    lt = args[0].type
    if fn in ("exp", "log", "sin", "cos", "pow", "tanh"):
        return b.call(cg.intrinsic(fn, lt, len(args)), args)
    if fn == "sigmoid":
        one = const_like(lt, 1.0)
        ex = b.call(cg.intrinsic("exp", lt), [b.fneg(args[0])])
        return b.fdiv(one, b.fadd(one, ex))
    raise TypeError(f"unknown function {fn}")


__all__ = ["call", "ll"]
