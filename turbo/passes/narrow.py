"""Narrowing: integer arithmetic on narrow array elements in a smaller type.

The language computes narrow integers (``u8``, ``i16``, ...) as ``i64``, so that
``(a[i] + b[i]) // 2`` of two ``u8`` arrays cannot overflow. Computed that way, a
vector of ``i64`` has 4 lanes in an AVX2 register where the bytes loaded fill 32.
This pass finds the integer operations whose every value provably fits a smaller
signed type, by interval arithmetic from the element types' ranges and literals,
and computes them in that type: ``i16`` (16 lanes) when every intermediate fits
it, else ``i32``. The results are the same values; only the width changes.

An operation is narrowed where its result leaves the integers or the word: a
store to a narrow array, a comparison, a conversion to a float. Expressions that
read locals, loop indices or parameters (ranges unknown) keep ``i64``.
"""

from __future__ import annotations

from dataclasses import replace

from .. import ir
from ..ir import DType

Range = tuple[int, int]

_CHOICES = (DType.I16, DType.I32)


def _fits(r: Range, t: DType) -> bool:
    lo, hi = t.int_range
    return lo <= r[0] and r[1] <= hi


def value_range(e: ir.Expr) -> Range | None:
    """The smallest and largest value of the integer expression ``e``, when its
    leaves are literals and narrow (or i32) array elements and no operation of it
    wraps around; None otherwise."""
    r = _range(e)
    return r if r is not None and _fits(r, e.type) else None


def _range(e: ir.Expr) -> Range | None:
    if isinstance(e, ir.Const):
        return (int(e.value), int(e.value)) if e.type.is_int else None
    if isinstance(e, ir.Load):
        return e.type.int_range if e.type.is_narrow or e.type is DType.I32 else None
    if isinstance(e, ir.Cast):
        if not (e.to.is_int and e.operand.type.is_int):
            return None
        r = value_range(e.operand)
        return r if r is not None and _fits(r, e.to) else None
    if isinstance(e, ir.Unary) and e.type.is_int:
        r = value_range(e.operand)
        if r is None:
            return None
        return (-r[1], -r[0]) if e.op == "neg" else (~r[1], ~r[0])
    if isinstance(e, ir.Select) and e.type.is_int:
        a, b = value_range(e.if_true), value_range(e.if_false)
        return (min(a[0], b[0]), max(a[1], b[1])) if a and b else None
    if isinstance(e, ir.Call) and e.type.is_int and e.fn in ("min", "max", "abs"):
        rs = [value_range(a) for a in e.args]
        if None in rs:
            return None
        if e.fn == "abs":
            (lo, hi), = rs
            return (0 if lo <= 0 <= hi else min(abs(lo), abs(hi)), max(abs(lo), abs(hi)))
        pick = min if e.fn == "min" else max
        return pick(r[0] for r in rs), pick(r[1] for r in rs)
    if isinstance(e, ir.Binary) and e.type.is_int:
        return _binary_range(e)
    return None


def _binary_range(e: ir.Binary) -> Range | None:
    a, b = value_range(e.left), value_range(e.right)
    if a is None or b is None:
        return None
    if e.op == "+":
        return a[0] + b[0], a[1] + b[1]
    if e.op == "-":
        return a[0] - b[1], a[1] - b[0]
    if e.op == "*":
        corners = [x * y for x in a for y in b]
        return min(corners), max(corners)
    c = b[0] if b[0] == b[1] else None  # a literal right operand
    if e.op == "//" and c is not None and c > 0:
        return a[0] // c, a[1] // c
    if e.op == "%" and c is not None and c > 0:
        return (0, c - 1) if a[0] < 0 or a[1] >= c else a
    if e.op == ">>" and c is not None and c >= 0:
        return a[0] >> c, a[1] >> c
    if e.op == "<<" and c is not None and 0 <= c < 62:
        return a[0] << c, a[1] << c
    if e.op == "&" and (a[0] >= 0 or b[0] >= 0):
        return 0, min(r[1] for r in (a, b) if r[0] >= 0)
    if e.op in ("|", "^") and a[0] >= 0 and b[0] >= 0:
        return 0, (1 << max(a[1], b[1]).bit_length()) - 1
    return None


