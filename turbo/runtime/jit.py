"""The JIT: llvmlite.ir module -> optimized LLVM IR -> object code -> loaded code.

One MCJIT engine per process holds every loaded object. Code always goes through
object bytes (fresh or from the disk cache), so a cached kernel and a freshly
compiled one are loaded the same way. Objects refer to the process (CPython's API,
NumPy's type objects, libm) only by symbol name; ``_bind_process_symbols`` tells
the engine where those live in *this* process, so cached code is position-free.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import sys
import threading
from dataclasses import dataclass
from functools import lru_cache

import llvmlite
import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir as ll

from .. import __version__
from ..ir import DType
from ..errors import CompilerError
from . import cache

_lock = threading.RLock()


@dataclass(frozen=True)
class Target:
    triple: str
    cpu: str
    features: str

    @property
    def fingerprint(self) -> str:
        text = f"{self.triple}|{self.cpu}|{self.features}|turbo {__version__}|llvmlite {llvmlite.__version__}|llvm {llvm.llvm_version_info}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=1)
def host_target() -> Target:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    # The CPU name alone can claim features the machine hides (a VM may mask
    # AVX-512 on a CPU that has it), so the feature string is always explicit.
    return Target(llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())


@lru_cache(maxsize=1)
def target_machine() -> llvm.TargetMachine:
    t = host_target()
    target = llvm.Target.from_triple(t.triple)
    return target.create_target_machine(cpu=t.cpu, features=t.features, opt=3, reloc="pic", codemodel="default")


def process_symbols() -> dict[str, int]:
    """Addresses of what entry points use, by the names codegen declares."""
    api = ctypes.pythonapi

    def fn(name: str) -> int:
        return ctypes.cast(getattr(api, name), ctypes.c_void_p).value

    syms = {
        "turbo_PyArray_Type": id(np.ndarray),
        "turbo_PyFloat_Type": id(float),
        "turbo_PyLong_Type": id(int),
        "turbo_PyBool_Type": id(bool),
        "turbo_Py_None": id(None),
        "turbo_Py_True": id(True),
        "turbo_Py_False": id(False),
        "turbo_PyFloat_FromDouble": fn("PyFloat_FromDouble"),
        "turbo_PyLong_FromLongLong": fn("PyLong_FromLongLong"),
        "turbo_PyObject_Vectorcall": fn("PyObject_Vectorcall"),
        "turbo_PyLong_AsLongLongAndOverflow": fn("PyLong_AsLongLongAndOverflow"),
        "turbo_PyLong_FromVoidPtr": fn("PyLong_FromVoidPtr"),
        "turbo_Py_IncRef": fn("Py_IncRef"),
        "turbo_Py_DecRef": fn("Py_DecRef"),
    }
    for name in (t.numpy_name for t in DType):
        # the canonical, native-byte-order descriptors are singletons
        syms[f"turbo_descr_{name}"] = id(np.dtype(name))
        syms[f"turbo_np_{name}_Type"] = id(np.dtype(name).type)  # np.float32, ..., np.bool_
    return syms


@lru_cache(maxsize=1)
def engine() -> llvm.ExecutionEngine:
    tm = target_machine()
    for name, addr in process_symbols().items():
        llvm.add_symbol(name, addr)
    empty = llvm.parse_assembly("")
    empty.triple = host_target().triple
    return llvm.create_mcjit_compiler(empty, tm)


@lru_cache(maxsize=1)
def data_layout() -> str:
    # kept as text: asking LLVM again would wait on llvmlite's lock while a worker
    # thread compiles (compile_later)
    return str(target_machine().target_data)


def new_module(name: str) -> ll.Module:
    m = ll.Module(name=name)
    m.triple = host_target().triple
    m.data_layout = data_layout()
    return m


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_restore = False


@contextlib.contextmanager
def collector_paused():
    """Python's cyclic garbage collector off while a kernel is scheduled, generated
    and compiled, and back as it was when the outermost compile ends. Compiling
    allocates tens of thousands of objects (IR nodes, llvmlite's instructions),
    enough to set off a full collection of everything the process holds: on a
    gemm's first call one took 10-12 ms of 175 (the call 163-167 ms without it).
    What the compile leaves as cyclic garbage is collected at the next collection
    after it."""
    global _gc_holders, _gc_restore
    with _gc_lock:
        if _gc_holders == 0:
            _gc_restore = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_restore:
                gc.enable()


@dataclass
class Compiled:
    """A loaded module: the addresses of the symbols asked for, and whether its
    object code came from the disk cache."""

    addresses: dict[str, int]
    from_cache: bool


# LLVM's pipeline for a module whose loops turbo's passes have all vectorized,
# unrolled and interchanged as the cost model chose: -O2. What -O3 adds (unswitching
# loops on invariant conditions, copying each; more unrolling) gave no speed on the
# benchmark suite (each kernel at 16, 64 and 256, f32 and f64, compiled at both
# levels under different names and timed side by side: 0.97-1.04x the time) while
# it took longer (a gemm f32 64 x 64: optimize 52 -> 44 ms, emit 41 -> 37 ms, 5.3 KB
# of code against 4.7). Over 55 more kernels (f64, n = 32 and 256, on the same
# arrays) -O2 took 0.9-1.1x the time, within the noise, except a one-hot fill of
# rows of 16 (1.06-1.23x: -O3 unswitched the row loop on the vector loop's
# invariant trip) and a Kronecker product (0.59-0.68x, faster). Where a nest runs
# as written, LLVM's loop passes are what optimizes it, and -O3's count: an ELLPACK
# product's scalar loops ran 0.89x Numba at -O2 and 1.32x at -O3. The runtime asks
# for -O3 then (``Schedule.leaves_loops_to_llvm``).
SPEED_LEVEL = 2
SPEED_LEVEL_SCALAR = 3


def optimize(mod: llvm.ModuleRef, speed: int = SPEED_LEVEL) -> None:
    tm = target_machine()
    pto = llvm.create_pipeline_tuning_options(speed_level=speed)
    pb = llvm.create_pass_builder(tm, pto)
    pm = pb.getModulePassManager()
    pm.run(mod, pb)


def to_llvm(text: str, pass_name: str) -> llvm.ModuleRef:
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as e:
        raise CompilerError(f"LLVM rejected the generated IR: {e}", pass_name, text) from None
    return mod


_loaded: dict[str, Compiled] = {}


def compile_module(module: ll.Module, symbols: list[str], pass_name: str, key: str | None = None,
                   speed: int = SPEED_LEVEL) -> Compiled:
    """Load ``module`` into the engine and return the addresses of ``symbols``.

    A module already loaded in this process is not loaded twice (its symbols would
    clash); otherwise an intact disk-cache entry for the same code is used.
    ``key``: see ``compile_text``; ``speed``: LLVM's pipeline, 2 or 3 (-O2, -O3)."""
    return compile_text(str(module), symbols, pass_name, key, speed)


def compile_text(text: str, symbols: list[str], pass_name: str, key: str | None = None,
                 speed: int = SPEED_LEVEL) -> Compiled:
    """``compile_module`` for a module given as LLVM assembly text (which names
    no target: the host's is added). ``key``: the object is cached under this key
    (from ``plan_key``, already looked up with ``cached``) instead of a hash of
    the text."""
    if "target triple" not in text:
        text = f'target triple = "{host_target().triple}"\ntarget datalayout = "{data_layout()}"\n' + text
    probe = key is None
    key = key or cache_key(text if speed == SPEED_LEVEL else f"{text}\n; -O{speed}")
    with _lock:
        if key in _loaded:
            return _loaded[key]
        ee = engine()
        obj = cache.load(key) if probe else None
        from_cache = obj is not None
        if obj is None:
            mod = to_llvm(text, pass_name)
            optimize(mod, speed)
            obj = target_machine().emit_object(mod)
            cache.store(key, obj)
        return _add_object(ee, key, obj, symbols, from_cache, pass_name)


def cached(key: str, symbols: list[str], pass_name: str) -> Compiled | None:
    """The code stored under ``key`` (a ``plan_key``), loaded, or None when the
    disk cache has no intact entry for it: the caller then generates the module
    and compiles it with this key."""
    hit = _loaded.get(key)
    if hit is not None:
        return hit
    obj = cache.load(key)  # outside the lock: a worker may hold it for a whole compile
    if obj is None:
        return None
    with _lock:
        hit = _loaded.get(key)
        return hit if hit is not None else _add_object(engine(), key, obj, symbols, True, pass_name)


def _add_object(ee, key: str, obj: bytes, symbols: list[str], from_cache: bool, pass_name: str) -> Compiled:
    # Symbols name their code by a hash of it, so ones this engine already has
    # are the same code loaded under another key (by text, then by plan):
    # loading it twice would clash.
    addresses = {s: ee.get_function_address(s) or ee.get_global_value_address(s) for s in symbols}
    if not all(addresses.values()):
        ee.add_object_file(llvm.ObjectFileRef.from_data(obj))
        ee.finalize_object()
        for s in symbols:
            addresses[s] = ee.get_function_address(s) or ee.get_global_value_address(s)
            if not addresses[s]:
                raise CompilerError(f"symbol {s} missing after loading the object", pass_name)
    compiled = Compiled(addresses, from_cache)
    _loaded[key] = compiled
    return compiled


class Ready:
    """A compiled module in ``Pending``'s shape (a cache hit needs no worker)."""

    def __init__(self, compiled: Compiled):
        self._compiled = compiled

    def result(self) -> Compiled:
        return self._compiled


class Pending:
    """A module compiling on a worker thread (``compile_later``); ``result()``
    waits for it and returns what ``compile_module`` would have, or raises what it
    would have raised."""

    def __init__(self, text: str, symbols: list[str], pass_name: str, key: str | None):
        self._result: Compiled | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(text, symbols, pass_name, key), name="turbo-jit",
                                        daemon=True)
        _quick_handoffs(+1)
        try:
            self._thread.start()
        except BaseException:
            _quick_handoffs(-1)
            raise

    def _run(self, text: str, symbols: list[str], pass_name: str, key: str | None) -> None:
        try:
            self._result = compile_text(text, symbols, pass_name, key)
        except BaseException as e:  # handed to the thread that waits
            self._error = e
        finally:
            _quick_handoffs(-1)

    def result(self) -> Compiled:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


