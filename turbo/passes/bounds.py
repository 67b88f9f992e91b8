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
Flattened subscripts (``A[i*N + j]``, ``A[(i*N + j)*M + k]``) are affine in
the loop indices with coefficients that are products of symbols: ``to_affine(...,
products=True)`` keeps such a term under the key ``"i*N"`` (its factors, sorted,
joined by ``*``). The extremes substitute a loop's bound into each term that
holds its index; a term's sign is known when its other factors are dims (never
negative), and a run-time guard may assume an integer parameter is not negative
(``n >= 0`` becomes one of its conditions). With ``A: f32[S]`` and
``for i in 0:M { for j in 0:N { A[i*N + j] } }`` the largest subscript is
``(M - 1)*N + N - 1``, so the guard is ``M*N <= S``.
Anything else (``h[x[i]]``, ``A[i*i]``, bounds given by scalars) is checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir
from .narrow import value_range

Affine = dict  # name -> int coefficient; the key "" holds the constant, "i*N" a product (``products``)

MAX_DEGREE = 3  # factors in one product term: ``(i*N + j)*M + k`` has i*M*N


@dataclass(frozen=True)
class LoopRange:
    index: str
    lo: Affine | None  # inclusive; None when unknown (non-literal step)
    hi: Affine | None


