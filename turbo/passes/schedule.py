"""The scheduler: enumerate legal schedules of each loop nest, price them, pick one.

A schedule is data (``RegionPlan``): which loops of a nest run together as a
*region*, which of them is vectorized and at what width, and how many iterations
of each are run side by side (unroll-and-jam; for the vectorized loop, how many
vectors). Example, gemm ``for m, n { acc = 0; for k { acc += A[m,k]*B[k,n] }; C[m,n] = acc }``
on AVX2 (8 × f32):

    loops (m, n), vector n × 8, factors (6, 2)

runs 6 rows × 2 vectors = 12 accumulators ``acc`` in registers through the ``k``
loop: each ``k`` step loads 2 vectors of B, broadcasts 6 elements of A and issues
12 FMAs. A tail of ``n`` runs under a lane mask; leftover rows of ``m`` run one at
a time.

The cost model is a pure function (kernel, plan, target) -> predicted cycles: it
counts the operations each loop body issues per execution (sharing loads between
iterations that read the same element), prices them with the instruction-cost table
(``costs.py``), bounds each body by its busiest execution unit, by the latency of
the dependence chains it carries (one accumulator per chain) and by the issue
width, charges spills when the live vector values outnumber the registers, and
multiplies by trip counts: literal when the loop bounds are literal, else assumed
(``ASSUMED_TRIP``). It never runs the kernel.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from dataclasses import dataclass, field

from .. import ir
from ..ir import DType
from . import analysis, interchange, parallel, promote, specialize
from .analysis import Context, LoopSite, Path
from .bounds import Guard, access_guards, guard_text
from .scans import Scans, ScanSite
from .parallel import ParallelPlan
from .target import TargetDesc

ASSUMED_TRIP = 128  # iterations assumed for a loop whose bounds are not literal
WHILE_TRIPS = 16  # iterations assumed for a while loop (only compares plans that all run it as written)
MAX_FACTOR = 8  # largest unroll factor tried for one loop
MAX_INSTANCES = 32  # largest number of iterations run side by side
# a nest is split into its inner loops' own regions (_split) only when that is
# predicted this much cheaper: those regions' steps are sized for ASSUMED_TRIP, and
# at 16 iterations, where one region's unrolled rows share the work, they lost up
# to 1.6x (a row normalization, predicted 11% cheaper split, ran 1.5x faster split
# at n = 256 and 1.4x slower at n = 16)
SPLIT_GAIN = 0.85
# ... and a nest whose one region would vectorize sibling loops (RegionPlan.siblings)
# keeps it only when predicted this much cheaper than the split, both at least the
# time its data takes to move from L2 (_traffic)
SIBLING_GAIN = 0.9
# plans predicted within this fraction of the cheapest are near-ties, chosen
# among by what the cost model does not see (_near_tie_key)
NEAR_TIE = 0.005
# ... and in a nest bound by streaming its data (_streaming: more than the cache
# holds, at the assumed sizes, taking longer to move than the cheapest plan takes
# to compute), vector plans within MEMORY_TIE: what more unrolling saves there is
# loop overhead the stream hides, and each unrolled row is one more stream (a 3-d
# outer product jammed 8 x 4 wrote 32 rows at once: 2.5x slower than one row)
MEMORY_TIE = 0.25
# a loop order must be predicted this much cheaper than the order as written to
# replace it; one whose innermost loop walks more arrays from row to row
# (interchange.row_walks) must be predicted LOCALITY_GAIN cheaper, the cost model
# not seeing caches: a 3-d add, its inner rows 16 f32 long, moved its row loop
# inside the vector loop for a predicted 5% (loop overhead at 128 iterations) and
# ran 2.3x slower, every pass of the row loop reading half of each line and the
# next pass the other half
ORDER_GAIN = 0.95
LOCALITY_GAIN = 0.85
# plans predicted within this fraction of the cheapest that walk at most
# 2 x L1's ways of array rows in their innermost loop are preferred to it, when it
# walks more (_few_rows). Rows a power of two apart share L1 sets (4 KB rows: one
# set, 2 KB rows: two), and a loop cycling through more rows than the sets they
# share have ways misses on every access: a 2-d stencil jammed 8 rows x 4 vectors
# (18 rows) ran 1.4x slower than 3 rows at 256 x 256 f64 (2 KB rows) and 3.3x at
# 512 x 512. Rows 4 KB apart would need 8: a row-broadcast add jammed 8 rows (16)
# ran 3.2x slower than 3 rows at 1024 x 1024 f32; but 8 would give up short rows'
# tiles (a 4-d relu jamming 8 rows of 8 lanes: 1.7x faster than the 8-row plan at
# 16), and rows that long are rarer than 256 and 512. At the assumed sizes (rows of
# 128) no set fills, so the model's cycles do not show it; the tie trades up to
# this much of them for the worst case
ROWS_TIE = 0.15
ROW_SETS = 2


@dataclass(frozen=True)
class RegionPlan:
    root: Path  # the path of the region's outermost loop
    loops: tuple[str, ...]  # indices of the transformed loops, outermost first
    paths: tuple[Path, ...]  # their paths (the first is ``root``)
    factors: tuple[int, ...]  # per loop: iterations run together (vectors, for the vector loop)
    vector: str | None  # index of the vectorized loop (the last of ``loops``), or None
    width: int  # lanes per vector (1 when nothing is vectorized)
    lane_type: DType = DType.F64
    # loops inside the region it does not transform, run unrolled fully: (path,
    # index, trip); short literal loops (analysis.fully_unrollable), a filter's taps
    unrolled: tuple[tuple[Path, str, int], ...] = ()
    # how the vector loop's leftover iterations run: whole vectors, then "masked"
    # (one masked vector) or "scalar" (one iteration at a time); the model
    # prices a scalar tail where a masked load would wait on a store (_Model.loop).
    # "none": a literal trip that steps divide leaves nothing over; "search": a
    # loop left by a break (analysis.search_exit) stops at the first step where a
    # lane takes it, and runs that step and the leftover one iteration at a time
    tail: str = "masked"
    # 2-d arrays the region reads through a copy transposed before it starts:
    # accesses strided along the vector loop, moving along the first axis only
    # (ABt's B[n, k] vectorized along n), are contiguous in the copy
    packed: tuple[str, ...] = ()
    # 2-d arrays whose rows a loop inside the vector loop walks, a row a step (a
    # gemm's B[k, n] along k), each (array, that loop's index): read from a copy
    # with rows aligned to cache lines where the rows its block spans reach
    # analysis.ALIGN_COPY_BYTES and do not lie so already, tested before the
    # region (codegen/vector.py ``align_rows``).
    # Not priced: the model sees neither alignment nor cache sets
    aligned: tuple[tuple[str, str], ...] = ()
    # loops beside the vector loop in its parent's body vectorized as it is (same
    # lanes, vectors per step and tail), each a (path, index): with the parent's
    # loop unrolled-and-jammed, a row's sum of squares and its scaling both run
    # in vectors for several rows at once, the rows' reductions side by side
    siblings: tuple[tuple[Path, str], ...] = ()

    @property
    def instances(self) -> int:
        return math.prod(self.factors)

    @property
    def vector_paths(self) -> tuple[Path, ...]:
        """The paths of the loops run in vectors: the vector loop's, then its siblings'."""
        return ((self.paths[-1],) if self.vector else ()) + tuple(p for p, _ in self.siblings)

    def factor(self, index: str) -> int:
        if index in self.loops:
            return self.factors[self.loops.index(index)]
        return self.factors[-1] if any(x == index for _, x in self.siblings) else 1

    def describe(self) -> str:
        parts = []
        for name, f in zip(self.loops, self.factors):
            if name == self.vector:
                parts.append(f"vectorize {name} × {self.width} {self.lane_type}"
                             + (f", {f} vectors per step ({f * self.width} iterations)" if f > 1 else "")
                             + (", no tail" if self.tail == "none" else
                                ", up to the first step where a lane breaks, then one iteration at a time"
                                if self.tail == "search" else f", {self.tail} tail"))
                if self.siblings:
                    parts.append("the same for " + ", ".join(f"loop {x} (at {'.'.join(map(str, p))})"
                                                              for p, x in self.siblings))
            elif f > 1:
                parts.append(f"unroll-and-jam {name} × {f}")
        if self.packed:
            parts.append("read " + ", ".join(self.packed) + " from a transposed copy")
        if self.aligned:
            parts.append("read " + ", ".join(a for a, _ in self.aligned) + " from a copy with aligned rows where "
                         f"they span {analysis.ALIGN_COPY_BYTES // 1024} KB or more")
        if self.unrolled:
            parts.append("unroll fully " + ", ".join(f"{name} × {trip}" for _, name, trip in self.unrolled))
        return "; ".join(parts) or "as written"


@dataclass(frozen=True)
class Estimate:
    cycles: float  # predicted cycles for the whole nest at the assumed sizes
    inner_cycles: float  # predicted cycles per original iteration of the innermost loop
    registers: int  # vector registers live in the innermost loop
    bound: str  # what limits the innermost loop: "fp", "load", "store", "latency", ...
    rows: int = 0  # array rows the innermost loop walks at once (_Counter.address_rows)
    widest: int = 0  # the most rows any loop of the region without loops inside walks at once


@dataclass(frozen=True)
class Option:
    plan: RegionPlan | None  # None: the loops as written, scalar
    estimate: Estimate | None
    problem: str | None = None  # why it is illegal (then estimate is None)


@dataclass(frozen=True)
class NestDecision:
    root: Path
    header: str  # the nest's first loop, as text
    chosen: Option
    rejected: tuple[Option, ...]  # cheapest alternatives, then illegal ones with their reason
    notes: tuple[str, ...] = ()  # what else weighed on the choice, for explain()
    # the root runs as written and each loop directly inside it has a decision of its
    # own (sibling loops, each vectorized: a row's sum, then its scaling)
    parts: tuple["NestDecision", ...] = ()
    # the lowest prediction among its plans, where a near-tie chose another: what
    # other orders and splits of the nest are compared with (None: the chosen's)
    cheapest: float | None = None

    @property
    def predicted(self) -> float:
        return self.chosen.estimate.cycles if self.cheapest is None else self.cheapest

    def regions(self) -> list[RegionPlan]:
        """The plans this decision puts in the schedule, its parts' included."""
        own = [self.chosen.plan] if self.chosen.plan is not None else []
        return own + [r for p in self.parts for r in p.regions()]


@dataclass(frozen=True)
class Interchange:
    path: Path  # the nest's root loop
    order: tuple[str, ...]  # the indices of its perfect loops, outermost first, as run
    written: tuple[str, ...]  # ... as written
    cycles: float  # predicted cycles of the nest's chosen plan in this order
    written_cycles: float  # ... in the order written (inf: no legal plan)


