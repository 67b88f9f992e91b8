"""Native threads for parallel loops: a pool whose workers wait in machine code.

A parallel loop (docs/threads.md) is compiled into a *job function*
``i32 job(ctx, c, n)`` that runs chunk ``c`` of ``n`` of the loop's iterations.
The kernel hands it to ``turbo_pool_run``, which publishes the job, wakes the
workers, and then claims and runs chunks itself like any worker until none is
left; it returns when every chunk has run. Chunks are claimed with one atomic
compare-and-swap on a counter that also carries the job number, so a worker late
for a job (descheduled, say) claims nothing of the next one, and a job never waits
for a worker that has not started: the caller runs the chunks nobody took.
Everything on that path is machine code (the pool below is LLVM IR, compiled once
per process like a kernel), so dispatching costs a few atomic operations and
cache-line transfers, not a trip through Python.

Workers are Python threads that call ``turbo_pool_worker`` through ctypes (which
releases the GIL) and stay in it until shutdown: they spin on the job counter for
``spin_us`` microseconds after their last job (so back-to-back parallel loops find
them awake), then sleep on it with a futex (Linux; elsewhere they yield the CPU
in a loop). A kernel called while the pool is busy -- from another Python
thread -- runs the whole loop on its own thread.

The pool state is one block of memory, laid out as below (byte offsets); the
counters the workers spin on have cache lines of their own.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import platform
import sys
import threading
import time

import llvmlite.binding as llvm

from . import jit

GEN = 0  # i32: job number; bumped to publish a job (the futex word idle workers sleep on)
NEXT = 64  # i64: the job's chunk counter: job number << 32 | chunks << 16 | next unclaimed chunk
FINISHED = 128  # i64: chunks of the current job that have run
FN = 192  # ptr: the job function
CTX = 200  # ptr: its argument block
SHUTDOWN = 208  # i64: 1 tells the workers to exit at the next job
SLEEPERS = 216  # i64: workers asleep on GEN
BUSY = 224  # i64: 1 while a job runs (or the pool is being changed)
THREADS = 232  # i64: threads a parallel loop uses (read by kernels)
MIN_CYCLES = 240  # i64: predicted cycles below which a parallel loop runs on one thread (read by kernels)
SPIN_CYCLES = 248  # i64: how long an idle worker spins before it sleeps, in cycle-counter ticks
WORKERS = 256  # i64: worker threads alive
STATE_BYTES = 320

# Parallel loops predicted to take fewer cycles than this (about 20 µs) run on
# the calling thread alone: a split costs 0.3-0.4 µs when the workers are awake
# but 60-110 µs when they have gone to sleep, and the prediction is rough.
DEFAULT_MIN_CYCLES = 60_000
DEFAULT_SPIN_US = 1000
MAX_THREADS = 1024  # the chunk counter holds chunk numbers in 16 bits; far more than needed

_LINUX = sys.platform.startswith("linux")
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine().lower())
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129


def _pool_ir() -> str:
    """The pool's LLVM IR: worker loop, job dispatch, add-worker, shutdown."""
    relax = "call void @llvm.x86.sse2.pause()" if _X86 else ""
    futex = _LINUX and _SYS_FUTEX is not None
    if futex:
        sleep = f"""  %r = call i64 (i64, ...) @syscall(i64 {_SYS_FUTEX}, ptr %pool, i32 {FUTEX_WAIT_PRIVATE}, i32 %seen, ptr null)"""
        wake = f"""  %w = call i64 (i64, ...) @syscall(i64 {_SYS_FUTEX}, ptr %pool, i32 {FUTEX_WAKE_PRIVATE}, i32 2147483647)"""
        decl = "declare i64 @syscall(i64, ...)"
    else:
        sleep = "  %r = call i32 @sched_yield()"
        wake = ""
        decl = "declare i32 @sched_yield()"
    return f"""
{decl}
{"declare void @llvm.x86.sse2.pause()" if _X86 else ""}
declare i64 @llvm.readcyclecounter()

define internal void @lock(ptr %pool) {{
entry:
  %busy = getelementptr inbounds i8, ptr %pool, i64 {BUSY}
  br label %try
try:
  %r = cmpxchg ptr %busy, i64 0, i64 1 acquire monotonic
  %ok = extractvalue {{ i64, i1 }} %r, 1
  br i1 %ok, label %done, label %wait
wait:
  {relax}
  br label %try
done:
  ret void
}}

define internal void @unlock(ptr %pool) {{
  %busy = getelementptr inbounds i8, ptr %pool, i64 {BUSY}
  store atomic i64 0, ptr %busy release, align 8
  ret void
}}

define internal void @wake(ptr %pool) {{
  %sleepers = getelementptr inbounds i8, ptr %pool, i64 {SLEEPERS}
  %n = load atomic i64, ptr %sleepers seq_cst, align 8
  %any = icmp ne i64 %n, 0
  br i1 %any, label %call, label %done
call:
{wake}
  br label %done
done:
  ret void
}}

; Claim the next chunk of job %g and run it, until none is left; the chunk
; counter carries the job number, so a worker that is late for a job claims
; nothing from the next one. Returns after the last claim attempt.
define internal void @work(ptr %pool, i32 %g) {{
entry:
  %nextp = getelementptr inbounds i8, ptr %pool, i64 {NEXT}
  %finp = getelementptr inbounds i8, ptr %pool, i64 {FINISHED}
  %g64 = zext i32 %g to i64
  br label %claim
claim:
  %v = load atomic i64, ptr %nextp acquire, align 8
  %vg = lshr i64 %v, 32
  %mine = icmp eq i64 %vg, %g64
  br i1 %mine, label %count, label %out
count:
  %c = and i64 %v, 65535
  %n16 = lshr i64 %v, 16
  %n = and i64 %n16, 65535
  %left = icmp ult i64 %c, %n
  br i1 %left, label %take, label %out
take:
  %v1 = add i64 %v, 1
  %r = cmpxchg ptr %nextp, i64 %v, i64 %v1 acq_rel acquire
  %ok = extractvalue {{ i64, i1 }} %r, 1
  br i1 %ok, label %run, label %claim
run:
  %fnp = getelementptr inbounds i8, ptr %pool, i64 {FN}
  %fn = load ptr, ptr %fnp, align 8
  %ctxp = getelementptr inbounds i8, ptr %pool, i64 {CTX}
  %ctx = load ptr, ptr %ctxp, align 8
  %status = call i32 %fn(ptr %ctx, i64 %c, i64 %n)
  %d = atomicrmw add ptr %finp, i64 1 release
  br label %claim
out:
  ret void
}}

; One worker: wait for a job (spinning, then asleep), work on it, repeat; return
; on shutdown. ``seen0`` is the job number when the worker was added.
define void @turbo_pool_worker(ptr %pool, i32 %seen0) {{
entry:
  %spinp = getelementptr inbounds i8, ptr %pool, i64 {SPIN_CYCLES}
  %sleepers = getelementptr inbounds i8, ptr %pool, i64 {SLEEPERS}
  br label %idle
idle:
  %seen = phi i32 [ %seen0, %entry ], [ %seen, %woke ], [ %g, %worked ]
  %t0 = call i64 @llvm.readcyclecounter()
  %spin = load atomic i64, ptr %spinp monotonic, align 8
  br label %poll
poll:
  %g = load atomic i32, ptr %pool acquire, align 4
  %new = icmp ne i32 %g, %seen
  br i1 %new, label %job, label %relax
relax:
  {relax}
  %t = call i64 @llvm.readcyclecounter()
  %el = sub i64 %t, %t0
  %more = icmp ult i64 %el, %spin
  br i1 %more, label %poll, label %sleep
sleep:
  %s1 = atomicrmw add ptr %sleepers, i64 1 seq_cst
  %g2 = load atomic i32, ptr %pool seq_cst, align 4
  %same = icmp eq i32 %g2, %seen
  br i1 %same, label %block, label %woke
block:
{sleep}
  br label %woke
woke:
  %s2 = atomicrmw sub ptr %sleepers, i64 1 seq_cst
  br label %idle
job:
  %stopp = getelementptr inbounds i8, ptr %pool, i64 {SHUTDOWN}
  %stop = load atomic i64, ptr %stopp acquire, align 8
  %quit = icmp ne i64 %stop, 0
  br i1 %quit, label %exit, label %work
work:
  call void @work(ptr %pool, i32 %g)
  br label %worked
worked:
  br label %idle
exit:
  ret void
}}

; Run ``fn(ctx, c, n)`` for every chunk c in 0..n-1: publish the job, work on it
; like a worker (so chunks no worker has claimed yet run here), wait for the
; chunks workers took. Returns n; when the pool is busy (a job from another
; thread), runs ``fn(ctx, 0, 1)`` -- the whole loop -- here and returns 1.
define i64 @turbo_pool_run(ptr %pool, ptr %fn, ptr %ctx, i64 %n) {{
entry:
  %busy = getelementptr inbounds i8, ptr %pool, i64 {BUSY}
  %r = cmpxchg ptr %busy, i64 0, i64 1 acquire monotonic
  %ok = extractvalue {{ i64, i1 }} %r, 1
  br i1 %ok, label %publish, label %alone
alone:
  %s0 = call i32 %fn(ptr %ctx, i64 0, i64 1)
  ret i64 1
publish:
  %fnp = getelementptr inbounds i8, ptr %pool, i64 {FN}
  store ptr %fn, ptr %fnp, align 8
  %ctxp = getelementptr inbounds i8, ptr %pool, i64 {CTX}
  store ptr %ctx, ptr %ctxp, align 8
  %finp = getelementptr inbounds i8, ptr %pool, i64 {FINISHED}
  store atomic i64 0, ptr %finp monotonic, align 8
  %g0 = load atomic i32, ptr %pool monotonic, align 4
  %g = add i32 %g0, 1
  %g64 = zext i32 %g to i64
  %hi = shl i64 %g64, 32
  %n16 = shl i64 %n, 16
  %word = or i64 %hi, %n16
  %nextp = getelementptr inbounds i8, ptr %pool, i64 {NEXT}
  store atomic i64 %word, ptr %nextp release, align 8
  store atomic i32 %g, ptr %pool seq_cst, align 4
  call void @wake(ptr %pool)
  call void @work(ptr %pool, i32 %g)
  br label %join
join:
  %d = load atomic i64, ptr %finp acquire, align 8
  %all = icmp uge i64 %d, %n
  br i1 %all, label %done, label %relax
relax:
  {relax}
  br label %join
done:
  call void @unlock(ptr %pool)
  ret i64 %n
}}

; Register one more worker; returns the job number it starts from.
define i32 @turbo_pool_add_worker(ptr %pool) {{
  call void @lock(ptr %pool)
  %wp = getelementptr inbounds i8, ptr %pool, i64 {WORKERS}
  %w = load i64, ptr %wp, align 8
  %w1 = add i64 %w, 1
  store i64 %w1, ptr %wp, align 8
  %g = load atomic i32, ptr %pool acquire, align 4
  call void @unlock(ptr %pool)
  ret i32 %g
}}

; Tell every worker to exit.
define void @turbo_pool_stop(ptr %pool) {{
  call void @lock(ptr %pool)
  %stopp = getelementptr inbounds i8, ptr %pool, i64 {SHUTDOWN}
  store atomic i64 1, ptr %stopp release, align 8
  %wp = getelementptr inbounds i8, ptr %pool, i64 {WORKERS}
  store i64 0, ptr %wp, align 8
  %old = atomicrmw add ptr %pool, i32 1 seq_cst
  call void @wake(ptr %pool)
  call void @unlock(ptr %pool)
  ret void
}}
"""


