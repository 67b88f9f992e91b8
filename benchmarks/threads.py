"""Parallel loops: the naive gemm compiled with ``parallel=True`` on all the
threads this process may use, beside the same kernel on one thread and NumPy
(one BLAS thread); and the cost of one parallel region: a kernel whose chunks do
almost nothing, split across the threads (threshold 0) minus its one-thread time.
"""

from __future__ import annotations

import numpy as np

import turbo
from turbo.runtime import threads

from . import timing
from .pullback import fmt

GEMM = """
kernel gemm(C: T[M, N], A: T[M, K], B: T[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
"""

TINY = """
kernel bump(x: f32[n]) {
    for i in 0:n { x[i] += 1.0 }
}
"""

SIZES = (64, 128, 256, 512)


def run(dtypes, quick: bool, rounds: int, min_batch_s: float, peaks: dict, log=print) -> dict:
    nt = threads.default_threads()
    threads.set_num_threads(nt)
    out = {"threads": nt, "gemm": [], "dispatch": None}
    if nt < 2:
        log("  threads: one CPU available, nothing to compare")
        return out
    for dtype in dtypes:
        dt = np.float32 if dtype == "f32" else np.float64
        src = GEMM.replace("T[", f"{dtype}[")
        serial = turbo.compile(src, "gemm.loop").gemm
        par = turbo.compile(src, "gemm.loop", parallel=True).gemm
        rng = np.random.default_rng(0)
        for n in SIZES[:2] if quick else SIZES:
            A, B = rng.standard_normal((n, n)).astype(dt), rng.standard_normal((n, n)).astype(dt)
            C1, C2 = np.zeros((n, n), dt), np.zeros((n, n), dt)
            serial(C1, A, B)
            par(C2, A, B)
            want = A.astype(np.float64) @ B.astype(np.float64)
            tol = 1e-3 if dtype == "f32" else 1e-10
            ok = np.allclose(C1, want, rtol=tol, atol=tol * n) and np.allclose(C2, want, rtol=tol, atol=tol * n)
            row = {"dtype": dtype, "n": n, "correct": bool(ok)}
            if ok:
                fns = {"turbo 1 thread": lambda s=serial, a=(C1, A, B): s(*a),
                       f"turbo {nt} threads": lambda p=par, a=(C2, A, B): p(*a),
                       "numpy": lambda a=A, b=B, c=C1: np.matmul(a, b, out=c)}
                times = timing.compare(fns, rounds=rounds, min_batch_s=min_batch_s)
                row.update(times)
                flops = 2.0 * n ** 3
                one, many = times["turbo 1 thread"], times[f"turbo {nt} threads"]
                row["speedup"] = one / many
                row["gflops"] = flops / many / 1e9
                row["peak_fraction"] = row["gflops"] / (nt * peaks[dtype]) if dtype in peaks else None
                log(f"  gemm {dtype} n={n:<4d} 1 thread {flops / one / 1e9:6.1f} GF/s | {nt} threads "
                    f"{row['gflops']:6.1f} GF/s ({100 * (row['peak_fraction'] or 0):.0f}% of {nt}x peak) | "
                    f"numpy {flops / times['numpy'] / 1e9:6.1f} GF/s  -> speedup {row['speedup']:.2f}")
            else:
                log(f"  gemm {dtype} n={n}: WRONG")
            out["gemm"].append(row)
    serial = turbo.compile(TINY, "tiny.loop").bump
    par = turbo.compile(TINY, "tiny.loop", parallel=True).bump
    x = np.zeros(64 * nt, np.float32)
    threads.set_parallel_threshold(0)
    try:
        times = timing.compare({"one thread": lambda: serial(x), "split": lambda: par(x)}, rounds=rounds,
                               min_batch_s=min_batch_s)
    finally:
        threads.set_parallel_threshold(threads.DEFAULT_MIN_CYCLES)
    out["dispatch"] = {"one thread": times["one thread"], "split": times["split"],
                       "overhead": times["split"] - times["one thread"]}
    log(f"  parallel region overhead ({nt} threads, {x.size} floats): {fmt(out['dispatch']['overhead'])} "
        f"(split {fmt(times['split'])}, one thread {fmt(times['one thread'])})")
    return out


def markdown(section: dict) -> list[str]:
    nt = section["threads"]
    md = ["", f"## Threads: gemm with parallel=True on {nt} threads", "", __doc__.replace("\n", " ").strip(), ""]
    if nt < 2:
        return md + ["(one CPU available: not measured)"]
    md += [f"| dtype | n | turbo 1 thread | turbo {nt} threads | numpy | speedup | GFLOP/s | % of {nt}× peak |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in section["gemm"]:
        if not r.get("correct"):
            md.append(f"| {r['dtype']} | {r['n']} | WRONG | | | | | |")
            continue
        pf = r.get("peak_fraction")
        md.append(f"| {r['dtype']} | {r['n']} | {fmt(r['turbo 1 thread'])} | {fmt(r[f'turbo {nt} threads'])} | "
                  f"{fmt(r['numpy'])} | {r['speedup']:.2f} | {r['gflops']:.1f} | {'—' if pf is None else f'{100 * pf:.0f}%'} |")
    d = section.get("dispatch")
    if d:
        md += ["", f"Parallel region overhead: {fmt(d['overhead'])} (split {fmt(d['split'])}, one thread {fmt(d['one thread'])})."]
    return md