@dataclass(frozen=True)
class Version:
    path: Path  # the nest's root loop
    guards: tuple[Guard, ...]  # each "affine form >= 0", over dims and integer parameters
    arrays: tuple[str, ...]  # arrays whose accesses in the nest lose their checks
    # the unchecked copy, when it runs in another order than the checked one or holds
    # elements in locals (``_unchecked_nest``): its root loop, the order of its
    # perfect loops (and as written), and the elements it holds
    nest: ir.For | None = field(default=None, compare=False)
    order: tuple[str, ...] = ()
    written: tuple[str, ...] = ()
    promotions: tuple[promote.Promotion, ...] = ()
    # index scans (passes/scans.py) run before the guards are tested: some guards
    # read their results. Each scan's loops are scheduled like a nest of their own
    # (``_scan_schedules``: a schedule of a kernel whose body is the scan's code)
    scans: tuple[ScanSite, ...] = ()
    scan_schedules: tuple[Schedule, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Schedule:
    regions: tuple[RegionPlan, ...]
    decisions: tuple[NestDecision, ...] = field(compare=False)
    target: str = field(default="", compare=False)
    parallel: tuple[ParallelPlan, ...] = ()  # loops split across threads
    parallel_notes: tuple[str, ...] = field(default=(), compare=False)  # loops that could not be, and why
    # run-time versioning of bounds checks: the nests that get a second, unchecked
    # copy, taken when their guards hold; ``fast`` schedules that copy
    versions: tuple[Version, ...] = ()
    fast: Schedule | None = field(default=None, compare=False)
    checks: dict | None = field(default=None, compare=False)  # the bounds checks of ``fast``'s code
    kernel: ir.Kernel | None = field(default=None, compare=False)  # the kernel scheduled (nests interchanged)
    interchanges: tuple[Interchange, ...] = ()
    promotions: tuple[promote.Promotion, ...] = ()  # array elements held in locals across loops (passes/promote.py)

    def usual_regions(self) -> tuple[RegionPlan, ...]:
        """The regions of the code that runs as a rule: of a versioned nest, its
        unchecked copy's (the checked one runs only where the guards fail)."""
        checked = {v.path for v in self.versions}
        usual = tuple(p for p in self.regions if not any(p.root[:len(c)] == c for c in checked))
        return usual + (self.fast.regions if self.fast is not None else ())

    def leaves_loops_to_llvm(self) -> bool:
        """Whether a nest of the code that runs as a rule (a versioned nest's
        unchecked copy, not its checked one) runs as written, with no plan for
        it or for a loop inside it: LLVM's loop passes are then what optimizes it."""
        decisions = self.fast.decisions if self.fast is not None else self.decisions

        def as_written(d: NestDecision) -> bool:
            return (d.chosen.plan is None and not d.parts) or any(as_written(p) for p in d.parts)

        return any(as_written(d) for d in decisions)

    def version_at(self, path: Path) -> Version | None:
        for v in self.versions:
            if v.path == path:
                return v
        return None

    def parallel_at(self, path: Path) -> ParallelPlan | None:
        for p in self.parallel:
            if p.path == path:
                return p
        return None

    def plan_at(self, path: Path) -> RegionPlan | None:
        for r in self.regions:
            if r.root == path:
                return r
        return None


@dataclass(frozen=True)
class Options:
    """What the user asked for: ``fastmath`` allows reassociating float
    reductions and contracting ``a * b + c`` into an FMA in transformed loops;
    ``vectorize`` names the loop index to vectorize (False: vectorize nothing);
    ``unroll`` maps loop indices to factors."""

    fastmath: bool = True
    vectorize: str | bool | None = None
    unroll: tuple[tuple[str, int], ...] = ()
    parallel: bool = False  # split top-level loops across threads (passes/parallel.py)


def make_options(fastmath: bool = True, vectorize: str | bool | None = None, unroll=None,
                 parallel: bool = False) -> Options:
    """Options from user keywords, checked: ``unroll`` is a dict {index: factor}."""
    if not isinstance(fastmath, bool):
        raise TypeError(f"fastmath must be True or False, got {fastmath!r}")
    if not isinstance(parallel, bool):
        raise TypeError(f"parallel must be True or False, got {parallel!r}")
    if not (vectorize is None or vectorize is False or isinstance(vectorize, str)):
        raise TypeError(f"vectorize must be None (the cost model decides), False (no vectorization) or the name of "
                        f"a loop index, got {vectorize!r}")
    if unroll is None:
        unroll = {}
    if not isinstance(unroll, dict) or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                                and 1 <= v <= 64 for k, v in unroll.items()):
        raise TypeError(f"unroll must be a dict {{loop index: factor from 1 to 64}}, got {unroll!r}")
    return Options(fastmath, vectorize, tuple(sorted(unroll.items())), parallel)


# ----------------------------------------------------------------------------- entry point


def schedule(kernel: ir.Kernel, variant, target: TargetDesc, options: Options = Options(), warn: bool = False) -> Schedule:
    """The schedule of every nest of ``kernel``; its ``kernel`` is the one to
    compile: ``kernel`` with the array elements updated in place held in locals
    (passes/promote.py) and the nests the cost model interchanged."""
    kernel, held = promote.promote(kernel, variant, options.parallel)
    kernel, swaps, known, held_inside = _interchange(kernel, variant, target, options)
    sched = _schedule(kernel, variant, target, options, warn, known)
    return dataclasses.replace(sched, kernel=kernel, interchanges=swaps, promotions=held + held_inside)


def _interchange(kernel: ir.Kernel, variant, target: TargetDesc, options: Options):
    """Each nest in the order of its perfect loops the cost model prices lowest
    (passes/interchange.py); a new order must be predicted under ORDER_GAIN (95%)
    of the written order's cycles, under LOCALITY_GAIN (85%) where it walks more
    arrays from row to row. Also the
    decisions it made for the nests as they now stand, by path."""
    from ..errors import ScheduleError

    ctx = Context.of(kernel)
    swaps, known, held = [], {}, []
    for site in list(_nests(kernel.body)):
        alternatives = interchange.orders(ctx, site, variant, options.fastmath)
        if not alternatives:
            continue
        try:
            known[site.path] = decide(ctx, site, variant, target, options)
            written = known[site.path].predicted
        except ScheduleError:
            written = math.inf  # an override this order cannot take; another order may
        best = None
        for root, order in alternatives:
            candidate = dataclasses.replace(kernel, body=interchange.replace_at(kernel.body, site.path, root))
            # an element updated in place across the loop now innermost is held in a
            # local across it (passes/promote.py): a gemm written C[i, j] += ...
            root, promoted = promote.promote_inside(candidate, root, variant, options.parallel)
            if promoted:
                candidate = dataclasses.replace(kernel, body=interchange.replace_at(kernel.body, site.path, root))
            cctx = Context.of(candidate)
            try:
                d = decide(cctx, LoopSite(site.path, root), variant, target, options)
            except ScheduleError:
                continue
            cycles = d.predicted
            if cycles < _order_gain(site.loop, root, order) * written:
                # near-ties (within 5%) go to the order that walks memory in order
                key = (-interchange.locality(root, order), cycles)
                if best is None or _better(cycles, key, best[0], best[1]):
                    best = (cycles, key, candidate, cctx, order, d, promoted)
        if best is not None:
            cycles, _, kernel, ctx, order, known[site.path], promoted = best
            as_written = tuple(s.index for s in interchange.perfect_chain(site.loop, len(order)))
            swaps.append(Interchange(site.path, order, as_written, cycles, written))
            held += promoted
    return kernel, tuple(swaps), known, tuple(held)


def _order_gain(written: ir.For, root: ir.For, order: tuple[str, ...]) -> float:
    """The fraction of the written order's predicted cycles that the nest ``root``
    in ``order`` must come under to replace it."""
    as_written = tuple(s.index for s in interchange.perfect_chain(written, len(order)))
    worse = interchange.row_walks(root, order) > interchange.row_walks(written, as_written)
    return LOCALITY_GAIN if worse else ORDER_GAIN


def _better(cycles: float, key: tuple, best_cycles: float, best_key: tuple) -> bool:
    """Order choice: clearly cheaper (by 5%) wins; else the better (locality, cycles) key."""
    if cycles < 0.95 * best_cycles:
        return True
    if best_cycles < 0.95 * cycles:
        return False
    return key < best_key


def _schedule(kernel: ir.Kernel, variant, target: TargetDesc, options: Options, warn: bool, known: dict) -> Schedule:
    ctx = Context.of(kernel)
    sites = list(_nests(kernel.body))
    plans, notes = parallel.choose(ctx, variant, options.parallel, options.fastmath, warn)
    versions, guards = {}, {}
    if getattr(variant, "boundscheck", None) is None:
        scans = Scans(kernel, ctx.checks)
        guards = access_guards(kernel, ctx.checks, ctx.symbols, scans)
        versions = _versions(sites, guards, scans)

    def checked(site):  # the decision for a nest as it stands (with its bounds checks)
        hit = known.get(site.path)
        return hit if hit is not None else decide(ctx, site, variant, target, options)

    if not versions:
        return _assemble([checked(site) for site in sites], plans, notes, target)
    # nests with bounds checks the kernel can decide before they start: scheduled
    # twice, without those checks (taken when the guards hold) and with them
    fast_ctx = dataclasses.replace(ctx, checks=_relaxed(ctx, guards))
    fast_checks = dict(fast_ctx.checks)
    fast_decisions, slow_decisions, made = [], [], []
    split = {p.path for p in plans}
    for site in sites:
        if site.path in versions:
            conds, arrays, scanned = versions[site.path]
            scan_plans = _scan_schedules(kernel, scanned, variant, target, options)
            other = None if site.path in split else _unchecked_nest(kernel, site, conds, variant, target, options)
            if other is None or other[0] is None:  # as written (its decision, when priced)
                fast_decisions.append(other[1] if other is not None else decide(fast_ctx, site, variant, target, options))
                made.append(Version(site.path, _strictest(conds), arrays, scans=scanned, scan_schedules=scan_plans))
            else:
                root, decision, order, written, held, checks = other
                fast_decisions.append(decision)
                fast_checks.update(checks)
                made.append(Version(site.path, _strictest(conds), arrays, root, order, written, held, scanned,
                                    scan_plans))
            slow_decisions.append(_decide_checked(ctx, site, variant, target, options))
        else:
            d = checked(site)
            fast_decisions.append(d)
            slow_decisions.append(d)
    fast = _assemble(fast_decisions, plans, notes, target)
    fast = dataclasses.replace(fast, checks=fast_checks)
    slow = _assemble(slow_decisions, plans, notes, target)
    return dataclasses.replace(slow, fast=fast, versions=tuple(made))


def _unchecked_nest(kernel: ir.Kernel, site: LoopSite, conds: frozenset, variant, target: TargetDesc,
                    options: Options):
    """The unchecked copy of a versioned nest in the order, and with the elements
    held in locals, that its accesses' checks kept the nest as written from (a
    gemm written ``for i in range(n) ... C[i, j] += ...`` with ``n`` a parameter):
    without the checks the guards cover, it runs like a nest whose bounds are
    proven. Returns (its root, its decision, its order and as written, the
    elements held, the checks of its nodes); the root is None when the nest is
    best as written with nothing held (the decision is then the one for it as
    written), and None is returned when no order had a legal plan. The checked copy
    keeps the nest as written, so errors are raised in the order the user wrote."""
    from ..errors import ScheduleError

    def unchecked(root: ir.For):
        k = dataclasses.replace(kernel, body=interchange.replace_at(kernel.body, site.path, root))
        c = Context.of(k)
        g = access_guards(k, c.checks, c.symbols, Scans(k, c.checks))
        inside = {id(n) for n in analysis.accesses((root,))}
        return k, dataclasses.replace(c, checks={i: (tuple(False for _ in f) if i in inside and g.get(i) is not None
                                                     and g[i] <= conds else f) for i, f in c.checks.items()})

    base_kernel, base_ctx = unchecked(site.loop)
    candidates = [(site.loop, ())] + interchange.orders(base_ctx, site, variant, options.fastmath)
    best, written, as_written = None, math.inf, None
    for root, order in candidates:
        k, c = unchecked(root)
        root, held = promote.promote_inside(k, root, variant, options.parallel, c.checks)
        if held:
            k, c = unchecked(root)
        try:
            d = decide(c, LoopSite(site.path, root), variant, target, options)
        except ScheduleError:
            continue
        cycles = d.predicted
        if not order:
            written, as_written = cycles, d
            if held:
                best = (cycles, root, d, order, held, c)
        elif (cycles < _order_gain(site.loop, root, order) * written
              and (best is None or cycles < ORDER_GAIN * best[0])):
            best = (cycles, root, d, order, held, c)
    if best is None:
        return None if as_written is None else (None, as_written, (), (), (), {})
    _, root, d, order, held, c = best
    nodes = {id(n) for n in analysis.accesses((root,))}
    as_written = tuple(s.index for s in interchange.perfect_chain(site.loop, len(order))) if order else ()
    return root, d, order, as_written, held, {i: f for i, f in c.checks.items() if i in nodes}


def _versions(sites, guards: dict, scans: Scans) -> dict:
    """Per nest (by path) whose checked accesses include some the kernel can decide
    at run time (``guards``, from ``bounds.access_guards``): (the guards, the arrays
    whose checks they remove, the index scans they read). None when the user asked
    for checks everywhere or nowhere (``guards`` is then empty)."""
    out = {}
    for site in sites:
        conds, arrays = set(), set()
        for n in analysis.accesses((site.loop,)):
            g = guards.get(id(n))
            if g is not None:
                conds |= g
                arrays.add(n.array)
        if arrays:
            names = {k for g in conds for k, _ in g}
            scanned = tuple(x for x in scans.sites.values() if x.lo in names or x.hi in names)
            out[site.path] = (frozenset(conds), tuple(sorted(arrays)), scanned)
    return out


def _strictest(conds) -> tuple:
    """The guards to test, sorted: less those another implies. Of guards that
    differ only in their constant (``n1 - 2*n0 >= 0`` and ``n1 - 2*n0 + 1 >= 0``,
    from ``x[2*i]`` and ``x[2*i + 1]``), the one with the smallest constant."""
    best: dict[tuple, tuple] = {}
    for g in conds:
        terms = tuple((k, v) for k, v in g if k)
        c = sum(v for k, v in g if not k)
        if terms not in best or c < best[terms][0]:
            best[terms] = (c, g)
    return tuple(sorted(g for _, g in best.values()))


