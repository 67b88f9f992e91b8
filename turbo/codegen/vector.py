"""Lowering a scheduled region: unroll-and-jam, vectorization, masked tails.

A region (``passes/schedule.py``: ``RegionPlan``) runs several iterations of its
transformed loops side by side. Each is an *instance*: its own values of the
transformed loop indices and its own copy of every scalar local the loops assign.
Statements are emitted in order, each for every instance (the jam), so a loop
inside the region runs once for all instances, and loads several instances share
are issued once (LLVM's GVN merges the identical ones we emit).

The vectorized loop ``v`` gives every instance inside it ``W`` lanes: its index is
the vector ``v0 + <0, 1, ..., W-1>``, locals assigned inside it are vectors, and
an access moving along ``v`` with stride 1 is one vector load or store; with
another stride, a gather or scatter; not moving, a scalar load broadcast where a
vector needs it. ``for v in a:b`` runs as

    for t in 0 : trip - trip % (W*f) : W*f     # f vectors per step, no masks
        <body for v0 = a + t + c*W, c = 0..f-1>
    for t in ... : trip : W                     # the leftover: one vector per step,
        <body for v0 = a + t with lane mask  t + lane < trip>    # masked

Under a mask (the tail, or an ``if`` inside the vector loop) loads and stores of
moving addresses are masked, and assignments keep the old value of masked-off
lanes. An unrolled loop ``u`` (factor f) runs ``trip // f`` steps of f instances,
then the leftover iterations one at a time.

A local carried by a transformed loop is a reduction (analysis.py proved it): each
instance accumulates from the op's identity, and after the loop the partial
results are combined (vector lanes too) into the value the local had before.
"""

from __future__ import annotations

import dataclasses
import math

from llvmlite import ir as ll

from .. import ir
from ..ir import DType
from ..passes import analysis
from .abi import ERR_NO_MEMORY
from .cpu import I1, I8, I32, I64, MEM_TYPES, PTR, REG_TYPES, _Array, const_like, counted


_SAME = object()


class Instance:
    """One iteration run in the region: index values, local slots, lane mask."""

    __slots__ = ("idx", "slots", "mask", "vec", "group", "load_mask", "in_range")

    def __init__(self, idx: dict, slots: dict, mask, vec: bool, group=None, load_mask=_SAME, in_range=_SAME):
        self.idx = idx  # loop index -> i64 (for the vector loop: lane 0)
        self.slots = slots  # local -> alloca (vector typed inside the vector loop)
        self.mask = mask  # <W x i1> or None (all lanes)
        self.vec = vec  # inside the vector loop
        # (index, r, its value at r = 0) for an instance of an unrolled loop run in
        # a whole step: the r-th of the step's consecutive index values
        self.group = group
        # the lanes loads read: ``mask``, but in a while loop's body the lanes of the
        # step (a tail's), whose elements are in bounds whether or not they still run
        self.load_mask = mask if load_mask is _SAME else load_mask
        # the lanes whose iteration is in the loops' ranges, outside the ifs around:
        # an access proven in bounds (passes/bounds.py) may be read in all of them
        self.in_range = self.load_mask if in_range is _SAME else in_range

    def with_index(self, name: str, value, group=None) -> "Instance":
        return Instance({**self.idx, name: value}, self.slots, self.mask, self.vec, group or self.group, self.load_mask,
                        self.in_range)

    def with_mask(self, mask) -> "Instance":
        return Instance(self.idx, self.slots, mask, self.vec, self.group)

    def branch(self, mask) -> "Instance":
        """This instance in the lanes ``mask`` of an if's branch: loads read those
        lanes, except loads the bounds analysis proved (``in_range``)."""
        return Instance(self.idx, self.slots, mask, self.vec, self.group, mask, self.in_range)

    def running(self, mask) -> "Instance":
        """This instance with only the lanes ``mask`` updating locals and storing;
        loads still read the lanes they read before."""
        return Instance(self.idx, self.slots, mask, self.vec, self.group, self.load_mask, self.in_range)


def identity(op: str, t: DType):
    if op in ("|", "^"):
        return 0
    if op == "&":
        return -1
    if op == "+":
        return 0.0 if t.is_float else 0
    if op == "*":
        return 1.0 if t.is_float else 1
    big = {DType.I32: 2**31 - 1, DType.I64: 2**63 - 1}
    if op == "min":
        return math.inf if t.is_float else big[t]
    return -math.inf if t.is_float else -big[t] - 1


def combine(cg, op: str, t: DType, a, c):
    """Two partial results of a reduction combined ("+", "*", "min", "max", "&",
    "|", "^"), on scalars or vectors."""
    if op in ("min", "max"):
        return cg.call_values(op, t, [a, c])
    return cg.arith(op, t, a, c, None)


