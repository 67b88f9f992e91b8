"""Index-set splitting: a loop whose body tests its own index against values that
do not change in it (``if i == 0 or i == n - 1``: a stencil's boundary) runs as
consecutive loops over the ranges between those values, in each of which the test
has one answer and the ``if`` is gone.

Vectorized, an ``if`` runs both branches in every lane, and where its condition
is what keeps an access in bounds (``x[i - 1]`` under ``i > 0``) the access needs
a check, which keeps the loop scalar. Split, the middle loop of a boundary
stencil is the interior alone: no ``if``, accesses proven, vectorized::

    for i in 0:n {                          if 1 <= n - 1 {
        if i == 0 or i == n - 1 {               for i in 0:1 { out[i] = u[i] }
            out[i] = u[i]                        for i in 1:n - 1 { out[i] = 0.5 * (u[i - 1] + u[i + 1]) }
        } else {                         ->      for i in n - 1:n { out[i] = u[i] }
            out[i] = 0.5 * (u[i - 1] + u[i + 1])   } else {
        }                                        (the loop as written)
    }                                        }

The split points come from comparisons ``i op c`` (``op`` any of ``< <= > >= ==
!=``, ``i`` with coefficient ±1, ``c`` affine in the kernel's dims, integer
parameters and outer loop indices) in the conditions of the ifs in the body, at
any depth; points equal to the loop's bounds are dropped. The ranges are used
only when the points are in order at run time (the ``if`` around the copies,
evaluated once); otherwise the loop runs as written. In each copy a comparison is
decided where the copy's range settles it (bounds that differ by constants), and
an ``if`` whose condition is then a constant becomes its branch. Inner loops are
split the same way afterwards.

The iterations run in the same order as written, so results and errors are the
same. Loops left by a ``break`` (a break in the first copy must skip the others),
parallel loops, loops with a step other than 1, loops whose bounds are not affine
(a bound that reads a local would be read again by a later copy) and loops whose
body is large (``MAX_STATEMENTS``) are not split; nor is a loop where no copy
loses an ``if``.
"""

from __future__ import annotations

from dataclasses import replace

from .. import ir
from ..ir import DType
from .bounds import add_forms, scale_form, symbols_of, to_affine

