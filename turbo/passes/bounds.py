"""Bounds analysis: which array accesses are provably inside their array.

An index is put in affine form over loop indices and "symbols" (dims and integer
scalar parameters). Inside a loop nest each index ``v`` ranges over
``[lo_v, hi_v]`` (affine in outer indices and symbols). The largest value of an
affine index is found by replacing, innermost loop first, each index by ``hi``
(positive coefficient) or ``lo`` (negative coefficient); the smallest likewise.
What remains is affine in symbols only; dims are never negative, so

    min(index) >= 0          when every dim coefficient is >= 0 and the rest is >= 0
    max(index) <= size - 1   likewise for size - 1 - max(index)

or when the difference between such an expression and a loop's non-emptiness fact
(``for i in 0:N`` runs only when ``N - 1 >= 0``) passes that test.

Example: ``for i in 0:N { for j in 0:i+1 { A[i, j] } }`` with ``A: f32[N, N]``:
max(j) = i, then max(i) = N - 1, so both indices are proven and compile unchecked.
Anything else (``h[x[i]]``, ``A[i*N + j]``, bounds given by scalars) is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir

Affine = dict  # name -> int coefficient; the key "" holds the constant


@dataclass(frozen=True)
class LoopRange:
    index: str
    lo: Affine | None  # inclusive; None when unknown (non-literal step)
    hi: Affine | None


def to_affine(e: ir.Expr, dims: frozenset[str], int_scalars: frozenset[str], indices: frozenset[str]) -> Affine | None:
    if isinstance(e, ir.Const):
        return {"": int(e.value)} if e.type.is_int else None
    if isinstance(e, ir.Var):
        if e.name in dims or e.name in int_scalars or e.name in indices:
            return {e.name: 1}
        return None  # a local: its value is not tracked
    if isinstance(e, ir.Cast) and e.to.is_int and e.operand.type.is_int:
        # widening i32 -> i64 keeps the value; a narrowing cast may wrap
        return to_affine(e.operand, dims, int_scalars, indices) if e.to.bits >= e.operand.type.bits else None
    if isinstance(e, ir.Unary) and e.op == "neg":
        a = to_affine(e.operand, dims, int_scalars, indices)
        return None if a is None else _scale(a, -1)
    if isinstance(e, ir.Binary) and e.op in ("+", "-", "*"):
        a = to_affine(e.left, dims, int_scalars, indices)
        b = to_affine(e.right, dims, int_scalars, indices)
        if a is None or b is None:
            return None
        if e.op == "+":
            return _add(a, b)
        if e.op == "-":
            return _add(a, _scale(b, -1))
        if _is_const(a):
            return _scale(b, a.get("", 0))
        if _is_const(b):
            return _scale(a, b.get("", 0))
        return None
    return None


def _is_const(a: Affine) -> bool:
    return all(k == "" or v == 0 for k, v in a.items())


def _scale(a: Affine, c: int) -> Affine:
    return {k: v * c for k, v in a.items() if v * c != 0 or k == ""}


def _add(a: Affine, b: Affine) -> Affine:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return {k: v for k, v in out.items() if v != 0 or k == ""}


def loop_range(loop: ir.For, dims, int_scalars, indices) -> LoopRange:
    """The inclusive range of a loop's index, for a literal step."""
    start = to_affine(loop.start, dims, int_scalars, indices)
    stop = to_affine(loop.stop, dims, int_scalars, indices)
    step = loop.step
    if start is None or stop is None or not isinstance(step, ir.Const):
        return LoopRange(loop.index, None, None)
    if step.value > 0:
        return LoopRange(loop.index, start, _add(stop, {"": -1}))
    return LoopRange(loop.index, _add(stop, {"": 1}), start)


def _extreme(a: Affine, ranges: list[LoopRange], want_max: bool) -> Affine | None:
    for r in reversed(ranges):  # innermost first: its bounds may mention outer indices
        c = a.get(r.index, 0)
        if c == 0:
            continue
        bound = r.hi if (c > 0) == want_max else r.lo
        if bound is None:
            return None
        rest = {k: v for k, v in a.items() if k != r.index}
        a = _add(rest, _scale(bound, c))
    return a


def _nonneg(a: Affine, dims: frozenset[str]) -> bool:
    """True when ``a`` (affine in symbols only) is >= 0 for every value of the dims."""
    for k, v in a.items():
        if k == "":
            continue
        if k not in dims or v < 0:
            return False
    return a.get("", 0) >= 0


def _loop_facts(ranges: list[LoopRange]) -> list[Affine]:
    """Inside a loop its range is non-empty: ``hi - lo >= 0``. The facts that
    mention no loop index (``for i in 0:N`` gives ``N - 1 >= 0``)."""
    facts = []
    indices = {r.index for r in ranges}
    for r in ranges:
        if r.lo is None or r.hi is None:
            continue
        f = _add(r.hi, _scale(r.lo, -1))
        if not any(k in indices for k in f if k):
            facts.append(f)
    return facts


def _provably_nonneg(a: Affine, dims: frozenset[str], facts: list[Affine]) -> bool:
    return _nonneg(a, dims) or any(_nonneg(_add(a, _scale(f, -1)), dims) for f in facts)


def index_in_bounds(index: Affine | None, size: int | str, ranges: list[LoopRange], dims: frozenset[str]) -> bool:
    if index is None:
        return False
    lo = _extreme(index, ranges, want_max=False)
    hi = _extreme(index, ranges, want_max=True)
    if lo is None or hi is None:
        return False
    if any(k in {r.index for r in ranges} for k in list(lo) + list(hi) if k):
        return False
    size_aff = {"": size} if isinstance(size, int) else {size: 1, "": 0}
    facts = _loop_facts(ranges)
    return _provably_nonneg(lo, dims, facts) and _provably_nonneg(
        _add(_add(size_aff, {"": -1}), _scale(hi, -1)), dims, facts
    )


def access_checks(kernel: ir.Kernel) -> dict[int, tuple[bool, ...]]:
    """For every Load and Store (by node id): per subscript, whether it needs a
    run-time check, i.e. could not be proven in bounds. A node shared between
    several places is checked where any of them needs it."""
    dims = frozenset(kernel.dims)
    int_scalars = frozenset(p.name for p in kernel.scalars if p.dtype.is_int)
    shapes = {p.name: p.shape for p in kernel.arrays}
    out: dict[int, tuple[bool, ...]] = {}
    ranges: list[LoopRange] = []

    def visit_access(array: str, node, indices) -> None:
        known = frozenset(r.index for r in ranges)
        flags = tuple(
            not index_in_bounds(to_affine(i, dims, int_scalars, known), size, ranges, dims)
            for i, size in zip(indices, shapes[array])
        )
        prev = out.get(id(node))
        out[id(node)] = flags if prev is None else tuple(a or b for a, b in zip(prev, flags))

    def visit_expr(e: ir.Expr) -> None:
        for sub in ir.walk_expr(e):
            if isinstance(sub, ir.Load):
                visit_access(sub.array, sub, sub.indices)

    def visit(body) -> None:
        for s in body:
            for e in ir.stmt_exprs(s):
                visit_expr(e)
            if isinstance(s, ir.Store):
                visit_access(s.array, s, s.indices)
            elif isinstance(s, ir.For):
                known = frozenset(r.index for r in ranges)
                ranges.append(loop_range(s, dims, int_scalars, known | {s.index}))
                visit(s.body)
                ranges.pop()
            elif isinstance(s, ir.If):
                visit(s.then)
                visit(s.orelse)

    visit(kernel.body)
    return out
