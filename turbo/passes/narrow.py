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
read loop indices or parameters (ranges unknown) keep ``i64``; so do those that
read locals, except a local that sums a bounded number of small values: set to a
value of known range, then updated by ``+=``/``-=`` only in loops of literal trip
count after it, in the same block (a 3 x 3 box filter's sum of 9 ``u8``:
0 .. 2295). Such a local is held in the smaller type (``_local_ranges``).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import replace

from .. import ir
from ..ir import DType

Range = tuple[int, int]

_CHOICES = (DType.I16, DType.I32)

# the locals held in a smaller type while a kernel is narrowed: name -> range
_locals: ContextVar[dict[str, Range] | None] = ContextVar("narrow_locals", default=None)


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
    if isinstance(e, ir.Var):
        if not e.type.is_int:
            return None
        held = (_locals.get() or {}).get(e.name)
        # a local held in i32 (``_wrapped``, ``_clamped``) holds an i32's values
        return held if held is not None or e.type is DType.I64 else e.type.int_range
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
    if isinstance(e, (ir.Load, ir.Var)):
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


def _local_ranges(kernel: ir.Kernel) -> dict[str, Range]:
    """The i64 locals that sum a bounded number of small values, with the range
    every value they hold lies in: each is assigned once (``s = e``, e's range
    known) and otherwise only updated (``s += e`` or ``s -= e``, e's range known,
    not reading s) by statements that follow that assignment in its block, inside
    loops of literal trip count there (or none). Between two runs of the
    assignment the updates run at most the product of their loops' trips times,
    so the local stays within the first value plus that many of the largest and
    of the smallest updates."""
    from .analysis import literal_range  # analysis imports bounds, which imports this module

    found: dict[str, list] = {}

    def walk(body, path):  # path: ((block, position), ...) from the kernel's body
        for k, x in enumerate(body):
            here = path + ((body, k),)
            if isinstance(x, ir.Assign) and x.value.type is DType.I64:
                found.setdefault(x.name, []).append((x, here))
            elif isinstance(x, (ir.For, ir.While)):
                walk(x.body, here)
            elif isinstance(x, ir.If):
                walk(x.then, here)
                walk(x.orelse, here)

    walk(kernel.body, ())
    out = {}
    for name, sites in found.items():
        firsts = [(x, p) for x, p in sites if x.op is None]
        if len(firsts) != 1:
            continue
        first, where = firsts[0]
        block, at = where[-1]
        r = value_range(first.value)
        lo, hi = r if r is not None else (None, None)
        for x, p in sites:
            if x is first or lo is None:
                continue
            u = value_range(x.value) if x.op in ("+", "-") and not _reads(x.value, name) else None
            if u is None or len(p) < len(where) or p[:len(where) - 1] != where[:-1] or p[len(where) - 1][0] is not block \
                    or p[len(where) - 1][1] <= at:
                lo = None
                continue
            count = 1
            for b, k in p[len(where) - 1:-1]:
                loop = b[k]
                # an if runs its branch at most once; a while loop any number of times
                trip = literal_range(loop) if isinstance(loop, ir.For) else None if isinstance(loop, ir.While) else range(1)
                if trip is None:
                    count = None
                    break
                count *= len(trip)
            if count is None:
                lo = None
                continue
            u = u if x.op == "+" else (-u[1], -u[0])
            lo, hi = lo + min(0, count * u[0]), hi + max(0, count * u[1])
        if lo is not None and _choice((lo, hi)) is not None:
            out[name] = (lo, hi)
    return out


def _reads(e: ir.Expr, name: str) -> bool:
    return any(isinstance(x, ir.Var) and x.name == name for x in ir.walk_expr(e))


def _held(kernel: ir.Kernel, ranges: dict[str, Range]) -> ir.Kernel:
    """``kernel`` with the locals of ``ranges`` held in their smaller type: their
    assignments computed in it, their reads widened back to i64 (which the
    narrowing of the expressions around them then removes where it can)."""
    types = {n: _choice(r) for n, r in ranges.items()}

    def expr(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Var) and e.name in types and e.type is DType.I64:
            return ir.Cast(DType.I64, replace(e, type=types[e.name]), e.loc)
        return ir.map_operands(e, expr)

    def stmt(x: ir.Stmt) -> ir.Stmt:
        if isinstance(x, ir.Assign) and x.name in types:
            return replace(x, value=_retype(x.value, types[x.name]))
        return ir.map_stmt(x, expr, stmt)

    return replace(kernel, body=tuple(map(stmt, kernel.body)))


def _wrapped_locals(kernel: ir.Kernel) -> set[str]:
    """The i64 locals whose value is only ever used truncated to 32 bits or fewer:
    every read is the operand of a conversion to such an integer type (``y[i] =
    i32(acc)``), every assignment sets or updates the local by ``+``, ``-`` or
    ``*`` with a value that does not read it. Wrapping arithmetic modulo 2^64
    truncated to 32 bits is the same as wrapping arithmetic modulo 2^32, so such a
    local is held in i32 (an i8 dot product summed into it then runs on 8 i32
    lanes, not 4 i64, as LLVM's demanded-bits analysis narrows Numba's)."""
    assigned: dict[str, bool] = {}
    for x in ir.walk_stmts(kernel.body):
        if isinstance(x, ir.Assign):
            ok = x.value.type is DType.I64 and x.op in (None, "+", "-", "*") and not _reads(x.value, x.name)
            assigned[x.name] = assigned.get(x.name, True) and ok
    names = {n for n, ok in assigned.items() if ok}

    def truncated(e: ir.Expr):  # the read a conversion to 32 bits or fewer allows
        if isinstance(e, ir.Cast) and isinstance(e.operand, ir.Var) and e.to.is_int and e.to.bits <= 32:
            yield e.operand

    return _read_only_in(kernel, names, truncated)


