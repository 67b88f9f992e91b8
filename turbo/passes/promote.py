"""Scalar replacement: an array element a loop updates in place, held in a local.

``for k in 0:K { C[i, j] += A[i, k] * B[k, j] }`` loads and stores ``C[i, j]`` on
every iteration of ``k``, and each iteration waits for the store of the one
before (a naive gemm written ``C[i, j] += ...``, in any loop order once the
scheduler has interchanged ``k`` inward). Run as

    C_i_j = C[i, j]
    for k in 0:K { C_i_j += A[i, k] * B[k, j] }
    C[i, j] = C_i_j

the element stays in a register across ``k``, and the scheduler sees the
reduction of a gemm written with an accumulator: the same register tile.

The rewrite is exact (the element is updated in the same order, no arithmetic is
reassociated) when, for loop ``L`` and array ``C``:

- every access of ``C`` inside ``L`` is at the same subscripts, and they read
  nothing ``L`` changes (its index, the indices of loops inside it, locals it
  assigns): all of ``L``'s iterations touch one element;
- at least one of those accesses stores;
- ``C`` overlaps no other argument (the variant's ``may_alias`` is false): a store
  through another array cannot change the element behind the local's back;
- nothing inside ``L`` can fail at run time (no bounds check, no integer
  division): the load before ``L`` and the store after it run even when ``L``
  runs no iteration, and an error inside ``L`` would otherwise leave ``C``
  without the updates made before it. One exception: when only the element's
  own accesses need a bounds check and ``L`` stores nothing else, the element
  is held inside ``if`` (``L`` runs at least once): the check then fails where
  ``L``'s first iteration would have failed, with nothing stored before it
  (``out[0] += x[i]``, where ``out`` may be empty). Likewise when the element's
  subscripts read a name the bounds of ``L`` or of a loop inside it read, or such
  a loop's range is literal and empty: its proof inside may rest on that loop
  running (``y[K - 1]`` across ``for k in 0:K``, with K = 0). When that loop is
  inside ``L``, the element is held across that loop instead;
- ``L`` holds no ``while`` loop, ``break`` or ``continue``;
- ``L`` is not split across threads, and, where the kernel may run on threads,
  no store of ``C`` in ``L`` sits under an ``if`` (the store after ``L`` writes
  the element even when no iteration did).

Each loop is tried outermost first, so an element is held across the outermost
loop it can be (``for k, l { C[i] += ... }``: across ``k``).
"""

from __future__ import annotations

import dataclasses

from .. import ir
from . import analysis


@dataclasses.dataclass(frozen=True)
class Promotion:
    """One element held in a local: ``array[subscripts]`` across loop ``loop``."""

    array: str
    subscripts: str  # as text, "i, j"
    loop: str
    local: str
    guarded: bool = False  # only when the loop runs (the element's accesses are checked)

    def describe(self) -> str:
        when = ", when the loop runs at all" if self.guarded else ""
        return f"{self.array}[{self.subscripts}] is held in local {self.local} across loop {self.loop}{when}"


def promote(kernel: ir.Kernel, variant, threads: bool) -> tuple[ir.Kernel, tuple[Promotion, ...]]:
    """``kernel`` with every element that can be held in a local across a loop
    held so (module docstring), and what was; ``threads``: the kernel may run a
    loop on several threads (``parallel``)."""
    if getattr(variant, "may_alias", False) or getattr(variant, "boundscheck", None) is True:
        return kernel, ()
    rewriter = _Rewriter(kernel, threads, getattr(variant, "boundscheck", None))
    body = rewriter.body(kernel.body)
    if not rewriter.done:
        return kernel, ()
    return dataclasses.replace(kernel, body=body), tuple(rewriter.done)


def promote_inside(kernel: ir.Kernel, loop: ir.For, variant, threads: bool,
                   checks: dict | None = None) -> tuple[ir.For, tuple[Promotion, ...]]:
    """``loop`` (a loop of ``kernel``, e.g. an interchanged nest) with the elements
    held in locals across the loops inside it (not across ``loop`` itself: that
    would put statements beside it). ``checks``: the bounds checks to assume, by
    node id (a versioned nest's unchecked copy); by default the kernel's."""
    if getattr(variant, "may_alias", False) or getattr(variant, "boundscheck", None) is True:
        return loop, ()
    rewriter = _Rewriter(kernel, threads, getattr(variant, "boundscheck", None))
    if checks is not None:
        rewriter.ctx = dataclasses.replace(rewriter.ctx, checks=checks)
    new = dataclasses.replace(loop, body=rewriter.body(loop.body))
    return (new, tuple(rewriter.done)) if rewriter.done else (loop, ())


