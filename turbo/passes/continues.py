"""Continue elimination: a loop's ``continue`` statements become the structure of
its body, so that the loop is straight-line code and ifs the vectorizer can run
in every lane under masks.

``continue`` skips the rest of the body, so ``if c { continue }; rest`` is
``if c {} else { rest }``: the statements after an ``if`` that continues move
into the branch that does not. This applies recursively (guards one after the
other nest), and to a ``continue`` inside branches::

    for i in 0:n {                       for i in 0:n {
        if x[i] < 0 { continue }             if x[i] < 0 {
        s += x[i]                  ->        } else {
    }                                            s += x[i]
                                             }
                                         }

When the rest would have to follow both branches of an ``if`` (neither leaves
the body, one continues somewhere inside: ``if a { if b { continue } }; rest``,
or an ``elif`` chain whose last ``else`` continues), a boolean local records
whether the iteration goes on, and the rest runs under it: no statement is
copied::

    i.kept0 = True
    if a { if b { i.kept0 = False } }
    if i.kept0 { rest }

(the local's name, which no program can spell, is the loop's index, ``.kept``
and a number: one per loop). The statements keep their order and source locations, so
bounds-check errors and their messages are those of the loop as written.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from .. import ir


def remove_continues(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """``kernel`` with every loop's continues eliminated (the pipeline's pass)."""
    body = _walk(kernel.body, itertools.count())
    return kernel if body == kernel.body else replace(kernel, body=body)


def _walk(body: tuple[ir.Stmt, ...], serial) -> tuple[ir.Stmt, ...]:
    """``body`` with the continues of every loop in it eliminated (inner loops
    first); ``serial`` numbers the loops' flags."""
    out = []
    for s in body:
        if isinstance(s, (ir.For, ir.While)):
            inner = _walk(s.body, serial)
            if ir.has_exits(inner, (ir.Continue,)):
                kept = f"{s.index if isinstance(s, ir.For) else 'while'}.kept{next(serial)}"
                inner = _rewrite(inner, ir.Var(kept, ir.DType.BOOL, s.loc))
            s = replace(s, body=inner)
        elif isinstance(s, ir.If):
            s = replace(s, then=_walk(s.then, serial), orelse=_walk(s.orelse, serial))
        out.append(s)
    return tuple(out)


def _rewrite(stmts: tuple[ir.Stmt, ...], kept: ir.Var) -> tuple[ir.Stmt, ...]:
    """``stmts`` (the rest of a loop body from some point) without the loop's
    continues; ``kept``: the local that says whether the iteration goes on, for
    an ``if`` whose rest would follow both branches."""
    for k, s in enumerate(stmts):
        if isinstance(s, ir.Continue):
            return stmts[:k]  # what follows never runs
        if isinstance(s, ir.If) and ir.has_exits((s,), (ir.Continue,)):
            rest = stmts[k + 1:]
            then_leaves, else_leaves = ir.leaves(s.then), ir.leaves(s.orelse)
            if rest and not then_leaves and not else_leaves:
                # the rest runs where no continue was taken
                go_on = ir.Assign(kept.name, ir.Const(True, ir.DType.BOOL, s.loc), None, s.loc)
                guarded = replace(s, then=_flagged(s.then, kept), orelse=_flagged(s.orelse, kept))
                return stmts[:k] + (go_on, guarded, ir.If(kept, _rewrite(rest, kept), (), s.loc))
            then = _rewrite(s.then + (() if then_leaves else rest), kept)
            orelse = _rewrite(s.orelse + (() if else_leaves else rest), kept)
            return stmts[:k] + (replace(s, then=then, orelse=orelse),)
    return stmts


def _flagged(stmts: tuple[ir.Stmt, ...], kept: ir.Var) -> tuple[ir.Stmt, ...]:
    """``stmts`` (a branch) with each continue of the loop setting ``kept`` false
    instead (the rest of the branch after it, and of the loop body after the
    branch, then does not run)."""
    for k, s in enumerate(stmts):
        if isinstance(s, ir.Continue):
            return stmts[:k] + (ir.Assign(kept.name, ir.Const(False, ir.DType.BOOL, s.loc), None, s.loc),)
        if isinstance(s, ir.If) and ir.has_exits((s,), (ir.Continue,)):
            rest = stmts[k + 1:]
            guarded = replace(s, then=_flagged(s.then, kept), orelse=_flagged(s.orelse, kept))
            return stmts[:k] + (guarded,) + ((ir.If(kept, _flagged(rest, kept), (), s.loc),) if rest else ())
    return stmts