def to_affine(e: ir.Expr, dims: frozenset[str], int_scalars: frozenset[str], indices: frozenset[str],
              defs: dict | None = None, products: bool = False) -> Affine | None:
    """``e`` as an affine form over dims, integer scalar parameters and loop
    indices, or None. ``defs``: locals that stand for a fixed affine form
    (``invariant_locals``). ``products``: a product of two non-constant forms is
    kept as terms keyed by their factors (``"N*i"``), when every term has at most
    one loop index among them and MAX_DEGREE factors; a caller that asks for them
    must read keys with ``factors``."""
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
            return None if a is None else scale_form(a, -1)
        if (isinstance(e, ir.Binary) and e.op == "//" and isinstance(e.right, ir.Const)
                and e.right.type.is_int and e.right.value > 0):
            a = go(e.left)
            if a is None or mentions(a, indices) or product_terms(a):
                return None
            c = int(e.right.value)
            if _is_const(a) or c == 1:
                return {"": a.get("", 0) // c} if c > 1 else a
            return {floor_symbol(a, c): 1, "": 0}
        if isinstance(e, ir.Binary) and e.op in ("+", "-", "*"):
            a = go(e.left)
            b = go(e.right)
            if a is None or b is None:
                return None
            if e.op == "+":
                return add_forms(a, b)
            if e.op == "-":
                return add_forms(a, scale_form(b, -1))
            if _is_const(a):
                return scale_form(b, a.get("", 0))
            if _is_const(b):
                return scale_form(a, b.get("", 0))
            return _mul(a, b, indices) if products else None
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


# Floor symbols: ``n // 2`` of symbols stands for one more symbol, keyed by its
# text (``"(n // 2)"``), with the facts 2*q <= n <= 2*q + 1 that proofs use
# (``_floors_out``). The key determines the value, so one table serves all kernels.
_FLOORS: dict[str, tuple[Affine, int]] = {}


def floor_symbol(a: Affine, c: int) -> str:
    """The key of the symbol ``a // c`` (``a`` affine in symbols, ``c`` > 1)."""
    terms = [(str(v) if k == "" else (k if v == 1 else f"{v} {k}")) for k, v in sorted(a.items()) if v]
    key = f"(({' + '.join(terms)}) // {c})" if len(terms) > 1 else f"({terms[0]} // {c})"
    _FLOORS[key] = (dict(a), c)
    return key


def floor_of(name: str) -> tuple[Affine, int] | None:
    """(form, divisor) when ``name`` is a floor symbol, else None."""
    return _FLOORS.get(name)


def _floors_out(a: Affine) -> Affine | None:
    """A form that is >= 0 only if ``a`` is (a positive multiple of a lower bound
    of ``a``) with no floor symbols: ``v*q`` for ``q = E // c`` becomes ``v*E/c``
    when v < 0 (q <= E/c) and ``v*(E - c + 1)/c`` when v > 0, the whole form
    scaled by c. None when a floor symbol is multiplied by another name."""
    while True:
        key = next((k for k, v in a.items() if v and any(f in _FLOORS for f in factors(k))), None)
        if key is None:
            return a
        if key not in _FLOORS:
            return None
        form, c = _FLOORS[key]
        v = a[key]
        rest = scale_form({k: x for k, x in a.items() if k != key}, c)
        bound = form if v < 0 else add_forms(form, {"": 1 - c})
        a = add_forms(rest, scale_form(bound, v))


def _is_const(a: Affine) -> bool:
    return all(k == "" or v == 0 for k, v in a.items())


def scale_form(a: Affine, c: int) -> Affine:
    return {k: v * c for k, v in a.items() if v * c != 0 or k == ""}


def factors(key: str) -> list[str]:
    """The names a term's key multiplies: ``"N*i"`` -> ["N", "i"]; ``""`` -> []."""
    return key.split("*") if key else []


def product_terms(a: Affine) -> bool:
    """Whether ``a`` has a term with more than one factor."""
    return any("*" in k for k in a)


def mentions(a: Affine, names) -> set[str]:
    """The names among ``names`` that some nonzero term of ``a`` multiplies."""
    return {f for k, v in a.items() if v for f in factors(k) if f in names}


def coefficient(a: Affine, name: str) -> Affine:
    """``a``'s coefficient of ``name``, itself a form: ``3*i + N*i + j`` -> ``3 + N``."""
    out: Affine = {"": 0}
    for k, v in a.items():
        fs = factors(k)
        if v and name in fs:
            fs.remove(name)
            key = "*".join(fs)
            out[key] = out.get(key, 0) + v
    return {k: v for k, v in out.items() if v or k == ""}


def _mul(a: Affine, b: Affine, indices=frozenset()) -> Affine | None:
    """The product of two forms, or None when a term would multiply two loop
    indices or more than MAX_DEGREE names."""
    out: Affine = {"": 0}
    for ka, va in a.items():
        for kb, vb in b.items():
            if not (va and vb):
                continue
            fs = factors(ka) + factors(kb)
            if len(fs) > MAX_DEGREE or sum(f in indices for f in fs) > 1:
                return None
            key = "*".join(sorted(fs))
            out[key] = out.get(key, 0) + va * vb
    return {k: v for k, v in out.items() if v or k == ""}


def add_forms(a: Affine, b: Affine) -> Affine:
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
        return LoopRange(loop.index, start, add_forms(stop, {"": -1}))
    return LoopRange(loop.index, add_forms(stop, {"": 1}), start)


def extreme(a: Affine, ranges: list[LoopRange], want_max: bool, nonneg: frozenset[str] = frozenset(),
             assume: set[str] | None = None) -> Affine | None:
    """A bound on ``a``'s largest (smallest) value over the loops ``ranges``,
    innermost first: each term that holds a loop's index takes the loop's bound
    on the side its sign asks for. A product term's sign is its coefficient's
    when its other factors are in ``nonneg`` (dims); other factors are added to
    ``assume`` (names the caller must check are >= 0), or make the answer None
    when it is None. Exact for affine forms; for products, bounding each term on
    its own bounds their sum."""
    for r in reversed(ranges):  # innermost first: its bounds may mention outer indices
        terms = [(k, v) for k, v in a.items() if v and r.index in factors(k)]
        if not terms:
            continue
        rest = {k: v for k, v in a.items() if not (v and r.index in factors(k))}
        for k, v in terms:
            others = factors(k)
            others.remove(r.index)
            unknown = [f for f in others if f not in nonneg]
            if unknown:
                if assume is None:
                    return None
                assume.update(unknown)
            bound = r.hi if (v > 0) == want_max else r.lo
            if bound is None:
                return None
            term = _mul({"*".join(others): v}, bound)
            if term is None:
                return None
            rest = add_forms(rest, term)
        a = rest
    return a


def _nonneg(a: Affine, dims: frozenset[str]) -> bool:
    """True when ``a`` (affine in symbols only) is >= 0 for every value of the dims."""
    for k, v in a.items():
        if k == "" or v == 0:
            continue
        if v < 0 or any(f not in dims for f in factors(k)):
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
        f = add_forms(r.hi, scale_form(r.lo, -1))
        if not mentions(f, indices):
            facts.append(f)
    return facts


def _provably_nonneg(a: Affine, dims: frozenset[str], facts: list[Affine]) -> bool:
    for f in [{"": 0}, *facts]:
        lower = _floors_out(add_forms(a, scale_form(f, -1)))
        if lower is not None and _nonneg(lower, dims):
            return True
    return False


def provably_nonneg(a: Affine, dims: frozenset[str], ranges: list[LoopRange]) -> bool:
    """Whether ``a`` (in symbols only) is >= 0 on every call, wherever all the
    loops ``ranges`` run (each then has an iteration)."""
    return _provably_nonneg(a, dims, _loop_facts(ranges))


def _conditions(index: Affine | None, size: int | str, ranges: list[LoopRange], dims: frozenset[str],
                assume: set[str] | None = None, scale: int = 1) -> tuple[Affine, Affine] | None:
    """The two forms that must be >= 0 for ``index // scale`` (``subscript_form``)
    to stay inside ``[0, size)`` over the loops ``ranges``: index's smallest
    value, and scale·size - 1 - its largest (with index >= 0, ``index // c`` is
    below size exactly when index is below c·size). None when an extreme is
    unknown (a loop without a literal step, a product term of unknown sign when
    ``assume`` is None; see ``_extreme``)."""
    if index is None:
        return None
    lo = extreme(index, ranges, False, dims, assume)
    hi = extreme(index, ranges, True, dims, assume)
    if lo is None or hi is None:
        return None
    size_aff = {"": scale * size} if isinstance(size, int) else {size: scale, "": 0}
    return lo, add_forms(add_forms(size_aff, {"": -1}), scale_form(hi, -1))


def subscript_form(e: ir.Expr, dims, int_scalars, indices, defs) -> tuple[Affine | None, int]:
    """(a, c): the subscript ``e`` is a affine (c = 1), or ``a // c`` with a affine
    and c a literal > 0 (``x[i // 2]``); (None, 1) when it is neither."""
    a = to_affine(e, dims, int_scalars, indices, defs, True)
    if a is not None or not (isinstance(e, ir.Binary) and e.op == "//" and isinstance(e.right, ir.Const)
                             and e.type.is_int and int(e.right.value) > 0):
        return a, 1
    a = to_affine(e.left, dims, int_scalars, indices, defs, True)
    return (a, int(e.right.value)) if a is not None else (None, 1)


def index_in_bounds(index: Affine | None, size: int | str, ranges: list[LoopRange], dims: frozenset[str],
                    scale: int = 1) -> bool:
    conds = _conditions(index, size, ranges, dims, scale=scale)
    if conds is None:
        return False
    loops = {r.index for r in ranges}
    if any(mentions(c, loops) for c in conds):
        return False
    facts = _loop_facts(ranges)
    return all(_provably_nonneg(c, dims, facts) for c in conds)


def _value_bounds(index: ir.Expr) -> tuple[int, int] | None:
    """The range of a subscript that is not affine but reads only narrow array
    elements and literals (``lut[img[i, j]]``: 0 .. 255; passes/narrow.py)."""
    return value_range(index.operand if isinstance(index, ir.Cast) and index.operand.type.is_int else index)


def range_in_bounds(index: ir.Expr, size: int | str) -> bool:
    """Whether a subscript of known value range (``_value_bounds``) is inside an
    axis of literal ``size``."""
    r = _value_bounds(index)
    return r is not None and r[0] >= 0 and isinstance(size, int) and r[1] < size


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
            elif isinstance(s, ir.While):
                visit(s.body)

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

        def proven(i: ir.Expr, size) -> bool:
            index, scale = subscript_form(i, dims, int_scalars, known, defs)
            return index_in_bounds(index, size, ranges, dims, scale) or range_in_bounds(i, size)

        flags = tuple(not proven(i, size) for i, size in zip(indices, shapes[array]))
        prev = out.get(id(node))
        out[id(node)] = flags if prev is None else tuple(a or b for a, b in zip(prev, flags))

    _each_access(kernel, symbols, visit_access)
    return out


# ----------------------------------------------------------------------------- run-time guards

Guard = tuple  # an affine form over symbols, as sorted (name, coefficient) pairs; the condition is "value >= 0"

# Every symbol a guard reads must lie within +-GUARD_LIMIT, and its coefficients
# sum to at most _MAX_COEF_SUM, so that a guard evaluated in 128-bit integers
# cannot overflow: a product of MAX_DEGREE symbols stays below 2**108.
GUARD_LIMIT = 1 << 36
_MAX_COEF_SUM = 1 << 8


def access_guards(kernel: ir.Kernel, checks: dict[int, tuple[bool, ...]],
                  symbols=None, scans=None) -> dict[int, frozenset[Guard] | None]:
    """For every access that needs a check (by node id): the conditions, affine in
    dims and integer scalar parameters only (or polynomial, for flattened
    subscripts), under which each of its checked subscripts stays inside its axis
    for every iteration of the loops around it; None when some subscript has no
    such condition (not affine, a loop bound that is not, a local in it). The
    conditions are the parts of the bounds proof above (``_conditions``) that the
    compiler could not decide and the kernel can: at run time, before the loops
    start (symbols never change during a call).

    Example: ``for i in 0:n { out[i] = x[i] }`` with ``out: f32[N]`` and an
    integer ``n`` gives ``N - n >= 0`` (largest i = n - 1 <= N - 1); smallest i = 0
    needs nothing. ``for i in 0:m { for j in 0:n { out[i*n + j] } }`` gives
    ``m*n <= N`` and ``0 <= n`` (the sign of the product's factor).

    ``scans`` (a passes/scans.py ``Scans``): a subscript with no such condition
    that an index scan can bound (``x[idx[i]]``) gets guards over the scan's
    smallest and largest values instead."""
    symbols = symbols or symbols_of(kernel)
    dims, int_scalars, defs = symbols
    names = dims | int_scalars
    shapes = {p.name: p.shape for p in kernel.arrays}
    out: dict[int, frozenset[Guard] | None] = {}

    def known(f: str) -> bool:  # a symbol the kernel can evaluate before its loops
        floor = floor_of(f)
        return (f in names or (floor is not None and all(known(g) for k in floor[0] for g in factors(k)))
                or (scans is not None and scans.known(f)))

    def condition(a: Affine, facts) -> Guard | None | bool:
        """True: provable; a Guard: decidable at run time; None: neither."""
        if any(not known(f) for k, v in a.items() if v for f in factors(k)):
            return None
        if _provably_nonneg(a, dims, facts):
            return True
        if not any(v for k, v in a.items() if k):
            return None  # a constant below 0: no call ever satisfies it ("1 <= 0")
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
            assumed: set[str] = set()
            affine, scale = subscript_form(i, dims, int_scalars, known, defs)
            both = _conditions(affine, size, ranges, dims, assumed, scale)
            both = both and both + tuple({name: 1, "": 0} for name in sorted(assumed))
            r = _value_bounds(i) if affine is None else None
            if r is not None and r[0] >= 0 and not isinstance(size, int):
                both = ({size: 1, "": -1 - r[1]},)  # size - 1 - the largest value >= 0
            decided = [None] if not both else [condition(c, facts) for c in both]
            if None in decided and scans is not None:
                scanned = scans.guards(node, i, size)
                decided = [None] if scanned is None else [condition(dict(g), facts) for g in scanned]
            if None in decided:
                out[id(node)] = None
                return
            conds |= {c for c in decided if c is not True}
        out[id(node)] = out.get(id(node), frozenset()) | frozenset(conds)

    _each_access(kernel, symbols, visit_access)
    return out


def guard_text(g: Guard, shown: dict[str, str] | None = None) -> str:
    """A guard as an inequality: ``(("M", -1), ("M2", 1), ("R", 1), ("", -1))``,
    i.e. M2 - M + R - 1 >= 0, reads ``M - R + 1 <= M2``. ``shown``: how to write
    some names (an index scan's results, ``max(k)``)."""
    shown = shown or {}
    terms = {shown.get(k, k): v for k, v in g}
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