class RegionEmitter:
    def __init__(self, cg, plan, root: ir.For, path):
        self.cg = cg
        self.b = cg.b
        self.plan = plan
        self.root = root
        self.path = path
        self.t_of = {p: (k, f) for k, (p, f) in enumerate(zip(plan.paths, plan.factors))}
        # the vector loop's siblings run in vectors too, as many per step
        self.t_of.update((p, (len(plan.paths) - 1, plan.factors[-1])) for p, _ in plan.siblings)
        self.vpaths = set(plan.vector_paths)
        self.vname = plan.vector
        self.W = plan.width
        self.ctx = cg.loop_ctx
        self.shared = dict(cg.locals)  # the kernel's own local slots
        self.local_types = cg.local_types
        self.iota = ll.Constant(ll.VectorType(I64, self.W), [ll.Constant(I64, k) for k in range(self.W)])
        self.vstep = 1  # the vector loop's step (its lanes' index values are this far apart)
        self.lanes = self.iota  # lane k's distance from lane 0's index value: k * vstep
        self.unrolled = {p for p, _, _ in plan.unrolled}
        self.tail_masks: dict[int, object] = {}  # id of a tail mask -> the vector loop's last index value
        self.phases: dict[int, int] = {}  # the statement's "every" loads read with shared loads: id -> phase
        self._groups: dict[int, dict] = {}
        self.transposed_rows: dict[tuple, list] = {}  # transpose_load's blocks, per instance group
        self.arg_ifs: dict[int, analysis.ArgReduction] = {}  # the vector loop's argmax/argmin ifs, by id
        self.free_masks: dict[int, frozenset[str]] = {}  # a while body's running mask -> locals it need not keep
        # reductions held in vectors across the loop around the vector loop
        # (analysis.carried_reductions): summed across lanes when that loop ends
        chain = tuple(root if p == path else analysis.stmt_at((root,), (0,) + p[len(path):]) for p in plan.paths)
        self.carried = analysis.carried_reductions(chain, plan.tail, plan.siblings) if plan.vector else frozenset()

    # ------------------------------------------------------------------ driver

    def emit(self) -> None:
        cg = self.cg
        saved = (cg.indices, cg.locals, cg.fflags, dict(cg.arrays))
        # fastmath: a * b + c may fuse, and x / y may become x * (1 / y), the
        # reciprocal hoisted where y is invariant (a row scaled by its norm)
        cg.fflags = ("contract", "arcp") if cg.fastmath else ()
        try:
            buffers = [self.pack(name) for name in self.plan.packed]
            if self.plan.aligned:
                buffers.append(self.align_rows(self.plan.aligned))
            self.stmt(self.root, self.path, [Instance(dict(cg.indices), {}, None, False)])
            for buf in reversed(buffers):
                self.release(*buf)
        finally:
            cg.indices, cg.locals, cg.fflags, cg.arrays = saved

    # ------------------------------------------------------------------ transposed copies

    def pack(self, name: str):
        """Copy the block of the 2-d array ``name`` the region reads
        (``analysis.transposed_box``: X[v + c1, u + c2] over the loops' ranges,
        clamped to the array) transposed into a buffer, element [i, j] at
        (j - j0) * ld + (i - i0), and read the array from it in this region.
        ld is the block's rows rounded up to an odd number of 64-byte lines: each
        row of the copy starts a cache line, and a column walk touches every L1
        set, where rows 1 KB apart share a sixteenth of them (pdist at 256:
        1.05 ms -> 0.66 ms). Up to PACK_STACK_BYTES the buffer is on the stack, a larger one
        from aligned_alloc (malloc's 16-byte alignment split every other vector
        load of a 256 x 256 f32 copy across two lines: ABt 20% slower). Whole
        W x W blocks go through registers (W row loads, ``transpose``, W stores),
        the rows and columns past them element by element. Returns what
        ``release`` needs to free it."""
        cg, b = self.cg, self.b
        arr = cg.arrays[name]
        p = arr.param
        t = p.dtype
        mt = MEM_TYPES[t]
        size = ll.Constant(I64, t.itemsize)
        zero = ll.Constant(I64, 0)
        box = analysis.transposed_box(self.ctx, self.root, name, self.vname)
        self.view(Instance(dict(cg.indices), {}, None, False))
        i0, rows = self.span(box.v, box.lo1, box.hi1, cg.dim_value(p.shape[0]))
        j0, cols = self.span(box.u, box.lo2, box.hi2, cg.dim_value(p.shape[1]))
        ld = self.padded(rows, t.itemsize)
        nbytes = b.mul(b.mul(ld, cols), size)
        stack = cg.entry_alloca(ll.ArrayType(I8, analysis.PACK_STACK_BYTES), f"{name}_packed")
        stack.align = 64
        small = b.icmp_unsigned("<=", nbytes, ll.Constant(I64, analysis.PACK_STACK_BYTES))
        here = b.block
        heap_bb = cg.fn.append_basic_block(f"{name}_pack_heap")
        ready = cg.fn.append_basic_block(f"{name}_pack")
        b.cbranch(small, ready, heap_bb)
        b.position_at_end(heap_bb)
        got = self.allocate(nbytes, name)
        from_heap = b.block
        b.branch(ready)
        b.position_at_end(ready)
        buf = b.phi(PTR, name=f"{name}_t")
        buf.add_incoming(b.bitcast(stack, PTR), here)
        buf.add_incoming(got, from_heap)

        def dst(r, c):  # the copy's element for the block's row r, column c
            return b.gep(buf, [b.add(b.mul(c, ld), r)], source_etype=mt)

        def element(r, c):
            v = b.load(cg.address_of(name, [b.add(i0, r), b.add(j0, c)]), typ=mt, align=t.itemsize)
            b.store(v, dst(r, c), align=t.itemsize)

        w = max(2, self.W * self.plan.lane_type.bits // t.bits)
        rows_w = b.sub(rows, b.urem(rows, ll.Constant(I64, w)))
        cols_w = b.sub(cols, b.urem(cols, ll.Constant(I64, w)))
        vt = ll.VectorType(mt, w)

        def block_row(r0):
            if arr.contiguous:  # whole blocks through registers
                def block(c0):
                    vecs = [b.load(cg.address_of(name, [b.add(i0, b.add(r0, ll.Constant(I64, r))), b.add(j0, c0)]),
                                   typ=vt, align=t.itemsize) for r in range(w)]
                    for c, col in enumerate(self.transpose(vecs, t.itemsize)):
                        b.store(col, dst(r0, b.add(c0, ll.Constant(I64, c))), align=t.itemsize)
                counted(cg, zero, cols_w, w, f"{name}_pack_c", block)
                first = cols_w
            else:
                first = zero
            counted(cg, first, cols, 1, f"{name}_pack_cr",
                    lambda c: counted(cg, zero, ll.Constant(I64, w), 1, f"{name}_pack_r",
                                      lambda r: element(b.add(r0, r), c), scalar=True), scalar=True)

        counted(cg, zero, rows_w, w, f"{name}_pack_rows", block_row)
        counted(cg, rows_w, rows, 1, f"{name}_pack_rr",
                lambda r: counted(cg, zero, cols, 1, f"{name}_pack_cc", lambda c: element(r, c), scalar=True),
                scalar=True)
        # the array read from the copy: element [i, j] at t.itemsize * ((i - i0) + (j - j0) * ld)
        cg.arrays[name] = _Array(p, buf, [size, b.mul(ld, size)], False, origin=[i0, j0])
        return buf, b.not_(small), name

    def span(self, loop: ir.For, lo: int, hi: int, dim):
        """(first index, count) of ``loop``'s range widened by lo .. hi, within 0 .. dim."""
        cg, b = self.cg, self.b
        zero = ll.Constant(I64, 0)
        start, stop = cg.expr(loop.start), cg.expr(loop.stop)
        first = b.add(start, ll.Constant(I64, lo))
        end = b.add(stop, ll.Constant(I64, hi))
        first = b.select(b.icmp_signed("<", first, zero), zero, first)
        end = b.select(b.icmp_signed(">", end, dim), dim, end)
        end = b.select(b.icmp_signed("<", stop, b.add(start, ll.Constant(I64, 1))), first, end)  # empty loop
        n = b.sub(end, first)
        return first, b.select(b.icmp_signed("<", n, zero), zero, n)

    def align_rows(self, arrays):
        """Read the blocks of the 2-d arrays ``arrays`` ((name, walker) pairs:
        ``RegionPlan.aligned``) the region reads (``analysis.transposed_box``
        along ``walker``, the loop inside the vector loop that walks their rows:
        a gemm's B[k, n] along k) from copies whose rows start on a 64-byte line
        and take an odd number of lines, each where the rows the block spans
        in the array reach analysis.ALIGN_COPY_BYTES and are not so placed already
        (tested here, before the region: otherwise it is read in place). Each
        step of the walk then reads whole lines of one row, and the rows spread
        over all of L1's sets: NumPy's large arrays start 16 bytes past a line,
        so that a vector of 8 f32 from a row's start crossed a line every other
        load, and rows a multiple of 128 bytes apart share a fraction of the
        sets. Measured at 256 x 256 against the same code reading in place, in
        three runs: AᵀB (A and B copied) ran 0.97-1.28x as fast in f32 and
        1.03-1.16x in f64, AB (B copied) 0.95-1.01x and 1.01-1.07x. The
        copies share one allocation: glibc hands a freed block above its mmap
        threshold back to the system, and two of them (AᵀB's A and B at 256 x 256
        f64) came back as 230 fresh pages on every call. A region holds no
        error exit (``analysis.region_problems`` refuses bounds checks and
        arithmetic that may raise), so ``release`` after it frees them on every
        way out. Returns what ``release`` needs."""
        cg, b = self.cg, self.b
        zero = ll.Constant(I64, 0)
        self.view(Instance(dict(cg.indices), {}, None, False))
        plans = []
        total = zero
        for name, walker in arrays:
            arr = cg.arrays[name]
            p = arr.param
            size = ll.Constant(I64, p.dtype.itemsize)
            box = analysis.transposed_box(self.ctx, self.root, name, walker)
            n_cols = cg.dim_value(p.shape[1])
            i0, rows = self.span(box.v, box.lo1, box.hi1, cg.dim_value(p.shape[0]))
            j0, cols = self.span(box.u, box.lo2, box.hi2, n_cols)
            src = cg.address_of(name, [i0, j0])
            ld = self.padded(cols, p.dtype.itemsize)
            nbytes = b.mul(b.mul(ld, rows), size)  # a multiple of 64
            placed = b.and_(b.icmp_unsigned("==", b.and_(b.ptrtoint(src, I64), ll.Constant(I64, 63)), zero),
                            b.icmp_unsigned("==", b.and_(b.mul(n_cols, size), ll.Constant(I64, 127)),
                                            ll.Constant(I64, 64)))
            span = b.mul(b.mul(rows, n_cols), size)  # the bytes the walk crosses in the array
            need = b.and_(b.icmp_unsigned(">=", span, ll.Constant(I64, analysis.ALIGN_COPY_BYTES)), b.not_(placed))
            at = total
            total = b.add(total, b.select(need, nbytes, zero))
            plans.append((name, arr, n_cols, i0, rows, j0, cols, src, ld, need, at))
        here = b.block
        alloc_bb = cg.fn.append_basic_block("align_alloc")
        ready = cg.fn.append_basic_block("align_ready")
        any_copy = b.icmp_unsigned("!=", total, zero)
        b.cbranch(any_copy, alloc_bb, ready)
        b.position_at_end(alloc_bb)
        got = self.allocate(total, arrays[0][0])
        b.branch(ready)
        from_alloc = b.block
        b.position_at_end(ready)
        buf = b.phi(PTR, name="aligned_copies")
        buf.add_incoming(got, from_alloc)
        buf.add_incoming(ll.Constant(PTR, None), here)
        for name, arr, n_cols, i0, rows, j0, cols, src, ld, need, at in plans:
            mt = MEM_TYPES[arr.param.dtype]
            align = arr.param.dtype.itemsize
            dst = b.gep(buf, [at], source_etype=I8)
            before = b.block
            copy_bb = cg.fn.append_basic_block(f"{name}_align")
            done = cg.fn.append_basic_block(f"{name}_aligned")
            b.cbranch(need, copy_bb, done)
            b.position_at_end(copy_bb)

            def row(r, src=src, dst=dst, n_cols=n_cols, ld=ld, cols=cols, mt=mt, align=align, name=name):
                frm = b.gep(src, [b.mul(r, n_cols)], source_etype=mt)
                to = b.gep(dst, [b.mul(r, ld)], source_etype=mt)
                counted(cg, zero, cols, 1, f"{name}_align_c",
                        lambda c: b.store(b.load(b.gep(frm, [c], source_etype=mt), typ=mt, align=align),
                                          b.gep(to, [c], source_etype=mt), align=align))

            counted(cg, zero, rows, 1, f"{name}_align_r", row, scalar=True)
            copied = b.block
            b.branch(done)
            b.position_at_end(done)

            def pick(a, c, label, copied=copied, before=before, name=name):
                v = b.phi(a.type, name=f"{name}_{label}")
                v.add_incoming(a, copied)
                v.add_incoming(c, before)
                return v

            cg.arrays[name] = _Array(arr.param, pick(dst, arr.data, "rows"), arr.strides, True,
                                     origin=[pick(i0, zero, "i0"), pick(j0, zero, "j0")], ld=pick(ld, n_cols, "ld"))
        return buf, any_copy, "aligned"

    def padded(self, count, itemsize: int):
        """Elements per row of a copy holding ``count`` per row: rounded up to an
        odd number of 64-byte lines, so that each row starts a line and a walk
        down a column spreads over all of L1's sets."""
        b = self.b
        line = 64 // itemsize
        lines = b.udiv(b.add(count, ll.Constant(I64, line - 1)), ll.Constant(I64, line))
        return b.mul(b.or_(lines, ll.Constant(I64, 1)), ll.Constant(I64, line))

    def allocate(self, nbytes, array: str):
        """``nbytes`` from aligned_alloc, on a 64-byte line; MemoryError naming
        ``array`` (its first read in the region) when there is none."""
        cg, b = self.cg, self.b
        got = b.call(cg.declare("aligned_alloc", PTR, [I64, I64]), [ll.Constant(I64, 64), nbytes])
        site = next((n for n in analysis.loads_in((self.root,)) if n.array == array), self.root)
        cg.fail(b.icmp_unsigned("!=", got, ll.Constant(PTR, None)), ERR_NO_MEMORY, site, size=nbytes)
        return got

    def release(self, buf, allocated, label: str) -> None:
        """Free ``buf`` where ``allocated`` (an i1) says it came from ``allocate``."""
        b = self.b
        free_bb = self.cg.fn.append_basic_block(f"{label}_free")
        done = self.cg.fn.append_basic_block(f"{label}_freed")
        b.cbranch(allocated, free_bb, done)
        b.position_at_end(free_bb)
        b.call(self.cg.declare("free", ll.VoidType(), [PTR]), [buf])
        b.branch(done)
        b.position_at_end(done)

    def block(self, body, path, insts, first: int = 0) -> None:
        """The statements ``body``, the ``first``-th onward of the block at ``path``."""
        groups = self.store_groups(body, insts[0])
        self.block_groups(body, insts[0])
        k = 0
        while k < len(body):
            if id(body[k]) in groups:
                e = groups[id(body[k])][1]
                self.store_group(body[k:k + e], groups, insts)
                k += e
            else:
                self.stmt(body[k], path + (first + k,), insts)
                k += 1

    def stmt(self, s, path, insts) -> None:
        if isinstance(s, ir.For) and path in self.t_of:
            self.transformed_loop(s, path, insts)
        elif isinstance(s, ir.For) and not ir.has_exits(s.body):
            self.jammed_loop(s, path, insts)
        elif isinstance(s, (ir.For, ir.While)):
            self.lane_loop(s, path, insts)
        elif isinstance(s, ir.If):
            self.if_(s, path, insts)
        elif isinstance(s, ir.Assign):
            self.phases = self.every_groups(s, insts[0])
            for inst in insts:
                self.assign(s, inst)
        elif isinstance(s, ir.Store):
            self.phases = self.every_groups(s, insts[0])
            for inst in insts:
                self.store(s, inst)
        else:
            raise TypeError(f"{type(s).__name__} inside a region")

    # ------------------------------------------------------------------ scalar view

    def view(self, inst: Instance) -> None:
        """Point the scalar code generator at one instance's indices and locals."""
        cg = self.cg
        cg.indices = inst.idx
        cg.locals = {**self.shared, **inst.slots}

    def scalar(self, e: ir.Expr, inst: Instance):
        self.view(inst)
        return self.cg.expr(e)

    # ------------------------------------------------------------------ loops

    def counted(self, lo, hi, stride: int, name: str, body_fn, llvm_unrolls: bool = False) -> None:
        counted(self.cg, lo, hi, stride, name, body_fn, llvm_unrolls)

    def bounds(self, s: ir.For, inst: Instance):
        start = self.scalar(s.start, inst)
        stop = self.scalar(s.stop, inst)
        step = int(s.step.value)
        trip = self.cg._trip(start, stop, ll.Constant(I64, step), step > 0)
        start, trip = self.cg.restrict(s, start, step, trip)
        return start, step, trip

    def jammed_loop(self, s: ir.For, path, insts) -> None:
        """A loop inside the region that is not transformed: run once for all
        instances. Where one instance runs of the several the plan has (a tail,
        leftover iterations), LLVM may unroll it to win back some of the
        independent work the plan counted on. A short literal loop the plan
        unrolls fully runs as one copy of its body per index value, the index a
        constant."""
        b = self.b
        if path in self.unrolled:
            for value in analysis.literal_range(s):
                self.block(s.body, path, [i.with_index(s.index, ll.Constant(I64, value)) for i in insts])
            return
        start, step, trip = self.bounds(s, insts[0])

        def body(t):
            value = b.add(start, b.mul(t, ll.Constant(I64, step)), name=s.index)
            self.block(s.body, path, [i.with_index(s.index, value) for i in insts])

        self.counted(ll.Constant(I64, 0), trip, 1, s.index, body, llvm_unrolls=len(insts) == 1 < self.plan.instances)

    def transformed_loop(self, s: ir.For, path, parents) -> None:
        b = self.b
        _, f = self.t_of[path]
        is_vec = path in self.vpaths
        if is_vec:
            self.vname = s.index  # the plan's vector loop, or one of its siblings
        start, step, trip = self.bounds(s, parents[0])
        assigned = list(analysis.assigned_in(s.body))
        groups = analysis.arg_reductions(s.body) if is_vec else ()  # argmax / argmin ifs
        args = {n for g in groups for n in g.names}
        reductions = {n: analysis.reduction_op(n, s.body) for n in assigned
                      if n not in args and analysis.exposed(n, s.body)}
        vec_slots = is_vec or parents[0].vec
        # the loop around the vector loop holds these in vectors; the vector loop
        # adds its own vectors into them
        carry = self.carried if len(self.plan.paths) > 1 and path == self.plan.paths[-2] else frozenset()
        into = self.carried if is_vec and len(self.plan.paths) > 1 and path == self.plan.paths[-1] else frozenset()
        # a vector reduction into scalar parents starts its first vector from the
        # parent's value in lane 0 (a reassociation, as the lanes' are): the value
        # is then the lanes' total, with no scalar combine per parent after the
        # horizontal reduction (ABt's 4 x 2 dot products: 8 adds per block)
        seeded = is_vec and not parents[0].vec
        # argmax / argmin: every lane starts from the parent's values and keeps its
        # own, with the index it reached them at (``pos``, -1: not yet)
        self.arg_ifs.update((id(g.node), g) for g in groups)
        kids: list[list[Instance]] = []
        for p in parents:
            row = []
            for c in range(f):
                slots = dict(p.slots)
                for g in groups:
                    pos = slots[_pos_key(g)] = self.cg.entry_alloca(self.vtype(DType.I64), f"{g.best}_pos{c}")
                    b.store(self.splat(ll.Constant(I64, -1)), pos)
                for name in assigned:
                    t = self.local_types[name]
                    lt = self.vtype(t) if vec_slots or name in carry else REG_TYPES[t]
                    slots[name] = self.cg.entry_alloca(lt, f"{name}_{s.index}{c}")
                    if name in args:
                        parent = p.slots.get(name) or self.shared[name]
                        b.store(self.splat(b.load(parent, typ=parent.allocated_type)), slots[name])
                    elif name in reductions:
                        start_value = const_like(lt, identity(reductions[name], t))
                        if seeded and c == 0 and name not in into:
                            parent = p.slots.get(name) or self.shared[name]
                            old = b.load(parent, typ=parent.allocated_type)
                            start_value = b.insert_element(start_value, old, ll.Constant(I32, 0))
                        b.store(start_value, slots[name])
                row.append(Instance(p.idx, slots, p.mask, vec_slots, p.group))
            kids.append(row)
        every = [k for row in kids for k in row]
        scalar_tail = None
        if is_vec:
            block = self.W * f
            main = b.sub(trip, b.urem(trip, ll.Constant(I64, block)))
            self.vstep = step
            self.lanes = ll.Constant(ll.VectorType(I64, self.W), [ll.Constant(I64, k * step) for k in range(self.W)])
            if self.plan.tail == "search":
                if reductions or groups or len(parents) != 1 or parents[0].vec:
                    raise AssertionError(f"a search loop with reductions or jammed parents (loop {s.index})")
                self.search_loop(s, path, parents[0], every, start, step, trip, main, f)
                return

            def step_fn(t, rows, vectors: int, masked=False):
                """One step of ``vectors`` vectors per parent (``rows``: parent-major)."""
                self.block(s.body, path, self.step_instances(s, rows, vectors, t, start, step, trip if masked else None))

            firsts = [row[0] for row in kids]  # one vector per parent: the leftover steps
            self.counted(ll.Constant(I64, 0), main, block, s.index, lambda t: step_fn(t, every, f))
            if self.plan.tail == "scalar":
                # whole vectors, then (after the partial results are combined) one
                # iteration at a time: no masked load of what the enclosing loop
                # just stored
                rest = b.sub(trip, b.urem(trip, ll.Constant(I64, self.W)))
                if f > 1:
                    self.counted(main, rest, self.W, f"{s.index}_vec", lambda t: step_fn(t, firsts, 1))
                scalar_tail = (start, rest, trip)
            else:
                rest = main
                if f > 1:
                    # the leftover's whole vectors, one per step, unmasked: AVX2's
                    # masked loads and stores cost several times a plain one (a
                    # column sum's 16 leftover lanes, masked, took longer than its
                    # 240 others). LLVM may unroll this loop, and loops inside it
                    # (jammed_loop): at sizes below a whole step all the work runs
                    # here (logsumexp at n = 16-32: 1.3x)
                    rest = b.sub(trip, b.urem(trip, ll.Constant(I64, self.W)))
                    self.counted(main, rest, self.W, f"{s.index}_vec", lambda t: step_fn(t, firsts, 1),
                                 llvm_unrolls=True)
                # then one masked vector for the last, partial one
                tail = self.cg.fn.append_basic_block(f"{s.index}_tail")
                after = self.cg.fn.append_basic_block(f"{s.index}_after")
                b.cbranch(b.icmp_signed("<", rest, trip), tail, after)
                b.position_at_end(tail)
                step_fn(rest, firsts, 1, masked=True)
                b.branch(after)
                b.position_at_end(after)
        else:
            main = b.sub(trip, b.urem(trip, ll.Constant(I64, f)))

            def unrolled(t):
                insts = []
                values = {}
                for k, inst in enumerate(every):
                    c = k % f
                    if c not in values:
                        values[c] = b.add(start, b.mul(b.add(t, ll.Constant(I64, c)), ll.Constant(I64, step)),
                                          name=f"{s.index}{c}")
                    group = (s.index, c, values[0]) if step == 1 and f > 1 else None
                    insts.append(inst.with_index(s.index, values[c], group))
                self.block(s.body, path, insts)

            def leftover(t):
                idx = b.add(start, b.mul(t, ll.Constant(I64, step)), name=s.index)
                self.block(s.body, path, [row[0].with_index(s.index, idx) for row in kids])

            self.counted(ll.Constant(I64, 0), main, f, s.index, unrolled)
            if f > 1:
                self.counted(main, trip, 1, f"{s.index}_rest", leftover)
        for g in groups:
            for row, p in zip(kids, parents):
                self.combine_arg(g, row, p)
        # combine partial results into each parent's value: the instances of a
        # parent first, then the lanes, of all parents' vectors together
        totals = {}
        for k, row in enumerate(kids):
            for name, op in reductions.items():
                t = self.local_types[name]
                parts = [b.load(x.slots[name], typ=x.slots[name].allocated_type) for x in row]
                while len(parts) > 1:  # pairwise: a chain of log2 combines, not one per part
                    parts = [self.combine(op, t, *parts[j:j + 2]) if j + 1 < len(parts) else parts[j]
                             for j in range(0, len(parts), 2)]
                totals[k, name] = parts[0]
        for name, op in reductions.items():
            t = self.local_types[name]
            keys = [(k, name) for k in range(len(kids))
                    if isinstance(totals[k, name].type, ll.VectorType) and name not in into]
            for key, value in zip(keys, self.hreduce_many(op, t, [totals[key] for key in keys])):
                totals[key] = value
        for k, p in enumerate(parents):
            for name, op in reductions.items():
                t = self.local_types[name]
                total = totals[k, name]
                target = p.slots.get(name) or self.shared[name]
                if seeded and name not in into:
                    b.store(total, target)
                    continue
                old = b.load(target, typ=target.allocated_type)
                if name in into:  # vectors into the parent's vectors, lane by lane
                    merged = self.combine(op, t, old, total)
                elif isinstance(old.type, ll.VectorType):
                    total = self.splat(total)
                    merged = self.combine(op, t, old, total)
                    if p.mask is not None:
                        merged = b.select(p.mask, merged, old)
                else:
                    merged = self.combine(op, t, old, total)
                b.store(merged, target)
        if scalar_tail is not None:  # the argmax locals go on from the parent's values too
            self.scalar_tail(s, path, parents, assigned, {**reductions, **dict.fromkeys(args, "arg")}, *scalar_tail)

    def step_instances(self, s: ir.For, rows: list, vectors: int, t, start, step: int, trip=None) -> list:
        """The instances of one step of the vector loop ``s`` from iteration ``t``:
        ``vectors`` vectors per parent (``rows``: parent-major), each with its index
        value; with ``trip`` (the last, partial step), each with the mask of its
        lanes below the trip."""
        b = self.b
        last = b.add(start, b.mul(b.sub(trip, ll.Constant(I64, 1)), ll.Constant(I64, step))) if trip is not None else None
        insts, values, masks = [], {}, {}  # per place in the step: one index, one mask
        for k, inst in enumerate(rows):
            c = k % vectors  # the vector's place in the step
            if c not in values:
                off = b.add(t, ll.Constant(I64, c * self.W))
                values[c] = b.add(start, b.mul(off, ll.Constant(I64, step)), name=f"{s.index}{c}")
                if trip is not None:
                    lanes = b.add(self.splat(off), self.iota)
                    masks[c] = b.icmp_signed("<", lanes, self.splat(trip))
                    self.tail_masks[id(masks[c])] = last
            inst = inst.with_index(s.index, values[c])
            if trip is not None:
                inst = inst.with_mask(masks[c])
            insts.append(inst)
        return insts

    def search_loop(self, s: ir.For, path, parent: Instance, every: list, start, step: int, trip, main,
                    f: int) -> None:
        """A loop left by a break (``analysis.search_exit``): steps of ``f`` vectors
        evaluate the assignments before its exit if and the if's condition, and
        the loop leaves at the first step where a lane's condition holds. From
        there (or from the leftover iterations, when none does) the loop runs as
        written, one iteration at a time: it takes the break in that step, having
        run the iterations before it in order, and the exit if's statements run
        once, as written. Nothing before the exit if writes memory, and the
        region's accesses are in bounds over the loop's whole range (a checked
        access keeps a loop scalar), so the lanes evaluated past the break have
        no effect."""
        b, cg = self.b, self.cg
        exit_if = s.body[-1]
        resume = cg.entry_alloca(I64, f"{s.index}_resume")
        b.store(main, resume)
        wide = ll.IntType(self.W)

        def step_fn(t):
            insts = self.step_instances(s, every, f, t, start, step)
            self.block(s.body[:-1], path, insts)
            any_lane = None
            for inst in insts:
                bits = b.bitcast(self.vector(self.value(exit_if.cond, inst)), wide)
                any_lane = bits if any_lane is None else b.or_(any_lane, bits)
            hit = cg.fn.append_basic_block(f"{s.index}_found")
            go_on = cg.fn.append_basic_block(f"{s.index}_none")
            b.cbranch(b.icmp_unsigned("!=", any_lane, ll.Constant(wide, 0)), hit, go_on)
            b.position_at_end(hit)
            b.store(t, resume)
            b.branch(cg.exits[-1][1])  # out of the vector loop
            b.position_at_end(go_on)

        counted(cg, ll.Constant(I64, 0), main, self.W * f, f"{s.index}_search", step_fn, exits=True)

        def one(u):
            value = b.add(start, b.mul(u, ll.Constant(I64, step)), name=s.index)
            self.block(s.body, path, [parent.with_index(s.index, value)])

        counted(cg, b.load(resume, typ=I64), trip, 1, f"{s.index}_finish", one, scalar=True, exits=True)

    def combine_arg(self, g: analysis.ArgReduction, row: list, parent: Instance) -> None:
        """The lanes of the instances ``row`` of one parent, folded into the
        parent's locals of the argmax/argmin ``g``: a lane wins with a better
        ``best``, or an equal one reached earlier (``g.strict``) or later, by its
        ``pos``; a lane that never updated (pos -1) holds the parent's values, and
        nan compares false, so the first lane stands then."""
        b = self.b
        t = self.local_types[g.best]
        names = (g.best, _pos_key(g)) + g.companions
        lanes = []
        for inst in row:
            vecs = [b.load(inst.slots[n], typ=inst.slots[n].allocated_type) for n in names]
            lanes += [[b.extract_element(v, ll.Constant(I32, k)) for v in vecs] for k in range(self.W)]
        acc = lanes[0]
        gt = ">" if g.op == "max" else "<"
        for lane in lanes[1:]:
            if t.is_float:
                better = b.fcmp_ordered(gt, lane[0], acc[0])
                same = b.fcmp_ordered("==", lane[0], acc[0])
            else:
                better = b.icmp_signed(gt, lane[0], acc[0])
                same = b.icmp_signed("==", lane[0], acc[0])
            sooner = b.icmp_signed("<" if g.strict else ">", lane[1], acc[1])
            take = b.or_(better, b.and_(same, sooner))
            acc = [b.select(take, x, y) for x, y in zip(lane, acc)]
        for n, v in zip(names, acc):
            if n == _pos_key(g):
                continue
            b.store(v, parent.slots.get(n) or self.shared[n])

    def scalar_tail(self, s: ir.For, path, parents, assigned, reductions, start, lo, trip) -> None:
        """Iterations lo .. trip - 1 of the vector loop ``s``, one at a time, for every
        parent: its reductions update the parent's value in place (the vector
        loop's partial results are already in it), other locals get scalar slots."""
        insts = []
        for p in parents:
            slots = dict(p.slots)
            for name in assigned:
                if name not in reductions:
                    slots[name] = self.cg.entry_alloca(REG_TYPES[self.local_types[name]], f"{name}_{s.index}s")
            insts.append(Instance(p.idx, slots, None, False))

        def body(t):
            value = self.b.add(start, self.b.mul(t, ll.Constant(I64, self.vstep)), name=s.index)
            self.block(s.body, path, [i.with_index(s.index, value) for i in insts])

        self.counted(lo, trip, 1, f"{s.index}_rest", body)

    def combine(self, op: str, t: DType, a, c):
        return combine(self.cg, op, t, a, c)

    def hreduce_many(self, op: str, t: DType, vecs: list) -> list:
        """The lanes of each vector combined into one scalar, for several vectors at
        once, in x86's order of cheap shuffles: while several vectors remain they are
        paired, first adjacent lanes within each 128-bit block (``vhaddps``'s
        pattern: no lane crossing), then adjacent blocks; one vector left is
        narrowed the same way, blocks first, then lanes within one. 8 vectors of 8
        f32: 6 in-block pair combines (vhaddps), then 2 block shuffles and one
        combine, 9 instructions where halving whole vectors first took 24. Each
        lane's origin (vector, its lanes) is tracked, and each vector's total is
        read from a lane that holds all of its lanes."""
        if not vecs:
            return []
        b = self.b
        n = vecs[0].type.count
        block = max(1, min(n, 16 // t.itemsize))  # lanes per 128-bit block
        ident = const_like(vecs[0].type, identity(op, t))

        def apply(x, y, lo, hi, labels_x, labels_y):
            """x's and y's lanes ``lo`` combined with lanes ``hi`` (indices into the
            pair, y's counted after x's), and what each result lane holds."""
            both = labels_x + labels_y
            mask = lambda idx: ll.Constant(ll.VectorType(I32, len(idx)), idx)  # noqa: E731
            labels = []
            for i, j in zip(lo, hi):
                (vi, a), (vj, c) = both[i], both[j]
                if vi != vj:
                    raise AssertionError("horizontal reduction combined two vectors' lanes")
                labels.append((vi, a | c))
            y = x if y is None else y
            value = self.combine(op, t, b.shuffle_vector(x, y, mask(lo)), b.shuffle_vector(x, y, mask(hi)))
            return value, labels

        def pair_lanes(width: int, unit: int, two: bool):
            """Adjacent units of ``unit`` lanes paired within each block of
            ``block * unit`` lanes (unit 1: lanes within a 128-bit block; unit
            ``block``: blocks within the vector), x's then y's per block."""
            span = min(width, block * unit) if unit == 1 else width
            lo = []
            for first in range(0, width, span):
                for src in ((0, width) if two else (0,)):
                    for u in range(0, span // unit, 2):
                        lo += [src + first + u * unit + j for j in range(unit)]
            hi = [i + unit for i in lo]
            return lo, hi

        out = []
        for first in range(0, len(vecs), n):
            chunk = vecs[first:first + n]
            m = len(chunk)
            chunk = chunk + [ident] * ((1 << (m - 1).bit_length()) - m)
            state = [(v, [(k if k < m else None, frozenset([i])) for i in range(n)]) for k, v in enumerate(chunk)]
            paired = 1  # lanes of one vector each lane holds within its block
            while len(state) > 1:  # pair vectors: adjacent lanes, then adjacent blocks
                unit = 1 if paired < block else block
                lo, hi = pair_lanes(n, unit, True)
                state = [apply(state[i][0], state[i + 1][0], lo, hi, state[i][1], state[i + 1][1])
                         for i in range(0, len(state), 2)]
                paired *= 2
            v, labels = state[0]
            width = n
            while width > 1 and not all(len(lanes) == n for _, lanes in labels):
                if width > block:  # one vector left: its even blocks with its odd ones
                    lo, hi = pair_lanes(width, block, False)
                else:  # then within the block: adjacent lanes
                    lo, hi = list(range(0, width, 2)), list(range(1, width, 2))
                v, labels = apply(v, None, lo, hi, labels, labels)
                width //= 2
            lane_of = {}
            for lane, (k, lanes) in enumerate(labels):
                if k is not None and len(lanes) == n:
                    lane_of.setdefault(k, lane)
            if len(lane_of) != m:
                raise AssertionError("horizontal reduction left a vector's total unfinished")
            out += [b.extract_element(v, ll.Constant(I32, lane_of[k])) for k in range(m)]
        return out

    # ------------------------------------------------------------------ statements

    def if_(self, s: ir.If, path, insts) -> None:
        b = self.b
        if not insts[0].vec:
            for inst in insts:
                self.view(inst)
                self.cg.if_(s, path)
            return
        then_insts, else_insts = [], []
        for inst in insts:
            c = self.vector(self.value(s.cond, inst))
            m_then = c if inst.mask is None else b.and_(inst.mask, c)
            not_c = b.xor(c, const_like(c.type, 1))
            m_else = not_c if inst.mask is None else b.and_(inst.mask, not_c)
            then_insts.append(inst.branch(m_then))
            else_insts.append(inst.branch(m_else))
        self.block(s.then, path + (0,), then_insts)
        g = self.arg_ifs.get(id(s))
        for inst in then_insts if g is not None else ():
            pos = inst.slots.get(_pos_key(g))
            if pos is not None:  # where the lane took the new extreme: this iteration
                here = self.vector(self.value(ir.Var(self.vname, DType.I64), inst))
                b.store(b.select(inst.mask, here, b.load(pos, typ=pos.allocated_type)), pos)
        if s.orelse:
            self.block(s.orelse, path + (1,), else_insts)

    def lane_loop(self, s, path, insts) -> None:
        """A ``while`` loop, or a ``for`` loop holding exit ifs, in the vector loop
        (analysis.opaque_control: straight-line code and exit ifs in it): each lane
        runs until its condition fails, its ``for`` range ends or it takes a
        ``break``. A lane mask per instance holds the lanes still running; each
        iteration runs the body under it, an exit if runs its statements in the
        lanes that take it and drops those lanes from the mask for the rest of the
        body, and the loop ends when no lane of any instance runs (the lanes done
        earlier idle meanwhile: their locals keep their values, but for those no
        one reads again, ``dead_after``). Scalar instances (a tail's) run the loop
        as written, each its own."""
        is_for = isinstance(s, ir.For)
        if not insts[0].vec:
            for inst in insts:
                self.view(inst)
                (self.cg.loop if is_for else self.cg.while_)(s, path)
            return
        b = self.b
        # the running lanes are kept as lane-wide integers (-1: running): AVX2 has no
        # mask registers, and a <W x i1> carried around the loop is repacked each time
        mtype = ll.VectorType(ll.IntType(self.plan.lane_type.bits), self.W)
        slots = []
        for k, inst in enumerate(insts):
            slot = self.cg.entry_alloca(mtype, f"running{k}")
            b.store(b.sext(inst.mask, mtype) if inst.mask is not None else const_like(mtype, -1), slot)
            slots.append(slot)
        if is_for:  # the same bounds in every instance (analysis.region_problems)
            start, step, trip = self.bounds(s, insts[0])
            t_slot = self.cg.entry_alloca(I64, f"{s.index}_t")
            b.store(ll.Constant(I64, 0), t_slot)
        kind = "vbreak" if is_for else "vwhile"
        head = self.cg.fn.append_basic_block(f"{kind}_head")
        body = self.cg.fn.append_basic_block(f"{kind}_body")
        done = self.cg.fn.append_basic_block(f"{kind}_end")
        b.branch(head)
        b.position_at_end(head)
        running, any_lane = [], None
        free = self.dead_after(s)
        if is_for:
            t = b.load(t_slot, typ=I64)
            index = b.add(start, b.mul(t, ll.Constant(I64, step)), name=s.index)
        for inst, slot in zip(insts, slots):
            m = b.icmp_signed("<", b.load(slot, typ=mtype), const_like(mtype, 0))
            if is_for:
                c, inst = m, inst.with_index(s.index, index)
            else:
                c = b.and_(m, self.vector(self.value(s.cond, inst.running(m))))
                b.store(b.sext(c, mtype), slot)
            running.append(inst.running(c))
            self.free_masks[id(c)] = free
            bits = b.icmp_unsigned("!=", b.bitcast(c, ll.IntType(self.W)), ll.Constant(ll.IntType(self.W), 0))
            any_lane = bits if any_lane is None else b.or_(any_lane, bits)
        if is_for:
            any_lane = b.and_(any_lane, b.icmp_signed("<", t, trip))
        b.cbranch(any_lane, body, done)
        b.position_at_end(body)
        exits = analysis.lane_exits(s)
        if exits is None:
            raise AssertionError(f"a loop of another shape than lanes run apart in the vector loop (line "
                                 f"{s.loc.line if s.loc else '?'})")
        k0 = 0
        for k in exits + (len(s.body),):
            self.block(s.body[k0:k], path, running, first=k0)
            if k == len(s.body):
                break
            x = s.body[k]
            taken, rest = [], []
            for inst, slot in zip(running, slots):
                c = self.vector(self.value(x.cond, inst))
                taken.append(inst.running(b.and_(inst.mask, c)))
                left = b.and_(inst.mask, b.xor(c, const_like(c.type, 1)))
                b.store(b.sext(left, mtype), slot)
                self.free_masks[id(left)] = free
                rest.append(inst.running(left))
            self.block(x.then[:-1], path + (k, 0), taken)
            running, k0 = rest, k + 1
        if is_for:
            b.store(b.add(t, ll.Constant(I64, 1)), t_slot)
        b.branch(head)
        b.position_at_end(done)

    def dead_after(self, s) -> frozenset[str]:
        """The locals the loop ``s`` (``lane_loop``) assigns whose lanes that stopped running
        need not keep their values: set unconditionally before the loop in its
        block, and read nowhere but in the loop. Assigned in the loop's body
        itself, they are assigned in every lane (no blend with the old value
        putting the running mask on the chain from one iteration to the next:
        a Mandelbrot iteration's zr and zi)."""
        inside = {id(x) for x in ir.walk_stmts((s,))}
        parent = next((blk for x in ir.walk_stmts((self.root,))
                       for blk in ((x.body,) if isinstance(x, (ir.For, ir.While)) else
                                   (x.then, x.orelse) if isinstance(x, ir.If) else ())
                       if any(y is s for y in blk)), ())
        before = parent[:next((k for k, y in enumerate(parent) if y is s), 0)]
        set_before = {x.name for x in before if isinstance(x, ir.Assign) and x.op is None}
        read_outside = set()
        for x in ir.walk_stmts(self.cg.kernel.body + (self.root,)):
            if id(x) not in inside:
                for e in ir.stmt_exprs(x):
                    read_outside |= analysis.names_read(e)
        names = {x.name for x in s.body if isinstance(x, ir.Assign)} - read_outside
        cond = analysis.names_read(s.cond) if isinstance(s, ir.While) else set()
        # a lane that takes a break runs nothing more: for the lanes still running,
        # the body is its statements without the breaks
        body = tuple(dataclasses.replace(x, then=x.then[:-1]) if isinstance(x, ir.If) else x for x in s.body)
        # set before the loop, or set in its body before each read there (a temporary)
        return frozenset(n for n in names if n in set_before or (n not in cond and analysis.exposed(n, body) is False))

    def assign(self, s: ir.Assign, inst: Instance) -> None:
        b = self.b
        if not inst.vec:
            self.view(inst)
            self.cg.assign(s)
            return
        slot = inst.slots.get(s.name)
        t = s.value.type
        value = self.value(s.value, inst)
        if slot is None or str(slot.allocated_type) != str(self.vtype(t)):
            raise AssertionError(f"local {s.name} has no vector slot in the vector loop")
        value = self.vector(value)
        old = None
        if s.op is not None:
            old = b.load(slot, typ=slot.allocated_type)
            value = self.cg.arith(s.op, t, old, value, s)
        if inst.mask is not None and s.name not in self.free_masks.get(id(inst.mask), ()):
            old = old if old is not None else b.load(slot, typ=slot.allocated_type)
            value = b.select(inst.mask, value, old)
        b.store(value, slot)

    def store(self, s: ir.Store, inst: Instance) -> None:
        if not inst.vec:
            self.view(inst)
            self.cg.store(s)
            return
        self.put(s, inst, self.vector(self.value(s.value, inst)))

    def store_groups(self, body, inst: Instance) -> dict[int, tuple[int, int]]:
        """``analysis.store_groups`` of ``body`` in this vector loop, once per body."""
        if not inst.vec:
            return {}
        key = ("stores", id(body))
        hit = self._groups.get(key)
        if hit is None:
            hit = self._groups[key] = analysis.store_groups(
                self.ctx, body, set(inst.idx) | {self.vname}, self.vname, self.vstep,
                lambda a: self.cg.arrays[a].contiguous)
        return hit

    def store_group(self, stmts, groups, insts) -> None:
        """Stores ``x[e*k + c]`` for every phase c of ``e``, one statement each
        (``analysis.store_groups``): all values first, in statement order; then per
        instance the ``e`` vectors interleaved into ``e`` plain stores of the
        elements from phase 0's first lane to phase e - 1's last. Under a tail mask,
        each statement's lanes are scattered."""
        values = []
        for s in stmts:
            self.phases = self.every_groups(s, insts[0])
            values.append([self.vector(self.value(s.value, inst)) for inst in insts])
        e = len(stmts)
        order = sorted(range(e), key=lambda j: groups[id(stmts[j])][0])
        t = stmts[0].value.type
        for n, inst in enumerate(insts):
            if inst.mask is not None:
                for s, vals in zip(stmts, values):
                    self.put(s, inst, vals[n])
                continue
            _, ptr, _ = self.where(stmts[order[0]], inst)
            parts = self.interleave([self.to_mem(values[j][n], t) for j in order])
            for m, part in enumerate(parts):
                at = self.b.gep(ptr, [ll.Constant(I64, m * self.W)], source_etype=MEM_TYPES[t]) if m else ptr
                self.b.store(part, at, align=t.itemsize)

    def interleave(self, vecs: list) -> list:
        """``e`` vectors of W lanes as ``e`` vectors of their lanes in the order
        v0[0], v1[0], ..., v(e-1)[0], v0[1], ...: what lies in memory when lane k of
        vector p is element e*k + p."""
        b = self.b
        W, e = self.W, len(vecs)
        wide = ll.VectorType(I32, 2 * W)

        def cat(x, y):
            if y is None:
                y = ll.Constant(x.type, None)
            return b.shuffle_vector(x, y, ll.Constant(wide, list(range(2 * W))))

        if e == 2:
            left, right = vecs
        else:
            left, right = cat(vecs[0], vecs[1]), cat(vecs[2], vecs[3] if e > 3 else None)
        out = []  # lane p*W + k of (left, right) is vector p's lane k
        for m in range(e):
            picks = [(j % e) * W + j // e for j in range(m * W, (m + 1) * W)]
            out.append(b.shuffle_vector(left, right, ll.Constant(ll.VectorType(I32, W), picks)))
        return out

    def put(self, s: ir.Store, inst: Instance, value) -> None:
        """Store the vector ``value`` as statement ``s`` of instance ``inst``."""
        elem = s.value.type
        kind, ptr, lanes = self.where(s, inst)
        if kind == "invariant":
            raise AssertionError("a store that does not move along the vector loop")
        if kind == "every":  # the elements between the lanes' are not the store's to write
            kind, lanes = "strided", self.every_lanes(lanes, elem)
        if s.op is not None:
            old = self.from_mem(self.mem_load(kind, ptr, lanes, elem, inst.mask), elem)
            value = self.cg.arith(s.op, elem, old, value, s)
        self.mem_store(kind, ptr, lanes, self.to_mem(value, elem), elem, inst.mask)

    # ------------------------------------------------------------------ values

    def vtype(self, t: DType) -> ll.VectorType:
        return ll.VectorType(REG_TYPES[t], self.W)

    def splat(self, v):
        b = self.b
        vt = ll.VectorType(v.type, self.W)
        one = b.insert_element(ll.Constant(vt, ll.Undefined), v, ll.Constant(I32, 0))
        return b.shuffle_vector(one, ll.Constant(vt, ll.Undefined), ll.Constant(ll.VectorType(I32, self.W), [0] * self.W))

    def vector(self, v):
        return v if isinstance(v.type, ll.VectorType) else self.splat(v)

    def value(self, e: ir.Expr, inst: Instance):
        """``e`` for one instance: a scalar when it is the same in every lane, else a vector."""
        if not inst.vec:
            return self.scalar(e, inst)
        b = self.b
        cg = self.cg
        if isinstance(e, ir.Const):
            return cg.expr(e)
        if isinstance(e, ir.Var):
            if e.name == self.vname:
                return b.add(self.splat(inst.idx[e.name]), self.lanes)
            if e.name in inst.slots:
                slot = inst.slots[e.name]
                return b.load(slot, typ=slot.allocated_type)
            return self.scalar(e, inst)
        if isinstance(e, ir.Load):
            return self.load(e, inst)
        if isinstance(e, ir.Cast):
            return cg.cast(self.value(e.operand, inst), e.operand.type, e.to)
        if isinstance(e, ir.Unary):
            return cg.unary(e.op, e.type, self.value(e.operand, inst))
        if isinstance(e, ir.Select):
            c = self.value(e.cond, inst)
            x, y = self.value(e.if_true, inst), self.value(e.if_false, inst)
            x, y = self.pair(x, y)
            if isinstance(c.type, ll.VectorType) and not isinstance(x.type, ll.VectorType):
                x, y = self.splat(x), self.splat(y)
            return b.select(c, x, y)
        if isinstance(e, ir.Binary):
            x, y = self.pair(self.value(e.left, inst), self.value(e.right, inst))
            if e.op == "and":
                return b.and_(x, y)
            if e.op == "or":
                return b.or_(x, y)
            if e.op in ir.COMPARE_OPS:
                return cg.compare(e.op, e.left.type, x, y)
            return cg.arith(e.op, e.type, x, y, e)
        if isinstance(e, ir.Call):
            args = [self.value(a, inst) for a in e.args]
            if any(isinstance(a.type, ll.VectorType) for a in args):
                args = [self.vector(a) for a in args]
            return cg.call_values(e.fn, e.type, args, e)
        raise TypeError(f"not an expression: {e!r}")

    def pair(self, x, y):
        xv, yv = isinstance(x.type, ll.VectorType), isinstance(y.type, ll.VectorType)
        if xv and not yv:
            y = self.splat(y)
        elif yv and not xv:
            x = self.splat(x)
        return x, y

    # ------------------------------------------------------------------ memory

    def where(self, node, inst: Instance):
        """(kind, address of lane 0, per-lane byte offsets) of an access: kind
        "contiguous" or "invariant" (no offsets), "strided" (a gather or scatter),
        or "every" (lanes a small constant number of elements apart in a
        contiguous array, ``x[2*i]``; the offsets are that number, an int)."""
        b = self.b
        kind, coefs = analysis.access_kind(self.ctx, node, set(inst.idx) | {self.vname}, self.vname)
        self.view(inst)
        idx = [self.cg.expr(i) for i in node.indices]
        ptr = self.cg.address_of(node.array, idx)
        arr = self.cg.arrays[node.array]
        if kind == "invariant":
            return kind, ptr, None
        if node.array in self.plan.packed and coefs == (1, 0) and self.vstep == 1:
            return "contiguous", ptr, None  # along the rows of the transposed copy (pack)
        if kind == "contiguous" and arr.contiguous and self.vstep == 1:
            return "contiguous", ptr, None
        every = analysis.lanes_apart(coefs, self.vstep) if arr.contiguous else None
        if every:
            return "every", ptr, every
        # a gather/scatter: byte distance between lanes
        if None in coefs:  # a coefficient known at run time (``A[i*n + j]`` along i): lane 1's address
            nxt = b.add(inst.idx[self.vname], ll.Constant(I64, self.vstep))
            self.view(inst.with_index(self.vname, nxt))
            nxt = self.cg.address_of(node.array, [self.cg.expr(i) for i in node.indices])
            self.view(inst)
            stride = b.sub(b.ptrtoint(nxt, I64), b.ptrtoint(ptr, I64))
            return "strided", ptr, b.mul(self.iota, self.splat(stride))
        p = arr.param
        stride = ll.Constant(I64, 0)
        for axis, c in enumerate(coefs):
            if not c:
                continue
            if arr.contiguous:
                row = ll.Constant(I64, p.dtype.itemsize)
                for d in p.shape[axis + 1:]:
                    row = b.mul(row, self.cg.dim_value(d) if arr.ld is None else arr.ld)
                step = row
            else:
                step = arr.strides[axis]
            stride = b.add(stride, b.mul(step, ll.Constant(I64, c * self.vstep)))
        return "strided", ptr, b.mul(self.iota, self.splat(stride))

    def every_groups(self, s, inst: Instance) -> dict[int, int]:
        """The "every" loads of statement ``s`` (lanes ``e`` elements apart) that
        come in complete groups: ``e`` loads of one row whose subscripts differ
        only by constants ``c, c + 1, ..., c + e - 1`` (``c`` a multiple of ``e``;
        a 2 x 2 max pool reads ``x[2*i, 2*j]`` and ``x[2*i, 2*j + 1]``). Together
        they read every element from the first one's first lane to the last one's
        last lane, so each may use the same ``e`` aligned vector loads
        (``deinterleave``, which LLVM then loads once). The members may also be in
        other statements of ``s``'s block (``block_groups``). By id: the load's
        phase (its constant mod ``e``)."""
        hit = self._groups.get(id(s))
        if hit is not None or not inst.vec:
            return hit or {}
        hit = self._groups[id(s)] = self._complete(ir.stmt_exprs(s), inst)
        return hit

    def block_groups(self, body, inst: Instance) -> None:
        """Complete groups of "every" loads (``every_groups``) across the
        assignments and stores of the block ``body``: the real and imaginary parts
        of interleaved complex numbers read into two locals, ``ar = a[2*i]; ai =
        a[2*i + 1]``. Only loads whose subscripts read no local set in the block
        (so that each member reads the same row in every statement)."""
        if not inst.vec or ("every", id(body)) in self._groups:
            return
        self._groups[("every", id(body))] = {}
        straight = [x for x in body if isinstance(x, (ir.Assign, ir.Store))]
        set_here = {x.name for x in straight if isinstance(x, ir.Assign)}
        shared = self._complete((e for x in straight for e in ir.stmt_exprs(x)), inst,
                                lambda n: not any(analysis.names_read(i) & set_here for i in n.indices))
        for x in straight:
            own = self.every_groups(x, inst)
            mine = {id(n): shared[id(n)] for e in ir.stmt_exprs(x) for n in ir.walk_expr(e) if id(n) in shared}
            if mine:
                self._groups[id(x)] = {**mine, **own}

    def _complete(self, exprs, inst: Instance, allowed=None) -> dict[int, int]:
        indices = set(inst.idx) | {self.vname}
        members: dict[tuple, dict[int, list]] = {}
        for e in exprs:
            for x in ir.walk_expr(e):
                if (not isinstance(x, ir.Load) or not self.cg.arrays[x.array].contiguous
                        or (allowed is not None and not allowed(x))):
                    continue
                found = analysis.phase_of(self.ctx, x, indices, self.vname, self.vstep)
                if found is not None:
                    key, _, phase = found
                    members.setdefault(key, {}).setdefault(phase, []).append(x)
        hit = {}
        for (_, every, *_), phases in members.items():
            if len(phases) == every:
                hit.update({id(x): p for p, xs in phases.items() for x in xs})
        return hit

    def every_lanes(self, every: int, t: DType):
        """The byte offsets of an "every" access's lanes, for a gather or scatter."""
        return ll.Constant(ll.VectorType(I64, self.W), [ll.Constant(I64, k * every * t.itemsize) for k in range(self.W)])

    def deinterleave(self, ptr, every: int, t: DType, phase: int | None = None):
        """Lanes ``ptr[0], ptr[every], ..., ptr[(W - 1)*every]`` from ``every`` plain
        vector loads and shuffles. The loads cover exactly the elements from the
        first lane's to the last's: the last load ends at the last lane's element
        (never past it, which may be past the array's end). A member of a complete
        group (``every_groups``) at ``phase`` uses the group's aligned loads,
        from ``phase`` elements before ``ptr`` to the last member's last lane."""
        b = self.b
        W = self.W
        mt = ll.VectorType(MEM_TYPES[t], W)
        span = (W - 1) * every + 1
        if phase is None:
            phase, starts = 0, sorted({min(m * W, span - W) for m in range(every)})
        else:
            starts = [m * W - phase for m in range(every)]
        vecs = [b.load(b.gep(ptr, [ll.Constant(I64, o)], source_etype=MEM_TYPES[t]) if o else ptr,
                       typ=mt, align=t.itemsize) for o in starts]
        where = []  # per lane: (which load, lane in it)
        for k in range(W):
            e = k * every
            m = max(j for j, o in enumerate(starts) if o <= e)
            where.append((m, e - starts[m]))
        out = None
        for m, v in enumerate(vecs):  # lanes from load m join the lanes gathered so far
            mine = [lane for lane, (mm, _) in enumerate(where) if mm == m]
            if not mine:
                continue
            if out is None:
                mask = [where[k][1] if where[k][0] == m else 0 for k in range(W)]
                out = b.shuffle_vector(v, ll.Constant(mt, None), ll.Constant(ll.VectorType(I32, W), mask))
            else:
                mask = [W + where[k][1] if where[k][0] == m else k for k in range(W)]
                out = b.shuffle_vector(out, v, ll.Constant(ll.VectorType(I32, W), mask))
        return out

    def load(self, e: ir.Load, inst: Instance):
        # in an if's branch, an element proven in bounds for every iteration of the
        # loops is read in all their lanes: a plain load where the branch's lanes
        # would take a masked one (several times its cost on AVX2), and the same
        # load as the condition's in ``if x[i] < 0 {} else { s += x[i] }``
        proven = inst.in_range is not inst.load_mask and not any(self.cg.checks.get(id(e), (True,)))
        inst = inst.with_mask(inst.in_range if proven else inst.load_mask)
        kind, ptr, lanes = self.where(e, inst)
        if (kind == "strided" and inst.group is not None and self.cg.arrays[e.array].contiguous
                and (inst.mask is None or id(inst.mask) in self.tail_masks)
                and analysis.transposable(self.ctx, e, inst.group[0], set(inst.idx) | {self.vname},
                                          self.plan.factor(inst.group[0]), self.W)):
            return self.from_mem(self.transpose_load(e, inst), e.type)
        if kind == "invariant":
            raw = self.b.load(ptr, typ=MEM_TYPES[e.type], align=e.type.itemsize)
            return self.cg.from_mem(raw, e.type)
        if kind == "every":
            if inst.mask is None:
                return self.from_mem(self.deinterleave(ptr, lanes, e.type, self.phases.get(id(e))), e.type)
            kind, lanes = "strided", self.every_lanes(lanes, e.type)  # the tail: lanes past the end are masked
        return self.from_mem(self.mem_load(kind, ptr, lanes, e.type, inst.mask), e.type)

    def transpose_load(self, e: ir.Load, inst: Instance):
        """A strided vector load (``A[j, i]`` vectorized along ``j``) for an instance
        of a group of W consecutive values of the unrolled loop ``i``, along which
        the access is contiguous: the group's W rows ``A[j + k, i0 : i0 + W]`` are
        loaded once and transposed in registers; column r is instance i0 + r's vector. Instead of W gathers of W
        lanes each: W loads and W log2(W) shuffles for the group. Under the tail
        mask, rows past the vector loop's last index read the last one's row
        instead (lanes the mask drops): plain loads, of rows the loop reads anyway."""
        b = self.b
        u, r, base = inst.group
        r0 = r - r % self.W
        key = (id(e), id(base), r0, id(inst.mask),
               tuple((k, id(v)) for k, v in sorted(inst.idx.items()) if k != u))
        cols = self.transposed_rows.get(key)
        if cols is None:
            first = base if r0 == 0 else b.add(base, ll.Constant(I64, r0))
            v0 = inst.idx[self.vname]
            last = self.tail_masks.get(id(inst.mask)) if inst.mask is not None else None
            mt = ll.VectorType(MEM_TYPES[e.type], self.W)
            rows = []
            for k in range(self.W):
                v = v0 if k == 0 else b.add(v0, ll.Constant(I64, k * self.vstep))
                if last is not None and k > 0:
                    v = b.select(b.icmp_signed("<=", v, last), v, last)
                self.view(inst.with_index(u, first).with_index(self.vname, v))
                ptr = self.cg.address_of(e.array, [self.cg.expr(i) for i in e.indices])
                rows.append(b.load(ptr, typ=mt, align=e.type.itemsize))
            cols = self.transposed_rows[key] = self.transpose(rows, e.type.itemsize)
        return cols[r - r0]

    def transpose(self, rows: list, itemsize: int) -> list:
        """The W x W block ``rows`` transposed, in x86's cheap shuffles: rounds of
        granularity g = 1, 2, .., W/2 pair vectors i and i + g and interleave the
        lower halves, then the upper halves, of their segments in units of g
        lanes; a segment is a 128-bit block while g is below one (unpcklps, then
        unpcklpd: no lane crossing), else 2g lanes (vperm2f128). 8 x 8 f32 on
        AVX2: 24 instructions, where interleaving whole vectors each round took 48.
        Each lane's (row, column) is tracked, and the columns are returned in order."""
        b = self.b
        n = len(rows)
        block = max(1, min(n, 16 // itemsize))  # lanes per 128-bit block (or the whole of a narrower vector)
        labels = [[(r, c) for c in range(n)] for r in range(n)]
        vecs = list(rows)
        g = 1
        while g < n:
            seg = max(2 * g, block)
            lo, hi = [], []
            for first in range(0, n, seg):
                for half, out in ((0, lo), (seg // 2, hi)):
                    for u in range(0, seg // 2, g):
                        for src in (0, n):
                            out += [src + first + half + u + k for k in range(g)]
            masks = [ll.Constant(ll.VectorType(I32, n), m) for m in (lo, hi)]
            nxt, nlab = list(vecs), list(labels)
            for i in range(n):
                if i & g:
                    continue
                both = labels[i] + labels[i + g]
                for j, (m, idx) in enumerate(zip(masks, (lo, hi))):
                    nxt[i + j * g] = b.shuffle_vector(vecs[i], vecs[i + g], m)
                    nlab[i + j * g] = [both[x] for x in idx]
            vecs, labels = nxt, nlab
            g *= 2
        cols = [None] * n
        for v, lab in zip(vecs, labels):
            c = lab[0][1]
            if lab != [(r, c) for r in range(n)]:
                raise AssertionError("transpose left a column out of order")
            cols[c] = v
        return cols

    def pointers(self, ptr, lanes):
        b = self.b
        base = b.ptrtoint(ptr, I64)
        return b.inttoptr(b.add(self.splat(base), lanes), ll.VectorType(PTR, self.W))

    def mem_load(self, kind, ptr, lanes, t: DType, mask):
        b = self.b
        mt = ll.VectorType(MEM_TYPES[t], self.W)
        align = ll.Constant(I32, t.itemsize)
        zero = ll.Constant(mt, None)
        if kind == "contiguous":
            if mask is None:
                return b.load(ptr, typ=mt, align=t.itemsize)
            fn = self.cg.declare(f"llvm.masked.load.v{self.W}{_mem_suffix(t)}.p0", mt, [PTR, I32, mask.type, mt])
            return b.call(fn, [ptr, align, mask, zero])
        ptrs = self.pointers(ptr, lanes)
        m = mask if mask is not None else const_like(ll.VectorType(I1, self.W), 1)
        fn = self.cg.declare(f"llvm.masked.gather.v{self.W}{_mem_suffix(t)}.v{self.W}p0", mt, [ptrs.type, I32, m.type, mt])
        return b.call(fn, [ptrs, align, m, zero])

    def mem_store(self, kind, ptr, lanes, value, t: DType, mask) -> None:
        b = self.b
        align = ll.Constant(I32, t.itemsize)
        vt = value.type
        if kind == "contiguous":
            if mask is None:
                b.store(value, ptr, align=t.itemsize)
                return
            fn = self.cg.declare(f"llvm.masked.store.v{self.W}{_mem_suffix(t)}.p0", ll.VoidType(), [vt, PTR, I32, mask.type])
            b.call(fn, [value, ptr, align, mask])
            return
        if mask is None:
            # lane by lane, each address lane 0's plus a scalar offset. Without a
            # scatter instruction (AVX2) LLVM expands ``masked.scatter`` into a
            # vector of pointers whose lanes it then extracts one by one; this way
            # each lane is one extract-to-memory at an address computed in scalar
            # registers (Zen 4, rows 250 apart: 1.75 cycles a lane before, ~1.2)
            base = b.ptrtoint(ptr, I64)
            for k in range(self.W):
                lane = ll.Constant(I32, k)
                at = b.inttoptr(b.add(base, b.extract_element(lanes, lane)), PTR)
                b.store(b.extract_element(value, lane), at, align=t.itemsize)
            return
        ptrs = self.pointers(ptr, lanes)
        m = mask if mask is not None else const_like(ll.VectorType(I1, self.W), 1)
        fn = self.cg.declare(f"llvm.masked.scatter.v{self.W}{_mem_suffix(t)}.v{self.W}p0", ll.VoidType(), [vt, ptrs.type, I32, m.type])
        b.call(fn, [value, ptrs, align, m])

    def from_mem(self, v, t: DType):
        if t is DType.BOOL:
            return self.b.icmp_unsigned("!=", v, const_like(v.type, 0))
        return v

    def to_mem(self, v, t: DType):
        if t is DType.BOOL:
            return self.b.zext(v, ll.VectorType(I8, self.W))
        return v


def _pos_key(g: analysis.ArgReduction) -> str:
    """The slot of the index at which a lane reached its ``best`` (not a name a
    program can write)."""
    return f"{g.best}#pos"


def _mem_suffix(t: DType) -> str:
    return t.value if t.is_float else f"i{t.bits}"
