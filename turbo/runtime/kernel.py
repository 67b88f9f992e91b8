"""Compiled kernels as Python callables: the call path, variants, inspection.

Calling ``mod.gemm(C, A, B)`` runs the kernel's machine-code entry point (see
``codegen/entry.py``) directly. Each Kernel object is the only instance of its own
small subclass whose ``__call__`` is that builtin function, so a call costs one
type-slot lookup plus the checks in machine code. Until the entry exists, and for
every call the entry does not take, ``Kernel._slow`` runs: it checks the arguments
with located errors, compiles the variant the arguments need, records it in the
entry's table and calls it through ctypes.
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import sys
import threading
import time
import warnings

import numpy as np

from .. import ir
from ..arguments import bind_keywords, check_arguments
from ..codegen import abi
from ..codegen.cpu import build_dim_switch, build_variant, number_sites
from ..codegen.entry import build_entry
from ..errors import (
    ArgumentValueError,
    CompilerError,
    KernelIndexError,
    KernelRuntimeError,
    KernelZeroDivisionError,
    TurboError,
)
from ..passes import analysis, parallel, pipeline, specialize
from ..passes import schedule as scheduler
from ..passes.target import host as host_target
from . import cache, fastcall, jit

_CTYPES = {
    ir.DType.F32: ctypes.c_float,
    ir.DType.F64: ctypes.c_double,
    ir.DType.I32: ctypes.c_int32,
    ir.DType.I64: ctypes.c_int64,
    ir.DType.BOOL: ctypes.c_uint8,
}

BOUNDSCHECK_CHOICES = (None, True, False)


def debug_level() -> int:
    try:
        return int(os.environ.get("TURBO_DEBUG", "0"))
    except ValueError:
        return 0


def _debug(level: int, text: str) -> None:
    if debug_level() >= level:
        print(f"[turbo] {text}", file=sys.stderr)


def array_extent(a: np.ndarray) -> tuple[int, int]:
    """[lo, hi) byte addresses an array touches (the entry point computes the same)."""
    base = a.__array_interface__["data"][0]
    if a.size == 0:
        return base, base
    lo = hi = 0
    for n, s in zip(a.shape, a.strides):
        span = (n - 1) * s
        if span < 0:
            lo += span
        else:
            hi += span
    return base + lo, base + hi + a.itemsize


def may_alias(arrays: list[tuple[str, np.ndarray]], written: frozenset[str]) -> bool:
    ext = [array_extent(a) for _, a in arrays]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            if arrays[i][0] not in written and arrays[j][0] not in written:
                continue
            (lo_i, hi_i), (lo_j, hi_j) = ext[i], ext[j]
            if lo_i < hi_j and lo_j < hi_i:
                return True
    return False


class Kernel:
    """A compiled loop kernel. Call it with arrays and scalars in parameter order;
    it writes its output arrays in place and returns its result (a Python float,
    int or bool) if it has a ``return``, else None."""

    # set on pullback kernels (runtime/pullback.py): arrays that must not overlap any
    # other argument, and what the pass decided, shown by explain()
    overlap: frozenset[str] = frozenset()
    refuse_alias = False
    notes: tuple[str, ...] = ()
    adjoint_of: tuple[tuple[str, str], ...] = ()

    def __init__(self, kernel_ir: ir.Kernel, boundscheck: bool | None = None, source_name: str = "<string>",
                 options: scheduler.Options = scheduler.Options()):
        if boundscheck not in BOUNDSCHECK_CHOICES:
            raise TypeError("boundscheck must be None (check what cannot be proven), True or False")
        self.ir = kernel_ir
        self.options = options
        self.name = kernel_ir.name
        self.boundscheck = boundscheck
        self.source_name = source_name
        self.written = ir.written_arrays(kernel_ir)
        parallel.check_marked(kernel_ir, options.fastmath)
        self._sites = number_sites(kernel_ir)
        self._lock = threading.RLock()
        self._variants: dict[abi.Variant, tuple[int, object]] = {}
        self._entry = None
        self._entry_addr = None  # the compiled entry point's address, once built
        self._entry_job = None  # the entry point compiling on a worker thread
        self._slots_addr = None
        self._keepalive = None
        self._array_pos = [i for i, p in enumerate(kernel_ir.params) if isinstance(p, ir.ArrayParam)]
        # dims worth a specialized copy when small (passes/specialize.py short_dims);
        # none where the user forces the schedule (vectorize=, unroll=): the plan
        # asked for is applied to the code as written
        forced = options.vectorize is not None or options.unroll
        self._short = () if forced else specialize.short_dims(kernel_ir)
        self._worth: dict[tuple, tuple] = {}
        self._schedules: dict[tuple, tuple] = {}  # (variant without dims, fixed dims) -> (kernel, schedule)
        self._may_warn = options.parallel or bool(parallel.marked_loops(kernel_ir))
        self._param_pos = {p.name: i for i, p in enumerate(kernel_ir.params)}
        self.compile_seconds = 0.0
        # what the entry point calls for a call it does not take (default: _slow);
        # a @turbo function routes its kernels' misses through its dispatcher
        self.on_miss = None

    # ------------------------------------------------------------------ calling

    def __call__(self, *args, **kwargs):  # replaced on this kernel's own class by the entry point
        return self._slow(*args, **kwargs)

    def _variant_of(self, bound) -> abi.Variant:
        """The variant a checked call needs: its arrays' layouts and overlap, and
        the values of its short dims that a specialized copy unrolls fully."""
        arrays = [(self.ir.params[i].name, bound.values[i]) for i in self._array_pos]
        contig = tuple(bool(a.flags.c_contiguous) for _, a in arrays)
        base = abi.Variant(contig, may_alias(arrays, self.written | self.overlap), self.boundscheck)
        fixed = self._fixed_dims(bound.dims, base) if self._short else ()
        return dataclasses.replace(base, dims=fixed) if fixed else base

    def _fixed_dims(self, dims: dict, base: abi.Variant) -> tuple[tuple[str, int], ...]:
        """The short dims (and values) a copy specialized for this call unrolls:
        those the general schedule of ``base`` leaves as loops inside a region."""
        values = tuple((d, dims[d]) for d in self._short if dims[d] <= analysis.FULL_UNROLL_TRIP)
        if not values:
            return ()
        key = (base, values)
        hit = self._worth.get(key)
        if hit is None:
            lowered, sched = self.schedule(base)
            regions = sched.regions + (sched.fast.regions if sched.fast is not None else ())
            hit = self._worth[key] = specialize.worth_fixing(lowered, regions, dict(values), sched.usual_regions())
        return hit

    def _slow(self, *args, **kwargs):
        if kwargs:
            args = bind_keywords(self.name, [p.name for p in self.ir.params], args, kwargs)
        bound = check_arguments(self.ir, args, self.written)
        variant = self._variant_of(bound)
        if variant.may_alias and self.refuse_alias:
            self._refuse_overlap(bound)
        self._start_entry()
        _, cfunc = self._variant(variant)
        self._ensure_entry()
        err = (ctypes.c_int64 * abi.ERR_FIELDS)()
        result = None if self.ir.result is None else _CTYPES[self.ir.result]()
        call_args = []
        for a in variant.abi(self.ir):
            if a.kind == "data":
                call_args.append(bound.values[self._param_pos[a.name]].__array_interface__["data"][0])
            elif a.kind == "stride":
                call_args.append(bound.values[self._param_pos[a.name]].strides[a.axis])
            elif a.kind == "dim":
                call_args.append(bound.dims[a.name])
            elif a.kind == "scalar":
                v = bound.values[self._param_pos[a.name]]
                call_args.append(float(v) if a.dtype.is_float else int(v))
            elif a.kind == "result":
                call_args.append(ctypes.addressof(result))
            else:
                call_args.append(ctypes.addressof(err))
        status = cfunc(*call_args)
        if status:
            self._raise_error(ctypes.addressof(err))
        if result is None:
            return None
        return bool(result.value) if self.ir.result is ir.DType.BOOL else result.value

    def entry_missing_to(self, miss):
        """This kernel's entry point as a new builtin whose misses call ``miss``
        (another entry point: a chain of them, tried in C), with what keeps it alive."""
        return fastcall.make_builtin(self.name, self._entry_addr, (miss, self._raise_error))

    def _refuse_overlap(self, bound):
        arrays = [(self.ir.params[i].name, bound.values[i]) for i in self._array_pos]
        watch = self.written | self.overlap
        for i in range(len(arrays)):
            for j in range(i + 1, len(arrays)):
                (a, x), (b, y) = arrays[i], arrays[j]
                if (a in watch or b in watch) and may_alias([(a, x), (b, y)], watch):
                    raise ArgumentValueError(
                        f"{self.name}(): arrays '{a}' and '{b}' share memory; a pullback needs every array it "
                        "writes, and every output of the differentiated kernel, in memory of its own",
                        hint="pass copies (np.copy) or separate buffers")

    def _raise_error(self, address: int):
        """Called with the address of a failed call's error record; raises."""
        code, site, axis, value, size = (ctypes.c_int64 * abi.ERR_FIELDS).from_address(address)
        node = self._sites[site] if 0 <= site < len(self._sites) else None
        loc = getattr(node, "loc", None)
        where = f"in kernel '{self.name}'"
        if code == abi.ERR_INDEX:
            array = getattr(node, "array", "?")
            raise KernelIndexError(
                f"{where}: index {value} is out of bounds for axis {axis} of '{array}' with size {size}", loc
            )
        if code == abi.ERR_ZERO_DIVISION:
            raise KernelZeroDivisionError(f"{where}: integer division or modulo by zero", loc)
        if code == abi.ERR_NEGATIVE_POWER:
            raise KernelRuntimeError(f"{where}: negative integer power", loc, "use a float base")
        if code == abi.ERR_NEGATIVE_SHIFT:
            raise KernelRuntimeError(f"{where}: negative shift count", loc, "shift the other way")
        if code == abi.ERR_ZERO_STEP:
            raise KernelRuntimeError(f"{where}: loop step is zero", loc)
        if code == abi.ERR_NO_MEMORY:
            array = getattr(node, "array", "?")
            raise MemoryError(f"{where}: could not allocate {size} bytes for a transposed copy of '{array}'")
        raise TurboError(f"{where}: kernel failed with unknown code {code}")

    # ------------------------------------------------------------------ compiling

    def _identity(self) -> tuple[str, ...]:
        """What this kernel's code is generated from, besides the variant."""
        return str(self.ir), repr(self.boundscheck), repr(self.options), repr(sorted(self.overlap))

    def _symbol(self, what: str) -> str:
        return f"turbo_{self.name}_{what}_{jit.cache_key(*self._identity())[:12]}"

    def _plan_key(self, what: str) -> str | None:
        """The disk-cache key of this kernel's code for ``what`` (a variant's tag, or
        "entry"), named by what it is generated from, so that a hit skips scheduling
        and code generation; None where those must run: no disk cache, a kernel whose
        scheduling may warn (parallel loops), or schedules asked to be shown
        (``TURBO_DEBUG`` >= 2)."""
        if self._may_warn or debug_level() >= 2 or cache.cache_dir() is None:
            return None
        # what the symbol name hashes, whole: its 12 digits name code within a
        # process, not across every kernel a cache will ever hold
        return jit.plan_key(*self._identity(), what)

    def lowered(self, variant: abi.Variant, fixed: bool = False) -> ir.Kernel:
        """The kernel after the passes; ``fixed``: the copy specialized for the
        variant's short dims (``variant.dims``)."""
        kernel = pipeline.lower(self.ir, variant, self.options.fastmath)
        return specialize.substitute(kernel, dict(variant.dims)) if fixed and variant.dims else kernel

    def schedule(self, variant: abi.Variant, warn: bool = False, fixed: bool = False) -> tuple[ir.Kernel, scheduler.Schedule]:
        """The lowered kernel and the schedule the cost model chose for it; ``warn``:
        warn about loops that run on one thread against ``parallel`` (when compiling);
        ``fixed``: of the copy specialized for the variant's short dims."""
        key = (dataclasses.replace(variant, dims=()), variant.dims if fixed else ())
        warns = warn and self._may_warn  # warnings come from scheduling: not from the cache
        hit = None if warns else self._schedules.get(key)
        if hit is None:
            lowered = self.lowered(variant, fixed)
            sched = scheduler.schedule(lowered, key[0], host_target(), self.options, warn)
            if debug_level() >= 2:
                _debug(2, scheduler.format_schedule(lowered, sched))
            hit = self._schedules[key] = (sched.kernel, sched)
        return hit

    def speed(self, variant: abi.Variant) -> int:
        """LLVM's pipeline for a variant's module (runtime/jit.py ``SPEED_LEVEL``):
        -O3 where a nest that runs as a rule is left as written, -O2 otherwise."""
        schedules = [self.schedule(variant)[1]] + ([self.schedule(variant, fixed=True)[1]] if variant.dims else [])
        return jit.SPEED_LEVEL_SCALAR if any(s.leaves_loops_to_llvm() for s in schedules) else jit.SPEED_LEVEL

    def llvm_module(self, variant: abi.Variant, warn: bool = False):
        module = jit.new_module(f"{self.name}.{variant.tag}")
        lowered, sched = self.schedule(variant, warn)
        if sched.parallel:
            from .threads import pool

            pool()  # started before the code that calls it is linked
        name = self._symbol(variant.tag)
        if not variant.dims:
            build_variant(lowered, variant, name, module, sched, self.options.fastmath, self.ir)
            return module
        # a copy for the short dims' values at the call that compiled it, and the
        # general code for any other values
        general = build_variant(lowered, variant, name + "_any", module, sched, self.options.fastmath, self.ir)
        lowered, sched = self.schedule(variant, fixed=True)
        fixed = build_variant(lowered, variant, name + "_fixed", module, sched, self.options.fastmath, self.ir)
        for f in (general, fixed):
            f.linkage = "internal"
        build_dim_switch(self.ir, variant, name, module, fixed, general)
        return module

    def _variant(self, variant: abi.Variant):
        with self._lock:
            hit = self._variants.get(variant)
            if hit is not None:
                return hit
            t0 = time.perf_counter()
            name = self._symbol(variant.tag)
            pass_name = f"codegen[{self.name}:{variant.tag}]"
            key = self._plan_key(variant.tag)
            compiled = jit.cached(key, [name], pass_name) if key else None
            if compiled is None:
                with jit.collector_paused():
                    module = self._build(lambda: self.llvm_module(variant, warn=True), f"codegen[{variant.tag}]")
                    compiled = jit.compile_module(module, [name], pass_name, key, self.speed(variant))
            addr = compiled.addresses[name]
            argtypes = []
            for a in variant.abi(self.ir):
                if a.kind in ("data", "result", "err"):
                    argtypes.append(ctypes.c_void_p)
                elif a.kind in ("stride", "dim"):
                    argtypes.append(ctypes.c_int64)
                else:
                    argtypes.append(_CTYPES[a.dtype])
            cfunc = ctypes.CFUNCTYPE(ctypes.c_int32, *argtypes)(addr)
            self._variants[variant] = (addr, cfunc)
            self.compile_seconds += time.perf_counter() - t0
            _debug(1, f"compiled {self.name} [{variant.tag}] in {1e3 * (time.perf_counter() - t0):.1f} ms"
                   f"{' (disk cache)' if compiled.from_cache else ''}")
            if debug_level() >= 4:
                opt, asm = jit.optimized_text(self.llvm_module(variant), "inspect", self.speed(variant))
                _debug(4, f"LLVM IR of {self.name} [{variant.tag}]:\n{opt}")
                if debug_level() >= 5:
                    _debug(5, f"assembly of {self.name} [{variant.tag}]:\n{asm}")
            if self._slots_addr is not None:
                self._install(variant, addr)
            return self._variants[variant]

    def _build(self, fn, pass_name: str):
        """Run a code generator; a failure inside it is a turbo bug, reported as a
        CompilerError that names the pass and shows the kernel, never raw."""
        try:
            return fn()
        except TurboError:
            raise
        except Exception as e:  # llvmlite raises TypeError/ValueError/AssertionError on bad IR
            raise CompilerError(f"{type(e).__name__}: {e}", f"{pass_name} of kernel '{self.name}'", str(self.ir)) from e

    def _install(self, variant: abi.Variant, addr: int) -> None:
        slot = abi.slot_of(variant.contiguous, variant.may_alias)
        ctypes.c_void_p.from_address(self._slots_addr + 8 * slot).value = addr

    def _start_entry(self) -> None:
        """Start compiling the entry point on a worker thread, so that LLVM works on
        it while this thread schedules and generates the first variant (which saves
        the entry's ~20 ms of the first call); ``_ensure_entry`` waits for it."""
        if self._entry is not None or self._entry_job is not None or not fastcall.layout_ok():
            return
        with self._lock:
            if self._entry is None and self._entry_job is None:
                t0 = time.perf_counter()
                names = [self._symbol("entry"), self._symbol("slots")]
                key = self._plan_key("entry")
                hit = jit.cached(key, names, f"entry[{self.name}]") if key else None
                if hit is not None:
                    self._entry_job = jit.Ready(hit)
                else:
                    module = jit.new_module(f"{self.name}.entry")
                    self._build(lambda: build_entry(self.ir, self.written, module, *names, self.overlap), "entry")
                    host_target()  # asks LLVM: done before the worker holds llvmlite's lock, or the schedule waits for it
                    self._entry_job = jit.compile_later(module, names, f"entry[{self.name}]", key)
                self.compile_seconds += time.perf_counter() - t0

    def _ensure_entry(self) -> None:
        if self._entry is not None or not fastcall.layout_ok():
            return
        with self._lock:
            if self._entry is not None:
                return
            self._start_entry()
            t0 = time.perf_counter()
            job, self._entry_job = self._entry_job, None
            compiled = job.result()
            entry_name, slots_name = self._symbol("entry"), self._symbol("slots")
            self._slots_addr = compiled.addresses[slots_name]
            for variant, (addr, _) in self._variants.items():
                if variant.boundscheck == self.boundscheck:
                    self._install(variant, addr)
            self._entry_addr = compiled.addresses[entry_name]
            fn, mdef = fastcall.make_builtin(self.name, self._entry_addr, (self.on_miss or self._slow, self._raise_error))
            self._keepalive = mdef
            self._entry = fn
            type(self).__call__ = fn
            self.compile_seconds += time.perf_counter() - t0

    def compile(self) -> "Kernel":
        """Compile the entry point and the all-contiguous, non-aliasing variant now
        instead of at the first call."""
        self._start_entry()
        self._variant(abi.Variant((True,) * len(self.ir.arrays), False, self.boundscheck))
        self._ensure_entry()
        return self

    # ------------------------------------------------------------------ inspecting

    def variant_for(self, args) -> abi.Variant:
        if not args:
            return abi.Variant((True,) * len(self.ir.arrays), False, self.boundscheck)
        return self._variant_of(check_arguments(self.ir, tuple(args), self.written))

    def inspect(self, stage: str = "loops", *example_args) -> str:
        """The kernel at one stage, as text.

        stages: "loops" (the IR as DSL text), "lowered" (after the passes, for the
        variant the example arguments select), "llvm" (optimized LLVM IR),
        "llvm-unoptimized", "asm" (host assembly). Without example arguments the
        all-contiguous, non-aliasing variant is shown."""
        if stage == "loops":
            return str(self.ir)
        variant = self.variant_for(example_args)
        if stage == "schedule":
            lowered, sched = self.schedule(variant)
            text = scheduler.format_schedule(lowered, sched)
            if variant.dims:
                values = ", ".join(f"{d} = {v} ({self._dim_source(d)})" for d, v in variant.dims)
                fixed = scheduler.format_schedule(*self.schedule(variant, fixed=True))
                text = (f"specialized for {values}, the values at the first call of this layout (short loops "
                        f"with literal trips unroll fully):\n{fixed}\n\nany other values:\n{text}")
            return text
        if stage == "lowered":
            if variant.dims:
                return f"{self.lowered(variant, fixed=True)}\n\n{self.lowered(variant)}"
            return str(self.lowered(variant))
        module = self._build(lambda: self.llvm_module(variant), f"codegen[{variant.tag}]")
        if stage == "llvm-unoptimized":
            return str(module)
        if stage in ("llvm", "asm"):
            opt, asm = jit.optimized_text(module, f"inspect[{self.name}]", self.speed(variant))
            return opt if stage == "llvm" else asm
        raise ValueError(f"unknown stage {stage!r}; stages: loops, lowered, schedule, llvm-unoptimized, llvm, asm")

    def _dim_source(self, dim: str) -> str:
        """Where a dim's value comes from: the first array shape that has it."""
        return next((f"{p.name}.shape[{axis}]" for p in self.ir.arrays for axis, d in enumerate(p.shape) if d == dim),
                    dim)

    def explain(self, *example_args) -> str:
        """Why the code looks the way it does: per loop nest, the schedule the cost
        model chose (predicted cycles, registers, what bounds it) and the best
        rejected alternatives with their cost or the reason they are illegal. The
        example arguments select the variant (layouts, aliasing), as for inspect."""
        text = self.inspect("schedule", *example_args)
        if self.notes:
            text = "pullback: " + "\n  ".join(("decisions of the AD pass:",) + self.notes) + "\n\n" + text
        return text

    @property
    def signature(self) -> str:
        return ir.print_param_list(self.ir)

    def __repr__(self) -> str:
        return f"<turbo kernel {self.name}({self.signature})>"


