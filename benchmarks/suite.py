"""Running the benchmark kernels: turbo and its peers on the same arrays.

For each kernel, dtype and size: every system runs once and its result is compared
with a float64 NumPy reference (a fast wrong answer is reported as WRONG, not timed);
then all systems are timed together, interleaved (see ``timing.compare``).
"""

from __future__ import annotations

import math
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np

import turbo
from turbo.runtime import jit

from . import timing
from .kernels import KERNELS, Kernel

DTYPES = {"f32": np.float32, "f64": np.float64}
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FULL_SIZES = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
QUICK_SIZES = [2, 8, 32, 128]
TOL = {"f32": 2e-5, "f64": 1e-12}


@dataclass
class Result:
    kernel: str
    family: str
    dtype: str
    n: int
    system: str
    seconds: float | None  # None: not timed (wrong, failed or skipped)
    status: str  # "ok" | "WRONG" | "error: ..." | "skipped: ..."
    work: float
    unit: str

    @property
    def rate(self) -> float | None:
        """GFLOP/s, or G elements/s; None for call-overhead kernels."""
        if self.seconds is None or self.unit == "call" or self.work == 0:
            return None
        return self.work / self.seconds / 1e9


@dataclass
class Peers:
    numba: object | None
    torch: object | None
    notes: list[str]


def load_peers(threads: int) -> Peers:
    notes = []
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        notes.append("threadpoolctl missing: NumPy's BLAS threads set only through the environment")
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        numba = None
        notes.append("numba not installed: skipped")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
        notes.append("torch not installed: skipped")
    return Peers(numba, torch, notes)


def sizes_for(k: Kernel, quick: bool) -> list[int]:
    pool = QUICK_SIZES if quick else FULL_SIZES
    return [n for n in pool if k.min_n <= n <= k.max_n] or [k.min_n]


def _close(got, want, dtype: str, n: int) -> bool:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    scale = 1.0 + float(np.max(np.abs(want))) if want.size else 1.0
    return bool(np.allclose(got, want, rtol=TOL[dtype] * math.sqrt(n) * 10, atol=TOL[dtype] * math.sqrt(n) * scale * 10))


def run_kernel(k: Kernel, dtype: str, sizes: list[int], peers: Peers, rounds: int, min_batch_s: float, log) -> list[Result]:
    mod = turbo.compile(k.source.replace("T[", f"{dtype}["), f"{k.name}.loop")
    tk = mod.kernels[next(iter(mod.kernels))]
    nb = None
    if peers.numba is not None and k.loops is not None:
        nb = peers.numba.njit(fastmath=True)(k.loops)
    tp = turbo.turbo(k.loops) if k.loops is not None else None  # the same Python loops, through @turbo
    results = []
    rng = np.random.default_rng(0)
    for n in sizes:
        data = k.setup(rng, n, DTYPES[dtype])
        data["_np_out"] = np.empty_like(data["out"])
        want = k.reference(data)
        args = tuple(data[a] for a in k.args)
        out = data["out"]
        candidates = {"turbo": lambda args=args: tk(*args)}
        copies = {}  # system -> the arguments it writes its result into
        if tp is not None:
            copies["turbo-py"] = (np.zeros_like(out),) + args[1:]
            candidates["turbo-py"] = lambda a=copies["turbo-py"]: tp(*a)
        if nb is not None:
            copies["numba"] = (np.zeros_like(out),) + args[1:]
            candidates["numba"] = lambda a=copies["numba"]: nb(*a)
        candidates["numpy"] = k.numpy(data)
        if peers.torch is not None and k.torch is not None:
            try:
                candidates["torch"] = k.torch(data, peers.torch)
            except Exception as e:  # a peer that cannot run this case is reported, not fatal
                results.append(Result(k.name, k.family, dtype, n, "torch", None, f"error: {str(e).splitlines()[0]}", k.work(n), k.unit))
        timed = {}
        for system, fn in candidates.items():
            try:
                if system == "turbo":
                    out[:] = 0
                    fn()
                    got = out
                elif system in copies:
                    fn()
                    got = copies[system][0]
                else:
                    got = fn()
                    if hasattr(got, "numpy"):
                        got = got.numpy()
                    got = np.reshape(np.asarray(got), np.shape(want)) if np.size(got) == np.size(want) else got
                if k.unit != "call":
                    ok = _close(got, want, dtype, n)
                elif system in ("turbo", "turbo-py", "numba"):  # the trivial kernel writes out[0] only
                    ok = _close(np.asarray(got)[:1], want[:1], dtype, n)
                else:  # NumPy's and PyTorch's stand-ins for a trivial call compute something else
                    ok = True
            except Exception as e:
                first_line = str(e).splitlines()[0] if str(e) else ""
                results.append(Result(k.name, k.family, dtype, n, system, None, f"error: {type(e).__name__}: {first_line}", k.work(n), k.unit))
                continue
            if ok:
                timed[system] = fn
            else:
                results.append(Result(k.name, k.family, dtype, n, system, None, "WRONG", k.work(n), k.unit))
        times = timing.compare(timed, rounds=rounds, min_batch_s=min_batch_s) if timed else {}
        for system, t in times.items():
            results.append(Result(k.name, k.family, dtype, n, system, t, "ok", k.work(n), k.unit))
        log(k, dtype, n, [r for r in results if r.n == n and r.dtype == dtype])
    return results


