"""Which loops run split across threads, and whether they may (docs/threads.md).

A parallel loop is a loop at the top level of the kernel whose iterations are
divided into contiguous chunks, one per thread. That is the serial kernel up to
float reassociation when:

- every array the loop writes is accessed, everywhere in the loop, with one
  subscript that moves with the loop index alone (``c*i + invariant``, c != 0), so
  two iterations never touch the same element of it;
- every scalar local the loop carries from one iteration to the next is a
  reduction (``s += e``, ``s = max(s, e)``, ...; not boolean, and a float one
  needs ``fastmath``): each thread starts from the identity and the partial
  results are combined, in thread order, with the value from before the loop;
- every other local it assigns is private to an iteration and not read after the
  loop;
- no argument it writes overlaps another argument (a property of the call: such
  calls run the loop on one thread, with a warning).

Which loops: the ones marked ``parallel for`` / ``prange``; else, with
``parallel=True``, every top-level loop that passes the rules (one that does not
runs on one thread with a warning naming it). A marked loop that breaks a rule,
or is not at the top level, is a ``ScheduleError`` at its line.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass

from .. import ir
from ..errors import FallbackWarning, ScheduleError
from ..ir import DType
from . import analysis
from .analysis import Context, Path


@dataclass(frozen=True)
class ParallelPlan:
    path: Path  # the loop's path (top level: one position)
    index: str
    reductions: tuple[tuple[str, str, DType], ...]  # (local, how partials combine, type)
    locals_in: tuple[str, ...]  # locals whose value before the loop the chunks need
    align: int = 1  # chunks start at multiples of this many iterations (a block of the schedule)
    rest_cost3: int = 3  # 3 × the cost of a leftover iteration (past the last block) relative to one in a block
    inner_cycles: float = 1.0  # predicted cycles per innermost iteration (for the size threshold)

    def describe(self) -> str:
        text = f"split {self.index} into one chunk per thread"
        if self.align > 1:
            text += f" (at multiples of {self.align} iterations)"
        if self.reductions:
            text += "; per-thread partials of " + ", ".join(f"{n} ({op})" for n, op, _ in self.reductions)
        return text


def marked_loops(kernel: ir.Kernel) -> list[tuple[Path | None, ir.For]]:
    """Loops marked parallel, with their path when at the top level (else None)."""
    out = []
    top = {id(s): (k,) for k, s in enumerate(kernel.body) if isinstance(s, ir.For)}
    for s in ir.walk_stmts(kernel.body):
        if isinstance(s, ir.For) and s.parallel:
            out.append((top.get(id(s)), s))
    return out


def check_marked(kernel: ir.Kernel, fastmath: bool) -> None:
    """Raise the located error for a marked loop that may not run in parallel
    (independent of the arguments of a call)."""
    ctx = Context.of(kernel)
    for path, loop in marked_loops(kernel):
        if path is None:
            raise ScheduleError(f"parallel loop {loop.index} is nested in another statement; only a loop at the top "
                                "level of the kernel can be split across threads", loop.loc,
                                "mark the outer loop instead, or move this loop to the top level")
        why = problems(ctx, path, loop, fastmath)
        if why:
            raise ScheduleError(f"loop {loop.index} cannot run in parallel: {why}", loop.loc, _HINT)


_HINT = ("make each iteration write elements of its own (a reduction into a scalar local is fine), "
         "or use `for` instead of `parallel for` / `range` instead of `prange`")


def problems(ctx: Context, path: Path, loop: ir.For, fastmath: bool) -> str | None:
    """Why the top-level loop at ``path`` may not be split across threads; None if it may."""
    if any(isinstance(s, ir.Return) for s in ir.walk_stmts(loop.body)):
        return "it contains a return"
    if ir.has_exits(loop.body, (ir.Break,)):
        return "a break may end it early, and the iterations after it must not run"
    inner = analysis.loop_indices(loop.body)
    every = inner | {loop.index}
    written = {s.array for s in ir.walk_stmts(loop.body) if isinstance(s, ir.Store)}
    for a in sorted(written):
        forms = None
        for node in analysis._accesses((loop,), a):
            aff = [ctx.affine(i, every) for i in node.indices]
            here = {p for p, x in enumerate(aff)
                    if x is not None and x.get(loop.index, 0) != 0 and not any(k in inner and c for k, c in x.items())}
            keys = {p: tuple(sorted(aff[p].items())) for p in here}
            forms = keys if forms is None else {p: f for p, f in forms.items() if keys.get(p) == f}
            if not forms:
                return (f"two iterations of {loop.index} may access the same element of {a}, which the loop writes "
                        f"(line {_line(node) or '?'})")
    for name in sorted(analysis.assigned_in(loop.body)):
        if analysis.exposed(name, loop.body):
            op = analysis.reduction_op(name, loop.body)
            if op is None:
                return f"'{name}' is carried from one iteration of {loop.index} to the next and is not a reduction"
            t = analysis.assigned_in(loop.body)[name][0].value.type
            if t is DType.BOOL:
                return f"'{name}' is a boolean reduction"
            if t.is_float and not fastmath:
                return f"the reduction of '{name}' would be reassociated (needs fastmath=True)"
        elif analysis.live_after(ctx.kernel, path, name):
            return f"'{name}' is set in every iteration of {loop.index} and read after the loop"
    return None


def _line(node) -> int | None:
    loc = getattr(node, "loc", None)
    return getattr(loc, "line", None)


def plan_for(ctx: Context, path: Path, loop: ir.For) -> ParallelPlan:
    """The plan of a loop ``problems`` accepts."""
    body_locals = analysis.assigned_in(loop.body)
    reductions = []
    for name in sorted(body_locals):
        if analysis.exposed(name, loop.body):
            reductions.append((name, analysis.reduction_op(name, loop.body), body_locals[name][0].value.type))
    kernel_locals = ir.local_types(ctx.kernel)
    read = analysis.names_read_in((loop,))
    red = {n for n, _, _ in reductions}
    locals_in = tuple(sorted(n for n in read if n in kernel_locals and n not in red))
    return ParallelPlan(path, loop.index, tuple(reductions), locals_in)


def choose(ctx: Context, variant, enabled: bool, fastmath: bool, warn: bool = True) -> tuple[list[ParallelPlan], list[str]]:
    """The parallel loops of ``ctx.kernel`` for one variant, and lines for explain()."""
    kernel = ctx.kernel
    marked = marked_loops(kernel)
    if marked:
        candidates = [(p, s, True) for p, s in marked if p is not None]
    elif enabled:
        candidates = [((k,), s, False) for k, s in enumerate(kernel.body) if isinstance(s, ir.For)]
    else:
        return [], []
    plans, notes = [], []
    for path, loop, explicit in candidates:
        where = f"loop {loop.index} (line {_line(loop) or '?'})"
        why = problems(ctx, path, loop, fastmath)
        if why is None and getattr(variant, "may_alias", False):
            why = "an array it writes overlaps another argument in this call"
        if why is not None:
            if explicit and not getattr(variant, "may_alias", False):
                raise ScheduleError(f"loop {loop.index} cannot run in parallel: {why}", loop.loc, _HINT)
            notes.append(f"{where}: one thread, {why}")
            if warn:
                warnings.warn(f"turbo: kernel '{kernel.name}': {where} runs on one thread: {why}",
                              FallbackWarning, stacklevel=2)
            continue
        plans.append(plan_for(ctx, path, loop))
    return plans, notes


def mark_legal(kernel: ir.Kernel, threaded: bool, fastmath: bool) -> ir.Kernel:
    """``kernel`` with ``parallel`` marks on exactly the top-level loops that may be
    split (all marks removed unless ``threaded``): how a pullback of a threaded
    kernel is threaded, since its loops are not the ones the user marked."""
    ctx = Context.of(kernel)
    body = []
    for k, s in enumerate(kernel.body):
        if isinstance(s, ir.For):
            s = _unmarked(s)
            if threaded and problems(ctx, (k,), s, fastmath) is None:
                s = dataclasses.replace(s, parallel=True)
        body.append(s)
    return dataclasses.replace(kernel, body=tuple(body))


def _unmarked(s: ir.For) -> ir.For:
    def walk(body):
        out = []
        for x in body:
            if isinstance(x, ir.For):
                x = dataclasses.replace(x, parallel=False, body=walk(x.body))
            elif isinstance(x, ir.If):
                x = dataclasses.replace(x, then=walk(x.then), orelse=walk(x.orelse))
            elif isinstance(x, ir.While):
                x = dataclasses.replace(x, body=walk(x.body))
            out.append(x)
        return tuple(out)

    return walk((s,))[0]