class _Rewriter:
    def __init__(self, kernel: ir.Kernel, threads: bool, policy: bool | None):
        self.kernel = kernel
        self.ctx = analysis.Context.of(kernel)
        self.threads = threads or any(s.parallel for s in ir.walk_stmts(kernel.body) if isinstance(s, ir.For))
        self.policy = policy  # the variant's boundscheck: None (checks where not proven) or False (none)
        self.types = {p.name: p.dtype for p in kernel.arrays}
        self.taken = ({p.name for p in kernel.params} | set(ir.local_types(kernel)) | set(self.ctx.dims)
                      | analysis.loop_indices(kernel.body))
        self.done: list[Promotion] = []

    def body(self, body: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
        out: list[ir.Stmt] = []
        for s in body:
            if isinstance(s, ir.For):
                out += self.loop(s)
            elif isinstance(s, ir.If):
                out.append(dataclasses.replace(s, then=self.body(s.then), orelse=self.body(s.orelse)))
            elif isinstance(s, ir.While):
                out.append(dataclasses.replace(s, body=self.body(s.body)))
            else:
                out.append(s)
        return tuple(out)

    def loop(self, s: ir.For) -> list[ir.Stmt]:
        """The statements that replace loop ``s``: ``s`` with the elements it
        updates held in locals (loaded before it, stored after it), and the loops
        inside it done the same way."""
        before: list[ir.Stmt] = []
        after: list[ir.Stmt] = []
        guarded = False
        stored = list(dict.fromkeys(x.array for x in ir.walk_stmts(s.body) if isinstance(x, ir.Store)))
        # not across a loop holding a while loop, break or continue (which may skip
        # the accesses the guarded case counts on)
        plain = stored and not s.parallel and isinstance(s.step, ir.Const) and analysis.opaque_control(s) is None
        checked = self.checked(s.body) if plain else None
        if checked is not None:
            changes = {s.index} | analysis.loop_indices(s.body) | set(analysis.assigned_in(s.body))
            conditional = _stores_under_if(s.body)
            for array in stored:
                nodes = [n for n in analysis.accesses(s.body) if n.array == array]
                if len({tuple(map(analysis.expr_text, n.indices)) for n in nodes}) != 1:
                    continue
                subs = nodes[0].indices
                if any(analysis.names_read(i) & changes for i in subs):
                    continue
                if any(isinstance(x, ir.Load) and x.array in stored for i in subs for x in ir.walk_expr(i)):
                    continue  # the subscript reads an array the loop writes: it may change
                if self.threads and array in conditional:
                    continue
                if checked:
                    # the element's own accesses need a check, and nothing else in
                    # the loop can fail or store: held when the loop runs at all
                    # (its first iteration would check the same element first)
                    if len(stored) > 1 or not checked <= {id(n) for n in nodes} or not _every_iteration(s.body, array):
                        break
                    guarded = True
                elif (rests := _rests_on(s, subs)) == "inner":
                    continue  # held across that loop instead, where it can be guarded
                elif rests:
                    # proven inside s, perhaps only because s runs (y[K - 1] in
                    # for k in 0:K): outside it the element is touched only when s runs
                    guarded = True
                local = self.fresh(array, subs)
                changes.add(local)  # a later subscript reading the element now reads it
                t = self.types[array]
                var = ir.Var(local, t, nodes[0].loc)
                s = dataclasses.replace(s, body=tuple(_replace_stmt(x, array, local, var) for x in s.body))
                before.append(ir.Assign(local, ir.Load(array, subs, t, nodes[0].loc), None, nodes[0].loc))
                after.append(ir.Store(array, subs, var, None, nodes[0].loc))
                self.done.append(Promotion(array, ", ".join(ir.print_expr(i) for i in subs), s.index, local, guarded))
        s = dataclasses.replace(s, body=self.body(s.body))
        if not guarded:
            return [*before, s, *after]
        runs = ir.Binary("<" if s.step.value > 0 else ">", s.start, s.stop, ir.DType.BOOL, s.loc)
        return [ir.If(runs, (*before, s, *after), (), s.loc)]

    def checked(self, body) -> set[int] | None:
        """The accesses in ``body`` that need a run-time bounds check (by node id),
        or None when something else there can fail (``analysis.failures``: an
        integer ``//``, ``%``, ``**``; a step known only at run time)."""
        out: set[int] = set()
        for kind, x in analysis.failures(self.ctx, body, self.policy):
            if kind != "check":
                return None
            out.add(id(x))
        return out

    def fresh(self, array: str, subs) -> str:
        parts = [i.name if isinstance(i, ir.Var) else (str(i.value) if isinstance(i, ir.Const) else "") for i in subs]
        base = f"{array}_{'_'.join(parts)}" if all(parts) else f"{array}_elem"
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}{k}"
        self.taken.add(name)
        return name