def default_threads() -> int:
    env = os.environ.get("TURBO_NUM_THREADS", "").strip()
    if env:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if 1 <= n <= MAX_THREADS:
            return n
        import warnings

        warnings.warn(f"turbo: TURBO_NUM_THREADS={env!r} is not a number of threads from 1 to {MAX_THREADS}; "
                      "using the CPU count", RuntimeWarning, stacklevel=2)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _ticks_per_us(read_cycles: int) -> float:
    """Cycle-counter ticks per microsecond (the TSC on x86), measured once."""
    counter = ctypes.CFUNCTYPE(ctypes.c_int64)(read_cycles)
    t0, c0 = time.perf_counter(), counter()
    while time.perf_counter() - t0 < 0.002:
        pass
    t1, c1 = time.perf_counter(), counter()
    return max(1.0, (c1 - c0) / ((t1 - t0) * 1e6))


class _Pool:
    _instance: "_Pool | None" = None
    _create = threading.Lock()

    @classmethod
    def instance(cls) -> "_Pool":
        with cls._create:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self):
        self._buf = ctypes.create_string_buffer(STATE_BYTES + 64)
        self.state = (ctypes.addressof(self._buf) + 63) // 64 * 64
        text = _pool_ir() + "\ndefine i64 @turbo_read_cycles() {\n  %c = call i64 @llvm.readcyclecounter()\n  ret i64 %c\n}\n"
        names = ["turbo_pool_worker", "turbo_pool_run", "turbo_pool_add_worker", "turbo_pool_stop", "turbo_read_cycles"]
        self.addr = jit.compile_text(text, names, "threads").addresses
        llvm.add_symbol("turbo_pool_run", self.addr["turbo_pool_run"])
        llvm.add_symbol("turbo_pool_state", self.state)
        self._worker = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32)(self.addr["turbo_pool_worker"])
        self._add = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p)(self.addr["turbo_pool_add_worker"])
        self._stop = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(self.addr["turbo_pool_stop"])
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._set(THREADS, 1)
        self._set(MIN_CYCLES, DEFAULT_MIN_CYCLES)
        self.ticks_per_us = _ticks_per_us(self.addr["turbo_read_cycles"])
        self.set_spin_us(DEFAULT_SPIN_US)
        atexit.register(self.shutdown)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _get(self, off: int) -> int:
        return ctypes.c_int64.from_address(self.state + off).value

    def _set(self, off: int, value: int) -> None:
        ctypes.c_int64.from_address(self.state + off).value = value

    def set_spin_us(self, us: float) -> None:
        self._set(SPIN_CYCLES, int(us * self.ticks_per_us))

    def resize(self, n: int) -> None:
        """Use ``n`` threads (the caller included) for parallel loops from now on,
        starting workers if there are fewer than ``n - 1``."""
        with self._lock:
            while len(self._threads) < n - 1:
                tid = len(self._threads) + 1
                seen = self._add(self.state)
                t = threading.Thread(target=self._worker, args=(self.state, seen), name=f"turbo-worker-{tid}",
                                     daemon=True)
                t.start()
                self._threads.append(t)
            self._set(THREADS, n)

    def shutdown(self) -> None:
        with self._lock:
            if not self._threads:
                return
            self._set(THREADS, 1)
            self._stop(self.state)
            for t in self._threads:
                t.join(timeout=1.0)
            self._threads = []
            self._set(SHUTDOWN, 0)

    def _after_fork(self) -> None:
        # the child has none of the parent's workers: start over with the same count
        n = self._get(THREADS)
        for off in (GEN, NEXT, FINISHED, SLEEPERS, BUSY, WORKERS, SHUTDOWN):
            self._set(off, 0)
        self._set(THREADS, 1)
        self._threads = []
        self._lock = threading.Lock()
        self.resize(n)


_requested: int | None = None


def pool() -> _Pool:
    """The process's pool, started with the configured number of threads."""
    p = _Pool.instance()
    if p._get(THREADS) == 1 and not p._threads:
        p.resize(_requested or default_threads())
    return p


def set_num_threads(n: int) -> None:
    """Threads (the calling one included) that parallel loops use from now on;
    default: the CPUs this process may run on, or ``TURBO_NUM_THREADS``."""
    global _requested
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads() needs an int from 1 to {MAX_THREADS}, got {n!r}")
    _requested = n
    if _Pool._instance is not None:
        _Pool._instance.resize(n)  # starts workers if n needs more; never stops any


def get_num_threads() -> int:
    if _Pool._instance is not None and _Pool._instance._threads:
        return _Pool._instance._get(THREADS)
    return _requested or default_threads()


def set_parallel_threshold(cycles: int) -> None:
    """Predicted cycles below which a parallel loop runs on one thread (0: always split)."""
    if not isinstance(cycles, int) or isinstance(cycles, bool) or cycles < 0:
        raise ValueError(f"set_parallel_threshold() needs an int >= 0, got {cycles!r}")
    _Pool.instance()._set(MIN_CYCLES, cycles)
