"""The ``turbo`` command.

    turbo demo                                  compile and run example kernels, timed next to NumPy
    turbo inspect FILE.loop --emit loops|lowered|schedule|llvm|llvm-unoptimized|asm
                  [--kernel NAME] [--dims M=64,N=64]
    turbo check FILE.loop                       parse and type-check only
    turbo cache info|clear
    turbo bench [--quick] [--filter ...]        the benchmark suite (from a source checkout)

Errors in the user's program are printed (with the source line and a caret) and
the command exits with status 1, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources

from . import __version__
from .errors import TurboError


def _parse_dims(text: str | None) -> dict[str, int]:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise SystemExit(f"turbo: --dims expects NAME=SIZE[,NAME=SIZE...], got {text!r}")
        out[name.strip()] = int(value)
    return out


def cmd_inspect(args) -> int:
    import turbo
    from .passes.specialize import specialize_dims
    from .runtime.kernel import make_kernel

    mod = turbo.load(args.file)
    kernels = list(mod.kernels.values())
    if args.kernel:
        if args.kernel not in mod.kernels:
            print(f"turbo: no kernel '{args.kernel}' in {args.file}; kernels: {', '.join(mod.kernels)}", file=sys.stderr)
            return 1
        kernels = [mod.kernels[args.kernel]]
    dims = _parse_dims(args.dims)
    for k in kernels:
        if dims:
            relevant = {d: v for d, v in dims.items() if d in k.ir.dims}
            try:
                k = make_kernel(specialize_dims(k.ir, relevant), k.boundscheck, k.source_name)
            except ValueError as e:
                print(f"turbo: {e}", file=sys.stderr)
                return 1
        if len(kernels) > 1:
            print(f"# ---- {k.name} ----")
        print(k.inspect(args.emit), end="" if args.emit == "loops" else "\n")
    return 0


def cmd_check(args) -> int:
    import turbo

    mod = turbo.load(args.file)
    for k in mod.kernels.values():
        print(f"ok  {k.name}({k.signature})")
    return 0


def cmd_cache(args) -> int:
    from .runtime import cache

    d = cache.cache_dir()
    if args.action == "clear":
        n = cache.clear()
        print(f"removed {n} entries from {d}")
        return 0
    if d is None:
        print("disk cache disabled (TURBO_CACHE=0)")
        return 0
    entries = list(d.glob("*.o")) if d.exists() else []
    size = sum(p.stat().st_size for p in entries)
    print(f"{d}: {len(entries)} entries, {size / 1024:.0f} KiB")
    return 0


def _best_time(fn, repeat: int = 7, min_time: float = 0.02) -> float:
    """Seconds per call: the best of ``repeat`` batches, each at least ``min_time`` long."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_time or n >= 1 << 20:
            break
        n *= 4
    best = dt / n
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def format_seconds(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e3:.2f} ms"


