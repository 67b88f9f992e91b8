"""Arrays whose rows a loop inside the vector loop walks, read from a copy with
rows aligned to cache lines (``RegionPlan.aligned``, codegen/vector.py
``align_rows``): which plans name them, and that the code computes what the
interpreter (or NumPy, at sizes where the copy is made) does, whether the block
is copied or read in place, and for blocks of larger arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import turbo
from turbo.passes import analysis

from helpers import AVX2, AVX512, DTYPES, assert_same, values
from helpers import regions as plans_of


SOURCE = """
kernel ab(C: T[M, N], A: T[M, K], B: T[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
kernel atb(C: T[M, N], A: T[K, M], B: T[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0
        for k in 0:K { acc += A[k, m] * B[k, n] }
        C[m, n] = acc
    }
}
kernel shifted(C: T[M, N], A: T[M, K], B: T[R, S]) {
    for m in 0:M, n in 2:N - 1 {
        acc = 0
        for k in 3:K { acc += A[m, k] * (B[k - 1, n + 1] + B[k, n - 1]) }
        C[m, n] = acc
    }
}
kernel colsum(out: T[N], A: T[M, N]) {
    for j in 0:N {
        s = 0
        for i in 0:M { s += A[i, j] }
        out[j] = s
    }
}
kernel written(C: T[M, N], A: T[M, K], B: T[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
    B[0, 0] = 0
}
kernel par(C: T[M, N], A: T[M, K], B: T[K, N]) {
    parallel for m in 0:M {
        for n in 0:N {
            acc = 0
            for k in 0:K { acc += A[m, k] * B[k, n] }
            C[m, n] = acc
        }
    }
}
"""

_mods: dict = {}


def module(dt: str, tag: str = ""):
    """The kernels for element type ``dt``; ``tag`` renames them, so that a
    module compiled with another ALIGN_COPY_BYTES has code of its own."""
    key = dt, tag
    if key not in _mods:
        src = SOURCE.replace("T[", f"{dt}[")
        if dt.startswith("f"):
            src = src.replace("= 0\n", "= 0.0\n")
        for name in ("ab", "atb", "shifted", "colsum", "written", "par"):
            src = src.replace(f"kernel {name}(", f"kernel {name}{tag}(")
        _mods[key] = turbo.compile(src, "aligned.loop")
    return _mods[key]


def regions(name, dt="f32", target=AVX2, may_alias=False):
    return plans_of(module(dt)[name], target, may_alias)


def placed(dt, rows, cols, offset, pad, rng):
    """A rows x cols array whose first element lies ``offset`` bytes past a
    64-byte line, its rows ``cols + pad`` elements apart (a view of a wider one)."""
    t = np.dtype(DTYPES[dt])
    ld = cols + pad
    raw = np.zeros(rows * ld + 64, t)
    first = ((-raw.ctypes.data) % 64 + offset) // t.itemsize
    out = raw[first:first + rows * ld].reshape(rows, ld)[:, :cols]
    out[...] = values(dt, rows, cols, rng=rng)
    assert out.ctypes.data % 64 == offset
    return out


# ----------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("target", [AVX2, AVX512], ids=["avx2", "avx512"])
@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_gemm_reads_the_rows_k_walks_from_aligned_copies(target, dt):
    """AB: k walks B's rows (A[m, k] moves along a row: not copied); AᵀB: k walks
    the rows of both."""
    (p,) = regions("ab", dt, target)
    assert p.vector == "n" and p.factor("m") > 1 and p.aligned == (("B", "k"),)
    (p,) = regions("atb", dt, target)
    assert p.vector == "n" and p.factor("m") > 1 and p.aligned == (("A", "k"), ("B", "k"))


def test_explain_names_the_copies():
    z = [np.zeros((8, 8), np.float32) for _ in range(3)]
    assert "read A, B from a copy with aligned rows where they span 128 KB or more" in module("f32").atb.explain(*z)


def test_what_is_not_copied():
    """An array read once (a column sum reads each element once: copying it is
    one more pass); an array the kernel writes; arrays that may overlap; a
    non-contiguous one (the variant reads it through its strides)."""
    assert all(not p.aligned for p in regions("colsum"))
    assert all("B" not in dict(p.aligned) for p in regions("written"))
    assert all(not p.aligned for p in regions("ab", may_alias=True))
    from turbo.codegen.abi import Variant
    from turbo.passes import schedule as S

    kernel = module("f32").ab
    ctx = S.Context.of(kernel.ir)
    site = next(S._nests(kernel.ir.body))
    strided_b = S.decide(ctx, site, Variant((True, True, False), False, None), AVX2, S.Options())
    assert not strided_b.chosen.plan.aligned


# ----------------------------------------------------------------------------- results


def _numpy_gemm(A, B):
    return (A.astype(np.float64) @ B.astype(np.float64))


def _close(got, want, dt):
    if dt.startswith("i"):
        np.testing.assert_array_equal(got, want.astype(got.dtype))
    else:
        tol = 1e-4 if dt == "f32" else 1e-10
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("dt", list(DTYPES))
@pytest.mark.parametrize("offset", [0, 8, 16])
@pytest.mark.parametrize("lines", [9, "150 elements"])
def test_gemm_above_the_threshold(dt, offset, lines):
    """B of 260 rows (152 KB of f32 at 150 columns) is past ALIGN_COPY_BYTES:
    copied, unless its rows start on a line and take an odd number of lines (9
    lines, offset 0), when it is read in place; results equal NumPy's either way."""
    rng = np.random.default_rng(3)
    line = 64 // np.dtype(DTYPES[dt]).itemsize
    M, K, N = 7, 260, 9 * line if lines == 9 else 150
    A = values(dt, M, K, rng=rng)
    B = placed(dt, K, N, offset, 0, rng)
    m = module(dt)
    for _ in range(2):  # the buffer is freed and made again
        C = np.zeros((M, N), DTYPES[dt])
        m.ab(C, A, B)
        _close(C, _numpy_gemm(A, B), dt)
    At = placed(dt, K, M + 40, offset, 0, rng)
    C = np.zeros((M + 40, N), DTYPES[dt])
    m.atb(C, At, B)
    _close(C, _numpy_gemm(At.T, B), dt)


def test_a_view_with_padded_rows():
    """A view of the first columns of a wider array is not contiguous: the
    kernel's strided variant reads it where it lies (no copy)."""
    rng = np.random.default_rng(4)
    m = module("f32")
    B = placed("f32", 130, 150, 16, 10, rng)
    A = rng.standard_normal((5, 130)).astype(np.float32)
    C = np.zeros((5, 150), np.float32)
    m.ab(C, A, B)
    _close(C, _numpy_gemm(A, B), "f32")


@pytest.fixture
def copy_everything(monkeypatch):
    """Every block copied, however small (kernels compiled under it are renamed)."""
    monkeypatch.setattr(analysis, "ALIGN_COPY_BYTES", 0)


@pytest.mark.parametrize("dt", ["f32", "f64", "i64"])
def test_copies_of_small_blocks_match_the_interpreter(dt, copy_everything):
    """With the threshold at 0 every region copies, at sizes around the vector
    width and the tile: leftover rows and columns, empty blocks."""
    m = module(dt, "_copied")
    rng = np.random.default_rng(11)
    for M, N, K in [(0, 3, 5), (1, 1, 1), (3, 7, 9), (7, 8, 8), (6, 17, 15), (13, 16, 33), (5, 33, 0)]:
        assert_same(m.ab_copied, np.zeros((M, N), DTYPES[dt]), values(dt, M, K, rng=rng), values(dt, K, N, rng=rng))
        assert_same(m.atb_copied, np.zeros((M, N), DTYPES[dt]), values(dt, K, M, rng=rng), values(dt, K, N, rng=rng))


@pytest.mark.parametrize("shape", [(5, 9, 11, 12, 14), (9, 20, 19, 24, 21), (3, 2, 3, 4, 4), (4, 17, 2, 20, 9)])
def test_a_block_of_a_larger_array(shape, copy_everything):
    """Reads B[k - 1, n + 1] and B[k, n - 1] over k in 3 .. K, n in 2 .. N - 1:
    the copy holds rows 2 .. K - 1 and columns 1 .. N - 1 of a larger B only."""
    M, N, K, R, S_ = shape
    (p,) = regions("shifted")
    assert p.aligned == (("B", "k"),)
    rng = np.random.default_rng(sum(shape))
    m = module("f32", "_copied")
    assert_same(m.shifted_copied, np.zeros((M, N), np.float32), values("f32", M, K, rng=rng),
                values("f32", R, S_, rng=rng))


def test_parallel_chunks_each_copy(copy_everything):
    rng = np.random.default_rng(8)
    m = module("f32", "_copied")
    for M, N, K in ((0, 4, 4), (2, 9, 9), (37, 21, 18)):
        assert_same(m.par_copied, np.zeros((M, N), np.float32), values("f32", M, K, rng=rng),
                    values("f32", K, N, rng=rng))


def test_parallel_above_the_threshold():
    rng = np.random.default_rng(9)
    m = module("f64")
    A, B = values("f64", 64, 200, rng=rng), values("f64", 200, 96, rng=rng)  # B: 150 KB
    C = np.zeros((64, 96))
    m.par(C, A, B)
    _close(C, _numpy_gemm(A, B), "f64")


def test_every_offset_and_row_length_near_a_line():
    """Rows of 15..17 lines and first elements 0..56 bytes past a line, f64
    (150 rows: 140-160 KB): the test for 'already placed' and the copy's row
    length."""
    rng = np.random.default_rng(12)
    m = module("f64")
    for cols, offset in itertools.product((119, 120, 121, 128, 136), (0, 8, 24, 56)):
        A = values("f64", 3, 150, rng=rng)
        B = placed("f64", 150, cols, offset, 0, rng)
        C = np.zeros((3, cols))
        m.ab(C, A, B)
        _close(C, _numpy_gemm(A, B), "f64")
