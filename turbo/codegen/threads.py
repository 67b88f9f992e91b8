"""Parallel loops in machine code: the kernel's side of runtime/threads.py.

A top-level loop the schedule splits (``ParallelPlan``) becomes

- in the kernel: compute the trip count and the nest's predicted work; when it
  is worth it (more than one thread configured, more than one chunk, predicted
  cycles at or above the pool's threshold), pack everything the loop reads --
  array pointers and strides, dims, scalars, locals -- into an argument block
  on the stack and call ``turbo_pool_run(pool, job, block, n)``; else call
  ``job(block, 0, 1)`` directly. Afterwards: the first failing chunk's error
  record (in thread order) becomes the kernel's, and reductions combine their
  per-thread partials, in thread order, with the value from before the loop.
- ``job(block, tid, n)``: unpacks the block and runs chunk ``tid`` of ``n`` --
  iterations [t0, t1) of the loop, cut at multiples of the schedule's step
  (unroll factor × vector width) so that only the last chunk has a tail -- with
  the same schedule as the serial loop; records its status and partials.
"""

from __future__ import annotations

from llvmlite import ir as ll

from .. import ir
from ..ir import DType
from ..passes import analysis
from ..passes.schedule import ASSUMED_TRIP, WHILE_TRIPS
from ..runtime.threads import MIN_CYCLES, THREADS
from .abi import ERR_FIELDS
from .cpu import F64, I8, I32, I64, MEM_TYPES, PTR, REG_TYPES, KernelCodegen, _Array
from .vector import combine, counted, identity

ERR_T = ll.ArrayType(I64, ERR_FIELDS)


class _Layout:
    """The fields of a parallel loop's argument block, in order: (key, type)."""

    def __init__(self, cg: KernelCodegen, par):
        self.fields: list[tuple[tuple, ll.Type]] = []
        for name, arr in cg.arrays.items():
            self.fields.append((("data", name), PTR))
            for axis in range(len(arr.strides)):
                self.fields.append((("stride", name, axis), I64))
        for name in cg.dims:
            self.fields.append((("dim", name), I64))
        for name in cg.scalars:
            t = cg.kernel.param(name).dtype
            self.fields.append((("scalar", name), MEM_TYPES[t]))
        local_types = ir.local_types(cg.kernel)
        for name in par.locals_in:
            self.fields.append((("local", name), MEM_TYPES[local_types[name]]))
        self.fields.append((("status",), PTR))
        self.fields.append((("errs",), PTR))
        for name, _, _ in par.reductions:
            self.fields.append((("partial", name), PTR))
        self.type = ll.LiteralStructType([t for _, t in self.fields])
        self.pos = {key: k for k, (key, _) in enumerate(self.fields)}

    def addr(self, b: ll.IRBuilder, block, key):
        k = self.pos[key]
        return b.gep(block, [ll.Constant(I32, 0), ll.Constant(I32, k)], inbounds=True, source_etype=self.type)