def make_kernel(kernel_ir: ir.Kernel, boundscheck: bool | None = None, source_name: str = "<string>",
                options: scheduler.Options = scheduler.Options()) -> Kernel:
    """A Kernel instance of its own subclass, so its ``__call__`` can become the
    machine-code entry point without touching any other kernel."""
    cls = type(f"Kernel_{kernel_ir.name}", (Kernel,), {"__doc__": f"turbo kernel {kernel_ir.name}"})
    k = cls(kernel_ir, boundscheck, source_name, options)
    if not fastcall.layout_ok():
        warnings.warn(
            f"turbo: kernel '{kernel_ir.name}' ({source_name}) uses the slow call path: this Python/NumPy "
            "build has a struct layout the fast entry point does not know", RuntimeWarning, stacklevel=3,
        )
    return k


class KernelModule:
    """What ``turbo.compile`` returns: the kernels of one source, as attributes."""

    def __init__(self, module_ir: ir.Module, boundscheck: bool | None, source_name: str,
                 options: scheduler.Options = scheduler.Options()):
        self.ir = module_ir
        self.source_name = source_name
        self.kernels: dict[str, Kernel] = {}
        for k in module_ir.kernels:
            self.kernels[k.name] = make_kernel(k, boundscheck, source_name, options)
            if k.name not in ("ir", "source_name", "kernels"):
                setattr(self, k.name, self.kernels[k.name])  # a plain attribute: no lookup cost per call

    def __getattr__(self, name: str) -> Kernel:
        kernels = self.__dict__.get("kernels", {})
        if name in kernels:
            return kernels[name]
        raise AttributeError(f"no kernel named '{name}' in {self.__dict__.get('source_name')}; kernels: {', '.join(kernels) or 'none'}")

    def __getitem__(self, name: str) -> Kernel:
        return self.kernels[name]

    def __iter__(self):
        return iter(self.kernels.values())

    def __dir__(self):
        return list(super().__dir__()) + list(self.kernels)

    def __repr__(self) -> str:
        return f"<turbo module {self.source_name}: {', '.join(self.kernels)}>"