def _scan_schedules(kernel: ir.Kernel, scanned, variant, target: TargetDesc, options: Options) -> tuple:
    """A schedule for each index scan's code, as the body of a kernel of its own
    (with ``kernel``'s parameters): the cost model vectorizes it like any
    reduction (an ELLPACK matrix's column indices: a min and a max held in
    vectors across its rows, where LLVM reduced each row of 8 to one value).
    Manual overrides are the user's nest's, not the scan's: only
    ``vectorize=False`` carries over."""
    own = Options(options.fastmath, False if options.vectorize is False else None)
    out = []
    for x in scanned:
        k = dataclasses.replace(kernel, body=x.code)
        ctx = Context.of(k)
        decisions = [decide(ctx, site, variant, target, own) for site in _nests(k.body)]
        out.append(dataclasses.replace(_assemble(decisions, (), (), target), kernel=k))
    return tuple(out)


def _relaxed(ctx: Context, guards: dict) -> dict:
    """The bounds checks left when every guard of a versioned nest holds."""
    return {k: (tuple(False for _ in flags) if guards.get(k) is not None else flags) for k, flags in ctx.checks.items()}


def _decide_checked(ctx: Context, site: LoopSite, variant, target: TargetDesc, options: Options) -> NestDecision:
    """The decision for the checked copy of a versioned nest. A manual override
    that only the unchecked copy allows is not an error here: the checked copy
    then gets the cost model's choice."""
    from ..errors import ScheduleError

    try:
        return decide(ctx, site, variant, target, options)
    except ScheduleError:
        auto = dataclasses.replace(options, vectorize=False if options.vectorize is False else None, unroll=())
        return decide(ctx, site, variant, target, auto)


def _assemble(decisions: list[NestDecision], plans, notes, target: TargetDesc) -> Schedule:
    regions = [r for d in decisions for r in d.regions()]
    by_root = {d.root: d for d in decisions}
    tuned = []
    for p in plans:
        d = by_root.get(p.path)
        align, rest, inner = 1, 3, 1.0
        if d is not None:
            inner = d.chosen.estimate.inner_cycles
            plan = d.chosen.plan
            if plan is not None and plan.root == p.path and plan.loops[0] == p.index:
                if plan.vector == p.index:
                    align = plan.width  # whole vectors: a leftover runs as one masked vector
                else:
                    # whole unroll blocks; the leftover iterations run one at a time,
                    # at about 2/3 of a block's cost each (gemm: 6-row tile vs 1 row)
                    align, rest = plan.factors[0], max(3, 2 * plan.factors[0])
        tuned.append(dataclasses.replace(p, align=align, rest_cost3=rest, inner_cycles=inner))
    return Schedule(tuple(regions), tuple(decisions), target.name, tuple(tuned), tuple(notes))


def _nests(body, path=(), outer=()):
    """The outermost loops (top level, or inside top-level ifs)."""
    for k, s in enumerate(body):
        if isinstance(s, ir.For):
            yield LoopSite(path + (k,), s, outer)
        elif isinstance(s, ir.If):
            yield from _nests(s.then, path + (k, 0), outer)
            yield from _nests(s.orelse, path + (k, 1), outer)
        elif isinstance(s, ir.While):  # a sweep repeated until it converges
            yield from _nests(s.body, path + (k,), outer)


def decide(ctx: Context, nest: LoopSite, variant, target: TargetDesc, options: Options) -> NestDecision:
    facts = _Facts(ctx, variant)
    scalar = Option(None, estimate(ctx, nest, None, target, options, facts))

    loops_at: dict[Path, ir.For] = {}

    def loop_at(p: Path) -> ir.For:
        if p not in loops_at:
            loops_at[p] = analysis.stmt_at(ctx.kernel.body, p)
        return loops_at[p]

    def chain_of(plan: RegionPlan) -> tuple[ir.For, ...]:
        return tuple(loop_at(p) for p in plan.paths)

    options_ok: list[Option] = []
    illegal: list[Option] = []
    legal_cache: dict[tuple, str | None] = {}
    notes: dict[str, str] = {}
    names_here = {x.loop.index for x in sites_within(nest)}
    unrollable = tuple((x.path, x.loop.index, len(analysis.literal_range(x.loop)))
                       for x in sites_within(nest) if analysis.fully_unrollable(x.loop))
    spills = _Spills(target.vector_registers)
    forced = (isinstance(options.vectorize, str) and options.vectorize in names_here) or any(
        n in names_here for n, _ in options.unroll)
    copies = frozenset() if getattr(variant, "may_alias", True) else frozenset(
        p.name for p, c in zip(ctx.kernel.arrays, getattr(variant, "contiguous", ())) if c)
    for site in sites_within(nest):
        packs = _packable(ctx, site, variant)
        for plan in _candidates(ctx, site, target, options, unrollable, len(nest.outer), packs, copies):
            key = (plan.paths, plan.vector, plan.siblings)
            if key not in legal_cache:
                root_site = next(x for x in sites_within(nest) if x.path == plan.root)
                chain = chain_of(plan)
                vec = chain[-1] if plan.vector else None
                problem = legal_cache.get((plan.paths, plan.vector, ())) if plan.siblings else None
                if problem is None:
                    problem = analysis.region_problems(ctx, root_site, chain, vec, variant, options.fastmath)
                for p in (p for p, _ in plan.siblings if problem is None):
                    # a sibling runs in vectors inside the same jammed loops
                    sib = loop_at(p)
                    problem = analysis.region_problems(ctx, root_site, chain[:-1] + (sib,), sib, variant,
                                                       options.fastmath)
                legal_cache[key] = problem
            problem = legal_cache[key]
            if problem:
                if all(f == 1 for f in plan.factors[:-1]) and plan.factors[-1] == 1:
                    illegal.append(Option(plan, None, problem))
                continue
            if not _matches_overrides(plan, options, names_here):
                continue
            if not forced and spills.beyond(plan):
                continue
            if (plan.vector is not None and plan.tail != "none" and plan.width >= 16 and not target.small_masks
                    and _small_elements(ctx.kernel, chain_of(plan)[-1])):
                # measured: 16 lanes of u8 masked, 0.46 us a 16 x 16 blend; a scalar tail, 0.09.
                # At 4 or 8 lanes (a bool mask next to f64 or f32 data) masked tails are faster
                notes[plan.vector, plan.siblings] = (
                    f"loop {plan.vector} accesses 8- or 16-bit elements in {plan.width} lanes, whose masked loads "
                    f"and stores this target expands element by element: scalar tails")
                plan = dataclasses.replace(plan, tail="scalar")
            option = Option(plan, estimate(ctx, nest, plan, target, options, facts))
            if plan.siblings and option.estimate.widest > target.l1_ways - 2 and not forced:
                # rows of a C-order array a multiple of 4 KB apart share one set
                # of L1: more of them than its ways (less two, for the lines the
                # prefetcher brings) evict each other on every step (an rmsnorm at
                # 512 x 512 f64 jammed over 7 rows: 0.3x the rows one at a time;
                # a row centering over 4 rows, 8 walked: 0.7x)
                continue
            options_ok.append(option)
            spills.record(plan, option.estimate)
            hazard = next(((loop_at(p).index, h) for p in plan.vector_paths
                           if (h := facts.hazard(nest.loop, loop_at(p)))), None)
            if hazard and plan.tail != "none":
                # a masked tail would wait on a store (_Model.loop): price a scalar one too
                notes[plan.vector, plan.siblings] = (
                    f"loop {hazard[0]} reads {hazard[1]}, which loop {nest.loop.index} stores: a masked tail would "
                    f"load the last element stored with a vector and wait for the store, so scalar tails are priced too")
                plan = dataclasses.replace(plan, tail="scalar")
                options_ok.append(Option(plan, estimate(ctx, nest, plan, target, options, facts)))
    pool = options_ok if forced else options_ok + [scalar]
    if forced and not options_ok:
        from ..errors import ScheduleError

        why = "; ".join(sorted({o.problem for o in illegal if o.problem})) or "no loop of this nest matches"
        raise ScheduleError(f"cannot apply vectorize={options.vectorize!r} unroll={dict(options.unroll)!r} "
                            f"to the nest at loop {nest.loop.index}: {why}", nest.loop.loc)
    if options.vectorize is False and not options.unroll:
        pool = [scalar]
    pool.sort(key=lambda o: (o.estimate.cycles, o.plan.instances if o.plan else 0))
    best = pool[0].estimate.cycles
    streaming = _streaming(ctx, nest, facts, target, best)
    near = [o for o in pool if o.estimate.cycles <= best * (1 + NEAR_TIE)
            or streaming and o.plan is not None and o.plan.vector and o.estimate.cycles <= best * (1 + MEMORY_TIE)]
    chosen = min(near, key=lambda o: (_near_tie_key(ctx, o.plan), o.estimate.cycles,
                                      o.plan.instances if o.plan else 0))
    over = chosen
    chosen = _few_rows(pool, chosen, target) if not forced else chosen
    rest = [o for o in pool if o is not chosen]
    alternatives = _diverse(rest, 4) + illegal[:4]
    said = [notes.get((chosen.plan.vector, chosen.plan.siblings)) if chosen.plan is not None else None]
    if chosen is not over:
        said.append(f"few rows: chosen over {over.plan.describe()} (predicted "
                    f"{1 - over.estimate.cycles / chosen.estimate.cycles:.2%} cheaper), whose innermost loop walks "
                    f"{over.estimate.rows} array rows at once, more than {ROW_SETS} sets of L1's {target.l1_ways} "
                    f"ways hold: rows 2 KB apart would evict each other's lines (this one walks "
                    f"{chosen.estimate.rows})")
    elif chosen is not pool[0]:
        why = ("its unrolled loop streams a block of an array through the cache fewer times"
               if _near_tie_key(ctx, chosen.plan)[0] < _near_tie_key(ctx, pool[0].plan)[0]
               else "it unrolls loops nearer the innermost one, their rows nearer in memory")
        if streaming:
            why = f"the nest streams more data than the cache holds, and {why.replace('it unrolls', 'unrolls')}"
        said.append(f"near-tie: chosen over {pool[0].plan.describe()} (predicted "
                    f"{1 - pool[0].estimate.cycles / chosen.estimate.cycles:.2%} cheaper): {why}")
    held = facts.carried(chosen.plan) if chosen.plan is not None else frozenset()
    if held:
        around = chosen.plan.loops[-2]
        said.append(f"{', '.join(sorted(held))} held in vectors across loop {around}: each run of loop "
                    f"{chosen.plan.vector} adds into them lane by lane, and the lanes are summed when loop {around} ends")
    decision = NestDecision(nest.path, f"for {nest.loop.index}", chosen, tuple(alternatives),
                            tuple(n for n in said if n), cheapest=best if chosen is not pool[0] else None)
    if not forced and options.vectorize is not False:
        decision = _split(ctx, nest, variant, target, options, facts, decision)
    return decision


def _few_rows(pool: list[Option], chosen: Option, target: TargetDesc) -> Option:
    """``chosen``, or where its innermost loop walks more array rows than
    ROW_SETS sets of L1 hold, the cheapest plan within ROWS_TIE of it that walks
    no more than that."""
    limit = ROW_SETS * target.l1_ways
    if chosen.estimate.rows <= limit:
        return chosen
    fits = [o for o in pool if o.plan is not None and o.estimate.rows <= limit
            and o.estimate.cycles <= chosen.estimate.cycles * (1 + ROWS_TIE)]
    return min(fits, key=lambda o: o.estimate.cycles) if fits else chosen


def _footprint(ctx: Context, nest: LoopSite, facts: _Facts) -> dict[str, float]:
    """Bytes of each array the nest touches at the assumed sizes. An access
    touches, along each axis, as many elements as the trips of the nest's loops
    its subscript reads add up to (``img[i + di, j]``: i's and di's), an array
    the most any of its accesses does."""
    trips: dict[str, float] = {}
    for site in analysis.loop_sites((nest.loop,)):
        trips[site.loop.index] = facts.trip(site.loop, {o.index for o in nest.outer + site.outer})
    sizes = {p.name: p.dtype.itemsize for p in ctx.kernel.arrays}
    out: dict[str, float] = {}
    for n in analysis.accesses((nest.loop,)):
        extent = math.prod(max(1.0, sum(trips.get(x, 0.0) for x in analysis.names_read(i))) for i in n.indices)
        out[n.array] = max(out.get(n.array, 0.0), extent * sizes[n.array])
    return out


def _streaming(ctx: Context, nest: LoopSite, facts: _Facts, target: TargetDesc, cycles: float) -> bool:
    """Whether the nest, at the assumed sizes, touches more data than the cache
    holds (``_footprint``) and moving it takes longer than ``cycles``."""
    total = sum(_footprint(ctx, nest, facts).values())
    return total > target.cache_bytes and total / target.stream_bytes_per_cycle > cycles


