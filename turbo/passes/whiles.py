"""A ``while`` loop that only advances an index while a test holds, or counts one
down while it stays above a bound: a ``for`` loop.

    while i < n and x[i] != v {          i.end = max(i, n)
        i += 1                    ->     for i.at in i:n {
    }                                        if not (x[i.at] != v) { i.end = i.at; break }
                                         }
                                         i = i.end

Python code scans this way (``while i < n and x[i] != v: i += 1``); the loop's
trip count is not known on entry, so a ``while`` loop runs as written, while the
``for`` loop is a search that runs in vectors up to the step where the test
fails (docs/schedule.md, "Search loops"). The test is evaluated for the same
indices, in the same order, as the ``while`` loop evaluates it (``and`` tests
``i < n`` first), and ``i`` ends where it would: at the first index that fails
the test, at ``n`` when none does, or where it started when it started at ``n``
or beyond.

A loop counting an index down with a body, ``while j >= low and test: body; j -=
1`` (an insertion sort's shift), becomes ``for j.at in j:low - 1:-1`` with the
test as an exit ``if`` first (``_countdown``): its index then has a range the
bounds analysis places, so the body's reads and writes at ``j`` and ``j + 1``
are proven.
"""

from __future__ import annotations

from dataclasses import replace

from .. import ir
from ..ir import DType
from . import analysis


