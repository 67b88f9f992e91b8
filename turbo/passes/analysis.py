"""Loop analysis: loops and their places, accesses, dependences, reductions.

Everything the scheduler needs to know before it may transform a loop nest, and
nothing it decides. A *region* is a loop nest the scheduler wants to transform:
its root loop and a chain of transformed loops inside it (``T``), the innermost of
which may be vectorized (``V``); the others are unrolled and jammed. Executing a
region means running several iterations of the ``T`` loops ("instances") side by
side, statement by statement, so ``region_problems`` checks that no instance can
see another's effects:

- every array written in the region is accessed with one subscript tuple, and each
  ``T`` loop index appears alone (with loops of the region) in one subscript, so
  distinct instances touch distinct elements;
- a scalar local carried from one iteration of a ``T`` loop to the next is a
  reduction (``s += e``, ``s = max(s, e)``, ...) not read otherwise in that loop;
  any other local is private to the iteration and not needed after the loop;
- nothing in the region can fail at run time (a bounds check, an integer
  division), so executing iterations early or speculatively is invisible;
- loops run once for several instances have the same bounds for all of them.

Loops are named by their *path*: the positions of the statements leading to them
from the kernel's body, where an ``if`` contributes its position and 0 (then) or 1
(else). Codegen walks the body the same way.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .. import ir
from .bounds import (LoopRange, access_checks, add_forms, coefficient, extreme, factors, loop_range, mentions,
                     product_terms, provably_nonneg, scale_form, symbols_of, to_affine)

Path = tuple[int, ...]

# lanes of a vector access at most this many elements apart (``x[2*i]``, or a loop
# of step 2) are read by that many plain loads and shuffles (codegen/vector.py
# ``deinterleave``), not gathered
MAX_EVERY = 4

# reduction op -> how partial results combine
COMBINE = {"+": "+", "-": "+", "*": "*", "/": "*", "min": "min", "max": "max", "&": "&", "|": "|", "^": "^"}


@dataclass(frozen=True)
class LoopSite:
    path: Path
    loop: ir.For
    outer: tuple[ir.For, ...] = ()  # enclosing loops, outermost first
    outer_paths: tuple[Path, ...] = ()  # their paths


def loop_sites(body: tuple[ir.Stmt, ...], path: Path = (), outer: tuple[ir.For, ...] = (),
               outer_paths: tuple[Path, ...] = ()):
    """Every loop with its path and enclosing loops, pre-order."""
    for k, s in enumerate(body):
        if isinstance(s, ir.For):
            here = path + (k,)
            yield LoopSite(here, s, outer, outer_paths)
            yield from loop_sites(s.body, here, outer + (s,), outer_paths + (here,))
        elif isinstance(s, ir.While):
            # the nests in a while loop's body (a sweep repeated until it converges)
            # are scheduled; the while loop itself, and any loop around it, are not
            yield from loop_sites(s.body, path + (k,), outer, outer_paths)
        elif isinstance(s, ir.If):
            yield from loop_sites(s.then, path + (k, 0), outer, outer_paths)
            yield from loop_sites(s.orelse, path + (k, 1), outer, outer_paths)


def stmt_at(body: tuple[ir.Stmt, ...], path: Path) -> ir.Stmt:
    k, rest = path[0], path[1:]
    s = body[k]
    if not rest:
        return s
    if isinstance(s, (ir.For, ir.While)):
        return stmt_at(s.body, rest)
    return stmt_at(s.then if rest[0] == 0 else s.orelse, rest[1:])


# ----------------------------------------------------------------------------- small queries


# The scheduler asks the same questions about the same expressions for every
# candidate plan: answers memoized by identity (the expression is kept alive
# beside its answer, so its id cannot be reused while cached).
_NAMES: dict[int, tuple[ir.Expr, frozenset[str]]] = {}
_TEXT: dict[int, tuple[ir.Expr, str]] = {}


def _memo(cache: dict, e, fn):
    hit = cache.get(id(e))
    if hit is not None and hit[0] is e:
        return hit[1]
    value = fn(e)
    if len(cache) > 100_000:
        cache.clear()
    cache[id(e)] = (e, value)
    return value


SMALL_POWERS = (-1, 0, 1, 2, 3, 4)


def small_power(exponent: ir.Expr | None) -> int | None:
    """n when a float power's exponent is a literal integer n in SMALL_POWERS:
    the code multiplies (x ** 3 = x·x·x, x ** -1 = 1/x) instead of calling pow."""
    if isinstance(exponent, ir.Const) and exponent.type.is_float and exponent.value in SMALL_POWERS:
        return int(exponent.value)
    return None


RAISING_INT_OPS = ("//", "%", "**", "<<", ">>")


def may_raise(e: ir.Expr) -> bool:
    """Whether the operation ``e`` itself (not its operands) may raise at run time:
    an integer ``//`` or ``%`` by zero, an integer ``**`` with a negative exponent,
    a shift by a negative count. A literal right operand decides it (``n // 2``,
    ``i % 4``, ``k ** 2``, ``m >> 3`` never raise; MIN // -1 wraps), so such code
    may still be vectorized or speculated."""
    if not (isinstance(e, ir.Binary) and e.type.is_int and e.op in RAISING_INT_OPS):
        return False
    if isinstance(e.right, ir.Const):
        return e.right.value == 0 if e.op in ("//", "%") else e.right.value < 0
    return True


def half_power(exponent: ir.Expr | None) -> bool:
    """Whether a float power's exponent is the literal 0.5: the code takes a square
    root, as NumPy's ``power`` does (docs/language.md)."""
    return isinstance(exponent, ir.Const) and exponent.type.is_float and exponent.value == 0.5


def names_read(e: ir.Expr) -> frozenset[str]:
    """The variables ``e`` reads."""
    return _memo(_NAMES, e, lambda x: frozenset(sub.name for sub in ir.walk_expr(x) if isinstance(sub, ir.Var)))


def fresh_name(taken: set[str], base: str) -> str:
    """``base``, or ``base_1``, ``base_2``, ... : the first not in ``taken`` (added to it)."""
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def names_taken(kernel: ir.Kernel) -> set[str]:
    """Every name a kernel's body may use: its locals, loop indices, parameters and
    dims (a pass adding a local picks one outside them, ``fresh_name``)."""
    return (set(assigned_in(kernel.body)) | loop_indices(kernel.body) | {p.name for p in kernel.params}
            | set(kernel.dims))


def expr_text(e: ir.Expr) -> str:
    """``e`` as text: equal texts, equal values (at the same point of a program)."""
    return _memo(_TEXT, e, str)


def names_read_in(body) -> set[str]:
    out: set[str] = set()
    for s in ir.walk_stmts(body):
        for e in ir.stmt_exprs(s):
            out |= names_read(e)
    return out


def assigned_in(body) -> dict[str, list[ir.Assign]]:
    out: dict[str, list[ir.Assign]] = {}
    for s in ir.walk_stmts(body):
        if isinstance(s, ir.Assign):
            out.setdefault(s.name, []).append(s)
    return out


def loads_in(body):
    for s in ir.walk_stmts(body):
        for e in ir.stmt_exprs(s):
            for sub in ir.walk_expr(e):
                if isinstance(sub, ir.Load):
                    yield sub


def exposed(name: str, body) -> bool | None:
    """Whether ``name`` is read in ``body`` before it is certainly assigned (True),
    certainly assigned before any read (False), or neither read nor certainly
    assigned (None). A loop body may run zero times and an ``if`` branch may not
    run, so their assignments are not certain; nor is an assignment after a
    ``break`` or ``continue`` of the loop ``body`` belongs to may have left it
    (the value before it then flows on)."""
    left = False  # a break or continue may have left the body before this point
    for s in body:
        if any(name in names_read(e) for e in ir.stmt_exprs(s)):
            return True
        if isinstance(s, ir.Assign) and s.name == name:
            return True if s.op is not None else (None if left else False)
        elif isinstance(s, (ir.For, ir.While)):
            if exposed(name, s.body):
                return True
        elif isinstance(s, (ir.Break, ir.Continue)):
            return None
        elif isinstance(s, ir.If):
            a, b = exposed(name, s.then), exposed(name, s.orelse)
            if a or b:
                return True
            if a is False and b is False:
                return None if left else False
            left = left or ir.has_exits((s,))
    return None


FULL_UNROLL_TRIP = 16  # the longest literal loop a region unrolls fully
FULL_UNROLL_STMTS = 64  # the most statements its unrolled copies may add up to


def literal_range(s: ir.For) -> range | None:
    """The values of ``s``'s index when its bounds and step are literal integers."""
    if all(isinstance(e, ir.Const) and e.type.is_int for e in (s.start, s.stop, s.step)) and s.step.value != 0:
        return range(int(s.start.value), int(s.stop.value), int(s.step.value))
    return None


def unrolled_size(body) -> int | None:
    """The statements ``body`` becomes when every loop in it is unrolled fully, or
    None when one of them is not a short literal loop (``FULL_UNROLL_TRIP``)."""
    n = 0
    for s in body:
        if isinstance(s, (ir.While, ir.Break, ir.Continue)):
            return None
        if isinstance(s, ir.For):
            r = literal_range(s)
            inner = unrolled_size(s.body) if r is not None and len(r) <= FULL_UNROLL_TRIP else None
            if inner is None:
                return None
            n += len(r) * inner
        elif isinstance(s, ir.If):
            then, other = unrolled_size(s.then), unrolled_size(s.orelse)
            if then is None or other is None:
                return None
            n += 1 + then + other
        else:
            n += 1
        if n > FULL_UNROLL_STMTS:
            return None
    return n


def fully_unrollable(s: ir.For) -> bool:
    """Whether a region runs loop ``s`` unrolled fully, when it does not transform
    it: a literal trip of at most ``FULL_UNROLL_TRIP`` and at most
    ``FULL_UNROLL_STMTS`` statements once it and the loops inside it are unrolled
    (a 5 × 5 filter's taps: 25)."""
    return unrolled_size((s,)) is not None


def live_after(kernel: ir.Kernel, path: Path, name: str) -> bool:
    """Whether the value ``name`` has after the statement at ``path`` can be read
    later (in the rest of the kernel, or in a later iteration of an enclosing loop)."""
    while path:
        block, owner, owner_path = _block_of(kernel, path[:-1])
        rest = exposed(name, block[path[-1] + 1:])
        if rest is not None:
            return rest
        if isinstance(owner, ir.For) and exposed(name, owner.body):
            return True
        if isinstance(owner, ir.While) and (name in names_read(owner.cond) or exposed(name, owner.body)):
            return True
        path = owner_path
    return False


def _block_of(kernel: ir.Kernel, parent: Path):
    """The statement list the children of ``parent`` sit in, its owner statement
    and the owner's path. ``parent`` is () (the kernel's body), a loop's path, or
    an if's path followed by its branch number."""
    if not parent:
        return kernel.body, None, ()
    try:
        owner = stmt_at(kernel.body, parent)
    except IndexError:
        owner = None
    if isinstance(owner, (ir.For, ir.While)):
        return owner.body, owner, parent
    owner = stmt_at(kernel.body, parent[:-1])
    return (owner.then if parent[-1] == 0 else owner.orelse), owner, parent[:-1]


# ----------------------------------------------------------------------------- reductions


@dataclass(frozen=True)
class Update:
    """``name = name <op> value`` in one of its spellings; ``swapped`` for
    ``min(value, name)`` / ``max(value, name)`` (the order decides ties and NaN)."""

    op: str
    value: ir.Expr
    swapped: bool = False


def reduction_update(s: ir.Assign) -> Update | None:
    v = s.value
    if s.op is not None:
        return Update(s.op, v) if s.name not in names_read(v) else None
    me = lambda e: isinstance(e, ir.Var) and e.name == s.name
    if isinstance(v, ir.Binary) and v.op in ("+", "-", "*", "/"):
        if me(v.left) and s.name not in names_read(v.right):
            return Update(v.op, v.right)
        if v.op in ("+", "*") and me(v.right) and s.name not in names_read(v.left):
            return Update(v.op, v.left, swapped=True)
    if isinstance(v, ir.Binary) and v.op in ("&", "|", "^") and v.type.is_int:
        if me(v.left) and s.name not in names_read(v.right):
            return Update(v.op, v.right)
        if me(v.right) and s.name not in names_read(v.left):
            return Update(v.op, v.left, swapped=True)
    if isinstance(v, ir.Call) and v.fn in ("min", "max"):
        a, c = v.args
        if me(a) and s.name not in names_read(c):
            return Update(v.fn, c)
        if me(c) and s.name not in names_read(a):
            return Update(v.fn, a, swapped=True)
    return None


def reduction_op(name: str, body) -> str | None:
    """How partial results of ``name`` combine ("+", "*", "min", "max", and on
    integers "&", "|", "^") when every
    assignment to ``name`` in ``body`` is a reduction update and ``name`` is read
    nowhere else in ``body``; None otherwise."""
    ops = set()
    for s in ir.walk_stmts(body):
        if isinstance(s, ir.Assign) and s.name == name:
            u = reduction_update(s)
            if u is None:
                return None
            ops.add(COMBINE[u.op])
        elif any(name in names_read(e) for e in ir.stmt_exprs(s)):
            return None
    return ops.pop() if len(ops) == 1 else None


@dataclass(frozen=True)
class ArgReduction:
    """``if e > best { best = e; k = ... }`` in a loop's body: the extreme of the
    values ``e`` takes and what ``companions`` hold where it was reached (argmax,
    argmin). Split across lanes, each lane keeps its own, and the lanes combine
    by ``best``, ties going to the iteration first reached (``strict``: ``>`` or
    ``<``) or last (``>=``, ``<=``), as the loop run in order gives."""

    best: str
    op: str  # "max" or "min"
    strict: bool
    companions: tuple[str, ...]
    node: ir.If

    @property
    def names(self) -> tuple[str, ...]:
        return (self.best,) + self.companions


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _arg_if(s) -> ArgReduction | None:
    """``s`` as an ``ArgReduction`` when it has that form, else None."""
    if not isinstance(s, ir.If) or s.orelse or not isinstance(s.cond, ir.Binary) or s.cond.op not in _FLIP:
        return None
    c = s.cond
    if isinstance(c.right, ir.Var) and c.right.name not in names_read(c.left):
        best, e, op = c.right.name, c.left, c.op  # e > best
    elif isinstance(c.left, ir.Var) and c.left.name not in names_read(c.right):
        best, e, op = c.left.name, c.right, _FLIP[c.op]  # best < e, read as e > best
    else:
        return None
    if e.type is ir.DType.BOOL or not s.then or not all(isinstance(x, ir.Assign) and x.op is None for x in s.then):
        return None
    names = [x.name for x in s.then]
    if len(set(names)) != len(names) or best not in names:
        return None
    for x in s.then:
        if x.name == best and (expr_text(x.value) != expr_text(e) or x.value.type is not e.type):
            return None
        if names_read(x.value) & set(names):
            return None
    return ArgReduction(best, "max" if op[0] == ">" else "min", len(op) == 1,
                        tuple(n for n in names if n != best), s)


def arg_reductions(body) -> tuple[ArgReduction, ...]:
    """The ``ArgReduction`` ifs among the statements of ``body`` (a loop's body, its
    top level) whose locals no other statement of the body assigns or reads."""
    out = []
    for s in body:
        g = _arg_if(s)
        if g is None:
            continue
        mine = {id(s)} | {id(x) for x in s.then}
        names = set(g.names)
        for x in ir.walk_stmts(body):
            if id(x) in mine:
                continue
            if (isinstance(x, ir.Assign) and x.name in names) or any(names_read(e) & names for e in ir.stmt_exprs(x)):
                break
        else:
            out.append(g)
    return tuple(out)


# ----------------------------------------------------------------------------- accesses


@dataclass(frozen=True)
class Context:
    """What the affine analysis needs to know about a kernel."""

    kernel: ir.Kernel
    dims: frozenset[str]
    int_scalars: frozenset[str]
    checks: dict
    defs: dict  # locals fixed for the call (bounds.invariant_locals)

    @classmethod
    def of(cls, kernel: ir.Kernel) -> "Context":
        symbols = symbols_of(kernel)
        dims, int_scalars, defs = symbols
        return cls(kernel, dims, int_scalars, access_checks(kernel, symbols), defs)

    @property
    def symbols(self):
        """(dims, integer scalar parameters, fixed locals), as bounds.py takes them."""
        return self.dims, self.int_scalars, self.defs

    def affine(self, e: ir.Expr, indices, products: bool = False) -> dict | None:
        """``bounds.to_affine``; ``products``: with terms like ``i*n`` (flattened
        subscripts), whose keys ``bounds.factors`` reads."""
        return to_affine(e, self.dims, self.int_scalars, frozenset(indices), self.defs, products)


def loop_indices(body) -> set[str]:
    return {s.index for s in ir.walk_stmts(body) if isinstance(s, ir.For)}


def access_kind(ctx: Context, node, indices: set[str], v: str) -> tuple[str, tuple[int | None, ...]]:
    """How an access moves along loop ``v``: ("invariant" | "contiguous" |
    "strided", coefficients of ``v`` per subscript). A coefficient that is a
    product of symbols (``A[i*n + j]`` along ``i``) is None: strided, by a
    distance known at run time. A subscript that is not affine counts as
    invariant: ``indirect_along`` keeps loops it changes along from being
    vectorized."""
    coefs: list[int | None] = []
    for i in node.indices:
        a = ctx.affine(i, indices, products=True)
        c = {"": 0} if a is None else coefficient(a, v)
        coefs.append(None if product_terms(c) or len(c) > 1 else c[""])
    if not any(c is None or c for c in coefs):
        return "invariant", tuple(coefs)
    if all(c == 0 for c in coefs[:-1]) and coefs[-1] == 1:
        return "contiguous", tuple(coefs)
    return "strided", tuple(coefs)


def lanes_apart(coefs: tuple[int | None, ...], step: int) -> int | None:
    """How many elements apart the lanes of an access are when it moves only along
    its last axis (``access_kind``'s coefficients) in a vector loop of ``step``,
    if that is 2 .. MAX_EVERY (``x[2*i]``, ``x[i]`` in ``0:N:2``): codegen reads
    such lanes with plain loads and shuffles, the cost model prices them so. None
    otherwise. The caller checks that the array is contiguous."""
    if None in coefs or any(coefs[:-1]):
        return None
    d = coefs[-1] * step
    return d if 2 <= d <= MAX_EVERY else None


def phase_of(ctx: Context, node, indices: set[str], v: str, step: int) -> tuple[tuple, int, int] | None:
    """For an access whose lanes are ``e`` elements apart (``lanes_apart``; the
    caller checks that the array is contiguous): (its group's key, e, its phase).
    Accesses with one key differ only in the constant ``c`` of the last subscript,
    within one run of ``e`` elements (the same ``c // e``); the phase is ``c % e``.
    None for any other access."""
    e = lanes_apart(access_kind(ctx, node, indices, v)[1], step)
    last = ctx.affine(node.indices[-1], indices, products=True)
    if not e or last is None:
        return None
    c = last.get("", 0)
    key = (node.array, e, tuple(map(ir.print_expr, node.indices[:-1])),
           tuple(sorted((k, x) for k, x in last.items() if k)), c // e)
    return key, e, c % e


def store_groups(ctx: Context, body, indices: set[str], v: str, step: int, contiguous) -> dict[int, tuple[int, int]]:
    """The stores of ``body`` (in a vector loop ``v`` of ``step``) that codegen
    writes together as interleaved plain vector stores: runs of consecutive
    statements ``x[..., e*k + c] = ...`` of one contiguous array (``contiguous(x)``)
    whose lanes are ``e`` elements apart (2 .. MAX_EVERY), one statement per phase
    ``c mod e``, the same row and ``c // e``, none reading ``x`` (the stores wait
    until the last value is computed). ``out[p, 2*k] = ...; out[p, 2*k + 1] =
    ...`` (a rotation of pairs) is one. By id: (phase, e)."""
    def member(s):
        if not (isinstance(s, ir.Store) and s.op is None and contiguous(s.array)):
            return None
        return phase_of(ctx, s, indices, v, step)

    out: dict[int, tuple[int, int]] = {}
    k = 0
    while k < len(body):
        first = member(body[k])
        if first is None:
            k += 1
            continue
        key, e, _ = first
        run = [(body[k], first[2])]
        while len(run) < e and k + len(run) < len(body):
            nxt = member(body[k + len(run)])
            if nxt is None or nxt[0] != key:
                break
            run.append((body[k + len(run)], nxt[2]))
        reads = any(isinstance(x, ir.Load) and x.array == key[0]
                    for s, _ in run for y in ir.stmt_exprs(s) for x in ir.walk_expr(y))
        if sorted(p for _, p in run) == list(range(e)) and not reads:
            out.update({id(s): (p, e) for s, p in run})
            k += e
        else:
            k += 1
    return out


def transposable(ctx: Context, node, u: str | None, indices: set[str], factor: int, width: int) -> bool:
    """Whether a strided access of a vector loop can be read as columns of
    transposed W x W blocks (codegen/vector.py ``transpose_load``): ``u`` is the
    innermost unrolled loop enclosing it (step 1, ``factor`` iterations run
    together), the factor is a multiple of the width, and the access is contiguous
    along ``u`` (then W consecutive instances of ``u`` read W adjacent elements of
    each of W rows)."""
    return u is not None and factor % width == 0 and access_kind(ctx, node, indices, u)[0] == "contiguous"


PACK_ITEMSIZES = (4, 8)  # element sizes codegen/vector.py ``pack`` transposes in registers
PACK_STACK_BYTES = 32768  # a transposed copy up to this size lives on the stack, a larger one on the heap
# the least span of rows (their count times the array's row length) a region
# reads from a copy with aligned rows (codegen/vector.py ``align_rows``): 32
# pages of 4 KB. With a threshold of 32 KB, gemm at 64-192 ran 0.93-1.08x the
# code reading in place, in the noise of this machine, and the copy's cost is sure
ALIGN_COPY_BYTES = 131072


@dataclass(frozen=True)
class TransposedBox:
    """The block of a 2-d array a region reads as ``X[v + c1, u + c2]``: rows
    ``v``'s range widened by c1 in ``lo1 .. hi1``, columns ``u``'s widened by c2 in
    ``lo2 .. hi2``; both loops' bounds are fixed while the region runs."""

    v: ir.For
    lo1: int
    hi1: int
    u: ir.For
    lo2: int
    hi2: int


def transposed_box(ctx: Context, root: ir.For, array: str, v: str) -> TransposedBox | None:
    """Where every read of ``array`` in the region ``root`` is ``X[v + c1, u + c2]``
    with one loop ``u`` of the region (not ``v``), both loops stepping up by a
    constant and bounded by values the region does not change (no index or
    local it sets): the block those
    reads can reach (the copy schedule.py's ``RegionPlan.packed`` makes of it).
    None otherwise."""
    loops = {s.index: s for s in ir.walk_stmts((root,)) if isinstance(s, ir.For)}
    names = frozenset(loops)
    if v not in loops:
        return None
    u = None
    c1s, c2s = [], []
    for n in loads_in((root,)):
        if n.array != array:
            continue
        if len(n.indices) != 2:
            return None
        a1, a2 = (ctx.affine(i, names) for i in n.indices)
        if a1 is None or a2 is None:
            return None
        t1 = {k: c for k, c in a1.items() if k and c}
        t2 = {k: c for k, c in a2.items() if k and c}
        if t1 != {v: 1} or len(t2) != 1 or set(t2.values()) != {1}:
            return None
        (w,) = t2
        if w == v or w not in loops or (u is not None and w != u):
            return None
        u = w
        c1s.append(a1.get("", 0))
        c2s.append(a2.get("", 0))
    if u is None:
        return None
    fixed = names | set(assigned_in(root.body))  # the bounds are read before the region runs
    for x in (loops[v], loops[u]):
        if not (isinstance(x.step, ir.Const) and x.step.value > 0):
            return None
        if (names_read(x.start) | names_read(x.stop)) & fixed:
            return None
    return TransposedBox(loops[v], min(c1s), max(c1s), loops[u], min(c2s), max(c2s))


# ----------------------------------------------------------------------------- legality


def failures(ctx: Context, body, policy):
    """What in ``body`` can fail at run time, in statement order: ("step", loop) for
    a step known only at run time, ("arith", expression) for an integer ``//``,
    ``%``, ``**`` that may raise (``may_raise``), ("check", access) for a Load or
    Store that needs a bounds check under ``policy`` (the variant's boundscheck)."""
    for s in ir.walk_stmts(body):
        if isinstance(s, ir.For) and not isinstance(s.step, ir.Const):
            yield "step", s
        nodes = [s] if isinstance(s, ir.Store) else []
        for e in ir.stmt_exprs(s):
            for sub in ir.walk_expr(e):
                if isinstance(sub, ir.Load):
                    nodes.append(sub)
                elif may_raise(sub):
                    yield "arith", sub
        for n in nodes:
            flags = (policy,) * len(n.indices) if policy is not None else ctx.checks.get(id(n), (True,))
            if any(flags):
                yield "check", n


def _failure_sites(ctx: Context, body, policy) -> str | None:
    for kind, x in failures(ctx, body, policy):
        if kind == "step":
            return f"loop {x.index} has a step known only at run time"
        if kind == "arith":
            return f"integer '{x.op}' may raise at run time"
        return f"{x.array}[...] needs a run-time bounds check"
    return None


def opaque_control(loop: ir.For, vector: ir.For | None = None) -> str | None:
    """Why ``loop`` runs as written: it holds a ``while`` loop, a ``break`` or a
    ``continue``, whose trip counts are not known on entry. None if it holds none.
    (Scheduled kernels hold no ``continue``: passes/continues.py removes them.)
    With ``vector`` (a loop in it to vectorize), ``while`` loops inside ``vector``
    whose bodies are straight-line code (no loop, ``if``, ``break`` or
    ``continue``) are fine: each lane runs its own iterations under a mask
    (codegen/vector.py ``lane_loop``). With an ``if`` in the body, the lanes run
    both branches on every iteration and wait for the slowest lane: Collatz
    steps vectorized ran at 0.4x the scalar loop. The same holds for a ``for``
    or ``while`` loop inside ``vector`` whose body is straight-line code and exit
    ifs (``lane_exits``): a lane leaves at its ``break``, the others go on."""
    inside_lanes: set[int] = set()  # statements of loops whose lanes run apart
    if vector is loop and (found := search_exit(loop)) is not None:
        inside_lanes |= {id(x) for x in found.then}  # run once, from the step a lane breaks in
    for s in ir.walk_stmts(loop.body):
        if id(s) in inside_lanes:
            continue
        if counts_bits(s):
            line = f" (line {s.loc.line})" if s.loc is not None else ""
            return (f"loop {loop.index} holds a while loop{line} that counts set bits, which LLVM makes one "
                    f"popcnt instruction when it runs as written")
        if (isinstance(s, (ir.For, ir.While)) and vector is not None and _inside_vector(s, vector)
                and lane_exits(s) is not None):
            inside_lanes |= {id(x) for x in ir.walk_stmts(s.body)}
            continue
        if type(s) in ir.CONTROL_WORDS:
            line = f" (line {s.loc.line})" if s.loc is not None else ""
            return f"loop {loop.index} holds {ir.CONTROL_WORDS[type(s)]}{line}, whose trip count is not known on entry"
    return None


def carried_reductions(chain: tuple, tail: str, siblings) -> frozenset[str]:
    """Reductions a region keeps in vectors across the loop around its vector
    loop: ``chain`` holds the region's transformed loops, root first, the vector
    loop last, a statement of the body of the loop before it (``parent``). A
    reduction of the vector loop that nothing else in ``parent``'s body reads or
    assigns (``s += A[i, j]`` in ``for i { for j { ... } }``) needs its lanes summed
    only when ``parent`` ends, not each time the vector loop does: ``parent``'s
    instances hold it as vectors, which each run of the vector loop adds its own
    vectors into (codegen/vector.py ``transformed_loop``). Not with a scalar tail
    (its iterations would update a vector) or sibling vector loops; not for an
    argmax/argmin's locals."""
    if len(chain) < 2 or tail == "scalar" or siblings:
        return frozenset()
    parent, vector = chain[-2], chain[-1]
    if not any(x is vector for x in parent.body):
        return frozenset()
    args = {n for g in arg_reductions(vector.body) for n in g.names}
    out = set()
    for name in assigned_in(vector.body):
        if name in args or not exposed(name, vector.body) or reduction_op(name, vector.body) is None:
            continue
        others = tuple(x for x in parent.body if x is not vector)
        if name in names_read_in(others) or name in assigned_in(others):
            continue
        out.add(name)
    return frozenset(out)


def counts_bits(loop) -> bool:
    """Whether ``loop`` is a ``while`` loop counting the set bits of an integer by
    clearing the lowest one per iteration, ``while v != 0 { v = v & (v - 1); c += 1 }``
    (the statements in either order).
    LLVM turns it into one popcnt instruction when it runs as written; run in
    lanes, it takes as many iterations as the vector's largest count (a count
    over 65536 values below 2^20 ran 18x slower in 4 x 7 lanes)."""
    if not (isinstance(loop, ir.While) and len(loop.body) == 2):
        return False
    c = loop.cond
    if not (isinstance(c, ir.Binary) and c.op == "!=" and isinstance(c.left, ir.Var) and isinstance(c.right, ir.Const)
            and c.right.value == 0 and c.left.type.is_int):
        return False
    v = c.left.name
    clears = counts = False
    for s in loop.body:
        if not isinstance(s, ir.Assign):
            return False
        e = s.value
        if s.name == v and s.op is None and isinstance(e, ir.Binary) and e.op == "&" and any(
                isinstance(a, ir.Var) and a.name == v and isinstance(b, ir.Binary) and b.op == "-"
                and isinstance(b.left, ir.Var) and b.left.name == v and isinstance(b.right, ir.Const)
                and b.right.value == 1 for a, b in ((e.left, e.right), (e.right, e.left))):
            clears = True
        elif s.name != v and s.op == "+" and isinstance(e, ir.Const) and e.value == 1:
            counts = True
    return clears and counts


def search_exit(loop) -> ir.If | None:
    """A search loop's exit if: ``loop`` is a ``for`` loop whose body is
    assignments to locals (no store, no other statement) followed by one exit if,
    ``if c { ...; break }`` with no ``else`` and only assignments and stores before
    its ``break``; and the locals that the exit if's branch assigns are neither
    assigned nor read before it in the body (they carry nothing from one
    iteration to the next). Such a loop may run in vectors that evaluate the
    assignments and ``c`` ahead of the iteration that breaks, since nothing
    before the exit if writes memory; the vector loop stops at the first step
    where a lane's ``c`` holds and runs from there one iteration at a time
    (codegen/vector.py ``search_loop``). None for any other loop."""
    if not isinstance(loop, ir.For) or not loop.body:
        return None
    *before, last = loop.body
    if not all(isinstance(s, ir.Assign) for s in before):
        return None
    if not _exit_if(last):
        return None
    set_on_exit = set(assigned_in(last.then))
    if set_on_exit & (set(assigned_in(before)) | names_read_in(before) | names_read(last.cond)):
        return None
    return last


def _exit_if(s: ir.Stmt) -> bool:
    """Whether ``s`` is an exit if: ``if c { ...; break }``, straight-line
    assignments and stores before the ``break``, no ``else``."""
    return (isinstance(s, ir.If) and not s.orelse and bool(s.then) and isinstance(s.then[-1], ir.Break)
            and all(isinstance(x, (ir.Assign, ir.Store)) for x in s.then[:-1]))


def lane_exits(loop) -> tuple[int, ...] | None:
    """For a ``for`` or ``while`` loop inside a vector loop, whose lanes run their
    own iterations: the positions in its body of its exit ifs, ``if c { ...; break }``
    (straight-line code before the ``break``, no ``else``), when every other
    statement of the body is an assignment or a store; None when the body has
    another shape (a ``for`` loop needs at least one exit if: without it, it runs
    as other inner loops do). A ``while`` loop's body may hold no exit if."""
    exits = []
    for k, s in enumerate(loop.body):
        if isinstance(s, (ir.Assign, ir.Store)):
            continue
        if _exit_if(s):
            exits.append(k)
            continue
        return None
    if isinstance(loop, ir.For) and not exits:
        return None
    return tuple(exits)


def region_problems(ctx: Context, site: LoopSite, chain: tuple[ir.For, ...], vector: ir.For | None,
                    variant, fastmath: bool, reorder: bool = False) -> str | None:
    """Why the loops ``chain`` (root first, all enclosing ``vector``, which is the
    last of them when given) cannot run as a jammed/vectorized region; None if they
    can. ``site`` is the root's place in the kernel. ``reorder``: the question is
    only whether the loops may run in another order (interchange.py), so a written
    array's element may be updated across loops its subscripts do not read, which
    keep their order among themselves (``carried_across``)."""
    root = chain[0]
    region = (root,)
    why = opaque_control(root, vector)
    if why:
        return why
    why = _failure_sites(ctx, region, getattr(variant, "boundscheck", None))
    if why:
        return why
    written_loop = vector
    exit_if = search_exit(vector) if vector is not None and not reorder else None
    if exit_if is not None:
        if len(chain) > 1:
            line = f" (line {exit_if.loc.line})" if exit_if.loc is not None else ""
            return f"loop {vector.index} holds a break{line}: it runs in vectors on its own, not jammed with loop {root.index}"
        # the exit if's branch runs once, after the vectors, one iteration at a
        # time: the region's iterations run together are the assignments and
        # the condition before it
        vector = dataclasses.replace(vector, body=vector.body[:-1] + (dataclasses.replace(exit_if, then=()),))
        if getattr(variant, "boundscheck", None) is False and _failure_sites(ctx, (vector,), None):
            # unchecked, the loop may rely on its break to stay in its arrays (a
            # sentinel): lanes past the break would read beyond them
            line = f" (line {exit_if.loc.line})" if exit_if.loc is not None else ""
            return (f"loop {vector.index} holds a break{line}, and with boundscheck=False its vectors would read "
                    f"past the break where no bound is proven")
        chain = (vector,)
        root = vector
        region = (root,)
    tnames = {t.index for t in chain}
    for t in chain:
        if not (isinstance(t.step, ir.Const) and t.step.value > 0):
            return f"loop {t.index} does not count upward by a constant step"
    if vector is not None:
        why = indirect_along(ctx, vector, {o.index for o in site.outer} | loop_indices((root,)))
        if why:
            return why
    region_locals = set(assigned_in(region))
    region_idx = loop_indices(region)
    outer_idx = {o.index for o in site.outer}

    # loops run for several instances must have the same bounds for all of them
    def check_bounds(body, active: set[str]) -> str | None:
        for s in body:
            if isinstance(s, ir.For):
                used = names_read(s.start) | names_read(s.stop)
                bad = used & (active | region_locals)
                if bad:
                    return f"the bounds of loop {s.index} depend on {', '.join(sorted(bad))}, which differs between the iterations run together"
                inner = active | ({s.index} if s.index in tnames else set())
                why = check_bounds(s.body, inner)
                if why:
                    return why
            elif isinstance(s, ir.If):
                if active and vector is not None and not _inside_vector(s, vector) and loop_indices((s,)):
                    return "an if containing loops outside the vectorized loop"
                why = check_bounds(s.then, active) or check_bounds(s.orelse, active)
                if why:
                    return why
        return None

    why = check_bounds(root.body, {root.index})
    if why:
        return why

    # memory: distinct instances touch distinct elements of written arrays
    written = {s.array for s in ir.walk_stmts(region) if isinstance(s, ir.Store)}
    if written and getattr(variant, "may_alias", False):
        return f"{', '.join(sorted(written))} may overlap another argument"
    all_idx = region_idx | outer_idx
    for a in sorted(written):
        subs = {}  # subscript -> (the first access at it, whether an access there writes)
        for node in _accesses(region, a):
            aff = tuple(ctx.affine(i, all_idx, products=True) for i in node.indices)
            if any(x is None for x in aff):
                return f"{a} is written with a subscript that is not affine"
            key = tuple(tuple(sorted(x.items())) for x in aff)
            first, writes = subs.get(key, (node, False))
            subs[key] = (first, writes or isinstance(node, ir.Store))
        if len(subs) > 1 and not _apart(ctx, site, subs, region_idx, tnames):
            return f"{a} is written and accessed at different subscripts in the same loops (a dependence between iterations)"
        for sub, (first, writes) in subs.items():
            why = writes and _writes_apart(ctx, site, chain, a, [dict(d) for d in sub], first, tnames, region_idx,
                                           reorder)
            if why:
                return why

    # scalar locals: reductions or private
    for t in chain:
        # argmax / argmin ifs, across the lanes of the vector loop (codegen/vector.py)
        args = {n for g in arg_reductions(t.body) for n in g.names} if t is vector else set()
        for name in assigned_in(t.body):
            if name in args:
                continue
            ex = exposed(name, t.body)
            if ex:
                op = reduction_op(name, t.body)
                if op is None:
                    return f"'{name}' is carried from one iteration of {t.index} to the next and is not a reduction"
                typ = next(iter(assigned_in(t.body)[name])).value.type
                if typ.is_float and not fastmath:
                    return f"reduction of '{name}' over {t.index} reassociates float arithmetic (needs fastmath)"
                if typ is ir.DType.BOOL:
                    return f"'{name}' is a boolean reduction"
            elif _read_outside(ctx.kernel, site, written_loop if t is vector else t, name):
                return f"'{name}' is set in loop {t.index} and used after it"
    return None


def _apart(ctx: Context, site: LoopSite, subs: dict, region_idx: set[str], tnames: set[str]) -> bool:
    """Whether no two instances of the loops ``tnames`` run together touch one
    element of an array at the subscripts ``subs`` (affine forms as sorted item
    tuples -> (an access there, whether one there writes)), one of them writing
    it. For each pair with a write, one of:

    - some axis where both forms have the same terms but constants that differ by
      a non-multiple of the gcd of the loop indices' coefficients (``x[p, 2*k]``
      and ``x[p, 2*k + 1]``: odd against even; ``y[i, 0]`` and ``y[i, 1]``);
    - some axis whose difference the loops' ranges keep from 0, where one form at
      most reads the region's indices: ``A[i, j]`` and ``A[i, k]`` in
      ``for j in k+1:n`` (LU's update row), ``A[i, j]`` and ``A[k, j]`` in
      ``for i in k+1:n``;
    - the pair meets only within one instance: each loop of ``tnames`` is pinned
      by an axis where both forms are the same, in that loop's index alone
      (``A[i, j]`` and ``A[k, j]`` with j's iterations run together)."""
    items = list(subs.items())
    for m, (f, (node_f, writes_f)) in enumerate(items):
        for g, (node_g, writes_g) in items[m + 1:]:
            if not (writes_f or writes_g):
                continue  # two reads
            axes = [(dict(x), dict(y)) for x, y in zip(f, g)]
            if any(_axis_apart(x, y, region_idx) for x, y in axes):
                continue
            if any(_axis_kept_apart(ctx, site, x, y, node_f, node_g, region_idx) for x, y in axes):
                continue
            if tnames <= {t for x, y in axes if (t := _pinning(x, y, region_idx)) is not None}:
                continue
            return False
    return True


def _pinning(x: dict, y: dict, region_idx: set[str]) -> str | None:
    """The loop index that an axis where the forms ``x`` and ``y`` are the same
    holds equal between two accesses that meet: the one region index it reads,
    on its own (not in a product); None otherwise."""
    if x != y:
        return None
    terms = [k for k, v in x.items() if k and v and mentions({k: 1}, region_idx)]
    return terms[0] if len(terms) == 1 and terms[0] in region_idx else None


def _axis_kept_apart(ctx: Context, site: LoopSite, x: dict, y: dict, node_x, node_y, region_idx: set[str]) -> bool:
    """Whether ``x - y`` is never 0 where the accesses run, when at most one of the
    forms reads the region's loop indices (the other is then the same in every
    instance): its smallest value, over the ranges of the loops around the access
    that reads them, is at least 1, or its largest at most -1."""
    reads_x, reads_y = mentions(x, region_idx), mentions(y, region_idx)
    if reads_x and reads_y:
        return False
    ranges = _ranges_to(ctx, site, node_y if reads_y else node_x)
    if ranges is None:
        return False
    loops = {r.index for r in ranges}
    diff = add_forms(x, scale_form(y, -1))
    for sign in (1, -1):
        least = extreme(add_forms(scale_form(diff, sign), {"": -1}), ranges, False, ctx.dims)
        if least is not None and not mentions(least, loops) and provably_nonneg(least, ctx.dims, ranges):
            return True
    return False


def _axis_apart(x: dict, y: dict, region_idx: set[str]) -> bool:
    terms = {k: v for k, v in x.items() if k and v}
    if terms != {k: v for k, v in y.items() if k and v}:
        return False
    if any(len(factors(k)) > 1 and mentions({k: 1}, region_idx) for k in terms):
        return False  # a symbolic coefficient of a loop index
    gcd = math.gcd(*(abs(v) for k, v in terms.items() if k in region_idx))
    diff = x.get("", 0) - y.get("", 0)
    return diff != 0 and (gcd == 0 or diff % gcd != 0)


def _writes_apart(ctx: Context, site: LoopSite, chain, a: str, forms: list, first, tnames, region_idx,
                  reorder: bool) -> str | None:
    """Why two instances of the region's loops ``tnames`` may write one element of
    ``a`` at the subscript ``forms``; None when they cannot."""
    injective = None  # per subscript, computed when needed
    for t in tnames:
        loop_t = next(x for x in chain if x.index == t)
        if not any(True for _ in _accesses(loop_t.body, a)):
            continue  # accessed only outside t (after a reduction over t): t's iterations never touch it
        coefs = [coefficient(d, t) for d in forms]
        ok = any(c.keys() == {""} and c[""] != 0 and not mentions(d, region_idx - {t}) for c, d in zip(coefs, forms))
        if not ok and any(t in mentions(d, {t}) for d in forms):
            if injective is None:
                ranges = _ranges_to(ctx, site, first)
                injective = [ranges is not None and _injective(ctx, d, region_idx, ranges) for d in forms]
            ok = any(inj and t in mentions(d, {t}) for inj, d in zip(injective, forms))
        if not ok and reorder and not any(mentions(d, {t}) for d in forms):
            continue  # every iteration of t updates the same element, in t's order
        if not ok:
            return f"iterations of {t} may write the same element of {a}"
    return None


def indirect_along(ctx: Context, vector: ir.For, indices: set[str]) -> str | None:
    """An access in loop ``vector`` whose subscript is not affine and may change
    from one of its iterations to the next (``x[idx[i]]``, or through a local set
    in the loop), described; None when there is none. ``indices``: the loop
    indices around and inside it. Vector code computes each access's address
    once, for its first lane."""
    varying = {vector.index} | set(assigned_in(vector.body))
    for n in accesses(vector.body):
        for e in n.indices:
            if names_read(e) & varying and ctx.affine(e, indices, products=True) is None:
                return (f"{n.array}[{ir.print_expr(e)}] changes along {vector.index} without a constant stride "
                        f"(an indirect access)")
    return None


def _ranges_to(ctx: Context, site: LoopSite, node) -> list[LoopRange] | None:
    """The ranges of the loops around ``node`` (outermost first), from the
    kernel's top; None when ``node`` is not in ``site``'s loop."""
    loops: list[ir.For] = []

    def holds(s) -> bool:
        return s is node or any(x is node for e in ir.stmt_exprs(s) for x in ir.walk_expr(e))

    def find(body) -> bool:
        for s in body:
            if isinstance(s, ir.For):
                loops.append(s)
                if find(s.body):
                    return True
                loops.pop()
            elif isinstance(s, ir.If):
                if holds(s) or find(s.then) or find(s.orelse):
                    return True
            elif isinstance(s, ir.While):
                if holds(s) or find(s.body):
                    return True
            elif holds(s):
                return True
        return False

    if not find((site.loop,)):
        return None
    out: list[LoopRange] = []
    for loop in (*site.outer, *loops):
        known = frozenset(r.index for r in out) | {loop.index}
        out.append(loop_range(loop, ctx.dims, ctx.int_scalars, known, ctx.defs))
    return out


def _injective(ctx: Context, d: dict, region_idx: set[str], ranges: list[LoopRange]) -> bool:
    """Whether the subscript ``d`` (an affine form, maybe with product terms) takes
    distinct values for distinct values of the region's loop indices in it, for
    any values of the indices outside: ``i*n + j`` with ``j`` in ``[0, n)`` does.
    Its terms are placed from the least significant (fewest factors in the
    coefficient first): a loop's term may follow when its coefficient exceeds the
    spread of those placed (their largest minus smallest sum over the loops'
    ranges), provably on every call. The last term's own spread is not needed."""
    coefs = {u: coefficient(d, u) for u in mentions(d, region_idx)}
    order = sorted(coefs, key=lambda u: (max(len(factors(k)) for k in coefs[u]), abs(coefs[u].get("", 0)), u))
    spread: dict = {"": 0}
    while order:
        for u in order:
            c = coefs[u]
            gap = add_forms(spread, {"": 1})
            if not any(provably_nonneg(add_forms(sign, scale_form(gap, -1)), ctx.dims, ranges)
                       for sign in (c, scale_form(c, -1))):
                continue
            if len(order) == 1:
                return True
            term = {k: v for k, v in d.items() if mentions({k: v}, {u})}
            hi = extreme(term, ranges, True, ctx.dims)
            lo = extreme(term, ranges, False, ctx.dims)
            if hi is None or lo is None:
                continue  # its spread is unknown: it can only come last
            spread = add_forms(spread, add_forms(hi, scale_form(lo, -1)))
            order.remove(u)
            break
        else:
            return False
    return True


def updated_across(chain: tuple[ir.For, ...]) -> dict[str, frozenset[str]]:
    """Per array written in the perfectly nested loops ``chain``: the loops of the
    chain none of its subscripts read (each of their iterations updates the same
    element)."""
    body = chain[-1].body
    out = {}
    for a in sorted({s.array for s in ir.walk_stmts(body) if isinstance(s, ir.Store)}):
        read = set()
        for n in _accesses(body, a):
            for i in n.indices:
                read |= names_read(i)
        out[a] = frozenset(t.index for t in chain if t.index not in read)
    return out


def carried_across(chain: tuple[ir.For, ...]) -> list[frozenset[str]]:
    """The sets of two or more loops of ``chain`` a written array is updated across
    (``updated_across``): any order of the chain that keeps each set's loops in
    their order updates every element in the same order."""
    return [free for free in updated_across(chain).values() if len(free) > 1]


def stored_around(outer: ir.For, vector: ir.For) -> str | None:
    """An array the loop ``vector`` loads that a statement of ``outer`` (a loop
    enclosing it) outside it stores: each pass of ``outer`` may then read with a
    vector what a narrower store of the pass before just wrote (trsv reads
    ``out[0:i]`` after storing ``out[i - 1]``). None when there is none."""
    inside = {id(x) for x in ir.walk_stmts(vector.body)}
    stored = {x.array for x in ir.walk_stmts(outer.body) if isinstance(x, ir.Store) and id(x) not in inside}
    return next((n.array for n in loads_in(vector.body) if n.array in stored), None)


def _inside_vector(s, vector: ir.For) -> bool:
    return any(x is s for x in ir.walk_stmts(vector.body))


def accesses(body):
    """Every Load and Store in ``body``."""
    for s in ir.walk_stmts(body):
        if isinstance(s, ir.Store):
            yield s
        for e in ir.stmt_exprs(s):
            for sub in ir.walk_expr(e):
                if isinstance(sub, ir.Load):
                    yield sub


def _accesses(body, array: str):
    return (n for n in accesses(body) if n.array == array)


def _read_outside(kernel: ir.Kernel, site: LoopSite, t: ir.For, name: str) -> bool:
    """Whether a value of ``name`` set in loop ``t`` may be read after ``t``."""
    # t's path: t is site.loop or a loop inside it
    path = _path_of(site.loop, site.path, t)
    if path is None:
        return True
    # reads later in an enclosing body of the region (after t) or after the region
    return live_after(kernel, path, name)


def _path_of(node, path: Path, target) -> Path | None:
    if node is target:
        return path
    if isinstance(node, (ir.For, ir.While)):
        for k, s in enumerate(node.body):
            p = _path_of(s, path + (k,), target)
            if p is not None:
                return p
    elif isinstance(node, ir.If):
        for b, branch in enumerate((node.then, node.orelse)):
            for k, s in enumerate(branch):
                p = _path_of(s, path + (b, k), target)
                if p is not None:
                    return p
    return None