def _read_only_in(kernel: ir.Kernel, names: set[str], allows) -> set[str]:
    """The locals of ``names`` whose every read (a Var) is one that ``allows(e)``
    yields for some expression ``e`` around it."""
    names = set(names)
    for x in ir.walk_stmts(kernel.body):
        for top in ir.stmt_exprs(x):
            if not names:
                return names
            allowed = {id(v) for e in ir.walk_expr(top) for v in allows(e)}
            for e in ir.walk_expr(top):
                if isinstance(e, ir.Var) and e.name in names and id(e) not in allowed:
                    names.discard(e.name)
    return names


def _wrapped(kernel: ir.Kernel, names: set[str]) -> ir.Kernel:
    """``kernel`` with the locals ``names`` (``_wrapped_locals``) held in i32."""
    def expr(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Cast) and isinstance(e.operand, ir.Var) and e.operand.name in names:
            v = replace(e.operand, type=DType.I32)
            return v if e.to is DType.I32 else replace(e, operand=v)
        return ir.map_operands(e, expr)

    def stmt(x: ir.Stmt) -> ir.Stmt:
        if isinstance(x, ir.Assign) and x.name in names:
            value = expr(x.value)
            return replace(x, value=_narrowed(value, DType.I32) or ir.Cast(DType.I32, value, value.loc))
        return ir.map_stmt(x, expr, stmt)

    return replace(kernel, body=tuple(map(stmt, kernel.body)))


_I32_MIN, _I32_MAX = DType.I32.int_range


def _clamped_locals(kernel: ir.Kernel) -> set[str]:
    """The i64 locals set only by converting a float (``v = i64(rint(x / s))``, a
    saturating conversion) and read only clamped between two integer literals
    within i32's range (``min(max(v, -128), 127)``). The conversion saturates, so
    clamping it to a range inside i32's gives the same as clamping the conversion
    to i32: such a local is held in i32, whose conversion vectorizes on AVX2
    (f64/f32 to i64 does not: LLVM converted lane by lane)."""
    names = {x.name for x in ir.walk_stmts(kernel.body) if isinstance(x, ir.Assign)}
    for x in ir.walk_stmts(kernel.body):
        if isinstance(x, ir.Assign) and not (x.op is None and isinstance(x.value, ir.Cast)
                                             and x.value.to is DType.I64 and x.value.operand.type.is_float):
            names.discard(x.name)

    def literal(e) -> bool:
        return isinstance(e, ir.Const) and e.type.is_int and _I32_MIN <= int(e.value) <= _I32_MAX

    def clamped(e: ir.Expr):  # the read min(max(v, lo), hi) or max(min(v, hi), lo) allows
        if isinstance(e, ir.Call) and e.fn in ("min", "max") and len(e.args) == 2:
            inner = next((a for a in e.args if isinstance(a, ir.Call)), None)
            other = next((a for a in e.args if a is not inner), None)
            if (inner is not None and other is not None and literal(other) and len(inner.args) == 2
                    and inner.fn == ({"min", "max"} - {e.fn}).pop()):
                var = next((a for a in inner.args if isinstance(a, ir.Var)), None)
                bound = next((a for a in inner.args if a is not var), None)
                if var is not None and bound is not None and literal(bound):
                    yield var

    return _read_only_in(kernel, names, clamped)


def _clamped(kernel: ir.Kernel, names: set[str]) -> ir.Kernel:
    """``kernel`` with the locals ``names`` (``_clamped_locals``) held in i32."""
    def expr(e: ir.Expr) -> ir.Expr:
        if isinstance(e, ir.Var) and e.name in names:
            return ir.Cast(DType.I64, replace(e, type=DType.I32), e.loc)
        return ir.map_operands(e, expr)

    def stmt(x: ir.Stmt) -> ir.Stmt:
        if isinstance(x, ir.Assign) and x.name in names:
            return replace(x, value=replace(x.value, to=DType.I32))
        return ir.map_stmt(x, expr, stmt)

    return replace(kernel, body=tuple(map(stmt, kernel.body)))


def narrow(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """The pass: ``kernel`` with provably small integer arithmetic narrowed."""
    wrapped = _wrapped_locals(kernel)
    if wrapped:
        kernel = _wrapped(kernel, wrapped)
    clamped = _clamped_locals(kernel)
    if clamped:
        kernel = _clamped(kernel, clamped)
    if not any(p.dtype.is_narrow for p in kernel.arrays):
        return kernel
    ranges = _local_ranges(kernel)
    token = _locals.set(ranges)
    try:
        if ranges:
            kernel = _held(kernel, ranges)
        return replace(kernel, body=tuple(map(_stmt, kernel.body)))
    finally:
        _locals.reset(token)
