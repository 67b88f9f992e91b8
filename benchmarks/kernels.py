"""The benchmark kernels: turbo DSL source, the same loops for Numba, and the
NumPy / PyTorch equivalents.

Each kernel writes its result into ``out`` (a 1-element array for reductions), so
every system is checked the same way: run once, compare ``out`` (or the returned
array) with a float64 NumPy reference, then time. ``T`` in a DSL source is
replaced by the element type.

Work is counted in flops (``unit="flop"``) where the kernel is arithmetic, in
elements otherwise (``unit="elem"``: elementwise exp, log-determinant,
logsumexp), and not at all for the call-overhead kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Kernel:
    name: str
    family: str  # "BLAS1" | "BLAS2" | "BLAS3" | "other"
    source: str  # DSL, with T for the element type
    setup: Callable  # (rng, n, dtype) -> dict of arrays/scalars, including "out"
    args: tuple[str, ...]  # the data keys passed to turbo and Numba, in order
    reference: Callable  # data -> expected out (float64 NumPy)
    numpy: Callable  # data -> callable() returning the result
    work: Callable  # n -> flops or elements
    unit: str = "flop"
    loops: Callable | None = None  # the same loops in Python, compiled by Numba
    torch: Callable | None = None  # (data, torch) -> callable() returning the result
    max_n: int = 256
    min_n: int = 2
    tags: tuple[str, ...] = field(default_factory=tuple)


def _vec(rng, n, dt):
    return rng.standard_normal(n).astype(dt)


def _mat(rng, shape, dt):
    return rng.standard_normal(shape).astype(dt)


# ----------------------------------------------------------------------------- BLAS 1

DOT = """
kernel dot(out: T[1], x: T[N], y: T[N]) {
    s = 0.0
    for i in 0:N { s += x[i] * y[i] }
    out[0] = s
}
"""


def dot_loops(out, x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    out[0] = s


SELFDOT = """
kernel selfdot(out: T[1], x: T[N]) {
    s = 0.0
    for i in 0:N { s += x[i] * x[i] }
    out[0] = s
}
"""


def selfdot_loops(out, x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * x[i]
    out[0] = s


EXP = """
kernel vexp(out: T[N], x: T[N]) {
    for i in 0:N { out[i] = exp(x[i]) }
}
"""


def exp_loops(out, x):
    for i in range(x.shape[0]):
        out[i] = np.exp(x[i])


SIN = """
kernel vsin(out: T[N], x: T[N]) {
    for i in 0:N { out[i] = sin(x[i]) }
}
"""


def sin_loops(out, x):
    for i in range(x.shape[0]):
        out[i] = np.sin(x[i])


POW = """
kernel vpow(out: T[N], x: T[N], y: T[N]) {
    for i in 0:N { out[i] = x[i] ** y[i] }
}
"""


def pow_loops(out, x, y):
    for i in range(x.shape[0]):
        out[i] = x[i] ** y[i]


# ----------------------------------------------------------------------------- BLAS 2

GEMV = """
kernel gemv(out: T[M], A: T[M, N], x: T[N]) {
    for i in 0:M {
        s = 0.0
        for j in 0:N { s += A[i, j] * x[j] }
        out[i] = s
    }
}
"""


def gemv_loops(out, A, x):
    for i in range(A.shape[0]):
        s = 0.0
        for j in range(A.shape[1]):
            s += A[i, j] * x[j]
        out[i] = s


GEMVT = """
kernel gemvt(out: T[N], A: T[M, N], x: T[M]) {
    for j in 0:N {
        s = 0.0
        for i in 0:M { s += A[i, j] * x[i] }
        out[j] = s
    }
}
"""


def gemvt_loops(out, A, x):
    for j in range(A.shape[1]):
        s = 0.0
        for i in range(A.shape[0]):
            s += A[i, j] * x[i]
        out[j] = s


DOT3 = """
kernel dot3(out: T[1], x: T[M], A: T[M, N], y: T[N]) {
    s = 0.0
    for i in 0:M {
        t = 0.0
        for j in 0:N { t += A[i, j] * y[j] }
        s += x[i] * t
    }
    out[0] = s
}
"""


def dot3_loops(out, x, A, y):
    s = 0.0
    for i in range(A.shape[0]):
        t = 0.0
        for j in range(A.shape[1]):
            t += A[i, j] * y[j]
        s += x[i] * t
    out[0] = s


SSE = """
kernel sse(out: T[1], y: T[M], X: T[M, N], beta: T[N]) {
    s = 0.0
    for i in 0:M {
        r = y[i]
        for j in 0:N { r -= X[i, j] * beta[j] }
        s += r * r
    }
    out[0] = s
}
"""


def sse_loops(out, y, X, beta):
    s = 0.0
    for i in range(X.shape[0]):
        r = y[i]
        for j in range(X.shape[1]):
            r -= X[i, j] * beta[j]
        s += r * r
    out[0] = s


APLUSBC = """
kernel aplusbc(out: T[M, N], a: T[M], B: T[M, N], c: T[N]) {
    for i in 0:M, j in 0:N { out[i, j] = a[i] + B[i, j] * c[j] }
}
"""


def aplusbc_loops(out, a, B, c):
    for i in range(B.shape[0]):
        for j in range(B.shape[1]):
            out[i, j] = a[i] + B[i, j] * c[j]


APLUSAT = """
kernel aplusat(out: T[N, N], A: T[N, N]) {
    for i in 0:N, j in 0:N { out[i, j] = A[i, j] + A[j, i] }
}
"""


def aplusat_loops(out, A):
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            out[i, j] = A[i, j] + A[j, i]


TRSV = """
kernel trsv(out: T[N], L: T[N, N], b: T[N]) {
    for i in 0:N {
        s = b[i]
        for j in 0:i { s -= L[i, j] * out[j] }
        out[i] = s / L[i, i]
    }
}
"""


def trsv_loops(out, L, b):
    for i in range(L.shape[0]):
        s = b[i]
        for j in range(i):
            s -= L[i, j] * out[j]
        out[i] = s / L[i, i]


LOGDET = """
kernel logdettriangle(out: T[1], A: T[N, N]) {
    s = 0.0
    for i in 0:N { s += log(A[i, i]) }
    out[0] = s
}
"""


def logdet_loops(out, A):
    s = 0.0
    for i in range(A.shape[0]):
        s += np.log(A[i, i])
    out[0] = s


# the first element above a threshold: a loop left by a break (a search); the
# match is 3 elements before the end
FIND = """
kernel find(out: T[1], x: T[N]) {
    r = -1
    for i in 0:N {
        if x[i] > 50.0 {
            r = i
            break
        }
    }
    out[0] = r
}
"""


def find_loops(out, x):
    r = -1
    for i in range(x.shape[0]):
        if x[i] > 50.0:
            r = i
            break
    out[0] = r


def _find_setup(rng, n, dt):
    x = _vec(rng, n, dt)
    x[max(n - 3, 0)] = 100.0  # the match near the end: the loop scans the whole array
    return {"out": np.zeros(1, dt), "x": x}


# a reduction over a whole matrix, row by row
MSUM = """
kernel msum(out: T[1], A: T[M, N]) {
    s = 0.0
    for i in 0:M, j in 0:N { s += A[i, j] }
    out[0] = s
}
"""


def msum_loops(out, A):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += A[i, j]
    out[0] = s


LOGSUMEXP = """
kernel logsumexp(out: T[N], A: T[M, N]) {
    for j in 0:N {
        m = -inf
        for i in 0:M { m = max(m, A[i, j]) }
        s = 0.0
        for i in 0:M { s += exp(A[i, j] - m) }
        out[j] = m + log(s)
    }
}
"""


def logsumexp_loops(out, A):
    for j in range(A.shape[1]):
        m = -np.inf
        for i in range(A.shape[0]):
            m = max(m, A[i, j])
        s = 0.0
        for i in range(A.shape[0]):
            s += np.exp(A[i, j] - m)
        out[j] = m + np.log(s)


# ----------------------------------------------------------------------------- BLAS 3


def _gemm_source(name: str, a_idx: str, b_idx: str, a_shape: str, b_shape: str) -> str:
    return f"""
