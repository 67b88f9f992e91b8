"""Reverse-mode AD of loop kernels: ``pullback(kernel, wrt)`` as an IR -> IR pass.

The pullback of a kernel is another kernel. Its parameters are the kernel's own,
then ``d<Y>`` for every float array the kernel writes (the incoming adjoints), then
``dresult`` if the kernel returns a scalar, then ``d<X>`` for every name in ``wrt``.
Adjoints accumulate (``dX += ...``), so callers zero them first.

How it is built (docs/autodiff.md has the user's view):

- The pullback reads the kernel's arrays *as the kernel left them*: inputs unchanged
  and outputs holding what the kernel stored (call the kernel first, or use
  ``forward=True``, which runs the kernel's body inside the pullback first).
- Scalar locals are **recomputed**, never taped: every loop body of the adjoint
  starts with a replay of the body's own local assignments (stores dropped), so a
  local's value is at hand where its derivative needs it. A value that cannot be
  replayed -- a local assigned again after the statement that needs it, a running
  sum read inside its own loop, an array read before the kernel overwrites it -- is
  refused with the statement's location. The replay is pruned to what the adjoint
  reads: ``Y[i] = tanh(acc)`` differentiates through the stored ``Y[i]``
  (``1 - Y*Y``), so the reduction producing ``acc`` is not replayed at all.
- Statements are processed in reverse; loops keep their forward order (adjoint
  updates of independent iterations commute) unless an active local is carried
  from one iteration to the next without being a reduction (a recurrence), in
  which case the adjoint loop runs backwards.
- Reductions: ``s += e`` passes ``ds`` unchanged to every term; ``s = max(s, e)``
  routes ``ds`` to the first element equal to the maximum (PyTorch's choice for max
  pooling), the initial value included.
- Afterwards ``fission`` splits each adjoint nest into nests with one accumulation
  each, saving shared per-iteration values in scratch arrays, and orders their
  loops so that the written index runs outermost (``dW = dZ * X^T`` becomes a
  dot-product nest the scheduler tiles like a gemm).
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field, replace
from fractions import Fraction

from .. import ir
from ..elaborate import RESERVED
from ..errors import DifferentiationError
from ..ir import DType
from .analysis import fresh_name, names_read
from .bounds import to_affine

Path = tuple[int, ...]


@dataclass(frozen=True)
class Pullback:
    """The result of the pass: the adjoint kernel and what the caller must know."""

    kernel: ir.Kernel  # parameters: visible ones, then scratch arrays
    visible: int  # how many parameters the caller passes
    scratch: tuple[ir.ArrayParam, ...]  # allocated by the caller per call (uninitialised)
    overlap: frozenset[str]  # arrays that must not share memory with any other argument
    adjoint_of: tuple[tuple[str, str], ...]  # (adjoint parameter, the primal parameter it belongs to)
    notes: tuple[str, ...] = field(default=())  # decisions, shown by explain()


def pullback_ir(kernel: ir.Kernel, wrt: tuple[str, ...], forward: bool = False, fission: bool = True) -> Pullback:
    """The pullback kernel of ``kernel`` with respect to the arrays ``wrt``."""
    d = _Differentiator(kernel, tuple(wrt), forward)
    k = d.build()
    notes = list(d.notes)
    scratch: tuple[ir.ArrayParam, ...] = ()
    if fission:
        from .fission import split_nests

        from .verify import verify

        k, scratch, more = split_nests(k, d.adjoint_arrays(), d.taken)
        notes += more
        k = verify(replace(k, params=k.params + scratch), "fission")
    visible = len(k.params) - len(scratch)
    adjoint_of = tuple((d.dname[p.name], p.name) for p in kernel.arrays if p.name in d.written and p.name in d.dname)
    if d.dresult is not None:
        adjoint_of += ((d.dresult, ""),)
    adjoint_of += tuple((d.dname[n], n) for n in wrt)
    return Pullback(k, visible, scratch, d.overlap(), adjoint_of, tuple(notes))


# ----------------------------------------------------------------------------- IR helpers


def const(v, t: DType) -> ir.Const:
    return ir.Const(float(v) if t.is_float else int(v), t)


def is_const(e: ir.Expr, v) -> bool:
    return isinstance(e, ir.Const) and e.value == v


def add(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    if is_const(a, 0):
        return b
    if is_const(b, 0):
        return a
    return ir.Binary("+", a, b, a.type)


def sub(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    if is_const(b, 0):
        return a
    if isinstance(a, ir.Const) and isinstance(b, ir.Const) and a.type.is_float:
        return const(a.value - b.value, a.type)  # x ** (2.0 - 1.0) is x ** 1.0: a multiply, not pow
    return ir.Binary("-", a, b, a.type)


def mul(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    if is_const(a, 1):
        return b
    if is_const(b, 1):
        return a
    return ir.Binary("*", a, b, a.type)


def div(a: ir.Expr, b: ir.Expr) -> ir.Expr:
    return ir.Binary("/", a, b, a.type)


def neg(a: ir.Expr) -> ir.Expr:
    if isinstance(a, ir.Unary) and a.op == "neg":
        return a.operand
    return ir.Unary("neg", a, a.type)


def select(c: ir.Expr, a: ir.Expr, b: ir.Expr) -> ir.Expr:
    return ir.Select(c, a, b, a.type)


def cmp(op: str, a: ir.Expr, b: ir.Expr) -> ir.Expr:
    return ir.Binary(op, a, b, DType.BOOL)


def call(fn: str, *args: ir.Expr) -> ir.Expr:
    return ir.Call(fn, tuple(args), args[0].type)


def _is_atom(e: ir.Expr) -> bool:
    return isinstance(e, (ir.Const, ir.Var)) or (isinstance(e, ir.Load) and all(isinstance(i, (ir.Var, ir.Const)) for i in e.indices))


def _under(path: Path, prefix: Path) -> bool:
    return path[: len(prefix)] == prefix


def _where(s, missing: str = "elsewhere") -> str:
    return f"line {s.loc.line}" if getattr(s, "loc", None) is not None else missing


# ----------------------------------------------------------------------------- the pass


@dataclass
class _Site:
    """One statement of the kernel: its path, its body's path and enclosing loops."""

    stmt: ir.Stmt
    path: Path
    body: Path  # path of the body it sits in: () or a loop's path or an if's path + (arm,)
    loops: tuple[tuple[Path, ir.For], ...]
    top: int  # index of its top-level statement


