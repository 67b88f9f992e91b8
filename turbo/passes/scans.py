"""Index scans: run-time bounds guards for subscripts computed from data.

``x[idx[i]]``, ``table[int(f)]`` or ``img[y0, int(j * 0.73)]`` cannot be proven
inside their arrays, nor guarded by a formula over dims (``bounds.access_guards``):
each read is checked, and the nest runs one element at a time with a compare
and a branch per subscript (0.68-0.85x Numba, which checks nothing, on a
bilinear resize and a table lookup). But such a subscript is often a pure
function of loop indices and of arrays the nest does not write: a loop over just
those indices, run before the nest, finds its smallest and largest values, and
when they lie inside the array every read of the nest is in bounds. The nest is
then versioned like one with affine guards (``schedule._versions``): the guards
``lo + c >= 0`` and ``hi + c <= size - 1`` over the scan's two results (``c`` the
subscript's constant offset: ``table[k + 1]`` shares ``k``'s scan) choose the
unchecked copy, or the checked one, which raises where the user's code would.

A subscript is scanned when, inside its nest:

- every statement around it is a ``for`` loop (under an ``if`` the value may
  never be used: ``if 0 <= k < n: s += x[k]`` would always fail the scan), and
  the nest has no ``break``, ``continue`` or ``return``;
- each local it reads (through the locals those read, and the bounds of the
  loops it needs) is assigned once in the nest, plainly (``k = int(f)``, not
  ``k += 1``), in a loop around the access and before it, reading only values
  computed before it in the same iteration; or not at all (a value fixed for
  the nest);
- the loops it changes along step by literals, and are fewer than the loops
  around it (below);
- what it computes cannot fail: its reads are proven in bounds, of arrays the
  nest does not write, and no integer division by a value that may be zero.

The scan loops over only the loops whose indices the subscript reads (a row
index computed per row is scanned once per row, not per element), with the
subscript's definitions renamed so that the user's locals keep their values,
and is scheduled like any reduction (``schedule._scan_schedules``). A subscript
that changes along every loop around it is not scanned: the scan would be as
long as the nest and compute every index twice, which cost more than the checks
it saves (measured against the checked nest: a gather ``y[i] += a*x[p[i]]``
0.93 -> 0.86x Numba at 65536, a table lookup ``table[int(x[i]*n)]`` 0.85 ->
0.58x, an ELLPACK product 1.06 -> 0.78x). Those keep their checks; a bilinear
resize's column index ``int(j * 0.73)``, scanned along j alone for an i x j
nest, went from 0.69 to 0.89-0.93x (docs/schedule.md has the measurements).

A scan is named by its nest's place, its subscript's text and the loops it
runs over (not their order): the unchecked copy of an interchanged nest finds
the same guards, and two nests scanning a local of the same name do not share
one scan.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .. import ir
from . import analysis

Guard = tuple


@dataclass(frozen=True)
class ScanSite:
    """One scanned value: ``lo``/``hi`` name locals that hold its smallest and
    largest value once ``code`` has run (just before its nest)."""

    lo: str
    hi: str
    text: str  # the value, as the user wrote it (for explain)
    loops: tuple[str, ...]  # the loops scanned, outermost first
    code: tuple[ir.Stmt, ...]


def _offset(e: ir.Expr) -> tuple[ir.Expr, int]:
    """``e`` as (base, constant): ``k + 1`` is (k, 1), ``k - 2`` is (k, -2)."""
    if isinstance(e, ir.Binary) and e.op in ("+", "-") and isinstance(e.right, ir.Const) and e.right.type.is_int:
        base, c = _offset(e.left)
        return base, c + (int(e.right.value) if e.op == "+" else -int(e.right.value))
    if isinstance(e, ir.Binary) and e.op == "+" and isinstance(e.left, ir.Const) and e.left.type.is_int:
        base, c = _offset(e.right)
        return base, c + int(e.left.value)
    return e, 0


class Scans:
    """The subscripts of ``kernel`` that an index scan can guard (see the module
    docstring), found on demand by ``guards``; ``sites`` holds each scan made."""

    def __init__(self, kernel: ir.Kernel, checks: dict):
        self.kernel = kernel
        self.checks = checks
        self.sites: dict[str, ScanSite] = {}
        self._taken = analysis.names_taken(kernel)
        self._chains: dict[int, tuple] = {}  # id(access) -> the statements around it, with their positions
        self._nest_facts: dict[int, tuple] = {}
        self._walk(kernel.body, ())

    def _walk(self, body, chain) -> None:
        for k, s in enumerate(body):
            here = chain + ((body, k),)
            for e in ir.stmt_exprs(s):
                for sub in ir.walk_expr(e):
                    if isinstance(sub, ir.Load):
                        self._place(sub, here)
            if isinstance(s, ir.Store):
                self._place(s, here)
            elif isinstance(s, (ir.For, ir.While)):
                self._walk(s.body, here)
            elif isinstance(s, ir.If):
                self._walk(s.then, here + (("then", 0),))
                self._walk(s.orelse, here + (("else", 0),))

    def _place(self, node, chain) -> None:
        # a node found in two places (a pass copied the statement) has no one
        # place: its check stays, rather than a scan covering one of them
        self._chains[id(node)] = None if id(node) in self._chains else chain

    def known(self, name: str) -> bool:
        return name in self._symbols

    @property
    def _symbols(self) -> set[str]:
        return {n for site in self.sites.values() for n in (site.lo, site.hi)}

    def guards(self, node, subscript: ir.Expr, size: int | str) -> frozenset[Guard] | None:
        """The guards that keep ``subscript`` (of the access ``node``) inside an
        axis of ``size`` over its nest, by a scan; None when it cannot be scanned."""
        chain = self._chains.get(id(node))
        if not chain:
            return None
        base, c = _offset(subscript)
        if not base.type.is_int:
            return None
        site = self._scan(chain, base)
        if site is None:
            return None
        low = ((site.lo, 1), ("", c))
        if isinstance(size, int):
            high = ((site.hi, -1), ("", size - 1 - c))
        else:
            high = tuple(sorted(((site.hi, -1), (size, 1), ("", -1 - c))))
        return frozenset((tuple(sorted(low)), high))

    def _scan(self, chain, base: ir.Expr) -> ScanSite | None:
        # the nest: from the outermost loop of the chain; every statement between it
        # and the access a loop
        first = next((n for n, (body, k) in enumerate(chain)
                      if not isinstance(body, str) and isinstance(body[k], ir.For)), None)
        if first is None or any(isinstance(body, str) for body, _ in chain[first:]):
            return None
        inner = chain[first:]  # (body, position) of the root, of each loop inside it, of the access
        stmts = [body[k] for body, k in inner]
        loops = stmts[:-1]
        if not all(isinstance(s, ir.For) for s in loops) or isinstance(stmts[-1], (ir.For, ir.While)):
            return None
        root = loops[0]
        if any(isinstance(s, (ir.Break, ir.Continue, ir.Return)) for s in ir.walk_stmts(root.body)):
            return None
        facts = self._nest_facts.get(id(root))
        if facts is None:
            facts = self._nest_facts[id(root)] = (analysis.assigned_in((root,)),
                                                  frozenset(s.array for s in ir.walk_stmts((root,))
                                                            if isinstance(s, ir.Store)),
                                                  analysis.loop_indices((root,)))
        assigned, written, indices = facts
        # per level of the chain (loop m's body is level m): the position of the
        # statement that leads to the access
        levels = [(loops[m].body, inner[m + 1][1]) for m in range(len(loops))]
        by_index = {s.index: m for m, s in enumerate(loops)}
        need_loops: set[int] = set()
        defs: dict[str, tuple[int, int, ir.Assign]] = {}  # local -> (level, position, its assignment)
        todo = list(analysis.names_read(base))
        exprs = [base]
        while todo:
            name = todo.pop()
            if name in by_index:
                m = by_index[name]
                if m not in need_loops:
                    need_loops.add(m)
                    for e in (loops[m].start, loops[m].stop, loops[m].step):
                        exprs.append(e)
                        todo.extend(analysis.names_read(e))
                continue
            if name in indices:
                return None  # the index of a loop that is not around the access
            if name in defs or name not in assigned:
                continue  # a parameter, a dim, or a local fixed for the nest
            writes = assigned[name]
            if len(writes) != 1 or writes[0].op is not None:
                return None
            where = next(((m, p) for m, (body, at) in enumerate(levels)
                          for p, s in enumerate(body[:at]) if s is writes[0]), None)
            if where is None:
                return None  # inside another loop or an if, or after the access
            defs[name] = (*where, writes[0])
            exprs.append(writes[0].value)
            todo.extend(analysis.names_read(writes[0].value))
        # each definition reads the values the nest has computed before it in the
        # same iteration (level, then place in its level's body, is that order), and
        # a loop's bounds only definitions outside it; else it reads values from an
        # earlier iteration, which the scan does not reproduce
        for m, p, s in defs.values():
            if any(n in defs and defs[n][:2] >= (m, p) for n in analysis.names_read(s.value)):
                return None
        for m in need_loops:
            x = loops[m]
            if any(n in defs and defs[n][0] >= m for e in (x.start, x.stop, x.step) for n in analysis.names_read(e)):
                return None
        for e in exprs:
            for sub in ir.walk_expr(e):
                if analysis.may_raise(sub) or isinstance(sub, ir.Call) and sub.fn not in _PURE:
                    return None
                if isinstance(sub, ir.Load) and (sub.array in written or any(self.checks.get(id(sub), (True,)))):
                    return None
        kept = sorted(need_loops)
        if len(kept) == len(loops):
            return None  # as long as the nest: see the module docstring
        if any(not isinstance(loops[m].step, ir.Const) for m in kept):
            return None  # a step checked for zero: an error the scan must not raise
        # the names of the scan's results depend on the nest's place and what it
        # scans, not on the loops' order: an interchanged copy of the nest
        # (schedule._unchecked_nest) finds the same guards
        place = ".".join(str(k) for _, k in chain[:first + 1])
        key = f"{place}|{analysis.expr_text(base)}|{','.join(sorted(loops[m].index for m in kept))}"
        digest = hashlib.sha1(key.encode()).hexdigest()[:8]
        hit = self.sites.get(digest)
        if hit is not None:
            return hit
        lo = analysis.fresh_name(self._taken, f"scan_{digest}_lo")
        hi = analysis.fresh_name(self._taken, f"scan_{digest}_hi")
        renames = {name: analysis.fresh_name(self._taken, f"{name}_scan") for name in defs}
        code = self._code(loops, kept, defs, base, lo, hi, renames)
        text = ir.print_expr(base, ir.kernel_float_type(self.kernel.params))
        site = ScanSite(lo, hi, text, tuple(loops[m].index for m in kept), code)
        self.sites[digest] = site
        return site

    def _code(self, loops, kept, defs, base, lo, hi, renames) -> tuple[ir.Stmt, ...]:
        """``lo = MAX; hi = MIN; for <kept loops> { <defs>; lo = min(lo, base); hi = max(hi, base) }``.
        A definition runs in the deepest kept loop around its place: what it reads
        changes only along kept loops, so it takes there every value it takes in
        the nest (once per combination of their indices)."""
        t = ir.DType.I64

        def rename(e: ir.Expr) -> ir.Expr:
            # unchanged nodes stay the same objects: their loads keep the bounds
            # facts (by node id) that let them run unchecked
            if not analysis.names_read(e) & renames.keys():
                return e
            if isinstance(e, ir.Var):
                return ir.Var(renames[e.name], e.type, e.loc)
            return ir.map_operands(e, rename)

        value = rename(base)
        if value.type is not t:
            value = ir.Cast(t, value)
        placed: dict[int, list] = {}
        for level, _, s in sorted(defs.values(), key=lambda d: (d[0], d[1])):
            at = max((m for m in kept if m <= level), default=-1)
            placed.setdefault(at, []).append(ir.Assign(renames[s.name], rename(s.value), None, s.loc))
        body: tuple[ir.Stmt, ...] = (
            ir.Assign(lo, ir.Call("min", (ir.Var(lo, t), value), t)),
            ir.Assign(hi, ir.Call("max", (ir.Var(hi, t), value), t)),
        )
        for m in reversed([-1] + kept):
            body = tuple(placed.get(m, ())) + body
            if m >= 0:
                x = loops[m]
                body = (ir.For(x.index, rename(x.start), rename(x.stop), rename(x.step), body, x.loc),)
        start = (ir.Assign(lo, ir.Const(2**63 - 1, t)), ir.Assign(hi, ir.Const(-(2**63), t)))
        return start + body


_PURE = frozenset({"min", "max", "abs", "floor", "ceil", "rint", "sqrt", "exp", "log", "sin", "cos", "tanh"})