def _traffic(ctx: Context, nest: LoopSite, facts: _Facts, target: TargetDesc) -> float:
    """Cycles to move the data ``nest`` touches (``_footprint``) between L2 and L1,
    a written array's twice (read for ownership, written back); 0 when it fits L1."""
    data = _footprint(ctx, nest, facts)
    if sum(data.values()) <= target.l1_bytes:
        return 0.0
    written = {s.array for s in ir.walk_stmts((nest.loop,)) if isinstance(s, ir.Store)}
    return sum(b * (2 if a in written else 1) for a, b in data.items()) / target.l2_bytes_per_cycle


def _near_tie_key(ctx: Context, plan: RegionPlan | None) -> tuple[int, int]:
    """What decides between plans predicted within ``NEAR_TIE`` of each other:
    the cost model does not see caches. First, whether a loop the plan unrolls
    leaves out of its subscripts an array that the loops inside it walk in two or
    more dimensions: unrolled f times, it streams that block through the cache
    once per f of its iterations instead of once per iteration (pairwise
    distances, unrolling i: Y[j, k] once per 6 rows of X; unrolling j re-read
    all of Y per row, 1.3x slower at 128 x 128). Then how far out the unrolled
    loops sit from the innermost transformed one, summed in levels of nesting:
    rows of loops further out lie further apart in memory, and a C-order array's
    rows a power of two apart compete for the same L1 sets (a 3-d add unrolling
    i instead of j, predicted 0.01% cheaper, ran 2x slower at 128 x 128 x 16).
    Lower is better."""
    if plan is None:
        return (0, 0)
    inner = len(plan.paths[-1])
    blocks, spread = 0, 0
    for p, f in zip(plan.paths, plan.factors):
        if f == 1 or p == plan.paths[-1]:
            continue
        spread += inner - len(p)
        loop = analysis.stmt_at(ctx.kernel.body, p)
        inside = analysis.loop_indices(loop.body)
        for n in analysis.accesses(loop.body):
            names = frozenset().union(*(analysis.names_read(i) for i in n.indices))
            if loop.index not in names and len(names & inside) >= 2:
                blocks = 1
    return (-blocks, spread)


class _Spills:
    """Which candidate plans are not worth estimating: along one loop's factor,
    those past a plan that already needed more vector registers than the target
    has and cost more than the plan with that factor one smaller (same loops,
    vector loop and tail). From there each further instance adds registers to
    spill and reload. No decision of the benchmark or test kernels changed, and a
    gemm f32 on AVX2 is spared 158 of its 380 estimates. Needing too many
    registers alone is no reason: a 5x5 filter's best tile reloads its taps and
    still wins."""

    def __init__(self, registers: int):
        self.registers = registers
        self.seen: dict[tuple, tuple] = {}  # key -> (cycles, registers), or (k,): skipped along loop k

    @staticmethod
    def _key(plan: RegionPlan, factors: tuple[int, ...]) -> tuple:
        return plan.paths, plan.vector, plan.tail, plan.unrolled, plan.packed, plan.aligned, plan.siblings, factors

    def beyond(self, plan: RegionPlan) -> bool:
        fs = plan.factors
        for k in range(len(fs)):
            one = self.seen.get(self._key(plan, fs[:k] + (fs[k] - 1,) + fs[k + 1:]))
            two = self.seen.get(self._key(plan, fs[:k] + (fs[k] - 2,) + fs[k + 1:]))
            if one == (k,) or (one is not None and len(one) == 2 and two is not None and len(two) == 2
                               and one[1] > self.registers and one[0] > two[0]):
                self.seen[self._key(plan, fs)] = (k,)  # skipped along loop k: so is the next
                return True
        return False

    def record(self, plan: RegionPlan, estimate: Estimate) -> None:
        self.seen[self._key(plan, plan.factors)] = (estimate.cycles, estimate.registers)


def _split(ctx: Context, nest: LoopSite, variant, target: TargetDesc, options: Options, facts: _Facts,
           whole: NestDecision) -> NestDecision:
    """``whole`` (one region for the nest), or, when the root holds two or more
    loops and the model prices it lower, the root as written with a decision of its
    own for each of them: one region's vector loop is one loop, and a sibling
    loop would run inside it as written (a row's sum of squares, then its scaling:
    two vector loops, not one)."""
    kids = [LoopSite(nest.path + (k,), x, nest.outer + (nest.loop,), nest.outer_paths + (nest.path,))
            for k, x in enumerate(nest.loop.body) if isinstance(x, ir.For)]
    if len(kids) < 2:
        return whole
    parts = tuple(decide(ctx, kid, variant, target, options) for kid in kids)
    plans = {r.root: r for p in parts for r in p.regions()}
    if not plans:
        return whole
    split = Option(None, estimate(ctx, nest, None, target, options, facts, plans))
    if whole.chosen.plan is not None and whole.chosen.plan.siblings:
        # vectorizing siblings for several rows at once saves latency and work,
        # not data moved: over data from L2, where moving it takes longer than
        # either computes, rows one at a time stream it better (a row centering,
        # predicted 28% cheaper jammed over 3 rows, ran 10% slower at 256 x 256
        # f64; an rmsnorm, whose rows wait on a square root, 15% faster)
        floor = _traffic(ctx, nest, facts, target)
        if max(whole.predicted, floor) < SIBLING_GAIN * max(split.estimate.cycles, floor):
            return whole
        notes = (f"not chosen: {whole.chosen.plan.describe()}, predicted {whole.predicted:,.0f} cycles, which is "
                 f"not {1 - SIBLING_GAIN:.0%} below the loops one at a time once both take the {floor:,.0f} cycles "
                 f"its data takes to move from L2 (rows one at a time stream it better)",)
        # then the region without siblings against the split, as any region
        plain = [o for o in whole.rejected if o.plan is not None and o.estimate is not None and not o.plan.siblings]
        if plain and split.estimate.cycles >= SPLIT_GAIN * plain[0].estimate.cycles:
            rest = (whole.chosen,) + tuple(o for o in whole.rejected if o is not plain[0])
            return dataclasses.replace(whole, chosen=plain[0], rejected=rest, notes=notes, cheapest=None)
    elif split.estimate.cycles >= SPLIT_GAIN * whole.predicted:
        return whole
    else:
        notes = ()
    rejected = (whole.chosen,) + tuple(o for o in whole.rejected if o.plan is not None)[:3]
    return NestDecision(whole.root, whole.header, split, rejected, notes, parts)


def _diverse(options: list[Option], n: int) -> list[Option]:
    """The cheapest alternatives, at most one per (loops, vector) shape."""
    seen, out = set(), []
    for o in options:
        key = None if o.plan is None else (o.plan.loops, o.plan.vector, o.plan.tail, o.plan.packed, o.plan.aligned,
                                           o.plan.siblings)
        if key in seen:
            continue
        seen.add(key)
        out.append(o)
        if len(out) == n:
            break
    return out


def _matches_overrides(plan: RegionPlan, options: Options, names_here: set[str]) -> bool:
    if options.vectorize is False and plan.vector is not None:
        return False
    if (isinstance(options.vectorize, str) and options.vectorize in names_here and plan.vector != options.vectorize
            and all(x != options.vectorize for _, x in plan.siblings)):
        return False
    for name, f in options.unroll:
        if name in names_here and plan.factor(name) != f:
            return False
    return True


def sites_within(nest: LoopSite):
    """The loop ``nest`` and every loop inside it."""
    yield nest
    yield from analysis.loop_sites(nest.loop.body, nest.path, nest.outer + (nest.loop,), nest.outer_paths + (nest.path,))


def _split_guard(s: ir.If) -> bool:
    """Whether ``s`` is the if passes/split.py puts around a loop's copies: the
    copies (loops of one index) when the split's points are in order, the loop as
    written otherwise."""
    return (len(s.orelse) == 1 and isinstance(s.orelse[0], ir.For) and bool(s.then)
            and all(isinstance(x, ir.For) and x.index == s.orelse[0].index for x in s.then))


def _lane_type(loop: ir.For) -> DType:
    """The element type vector lanes are sized for: the narrowest array element
    accessed in the loop (most lanes per load), f64 when there is none. Narrow
    integer elements count as what the loop computes with them (``f32(x[i])`` of a
    u8 array: f32 lanes; ``a[i] + b[i]``: i64 lanes, or i16 once narrowed), unless
    nothing in the loop computes (a copy: u8 lanes)."""
    types = [n.type for n in analysis.loads_in(loop.body)]
    types += [s.value.type for s in ir.walk_stmts(loop.body) if isinstance(s, ir.Store)]
    types = [t for t in types if t is not DType.BOOL]
    narrow = [t for t in types if t.is_narrow]
    if narrow:
        types = [t for t in types if not t.is_narrow]
        for e in (e for s in ir.walk_stmts(loop.body) for top in ir.stmt_exprs(s) for e in ir.walk_expr(top)):
            if isinstance(e, (ir.Binary, ir.Unary, ir.Select, ir.Call)) or (isinstance(e, ir.Cast) and not e.to.is_narrow):
                types.append(e.type)  # what the loop computes in (i16 where passes/narrow.py narrowed it)
        types = [t for t in types if t is not DType.BOOL] or narrow
    return min(types, key=lambda t: t.bits) if types else DType.F64


def _small_elements(kernel: ir.Kernel, loop: ir.For) -> bool:
    """Whether ``loop`` loads or stores array elements narrower than 32 bits."""
    arrays = {n.array for n in analysis.loads_in(loop.body)}
    arrays |= {s.array for s in ir.walk_stmts(loop.body) if isinstance(s, ir.Store)}
    return any(kernel.param(a).dtype.bits < 32 for a in arrays)


def _candidates(ctx: Context, site: LoopSite, target: TargetDesc, options: Options, unrollable=(), top: int = 0,
                packs: tuple[str, ...] = (), copies: frozenset[str] = frozenset()):
    """Plans vectorizing ``site.loop`` with up to two loops unrolled: the vector
    loop itself (several vectors) and/or enclosing loops of the nest (``top``: how
    many of ``site.outer`` are outside it). ``unrollable``: the nest's short
    literal loops, (path, index, trip); those inside a plan's region that it does
    not transform (nor any loop inside them) it unrolls fully. ``packs``: arrays
    the plans read from a transposed copy, where their region can
    (``_packable``, ``_reread``). ``copies``: arrays contiguous in a variant whose
    arrays do not overlap, which the region may read from a copy with aligned
    rows (``_row_walks``)."""
    v = site.loop
    lane = _lane_type(v)
    w = target.width(lane)
    ancestors = site.outer[top:]
    outer_paths = site.outer_paths[top:]
    # a literal trip shorter than a vector (a filter's taps) would run only masked
    # steps, and a factor above a literal trip only leftovers: not tried, unless asked for
    trips = [analysis.literal_range(x) for x in ancestors]
    forced = {n for n, _ in options.unroll}
    if (r := analysis.literal_range(v)) is not None and len(r) < w:
        # a literal trip shorter than a vector: a narrower vector that it fills
        # (a 4 x 4 matrix's rows of f32 in 4 lanes); 1 lane is no vector
        if len(r) < 2 or len(r) & (len(r) - 1):
            if options.vectorize != v.index:
                return
        else:
            w = len(r)
    siblings = _siblings(site, lane, w, unrollable)
    search = analysis.search_exit(v) is not None
    # which enclosing loops may join: any, but at most two loops get a factor > 1
    for k in range(0, min(2, len(ancestors)) + 1):
        for chosen in itertools.combinations(range(len(ancestors)), k):
            names = tuple(ancestors[i].index for i in chosen) + (v.index,)
            paths = tuple(outer_paths[i] for i in chosen) + (site.path,)
            full = tuple(u for u in unrollable if _jammed_inside(u[0], paths))
            chain = ancestors[chosen[0]:] if chosen else ()
            here = _reread(ctx, chain[0] if chain else v, chain, v, packs) if packs else ()
            walks = _row_walks(ctx, chain[0] if chain else v, chain + (v,), v, copies - set(here)) if copies else ()
            for factors in _factor_choices(len(chosen)):
                if math.prod(factors) > MAX_INSTANCES:
                    continue
                if any(trips[i] is not None and factors[k] > len(trips[i]) and ancestors[i].index not in forced
                       for k, i in enumerate(chosen)):
                    continue
                if r is not None and factors[-1] > 1 and factors[-1] * w > len(r) and v.index not in forced:
                    continue  # vectors past the loop's literal trip: only leftovers
                # with arrays to copy, the plan reading them by gathers instead is
                # not tried: per element it costs a gather lane (1.8 cycles) on
                # every read where the copy costs about half a cycle once
                tail = "none" if r is not None and len(r) % (w * factors[-1]) == 0 else "masked"
                if search:
                    tail = "search"
                plan = RegionPlan(paths[0], names, paths, factors, v.index, w, lane, full, tail, packed=here,
                                  aligned=walks)
                yield plan
                if siblings and chosen:
                    yield dataclasses.replace(plan, siblings=siblings, tail="masked" if tail == "none" else tail)