# ----------------------------------------------------------------------------- peak


def vector_lanes(dtype: str) -> int:
    feats = jit.host_target().features
    width = 512 if "+avx512f" in feats else 256 if "+avx" in feats else 128
    return width // (32 if dtype == "f32" else 64)


def measure_peak(dtype: str, quick: bool) -> tuple[float, int]:
    """GFLOP/s of the best turbo-compiled kernel of independent multiply-add chains
    (chains in registers, no memory traffic), and the chain count that reached it.
    A mul and an add count 2 flops (fastmath fuses them into one FMA where it pays)."""
    lanes = vector_lanes(dtype)
    best, best_chains = 0.0, 0
    iters = 20_000 if quick else 200_000
    for chains in (8, 10, 12, 14, 16):
        L = lanes * chains
        src = f"""
        kernel peak(acc: {dtype}[{L}], a: {dtype}, b: {dtype}, n: i64) {{
            for it in 0:n {{
                for l in 0:{L} {{ acc[l] = acc[l] * a + b }}
            }}
        }}"""
        k = turbo.compile(src, "peak.loop").peak
        acc = np.ones(L, DTYPES[dtype])
        k(acc, 0.999, 0.001, 10)
        t = min(_time_once(lambda k=k, acc=acc: k(acc, 0.999, 0.001, iters)) for _ in range(3 if quick else 7))
        rate = 2.0 * L * iters / t / 1e9
        if rate > best:
            best, best_chains = rate, chains
    return best, best_chains


def _time_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- compile latency

# Runs in a fresh interpreter with the repository root as its working directory,
# so it compiles the suite's own gemm_AB source and loops.
_LATENCY_CHILD = textwrap.dedent("""
    import sys, time, json
    import numpy as np
    from benchmarks.kernels import by_name
    gemm = by_name()["gemm_AB"]
    which = sys.argv[1]
    n = 64
    A = np.ones((n, n), np.float32); B = np.ones((n, n), np.float32); C = np.zeros((n, n), np.float32)
    t0 = time.perf_counter()
    if which == "turbo":
        import turbo
        t_import = time.perf_counter()
        k = turbo.compile(gemm.source.replace("T[", "f32["), "gemm.loop").gemm_AB
        t1 = time.perf_counter()
        k(C, A, B)
    else:
        import numba
        t_import = time.perf_counter()
        f = numba.njit(fastmath=True)(gemm.loops)
        t1 = time.perf_counter()
        f(C, A, B)
    t2 = time.perf_counter()
    assert C[0, 0] == n
    print(json.dumps({"import": t_import - t0, "define": t1 - t_import, "first_call": t2 - t1}))
""")


def compile_latency(peers: Peers, repeats: int = 5) -> dict[str, dict]:
    """First call of gemm f32 (compile included) in fresh processes, the median of
    ``repeats`` of each: turbo with an empty disk cache; with only Lark's analysed
    grammar cached (the state after turbo's first use on a machine: every new kernel
    then compiles like this); with the cache it left; Numba without a cache.
    Python's bytecode is compiled beforehand, as it is for an installed package."""
    import json
    import statistics

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-c", "import turbo.runtime.kernel, turbo.dsl_grammar, benchmarks.kernels"],
                   env=env, cwd=_ROOT, capture_output=True, timeout=300)

    def child(which: str, child_env: dict) -> dict:
        r = subprocess.run([sys.executable, "-c", _LATENCY_CHILD, which], env=child_env, cwd=_ROOT,
                           capture_output=True, text=True, timeout=300)
        return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else {"error": r.stderr[-300:]}

    labels = ["turbo (empty cache)", "turbo (grammar cached, no kernels)", "turbo (warm disk cache)"]
    if peers.numba is not None:
        labels.append("numba (no cache)")
    runs: dict[str, list[dict]] = {label: [] for label in labels}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            cenv = dict(env, TURBO_CACHE_DIR=cache)
            runs[labels[0]].append(child("turbo", cenv))
            for p in pathlib.Path(cache).glob("*.o"):
                p.unlink()
            runs[labels[1]].append(child("turbo", cenv))
            runs[labels[2]].append(child("turbo", cenv))
        if peers.numba is not None:
            runs[labels[3]].append(child("numba", env))
    out = {}
    for label, rs in runs.items():
        bad = [r for r in rs if "error" in r]
        out[label] = bad[0] if bad else {k: statistics.median(r[k] for r in rs) for k in rs[0]} | {"runs": len(rs)}
    return out


def select(filters: list[str] | None) -> list[Kernel]:
    if not filters:
        return list(KERNELS)
    chosen = [k for k in KERNELS if any(f.lower() in k.name.lower() or f.lower() == k.family.lower() for f in filters)]
    if not chosen and not any(f.lower() in "pullback" or f.lower() in "threads" for f in filters):
        names = ", ".join(k.name for k in KERNELS) + ", pullback (the dense-layer pullback section), threads (gemm with parallel=True)"
        raise SystemExit(f"no kernel matches {filters}; kernels: {names}")
    return chosen


def result_dicts(results: list[Result]) -> list[dict]:
    return [asdict(r) | {"rate": r.rate} for r in results]


def silence_numba_warnings() -> None:
    warnings.filterwarnings("ignore", module="numba")