def while_searches(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """``kernel`` with each index-advancing ``while`` loop as a ``for`` loop left by a
    break."""
    body = _block(kernel.body, analysis.names_taken(kernel))
    return kernel if body == kernel.body else replace(kernel, body=body)


def _block(body: tuple, taken: set[str]) -> tuple:
    out: list[ir.Stmt] = []
    for s in body:
        if isinstance(s, (ir.For, ir.While)):
            s = replace(s, body=_block(s.body, taken))
        elif isinstance(s, ir.If):
            s = replace(s, then=_block(s.then, taken), orelse=_block(s.orelse, taken))
        back = _retreat(s) if isinstance(s, ir.While) else None
        if back is not None:
            out.extend(_countdown(out, s, *back, taken))
            continue
        found = _advance(s) if isinstance(s, ir.While) else None
        if found is not None:
            out.extend(_countup(out, s, *found, taken))
        else:
            out.append(s)
    return tuple(out)


def _countup(before: list, s: ir.While, index: str, bound: ir.Expr, test, taken: set[str]) -> list:
    """``while index < bound and test { index += 1 }`` as the search at the top of
    this module."""
    loc = s.loc
    end, loop = _for_loop(before, s, index, bound, 1, test, (), taken)
    return [ir.Assign(end, ir.Call("max", (ir.Var(index, DType.I64, loc), bound), DType.I64, loc), None, loc),
            loop, ir.Assign(index, ir.Var(end, DType.I64, loc), None, loc)]


def _for_loop(before: list, s: ir.While, index: str, stop: ir.Expr, step: int, test, rest: tuple,
              taken: set[str]) -> tuple[str, ir.For]:
    """(``index.end``, the loop ``for index.at in index:stop:step { if not test {
    index.end = index.at; break }; rest }``) with ``index.at`` for ``index`` in the
    test and in ``rest``; it starts from the value the index was set to before
    (``_start``) where it can."""
    loc = s.loc
    at, end = analysis.fresh_name(taken, f"{index}.at"), analysis.fresh_name(taken, f"{index}.end")
    i, k = ir.Var(index, DType.I64, loc), ir.Var(at, DType.I64, loc)
    body = tuple(_rename_stmt(x, index, k) for x in rest)
    if test is not None:
        fails = ir.Unary("not", _rename(test, index, k), DType.BOOL, loc)
        body = (ir.If(fails, (ir.Assign(end, k, None, loc), ir.Break(loc=loc)), (), loc),) + body
    return end, ir.For(at, _start(before, index) or i, stop, ir.Const(step, DType.I64, loc), body, loc)


def _advance(s: ir.While) -> tuple[str, ir.Expr, ir.Expr] | None:
    """(index, bound, test) of ``while index < bound and test { index += 1 }``, the
    index an i64 local, the bound not reading it; None for any other loop."""
    c = s.cond
    if not (isinstance(c, ir.Binary) and c.op == "and" and len(s.body) == 1):
        return None
    lt, test = c.left, c.right
    if not (isinstance(lt, ir.Binary) and lt.op == "<" and isinstance(lt.left, ir.Var)
            and lt.left.type is DType.I64 and lt.right.type is DType.I64):
        return None
    index, bound = lt.left.name, lt.right
    if index in analysis.names_read(bound):
        return None
    step = s.body[0]
    if not (isinstance(step, ir.Assign) and step.name == index and _by_one(step, "+")):
        return None
    return index, bound, test


def _retreat(s: ir.While) -> tuple[str, ir.Expr, ir.Expr | None, tuple] | None:
    """(index, low, test, body) of ``while index >= low and test { body; index -= 1 }``
    (or without ``and test``): the index an i64 local that only the last statement
    of the body changes, by one, ``low`` reading no array and nothing the body
    assigns (the ``while`` evaluates it again each time), the body leaving by no
    ``break`` or ``continue``; None for any other loop."""
    c = s.cond
    test = None
    if isinstance(c, ir.Binary) and c.op == "and":
        c, test = c.left, c.right
    if not (isinstance(c, ir.Binary) and c.type is DType.BOOL):
        return None
    if c.op in (">=", ">") and isinstance(c.left, ir.Var) and c.left.type is DType.I64:
        index, low = c.left.name, c.right
    elif c.op in ("<=", "<") and isinstance(c.right, ir.Var) and c.right.type is DType.I64:
        index, low = c.right.name, c.left
    else:
        return None
    if low.type is not DType.I64:
        return None
    if c.op in (">", "<"):  # index > low: index >= low + 1
        low = ir.Binary("+", low, ir.Const(1, DType.I64), DType.I64, low.loc)
    if not s.body:
        return None
    *rest, step = s.body
    if not (isinstance(step, ir.Assign) and step.name == index and _by_one(step, "-")):
        return None
    rest = tuple(rest)
    if index in analysis.assigned_in(rest) or ir.has_exits(rest):
        return None
    if index in analysis.names_read(low) or analysis.names_read(low) & set(analysis.assigned_in(rest)):
        return None
    if any(isinstance(x, ir.Load) for x in ir.walk_expr(low)):
        return None
    return index, low, test, rest


def _by_one(step: ir.Assign, op: str) -> bool:
    """Whether ``step`` is ``index op= 1`` or ``index = index op 1`` (op "+" or "-")."""
    v = step.value
    if step.op == op:
        return isinstance(v, ir.Const) and v.value == 1
    return (step.op is None and isinstance(v, ir.Binary) and v.op == op and isinstance(v.left, ir.Var)
            and v.left.name == step.name and isinstance(v.right, ir.Const) and v.right.value == 1)


def _countdown(before: list, s: ir.While, index: str, low: ir.Expr, test, rest: tuple, taken: set[str]) -> list:
    """``while index >= low and test { rest; index -= 1 }`` as a ``for`` loop counting
    down, left by a break where the test fails:

        index.end = min(index, low - 1)
        for index.at in index:low - 1:-1 {
            if not test(index.at) { index.end = index.at; break }
            rest(index.at)
        }
        index = index.end

    The test and the body run for the same values of the index, in the same
    order, and the index ends where the ``while`` loop leaves it: at the first
    value that fails the test, at ``low - 1`` when none does, or where it started
    when that is below ``low``. A loop index has a range the bounds analysis can
    place (an insertion sort's ``A[r, j]`` and ``A[r, j + 1]``)."""
    loc = s.loc
    t = DType.I64
    below = ir.Binary("-", low, ir.Const(1, t), t, loc)
    end, loop = _for_loop(before, s, index, below, -1, test, rest, taken)
    return [ir.Assign(end, ir.Call("min", (ir.Var(index, t, loc), below), t, loc), None, loc),
            loop, ir.Assign(index, ir.Var(end, t, loc), None, loc)]


def _rename_stmt(s: ir.Stmt, name: str, to: ir.Var) -> ir.Stmt:
    return ir.map_stmt(s, lambda e: _rename(e, name, to), lambda b: _rename_stmt(b, name, to))


def _start(before: list, index: str) -> ir.Expr | None:
    """The value the index was set to before the loop in the same block, where it
    reads no array and nothing since changed what it reads (``i = 0``, ``i = s``):
    the ``for`` loop starts there, which the bounds analysis can place (a local
    it cannot)."""
    for k in range(len(before) - 1, -1, -1):
        s = before[k]
        if index in analysis.assigned_in((s,)):
            if not (isinstance(s, ir.Assign) and s.op is None) or index in analysis.names_read(s.value):
                return None
            if any(isinstance(x, ir.Load) for x in ir.walk_expr(s.value)):
                return None
            later = set(analysis.assigned_in(tuple(before[k + 1:])))
            return None if analysis.names_read(s.value) & later else s.value
    return None


def _rename(e: ir.Expr, name: str, to: ir.Var) -> ir.Expr:
    if isinstance(e, ir.Var) and e.name == name:
        return replace(to, loc=e.loc)
    return ir.map_operands(e, lambda x: _rename(x, name, to))
