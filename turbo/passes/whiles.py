"""A ``while`` loop that only advances an index while a test holds: a ``for`` loop.

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
        found = _advance(s) if isinstance(s, ir.While) else None
        if found is None:
            out.append(s)
            continue
        index, bound, test = found
        loc = s.loc
        at, end = analysis.fresh_name(taken, f"{index}.at"), analysis.fresh_name(taken, f"{index}.end")
        i, k = ir.Var(index, DType.I64, loc), ir.Var(at, DType.I64, loc)
        fails = ir.Unary("not", _rename(test, index, k), DType.BOOL, loc)
        out.append(ir.Assign(end, ir.Call("max", (i, bound), DType.I64, loc), None, loc))
        out.append(ir.For(at, _start(out, index) or i, bound, ir.Const(1, DType.I64, loc),
                          (ir.If(fails, (ir.Assign(end, k, None, loc), ir.Break(loc=loc)), (), loc),), loc))
        out.append(ir.Assign(index, ir.Var(end, DType.I64, loc), None, loc))
    return tuple(out)


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
    if not isinstance(step, ir.Assign) or step.name != index:
        return None
    one = ir.Const(1, DType.I64)
    v = step.value
    if step.op == "+" and isinstance(v, ir.Const) and v.value == 1:
        return index, bound, test
    if (step.op is None and isinstance(v, ir.Binary) and v.op == "+" and isinstance(v.left, ir.Var)
            and v.left.name == index and isinstance(v.right, ir.Const) and v.right.value == one.value):
        return index, bound, test
    return None


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