MAX_POINTS = 4  # split points per loop: at most 5 copies
MAX_STATEMENTS = 64  # statements (at any depth) of a loop body that is copied

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def split_loops(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """``kernel`` with the loops that test their own index split (the pipeline's pass)."""
    ctx = _Ctx(kernel)
    body = ctx.block(kernel.body, frozenset())
    return kernel if body == kernel.body else replace(kernel, body=body)


class _Ctx:
    def __init__(self, kernel: ir.Kernel):
        self.kernel = kernel
        self.dims, self.int_scalars, self.defs = symbols_of(kernel)
        self.types = {p.name: p.dtype for p in kernel.scalars} | {d: DType.I64 for d in kernel.dims}

    def affine(self, e: ir.Expr, indices: frozenset[str]):
        return to_affine(e, self.dims, self.int_scalars, indices, self.defs)

    # ------------------------------------------------------------------ walking

    def block(self, body: tuple[ir.Stmt, ...], outer: frozenset[str]) -> tuple[ir.Stmt, ...]:
        out: list[ir.Stmt] = []
        for s in body:
            if isinstance(s, ir.For):
                out.extend(self.loop(s, outer))
            elif isinstance(s, ir.While):
                out.append(replace(s, body=self.block(s.body, outer)))
            elif isinstance(s, ir.If):
                out.append(replace(s, then=self.block(s.then, outer), orelse=self.block(s.orelse, outer)))
            else:
                out.append(s)
        return tuple(out)

    def loop(self, s: ir.For, outer: frozenset[str]) -> tuple[ir.Stmt, ...]:
        inside = outer | {s.index}
        split = self.split(s, outer)
        if split is None:
            return (replace(s, body=self.block(s.body, inside)),)
        copies, guard = split
        copies = tuple(replace(c, body=self.block(c.body, inside)) for c in copies)
        return copies if guard is None else (ir.If(guard, copies, (s,), s.loc),)

    # ------------------------------------------------------------------ splitting

    def split(self, s: ir.For, outer: frozenset[str]):
        """(the copies, the condition under which they replace ``s``: None when
        always), or None when ``s`` is not split."""
        if (s.parallel or not (isinstance(s.step, ir.Const) and s.step.value == 1)
                or ir.has_exits(s.body, (ir.Break,))
                or sum(1 for _ in ir.walk_stmts(s.body)) > MAX_STATEMENTS
                or any(isinstance(x, ir.For) and x.index == s.index for x in ir.walk_stmts(s.body))):
            return None
        indices = outer | {s.index}
        start, stop = self.affine(s.start, outer), self.affine(s.stop, outer)
        if start is None or stop is None:
            return None  # bounds that read locals: a copy would read them later than the loop did
        points: list[dict] = []
        for x in ir.walk_stmts(s.body):
            if isinstance(x, ir.If):
                for _, op, c in self.tests(x.cond, s.index, indices):
                    for p in ((c,) if op in ("<", ">=") else (add_forms(c, {"": 1}),) if op in ("<=", ">")
                              else (c, add_forms(c, {"": 1}))):
                        if not any(_same(p, q) for q in points) and not _same(p, start) and not _same(p, stop):
                            points.append(p)
        if not points or len(points) > MAX_POINTS:
            return None
        points.sort(key=lambda p: (any(v for k, v in p.items() if k), sorted((k, v) for k, v in p.items() if k),
                                   p.get("", 0)))
        bounds = [start, *points, stop]
        exprs = [s.start, *(self.expr(p, s.loc) for p in points), s.stop]
        copies, changed = [], False
        for k in range(len(bounds) - 1):
            lo, hi = bounds[k], bounds[k + 1]
            body, decided = self.decide_body(s.body, s.index, indices, lo, hi)
            changed = changed or decided
            if body:  # a range where the body does nothing is left out
                copies.append(replace(s, start=exprs[k], stop=exprs[k + 1], body=body))
        if not changed:
            return None
        conds = []
        for k in range(len(bounds) - 1):
            gap = _difference(bounds[k + 1], bounds[k])
            if gap is not None and gap >= 0:
                continue  # in order whatever the sizes
            if gap is not None:
                return None  # never in order
            conds.append(ir.Binary("<=", exprs[k], exprs[k + 1], DType.BOOL, s.loc))
        guard = None
        for c in conds:
            guard = c if guard is None else ir.Binary("and", guard, c, DType.BOOL, s.loc)
        return tuple(copies), guard

    def tests(self, cond: ir.Expr, index: str, indices: frozenset[str]):
        """The comparisons in ``cond``'s and/or/not structure that compare ``index``
        (coefficient ±1) with a value that does not change in its loop, as
        ``(node, op, c)``: the node holds exactly when ``index op c``."""
        if isinstance(cond, ir.Unary) and cond.op == "not":
            yield from self.tests(cond.operand, index, indices)
        elif isinstance(cond, ir.Binary) and cond.op in ("and", "or"):
            yield from self.tests(cond.left, index, indices)
            yield from self.tests(cond.right, index, indices)
        elif isinstance(cond, ir.Binary) and cond.op in _FLIP and cond.left.type.is_int and cond.right.type.is_int:
            left, right = self.affine(cond.left, indices), self.affine(cond.right, indices)
            if left is None or right is None:
                return
            diff = add_forms(left, scale_form(right, -1))  # diff op 0
            c = diff.get(index, 0)
            if c not in (1, -1):
                return
            rest = {k: -v * c for k, v in diff.items() if k != index}  # index op' rest
            if any(("*" in k or "(" in k or k not in self.types and k not in indices) for k, v in rest.items() if k and v):
                return  # products, floors: no expression is built for them
            if any(k in indices and k == index for k in rest):
                return
            yield cond, cond.op if c == 1 else _FLIP[cond.op], {k: v for k, v in rest.items() if v or k == ""}

    def decide_body(self, body, index: str, indices: frozenset[str], lo, hi) -> tuple[tuple[ir.Stmt, ...], bool]:
        """``body`` for ``index`` in ``[lo, hi)``: comparisons the range settles
        replaced by their answer, ifs with a constant condition by their branch.
        Also whether some if went."""
        decided = False

        def stmts(b) -> tuple[ir.Stmt, ...]:
            nonlocal decided
            out: list[ir.Stmt] = []
            for x in b:
                if isinstance(x, ir.If):
                    cond = self.decide(x.cond, index, indices, lo, hi)
                    if isinstance(cond, ir.Const):
                        decided = True
                        out.extend(stmts(x.then if cond.value else x.orelse))
                        continue
                    out.append(replace(x, cond=cond, then=stmts(x.then), orelse=stmts(x.orelse)))
                elif isinstance(x, (ir.For, ir.While)):
                    out.append(replace(x, body=stmts(x.body)))
                else:
                    out.append(x)
            return tuple(out)

        return stmts(body), decided

    def decide(self, e: ir.Expr, index: str, indices, lo, hi) -> ir.Expr:
        if isinstance(e, ir.Unary) and e.op == "not":
            inner = self.decide(e.operand, index, indices, lo, hi)
            return ir.Const(not inner.value, DType.BOOL, e.loc) if isinstance(inner, ir.Const) else replace(e, operand=inner)
        if isinstance(e, ir.Binary) and e.op in ("and", "or"):
            a = self.decide(e.left, index, indices, lo, hi)
            b = self.decide(e.right, index, indices, lo, hi)
            absorbing = e.op == "or"  # True absorbs an or, False an and
            for x, other in ((a, b), (b, a)):
                if isinstance(x, ir.Const):
                    return ir.Const(absorbing, DType.BOOL, e.loc) if x.value == absorbing else other
            return replace(e, left=a, right=b)
        for _, op, c in self.tests(e, index, indices):
            answer = _answer(op, c, lo, hi)
            if answer is not None:
                return ir.Const(answer, DType.BOOL, e.loc)
        return e

    def expr(self, form: dict, loc) -> ir.Expr:
        """An i64 expression for the affine ``form``."""
        out: ir.Expr | None = None
        for k, v in sorted(form.items()):
            if not k or not v:
                continue
            t = self.types.get(k, DType.I64)
            term: ir.Expr = ir.Var(k, t, loc)
            if t is not DType.I64:
                term = ir.Cast(DType.I64, term, loc)
            if v != 1:
                term = ir.Binary("*", ir.Const(v, DType.I64, loc), term, DType.I64, loc)
            out = term if out is None else ir.Binary("+", out, term, DType.I64, loc)
        c = form.get("", 0)
        if out is None:
            return ir.Const(c, DType.I64, loc)
        if not c:
            return out
        return ir.Binary("+" if c > 0 else "-", out, ir.Const(abs(c), DType.I64, loc), DType.I64, loc)


def _same(a, b) -> bool:
    return a is not None and b is not None and {k: v for k, v in a.items() if v} == {k: v for k, v in b.items() if v}


def _difference(a, b) -> int | None:
    """``a - b`` when it is a constant."""
    if a is None or b is None:
        return None
    d = add_forms(a, scale_form(b, -1))
    return None if any(v for k, v in d.items() if k) else d.get("", 0)


def _answer(op: str, c, lo, hi) -> bool | None:
    """Whether ``index op c`` holds for every index in ``[lo, hi)`` (True), for
    none (False), or neither / not known (None)."""
    d_lo = _difference(c, lo)  # c - lo
    d_hi = _difference(c, hi)  # c - hi; the largest index is hi - 1
    if op == "<":
        return True if d_hi is not None and d_hi >= 0 else False if d_lo is not None and d_lo <= 0 else None
    if op == "<=":
        return True if d_hi is not None and d_hi >= -1 else False if d_lo is not None and d_lo <= -1 else None
    if op == ">":
        return True if d_lo is not None and d_lo <= -1 else False if d_hi is not None and d_hi >= -1 else None
    if op == ">=":
        return True if d_lo is not None and d_lo <= 0 else False if d_hi is not None and d_hi >= 0 else None
    equal = None
    if d_lo is not None and d_hi is not None and d_lo == 0 and d_hi == -1:
        equal = True
    elif (d_lo is not None and d_lo <= -1) or (d_hi is not None and d_hi >= 0):
        equal = False
    if equal is None:
        return None
    return equal if op == "==" else not equal