class _Differentiator:
    def __init__(self, kernel: ir.Kernel, wrt: tuple[str, ...], forward: bool):
        self.k = kernel
        self.forward = forward
        self.notes: list[str] = []
        self.locals = ir.local_types(kernel)
        self.written = ir.written_arrays(kernel)
        self.arrays = {p.name: p for p in kernel.arrays}
        for s in ir.walk_stmts(kernel.body):
            if type(s) in ir.CONTROL_WORDS:
                raise DifferentiationError(
                    f"pullback of '{kernel.name}': the pullback replays loops backwards and needs their trip counts; "
                    f"{ir.CONTROL_WORDS[type(s)]} makes them depend on the values computed", s.loc,
                    "write the loop as `for i in range(n)` over its full range, with an `if` around the body")
        self.sites: list[_Site] = []
        self._collect(kernel.body, (), (), ())
        self.site_at = {site.path: site for site in self.sites}
        self.bodies = {site.body for site in self.sites} | {()}
        self.taken = set(p.name for p in kernel.params) | set(kernel.dims) | set(self.locals) | RESERVED
        self.taken |= {s.stmt.index for s in self.sites if isinstance(s.stmt, ir.For)}
        self._check_wrt(wrt)
        self.wrt = wrt
        self._activity()
        self._classify_locals()
        self._check_arrays()
        self.dname: dict[str, str] = {}  # array or local -> its adjoint's name
        for p in kernel.arrays:
            if p.name in self.written and p.dtype.is_float:
                self.dname[p.name] = self.fresh("d" + p.name)
        self.dresult = self.fresh("dresult") if kernel.result is not None else None
        if kernel.result is not None and not kernel.result.is_float:
            self.dresult = None
        for name in wrt:
            self.dname[name] = self.fresh("d" + name)
        for name in self.locals:
            if name in self.active_locals:
                self.dname[name] = self.fresh("d" + name)
        self.temps: dict[str, DType] = {}
        self.routing: dict[str, str] = {}  # max/min accumulator -> its "already routed" flag

    # ------------------------------------------------------------------ names

    def fresh(self, base: str) -> str:
        return fresh_name(self.taken, base)

    def temp(self, t: DType, base: str = "t") -> ir.Var:
        name = self.fresh(base)
        self.temps[name] = t
        return ir.Var(name, t)

    # ------------------------------------------------------------------ facts about the kernel

    def _collect(self, body, bpath: Path, loops, path_prefix, top=None):
        for k, s in enumerate(body):
            path = path_prefix + (k,)
            t = k if top is None else top
            self.sites.append(_Site(s, path, bpath, loops, t))
            if isinstance(s, ir.For):
                self._collect(s.body, path, loops + ((path, s),), path, t)
            elif isinstance(s, ir.If):
                self._collect(s.then, path + (0,), loops, path + (0,), t)
                self._collect(s.orelse, path + (1,), loops, path + (1,), t)

    def _check_wrt(self, wrt) -> None:
        if isinstance(wrt, str):
            raise TypeError("wrt must be a tuple of parameter names, e.g. wrt=('W', 'X')")
        if len(set(wrt)) != len(wrt):
            raise TypeError(f"wrt names a parameter twice: {wrt!r}")
        for name in wrt:
            p = self.k.param(name)
            if p is None:
                names = ", ".join(q.name for q in self.k.params)
                raise TypeError(f"pullback of '{self.k.name}': wrt names '{name}', which is not a parameter ({names})")
            if isinstance(p, ir.ScalarParam):
                raise DifferentiationError(
                    f"pullback of '{self.k.name}': '{name}' is a scalar; turbo differentiates with respect to arrays",
                    p.loc, f"pass '{name}' as a 1-element array ({name}: {p.dtype}[1]) and read {name}[0]")
            if not p.dtype.is_float:
                raise DifferentiationError(f"pullback of '{self.k.name}': '{name}' is an {p.dtype} array; "
                                           "only float arrays have derivatives", p.loc)
            if name in self.written:
                raise DifferentiationError(
                    f"pullback of '{self.k.name}': '{name}' is written by the kernel, so its adjoint is the input "
                    f"'d{name}' already; wrt names the arrays the kernel only reads", p.loc,
                    f"drop '{name}' from wrt; for an array updated in place (Y[i] += ...) the adjoint of its "
                    f"initial value equals d{name}")

    def _depends(self, e: ir.Expr) -> bool:
        for x in ir.walk_expr(e):
            if isinstance(x, ir.Var) and x.name in self.tainted:
                return True
            if isinstance(x, ir.Load) and x.array in self.active_arrays:
                return True
        return False

    def _activity(self) -> None:
        """Forward activity: which arrays and locals depend on a wrt array."""
        self.active_arrays = set(self.wrt)
        self.tainted: set[str] = set()  # locals of any type whose value depends on wrt
        changed = True
        while changed:
            changed = False
            for site in self.sites:
                s = site.stmt
                if isinstance(s, ir.Assign) and s.name not in self.tainted and self._depends(s.value):
                    self.tainted.add(s.name)
                    changed = True
                elif isinstance(s, ir.Store) and s.array not in self.active_arrays and self.arrays[s.array].dtype.is_float \
                        and self._depends(s.value):
                    self.active_arrays.add(s.array)
                    changed = True
        self.active_locals = {n for n in self.tainted if self.locals[n].is_float}

    def _classify_locals(self) -> None:
        """single: assigned once on every path (both arms of an if count once);
        reductions: ``s = init`` then a loop doing only reduction updates of s."""
        from .analysis import reduction_op

        assigns: dict[str, list[_Site]] = {}
        for site in self.sites:
            if isinstance(site.stmt, ir.Assign):
                assigns.setdefault(site.stmt.name, []).append(site)
        self.assigns = assigns

        def count(name, body) -> int:
            n = 0
            for s in body:
                if isinstance(s, ir.Assign) and s.name == name:
                    n += 1 if s.op is None and name not in names_read(s.value) else 2
                elif isinstance(s, ir.For):
                    n += count(name, s.body)
                elif isinstance(s, ir.If):
                    n += max(count(name, s.then), count(name, s.orelse))
            return n

        self.single = {n for n in assigns if count(n, self.k.body) == 1}
        self.reductions: dict[str, tuple[str, _Site, _Site]] = {}  # name -> (op, init site, loop site)
        for name, sites in assigns.items():
            if name in self.single:
                continue
            init = sites[0]
            if init.stmt.op is not None or name in names_read(init.stmt.value):
                continue
            # the loop holding every other assignment: a later sibling of the init
            rest = sites[1:]
            if not rest:
                continue
            loop_path = rest[0].path[: len(init.body) + 1]
            loop = self.site_at.get(loop_path)
            if loop is None or not isinstance(loop.stmt, ir.For) or loop.body != init.body or loop_path <= init.path:
                continue
            if not all(_under(r.path, loop_path) for r in rest):
                continue
            op = reduction_op(name, loop.stmt.body)
            if op is None:
                continue
            self.reductions[name] = (op, init, loop)
        self.homes: dict[str, Path] = {}
        for name, sites in assigns.items():
            common = sites[0].body
            for site in sites[1:]:
                n = 0
                while n < min(len(common), len(site.body)) and common[n] == site.body[n]:
                    n += 1
                common = common[:n]
            # a common prefix may end inside an if's path; cut back to a real body
            self.homes[name] = self._real_body(common)

    def _real_body(self, p: Path) -> Path:
        while p not in self.bodies:
            p = p[:-1]
        return p

    def _check_arrays(self) -> None:
        """Arrays: every read of an array the kernel writes sees its final value,
        and every active ``=`` store writes each element once."""
        stores: dict[str, list[_Site]] = {}
        for site in self.sites:
            if isinstance(site.stmt, ir.Store):
                stores.setdefault(site.stmt.array, []).append(site)
        self.stores = stores
        for site in self.sites:
            s = site.stmt
            for e in ir.stmt_exprs(s):
                for x in ir.walk_expr(e):
                    if isinstance(x, ir.Load) and x.array in stores:
                        late = [w for w in stores[x.array] if w.top >= site.top]
                        if late:
                            w = late[0]
                            raise DifferentiationError(
                                f"pullback of '{self.k.name}': '{x.array}' is read here and written in the same loop "
                                f"nest or later ({_where(w.stmt)}); the pullback reads arrays as the kernel left them, "
                                "so it would see a value this read did not", x.loc or s.loc,
                                f"store the new values into a separate array, or move the read of '{x.array}' "
                                "into a later loop nest")
        for name, sites in stores.items():
            if name not in self.active_arrays:
                continue
            plain = [w for w in sites if w.stmt.op is None]
            for w in sites:
                s = w.stmt
                if s.op in ("*", "/"):
                    raise DifferentiationError(
                        f"pullback of '{self.k.name}': '{name}[...] {s.op}= ...' needs the value '{name}' had before "
                        "the update, which the kernel overwrote", s.loc,
                        f"write the product into a separate output array ({name}2[...] = {name}[...] {s.op} ...)")
            for w in plain:
                if self._depends(w.stmt.value):
                    self._check_injective(w)
            for a in range(len(plain)):
                for b in range(a + 1, len(plain)):
                    if not self._exclusive(plain[a].path, plain[b].path) and not self._disjoint(plain[a].stmt, plain[b].stmt):
                        raise DifferentiationError(
                            f"pullback of '{self.k.name}': '{name}' is assigned by two statements "
                            f"({_where(plain[a].stmt)} and {_where(plain[b].stmt)}); the pullback cannot tell which "
                            "value survives in an element both write", plain[b].stmt.loc,
                            "assign each element once (an if/else choosing the value), or accumulate with +=")
            for w in sites:
                if w.stmt.op is None:
                    continue
                for p in plain:
                    if p.top > w.top or (p.top == w.top and (p.path > w.path or p.stmt.indices != w.stmt.indices)):
                        raise DifferentiationError(
                            f"pullback of '{self.k.name}': '{name}' is accumulated ({_where(w.stmt)}) and assigned "
                            f"({_where(p.stmt)}) in a way that may overwrite accumulated elements", p.stmt.loc,
                            "assign the initial value first, then accumulate into the same element "
                            f"({name}[i] = b; ... {name}[i] += ...)")

    def _exclusive(self, a: Path, b: Path) -> bool:
        """Whether two statements sit in different arms of one if."""
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        if n >= min(len(a), len(b)) or n == 0:
            return False
        # they diverge at position n; when the common prefix is an if's path,
        # position n is the arm number
        site = self.site_at.get(a[:n])
        return site is not None and isinstance(site.stmt, ir.If) and a[n] != b[n]

    def _disjoint(self, a: ir.Store, b: ir.Store) -> bool:
        """Whether two stores can never write one element: some subscript is a
        different constant (given dims and scalars) in each, e.g. Y[i, 0] and Y[i, 1]."""
        dims = frozenset(self.k.dims)
        ints = frozenset(p.name for p in self.k.scalars if p.dtype.is_int)
        for x, y in zip(a.indices, b.indices):
            fx, fy = to_affine(x, dims, ints, frozenset()), to_affine(y, dims, ints, frozenset())
            if fx is None or fy is None:
                continue
            diff = {key: fx.get(key, 0) - fy.get(key, 0) for key in set(fx) | set(fy)}
            if diff.get("", 0) != 0 and all(v == 0 for key, v in diff.items() if key != ""):
                return True
        return False

    def _check_injective(self, w: _Site) -> None:
        s = w.stmt
        loops = [lp for _, lp in w.loops]
        if not loops:
            return
        names = frozenset(lp.index for lp in loops)
        dims = frozenset(self.k.dims)
        ints = frozenset(p.name for p in self.k.scalars if p.dtype.is_int)
        rows = []
        for e in s.indices:
            a = to_affine(e, dims, ints, names)
            if a is not None:
                rows.append([Fraction(a.get(lp.index, 0)) for lp in loops])
        if _rank(rows) < len(loops):
            missing = [lp for lp in loops if not any(r[i] for r, i in ((r, loops.index(lp)) for r in rows))]
            which = f"'{missing[0].index}'" if missing else "its loops"
            raise DifferentiationError(
                f"pullback of '{self.k.name}': '{s.array}[...] = ...' may write one element from several "
                f"iterations (the index does not determine {which}); only the last write survives, and the pullback "
                "cannot tell which", s.loc,
                "accumulate with += if every iteration should contribute, or index the store by every loop")

    # ------------------------------------------------------------------ stability of primal values

    def check_values(self, e: ir.Expr, site: _Site) -> None:
        """Every local ``e`` reads must have, after the replay, the value it had at ``site``."""
        for name in names_read(e):
            if name not in self.locals or name in self.single:
                continue
            red = self.reductions.get(name)
            if red is not None and not _under(site.path, red[2].path):
                continue
            if red is not None:
                why = (f"'{name}' is accumulated in the loop at {_where(red[2].stmt)}; its running value inside "
                       "that loop is not kept")
                hint = f"read '{name}' only after the loop, or accumulate the values you need into an array"
            else:
                lines = ", ".join(_where(a.stmt) for a in self.assigns.get(name, []))
                why = f"'{name}' is assigned more than once ({lines}) and the pullback recomputes locals instead of saving them"
                hint = "give each value its own local name"
            raise DifferentiationError(
                f"pullback of '{self.k.name}': the derivative of this statement needs the value of '{name}' here; {why}",
                site.stmt.loc, hint)

    # ------------------------------------------------------------------ building

    def adjoint_arrays(self) -> frozenset[str]:
        return frozenset(self.dname[a] for a in self.arrays if a in self.dname)

    def overlap(self) -> frozenset[str]:
        # the kernel's outputs must not share memory with its inputs: had they, the
        # kernel overwrote values the pullback reads
        return frozenset(self.written)

    def build(self) -> ir.Kernel:
        k = self.k
        params = list(k.params)
        for p in k.arrays:
            if p.name in self.written and p.dtype.is_float:
                params.append(ir.ArrayParam(self.dname[p.name], p.dtype, p.shape))
        if self.dresult is not None:
            params.append(ir.ScalarParam(self.dresult, k.result))
        for name in self.wrt:
            p = self.arrays[name]
            params.append(ir.ArrayParam(self.dname[name], p.dtype, p.shape))
        body: list[ir.Stmt] = []
        main = k.body
        ret = None
        if main and isinstance(main[-1], ir.Return):
            ret, main = main[-1], main[:-1]
        if self.forward:
            body += main
        body += self.replay(main, ())
        body += self.reverse(main, (), ret)
        if ret is not None:
            body.append(ret)
        body = _fold_zero_inits(tuple(body), {self.dname[n] for n in self.active_locals})
        body = _inline_temps(body, set(self.temps))
        body = _dead_code(body)
        name = k.name + "_pullback"
        out = ir.Kernel(name, tuple(params), body, k.loc)
        from .verify import verify

        return verify(out, "autodiff")

    def replay(self, body, bpath: Path) -> list[ir.Stmt]:
        """The statements of ``body`` that compute locals at home in ``bpath``
        (and what they need inside the loops and ifs that compute them)."""
        out = []
        for k, s in enumerate(body):
            got = self._replay_stmt(s, bpath + (k,), bpath, top=True)
            if got is not None:
                out.append(got)
        return out

    def sweep(self, body, bpath: Path) -> list[ir.Stmt]:
        """The adjoint of a body: its locals replayed, then its statements reversed."""
        return self.replay(body, bpath) + self.reverse(body, bpath)

    def _replay_stmt(self, s, path: Path, home: Path, top: bool):
        if isinstance(s, ir.Assign):
            # at the top of the body: the body's own locals; inside a loop or if
            # replayed for them: also the temporaries that loop or if computes
            mine = self.homes.get(s.name)
            return s if mine == home or (not top and mine is not None and _under(mine, path[:-1]) and len(mine) > len(home)) else None
        if isinstance(s, ir.For):
            if not any(self.homes.get(a.name) == home for a in ir.walk_stmts(s.body) if isinstance(a, ir.Assign)):
                return None
            inner = [self._replay_stmt(c, path + (j,), home, False) for j, c in enumerate(s.body)]
            return replace(s, body=tuple(c for c in inner if c is not None))
        if isinstance(s, ir.If):
            stmts = list(ir.walk_stmts(s.then)) + list(ir.walk_stmts(s.orelse))
            if not any(self.homes.get(a.name) == home for a in stmts if isinstance(a, ir.Assign)):
                return None
            then = [self._replay_stmt(c, path + (0, j), home, False) for j, c in enumerate(s.then)]
            orelse = [self._replay_stmt(c, path + (1, j), home, False) for j, c in enumerate(s.orelse)]
            return replace(s, then=tuple(c for c in then if c is not None), orelse=tuple(c for c in orelse if c is not None))
        return None

    def reverse(self, body, bpath: Path, ret: ir.Return | None = None) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        if ret is not None and self.dresult is not None:
            site = _Site(ret, (len(body),), (), (), len(body))
            out += self.propagate(ret.value, ir.Var(self.dresult, ret.value.type), site)
        for k in range(len(body) - 1, -1, -1):
            out += self.adjoint(self.site_at[bpath + (k,)])
        inits = [ir.Assign(self.dname[n], const(0, self.locals[n]))
                 for n in self.locals if n in self.active_locals and self.homes.get(n) == bpath]
        return inits + out

    def adjoint(self, site: _Site) -> list[ir.Stmt]:
        s = site.stmt
        if isinstance(s, ir.Store):
            if s.array not in self.dname or not self._depends(s.value):
                return []
            self.check_values(ir.Load(s.array, s.indices, s.value.type), site)
            seed: ir.Expr = ir.Load(self.dname[s.array], s.indices, self.arrays[s.array].dtype)
            if s.op == "-":
                seed = neg(seed)
            result = None
            if s.op is None and len(self.stores[s.array]) == 1:
                result = ir.Load(s.array, s.indices, self.arrays[s.array].dtype)
            return self.propagate(s.value, seed, site, result)
        if isinstance(s, ir.Assign):
            return self._adjoint_assign(site)
        if isinstance(s, ir.For):
            return self._adjoint_loop(site)
        if isinstance(s, ir.If):
            self.check_values(s.cond, site)
            then = self.sweep(s.then, site.path + (0,))
            orelse = self.sweep(s.orelse, site.path + (1,))
            if not then and not orelse:
                return []
            return [ir.If(s.cond, tuple(then), tuple(orelse), s.loc)]
        return []

    def _adjoint_assign(self, site: _Site) -> list[ir.Stmt]:
        from .analysis import reduction_update

        s = site.stmt
        x = s.name
        if x not in self.active_locals:
            return []
        dx = ir.Var(self.dname[x], self.locals[x])
        red = self.reductions.get(x)
        if red is not None and red[1] is site:
            if red[0] in ("min", "max"):
                # the initial value gets the gradient when it is the extremum
                if not self._depends(s.value):
                    return []
                self.check_values(s.value, site)
                cond = cmp("==", s.value, ir.Var(x, self.locals[x]))
                return [ir.If(cond, tuple(self.propagate(s.value, dx, site)), (), s.loc)]
            return self.propagate(s.value, dx, site)
        upd = reduction_update(s)
        if upd is not None and upd.op in ("+", "-"):
            return self.propagate(upd.value, dx if upd.op == "+" else neg(dx), site)
        if upd is not None and upd.op in ("*", "/"):
            if self._depends(upd.value):
                raise DifferentiationError(
                    f"pullback of '{self.k.name}': '{x}' is updated by {'a product' if upd.op == '*' else 'a quotient'} "
                    f"of values that depend on {', '.join(self.wrt)}; its derivative needs the value '{x}' had before "
                    "each update, which the pullback does not keep", s.loc,
                    "accumulate logarithms (s += log(e)) and take exp(s), or store the factors into an array")
            self.check_values(upd.value, site)
            op = "*" if upd.op == "*" else "/"
            return [ir.Assign(dx.name, ir.Binary(op, dx, upd.value, dx.type), None, s.loc)]
        if upd is not None and upd.op in ("min", "max") and red is not None:
            flag = self.routing[x]
            self.check_values(upd.value, site)
            hit = cmp("and", ir.Unary("not", ir.Var(flag, DType.BOOL), DType.BOOL),
                      cmp("==", upd.value, ir.Var(x, self.locals[x])))
            if not self._depends(upd.value):
                return [ir.If(hit, (ir.Assign(flag, ir.Const(True, DType.BOOL)),), (), s.loc)]
            return [ir.If(hit, tuple(self.propagate(upd.value, dx, site)) + (ir.Assign(flag, ir.Const(True, DType.BOOL)),), (), s.loc)]
        if s.op is not None:
            raise DifferentiationError(f"pullback of '{self.k.name}': cannot differentiate '{x} {s.op}= ...' here",
                                       s.loc, f"assign a new local instead ({x}2 = {x} {s.op} ...)")
        if x in self.single:
            return self.propagate(s.value, dx, site)
        t = self.temp(dx.type, "g")
        return [ir.Assign(t.name, dx), ir.Assign(dx.name, const(0, dx.type))] + self.propagate(s.value, t, site)

    def _adjoint_loop(self, site: _Site) -> list[ir.Stmt]:
        from .analysis import exposed, reduction_op

        s: ir.For = site.stmt
        for e in (s.start, s.stop, s.step):
            self.check_values(e, site)
        pre: list[ir.Stmt] = []
        for name, (op, init, loop) in self.reductions.items():
            if loop is site and op in ("min", "max") and name in self.active_locals:
                flag = self.fresh("routed")
                self.temps[flag] = DType.BOOL
                self.routing[name] = flag
                self.check_values(init.stmt.value, init)
                pre.append(ir.Assign(flag, cmp("==", init.stmt.value, ir.Var(name, self.locals[name]))))
        inner = self.sweep(s.body, site.path)
        recurrence = [n for n in self.active_locals
                      if exposed(n, s.body) and any(_under(a.path, site.path) for a in self.assigns.get(n, []))
                      and reduction_op(n, s.body) is None]
        loop = replace(s, body=tuple(inner))
        if recurrence:
            loop = self._reversed(loop, recurrence[0])
            self.notes.append(f"loop '{s.index}' ({_where(s)}): adjoint runs backwards (recurrence through '{recurrence[0]}')")
        return pre + [loop]

    def _reversed(self, s: ir.For, why: str) -> ir.For:
        step = s.step
        if not isinstance(step, ir.Const) or step.value not in (1, -1):
            raise DifferentiationError(
                f"pullback of '{self.k.name}': '{why}' carries a value from one iteration of loop '{s.index}' to the "
                "next, so its adjoint must run the loop backwards, which turbo does for steps 1 and -1 only", s.loc)
        one = const(1, DType.I64)
        if step.value == 1:
            return replace(s, start=sub(s.stop, one), stop=sub(s.start, one), step=const(-1, DType.I64))
        return replace(s, start=add(s.stop, one), stop=add(s.start, one), step=one)

    # ------------------------------------------------------------------ expressions

    def propagate(self, e: ir.Expr, adj: ir.Expr, site: _Site, result: ir.Expr | None = None) -> list[ir.Stmt]:
        """Statements adding ``adj`` (the adjoint of ``e``'s value) to the adjoints
        of everything ``e`` reads. ``result``, when given, is an expression with
        ``e``'s value (a stored output), used by rules that can be written with it."""
        if not e.type.is_float or not self._depends(e):
            return []
        out: list[ir.Stmt] = []
        if not _is_atom(adj):
            t = self.temp(adj.type, "g")
            out.append(ir.Assign(t.name, adj))
            adj = t
        out += self._rule(e, adj, site, result)
        return out

    def _rule(self, e: ir.Expr, a: ir.Expr, site: _Site, result) -> list[ir.Stmt]:
        P = lambda x, adj: self.propagate(x, adj, site)  # noqa: E731
        if isinstance(e, ir.Var):
            if e.name in self.dname and e.name in self.active_locals:
                return [ir.Assign(self.dname[e.name], a, "+")]
            return []
        if isinstance(e, ir.Load):
            if e.array in self.dname:
                for i in e.indices:
                    self.check_values(i, site)
                return [ir.Store(self.dname[e.array], e.indices, a, "+")]
            return []
        if isinstance(e, ir.Cast):
            if not e.operand.type.is_float:
                raise self._nondiff(e, site, f"converts an {e.operand.type} value that depends on "
                                    f"{', '.join(self.wrt)} to {e.to}: a step function, whose derivative is zero "
                                    "almost everywhere")
            return P(e.operand, ir.Cast(e.operand.type, a))
        if isinstance(e, ir.Unary):
            return P(e.operand, neg(a))
        if isinstance(e, ir.Select):
            self.check_values(e.cond, site)
            z = const(0, e.type)
            return P(e.if_true, select(e.cond, a, z)) + P(e.if_false, select(e.cond, z, a))
        if isinstance(e, ir.Binary):
            return self._binary(e, a, site)
        if isinstance(e, ir.Call):
            return self._call(e, a, site, result)
        return []

    def _binary(self, e: ir.Binary, a, site) -> list[ir.Stmt]:
        P = lambda x, adj: self.propagate(x, adj, site)  # noqa: E731
        x, y = e.left, e.right
        if e.op == "+":
            return P(x, a) + P(y, a)
        if e.op == "-":
            return P(x, a) + P(y, neg(a))
        if e.op == "*":
            out = []
            if self._depends(x):
                self.check_values(y, site)
                out += P(x, mul(a, y))
            if self._depends(y):
                self.check_values(x, site)
                out += P(y, mul(a, x))
            return out
        if e.op == "/":
            self.check_values(y, site)
            out = []
            if self._depends(x):
                out += P(x, div(a, y))
            if self._depends(y):
                self.check_values(x, site)
                out += P(y, neg(div(mul(a, x), mul(y, y))))
            return out
        if e.op == "**":
            return self._power(e, x, y, a, site)
        raise self._nondiff(e, site, f"applies '{e.op}' to a value that depends on {', '.join(self.wrt)}: "
                            "a step function, whose derivative is zero almost everywhere")

    def _power(self, e, x, y, a, site) -> list[ir.Stmt]:
        P = lambda v, adj: self.propagate(v, adj, site)  # noqa: E731
        self.check_values(x, site)
        self.check_values(y, site)
        out = []
        if not y.type.is_float:
            # x ** n, n an integer: n * x ** (n - 1)
            n = ir.Cast(x.type, y)
            out += P(x, mul(a, mul(n, ir.Binary("**", x, sub(y, const(1, y.type)), x.type))))
            if self._depends(y):
                raise self._nondiff(e, site, "uses an integer exponent that depends on the differentiated arrays")
            return out
        if self._depends(x):
            out += P(x, mul(a, mul(y, ir.Binary("**", x, sub(y, const(1, y.type)), x.type))))
        if self._depends(y):
            out += P(y, mul(a, mul(e, call("log", x))))
        return out

    def _call(self, e: ir.Call, a, site, result) -> list[ir.Stmt]:
        P = lambda v, adj: self.propagate(v, adj, site)  # noqa: E731
        fn = e.fn
        x = e.args[0]
        t = e.type
        one = const(1, t)
        if fn in ("floor", "ceil", "rint"):
            raise self._nondiff(e, site, f"applies {fn} to a value that depends on {', '.join(self.wrt)}: "
                                "a step function, whose derivative is zero almost everywhere")
        if fn in ("min", "max"):
            y = e.args[1]
            self.check_values(x, site)
            self.check_values(y, site)
            first = cmp(">=" if fn == "max" else "<=", x, y)
            z = const(0, t)
            if result is not None and (is_const(y, 0) or is_const(y, 0.0)) and fn == "max":
                first = cmp(">", result, z)  # relu through its output: same choice away from 0
            return P(x, select(first, a, z)) + P(y, select(first, z, a))
        if fn == "pow":
            return self._power(e, x, e.args[1], a, site)
        if fn in ("atan2", "hypot", "copysign"):
            return self._call2(e, a, site, result)
        self.check_values(x, site)
        r = result if result is not None else e
        pre: list[ir.Stmt] = []
        if result is None and fn in ("tanh", "sigmoid", "tan"):
            # the derivative uses the value twice: compute it once
            r = self.temp(t, "r")
            pre.append(ir.Assign(r.name, e))
        if fn == "exp":
            d = r
        elif fn == "log":
            return P(x, div(a, x))
        elif fn == "sqrt":
            return P(x, div(mul(a, const(0.5, t)), r))
        elif fn == "sin":
            d = call("cos", x)
        elif fn == "cos":
            d = neg(call("sin", x))
        elif fn == "tanh":
            d = sub(one, mul(r, r))
        elif fn == "sigmoid":
            d = mul(r, sub(one, r))
        elif fn == "abs":
            z = const(0, t)
            return P(x, select(cmp(">", x, z), a, select(cmp("<", x, z), neg(a), z)))
        elif fn in ("log2", "log10"):
            return P(x, div(a, mul(x, const(math.log(2.0 if fn == "log2" else 10.0), t))))
        elif fn == "log1p":
            return P(x, div(a, add(one, x)))
        elif fn == "exp2":
            d = mul(r, const(math.log(2.0), t))
        elif fn == "expm1":
            d = add(r, one)
        elif fn in ("sinh", "cosh"):
            d = call("cosh" if fn == "sinh" else "sinh", x)
        elif fn == "tan":
            d = add(one, mul(r, r))
        elif fn == "atan":
            return P(x, div(a, add(one, mul(x, x))))
        elif fn in ("asin", "acos"):  # ±1 / sqrt(1 - x²): infinite at ±1, as the functions' slopes are
            d = div(a, call("sqrt", sub(one, mul(x, x))))
            return P(x, d if fn == "asin" else neg(d))
        elif fn == "erf":
            d = mul(const(2.0 / math.sqrt(math.pi), t), call("exp", neg(mul(x, x))))
        else:
            raise self._nondiff(e, site, f"calls {fn}, which has no derivative rule")
        return pre + P(x, mul(a, d))

    def _call2(self, e: ir.Call, a, site, result) -> list[ir.Stmt]:
        """atan2(y, x), hypot(x, y), copysign(x, y)."""
        P = lambda v, adj: self.propagate(v, adj, site)  # noqa: E731
        u, v = e.args
        t = e.type
        self.check_values(u, site)
        self.check_values(v, site)
        if e.fn == "copysign":
            # |u| with v's sign: the derivative in u is +-1 (the signs' product), in v zero a.e.
            one = const(1, t)
            return P(u, mul(a, mul(ir.Call("copysign", (one, u), t), ir.Call("copysign", (one, v), t))))
        if e.fn == "hypot":
            r = result if result is not None else e
            return P(u, mul(a, div(u, r))) + P(v, mul(a, div(v, r)))
        # atan2(u, v): d/du = v / (u^2 + v^2), d/dv = -u / (u^2 + v^2)
        q = add(mul(u, u), mul(v, v))
        return P(u, div(mul(a, v), q)) + P(v, neg(div(mul(a, u), q)))

    def _nondiff(self, e, site, what: str) -> DifferentiationError:
        return DifferentiationError(
            f"pullback of '{self.k.name}': this expression {what}; turbo refuses to drop that derivative silently",
            getattr(e, "loc", None) or site.stmt.loc,
            "if the value should be treated as a constant, compute it in a separate kernel and pass it in as an input")


