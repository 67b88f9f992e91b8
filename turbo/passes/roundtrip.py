"""Float -> integer -> float round trips of values that are already integers.

Python's ``math.floor``, ``math.ceil`` and ``round`` return ints, so
``x - math.floor(x)`` or ``d - L * round(d / L)`` convert a float to ``i64`` and
back: ``f64(i64(floor(x)))``. AVX2 has no vector conversion between ``f64`` and
``i64`` (AVX-512DQ has), and LLVM converts lane by lane. The round trip of a
float that ``floor``, ``ceil`` or ``rint`` made integral is the value itself,
within the range the saturating conversion keeps: ``nan`` gives 0, values beyond
``i64`` the nearest end, which as a float is ±2⁶³. This pass computes that in
the float's own type, where it stays in vector registers::

    f64(i64(floor(x)))  ->  (min(max(floor(x), -2^63), 2^63) + 0.0 if floor(x) == floor(x) else 0.0)

(``+ 0.0`` turns ``-0.0``, which ``ceil(-0.5)`` gives, into the integer's 0.0.)
The results are the same values.
"""

from __future__ import annotations

from dataclasses import replace

from .. import ir
from ..ir import DType

_INTEGRAL = ("floor", "ceil", "rint")
_EDGE = float(2**63)  # i64's ends as floats: -2^63 exactly, 2^63 - 1 rounds to 2^63


def float_roundtrips(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """``kernel`` with each round trip of an integral float computed as a float."""
    body = tuple(_stmt(s) for s in kernel.body)
    return kernel if body == kernel.body else replace(kernel, body=body)


def _stmt(s: ir.Stmt) -> ir.Stmt:
    return ir.map_stmt(s, _expr, _stmt)


def _expr(e: ir.Expr) -> ir.Expr:
    e = ir.map_operands(e, _expr)
    if not (isinstance(e, ir.Cast) and e.to.is_float and isinstance(e.operand, ir.Cast)
            and e.operand.to is DType.I64):
        return e
    v = e.operand.operand
    if not (isinstance(v, ir.Call) and v.fn in _INTEGRAL and v.type.is_float):
        return e
    t, loc = v.type, e.loc
    clamped = ir.Call("min", (ir.Call("max", (v, ir.Const(-_EDGE, t, loc)), t, loc), ir.Const(_EDGE, t, loc)), t, loc)
    # + 0.0: an integer has no sign of zero (ceil(-0.5) is -0.0, int(-0.0) is 0)
    positive_zero = ir.Binary("+", clamped, ir.Const(0.0, t, loc), t, loc)
    same = ir.Select(ir.Binary("==", v, v, DType.BOOL, loc), positive_zero, ir.Const(0.0, t, loc), t, loc)
    return same if e.to is t else ir.Cast(e.to, same, loc)
