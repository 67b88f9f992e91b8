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


def to_affine(e: ir.Expr, dims: frozenset[str], int_scalars: frozenset[str], indices: frozenset[str],
              defs: dict | None = None) -> Affine | None:
    """``e`` as an affine form over dims, integer scalar parameters and loop
    indices, or None. ``defs``: locals that stand for a fixed affine form
    (``invariant_locals``)."""
    def go(e: ir.Expr) -> Affine | None:
        if isinstance(e, ir.Const):
            return {"": int(e.value)} if e.type.is_int else None
        if isinstance(e, ir.Var):
            if e.name in dims or e.name in int_scalars or e.name in indices:
                return {e.name: 1}
            if defs and e.name in defs:
                return dict(defs[e.name])
            return None  # a local: its value is not tracked
        if isinstance(e, ir.Cast) and e.to.is_int and e.operand.type.is_int:
            # widening i32 -> i64 keeps the value; a narrowing cast may wrap
            return go(e.operand) if e.to.bits >= e.operand.type.bits else None
        if isinstance(e, ir.Unary) and e.op == "neg":
            a = go(e.operand)
            return None if a is None else _scale(a, -1)
        if isinstance(e, ir.Binary) and e.op in ("+", "-", "*"):
            a = go(e.left)
            b = go(e.right)
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

    return go(e)


def invariant_locals(kernel: ir.Kernel) -> dict[str, Affine]:
    """Locals that hold one affine value of dims and integer parameters for the
    whole call: assigned once, at the top level, before any read, from such an
    expression (``r = k.shape[0]`` in a Python function). Analyses read them as
    that value."""
    dims = frozenset(kernel.dims)
    int_scalars = frozenset(p.name for p in kernel.scalars if p.dtype.is_int)
    counts: dict[str, int] = {}
    for s in ir.walk_stmts(kernel.body):
        if isinstance(s, ir.Assign):
            counts[s.name] = counts.get(s.name, 0) + 1
    defs: dict[str, Affine] = {}
    read: set[str] = set()
    for s in kernel.body:
        if isinstance(s, ir.Assign) and s.op is None and counts[s.name] == 1 and s.name not in read:
            a = to_affine(s.value, dims, int_scalars, frozenset(), defs)
            if a is not None:
                defs[s.name] = a
        for x in ir.walk_stmts((s,)):
            for e in ir.stmt_exprs(x):
                read |= {v.name for v in ir.walk_expr(e) if isinstance(v, ir.Var)}
    return defs


def _is_const(a: Affine) -> bool:
    return all(k == "" or v == 0 for k, v in a.items())


def _scale(a: Affine, c: int) -> Affine:
    return {k: v * c for k, v in a.items() if v * c != 0 or k == ""}


def _add(a: Affine, b: Affine) -> Affine:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return {k: v for k, v in out.items() if v != 0 or k == ""}


def loop_range(loop: ir.For, dims, int_scalars, indices, defs=None) -> LoopRange:
    """The inclusive range of a loop's index, for a literal step."""
    start = to_affine(loop.start, dims, int_scalars, indices, defs)
    stop = to_affine(loop.stop, dims, int_scalars, indices, defs)
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


def _conditions(index: Affine | None, size: int | str, ranges: list[LoopRange]) -> tuple[Affine, Affine] | None:
    """The two forms that must be >= 0 for ``index`` to stay inside ``[0, size)``
    over the loops ``ranges``: its smallest value, and size - 1 - its largest.
    None when an extreme is unknown (a loop without a literal step)."""
    if index is None:
        return None
    lo = _extreme(index, ranges, want_max=False)
    hi = _extreme(index, ranges, want_max=True)
    if lo is None or hi is None:
        return None
    size_aff = {"": size} if isinstance(size, int) else {size: 1, "": 0}
    return lo, _add(_add(size_aff, {"": -1}), _scale(hi, -1))


def index_in_bounds(index: Affine | None, size: int | str, ranges: list[LoopRange], dims: frozenset[str]) -> bool:
    conds = _conditions(index, size, ranges)
    if conds is None:
        return False
    loops = {r.index for r in ranges}
    if any(k in loops for c in conds for k in c if k):
        return False
    facts = _loop_facts(ranges)
    return all(_provably_nonneg(c, dims, facts) for c in conds)


def symbols_of(kernel: ir.Kernel) -> tuple[frozenset[str], frozenset[str], dict[str, Affine]]:
    """What affine forms of ``kernel`` are made of: (dims, integer scalar
    parameters, locals fixed for the call)."""
    dims = frozenset(kernel.dims)
    int_scalars = frozenset(p.name for p in kernel.scalars if p.dtype.is_int)
    return dims, int_scalars, invariant_locals(kernel)