def _rests_on(loop: ir.For, subs) -> str | None:
    """Whether a proof that the subscripts ``subs`` are in bounds inside ``loop``
    may rest on it ("self") or a loop inside it ("inner") running: they read a
    name such a loop's bounds read (its range's non-emptiness, ``K - 1 >= 0`` for
    ``for k in 0:K``, then bounds them), or such a loop's range is literal and
    empty (what is proven inside it holds vacuously). None when neither."""
    names = set().union(*(analysis.names_read(i) for i in subs))
    found = None
    for x in (loop, *ir.walk_stmts(loop.body)):
        if not isinstance(x, ir.For):
            continue
        if isinstance(x.start, ir.Const) and isinstance(x.stop, ir.Const):
            rests = x.start.value >= x.stop.value
        else:
            rests = bool(names & (analysis.names_read(x.start) | analysis.names_read(x.stop)))
        if rests and x is not loop:
            return "inner"
        found = found or ("self" if rests else None)
    return found


def _every_iteration(body, array: str) -> bool:
    """Whether every iteration of a loop with this body accesses ``array``: a
    statement of the body itself (not one under an ``if`` or in a loop inside)
    loads or stores it."""
    for s in body:
        if isinstance(s, ir.Store) and s.array == array:
            return True
        if isinstance(s, (ir.Assign, ir.Store)) and any(_surely_loads(e, array) for e in ir.stmt_exprs(s)):
            return True
    return False


def _surely_loads(e: ir.Expr, array: str) -> bool:
    """Whether evaluating ``e`` always loads from ``array`` (not only in an arm of
    a select or the right side of ``and`` / ``or``)."""
    if isinstance(e, ir.Load):
        return e.array == array or any(_surely_loads(i, array) for i in e.indices)
    if isinstance(e, (ir.Unary, ir.Cast)):
        return _surely_loads(e.operand, array)
    if isinstance(e, ir.Binary):
        return _surely_loads(e.left, array) or (e.op not in ir.LOGIC_OPS and _surely_loads(e.right, array))
    if isinstance(e, ir.Select):
        return _surely_loads(e.cond, array)
    if isinstance(e, ir.Call):
        return any(_surely_loads(a, array) for a in e.args)
    return False


def _stores_under_if(body) -> set[str]:
    out: set[str] = set()
    for s in ir.walk_stmts(body):
        if isinstance(s, ir.If):
            out |= {x.array for x in ir.walk_stmts(s.then + s.orelse) if isinstance(x, ir.Store)}
    return out


def _replace_stmt(s: ir.Stmt, array: str, local: str, var: ir.Var) -> ir.Stmt:
    ex = lambda e: _replace_expr(e, array, var)
    if isinstance(s, ir.Store) and s.array == array:
        return ir.Assign(local, ex(s.value), s.op, s.loc)
    return ir.map_stmt(s, ex, lambda x: _replace_stmt(x, array, local, var))


def _replace_expr(e: ir.Expr, array: str, var: ir.Var) -> ir.Expr:
    if isinstance(e, ir.Load) and e.array == array:
        return dataclasses.replace(var, loc=e.loc)
    return ir.map_operands(e, lambda x: _replace_expr(x, array, var))