def parallel_loop(cg: KernelCodegen, s: ir.For, path, par) -> None:
    b = cg.b
    layout = _Layout(cg, par)
    job = ChunkCodegen(cg, s, path, par, layout).build()
    start, stop, step = cg.expr(s.start), cg.expr(s.stop), cg.expr(s.step)
    zero, one = ll.Constant(I64, 0), ll.Constant(I64, 1)
    if isinstance(s.step, ir.Const):
        trip = cg._trip(start, stop, step, s.step.value > 0)
    else:  # a zero step is reported by the chunk; here it only must not divide by zero
        safe = b.select(b.icmp_signed("==", step, zero), one, step)
        trip = b.select(b.icmp_signed(">", safe, zero), cg._trip(start, stop, safe, True), cg._trip(start, stop, safe, False))
    state = _pool_state(cg)
    threads = b.load(b.gep(state, [ll.Constant(I64, THREADS)], inbounds=True, source_etype=I8), typ=I64, align=8)
    align = ll.Constant(I64, par.align)
    blocks = b.udiv(b.add(trip, ll.Constant(I64, par.align - 1)), align)
    n = b.select(b.icmp_unsigned("<", threads, blocks), threads, blocks)
    min_cycles = b.load(b.gep(state, [ll.Constant(I64, MIN_CYCLES)], inbounds=True, source_etype=I8), typ=I64, align=8)
    inside = {s.index} | analysis.loop_indices(s.body) | set(analysis.assigned_in(s.body))
    work = b.fmul(b.fmul(b.uitofp(trip, F64), _units(cg, s.body, inside)), ll.Constant(F64, par.inner_cycles))
    go = b.and_(b.icmp_unsigned(">", n, one), b.fcmp_ordered(">=", work, b.sitofp(min_cycles, F64)))
    n_run = b.select(go, n, one)

    status = _alloca(b, I32, n_run, "par_status")
    errs = _alloca(b, ERR_T, n_run, "par_errs")
    block = _alloca(b, layout.type, None, "par_args")
    values = _packed_values(cg, par)
    values[("status",)] = status
    values[("errs",)] = errs
    for name, _, t in par.reductions:
        values[("partial", name)] = _alloca(b, REG_TYPES[t], n_run, f"par_{name}")
    for key, _ in layout.fields:
        b.store(values[key], layout.addr(b, block, key))

    pool_run = cg.declare("turbo_pool_run", I64, [PTR, PTR, PTR, I64])
    with b.if_else(go) as (threaded, alone):
        with threaded:
            used_threaded = b.call(pool_run, [state, job, block, n_run])
            from_threaded = b.block
        with alone:
            b.call(job, [block, zero, one])
            from_alone = b.block
    used = b.phi(I64, name="par_used")
    used.add_incoming(used_threaded, from_threaded)
    used.add_incoming(one, from_alone)

    # the first chunk that failed, in thread order, reports
    def check(i):
        st = b.load(b.gep(status, [i], inbounds=True, source_etype=I32), typ=I32)
        with b.if_then(b.icmp_signed("!=", st, ll.Constant(I32, 0)), likely=False):
            rec = b.gep(errs, [i], inbounds=True, source_etype=ERR_T)
            for f in range(ERR_FIELDS):
                v = b.load(b.gep(rec, [ll.Constant(I64, 0), ll.Constant(I32, f)], inbounds=True, source_etype=ERR_T), typ=I64)
                b.store(v, b.gep(cg.err, [ll.Constant(I64, f)], inbounds=True, source_etype=I64), align=8)
            b.ret(st)

    counted(cg, zero, used, 1, "par_check", check)
    for name, op, t in par.reductions:
        parts = values[("partial", name)]
        lt = REG_TYPES[t]
        acc_slot = cg.entry_alloca(lt, f"par_acc_{name}")
        b.store(b.load(parts, typ=lt), acc_slot)

        def fold(i, parts=parts, lt=lt, acc_slot=acc_slot, op=op, t=t):
            v = b.load(b.gep(parts, [i], inbounds=True, source_etype=lt), typ=lt)
            b.store(combine(cg, op, t, b.load(acc_slot, typ=lt), v), acc_slot)

        counted(cg, one, used, 1, "par_fold", fold)
        slot = cg.locals[name]
        b.store(combine(cg, op, t, b.load(slot, typ=lt), b.load(acc_slot, typ=lt)), slot)


def _alloca(b: ll.IRBuilder, t: ll.Type, count, name: str):
    """Stack memory for ``count`` values of ``t``, as an opaque pointer (llvmlite
    types an alloca's result as ``t*``, which it then refuses to store as a ``ptr``)."""
    slot = b.alloca(t, size=count, name=name)
    slot.type = PTR
    return slot