def _parts(e: ir.Expr):
    """The integer values ``_retype`` computes: ``e`` and its operands, down to
    loads and literals (a select's condition is narrowed on its own)."""
    yield e
    if isinstance(e, ir.Cast) and e.operand.type.is_int:
        yield from _parts(e.operand)
    elif isinstance(e, ir.Unary):
        yield from _parts(e.operand)
    elif isinstance(e, ir.Select):
        yield from _parts(e.if_true)
        yield from _parts(e.if_false)
    elif isinstance(e, (ir.Call, ir.Binary)):
        for a in (e.args if isinstance(e, ir.Call) else (e.left, e.right)):
            yield from _parts(a)


def _hull(e: ir.Expr) -> Range | None:
    """The range every value computed for ``e`` lies in, or None."""
    rs = [value_range(x) for x in _parts(e)]
    return None if None in rs else (min(r[0] for r in rs), max(r[1] for r in rs))


def _computes(e: ir.Expr) -> bool:
    """Whether ``e`` holds an operation (narrowing a bare conversion gains nothing)."""
    return any(isinstance(s, (ir.Binary, ir.Unary, ir.Select, ir.Call)) for s in ir.walk_expr(e))


def _choice(*rs: Range) -> DType | None:
    return next((t for t in _CHOICES if all(_fits(r, t) for r in rs)), None)


def _retype(e: ir.Expr, t: DType) -> ir.Expr:
    """``e`` (every value of which fits ``t``) computed in ``t``."""
    if isinstance(e, ir.Const):
        return replace(e, type=t)
    if isinstance(e, ir.Load):
        return e if e.type is t else ir.Cast(t, e, e.loc)
    if isinstance(e, ir.Cast):
        return _retype(e.operand, t)
    if isinstance(e, ir.Unary):
        return replace(e, operand=_retype(e.operand, t), type=t)
    if isinstance(e, ir.Select):
        return replace(e, cond=_expr(e.cond), if_true=_retype(e.if_true, t), if_false=_retype(e.if_false, t), type=t)
    if isinstance(e, ir.Call):
        return replace(e, args=tuple(_retype(a, t) for a in e.args), type=t)
    if isinstance(e, ir.Binary):
        return replace(e, left=_retype(e.left, t), right=_retype(e.right, t), type=t)
    raise TypeError(f"cannot narrow {e!r}")


def _narrowed(e: ir.Expr, to: DType) -> ir.Expr | None:
    """``e`` (an i64 integer expression) converted to ``to`` (a narrow integer or a
    float), computed in a smaller type where it can be; None when it cannot."""
    r = _hull(e)
    if r is None or not _computes(e):
        return None
    t = _choice(r)
    if t is None:
        return None
    inner = _retype(e, t)
    return inner if to is t else ir.Cast(to, inner, e.loc)


def _expr(e: ir.Expr) -> ir.Expr:
    if isinstance(e, ir.Cast) and e.operand.type is DType.I64 and (e.to.is_narrow or e.to.is_float):
        hit = _narrowed(e.operand, e.to)
        return hit if hit is not None else ir.map_operands(e, _expr)
    if isinstance(e, ir.Binary) and e.op in ir.COMPARE_OPS and e.left.type is DType.I64:
        a, b = _hull(e.left), _hull(e.right)
        t = _choice(a, b) if a and b else None
        if t is not None:
            return replace(e, left=_retype(e.left, t), right=_retype(e.right, t))
    return ir.map_operands(e, _expr)


def _stmt(s: ir.Stmt) -> ir.Stmt:
    return ir.map_stmt(s, _expr, _stmt)


def narrow(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """The pass: ``kernel`` with provably small integer arithmetic narrowed."""
    if not any(p.dtype.is_narrow for p in kernel.arrays):
        return kernel
    return replace(kernel, body=tuple(map(_stmt, kernel.body)))