def cmd_demo(args) -> int:
    import numpy as np

    import turbo
    from .runtime import jit

    rng = np.random.default_rng(0)
    t = jit.host_target()
    print(f"turbo {__version__} — loop kernels compiled to native code by LLVM")
    print(f"target: {t.cpu} ({t.triple})\n")
    src = resources.files("turbo").joinpath("examples/demo.loop").read_text()
    t0 = time.perf_counter()
    mod = turbo.compile(src, "demo.loop")
    print(f"parsed and type-checked {len(mod.kernels)} kernels from demo.loop in {format_seconds(time.perf_counter() - t0)}:")
    for k in mod.kernels.values():
        print(f"  kernel {k.name}({k.signature})")
    print()

    rows = []

    def run(name, what, call, check, numpy_call):
        t0 = time.perf_counter()
        call()  # first call compiles
        first = time.perf_counter() - t0
        ok = check()
        ours = _best_time(call)
        theirs = _best_time(numpy_call)
        rows.append((name, what, first, ours, theirs, ok))

    n = 64
    A = rng.standard_normal((n, n), dtype=np.float32)
    B = rng.standard_normal((n, n), dtype=np.float32)
    C = np.zeros((n, n), np.float32)
    run("gemm", f"{n}x{n} f32 matrix product", lambda: mod.gemm(C, A, B),
        lambda: np.allclose(C, A @ B, rtol=1e-4, atol=1e-4), lambda: np.matmul(A, B, out=C))

    x = rng.standard_normal(10_000)
    y = np.empty_like(x)
    run("cumsum", "prefix sum of 10,000 f64", lambda: mod.cumsum(y, x),
        lambda: np.allclose(y, np.cumsum(x)), lambda: np.cumsum(x, out=y))

    img = rng.standard_normal((28, 28, 3), dtype=np.float32)
    w = rng.standard_normal((3, 3, 3, 8), dtype=np.float32)
    out = np.zeros((26, 26, 8), np.float32)

    def np_conv():
        win = np.lib.stride_tricks.sliding_window_view(img, (3, 3), axis=(0, 1))  # (26, 26, 3, 3, 3)
        return np.einsum("yxcij,ijco->yxo", win, w, optimize=True)

    run("conv3x3", "28x28x3 image, 8 filters 3x3", lambda: mod.conv3x3(out, img, w),
        lambda: np.allclose(out, np_conv(), rtol=1e-4, atol=1e-4), np_conv)

    data = rng.random(100_000, dtype=np.float32)
    h = np.zeros(32, np.int64)

    def ours_hist():
        h[:] = 0
        mod.histogram(h, data, 0.0, 1.0)

    run("histogram", "100,000 values into 32 bins", ours_hist,
        # bin edges round differently from NumPy's for a value or two on an edge
        lambda: np.abs(h - np.histogram(data, bins=32, range=(0.0, 1.0))[0]).sum() <= 2,
        lambda: np.histogram(data, bins=32, range=(0.0, 1.0)))

    m = 200
    L = np.tril(rng.random((m, m))) + m * np.eye(m)
    bvec = rng.random(m)
    xs = np.empty(m)
    run("trsv", f"triangular solve, {m}x{m} f64", lambda: mod.trsv(xs, L, bvec),
        lambda: np.allclose(L @ xs, bvec), lambda: np.linalg.solve(L, bvec))

    small = np.zeros(4, np.float64)
    run("cumsum", "call overhead: 4 elements", lambda: mod.cumsum(small, small),
        lambda: True, lambda: np.cumsum(small, out=small))

    # the same compiler from plain Python functions (turbo/examples/demo_py.py)
    from .examples import demo_py

    v = rng.standard_normal(10_000)
    box = [0.0]

    def np_lse():
        m = v.max()
        return m + np.log(np.exp(v - m).sum())

    def ours_lse():
        box[0] = demo_py.logsumexp(v)

    run("@turbo", "logsumexp of 10,000 f64", ours_lse, lambda: np.isclose(box[0], np_lse()), np_lse)
    P = rng.standard_normal((200, 8))
    D = np.empty((200, 200))

    def np_dist():
        return np.sqrt(((P[:, None, :] - P[None, :, :]) ** 2).sum(-1))

    run("@turbo", "pairwise distances, 200x8 f64", lambda: demo_py.pairwise_dist(D, P),
        lambda: np.allclose(D, np_dist()), np_dist)

    print(f"{'kernel':10s} {'what':34s} {'1st call':>9s} {'turbo':>9s} {'NumPy':>9s} {'speedup':>8s}  result")
    for name, what, first, ours, theirs, ok in rows:
        print(f"{name:10s} {what:34s} {format_seconds(first):>9s} {format_seconds(ours):>9s} {format_seconds(theirs):>9s} {theirs / ours:7.1f}x  "
              f"{'matches NumPy' if ok else 'MISMATCH'}")
    print()
    print("1st call = compile (or load from the disk cache) + run; turbo/NumPy = best of several timed batches.")
    print("NumPy's column uses the closest NumPy equivalent (matmul, cumsum, einsum, histogram, solve,")
    print("whole-array expressions for the @turbo functions of turbo/examples/demo_py.py).")
    print("Loops are vectorized and register-tiled by the cost model; see why with")
    print("  turbo inspect FILE.loop --emit schedule   (and --emit asm for the code)")
    return 0 if all(r[-1] for r in rows) else 1


def cmd_bench(args, extra: list[str]) -> int:
    """The benchmark suite lives in the source tree (benchmarks/), not in the package."""
    import pathlib
    import subprocess

    for root in (pathlib.Path.cwd(), pathlib.Path(__file__).resolve().parent.parent):
        if (root / "benchmarks" / "__main__.py").exists():
            return subprocess.call([sys.executable, "-m", "benchmarks", *extra], cwd=root)
    print("turbo: the benchmark suite is in turbo's source tree; run `turbo bench` from a checkout "
          "(pip install -e '.[bench]')", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="turbo", description="turbo: a loop-nest kernel compiler for Python")
    parser.add_argument("--version", action="version", version=f"turbo {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="compile and run example kernels, timed next to NumPy")
    p = sub.add_parser("inspect", help="print a kernel at one compilation stage")
    p.add_argument("file")
    p.add_argument("--emit", default="loops", choices=["loops", "lowered", "schedule", "llvm", "llvm-unoptimized", "asm"])
    p.add_argument("--kernel")
    p.add_argument("--dims", help="specialize symbolic dims, e.g. M=64,N=64")
    p = sub.add_parser("check", help="parse and type-check a .loop file")
    p.add_argument("file")
    p = sub.add_parser("cache", help="show or clear the disk cache of compiled code")
    p.add_argument("action", choices=["info", "clear"])
    sub.add_parser("bench", help="run the benchmark suite (python -m benchmarks; its options pass through)", add_help=False)
    args, extra = parser.parse_known_args(argv)
    if args.command == "bench":
        return cmd_bench(args, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    handlers = {"demo": cmd_demo, "inspect": cmd_inspect, "check": cmd_check, "cache": cmd_cache}
    try:
        return handlers[args.command](args)
    except TurboError as e:
        print(f"turbo: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"turbo: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
