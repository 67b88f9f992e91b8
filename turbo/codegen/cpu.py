"""Loop IR -> llvmlite.ir for the host CPU, one function per kernel variant.

Every operation follows the language's definition (docs/language.md), which the
reference interpreter implements literally: integer arithmetic wraps, ``//`` and
``%`` are floored, float -> int casts saturate, ``min(a, b)`` is ``b if b < a else
a``, ``and``/``or``/``x if c else y`` evaluate lazily. Code that can fail at run
time (a checked index, an integer division, a zero step) stores what went wrong in
the ``err`` record and returns its code; the runtime turns that into the located
Python exception.
"""

from __future__ import annotations

from llvmlite import ir as ll
from llvmlite.ir import values as ll_values

from .. import ir
from ..ir import DType
from ..passes import analysis
from ..passes.bounds import GUARD_LIMIT, factors, floor_of
from .abi import (
    ERR_INDEX,
    ERR_NEGATIVE_POWER,
    ERR_NEGATIVE_SHIFT,
    ERR_ZERO_DIVISION,
    ERR_ZERO_STEP,
    Variant,
)

I1 = ll.IntType(1)
I8 = ll.IntType(8)
I32 = ll.IntType(32)
I64 = ll.IntType(64)
F32 = ll.FloatType()
F64 = ll.DoubleType()
PTR = ll.PointerType()

REG_TYPES = {DType.F32: F32, DType.F64: F64, DType.I32: I32, DType.I64: I64, DType.BOOL: I1,
             DType.I8: I8, DType.U8: I8, DType.I16: ll.IntType(16), DType.U16: ll.IntType(16), DType.U32: I32}
MEM_TYPES = {**REG_TYPES, DType.BOOL: I8}  # NumPy stores a bool in a byte


def number_sites(kernel: ir.Kernel) -> list:
    """Every node that may raise at run time, in a fixed order; its position is the
    site id stored in ``err`` so the runtime can point at the source. Numbered on
    the kernel as written (the runtime's table); the code compiled may be a
    rewritten copy of it (``SiteNumbers``)."""
    sites = []
    for s in ir.walk_stmts(kernel.body):
        if isinstance(s, (ir.Store, ir.For)):
            sites.append(s)
        for e in ir.stmt_exprs(s):
            for sub in ir.walk_expr(e):
                if isinstance(sub, ir.Load):
                    sites.append(sub)
                elif isinstance(sub, ir.Binary) and sub.type.is_int and sub.op in analysis.RAISING_INT_OPS:
                    sites.append(sub)
    return sites


class SiteNumbers:
    """The site id of a node of the kernel being compiled, in the numbering of the
    kernel as written (``number_sites``): by identity for the nodes the scheduler
    left as they were; for a node it rebuilt (a specialized copy, an element held
    in a local: passes/promote.py), the written node of the same kind, array and
    source location, else of the same array and location; for a node without a
    location, its position when the compiled kernel has as many sites as the
    written one (a copy with the same statements); -1 if none."""

    def __init__(self, written: ir.Kernel, compiled: ir.Kernel):
        sites = number_sites(written)
        self.by_id = {id(n): k for k, n in enumerate(sites)}
        self.by_place: dict[tuple, int] = {}
        for k, n in enumerate(sites):
            self.by_place.setdefault(self._place(n), k)
            self.by_place.setdefault(self._place(n)[1:], k)
        mine = number_sites(compiled) if compiled is not written else []
        self.by_position = {id(n): k for k, n in enumerate(mine)} if len(mine) == len(sites) else {}

    @staticmethod
    def _place(node) -> tuple:
        return type(node).__name__, getattr(node, "array", None), node.loc

    def get(self, node) -> int:
        hit = self.by_id.get(id(node))
        if hit is None and node.loc is not None:
            place = self._place(node)
            hit = self.by_place.get(place, self.by_place.get(place[1:]))
        if hit is None:
            hit = self.by_position.get(id(node), -1)
        return hit


class _Array:
    def __init__(self, param: ir.ArrayParam, data, strides, contiguous: bool, origin=None, ld=None):
        self.param = param
        self.data = data
        self.strides = strides  # byte strides (llvm values) or None when contiguous
        self.contiguous = contiguous
        # the subscripts of the element at ``data`` when it is not [0, ...] (a
        # transposed copy of a block: codegen/vector.py ``pack``), llvm values
        self.origin = origin
        # a contiguous 2-d array's elements from one row to the next when it is not
        # the shape's (a copy with padded rows: codegen/vector.py ``align_rows``)
        self.ld = ld


def const_like(t: ll.Type, value) -> ll.Constant:
    """A constant of type ``t``; for a vector type, ``value`` in every lane."""
    if isinstance(t, ll.VectorType):
        return ll.Constant(t, [ll.Constant(t.element, value)] * t.count)
    return ll.Constant(t, value)


def type_suffix(t: ll.Type) -> str:
    """LLVM's overload suffix for an intrinsic on ``t``: f32, v8f64, i64, ..."""
    if isinstance(t, ll.VectorType):
        return f"v{t.count}{type_suffix(t.element)}"
    if isinstance(t, ll.FloatType):
        return "f32"
    if isinstance(t, ll.DoubleType):
        return "f64"
    return f"i{t.width}"


class _LoopID(ll_values.MDValue):
    """A loop's ``!llvm.loop`` node: distinct, its first operand itself (as LLVM
    requires of loop IDs; llvmlite's ``add_metadata`` cannot make one)."""

    def descr(self, buf):
        rest = "".join(f", {op.get_reference()}" for op in self.operands)
        buf += (f"distinct !{{ {self.get_reference()}{rest} }}", "\n")