def _pool_state(cg: KernelCodegen):
    g = cg.module.globals.get("turbo_pool_state")
    if g is None:
        g = ll.GlobalVariable(cg.module, I8, "turbo_pool_state")
        g.linkage = "external"
    return g


def _units(cg: KernelCodegen, body, inside: set[str]):
    """Innermost iterations per iteration of the enclosing loop (f64): trip counts
    of inner loops whose bounds are known before the loop, ASSUMED_TRIP for others."""
    b = cg.b
    total = None
    for s in body:
        terms = []
        if isinstance(s, ir.For):
            exprs = (s.start, s.stop, s.step)
            known = isinstance(s.step, ir.Const) and not any(
                (analysis.names_read(e) & inside) or any(isinstance(x, (ir.Load, ir.Binary)) and _may_fail(x)
                                                        for x in ir.walk_expr(e)) for e in exprs)
            if known:
                trip = b.uitofp(cg._trip(cg.expr(s.start), cg.expr(s.stop), cg.expr(s.step), s.step.value > 0), F64)
            else:
                trip = ll.Constant(F64, float(ASSUMED_TRIP))
            terms.append(b.fmul(trip, _units(cg, s.body, inside)))
        elif isinstance(s, ir.If):
            terms.append(_units(cg, s.then, inside))
            terms.append(_units(cg, s.orelse, inside))
        elif isinstance(s, ir.While):
            terms.append(b.fmul(ll.Constant(F64, float(WHILE_TRIPS)), _units(cg, s.body, inside)))
        for t in terms:
            total = t if total is None else b.fadd(total, t)
    return total if total is not None else ll.Constant(F64, 1.0)


def _may_fail(e) -> bool:
    return isinstance(e, ir.Load) or analysis.may_raise(e)


def _packed_values(cg: KernelCodegen, par) -> dict:
    b = cg.b
    out = {}
    for name, arr in cg.arrays.items():
        out[("data", name)] = arr.data
        for axis, st in enumerate(arr.strides):
            out[("stride", name, axis)] = st
    for name, v in cg.dims.items():
        out[("dim", name)] = v
    for name, v in cg.scalars.items():
        t = cg.kernel.param(name).dtype
        out[("scalar", name)] = b.zext(v, I8) if t is DType.BOOL else v
    local_types = ir.local_types(cg.kernel)
    for name in par.locals_in:
        t = local_types[name]
        v = b.load(cg.locals[name], typ=REG_TYPES[t])
        out[("local", name)] = b.zext(v, I8) if t is DType.BOOL else v
    return out