def _siblings(site: LoopSite, lane: DType, w: int, unrollable) -> tuple[tuple[Path, str], ...]:
    """The loops beside ``site.loop`` in its parent loop's body that a plan
    vectorizing it, with the parent inside its region, may vectorize too
    (``RegionPlan.siblings``): of the same lane type, not a short literal loop
    the region unrolls fully. Empty unless ``site.loop`` is the last of them, so
    that each such plan is made once, from its last loop."""
    if not site.outer or site.path[:-1] != site.outer_paths[-1]:
        return ()
    short = {p for p, _, _ in unrollable}
    mine = site.path[-1]
    found = []
    for k, x in enumerate(site.outer[-1].body):
        if not isinstance(x, ir.For) or k == mine:
            continue
        path = site.path[:-1] + (k,)
        r = analysis.literal_range(x)
        if path in short or _lane_type(x) != lane or (r is not None and len(r) < w):
            continue
        if k > mine:
            return ()
        found.append((path, x.index))
    return tuple(found)


def _packable(ctx: Context, site: LoopSite, variant) -> tuple[str, ...]:
    """The 2-d arrays a region vectorizing ``site.loop`` may read from a copy
    transposed before it starts (``RegionPlan.packed``): read inside the vector
    loop moving along their first axis with coefficient 1 and not along the
    second (ABt's ``B[n, k]`` vectorized along n: a gather per vector, contiguous
    in the copy), never moving otherwise there, never written by the kernel, in a
    variant whose arrays do not overlap. ``_candidates`` keeps those whose reads
    a region reaches in one block (``analysis.transposed_box``) read again by
    its other loops; the cost model prices the copy (``_Model.packing``) and
    compares the plans with it to those vectorizing other loops."""
    v = site.loop
    if getattr(variant, "may_alias", False) or not (isinstance(v.step, ir.Const) and v.step.value == 1):
        return ()
    written = {x.array for x in ir.walk_stmts(ctx.kernel.body) if isinstance(x, ir.Store)}
    indices = {o.index for o in site.outer} | {v.index} | analysis.loop_indices(v.body)
    good, bad = set(), set()
    for n in analysis.loads_in(v.body):
        p = ctx.kernel.param(n.array)
        if n.array in written or len(n.indices) != 2 or p.dtype.itemsize not in analysis.PACK_ITEMSIZES:
            continue
        kind, coefs = analysis.access_kind(ctx, n, indices, v.index)
        if kind == "strided" and coefs == (1, 0):
            good.add(n.array)
        elif kind != "invariant":
            bad.add(n.array)
    return tuple(sorted(good - bad))


def _reread(ctx: Context, root: ir.For, chain: tuple[ir.For, ...], v: ir.For, arrays: tuple[str, ...]):
    """Of ``arrays`` (``_packable``), those a region rooted at ``root`` can copy:
    its reads reach one block (``analysis.transposed_box``), and a loop of the
    region around the vector loop ``v`` (``chain``: root .. v's parent) leaves
    them out, so that the copy is read again on each of its passes (ABt's m: B
    read M times). An array read once would be read and written once more to be
    copied (a row-wise prefix sum across rows, its gathers contiguous in a copy
    but its stores still scattered, ran 2.3x slower at n = 256)."""
    out = []
    for a in arrays:
        box = analysis.transposed_box(ctx, root, a, v.index)
        if box is not None and any(x.index not in (v.index, box.u.index) for x in chain):
            out.append(a)
    return tuple(out)


def _row_walks(ctx: Context, root: ir.For, chain: tuple[ir.For, ...], v: ir.For, arrays: frozenset[str]):
    """The 2-d arrays, never written, that a loop ``k`` inside the vector loop ``v``
    walks along their rows, every read ``X[k + c1, u + c2]`` with ``u`` one of the
    region's loops ``chain`` (``analysis.transposed_box``; a gemm's ``B[k, n]``
    and, in AᵀB, ``A[k, m]``), read again on each pass of another loop of the
    region (B for each of the m instances' steps): each as (array, k), for
    ``RegionPlan.aligned``. Only ``arrays`` are considered (contiguous, not read
    through a transposed copy); an array read once is left alone."""
    written = {x.array for x in ir.walk_stmts(ctx.kernel.body) if isinstance(x, ir.Store)}
    walkers = [x for x in ir.walk_stmts(v.body) if isinstance(x, ir.For)]
    region = {x.index for x in chain}
    out = []
    for a in sorted({n.array for n in analysis.loads_in(v.body)}):
        if a in written or a not in arrays or len(ctx.kernel.param(a).shape) != 2:
            continue
        for k in walkers:
            box = analysis.transposed_box(ctx, root, a, k.index)
            if box is not None and box.u.index in region and any(x.index != box.u.index for x in chain):
                out.append((a, k.index))
                break
    return tuple(out)


def _jammed_inside(path: Path, paths: tuple[Path, ...]) -> bool:
    """Whether the loop at ``path`` is inside the region of transformed loops
    ``paths`` (the first is its root) without being one or holding one."""
    root = paths[0]
    return (len(path) > len(root) and path[:len(root)] == root
            and not any(p[:len(path)] == path for p in paths))


def _factor_choices(n_outer: int):
    fs = range(1, MAX_FACTOR + 1)
    if n_outer == 0:
        for f in fs:
            yield (f,)
    elif n_outer == 1:
        for a in range(2, MAX_FACTOR + 1):
            for f in fs:
                yield (a, f)
    else:
        for a in range(2, MAX_FACTOR + 1):
            for b in range(2, MAX_FACTOR + 1):
                yield (a, b, 1)


# ----------------------------------------------------------------------------- cost model


def trip_estimate(loop: ir.For, outer_names: set[str]) -> float:
    values = analysis.literal_range(loop)
    if values is not None:
        return len(values)
    s, e, st = loop.start, loop.stop, loop.step
    step = st.value if isinstance(st, ir.Const) else 1
    # bounds that follow an outer index (triangular) average half the range
    used = analysis.names_read(s) | analysis.names_read(e)
    trip = ASSUMED_TRIP / abs(step or 1)
    return trip / 2 if used & outer_names else trip