def no_llvm_unroll(module: ll.Module, vectorize: bool = True):
    """A fresh loop ID telling LLVM not to unroll the loop it marks (nor to
    vectorize it, unless ``vectorize``)."""
    ops = [module.add_metadata([ll.MetaDataString(module, "llvm.loop.unroll.disable")])]
    if not vectorize:
        ops.append(module.add_metadata([ll.MetaDataString(module, "llvm.loop.vectorize.enable"),
                                        ll.Constant(ll.IntType(1), 0)]))
    return _LoopID(module, ops, name=str(len(module.metadata)))


def counted(cg, lo, hi, stride: int, name: str, body_fn, llvm_unrolls: bool = False, scalar: bool = False,
            exits: bool = False) -> None:
    """for t in lo:hi:stride (t < hi) in ``cg``'s function, calling body_fn(t) to
    emit the body (which may end blocks of its own). Unless ``llvm_unrolls``, LLVM
    is told not to unroll the loop. The loops of scheduled regions (vector.py) are
    unrolled as far as the cost model decided: LLVM unrolling them again added code
    the model did not price (LLVM took a third longer on a gemm; filter2d ran
    10-25% slower with it). Scalar loops (``KernelCodegen.loop``) are LLVM's.
    ``scalar``: LLVM is told not to vectorize it either (a few leftover elements:
    its vector loop would be code that hardly runs). ``exits``: the body may
    hold ``break`` and ``continue`` of this loop (``cg.exits``: where they go)."""
    b = cg.b
    pre = b.block
    header = cg.fn.append_basic_block(f"{name}_head")
    body = cg.fn.append_basic_block(f"{name}_body")
    done = cg.fn.append_basic_block(f"{name}_end")
    b.branch(header)
    b.position_at_end(header)
    t = b.phi(I64, name=f"{name}_t")
    t.add_incoming(lo, pre)
    b.cbranch(b.icmp_signed("<", t, hi), body, done)
    b.position_at_end(body)
    if exits:
        latch_bb = cg.fn.append_basic_block(f"{name}_next")
        cg.exits.append((latch_bb, done))
        try:
            body_fn(t)
        finally:
            cg.exits.pop()
        if not b.block.is_terminated:
            b.branch(latch_bb)
        b.position_at_end(latch_bb)
    else:
        body_fn(t)
    nxt = b.add(t, ll.Constant(I64, stride), flags=["nuw", "nsw"])  # 0 <= lo <= t < hi
    t.add_incoming(nxt, b.block)
    latch = b.branch(header)
    if not llvm_unrolls:
        latch.set_metadata("llvm.loop", no_llvm_unroll(cg.module, vectorize=not scalar))
    b.position_at_end(done)