class ChunkCodegen(KernelCodegen):
    """The job function of one parallel loop: ``i32 job(block, tid, n)``, which
    calls the chunk function (array pointers as ``noalias`` arguments, so the chunk
    is optimized like the serial kernel) and records its status."""

    in_chunk = True

    def __init__(self, parent: KernelCodegen, loop: ir.For, path, par, layout: _Layout):
        self.kernel = parent.kernel
        self.variant = parent.variant
        self.module = parent.module
        self.schedule = parent.schedule
        self.fastmath = parent.fastmath
        self.fflags = ()
        self.exits = []
        self.sites = parent.sites
        self.loop_ctx = parent.loop_ctx
        self.checks = parent.checks
        self.local_types = parent.local_types
        self.target_loop = loop
        self.path = path
        self.par = par
        self.layout = layout
        base = f"{parent.fn.name}_par{parent.version_tag}{'_'.join(map(str, path))}"
        names = list(parent.arrays)
        self.job = ll.Function(self.module, ll.FunctionType(I32, [PTR, I64, I64]), base)
        self.job.linkage = "internal"
        self.fn = ll.Function(self.module, ll.FunctionType(I32, [PTR, I64, I64] + [PTR] * len(names)), base + "_chunk")
        self.fn.linkage = "internal"
        self.fn.attributes.add("nounwind")
        block, self.tid, self.n = self.fn.args[:3]
        self.block_arg = block
        self.entry = self.fn.append_basic_block("entry")
        self.b = b = ll.IRBuilder(self.entry)

        def get(key):
            return b.load(layout.addr(b, block, key), typ=dict(layout.fields)[key])

        self.arrays = {}
        for k, name in enumerate(names):
            arr = parent.arrays[name]
            data = self.fn.args[3 + k]
            data.add_attribute("noalias")
            strides = [get(("stride", name, axis)) for axis in range(len(arr.strides))]
            self.arrays[name] = _Array(arr.param, data, strides, arr.contiguous)
        self.dims = {name: get(("dim", name)) for name in parent.dims}
        self.scalars = {}
        for name in parent.scalars:
            v = get(("scalar", name))
            self.scalars[name] = b.icmp_unsigned("!=", v, ll.Constant(I8, 0)) if self.kernel.param(name).dtype is DType.BOOL else v
        self.err = b.gep(get(("errs",)), [self.tid], inbounds=True, source_etype=ERR_T)
        self.result = None
        self.locals = {}
        self.indices = {}
        local_types = ir.local_types(self.kernel)
        for name, t in local_types.items():
            self.locals[name] = b.alloca(REG_TYPES[t], name=f"local_{name}")
        for name in par.locals_in:
            v = get(("local", name))
            if local_types[name] is DType.BOOL:
                v = b.icmp_unsigned("!=", v, ll.Constant(I8, 0))
            b.store(v, self.locals[name])
        for name, op, t in par.reductions:
            b.store(ll.Constant(REG_TYPES[t], identity(op, t)), self.locals[name])
        self._get = get
        self._names = names

    def build(self) -> ll.Function:
        b = self.b
        self.for_stmt(self.target_loop, self.path)
        for name, _, t in self.par.reductions:
            lt = REG_TYPES[t]
            part = b.gep(self._get(("partial", name)), [self.tid], inbounds=True, source_etype=lt)
            b.store(b.load(self.locals[name], typ=lt), part)
        b.ret(ll.Constant(I32, 0))
        # the job: unpack the pointers, run the chunk, record its status
        jb = ll.IRBuilder(self.job.append_basic_block("entry"))
        block, tid, n = self.job.args
        ptrs = [jb.load(self.layout.addr(jb, block, ("data", name)), typ=PTR) for name in self._names]
        status = jb.call(self.fn, [block, tid, n] + ptrs)
        slots = jb.load(self.layout.addr(jb, block, ("status",)), typ=PTR)
        jb.store(status, jb.gep(slots, [tid], inbounds=True, source_etype=I32))
        jb.ret(status)
        return self.job

    def restrict(self, s: ir.For, start, step, trip):
        if s is not self.target_loop:
            return start, trip
        # chunk k starts at block floor(k·W / (n·align)) of the loop's cost W, counted
        # in thirds of an iteration: leftover iterations past the last whole block
        # (which run one at a time) weigh rest_cost3/3 each; the last chunk ends at trip
        b = self.b
        c = lambda v: ll.Constant(I64, v)
        align = c(self.par.align)
        q = b.udiv(trip, align)
        rem = b.urem(trip, align)
        cost = b.add(b.mul(q, c(3 * self.par.align)), b.mul(rem, c(self.par.rest_cost3)))
        unit = b.mul(self.n, c(3 * self.par.align))

        def cut(k):
            blk = b.udiv(b.mul(k, cost), unit)
            blk = b.select(b.icmp_unsigned("<", blk, q), blk, q)
            return b.select(b.icmp_unsigned("<", k, self.n), b.mul(blk, align), trip)

        t0 = cut(self.tid)
        t1 = cut(b.add(self.tid, ll.Constant(I64, 1)))
        step_v = ll.Constant(I64, step) if isinstance(step, int) else step
        return b.add(start, b.mul(t0, step_v)), b.sub(t1, t0)