@dataclass
class _Env:
    instances: int  # iterations run side by side here
    vector: bool  # inside the vectorized loop
    width: int
    vname: str | None
    loops: set[str]  # all loop indices enclosing here
    # transformed loop index -> (factor, how far apart its instances' index values are:
    # the step, times the width for the vector loop), for those enclosing here
    offsets: tuple[tuple[str, int, int], ...] = ()

    @property
    def vstep(self) -> int:
        """The vector loop's step (its offset per step is the step times the width)."""
        return next((d // self.width for n, _, d in self.offsets if n == self.vname), 1)


class _Facts:
    """What the cost model asks of a nest's code whatever the plan, answered once
    per decision instead of once per candidate plan (about 200 for a gemm). Keyed
    by node identity: the nest is alive while it is being decided."""

    def __init__(self, ctx: Context, variant=None):
        self.ctx = ctx
        # arrays this variant passes with strides known only at run time: an access
        # moving along their last axis is a gather or scatter, not a vector load
        flags = getattr(variant, "contiguous", None) or (True,) * len(ctx.kernel.arrays)
        self.strided = frozenset(p.name for p, c in zip(ctx.kernel.arrays, flags) if not c)
        self._loops: dict[int, tuple] = {}
        self._leaf: dict[int, bool] = {}
        self._access: dict[int, tuple] = {}
        self._kinds: dict[tuple, tuple] = {}
        self._parts: dict[int, tuple] = {}
        self._trips: dict[int, float] = {}
        self._keys: dict[tuple, tuple] = {}
        self._items: dict[tuple, tuple] = {}
        self._unrolled: dict[int, tuple] = {}
        self._sizes: dict[str, int] = {}
        self._subs: dict[int, tuple] = {}
        self._hazards: dict[tuple, str | None] = {}
        self._carried: dict[tuple, frozenset[str]] = {}
        self._ids: dict[tuple, int] = {}  # element key -> its number
        self._rows: dict[tuple, frozenset] = {}
        self._literal: dict[str, bool] = {}
        self._stores: dict[tuple, dict] = {}
        self._boxes: dict[tuple, analysis.TransposedBox | None] = {}
        self.lanes: list[int] = []  # per element number: its last subscript's constant (0: not affine)

    def loop(self, s: ir.For) -> tuple[tuple[str, ...], tuple[int, ...], frozenset[str]]:
        """(the reductions the loop carries, the bits of each local it assigns, the
        locals its body reads before assigning them)"""
        hit = self._loops.get(id(s))
        if hit is None:
            assigned = analysis.assigned_in(s.body)
            exposed = frozenset(n for n in assigned if analysis.exposed(n, s.body))
            reductions = tuple(n for n in assigned if n in exposed and analysis.reduction_op(n, s.body))
            bits = tuple(next(iter(sts)).value.type.bits for sts in assigned.values())
            hit = self._loops[id(s)] = (reductions, bits, exposed)
        return hit

    def carried(self, plan: RegionPlan) -> frozenset[str]:
        """The reductions ``plan`` holds in vectors across the loop around its
        vector loop (analysis.carried_reductions)."""
        key = (plan.paths, plan.vector, plan.tail, plan.siblings)
        hit = self._carried.get(key)
        if hit is None:
            chain = tuple(analysis.stmt_at(self.ctx.kernel.body, p) for p in plan.paths)
            hit = analysis.carried_reductions(chain, plan.tail, plan.siblings) if plan.vector else frozenset()
            self._carried[key] = hit
        return hit

    def leaf(self, body) -> bool:
        """Whether ``body`` has no loop inside it."""
        hit = self._leaf.get(id(body))
        if hit is None:
            hit = self._leaf[id(body)] = not any(isinstance(s, (ir.For, ir.While)) for s in ir.walk_stmts(body))
        return hit

    def access(self, node) -> tuple[frozenset[str], tuple]:
        """(the names an access's subscripts read, the access as a key: equal keys,
        the same element)"""
        hit = self._access.get(id(node))
        if hit is None:
            names = frozenset().union(*(analysis.names_read(i) for i in node.indices))
            hit = self._access[id(node)] = (names, (node.array, tuple(map(analysis.expr_text, node.indices))))
        return hit

    def parts(self, e: ir.Expr) -> tuple[ir.Expr, ...]:
        """``e`` and its subexpressions (``ir.walk_expr``), but for the arithmetic of
        affine subscripts: address arithmetic, folded into addressing modes or
        strength-reduced across iterations (``img[i + 1, j + 2]`` adds nothing)."""
        hit = self._parts.get(id(e))
        if hit is None:
            skip = set()
            for x in ir.walk_expr(e):
                if isinstance(x, ir.Load):
                    for i in x.indices:
                        if not isinstance(i, (ir.Var, ir.Const)) and self.ctx.affine(
                                i, analysis.names_read(i) - self.ctx.dims - self.ctx.int_scalars, products=True) is not None:
                            skip.update(id(y) for y in ir.walk_expr(i))
            hit = self._parts[id(e)] = tuple(x for x in ir.walk_expr(e) if id(x) not in skip)
        return hit

    def trip(self, s: ir.For, outer: set[str]) -> float:
        """``trip_estimate`` (``outer`` is the same set for a loop in every plan)."""
        hit = self._trips.get(id(s))
        if hit is None:
            hit = self._trips[id(s)] = trip_estimate(s, outer)
        return hit

    def keys(self, node, offsets: tuple[tuple[str, int, int], ...], loops: set[str]) -> tuple:
        """The elements the instances of an access read, as distinct numbers (equal
        numbers, the same element), numbering keys: per subscript its affine form
        with the instance's offsets folded into the constant (``x[i + 1]`` of
        instance i0 and ``x[i]`` of instance i0 + 1 are one element), or, when it is
        not affine, its text and the instance numbers of the loops it reads."""
        subs, reads = self._subscripts(node, loops)
        moving = tuple((f, d, n) for n, f, d in offsets if f > 1 and n in reads)
        hit = self._keys.get((id(node), moving))  # plans that differ in loops it does not read share them
        if hit is None:
            syms, values = _instance_subscripts(subs, moving)
            lane = subs[-1][0] is not None
            ids = []
            for v in dict.fromkeys(values):  # keys numbered: cheap to hash and compare
                key = (node.array, syms, v)
                n = self._ids.get(key)
                if n is None:
                    n = self._ids[key] = len(self.lanes)
                    self.lanes.append(v[-1] if lane else 0)
                ids.append(n)
            hit = self._keys[(id(node), moving)] = tuple(ids)
        return hit

    def rows(self, node, offsets: tuple[tuple[str, int, int], ...], loops: set[str]) -> frozenset:
        """The array rows the instances of an access walk, as keys: per instance its
        subscripts but the last (``A[i + 1, j]`` of instances i0 .. i0 + 3: four
        rows). Rows of an array whose strides are run-time values each need an
        address register of their own; one with literal dims past the first shares
        one base (the rows are constant offsets from it)."""
        subs, reads = self._subscripts(node, loops)
        if self._literal_strides(node.array) or len(subs) < 2:
            return frozenset({(node.array,)})
        moving = tuple((f, d, n) for n, f, d in offsets if f > 1 and n in reads)
        key = (id(node), moving)
        hit = self._rows.get(key)
        if hit is None:
            syms, values = _instance_subscripts(subs[:-1], moving)
            hit = self._rows[key] = frozenset((node.array, syms, v) for v in values)
        return hit

    def row_bound(self, node, offsets: tuple[tuple[str, int, int], ...], loops: set[str]) -> int:
        """At least as many as ``rows`` (the instances of the loops its subscripts
        but the last read), without naming them."""
        subs, _ = self._subscripts(node, loops)
        if self._literal_strides(node.array) or len(subs) < 2:
            return 1
        heads = set().union(*(used for _, _, used in subs[:-1]))
        return math.prod(f for n, f, _ in offsets if f > 1 and n in heads)

    def _literal_strides(self, array: str) -> bool:
        hit = self._literal.get(array)
        if hit is None:
            shape = next(p.shape for p in self.ctx.kernel.arrays if p.name == array)
            hit = self._literal[array] = all(isinstance(d, int) for d in shape[1:])
        return hit

    def writers(self, node, offsets: tuple[tuple[str, int, int], ...], loops: set[str]) -> int:
        """How many elements the instances of a store write: one per instance of the
        loops its subscripts read."""
        reads = self._subscripts(node, loops)[1]
        return math.prod(f for n, f, _ in offsets if n in reads)

    def _subscripts(self, node, loops: set[str]) -> tuple:
        """(per subscript of an access: (its affine form's names and coefficients,
        its constant, {name: coefficient}), or (None, its text, the names it reads);
        the names its subscripts depend on)."""
        hit = self._subs.get(id(node))
        if hit is None:
            out = []
            for e in node.indices:
                a = self.ctx.affine(e, loops)
                if a is None:
                    out.append((None, analysis.expr_text(e), analysis.names_read(e)))
                else:
                    coef = {n: c for n, c in a.items() if n and c}
                    out.append((tuple(sorted(coef.items())), a.get("", 0), coef))
            hit = self._subs[id(node)] = (tuple(out), frozenset(n for _, _, used in out for n in used))
        return hit

    def itemsize(self, array: str) -> int:
        hit = self._sizes.get(array)
        if hit is None:
            hit = self._sizes[array] = next(p.dtype.bits // 8 for p in self.ctx.kernel.arrays if p.name == array)
        return hit

    def unrolled(self, s: ir.For) -> tuple:
        """The statements loop ``s`` runs when it is unrolled fully: its body once
        per index value with the index a constant, loops inside unrolled too."""
        hit = self._unrolled.get(id(s))
        if hit is None:
            hit = self._unrolled[id(s)] = tuple(_unroll(s))
        return hit

    def items(self, body, path: Path, unrolled: frozenset) -> tuple[tuple[object, Path | None], ...]:
        """``body``'s statements with their paths, the loops at ``unrolled`` paths
        replaced by their unrolled statements (path None)."""
        key = (id(body), unrolled)
        hit = self._items.get(key)
        if hit is None:
            out = []
            for k, x in enumerate(body):
                if isinstance(x, ir.For) and path + (k,) in unrolled:
                    out += [(y, None) for y in self.unrolled(x)]
                else:
                    out.append((x, path + (k,)))
            hit = self._items[key] = tuple(out)
        return hit

    def hazard(self, outer: ir.For, vector: ir.For) -> str | None:
        """``analysis.stored_around``: an array the vector loop reads that the nest
        stores outside it, or None."""
        key = (id(outer), id(vector))
        if key not in self._hazards:
            self._hazards[key] = None if outer is vector else analysis.stored_around(outer, vector)
        return self._hazards[key]

    def store_groups(self, body, env: _Env) -> dict:
        """``analysis.store_groups`` of ``body`` in the vector loop of ``env``."""
        key = (id(body), frozenset(env.loops), env.vname, env.vstep)
        hit = self._stores.get(key)
        if hit is None:
            hit = self._stores[key] = analysis.store_groups(self.ctx, body, env.loops, env.vname, env.vstep,
                                                            lambda a: a not in self.strided)
        return hit

    def box(self, root: ir.For, array: str, v: str) -> analysis.TransposedBox | None:
        """``analysis.transposed_box``, once per region root (the copy's price is
        asked for by every plan that makes one)."""
        key = (id(root), array, v)
        if key not in self._boxes:
            self._boxes[key] = analysis.transposed_box(self.ctx, root, array, v)
        return self._boxes[key]

    def every(self, node, loops: set[str], v: str, step: int) -> int | None:
        """How many elements apart the lanes of an access vectorized along ``v``
        (of step ``step``) are, when codegen loads them as plain vectors and
        shuffles (``analysis.lanes_apart``); else None."""
        if node.array in self.strided:
            return None
        return analysis.lanes_apart(self._access_kind(node, loops, v)[1], step)

    def kind(self, node, loops: set[str], v: str) -> str:
        hit = self._access_kind(node, loops, v)[0]
        return "strided" if hit == "contiguous" and node.array in self.strided else hit

    def _access_kind(self, node, loops: set[str], v: str) -> tuple:
        key = (id(node), frozenset(loops), v)
        hit = self._kinds.get(key)
        if hit is None:
            hit = self._kinds[key] = analysis.access_kind(self.ctx, node, loops, v)
        return hit


def _instance_subscripts(subs: tuple, moving: tuple) -> tuple[tuple, list[tuple]]:
    """(per subscript (``_Facts._subscripts`` entries) its affine names, or its
    text when not affine; per instance of the ``moving`` loops, (factor, how far
    apart, index), the subscripts' values): a subscript's value is its constant
    plus, per instance number r of each loop, r times a multiplier (a non-affine
    one numbers the instances)."""
    values = [tuple(const if sym is not None else 0 for sym, const, _ in subs)]
    for k, (f, d, n) in enumerate(moving):
        mult = tuple((d * used.get(n, 0) if sym is not None else (MAX_INSTANCES ** k if n in used else 0))
                     for sym, _, used in subs)
        values = [tuple(v + r * m for v, m in zip(value, mult)) for value in values for r in range(f)]
    return tuple(sym if sym is not None else const for sym, const, _ in subs), values


def _unroll(s: ir.For):
    for value in analysis.literal_range(s):
        for x in s.body:
            yield from _flat(specialize.substitute_stmt(x, {s.index: value}))


def _flat(s):
    if isinstance(s, ir.For):
        yield from _unroll(s)
    elif isinstance(s, ir.If):
        yield dataclasses.replace(s, then=tuple(y for x in s.then for y in _flat(x)),
                                  orelse=tuple(y for x in s.orelse for y in _flat(x)))
    else:
        yield s


def estimate(ctx: Context, nest: LoopSite, plan: RegionPlan | None, target: TargetDesc, options: Options,
             facts: _Facts | None = None, others: dict | None = None) -> Estimate:
    """Predicted cost of ``nest`` run with ``plan`` (None: as written), or with the
    regions ``others`` (root path -> plan) of loops inside it, the rest as written."""
    model = _Model(ctx, plan, target, options, facts or _Facts(ctx))
    model.others = others or {}
    model.nest = nest.loop
    env = _Env(1, False, 1, None, {o.index for o in nest.outer})
    cycles = model.loop(nest.loop, nest.path, env)
    inner = model.innermost or (cycles, 0, "fp", 0)
    return Estimate(cycles, inner[0], inner[1], inner[2], inner[3], model.widest)


class _Model:
    def __init__(self, ctx: Context, plan: RegionPlan | None, target: TargetDesc, options: Options, facts: _Facts):
        self.ctx = ctx
        self.facts = facts
        self.plan = plan
        self.t = target
        self.fm = options.fastmath
        self.in_region = False
        self.innermost = None  # (cycles per original iteration, registers, bound, rows) of the deepest body
        self.depth = -1
        self.widest = 0  # Estimate.widest
        self.unrolled = frozenset(p for p, _, _ in plan.unrolled) if plan is not None else frozenset()
        self.packed = frozenset(plan.packed) if plan is not None else frozenset()
        self.nest: ir.For | None = None  # the nest's root loop (estimate sets it)
        self.others: dict = {}  # root path -> plan of the regions of loops inside an untransformed nest

    def carried(self) -> frozenset[str]:
        """The plan's reductions held in vectors across the loop around its vector
        loop (analysis.carried_reductions)."""
        return self.facts.carried(self.plan)

    def loop(self, s: ir.For, path: Path, env: _Env) -> float:
        if self.in_region or path not in self.others:
            return self._loop(s, path, env)
        saved = self.plan, self.unrolled, self.packed
        self.plan = self.others[path]
        self.unrolled = frozenset(p for p, _, _ in self.plan.unrolled)
        self.packed = frozenset(self.plan.packed)
        try:
            return self._loop(s, path, env)
        finally:
            self.plan, self.unrolled, self.packed = saved

    def _loop(self, s: ir.For, path: Path, env: _Env) -> float:
        plan = self.plan
        entering = plan is not None and path == plan.root
        if entering:
            self.in_region = True
        factor, is_vec = 1, False
        if self.in_region and plan is not None and path in plan.paths:
            k = plan.paths.index(path)
            factor = plan.factors[k]
            is_vec = plan.vector is not None and k == len(plan.paths) - 1
        elif self.in_region and plan is not None and any(p == path for p, _ in plan.siblings):
            factor, is_vec = plan.factors[-1], True
        trip = self.facts.trip(s, env.loops)
        lanes = plan.width if is_vec else 1
        joins = factor > 1 or is_vec
        apart = int(s.step.value) * lanes if joins and isinstance(s.step, ir.Const) else 1
        inner = _Env(env.instances * factor, env.vector or is_vec, plan.width if plan and (env.vector or is_vec) else 1,
                     s.index if is_vec else env.vname, env.loops | {s.index},
                     env.offsets + (((s.index, factor, apart),) if joins else ()))
        body = self.body(s.body, path, inner, s)
        step = factor * lanes
        overhead = self.t.cost("branch").rthroughput + self.t.cost("iadd").rthroughput
        if is_vec:
            # f-vector steps, then the leftover: whole vectors one per step, and the
            # last partial one masked (a masked tail) or one iteration at a time (a
            # scalar tail)
            full, masked, singles, scalars, p_left = _leftover(trip, step, lanes, analysis.literal_range(s) is not None)
            total = full * (body + overhead)
            if plan.tail == "search":
                # the leftover, and the step a lane breaks in (half of one, on average,
                # before the break), one iteration at a time
                once = self.scalar_iteration(s, path, env) + overhead
                total += (singles * lanes + scalars + step / 2) * once
            elif plan.tail == "scalar":
                total += singles * (body / factor + overhead) + scalars * (self.scalar_iteration(s, path, env) + overhead)
            else:
                total += masked * (body / factor + overhead)
                if self.facts.hazard(self.nest, s):
                    # the masked load of the last iterations overlaps the narrower
                    # store of the enclosing loop's pass before: it waits for it
                    total += p_left * self.t.cost("forward_stall").latency
        else:
            execs = trip // step + (trip % step) * 1.5 / step
            total = execs * (body + overhead)
        # combining partial reductions after the loop
        if factor > 1 or is_vec:
            # partial results combine after the loop: independent combines overlap,
            # so each costs its throughput, and the last one its latency
            add, shuffle = self.t.cost("fadd").rthroughput, self.t.cost("shuffle").rthroughput
            carried = self.carried()
            around = len(plan.paths) > 1 and path == plan.paths[-2]
            for name in self.facts.loop(s)[0]:
                cost = env.instances * (factor - 1) * add
                # summed across lanes here: the vector loop's own reductions, except
                # those the loop around it holds in vectors (added into them, lane by
                # lane), which are summed when that loop ends
                width = lanes if not (is_vec and name in carried) else 1
                if around and name in carried:
                    width = plan.width
                if is_vec and name in carried:
                    cost += env.instances * add
                if width > 1:  # the lanes of all parents' vectors, reduced together
                    adds, shuffles = _lane_reduction_ops(env.instances, width)
                    cost += adds * add + shuffles * shuffle
                steps = (factor - 1) + (math.log2(width) if width > 1 else 0)
                chain = steps * self.t.cost("fadd").latency
                if is_vec and name in carried:
                    # into the vectors of the loop around, which reads them only when it
                    # ends: the next run's work does not wait for this combine, whose
                    # latency hides behind that work as far as the work lasts (a
                    # combine read right after the loop, a row's sum, stays on the path)
                    chain = max(0.0, chain - total)
                total += cost + chain
        if entering:
            self.in_region = False
            total += sum(self.packing(s, a, env.loops) for a in plan.packed)
        return total

    def packing(self, root: ir.For, array: str, outer: set[str]) -> float:
        """Cycles to make the transposed copy of the block of ``array`` the region
        at ``root`` reads (codegen/vector.py ``pack``): per W x W block, W loads,
        W log2(W) shuffles and W stores; a heap allocation when it may not fit
        the stack buffer."""
        box = self.facts.box(root, array, self.plan.vector)
        rows, cols = self.facts.trip(box.v, outer), self.facts.trip(box.u, outer)
        itemsize = self.ctx.kernel.param(array).dtype.itemsize
        w = max(2, self.t.vector_bits // (8 * itemsize))
        per_vector = max(self.t.cost("store").rthroughput, math.log2(w) * self.t.cost("shuffle").rthroughput)
        heap = rows * cols * itemsize > analysis.PACK_STACK_BYTES
        return rows * cols / w * per_vector + (self.t.cost("heap_alloc").rthroughput if heap else 0.0)

    def scalar_iteration(self, s: ir.For, path: Path, env: _Env) -> float:
        """Cycles of one iteration of the vector loop ``s`` run scalar (its tail),
        for every parent instance."""
        saved = self.innermost, self.depth
        scalar = _Env(env.instances, False, 1, None, env.loops | {s.index}, env.offsets)
        cycles = self.body(s.body, path, scalar, s)
        self.innermost, self.depth = saved
        return cycles

    def body(self, body, path: Path, env: _Env, loop: ir.For) -> float:
        cycles = 0.0
        straight = []
        leaf = True
        search_exit = None
        # loops the region unrolls fully are counted as the statements they become
        items = self.facts.items(body, path, self.unrolled if self.in_region else frozenset())
        for s, where in items:
            if isinstance(s, ir.For):
                leaf = False
                # a for loop left by a break runs until the slowest of the lanes of all
                # the instances leaves: priced at its whole range times the square root
                # of their number (a Mandelbrot set written with a for loop and a break
                # ran 1.23x slower in 3 x 4 f64 lanes than in 1 x 4, f32 likewise)
                lanes = math.sqrt(env.width * env.instances) if env.vector and ir.has_exits(s.body, (ir.Break,)) else 1.0
                cycles += lanes * self.loop(s, where, env)
            elif isinstance(s, ir.While):  # in a region, its lanes run apart
                leaf = False
                cond = _Counter(self, env, loop)
                cond.expr(s.cond)
                # in a vector loop every lane waits for the slowest of its vector: priced
                # as sqrt(W) times the iterations (a Mandelbrot set ran 3.1x faster in
                # 2 x 4 f64 lanes than scalar, where the model without it said 5.1x).
                # Jammed instances also wait for each other, but hide the latency of
                # the iterations' chain, which the model does not see: not priced
                trips = WHILE_TRIPS * (math.sqrt(env.width) if env.vector else 1.0)
                cycles += trips * (cond.throughput() + self.body(s.body, where, env, loop))
            elif isinstance(s, (ir.Break, ir.Continue)):
                continue
            elif env.vector and env.vname == loop.index and self.plan.tail == "search" and s is loop.body[-1]:
                # a search's exit if: its condition is part of the straight-line work,
                # the lanes' conditions or-ed into one test and branch per step; what
                # it runs before its break runs once, scalar (_loop)
                search_exit = s
            elif isinstance(s, ir.If):
                leaf = leaf and self.facts.leaf(s.then) and self.facts.leaf(s.orelse)
                cond = _Counter(self, env, loop)
                cond.expr(s.cond)
                cycles += cond.throughput()
                then = self.body(s.then, where + (0,) if where else (), env, loop)
                other = self.body(s.orelse, where + (1,) if where else (), env, loop)
                if _split_guard(s):
                    cycles += then  # the loop as written runs only where the split's points are out of order
                else:
                    cycles += then + other if env.vector else max(then, other)
            else:
                straight.append(s)
        counter = _Counter(self, env, loop)
        if env.vector:
            counter.grouped = self.facts.store_groups(body, env)
        for s in straight:
            counter.stmt(s)
        if search_exit is not None:
            counter.expr(search_exit.cond)
            counter.add("shuffle", env.instances)  # each vector's lanes to a bit mask
            counter.add("branch", 1)
            straight.append(search_exit)
        regs = counter.registers()
        over = regs - self.t.vector_registers
        if over > 0 and counter.held:
            # invariant vectors that do not fit stay in memory: one broadcast per use
            reload = min(over, len(counter.held))
            counter.add("broadcast", reload)
            regs, over = regs - reload, over - reload
        counter.add("load", counter.split_loads())
        # rows walked at run-time strides beyond the general registers: their addresses
        # are reloaded from the stack each iteration (a 3-d a + b jammed over 8 x 4 rows
        # of its two outer axes walked 96 rows: 3x slower than the model thought)
        rows = counter.address_rows()
        counter.add("load", max(0, rows - self.t.address_registers))
        own = counter.throughput()
        chain, inner = counter.chain_latency(straight)
        # a chain inside one iteration overlaps with the next iterations' work, as
        # many of them as the core holds in flight
        inner /= max(1.0, self.t.window / max(1.0, counter.uops))
        spill = max(0, over) * (self.t.cost("load").rthroughput + self.t.cost("store").rthroughput) * 2
        own_cycles = max(own, chain, inner) + spill
        if straight and leaf:
            depth = len(env.loops)
            if self.in_region:
                self.widest = max(self.widest, rows)
            if depth >= self.depth:
                self.depth = depth
                per = own_cycles / max(1, env.instances * env.width)
                self.innermost = (per, regs, "latency" if chain >= own else counter.busiest(), rows)
        return cycles + own_cycles


@functools.lru_cache(maxsize=4096)
def _leftover(trip: float, step: int, lanes: int, literal: bool) -> tuple[float, float, float, float, float]:
    """What a vector loop of ``trip`` iterations run ``step`` at a time leaves over:
    (whole steps, masked vectors for a masked tail, whole vectors and scalar
    iterations for a scalar tail, the chance that anything is left). A literal trip
    leaves trip % step; any other is taken as leaving each of 0 .. step - 1 alike."""
    left = [int(trip) % step] if literal else range(step)
    n = len(left)
    full = (trip - sum(left) / n) / step
    masked = sum(-(-k // lanes) for k in left) / n
    singles = sum(k // lanes for k in left) / n
    scalars = sum(k % lanes for k in left) / n
    return max(0.0, full), masked, singles, scalars, sum(1 for k in left if k) / n


def _lane_reduction_ops(vectors: int, lanes: int) -> tuple[int, int]:
    """(combines, shuffles and extracts) to reduce the lanes of ``vectors`` vectors
    together, as codegen/vector.py ``hreduce_many`` does: per group of up to
    ``lanes`` vectors, padded to a power of two m, m - 1 pairwise combines then
    log2(lanes / m) halvings, two shuffles each, and one extract per vector."""
    adds = shuffles = 0
    for first in range(0, vectors, lanes):
        m_c = min(lanes, vectors - first)
        m = 1 << (m_c - 1).bit_length()
        c = (m - 1) + int(math.log2(lanes // m))
        adds += c
        shuffles += 2 * c + m_c
    return adds, shuffles


class _Counter:
    """Counts what one execution of a straight-line body issues, for all the
    iterations run side by side."""

    def __init__(self, model: _Model, env: _Env, loop: ir.For):
        self.m = model
        self.t = model.t
        self.env = env
        self.loop = loop
        self.ops: dict[str, float] = {}
        self.shared_vectors = 0
        self.extra_regs = 0
        self.held: set = set()  # invariant loads hoisted out of the loop, held in vector registers
        self.first: dict = {}  # element key -> the statement that loads it first ...
        self.last: dict = {}  # ... and the last that reuses it (GVN merges the loads)
        self.pos = 0  # statements counted so far
        self.uops = 0.0
        self.offsets: dict[tuple, dict[int, int]] = {}  # (array, element bytes) -> lane offset of vector loads -> how many
        self.walked: list = []  # accesses that move with the loop (address registers: address_rows)
        self.grouped: dict = {}  # stores written as interleaved vectors (analysis.store_groups)

    def add(self, op: str, n: float = 1.0) -> None:
        self.ops[op] = self.ops.get(op, 0.0) + n

    def throughput(self) -> float:
        units: dict[str, float] = {}
        uops = 0.0
        for op, n in self.ops.items():
            c = self.t.cost(op)
            units[c.unit] = units.get(c.unit, 0.0) + n * c.rthroughput
            uops += n * c.uops
        units["issue"] = uops / self.t.issue_width
        self.uops = uops
        self._units = units
        return max(units.values(), default=0.0)

    def busiest(self) -> str:
        units = getattr(self, "_units", None) or {}
        return max(units, key=units.get) if units else "fp"

    def parts(self, t: DType) -> int:
        """Vector registers a value of type ``t`` takes in this loop: a vector of
        the loop's lanes of a type wider than the lanes' (an i64 sum of i32
        products in 8 lanes) fills several, each a register and an instruction."""
        return self._parts(t.bits) if self.env.vector else 1

    def _parts(self, bits: int) -> int:
        return max(1, -(-self.env.width * bits // self.t.vector_bits))

    def registers(self) -> int:
        if not self.env.vector:
            return 0
        carried = self.m.facts.loop(self.loop)[1] if self.loop is not None else ()
        accs = sum(map(self._parts, carried)) * self.env.instances
        return accs + self.shared_vectors + 2 + self.extra_regs + len(self.held) + self._reused()

    def address_rows(self) -> int:
        """How many array rows the loop's accesses walk at once (``_Facts.rows``),
        counted exactly only when the accesses' instances could exceed the
        address registers or L1's ways."""
        facts, env = self.m.facts, self.env
        bound = sum(facts.row_bound(n, env.offsets, env.loops) for n in self.walked)
        if bound <= min(self.t.address_registers, self.t.l1_ways):
            return bound
        rows = set()
        for n in self.walked:
            rows |= facts.rows(n, env.offsets, env.loops)
        return len(rows)

    def split_loads(self) -> float:
        """The extra loads vector loads cost where they straddle cache lines: an
        array read at several lane offsets (``x[i]``, ``x[i + 1]``; a filter's taps)
        has at most one of them aligned; the others split on (V - e) / 64 of their
        addresses (V bytes per vector, e per element, 64-byte lines)."""
        extra = 0.0
        for (_, e), counts in self.offsets.items():
            if len(counts) > 1:
                v = self.env.width * e
                extra += (sum(counts.values()) - max(counts.values())) * max(0.0, (v - e) / 64)
        return extra

    def _reused(self) -> int:
        """The most loaded vectors held at once from one statement to a later one
        that reads the same elements (a sliding window: a filter's rows)."""
        if not self.last:
            return 0
        delta: dict[int, int] = {}
        for key, end in self.last.items():
            start = self.first[key]
            delta[start] = delta.get(start, 0) + 1
            delta[end] = delta.get(end, 0) - 1
        live = most = 0
        for at in sorted(delta):
            live += delta[at]
            most = max(most, live)
        return most

    def chain_latency(self, straight) -> tuple[float, float]:
        """(the longest dependence chain the loop carries from one iteration to the
        next through a local (an accumulator) or an array element updated in place,
        the longest one inside an iteration: a local assigned, then updated (an
        unrolled filter's taps, one after the other))."""
        if self.loop is None:
            return 0.0, 0.0
        exposed = self.m.facts.loop(self.loop)[2]
        carried: dict[str, float] = {}
        inside: dict[str, float] = {}
        worst = 0.0
        for s in straight:
            if isinstance(s, ir.Assign):
                if s.name in exposed:
                    carried[s.name] = carried.get(s.name, 0.0) + self._update_latency(s)
                elif s.op is None and analysis.reduction_update(s) is None:
                    inside[s.name] = 0.0  # a new value: a new chain
                else:
                    inside[s.name] = inside.get(s.name, 0.0) + self._update_latency(s)
            if isinstance(s, ir.Store) and s.op is not None:
                if self.loop.index not in self.m.facts.access(s)[0]:
                    worst = max(worst, self.t.cost("load").latency + self.t.cost("fadd").latency + 4)
        return max([worst, *carried.values()]), max(inside.values(), default=0.0)

    def _update_latency(self, s: ir.Assign) -> float:
        u = analysis.reduction_update(s)
        value = u.value if u else s.value
        op = u.op if u else s.op
        if op in ("min", "max"):
            return self.t.cost("fcmp").latency + self.t.cost("blend").latency
        if op in ("&", "|", "^"):
            return self.t.cost("iadd").latency
        if op in ("*", "/"):
            return self.t.cost("fmul").latency
        if self._contracts(value):
            return self.t.cost("fma").latency
        return self.t.cost("fadd").latency

    def _invariant(self, e: ir.Expr) -> bool:
        """Whether nothing ``e`` reads changes in the loop counted: no local or
        index it sets, no array it stores (``x / d[i]`` in a loop over j)."""
        stored = {s.array for s in ir.walk_stmts(self.loop.body) if isinstance(s, ir.Store)}
        if any(isinstance(x, ir.Load) and x.array in stored for x in ir.walk_expr(e)):
            return False
        return not analysis.names_read(e) & ({self.loop.index} | set(analysis.assigned_in(self.loop.body)))

    def _contracts(self, value) -> bool:
        return (self.m.fm and self.m.in_region and self.t.fma and isinstance(value, ir.Binary)
                and value.op == "*" and value.type.is_float)

    # -- statements and expressions
    def stmt(self, s) -> None:
        n = self.env.instances
        self.pos += 1
        if isinstance(s, ir.Assign):
            self.expr(s.value)
            if s.op is not None:
                self._arith(s.op, s.value.type, n * self.parts(s.value.type), s.value)
        elif isinstance(s, ir.Store):
            self.expr(s.value)
            self.access(s, store=True)
            if s.op is not None:
                self.access(s, store=False)
                self._arith(s.op, s.value.type, n * self.parts(s.value.type), s.value)
        elif isinstance(s, ir.Return):
            self.expr(s.value)

    def _arith(self, op: str, t: DType, n: float, rhs=None) -> None:
        if t.is_float:
            if op in ("+", "-"):
                if rhs is not None and self._contracts(rhs):
                    self.add("fma", n)
                    self.add("fmul", -n)  # the multiply was fused
                else:
                    self.add("fadd", n)
            elif op == "*":
                self.add("fmul", n)
            elif op == "/":
                self.add("fdiv32" if t is DType.F32 else "fdiv64", n)
            else:
                self.add("libm_call", n * self.env.width)
        else:
            self.add("imul" if op == "*" else "iadd", n)

    def expr(self, e: ir.Expr) -> None:
        instances = self.env.instances
        for sub in self.m.facts.parts(e):
            if isinstance(sub, ir.Load):
                self.access(sub, store=False)
                continue
            n = instances * self.parts(sub.type)
            if isinstance(sub, ir.Cast):
                n = instances * max(self.parts(sub.type), self.parts(sub.operand.type))
            elif isinstance(sub, ir.Binary) and sub.op in ir.COMPARE_OPS:
                n = instances * self.parts(sub.left.type)
            if isinstance(sub, ir.Binary):
                if sub.op in ir.COMPARE_OPS:
                    self.add("fcmp", n)
                elif sub.op in ir.LOGIC_OPS:
                    self.add("blend", n)
                elif sub.op == "**":
                    self._power(sub.right, n)
                elif (sub.op in ("+", "-") and self._contracts(sub.left)) or (sub.op == "+" and self._contracts(sub.right)):
                    self.add("fma", n)
                    self.add("fmul", -n)
                elif sub.op == "/" and sub.type.is_float and self.m.fm and self.m.in_region and self._invariant(sub.right):
                    self.add("fmul", n)  # by the reciprocal, computed once before the loop (codegen: arcp)
                else:
                    self._arith(sub.op, sub.type, n)
            elif isinstance(sub, (ir.Unary, ir.Select)):
                self.add("blend", n)
            elif isinstance(sub, ir.Cast):
                self.add("convert", n)
            elif isinstance(sub, ir.Call):
                if sub.fn in ("min", "max"):
                    self.add("fcmp", n)
                    self.add("blend", n)
                elif sub.fn in ("abs", "copysign"):
                    self.add("blend", n)
                elif sub.fn == "sqrt":
                    self.add("sqrt32" if sub.type is DType.F32 else "sqrt64", n)
                elif sub.fn in ("floor", "ceil", "rint"):
                    self.add("round", n)
                elif sub.fn == "pow":
                    self._power(sub.args[1], n)
                else:
                    self._math(sub.fn, n)

    def _power(self, exponent: ir.Expr, n: float) -> None:
        k = analysis.small_power(exponent)
        if k is None and analysis.half_power(exponent):
            self.add("sqrt32" if exponent.type is DType.F32 else "sqrt64", n)
        elif k is None:
            self._math("pow", n)
        elif k == -1:
            self.add("fdiv32" if exponent.type is DType.F32 else "fdiv64", n)
        elif k > 1:
            self.add("fmul", n * (k - 1 if k < 4 else 2))

    def _math(self, fn: str, n: float) -> None:
        if self.env.vector:
            self.add(fn, n)
            self.extra_regs = max(self.extra_regs, self.t.cost(fn).regs)
        else:
            self.add("libm_call", n)

    def access(self, node, store: bool) -> None:
        env = self.env
        idx_names, where = self.m.facts.access(node)
        loop_idx = self.loop.index if self.loop is not None else None
        if not store and loop_idx is not None and loop_idx not in idx_names and idx_names <= (env.loops | self.m.ctx.dims | self.m.ctx.int_scalars):
            if env.vector:  # invariant in this loop: hoisted out of it, a register held per element
                self.held.update(self.m.facts.keys(node, env.offsets, env.loops))
            return
        if env.vector and loop_idx is not None and loop_idx in idx_names:
            self.walked.append(node)  # rows counted only when there may be too many (address_rows)
        # iterations run together that read the same element share one load, and so
        # do statements (LLVM's GVN merges the loads)
        if store:  # every instance writes its own element (the region's legality)
            unique = self.m.facts.writers(node, env.offsets, env.loops)
        else:
            keys = self.m.facts.keys(node, env.offsets, env.loops)
            fresh = [k for k in keys if k not in self.first]
            for k in keys:
                if k in self.first:
                    self.last[k] = self.pos
                else:
                    self.first[k] = self.pos
            unique = len(fresh)
            if not unique:
                return
        if not env.vector:
            self.add("store" if store else "load", unique)
            return
        kind = self.m.facts.kind(node, env.loops, env.vname)
        vstep = env.vstep
        packed = node.array in self.m.packed and kind == "strided"
        if packed:  # along the copy's rows (_packable)
            kind = "contiguous"
        every = self.m.facts.every(node, env.loops, env.vname, vstep) if kind != "invariant" and not packed else None
        if kind == "contiguous" and vstep != 1:
            kind = "strided"
        if kind == "invariant":
            self.add("store" if store else "broadcast", unique)  # consumed right away: no register held
        else:
            if every and not store:
                # lanes a few elements apart: that many plain loads, and shuffles
                # (codegen/vector.py ``deinterleave``)
                self.add("load", unique * every)
                self.add("shuffle", unique * every)
            elif every and id(node) in self.grouped:
                # one of ``every`` stores written together: interleaved by shuffles
                # (two per vector on AVX2, whose shuffles stay within 128-bit halves
                # unless they cross them at a cost) into as many plain stores
                self.add("store", unique)
                self.add("shuffle", unique * 2)
            elif kind == "contiguous":
                self.add("store" if store else "load", unique)
                if not store and not packed:
                    counts = self.offsets.setdefault((node.array, self.m.facts.itemsize(node.array)), {})
                    for k in fresh:
                        lane = self.m.facts.lanes[k] % env.width
                        counts[lane] = counts.get(lane, 0) + 1
            elif not store and node.array not in self.m.facts.strided and self._transposed(node):
                # W loads per W instances, and log2(W) rounds of shuffles; the
                # blocks' columns are live together until the instances use them,
                # and the last block's W rows while it is transposed
                self.add("load", unique)
                self.add("shuffle", unique * math.log2(env.width))
                self.extra_regs = max(self.extra_regs, unique + env.width)
            else:
                self.add("scatter_lane" if store else "gather_lane", unique * env.width)
            if not store and env.instances > len(keys):  # one vector, used by several instances
                self.shared_vectors += unique


    def _transposed(self, node) -> bool:
        """Whether codegen reads this strided access as transposed blocks: the
        innermost unrolled loop of step 1 around it is one it moves along
        contiguously (``analysis.transposable``; codegen's ``Instance.group``)."""
        env = self.env
        joined = [(n, f) for n, f, d in env.offsets if n != env.vname and f > 1 and d == 1]
        if not joined:
            return False
        u, f = joined[-1]
        return f % env.width == 0 and analysis.transposable(self.m.ctx, node, u, env.loops, f, env.width)


# ----------------------------------------------------------------------------- explain


def format_schedule(kernel: ir.Kernel, sched: Schedule) -> str:
    out = [f"schedule of kernel {kernel.name} for {sched.target}:"]
    for h in sched.promotions:
        out.append(f"  held in a register: {h.describe()} (loaded before it, stored after it)")
    if not sched.decisions:
        out.append("  (no loops)")
    for k, d in enumerate(sched.decisions):
        out.append(f"  nest {d.header} (at {'.'.join(map(str, d.root))}):")
        for x in sched.interchanges:
            if x.path == d.root:
                out.append(f"    interchanged: loops {', '.join(x.order)} (written {', '.join(x.written)}): "
                           f"{x.cycles:,.0f} cycles predicted against {x.written_cycles:,.0f} as written")
        v = sched.version_at(d.root)
        if v is not None:
            fast = sched.fast.decisions[k]
            shown = {n: f"{f}({x.text})" for x in v.scans for n, f in ((x.lo, "min"), (x.hi, "max"))}
            out.append(f"    versioned: without the bounds checks of {', '.join(v.arrays)} when "
                       f"{' and '.join(guard_text(g, shown) for g in v.guards)} (tested before the loop starts)")
            for x, sch in zip(v.scans, v.scan_schedules):
                plans = [_plan_words(d.chosen) for d in sch.decisions] or ["no loops"]
                out.append(f"    index scan: min({x.text}) and max({x.text}) over loop{'s' if len(x.loops) > 1 else ''} "
                           f"{', '.join(x.loops)}, before the nest ({'; '.join(plans)})")
            if v.order:
                out.append(f"    unchecked copy interchanged: loops {', '.join(v.order)} (written {', '.join(v.written)})")
            for h in v.promotions:
                out.append(f"    unchecked copy holds in a register: {h.describe()}")
            _decision_lines(out, fast, "    ")
            out.append("    otherwise, with the checks:")
            _decision_lines(out, d, "      ")
        else:
            _decision_lines(out, d, "    ")
        p = sched.parallel_at(d.root)
        if p is not None:
            out.append(f"    threads: {p.describe()}, when the nest's predicted work is above the pool's threshold")
    for note in sched.parallel_notes:
        out.append(f"  threads: {note}")
    return "\n".join(out)


def _decision_lines(out: list[str], d: NestDecision, indent: str) -> None:
    if d.parts:
        e = d.chosen.estimate
        out.append(f"{indent}chosen: loop {d.header[4:]} as written, each loop inside with a schedule of its own (below): "
                   f"{e.cycles:,.0f} cycles predicted at the assumed sizes")
    else:
        out.append(f"{indent}chosen: {_option_text(d.chosen)}")
    for o in d.rejected:
        out.append(f"{indent}rejected: {_option_text(o)}")
    for note in d.notes:
        out.append(f"{indent}note: {note}")
    for p in d.parts:
        out.append(f"{indent}  loop {p.header[4:]} (at {'.'.join(map(str, p.root))}):")
        _decision_lines(out, p, indent + "    ")


def _plan_words(o: Option) -> str:
    what = "loops as written (scalar)" if o.plan is None else o.plan.describe()
    if o.plan is not None:
        what += f" [loops {', '.join(f'{n}×{f}' for n, f in zip(o.plan.loops, o.plan.factors))}]"
    return what


def _option_text(o: Option) -> str:
    what = _plan_words(o)
    if o.problem:
        return f"{what}: illegal, {o.problem}"
    e = o.estimate
    return (f"{what}: {e.cycles:,.0f} cycles predicted at the assumed sizes, {e.inner_cycles:.3g} cycles per "
            f"innermost iteration, {e.registers} vector registers, bound by {e.bound}")