# While a worker compiles, the GIL changes hands every 0.5 ms instead of Python's
# 5: each of the worker's calls into LLVM returns needing the GIL, which the
# thread scheduling the next module holds until the switch interval ends. With
# the default interval a gemm's entry point took 55 ms to compile beside the
# scheduler instead of 30, and the first variant waited 13 ms for it.
_HANDOFF_SECONDS = 0.0005
_handoff_lock = threading.Lock()
_handoff_jobs = 0
_handoff_saved = 0.0


def _quick_handoffs(delta: int) -> None:
    global _handoff_jobs, _handoff_saved
    with _handoff_lock:
        if _handoff_jobs == 0 and delta > 0:
            _handoff_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_handoff_saved, _HANDOFF_SECONDS))
        _handoff_jobs += delta
        if _handoff_jobs == 0:
            sys.setswitchinterval(_handoff_saved)


def compile_later(module: ll.Module, symbols: list[str], pass_name: str, key: str | None = None) -> Pending:
    """``compile_module`` on a worker thread. LLVM runs with the GIL released, so
    Python work done meanwhile (scheduling and generating another module) overlaps
    it; llvmlite's own lock keeps LLVM itself to one thread at a time."""
    engine()  # LLVM's targets initialized here, not raced by the worker
    data_layout()
    return Pending(str(module), symbols, pass_name, key)


def optimized_text(module: ll.Module, pass_name: str, speed: int = SPEED_LEVEL) -> tuple[str, str]:
    """(optimized LLVM IR, host assembly) of a module, for inspection."""
    with _lock:
        mod = to_llvm(str(module), pass_name)
        optimize(mod, speed)
        return str(mod), target_machine().emit_assembly(mod)


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of turbo's own source files: code cached by ``plan_key`` was made by
    these passes and generators, so any edit to them (a development checkout, a
    patched install) must miss, even at the same version number."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.suffix in (".py", ".lark") and "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(p.read_bytes())
    return h.hexdigest()


def plan_key(*parts: str) -> str:
    """A cache key for code named by what it was generated from (a kernel's IR,
    options and variant, which ``parts`` hash) rather than by its LLVM text: a hit
    skips scheduling and code generation as well as LLVM."""
    return cache_key("plan", code_fingerprint(), *parts)


def cache_key(*parts: str) -> str:
    h = hashlib.sha256()
    h.update(host_target().fingerprint.encode())
    for p in parts:
        h.update(b"\0")
        h.update(p.encode())
    return h.hexdigest()
