"""Call overhead: a trivial kernel on three small arrays, turbo vs its peers.

    python -m benchmarks.call_overhead

The kernel body is one store, so the figure is the cost of getting from a Python
call into machine code and back: argument checks, dims binding, layout dispatch.
"""

from __future__ import annotations

import ctypes
import datetime
import pathlib
import platform
import sys

import numpy as np

import turbo
from turbo.runtime import jit

from .timing import compare

SRC = """
kernel touch(C: f32[N], A: f32[N], B: f32[N]) {
    C[0] = A[0] + B[0]
}
"""


def main(argv=None) -> dict:
    A = np.ones(4, np.float32)
    B = np.ones(4, np.float32)
    C = np.zeros(4, np.float32)
    mod = turbo.compile(SRC)
    touch = mod.touch
    touch(C, A, B)
    fns = {"turbo kernel(C, A, B)": lambda: touch(C, A, B)}

    # the naive llvmlite path: the same machine code through ctypes
    variant = next(iter(touch._variants.values()))[1]
    err = (ctypes.c_int64 * 5)()
    err_addr = ctypes.addressof(err)

    def via_ctypes():
        variant(C.ctypes.data, 4, A.ctypes.data, 4, B.ctypes.data, 4, C.shape[0], err_addr)

    fns["llvmlite + ctypes (arr.ctypes.data)"] = via_ctypes
    fns["np.add(A, B, out=C)"] = lambda: np.add(A, B, out=C)
    try:
        import numba

        @numba.njit(fastmath=True)
        def touch_nb(C, A, B):
            C[0] = A[0] + B[0]

        fns["numba @njit dispatcher"] = lambda: touch_nb(C, A, B)
    except ImportError:
        print("numba not installed: skipped (pip install '.[bench]')")
    empty = lambda: None  # noqa: E731
    fns["empty Python lambda (loop floor)"] = empty

    times = compare(fns)
    base = times["turbo kernel(C, A, B)"]
    cpu = jit.host_target().cpu
    lines = [
        f"Call overhead, three f32 arrays of 4 elements — {datetime.date.today()}, {cpu}, "
        f"Python {platform.python_version()}, NumPy {np.__version__}",
        "",
        "| call | ns per call | relative to turbo |",
        "|---|---:|---:|",
    ]
    for name, t in sorted(times.items(), key=lambda kv: kv[1]):
        lines.append(f"| {name} | {t * 1e9:.0f} | {t / base:.2f}x |")
    text = "\n".join(lines)
    print(text)
    out = pathlib.Path(__file__).parent / "results" / f"call_overhead-{cpu}.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text + "\n\nMedian of 15 interleaved batches; each call includes the Python loop's own cost "
                   "(the 'empty Python lambda' row).\n")
    return times


if __name__ == "__main__":
    main(sys.argv[1:])
