"""python -m benchmarks [--quick] [--filter NAME ...] [--threads N] [--dtypes f32,f64] [--no-plots]

Runs turbo beside NumPy, Numba and PyTorch on the same arrays, in one process:
every result is checked against NumPy (float64) before it is timed; systems are
timed in interleaved batches and the median reported, with each GFLOP/s figure
also as a share of the peak turbo measures on this machine in the same run.
Writes benchmarks/results/<cpu>.md and .json and PNG plots per kernel family.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    p.add_argument("--quick", action="store_true", help="a few small sizes, to prove the suite runs (not for timing)")
    p.add_argument("--filter", nargs="*", help="kernels whose name contains one of these (or a family: BLAS1 BLAS2 BLAS3 other)")
    p.add_argument("--threads", type=int, default=1, help="threads for the peers' libraries (turbo's kernels run on one thread, except in the threads section)")
    p.add_argument("--dtypes", default="f32,f64")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-latency", action="store_true", help="skip the compile-latency measurement (child processes)")
    p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = p.parse_args(argv)
    # BLAS thread pools read these when NumPy is first imported
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

    import datetime
    import pathlib
    import platform

    import numpy as np

    import turbo
    from turbo.runtime import jit

    from . import report, suite

    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    for d in dtypes:
        if d not in suite.DTYPES:
            p.error(f"unknown dtype {d}; choose from f32, f64")
    suite.silence_numba_warnings()
    peers = suite.load_peers(args.threads)
    target = jit.host_target()
    vector = "AVX-512" if "+avx512f" in target.features else "AVX2" if "+avx2" in target.features else "SSE"
    print(f"turbo {turbo.__version__} benchmarks — {target.cpu} ({vector}), {args.threads} thread(s)"
          + (" — QUICK (not for timing)" if args.quick else ""))
    for note in peers.notes:
        print(f"  note: {note}")
    peaks = {}
    for d in dtypes:
        peaks[d], chains = suite.measure_peak(d, args.quick)
        print(f"  measured peak {d}: {peaks[d]:.1f} GFLOP/s per thread ({chains} multiply-add chains of {suite.vector_lanes(d)} lanes)")
    notes = list(peers.notes)
    if args.threads > 1:
        notes.append(f"turbo's kernels run single-threaded outside the threads section; peers use {args.threads} threads; % of peak is per thread")

    def log(k, dtype, n, rs):
        by = {r.system: r for r in rs}
        t = by.get("turbo")
        cells = []
        for s in report.SYSTEMS:
            if s in by:
                cells.append(f"{s} {report._cell(by[s], t, peaks.get(dtype))}")
        print(f"  {k.name:15s} {dtype} n={n:<5d} " + " | ".join(cells), flush=True)

    results = []
    rounds, min_batch = (3, 0.0005) if args.quick else (9, 0.002)
    for k in suite.select(args.filter):
        for d in dtypes:
            results += suite.run_kernel(k, d, suite.sizes_for(k, args.quick), peers, rounds, min_batch, log)
    pullbacks = None
    if not args.filter or any(f.lower() in "pullback" for f in args.filter):
        from . import pullback

        pullbacks = pullback.run(peers, dtypes, args.quick, rounds, min_batch)
    parallel = None
    if not args.filter or any(f.lower() in "threads" for f in args.filter):
        from . import threads

        parallel = threads.run(dtypes, args.quick, rounds, min_batch, peaks)
    latency = None
    if not args.no_latency:
        latency = suite.compile_latency(peers, repeats=1 if args.quick else 5)
        for label, v in latency.items():
            if "error" in v:
                print(f"  compile latency {label}: error {v['error']}")
            else:
                print(f"  compile latency {label}: first call {report.fmt_time(v['first_call'])} (import {report.fmt_time(v['import'])})")
    wrong = [r for r in results if r.status != "ok" and not r.status.startswith("skipped")]
    meta = {
        "date": str(datetime.date.today()), "cpu": target.cpu, "triple": target.triple, "vector": vector,
        "threads": args.threads, "python": platform.python_version(), "turbo": turbo.__version__,
        "numpy": np.__version__, "quick": args.quick, "notes": notes,
    }
    if peers.numba is not None:
        meta["numba"] = peers.numba.__version__
    if peers.torch is not None:
        meta["torch"] = peers.torch.__version__
    outdir = pathlib.Path(args.out) if args.out else pathlib.Path(__file__).parent / "results"
    name = f"{target.cpu}-{args.threads}t" + ("-quick" if args.quick else "") + ("" if not args.filter else "-partial")
    path = report.write(outdir, name, meta, results, peaks, latency, pullbacks, parallel)
    print()
    for d in dtypes:
        print(report.summary(results, peaks, d))
        print()
    if not args.no_plots:
        for png in report.plots(outdir, name, results, peaks):
            print(f"plot: {png}")
    print(f"results: {path} (+ .json)")
    turbo_wrong = [r for r in wrong if r.system == "turbo"]
    if wrong:
        print(f"{len(wrong)} result(s) not timed: " + ", ".join(f"{r.system} {r.kernel} {r.dtype} n={r.n}: {r.status}" for r in wrong[:10]))
    return 1 if turbo_wrong else 0


if __name__ == "__main__":
    sys.exit(main())