def _each_access(kernel: ir.Kernel, symbols, visit_access) -> None:
    """Call ``visit_access(array, node, indices, ranges)`` for every Load and Store,
    with the ranges of the loops around it (outermost first)."""
    dims, int_scalars, defs = symbols
    ranges: list[LoopRange] = []

    def visit(body) -> None:
        for s in body:
            for e in ir.stmt_exprs(s):
                for sub in ir.walk_expr(e):
                    if isinstance(sub, ir.Load):
                        visit_access(sub.array, sub, sub.indices, ranges)
            if isinstance(s, ir.Store):
                visit_access(s.array, s, s.indices, ranges)
            elif isinstance(s, ir.For):
                known = frozenset(r.index for r in ranges)
                ranges.append(loop_range(s, dims, int_scalars, known | {s.index}, defs))
                visit(s.body)
                ranges.pop()
            elif isinstance(s, ir.If):
                visit(s.then)
                visit(s.orelse)

    visit(kernel.body)


def access_checks(kernel: ir.Kernel, symbols=None) -> dict[int, tuple[bool, ...]]:
    """For every Load and Store (by node id): per subscript, whether it needs a
    run-time check, i.e. could not be proven in bounds. A node shared between
    several places is checked where any of them needs it. ``symbols``:
    ``symbols_of(kernel)``, when the caller has it."""
    symbols = symbols or symbols_of(kernel)
    dims, int_scalars, defs = symbols
    shapes = {p.name: p.shape for p in kernel.arrays}
    out: dict[int, tuple[bool, ...]] = {}

    def visit_access(array: str, node, indices, ranges) -> None:
        known = frozenset(r.index for r in ranges)
        flags = tuple(
            not index_in_bounds(to_affine(i, dims, int_scalars, known, defs), size, ranges, dims)
            for i, size in zip(indices, shapes[array])
        )
        prev = out.get(id(node))
        out[id(node)] = flags if prev is None else tuple(a or b for a, b in zip(prev, flags))

    _each_access(kernel, symbols, visit_access)
    return out


# ----------------------------------------------------------------------------- run-time guards

Guard = tuple  # an affine form over symbols, as sorted (name, coefficient) pairs; the condition is "value >= 0"

GUARD_LIMIT = 1 << 40  # every symbol a guard reads must lie within +-this, so the sums cannot overflow
_MAX_COEF_SUM = 1 << 8


def access_guards(kernel: ir.Kernel, checks: dict[int, tuple[bool, ...]],
                  symbols=None) -> dict[int, frozenset[Guard] | None]:
    """For every access that needs a check (by node id): the conditions, affine in
    dims and integer scalar parameters only, under which each of its checked
    subscripts stays inside its axis for every iteration of the loops around it;
    None when some subscript has no such condition (not affine, a loop bound
    that is not, a local in it). The conditions are the parts of the bounds
    proof above (``_conditions``) that the compiler could not decide and the
    kernel can: at run time, before the loops start (symbols never change during
    a call).

    Example: ``for i in 0:n { out[i] = x[i] }`` with ``out: f32[N]`` and an
    integer ``n`` gives ``N - n >= 0`` (largest i = n - 1 <= N - 1); smallest i = 0
    needs nothing."""
    symbols = symbols or symbols_of(kernel)
    dims, int_scalars, defs = symbols
    names = dims | int_scalars
    shapes = {p.name: p.shape for p in kernel.arrays}
    out: dict[int, frozenset[Guard] | None] = {}

    def condition(a: Affine, facts) -> Guard | None | bool:
        """True: provable; a Guard: decidable at run time; None: neither."""
        if any(k and k not in names for k in a):
            return None
        if _provably_nonneg(a, dims, facts):
            return True
        if sum(abs(v) for k, v in a.items() if k) > _MAX_COEF_SUM or abs(a.get("", 0)) >= GUARD_LIMIT:
            return None
        return tuple(sorted((k, v) for k, v in a.items() if v != 0 or k == ""))

    def visit_access(array: str, node, indices, ranges) -> None:
        flags = checks.get(id(node))
        if not flags or not any(flags) or (id(node) in out and out[id(node)] is None):
            return
        known = frozenset(r.index for r in ranges)
        facts = _loop_facts(ranges)
        conds: set[Guard] = set()
        for i, size, flag in zip(indices, shapes[array], flags):
            if not flag:
                continue
            both = _conditions(to_affine(i, dims, int_scalars, known, defs), size, ranges)
            decided = [None] if both is None else [condition(c, facts) for c in both]
            if None in decided:
                out[id(node)] = None
                return
            conds |= {c for c in decided if c is not True}
        out[id(node)] = out.get(id(node), frozenset()) | frozenset(conds)

    _each_access(kernel, symbols, visit_access)
    return out


def guard_text(g: Guard) -> str:
    """A guard as an inequality: ``(("M", -1), ("M2", 1), ("R", 1), ("", -1))``,
    i.e. M2 - M + R - 1 >= 0, reads ``M - R + 1 <= M2``."""
    terms = dict(g)
    rhs = next((k for k, v in sorted(terms.items()) if k and v == 1), None)
    lhs = {k: -v for k, v in terms.items() if k != rhs and v}
    parts = []
    for k, v in sorted(lhs.items(), key=lambda kv: (kv[0] == "", kv[0])):
        mag = abs(v)
        text = str(mag) if not k else (k if mag == 1 else f"{mag}*{k}")
        parts.append(("- " if v < 0 else "+ ") + text)
    left = " ".join(parts).removeprefix("+ ") if parts else "0"
    if left.startswith("- "):
        left = "-" + left[2:]
    return f"{left} <= {rhs or 0}"