class KernelCodegen:
    in_chunk = False  # True in the function running one chunk of a parallel loop
    version_tag = ""  # "u" while emitting the unchecked copy of a versioned nest

    def __init__(self, kernel: ir.Kernel, variant: Variant, func_name: str, module: ll.Module,
                 schedule=None, fastmath: bool = True, written: ir.Kernel | None = None):
        self.kernel = kernel
        self.variant = variant
        self.module = module
        self.schedule = schedule
        self.fastmath = fastmath
        self.fflags: tuple[str, ...] = ()  # fast-math flags of float arithmetic being emitted
        self.exits: list[tuple] = []  # per loop being emitted: where continue and break go (blocks)
        self.sites = SiteNumbers(written or kernel, kernel)
        abi = variant.abi(kernel)
        arg_types = []
        for a in abi:
            if a.kind in ("data", "result", "err"):
                arg_types.append(PTR)
            elif a.kind in ("stride", "dim"):
                arg_types.append(I64)
            else:
                arg_types.append(MEM_TYPES[a.dtype])
        fnty = ll.FunctionType(I32, arg_types)
        self.fn = ll.Function(module, fnty, func_name)
        self.fn.attributes.add("nounwind")
        self.dims: dict[str, ll.Value] = {}
        self.scalars: dict[str, ll.Value] = {}
        self.arrays: dict[str, _Array] = {}
        data: dict[str, ll.Value] = {}
        strides: dict[str, list] = {}
        for a, arg in zip(abi, self.fn.args):
            arg.name = f"{a.kind}_{a.name}" + (f"_{a.axis}" if a.kind == "stride" else "")
            if a.kind == "data":
                data[a.name] = arg
                if not variant.may_alias:
                    arg.add_attribute("noalias")
            elif a.kind == "stride":
                strides.setdefault(a.name, []).append(arg)
            elif a.kind == "dim":
                self.dims[a.name] = arg
            elif a.kind == "scalar":
                self.scalars[a.name] = arg
            elif a.kind == "result":
                self.result = arg
                arg.add_attribute("noalias")
            else:
                self.err = arg
                arg.add_attribute("noalias")
        for p, contig in zip(kernel.arrays, variant.contiguous):
            self.arrays[p.name] = _Array(p, data[p.name], strides.get(p.name, []), contig)
        self.loop_ctx = analysis.Context.of(kernel)  # affine forms and bounds facts, shared with regions
        self.checks = self.loop_ctx.checks
        # the kernel's locals, and those of versioned nests' unchecked copies (elements
        # held in locals there: passes/schedule.py ``_unchecked_nest``)
        self.local_types = dict(ir.local_types(kernel))
        for v in (schedule.versions if schedule is not None else ()):
            for x in ir.walk_stmts(((v.nest,) if v.nest is not None else ()) + tuple(c for s in v.scans for c in s.code)):
                if isinstance(x, ir.Assign):
                    self.local_types.setdefault(x.name, x.value.type)
        self.entry = self.fn.append_basic_block("entry")
        self.b = ll.IRBuilder(self.entry)
        self.locals: dict[str, ll.Value] = {}
        self.indices: dict[str, ll.Value] = {}

    # ------------------------------------------------------------------ driver

    def build(self) -> ll.Function:
        b = self.b
        for name, t in self.local_types.items():
            self.locals[name] = b.alloca(REG_TYPES[t], name=f"local_{name}")
        for name, arg in list(self.scalars.items()):
            p = self.kernel.param(name)
            if p.dtype is DType.BOOL:
                self.scalars[name] = b.icmp_unsigned("!=", arg, ll.Constant(I8, 0))
        self.block(self.kernel.body, ())
        if not b.block.is_terminated:
            b.ret(ll.Constant(I32, 0))
        return self.fn

    # ------------------------------------------------------------------ helpers

    def declare(self, name: str, ret, args) -> ll.Function:
        fn = self.module.globals.get(name)
        return fn if fn is not None else ll.Function(self.module, ll.FunctionType(ret, args), name)

    def intrinsic(self, base: str, t: DType | ll.Type, n_args: int = 1) -> ll.Function:
        """``llvm.<base>`` on a scalar type (DType) or an LLVM type (also vectors)."""
        lt = REG_TYPES[t] if isinstance(t, DType) else t
        return self.declare(f"llvm.{base}.{type_suffix(lt)}", lt, [lt] * n_args)

    def entry_alloca(self, t: ll.Type, name: str) -> ll.Value:
        """A stack slot allocated in the entry block (where mem2reg promotes it)."""
        b = self.b
        here = b.block
        b.position_at_start(self.entry)
        slot = b.alloca(t, name=name)
        b.position_at_end(here)
        return slot

    def fail(self, ok: ll.Value, code: int, site_node, axis=None, value=None, size=None) -> None:
        """Branch to an error exit unless ``ok`` holds; continue in a fresh block."""
        b = self.b
        bad = self.fn.append_basic_block("fail")
        cont = self.fn.append_basic_block("cont")
        b.cbranch(ok, cont, bad)
        b.position_at_end(bad)
        site = self.sites.get(site_node)
        fields = [ll.Constant(I64, code), ll.Constant(I64, site), axis or ll.Constant(I64, 0),
                  value or ll.Constant(I64, 0), size or ll.Constant(I64, 0)]
        for k, v in enumerate(fields):
            if v.type != I64:
                v = b.sext(v, I64)
            b.store(v, b.gep(self.err, [ll.Constant(I64, k)], inbounds=True, source_etype=I64), align=8)
        b.ret(ll.Constant(I32, code))
        b.position_at_end(cont)

    def dim_value(self, d: int | str) -> ll.Value:
        return ll.Constant(I64, d) if isinstance(d, int) else self.dims[d]

    # ------------------------------------------------------------------ statements

    def block(self, body, path: tuple[int, ...]) -> None:
        """Statements in order; ``path`` is the position of ``body`` in the kernel
        (see passes/analysis.py), by which the schedule names the loops it transforms."""
        for k, s in enumerate(body):
            here = path + (k,)
            if isinstance(s, ir.For):
                version = self.schedule.version_at(here) if self.schedule is not None and not self.in_chunk else None
                if version is not None:
                    self.versioned(s, here, version)
                else:
                    self.nest(s, here)
            elif isinstance(s, ir.Assign):
                self.assign(s)
            elif isinstance(s, ir.Store):
                self.store(s)
            elif isinstance(s, ir.If):
                self.if_(s, here)
            elif isinstance(s, ir.While):
                self.while_(s, here)
            elif isinstance(s, (ir.Break, ir.Continue)):
                nxt, done = self.exits[-1]
                self.b.branch(done if isinstance(s, ir.Break) else nxt)
                # what follows in this block never runs; it is emitted where nothing branches
                self.b.position_at_end(self.fn.append_basic_block("unreachable"))
            elif isinstance(s, ir.Return):
                t = s.value.type
                self.b.store(self.to_mem(self.expr(s.value), t), self.result, align=t.itemsize)
            else:
                raise TypeError(s)

    def nest(self, s: ir.For, path: tuple[int, ...]) -> None:
        par = self.schedule.parallel_at(path) if self.schedule is not None and not self.in_chunk else None
        if par is not None:
            from .threads import parallel_loop

            parallel_loop(self, s, path, par)
        else:
            self.for_stmt(s, path)

    def versioned(self, s: ir.For, path: tuple[int, ...], version) -> None:
        """Run-time versioning of bounds checks (passes/bounds.py ``access_guards``):
        when every guard holds, a copy of the nest without the checks they cover,
        scheduled on its own (``schedule.fast``); else the checked nest. Index
        scans (passes/scans.py) whose results guards read run first."""
        b = self.b
        for scan, sched in zip(version.scans, version.scan_schedules):
            self.scan(scan, sched)
        ok = ll.Constant(ll.IntType(1), 1)
        limit = ll.Constant(I64, GUARD_LIMIT)
        wide = ll.IntType(128)  # a product of symbols needs more than 64 bits (bounds.GUARD_LIMIT)
        seen = set()
        for g in version.guards:
            total = ll.Constant(wide, 0)
            for key, coef in g:
                term = ll.Constant(wide, coef)
                for name in factors(key):
                    v = self.symbol_value(name)
                    if name not in seen:  # symbols are bounded, so the sums below cannot overflow
                        seen.add(name)
                        ok = b.and_(ok, b.icmp_unsigned("<=", b.add(v, limit), ll.Constant(I64, 2 * GUARD_LIMIT)))
                    term = b.mul(term, b.sext(v, wide))
                total = b.add(total, term)
            ok = b.and_(ok, b.icmp_signed(">=", total, ll.Constant(wide, 0)))
        fast_bb = self.fn.append_basic_block(f"unchecked{'_'.join(map(str, path))}")
        slow_bb = self.fn.append_basic_block(f"checked{'_'.join(map(str, path))}")
        join = self.fn.append_basic_block(f"versions{'_'.join(map(str, path))}_end")
        b.cbranch(ok, fast_bb, slow_bb)
        b.position_at_end(fast_bb)
        saved = self.schedule, self.checks, self.version_tag
        self.schedule, self.checks, self.version_tag = saved[0].fast, saved[0].fast.checks, "u"
        try:
            self.nest(version.nest if version.nest is not None else s, path)
        finally:
            self.schedule, self.checks, self.version_tag = saved
        if not b.block.is_terminated:
            b.branch(join)
        b.position_at_end(slow_bb)
        self.nest(s, path)
        if not b.block.is_terminated:
            b.branch(join)
        b.position_at_end(join)

    def scan(self, scan, sched) -> None:
        """An index scan's code, with its own schedule (passes/schedule.py
        ``_scan_schedules``): the code is the body of that schedule's kernel, so
        its loops are found there by path, and its nodes' bounds facts are its own."""
        saved = self.schedule, self.checks, self.loop_ctx, self.kernel
        self.schedule, self.kernel = sched, sched.kernel
        self.loop_ctx = analysis.Context.of(sched.kernel)
        self.checks = self.loop_ctx.checks
        try:
            self.block(scan.code, ())
        finally:
            self.schedule, self.checks, self.loop_ctx, self.kernel = saved

    def symbol_value(self, name: str) -> ll.Value:
        """A dim or an integer scalar parameter, as i64; or a floor symbol of them
        (bounds.py ``floor_symbol``), computed as the kernel computes it."""
        if name in self.dims:
            return self.dims[name]
        if name in self.locals:  # an index scan's result (passes/scans.py)
            return self.b.load(self.locals[name], typ=I64)
        floor = floor_of(name)
        if floor is not None:
            b = self.b
            form, c = floor
            total = ll.Constant(I64, form.get("", 0))
            for key, coef in form.items():
                if key:
                    total = b.add(total, b.mul(ll.Constant(I64, coef), self.symbol_value(key)))
            q = b.sdiv(total, ll.Constant(I64, c))
            below = b.icmp_signed("<", b.srem(total, ll.Constant(I64, c)), ll.Constant(I64, 0))
            return b.sub(q, b.zext(below, I64))
        v = self.scalars[name]
        return v if v.type == I64 else self.b.sext(v, I64)

    def for_stmt(self, s: ir.For, path: tuple[int, ...]) -> None:
        plan = self.schedule.plan_at(path) if self.schedule is not None else None
        if plan is not None:
            from .vector import RegionEmitter

            RegionEmitter(self, plan, s, path).emit()
        else:
            self.loop(s, path)

    def restrict(self, s: ir.For, start, step, trip):
        """The iterations of loop ``s`` this function runs, as (first index, count):
        all of them, except in a chunk of a parallel loop (codegen/threads.py).
        ``step`` is an LLVM value or a Python int."""
        return start, trip

    def assign(self, s: ir.Assign) -> None:
        slot = self.locals[s.name]
        t = s.value.type
        value = self.expr(s.value)
        if s.op is not None:
            old = self.b.load(slot, typ=REG_TYPES[t])
            value = self.arith(s.op, t, old, value, s)
        self.b.store(value, slot)

    def store(self, s: ir.Store) -> None:
        addr = self.address(s.array, s.indices, s)
        elem = self.arrays[s.array].param.dtype
        value = self.expr(s.value)
        align = elem.itemsize
        if s.op is not None:
            old = self.from_mem(self.b.load(addr, typ=MEM_TYPES[elem], align=align), elem)
            value = self.arith(s.op, elem, old, value, s)
        self.b.store(self.to_mem(value, elem), addr, align=align)

    def if_(self, s: ir.If, path: tuple[int, ...]) -> None:
        b = self.b
        cond = self.expr(s.cond)
        then_bb = self.fn.append_basic_block("then")
        else_bb = self.fn.append_basic_block("else") if s.orelse else None
        end_bb = self.fn.append_basic_block("endif")
        b.cbranch(cond, then_bb, else_bb or end_bb)
        b.position_at_end(then_bb)
        self.block(s.then, path + (0,))
        if not b.block.is_terminated:
            b.branch(end_bb)
        if else_bb is not None:
            b.position_at_end(else_bb)
            self.block(s.orelse, path + (1,))
            if not b.block.is_terminated:
                b.branch(end_bb)
        b.position_at_end(end_bb)

    def while_(self, s: ir.While, path: tuple[int, ...]) -> None:
        """``while cond { body }``: the condition tested before each iteration;
        ``continue`` goes back to it, ``break`` past the loop."""
        b = self.b
        head = self.fn.append_basic_block("while_head")
        body = self.fn.append_basic_block("while_body")
        done = self.fn.append_basic_block("while_end")
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(self.expr(s.cond), body, done)
        b.position_at_end(body)
        self.exits.append((head, done))
        try:
            self.block(s.body, path)
        finally:
            self.exits.pop()
        if not b.block.is_terminated:
            b.branch(head)
        b.position_at_end(done)

    def loop(self, s: ir.For, path: tuple[int, ...]) -> None:
        """``for i in start:stop:step`` as a counted loop ``for t in 0:trip``,
        ``i = start + t*step``, with the trip count computed once on entry."""
        b = self.b
        start = self.expr(s.start)
        stop = self.expr(s.stop)
        step = self.expr(s.step)
        zero = ll.Constant(I64, 0)
        if isinstance(s.step, ir.Const):
            trip = self._trip(start, stop, step, s.step.value > 0)
        else:
            self.fail(b.icmp_signed("!=", step, zero), ERR_ZERO_STEP, s)
            up = self._trip(start, stop, step, True)
            down = self._trip(start, stop, step, False)
            trip = b.select(b.icmp_signed(">", step, zero), up, down)
        start, trip = self.restrict(s, start, step, trip)

        def body(t):
            self.indices[s.index] = b.add(start, b.mul(t, step), name=s.index)
            self.block(s.body, path)
            del self.indices[s.index]

        # a loop outside scheduled regions: LLVM decides its unrolling
        counted(self, zero, trip, 1, s.index, body, llvm_unrolls=True, exits=ir.has_exits(s.body))

    def _trip(self, start, stop, step, upward: bool):
        b = self.b
        zero, one = ll.Constant(I64, 0), ll.Constant(I64, 1)
        if upward:
            span, stride = b.sub(stop, start), step
        else:
            span, stride = b.sub(start, stop), b.sub(zero, step)
        # (span - 1) / stride + 1 when span > 0; both operands are then positive
        count = b.add(b.udiv(b.sub(span, one), stride), one)
        return b.select(b.icmp_signed(">", span, zero), count, zero)

    # ------------------------------------------------------------------ memory

    def needs_check(self, node) -> tuple[bool, ...]:
        """Per subscript of a Load or Store: emit a bounds check? (the variant's policy
        applied to the bounds analysis)"""
        n = len(node.indices)
        policy = self.variant.boundscheck
        if policy is None:
            return self.checks.get(id(node), (True,) * n)
        return (policy,) * n

    def address(self, array: str, indices, site_node) -> ll.Value:
        b = self.b
        arr = self.arrays[array]
        p = arr.param
        checks = self.needs_check(site_node)
        idx_vals = []
        for axis, (i, check) in enumerate(zip(indices, checks)):
            v = self.expr(i)
            if check:
                size = self.dim_value(p.shape[axis])
                # one unsigned compare covers both i < 0 and i >= size
                self.fail(b.icmp_unsigned("<", v, size), ERR_INDEX, site_node, ll.Constant(I64, axis), v, size)
            idx_vals.append(v)
        return self.address_of(array, idx_vals)

    def address_of(self, array: str, idx_vals) -> ll.Value:
        """The address of an element, from its (already checked) subscripts."""
        b = self.b
        arr = self.arrays[array]
        p = arr.param
        elem = MEM_TYPES[p.dtype]
        if arr.origin is not None:
            idx_vals = [b.sub(v, o) for v, o in zip(idx_vals, arr.origin)]
        if arr.contiguous:
            linear = idx_vals[0] if idx_vals else ll.Constant(I64, 0)
            for axis in range(1, len(idx_vals)):
                row = arr.ld if arr.ld is not None else self.dim_value(p.shape[axis])
                linear = b.add(b.mul(linear, row), idx_vals[axis])
            return b.gep(arr.data, [linear], inbounds=True, source_etype=elem)
        offset = ll.Constant(I64, 0)
        for v, stride in zip(idx_vals, arr.strides):
            offset = b.add(offset, b.mul(v, stride))
        return b.gep(arr.data, [offset], inbounds=True, source_etype=I8)

    def from_mem(self, v, t: DType):
        return self.b.icmp_unsigned("!=", v, ll.Constant(I8, 0)) if t is DType.BOOL else v

    def to_mem(self, v, t: DType):
        return self.b.zext(v, I8) if t is DType.BOOL else v

    # ------------------------------------------------------------------ expressions

    def can_fail(self, e: ir.Expr) -> bool:
        """Whether evaluating ``e`` may take an error exit (so it must not be
        evaluated speculatively, e.g. on the untaken side of a conditional)."""
        for sub in ir.walk_expr(e):
            if analysis.may_raise(sub):
                return True
            if isinstance(sub, ir.Load) and any(self.needs_check(sub)):
                return True
        return False

    def expr(self, e: ir.Expr) -> ll.Value:
        b = self.b
        if isinstance(e, ir.Const):
            return ll.Constant(REG_TYPES[e.type], int(e.value) if not e.type.is_float else float(e.value))
        if isinstance(e, ir.Var):
            if e.name in self.indices:
                return self.indices[e.name]
            if e.name in self.locals:
                return b.load(self.locals[e.name], typ=REG_TYPES[e.type])
            if e.name in self.scalars:
                return self.scalars[e.name]
            return self.dims[e.name]
        if isinstance(e, ir.Load):
            addr = self.address(e.array, e.indices, e)
            raw = b.load(addr, typ=MEM_TYPES[e.type], align=e.type.itemsize)
            return self.from_mem(raw, e.type)
        if isinstance(e, ir.Cast):
            return self.cast(self.expr(e.operand), e.operand.type, e.to)
        if isinstance(e, ir.Unary):
            v = self.expr(e.operand)
            return self.unary(e.op, e.type, v)
        if isinstance(e, ir.Select):
            return self.lazy(e.cond, e.if_true, e.if_false, e.type)
        if isinstance(e, ir.Binary):
            if e.op == "and":
                return self.lazy(e.left, e.right, ir.Const(False, DType.BOOL), DType.BOOL)
            if e.op == "or":
                return self.lazy(e.left, ir.Const(True, DType.BOOL), e.right, DType.BOOL)
            left, right = self.expr(e.left), self.expr(e.right)
            if e.op in ir.COMPARE_OPS:
                return self.compare(e.op, e.left.type, left, right)
            return self.arith(e.op, e.type, left, right, e)
        if isinstance(e, ir.Call):
            return self.call(e)
        raise TypeError(f"not an expression: {e!r}")

    def lazy(self, cond: ir.Expr, a: ir.Expr, b_expr: ir.Expr, t: DType) -> ll.Value:
        """``a if cond else b`` evaluating only the chosen arm; a plain select when
        neither arm can fail (LLVM then keeps it branch-free)."""
        b = self.b
        c = self.expr(cond)
        if not self.can_fail(a) and not self.can_fail(b_expr):
            return b.select(c, self.expr(a), self.expr(b_expr))
        then_bb = self.fn.append_basic_block("sel_true")
        else_bb = self.fn.append_basic_block("sel_false")
        end_bb = self.fn.append_basic_block("sel_end")
        b.cbranch(c, then_bb, else_bb)
        b.position_at_end(then_bb)
        va = self.expr(a)
        then_end = b.block
        b.branch(end_bb)
        b.position_at_end(else_bb)
        vb = self.expr(b_expr)
        else_end = b.block
        b.branch(end_bb)
        b.position_at_end(end_bb)
        phi = b.phi(REG_TYPES[t])
        phi.add_incoming(va, then_end)
        phi.add_incoming(vb, else_end)
        return phi

    def unary(self, op: str, t: DType, v):
        if op == "not":
            return self.b.xor(v, const_like(v.type, 1))
        if op == "invert":
            return self.b.xor(v, const_like(v.type, -1))
        return self.b.fneg(v) if t.is_float else self.b.sub(const_like(v.type, 0), v)

    def compare(self, op: str, t: DType, a, c):
        if t.is_float:
            # ordered compares are false on NaN; != is unordered (true on NaN), as in Python
            fop = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=="}
            if op == "!=":
                return self.b.fcmp_unordered("!=", a, c)
            return self.b.fcmp_ordered(fop[op], a, c)
        if t is DType.BOOL:
            return self.b.icmp_unsigned(op, a, c)
        return self.b.icmp_signed(op, a, c)

    def arith(self, op: str, t: DType, a, c, node):
        b = self.b
        if op in ("&", "|", "^"):  # integers or booleans
            return {"&": b.and_, "|": b.or_, "^": b.xor}[op](a, c)
        if op in ("<<", ">>"):
            return self.shift(op, t, a, c, node)
        if t.is_float:
            if op == "+":
                return b.fadd(a, c, flags=self.fflags)
            if op == "-":
                return b.fsub(a, c, flags=self.fflags)
            if op == "*":
                return b.fmul(a, c, flags=self.fflags)
            if op == "/":
                return b.fdiv(a, c, flags=self.fflags)
            if op in ("//", "%"):
                return self.float_divmod(op, a, c, t)
            if op == "**":
                exponent = node.right if isinstance(node, ir.Binary) else getattr(node, "value", None)
                n = analysis.small_power(exponent)
                if n is not None:
                    return self.power(a, n)
                return self.root(a) if analysis.half_power(exponent) else self.math("pow", t, [a, c])
        lt = REG_TYPES[t]
        if op == "+":
            return b.add(a, c)
        if op == "-":
            return b.sub(a, c)
        if op == "*":
            return b.mul(a, c)
        if op in ("//", "%"):
            return self.int_divmod(op, a, c, node)
        if op == "**":
            if isinstance(node, ir.Binary) and not analysis.may_raise(node):
                return self.ipow_literal(a, int(node.right.value))
            self.fail(b.icmp_signed(">=", c, ll.Constant(lt, 0)), ERR_NEGATIVE_POWER, node)
            return b.call(self.ipow(lt), [a, c])
        raise TypeError(f"operator {op} on {t}")

    def shift(self, op: str, t: DType, a, c, node):
        """Python's shifts at a fixed width: ``<<`` wraps (all bits out past the
        width), ``>>`` is arithmetic (the sign fills in past the width); a negative
        count raises, unless it is a literal (refused before)."""
        b = self.b
        width = const_like(c.type, t.bits - 1)
        if not isinstance(node, ir.Binary) or analysis.may_raise(node):
            self.fail(b.icmp_signed(">=", c, const_like(c.type, 0)), ERR_NEGATIVE_SHIFT, node)
        if isinstance(node, ir.Binary) and isinstance(node.right, ir.Const):
            n = int(node.right.value)
            if op == ">>":
                return b.ashr(a, const_like(c.type, min(n, t.bits - 1)))
            return b.shl(a, c) if n < t.bits else const_like(a.type, 0)
        n = b.select(b.icmp_unsigned(">", c, width), width, c)  # LLVM's shifts past the width are poison
        if op == ">>":
            return b.ashr(a, n)
        return b.select(b.icmp_unsigned(">", c, width), const_like(a.type, 0), b.shl(a, n))

    def ipow_literal(self, a, n: int):
        """a ** n for a literal n >= 0 by squaring, unrolled (scalars or vectors)."""
        b = self.b
        acc, x = None, a
        while n:
            if n & 1:
                acc = x if acc is None else b.mul(acc, x)
            n >>= 1
            if n:
                x = b.mul(x, x)
        return acc if acc is not None else const_like(a.type, 1)

    def float_divmod(self, op, a, c, t: DType):
        """Python's (and NumPy's) float ``//`` and ``%``: derived from fmod, so that
        ``a == (a // c) * c + a % c`` holds as well as rounding allows (1.0 // 0.1 is
        9.0, not floor(1.0 / 0.1) = 10.0). NaN operands and a zero divisor give NaN or
        the signed infinity of ``a / c``, as in NumPy."""
        b = self.b
        lt = a.type
        zero, one, half = const_like(lt, 0.0), const_like(lt, 1.0), const_like(lt, 0.5)
        copysign = self.intrinsic("copysign", lt, 2)
        mod = b.frem(a, c)
        nonzero = b.fcmp_unordered("!=", mod, zero)  # NaN counts as non-zero, as in C
        flip = b.and_(nonzero, b.xor(b.fcmp_ordered("<", c, zero), b.fcmp_ordered("<", mod, zero)))
        if op == "%":
            return b.select(nonzero, b.select(flip, b.fadd(mod, c), mod), b.call(copysign, [zero, c]))
        div = b.fdiv(b.fsub(a, mod), c)
        div = b.select(flip, b.fsub(div, one), div)
        floor = b.call(self.intrinsic("floor", lt), [div])
        floor = b.select(b.fcmp_ordered(">", b.fsub(div, floor), half), b.fadd(floor, one), floor)
        quotient = b.fdiv(a, c)
        result = b.select(b.fcmp_unordered("!=", div, zero), floor, b.call(copysign, [zero, quotient]))
        return b.select(b.fcmp_ordered("==", c, zero), quotient, result)

    def int_divmod(self, op, a, c, node):
        """Floored division and modulo; a zero divisor raises; MIN // -1 wraps."""
        b = self.b
        zero, one, minus1 = const_like(a.type, 0), const_like(a.type, 1), const_like(a.type, -1)
        if not isinstance(node, ir.Binary) or analysis.may_raise(node):  # a literal divisor is not 0
            self.fail(b.icmp_signed("!=", c, zero), ERR_ZERO_DIVISION, node)
        is_m1 = b.icmp_signed("==", c, minus1)
        safe = b.select(is_m1, one, c)  # sdiv MIN, -1 would trap
        q = b.sdiv(a, safe)
        r = b.srem(a, safe)
        q = b.select(is_m1, b.sub(zero, a), q)
        r = b.select(is_m1, zero, r)
        adjust = b.and_(b.icmp_signed("!=", r, zero), b.icmp_signed("<", b.xor(r, c), zero))
        if op == "//":
            return b.select(adjust, b.sub(q, one), q)
        return b.select(adjust, b.add(r, c), r)

    def ipow(self, lt) -> ll.Function:
        """An internal helper: a**n for n >= 0 by squaring, wrapping like ``*``."""
        name = f"turbo.ipow.i{lt.width}"
        fn = self.module.globals.get(name)
        if fn is not None:
            return fn
        fn = ll.Function(self.module, ll.FunctionType(lt, [lt, lt]), name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        base, exp = fn.args
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        done = fn.append_basic_block("done")
        b = ll.IRBuilder(entry)
        b.branch(loop)
        b.position_at_end(loop)
        acc = b.phi(lt)
        x = b.phi(lt)
        n = b.phi(lt)
        acc.add_incoming(ll.Constant(lt, 1), entry)
        x.add_incoming(base, entry)
        n.add_incoming(exp, entry)
        odd = b.trunc(n, I1)
        acc2 = b.select(odd, b.mul(acc, x), acc)
        x2 = b.mul(x, x)
        n2 = b.lshr(n, ll.Constant(lt, 1))
        acc.add_incoming(acc2, loop)
        x.add_incoming(x2, loop)
        n.add_incoming(n2, loop)
        b.cbranch(b.icmp_unsigned("==", n2, ll.Constant(lt, 0)), done, loop)
        b.position_at_end(done)
        b.ret(acc2)
        return fn

    def call(self, e: ir.Call):
        return self.call_values(e.fn, e.type, [self.expr(a) for a in e.args], e)

    def call_values(self, fn: str, t: DType, args, node: ir.Call | None = None):
        """A math function on evaluated arguments (scalars or vectors alike)."""
        b = self.b
        if fn == "pow" and node is not None and (n := analysis.small_power(node.args[1])) is not None:
            return self.power(args[0], n)
        if fn == "pow" and node is not None and analysis.half_power(node.args[1]):
            return self.root(args[0])
        if fn in ("min", "max"):
            a, c = args
            pick_c = self.compare("<" if fn == "min" else ">", t, c, a)
            return b.select(pick_c, c, a)
        if t.is_int:
            (a,) = args
            if fn == "abs":
                zero = const_like(a.type, 0)
                return b.select(b.icmp_signed("<", a, zero), b.sub(zero, a), a)
            return a  # floor/ceil of an integer
        if fn in ("sqrt", "floor", "ceil", "rint"):
            return b.call(self.intrinsic(fn, args[0].type), args)
        if fn == "copysign":
            return b.call(self.intrinsic(fn, args[0].type, 2), args)
        if fn == "abs":
            return b.call(self.intrinsic("fabs", args[0].type), args)
        return self.math(fn, t, args)

    def power(self, x, n: int):
        """x ** n for a literal n in -1..4 by multiplying (``analysis.small_power``);
        x ** 2 is exactly the rounded square that pow gives."""
        b = self.b
        one = const_like(x.type, 1.0)
        if n <= 0:
            return one if n == 0 else b.fdiv(one, x)
        if n == 1:
            return x
        sq = b.fmul(x, x)
        if n == 2:
            return sq
        return b.fmul(sq, x) if n == 3 else b.fmul(sq, sq)

    def root(self, x):
        """x ** 0.5: the square root, as NumPy's power computes it (and the reference
        interpreter, which uses it): correctly rounded, -0 at -0 and nan at -inf,
        where C's pow gives +0 and +inf."""
        return self.b.call(self.intrinsic("sqrt", x.type), [x])

    def math(self, fn: str, t: DType, args):
        """exp, log, sin, cos, tanh, sigmoid, pow, log2, ...: turbo's SIMD routines
        on vectors (codegen/simdmath.py), the C library's on scalars."""
        b = self.b
        lt = args[0].type
        if isinstance(lt, ll.VectorType):
            from . import simdmath

            return simdmath.call(self, fn, t, args)
        if fn in ("exp", "log", "sin", "cos", "pow", "log2", "log10", "exp2"):
            return b.call(self.intrinsic(fn, lt, len(args)), args)
        if fn in LIBM_ONLY:
            return b.call(self.libm(fn, lt, len(args)), args)
        if fn == "sigmoid":
            one = const_like(lt, 1.0)
            ex = b.call(self.intrinsic("exp", lt), [b.fneg(args[0])])
            return b.fdiv(one, b.fadd(one, ex))
        raise TypeError(f"unknown function {fn}")

    def libm(self, fn: str, lt: ll.Type, n_args: int = 1) -> ll.Function:
        """The C library's ``fn`` (``fnf`` for f32), which has no LLVM intrinsic."""
        name = LIBM_ONLY[fn]
        return self.declare(name + "f" if lt == ll.FloatType() else name, lt, [lt] * n_args)

    def cast(self, v, src: DType, to: DType):
        b = self.b
        if src is to:
            return v
        lt = REG_TYPES[to]
        if isinstance(v.type, ll.VectorType):
            lt = ll.VectorType(lt, v.type.count)
        if to is DType.BOOL:
            if src.is_float:
                return b.fcmp_unordered("!=", v, const_like(v.type, 0.0))
            return b.icmp_signed("!=", v, const_like(v.type, 0))
        if src is DType.BOOL:
            return b.uitofp(v, lt) if to.is_float else b.zext(v, lt)
        if to.is_float and src.is_float:
            return b.fpext(v, lt) if to.bits > src.bits else b.fptrunc(v, lt)
        if to.is_float:
            return b.uitofp(v, lt) if src.is_unsigned else b.sitofp(v, lt)
        if src.is_float:
            if to is DType.I32 and isinstance(v.type, ll.VectorType):
                return self.vector_to_i32(v, lt)
            # saturating: NaN -> 0, out of range -> the nearest representable value
            name = f"llvm.fpto{'u' if to.is_unsigned else 's'}i.sat.{type_suffix(lt)}.{type_suffix(v.type)}"
            return b.call(self.declare(name, lt, [v.type]), [v])
        if to.bits > src.bits:
            return b.zext(v, lt) if src.is_unsigned else b.sext(v, lt)
        return b.trunc(v, lt) if to.bits < src.bits else v  # u32 <-> i32: the same bits

    def vector_to_i32(self, v, lt):
        """A vector of floats to i32, saturating (NaN -> 0) as ``fptosi.sat``
        does, which LLVM converts lane by lane on AVX2: a plain conversion
        (``cvttps2dq``/``cvttpd2dq``, in range), then the ends and NaN chosen by
        compares. Lanes out of range convert to poison, which a select never
        chooses."""
        b = self.b
        lo, hi = DType.I32.int_range
        plain = b.fptosi(v, lt)
        above_lo = b.fcmp_ordered(">=", v, const_like(v.type, float(lo)))
        below_hi = b.fcmp_ordered("<", v, const_like(v.type, float(hi + 1)))
        r = b.select(above_lo, plain, const_like(lt, lo))
        r = b.select(below_hi, r, const_like(lt, hi))
        return b.select(b.fcmp_unordered("uno", v, v), const_like(lt, 0), r)


# math functions that LLVM has no intrinsic for: their C library names
LIBM_ONLY = {"tanh": "tanh", "log1p": "log1p", "expm1": "expm1", "sinh": "sinh", "cosh": "cosh", "tan": "tan",
             "atan": "atan", "atan2": "atan2", "hypot": "hypot", "erf": "erf", "asin": "asin", "acos": "acos"}


def build_variant(kernel: ir.Kernel, variant: Variant, func_name: str, module: ll.Module,
                  schedule=None, fastmath: bool = True, written: ir.Kernel | None = None) -> ll.Function:
    """``kernel`` (as scheduled) compiled; ``written``: the kernel as written, whose
    numbering of the sites that may fail the runtime reports errors by."""
    return KernelCodegen(kernel, variant, func_name, module, schedule, fastmath, written).build()


def build_dim_switch(kernel: ir.Kernel, variant: Variant, func_name: str, module: ll.Module,
                     fixed: ll.Function, general: ll.Function) -> ll.Function:
    """The variant's function when it has a copy specialized for short dims
    (``variant.dims``): calls ``fixed`` when every one of those dims has its value,
    else ``general``; both take the same arguments."""
    fn = ll.Function(module, general.function_type, func_name)
    fn.attributes.add("nounwind")
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    dims = {a.name: arg for a, arg in zip(variant.abi(kernel), fn.args) if a.kind == "dim"}
    same = ll.Constant(I1, 1)
    for name, value in variant.dims:
        same = b.and_(same, b.icmp_signed("==", dims[name], ll.Constant(I64, value)))
    on, off = fn.append_basic_block("fixed"), fn.append_basic_block("general")
    b.cbranch(same, on, off)
    for block, target in ((on, fixed), (off, general)):
        b.position_at_end(block)
        b.ret(b.call(target, list(fn.args)))
    return fn