def _rank(rows: list[list[Fraction]]) -> int:
    m = [r[:] for r in rows]
    rank = 0
    cols = len(m[0]) if m else 0
    for c in range(cols):
        pivot = next((r for r in range(rank, len(m)) if m[r][c] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        for r in range(len(m)):
            if r != rank and m[r][c] != 0:
                f = m[r][c] / m[rank][c]
                m[r] = [u - f * v for u, v in zip(m[r], m[rank])]
        rank += 1
    return rank


# ----------------------------------------------------------------------------- clean-up


def _mentions(name: str, s: ir.Stmt) -> bool:
    for t in ir.walk_stmts((s,)):
        if isinstance(t, ir.Assign) and t.name == name:
            return True
        if any(name in names_read(e) for e in ir.stmt_exprs(t)):
            return True
    return False


def _fold_zero_inits(body: tuple[ir.Stmt, ...], adjoints: set[str]) -> tuple[ir.Stmt, ...]:
    """``dx = 0`` followed (at the same level) by ``dx += e`` becomes ``dx = e``."""
    out = list(body)
    k = 0
    while k < len(out):
        s = out[k]
        if isinstance(s, ir.Assign) and s.op is None and s.name in adjoints and is_const(s.value, 0):
            j = next((j for j in range(k + 1, len(out)) if _mentions(s.name, out[j])), None)
            if j is not None:
                t = out[j]
                if isinstance(t, ir.Assign) and t.name == s.name and t.op in ("+", "-") and s.name not in names_read(t.value):
                    out[j] = ir.Assign(s.name, t.value if t.op == "+" else neg(t.value), None, t.loc)
                    del out[k]
                    continue
            else:
                del out[k]
                continue
        k += 1
    return _in_nested(out, lambda b: _fold_zero_inits(b, adjoints))


def _in_nested(stmts, rewrite) -> tuple[ir.Stmt, ...]:
    """``stmts`` with ``rewrite`` applied to the body of every loop and if among them."""
    result = []
    for s in stmts:
        if isinstance(s, ir.For):
            s = replace(s, body=rewrite(s.body))
        elif isinstance(s, ir.If):
            s = replace(s, then=rewrite(s.then), orelse=rewrite(s.orelse))
        result.append(s)
    return tuple(result)


def _substitute(e: ir.Expr, name: str, value: ir.Expr) -> ir.Expr:
    if isinstance(e, ir.Var):
        return value if e.name == name else e
    return ir.map_operands(e, lambda x: _substitute(x, name, value))


def _subst_stmt(s: ir.Stmt, name: str, value: ir.Expr) -> ir.Stmt:
    if isinstance(s, ir.Assign):
        v = _substitute(s.value, name, value)
        if s.op == "+" and isinstance(v, ir.Unary) and v.op == "neg":
            return replace(s, value=v.operand, op="-")
        return replace(s, value=v)
    if isinstance(s, ir.Store):
        v = _substitute(s.value, name, value)
        idx = tuple(_substitute(i, name, value) for i in s.indices)
        if s.op == "+" and isinstance(v, ir.Unary) and v.op == "neg":
            return replace(s, indices=idx, value=v.operand, op="-")
        return replace(s, indices=idx, value=v)
    if isinstance(s, ir.If):
        return replace(s, cond=_substitute(s.cond, name, value))
    return s


def _inline_temps(body: tuple[ir.Stmt, ...], temps: set[str]) -> tuple[ir.Stmt, ...]:
    """``g = e`` used once, by a later statement of the same block with nothing
    between them changing what ``e`` reads, is substituted into that statement."""
    uses: dict[str, int] = {}
    for s in ir.walk_stmts(body):
        for e in ir.stmt_exprs(s):
            for x in ir.walk_expr(e):
                if isinstance(x, ir.Var):
                    uses[x.name] = uses.get(x.name, 0) + 1
    assigned = {}
    for s in ir.walk_stmts(body):
        if isinstance(s, ir.Assign):
            assigned[s.name] = assigned.get(s.name, 0) + 1
    return _inline_block(body, {t for t in temps if uses.get(t) == 1 and assigned.get(t) == 1})


def _inline_block(body, once: set[str]) -> tuple[ir.Stmt, ...]:
    out = list(body)
    k = 0
    while k < len(out):
        s = out[k]
        if isinstance(s, ir.Assign) and s.name in once and s.op is None:
            reads = names_read(s.value)
            loads = {x.array for x in ir.walk_expr(s.value) if isinstance(x, ir.Load)}
            for j in range(k + 1, len(out)):
                t = out[j]
                direct = isinstance(t, (ir.Assign, ir.Store, ir.If)) and any(s.name in names_read(e) for e in ir.stmt_exprs(t))
                if direct:
                    out[j] = _subst_stmt(t, s.name, s.value)
                    del out[k]
                    k -= 1
                    break
                if _mentions(s.name, t) or any(isinstance(u, ir.Assign) and u.name in reads for u in ir.walk_stmts((t,))) \
                        or any(isinstance(u, ir.Store) and u.array in loads for u in ir.walk_stmts((t,))):
                    break
        k += 1
    return _in_nested(out, lambda b: _inline_block(b, once))


def _dead_code(body: tuple[ir.Stmt, ...]) -> tuple[ir.Stmt, ...]:
    """Drop assignments to locals nothing reads, then loops and ifs left empty."""
    while True:
        used: set[str] = set()
        for s in ir.walk_stmts(body):
            for e in ir.stmt_exprs(s):
                names = set(names_read(e))
                if isinstance(s, ir.Assign):
                    names.discard(s.name)
                used |= names
        new = _prune(body, used)
        if new == body:
            return body
        body = new


def _prune(body, used) -> tuple[ir.Stmt, ...]:
    out = []
    for s in body:
        if isinstance(s, ir.Assign) and s.name not in used:
            continue
        if isinstance(s, ir.For):
            inner = _prune(s.body, used)
            if not inner:
                continue
            s = replace(s, body=inner)
        elif isinstance(s, ir.If):
            then, orelse = _prune(s.then, used), _prune(s.orelse, used)
            if not then and not orelse:
                continue
            s = replace(s, then=then, orelse=orelse)
        out.append(s)
    return tuple(out)