kernel {name}(out: T[M, N], A: T[{a_shape}], B: T[{b_shape}]) {{
    for m in 0:M, n in 0:N {{
        acc = 0.0
        for k in 0:K {{ acc += A[{a_idx}] * B[{b_idx}] }}
        out[m, n] = acc
    }}
}}
"""


def gemm_ab_loops(out, A, B):
    for m in range(out.shape[0]):
        for n in range(out.shape[1]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[m, k] * B[k, n]
            out[m, n] = acc


def gemm_atb_loops(out, A, B):
    for m in range(out.shape[0]):
        for n in range(out.shape[1]):
            acc = 0.0
            for k in range(A.shape[0]):
                acc += A[k, m] * B[k, n]
            out[m, n] = acc


def gemm_abt_loops(out, A, B):
    for m in range(out.shape[0]):
        for n in range(out.shape[1]):
            acc = 0.0
            for k in range(A.shape[1]):
                acc += A[m, k] * B[n, k]
            out[m, n] = acc


def gemm_atbt_loops(out, A, B):
    for m in range(out.shape[0]):
        for n in range(out.shape[1]):
            acc = 0.0
            for k in range(A.shape[0]):
                acc += A[k, m] * B[n, k]
            out[m, n] = acc


FILTER = """
kernel filter(out: T[M2, N2], img: T[M, N], k: T[R, R]) {
    for i in 0:M - R + 1, j in 0:N - R + 1 {
        s = 0.0
        for di in 0:R, dj in 0:R { s += img[i + di, j + dj] * k[di, dj] }
        out[i, j] = s
    }
}
"""


def filter_loops(out, img, k):
    r = k.shape[0]
    for i in range(img.shape[0] - r + 1):
        for j in range(img.shape[1] - r + 1):
            s = 0.0
            for di in range(r):
                for dj in range(r):
                    s += img[i + di, j + dj] * k[di, dj]
            out[i, j] = s


# the same filters with the tap counts written as literals: the taps are unrolled fully
FILTER3 = FILTER.replace("R", "3")
FILTER5 = FILTER.replace("R", "5")


def filter3_loops(out, img, k):
    for i in range(img.shape[0] - 2):
        for j in range(img.shape[1] - 2):
            s = 0.0
            for di in range(3):
                for dj in range(3):
                    s += img[i + di, j + dj] * k[di, dj]
            out[i, j] = s


def filter5_loops(out, img, k):
    for i in range(img.shape[0] - 4):
        for j in range(img.shape[1] - 4):
            s = 0.0
            for di in range(5):
                for dj in range(5):
                    s += img[i + di, j + dj] * k[di, dj]
            out[i, j] = s


def _np_filter(img, k):
    r = k.shape[0]
    win = np.lib.stride_tricks.sliding_window_view(img, (r, r))
    return np.einsum("ijab,ab->ij", win, k)


DENSE = """
kernel dense(out: T[M, B], W: T[M, K], X: T[K, B], b: T[M]) {
    for m in 0:M, j in 0:B {
        z = b[m]
        for k in 0:K { z += W[m, k] * X[k, j] }
        out[m, j] = tanh(z)
    }
}
"""


def dense_loops(out, W, X, b):
    for m in range(W.shape[0]):
        for j in range(X.shape[1]):
            z = b[m]
            for k in range(W.shape[1]):
                z += W[m, k] * X[k, j]
            out[m, j] = np.tanh(z)


TOUCH = """
kernel touch(out: T[N], a: T[N], b: T[N]) {
    out[0] = a[0] + b[0]
}
"""


def touch_loops(out, a, b):
    out[0] = a[0] + b[0]


# ----------------------------------------------------------------------------- registry


# the other way a naive gemm is written: updated in place, k between m and n
GEMM_IKJ = """
kernel gemm_ikj(out: T[M, N], A: T[M, K], B: T[K, N]) {
    for m in 0:M, k in 0:K, n in 0:N { out[m, n] += A[m, k] * B[k, n] }
}
"""


def gemm_ikj_loops(out, A, B):
    for m in range(out.shape[0]):
        for k in range(A.shape[1]):
            for n in range(out.shape[1]):
                out[m, n] += A[m, k] * B[k, n]


def _gemm(name, a_shape, b_shape, a_idx, b_idx, loops, np_fn, torch_fn):
    """A gemm written with an accumulator, A and B in the orientations given."""
    source = _gemm_source(name, a_idx, b_idx, {"MK": "M, K", "KM": "K, M"}[a_shape], {"KN": "K, N", "NK": "N, K"}[b_shape])
    return _gemm_kernel(name, source, loops, np_fn, torch_fn)


def _gemm_kernel(name, source, loops, np_fn, torch_fn):
    return Kernel(
        name=name, family="BLAS3", source=source,
        setup=lambda rng, n, dt: {
            "out": np.zeros((n, n), dt),
            "A": _mat(rng, (n, n), dt),
            "B": _mat(rng, (n, n), dt),
        },
        args=("out", "A", "B"),
        reference=lambda d: np_fn(d["A"].astype(np.float64), d["B"].astype(np.float64)),
        numpy=lambda d: (lambda: np.matmul(*_np_operands(np_fn, d), out=d["_np_out"])),
        work=lambda n: 2.0 * n**3,
        loops=loops,
        torch=lambda d, torch: _torch_mm(d, torch, torch_fn),
    )


def _filter(name, source, r, loops):
    """A filter of r x r taps over an (n + r - 1)-square image: n x n outputs."""
    return Kernel(name, "other", source,
                  lambda rng, n, dt: {"out": np.zeros((n, n), dt), "img": _mat(rng, (n + r - 1, n + r - 1), dt),
                                      "k": _mat(rng, (r, r), dt)},
                  ("out", "img", "k"),
                  lambda d: _np_filter(d["img"].astype(np.float64), d["k"].astype(np.float64)),
                  lambda d: (lambda: _np_filter(d["img"], d["k"])),
                  lambda n: 2.0 * r * r * n * n, loops=loops)


def _np_operands(np_fn, d):
    return np_fn(d["A"], d["B"], operands=True)


def _torch_mm(d, torch, torch_fn):
    a, b = torch.from_numpy(d["A"]), torch.from_numpy(d["B"])
    out = torch.empty(d["out"].shape, dtype=a.dtype)
    x, y = torch_fn(a, b)
    return lambda: torch.mm(x, y, out=out)


def _ab(A, B, operands=False):
    return (A, B) if operands else A @ B


def _atb(A, B, operands=False):
    return (A.T, B) if operands else A.T @ B


def _abt(A, B, operands=False):
    return (A, B.T) if operands else A @ B.T


def _atbt(A, B, operands=False):
    return (A.T, B.T) if operands else A.T @ B.T


def _sse_setup(rng, n, dt):
    m, k = max(3 * n // 2, 1), max(n // 2, 1)
    return {"out": np.zeros(1, dt), "y": _vec(rng, m, dt), "X": _mat(rng, (m, k), dt), "beta": _vec(rng, k, dt)}


def _sse_numpy(d):
    y, X, beta = d["y"], d["X"], d["beta"]

    def run():
        r = y - X @ beta
        return r @ r

    return run


def _trsv_setup(rng, n, dt):
    L = np.tril(rng.random((n, n))) + n * np.eye(n)
    return {"out": np.zeros(n, dt), "L": L.astype(dt), "b": rng.random(n).astype(dt)}


def _lse_numpy(d):
    A = d["A"]

    def run():
        m = A.max(axis=0)
        return m + np.log(np.exp(A - m).sum(axis=0))

    return run


def _lse_ref(d):
    A = d["A"].astype(np.float64)
    m = A.max(axis=0)
    return m + np.log(np.exp(A - m).sum(axis=0))


KERNELS: list[Kernel] = [
    Kernel("dot", "BLAS1", DOT,
           lambda rng, n, dt: {"out": np.zeros(1, dt), "x": _vec(rng, n, dt), "y": _vec(rng, n, dt)},
           ("out", "x", "y"),
           lambda d: np.array([d["x"].astype(np.float64) @ d["y"].astype(np.float64)]),
           lambda d: (lambda: np.dot(d["x"], d["y"])),
           lambda n: 2.0 * n, loops=dot_loops,
           torch=lambda d, torch: (lambda x, y: (lambda: torch.dot(x, y)))(torch.from_numpy(d["x"]), torch.from_numpy(d["y"])),
           max_n=1024),
    Kernel("selfdot", "BLAS1", SELFDOT,
           lambda rng, n, dt: {"out": np.zeros(1, dt), "x": _vec(rng, n, dt)},
           ("out", "x"),
           lambda d: np.array([d["x"].astype(np.float64) @ d["x"].astype(np.float64)]),
           lambda d: (lambda: np.dot(d["x"], d["x"])),
           lambda n: 2.0 * n, loops=selfdot_loops,
           torch=lambda d, torch: (lambda x: (lambda: torch.dot(x, x)))(torch.from_numpy(d["x"])),
           max_n=1024),
    Kernel("exp", "BLAS1", EXP,
           lambda rng, n, dt: {"out": np.zeros(n, dt), "x": _vec(rng, n, dt)},
           ("out", "x"),
           lambda d: np.exp(d["x"].astype(np.float64)),
           lambda d: (lambda: np.exp(d["x"], out=d["_np_out"])),
           lambda n: float(n), unit="elem", loops=exp_loops,
           torch=lambda d, torch: (lambda x, o: (lambda: torch.exp(x, out=o)))(torch.from_numpy(d["x"]), torch.empty(len(d["x"]), dtype=torch.from_numpy(d["x"]).dtype)),
           max_n=1024),
    Kernel("sin", "BLAS1", SIN,
           lambda rng, n, dt: {"out": np.zeros(n, dt), "x": (_vec(rng, n, dt) * 10).astype(dt)},
           ("out", "x"),
           lambda d: np.sin(d["x"].astype(np.float64)),
           lambda d: (lambda: np.sin(d["x"], out=d["_np_out"])),
           lambda n: float(n), unit="elem", loops=sin_loops,
           torch=lambda d, torch: (lambda x, o: (lambda: torch.sin(x, out=o)))(torch.from_numpy(d["x"]), torch.empty(len(d["x"]), dtype=torch.from_numpy(d["x"]).dtype)),
           max_n=1024),
    Kernel("pow", "BLAS1", POW,
           lambda rng, n, dt: {"out": np.zeros(n, dt), "x": (np.abs(_vec(rng, n, dt)) * 4 + 0.01).astype(dt), "y": (_vec(rng, n, dt) * 3).astype(dt)},
           ("out", "x", "y"),
           lambda d: np.power(d["x"].astype(np.float64), d["y"].astype(np.float64)),
           lambda d: (lambda: np.power(d["x"], d["y"], out=d["_np_out"])),
           lambda n: float(n), unit="elem", loops=pow_loops,
           torch=lambda d, torch: (lambda x, y, o: (lambda: torch.pow(x, y, out=o)))(torch.from_numpy(d["x"]), torch.from_numpy(d["y"]), torch.empty(len(d["x"]), dtype=torch.from_numpy(d["x"]).dtype)),
           max_n=1024),
    Kernel("gemv", "BLAS2", GEMV,
           lambda rng, n, dt: {"out": np.zeros(n, dt), "A": _mat(rng, (n, n), dt), "x": _vec(rng, n, dt)},
           ("out", "A", "x"),
           lambda d: d["A"].astype(np.float64) @ d["x"].astype(np.float64),
           lambda d: (lambda: np.matmul(d["A"], d["x"], out=d["_np_out"])),
           lambda n: 2.0 * n * n, loops=gemv_loops,
           torch=lambda d, torch: (lambda A, x: (lambda: torch.mv(A, x)))(torch.from_numpy(d["A"]), torch.from_numpy(d["x"]))),
    Kernel("gemvt", "BLAS2", GEMVT,
           lambda rng, n, dt: {"out": np.zeros(n, dt), "A": _mat(rng, (n, n), dt), "x": _vec(rng, n, dt)},
           ("out", "A", "x"),
           lambda d: d["A"].astype(np.float64).T @ d["x"].astype(np.float64),
           lambda d: (lambda: np.matmul(d["A"].T, d["x"], out=d["_np_out"])),
           lambda n: 2.0 * n * n, loops=gemvt_loops,
           torch=lambda d, torch: (lambda A, x: (lambda: torch.mv(A.t(), x)))(torch.from_numpy(d["A"]), torch.from_numpy(d["x"]))),
    Kernel("dot3", "BLAS2", DOT3,
           lambda rng, n, dt: {"out": np.zeros(1, dt), "x": _vec(rng, n, dt), "A": _mat(rng, (n, n), dt), "y": _vec(rng, n, dt)},
           ("out", "x", "A", "y"),
           lambda d: np.array([d["x"].astype(np.float64) @ d["A"].astype(np.float64) @ d["y"].astype(np.float64)]),
           lambda d: (lambda: d["x"] @ (d["A"] @ d["y"])),
           lambda n: 2.0 * n * n + 2.0 * n, loops=dot3_loops),
    Kernel("sse", "BLAS2", SSE, _sse_setup, ("out", "y", "X", "beta"),
           lambda d: np.array([np.sum((d["y"].astype(np.float64) - d["X"].astype(np.float64) @ d["beta"].astype(np.float64)) ** 2)]),
           _sse_numpy,
           lambda n: 2.0 * max(3 * n // 2, 1) * max(n // 2, 1) + 2.0 * max(3 * n // 2, 1), loops=sse_loops),
    Kernel("aplusBc", "BLAS2", APLUSBC,
           lambda rng, n, dt: {"out": np.zeros((n, n), dt), "a": _vec(rng, n, dt), "B": _mat(rng, (n, n), dt), "c": _vec(rng, n, dt)},
           ("out", "a", "B", "c"),
           lambda d: d["a"].astype(np.float64)[:, None] + d["B"].astype(np.float64) * d["c"].astype(np.float64)[None, :],
           lambda d: (lambda: np.add(d["a"][:, None], d["B"] * d["c"][None, :], out=d["_np_out"])),
           lambda n: 2.0 * n * n, loops=aplusbc_loops),
    Kernel("AplusAt", "BLAS2", APLUSAT,
           lambda rng, n, dt: {"out": np.zeros((n, n), dt), "A": _mat(rng, (n, n), dt)},
           ("out", "A"),
           lambda d: d["A"].astype(np.float64) + d["A"].astype(np.float64).T,
           lambda d: (lambda: np.add(d["A"], d["A"].T, out=d["_np_out"])),
           lambda n: float(n * n), loops=aplusat_loops,
           torch=lambda d, torch: (lambda A: (lambda: torch.add(A, A.t())))(torch.from_numpy(d["A"]))),
    Kernel("trsv", "BLAS2", TRSV, _trsv_setup, ("out", "L", "b"),
           lambda d: np.linalg.solve(d["L"].astype(np.float64), d["b"].astype(np.float64)),
           lambda d: (lambda: _np_trsv(d["L"], d["b"])),
           lambda n: float(n * n), loops=trsv_loops, tags=("triangular",)),
    Kernel("logdettriangle", "other", LOGDET,
           lambda rng, n, dt: {"out": np.zeros(1, dt), "A": (np.abs(_mat(rng, (n, n), dt)) + 1).astype(dt)},
           ("out", "A"),
           lambda d: np.array([np.sum(np.log(np.diag(d["A"]).astype(np.float64)))]),
           lambda d: (lambda: np.sum(np.log(np.diag(d["A"])))),
           lambda n: float(n), unit="elem", loops=logdet_loops),
    Kernel("find", "other", FIND, _find_setup, ("out", "x"),
           lambda d: np.array([float(np.argmax(d["x"] > 50.0))]),
           lambda d: (lambda: np.argmax(d["x"] > 50.0)),
           lambda n: float(n), unit="elem", loops=find_loops, max_n=1024),
    Kernel("msum", "other", MSUM,
           lambda rng, n, dt: {"out": np.zeros(1, dt), "A": _mat(rng, (n, n), dt)},
           ("out", "A"),
           lambda d: np.array([np.sum(d["A"].astype(np.float64))]),
           lambda d: (lambda: np.sum(d["A"])),
           lambda n: float(n * n), unit="elem", loops=msum_loops,
           torch=lambda d, torch: (lambda A: (lambda: torch.sum(A)))(torch.from_numpy(d["A"]))),
    Kernel("logsumexp", "other", LOGSUMEXP,
           lambda rng, n, dt: {"out": np.zeros(n, dt), "A": _mat(rng, (n, n), dt)},
           ("out", "A"), _lse_ref, _lse_numpy,
           lambda n: float(n * n), unit="elem", loops=logsumexp_loops,
           torch=lambda d, torch: (lambda A: (lambda: torch.logsumexp(A, dim=0)))(torch.from_numpy(d["A"]))),
    _gemm("gemm_AB", "MK", "KN", "m, k", "k, n", gemm_ab_loops, _ab, lambda a, b: (a, b)),
    _gemm("gemm_AtB", "KM", "KN", "k, m", "k, n", gemm_atb_loops, _atb, lambda a, b: (a.t(), b)),
    _gemm("gemm_ABt", "MK", "NK", "m, k", "n, k", gemm_abt_loops, _abt, lambda a, b: (a, b.t())),
    _gemm("gemm_AtBt", "KM", "NK", "k, m", "n, k", gemm_atbt_loops, _atbt, lambda a, b: (a.t(), b.t())),
    # out += A B from zeros: checked against A B; NumPy and PyTorch compute A B
    _gemm_kernel("gemm_ikj", GEMM_IKJ, gemm_ikj_loops, _ab, lambda a, b: (a, b)),
    _filter("filter2d_3x3", FILTER, 3, filter_loops),
    _filter("filter2d_5x5", FILTER, 5, filter_loops),
    _filter("filter3x3_lit", FILTER3, 3, filter3_loops),
    _filter("filter5x5_lit", FILTER5, 5, filter5_loops),
    Kernel("dense_tanh", "other", DENSE,
           lambda rng, n, dt: {"out": np.zeros((n, n), dt), "W": (_mat(rng, (n, n), dt) / np.sqrt(n)).astype(dt), "X": _mat(rng, (n, n), dt), "b": _vec(rng, n, dt)},
           ("out", "W", "X", "b"),
           lambda d: np.tanh(d["W"].astype(np.float64) @ d["X"].astype(np.float64) + d["b"].astype(np.float64)[:, None]),
           lambda d: (lambda: np.tanh(np.add(d["W"] @ d["X"], d["b"][:, None]))),
           lambda n: 2.0 * n**3, loops=dense_loops,
           torch=lambda d, torch: (lambda W, X, b: (lambda: torch.tanh(torch.addmm(b[:, None], W, X))))(
               torch.from_numpy(d["W"]), torch.from_numpy(d["X"]), torch.from_numpy(d["b"]))),
    Kernel("call_overhead", "overhead", TOUCH,
           lambda rng, n, dt: {"out": np.zeros(4, dt), "a": _vec(rng, 4, dt), "b": _vec(rng, 4, dt)},
           ("out", "a", "b"),
           lambda d: np.concatenate([[d["a"][0].astype(np.float64) + d["b"][0]], d["out"][1:].astype(np.float64)]),
           lambda d: (lambda: np.add(d["a"], d["b"], out=d["_np_out"])),
           lambda n: 0.0, unit="call", loops=touch_loops, min_n=4, max_n=4),
]


def _np_trsv(L, b):
    # NumPy has no triangular solve of its own; scipy's solve_triangular is the
    # natural peer but not a dependency, so the general solver stands in
    return np.linalg.solve(L, b)


def by_name() -> dict[str, Kernel]:
    return {k.name: k for k in KERNELS}
