"""Arrays read from a copy transposed before the nest (``RegionPlan.packed``):
which plans get one, and that every such plan computes what the interpreter
does, over the copy's whole blocks and leftover rows and columns, its stack and
heap buffers, strided and partial reads."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo.codegen.abi import Variant
from turbo.passes import schedule as S

from helpers import AVX2, AVX512, DTYPES, assert_same, values
from helpers import regions as plans_of
from pyloops import gemm


SOURCE = """
kernel abt(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = 0
        for k in 0:K { acc += A[m, k] * B[n, k] }
        C[m, n] = acc
    }
}
kernel shifted(C: T[M, N], A: T[M, K], B: T[R, S]) {
    for m in 0:M, n in 1:N - 1 {
        acc = 0
        for k in 2:K { acc += A[m, k] * (B[n + 1, k - 2] + B[n - 1, k]) }
        C[m, n] = acc
    }
}
kernel rowscan(out: T[M, N], A: T[M, N]) {
    for i in 0:M {
        s = 0
        for j in 0:N {
            s += A[i, j]
            out[i, j] = s
        }
    }
}
kernel written(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = 0
        for k in 0:K { acc += A[m, k] * B[n, k] }
        C[m, n] = acc
    }
    B[0, 0] = 0
}
kernel lower(C: T[N, N], A: T[N, K], B: T[N, K]) {
    for m in 0:N, n in 0:m + 1 {
        acc = 0
        for k in 0:K { acc += A[m, k] * B[n, k] }
        C[m, n] = acc
    }
}
kernel par(C: T[M, N], A: T[M, K], B: T[N, K]) {
    parallel for m in 0:M {
        for n in 0:N {
            acc = 0
            for k in 0:K { acc += A[m, k] * B[n, k] }
            C[m, n] = acc
        }
    }
}
"""

_mods: dict = {}


def module(dt: str):
    if dt not in _mods:
        src = SOURCE.replace("T[", f"{dt}[")
        if dt.startswith("f"):
            src = src.replace("= 0\n", "= 0.0\n")
        _mods[dt] = turbo.compile(src, "packing.loop")
    return _mods[dt]


def regions(name, dt="f32", target=AVX2, may_alias=False):
    return plans_of(module(dt)[name], target, may_alias)


# ----------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("target", [AVX2, AVX512], ids=["avx2", "avx512"])
@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_abt_reads_b_from_a_transposed_copy(target, dt):
    (p,) = regions("abt", dt, target)
    assert p.vector == "n" and p.packed == ("B",) and p.factor("m") > 1


def test_explain_names_the_copy():
    z = [np.zeros((8, 8), np.float32) for _ in range(3)]
    assert "read B from a transposed copy" in module("f32").abt.explain(*z)


def test_an_array_read_once_is_not_copied():
    """A prefix sum across rows reads each element of A once: copying it would
    read and write A once more, and the stores stay scattered."""
    assert all(not p.packed for p in regions("rowscan"))


def test_what_is_not_copied():
    # an array the kernel writes (A, read along m and not written, is copied in
    # the order the model prefers); arrays that may overlap; reads whose block
    # changes with an enclosing loop of the region (n's bound follows m)
    assert all("B" not in p.packed for p in regions("written"))
    assert all(not p.packed for p in regions("abt", may_alias=True))
    assert all(not p.packed for p in regions("lower"))


def test_the_copy_is_priced():
    """The cost model charges the copy: at the assumed sizes (128 x 128 f32 on
    AVX2) the plan with it costs more than the same plan's loops alone would if
    B were already transposed, by about the copy's stores and shuffles."""
    kernel = module("f32").abt
    variant = Variant((True,) * 3, False, None)
    ctx = S.Context.of(kernel.ir)
    site = next(S._nests(kernel.ir.body))
    d = S.decide(ctx, site, variant, AVX2, S.Options())
    plan = d.chosen.plan
    facts = S._Facts(ctx, variant)
    model = S._Model(ctx, plan, AVX2, S.Options(), facts)
    copy = model.packing(site.loop, "B", set())
    # 3 shuffles a vector (log2(8), on the fp unit); 64 KB: past the stack buffer
    assert copy == pytest.approx(128 * 128 / 8 * 3 + AVX2.cost("heap_alloc").rthroughput)
    assert d.chosen.estimate.cycles > copy


# ----------------------------------------------------------------------------- results


SIZES = [(0, 3, 5), (1, 1, 1), (3, 7, 9), (9, 8, 8), (6, 17, 15), (13, 16, 33), (7, 33, 16)]


@pytest.mark.parametrize("dt", list(DTYPES))
@pytest.mark.parametrize("mnk", SIZES)
def test_abt_matches_interpreter(dt, mnk):
    M, N, K = mnk
    rng = np.random.default_rng(sum(mnk))
    m = module(dt)
    assert_same(m.abt, np.zeros((M, N), DTYPES[dt]), values(dt, M, K, rng=rng), values(dt, N, K, rng=rng))


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_strided_and_transposed_views(dt):
    rng = np.random.default_rng(5)
    m = module(dt)
    A = values(dt, 11, 19, rng=rng)
    B2 = values(dt, 2 * 13, 19, rng=rng)[::2]  # every other row: strided rows, contiguous along k
    Bt = np.asfortranarray(values(dt, 13, 19, rng=rng))  # B's columns contiguous: copied element by element
    for B in (B2, Bt, values(dt, 19, 13, rng=rng).T):
        assert_same(m.abt, np.zeros((11, 13), DTYPES[dt]), A, B)


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_a_copy_larger_than_the_stack_buffer(dt):
    """100 x 100 f32 (40 KB, its rows padded to an odd number of lines) is past
    the 32 KB stack buffer: the copy is allocated and freed on every call."""
    rng = np.random.default_rng(6)
    m = module(dt)
    for _ in range(3):
        assert_same(m.abt, np.zeros((9, 100), DTYPES[dt]), values(dt, 9, 100, rng=rng), values(dt, 100, 100, rng=rng))


@pytest.mark.parametrize("dt", ["f32", "i64"])
@pytest.mark.parametrize("shape", [(5, 9, 11, 12, 14), (9, 20, 19, 24, 21), (3, 2, 3, 4, 4), (4, 17, 2, 20, 9)])
def test_a_block_of_a_larger_array(dt, shape):
    """Reads B[n + 1, k - 2] and B[n - 1, k] over n in 1 .. N - 1, k in 2 .. K:
    the copy holds rows 0 .. N and columns 0 .. K - 1 of a larger B only."""
    M, N, K, R, S_ = shape
    (p,) = regions("shifted", dt)
    assert p.packed == ("B",)
    rng = np.random.default_rng(sum(shape))
    m = module(dt)
    assert_same(m.shifted, np.zeros((M, N), DTYPES[dt]), values(dt, M, K, rng=rng), values(dt, R, S_, rng=rng))


def test_a_huge_array_is_copied_only_where_read():
    """A 1 x 2**24 view (64 MB if copied whole, its rows repeated with stride 0)
    of which the nest reads 4 x 5 elements."""
    rng = np.random.default_rng(7)
    m = module("f32")
    row = rng.standard_normal(5).astype(np.float32)
    B = np.broadcast_to(row, (1 << 24, 5))
    A = rng.standard_normal((3, 5)).astype(np.float32)
    C = np.zeros((3, 4), np.float32)
    m.shifted(C, A, B)  # n in 1 .. 3 reads rows 0 .. 3; k in 2 .. 5 reads columns 0 .. 4
    want = np.zeros_like(C)
    for i in range(3):
        for n in range(1, 3):
            want[i, n] = sum(A[i, k] * (B[n + 1, k - 2] + B[n - 1, k]) for k in range(2, 5))
    np.testing.assert_allclose(C, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_kernels_that_are_not_copied_or_copy_another_array(dt):
    rng = np.random.default_rng(9)
    m = module(dt)
    for M, N, K in ((0, 3, 3), (5, 5, 7), (17, 17, 9)):
        assert_same(m.written, np.zeros((M, N), DTYPES[dt]), values(dt, M, K, rng=rng), values(dt, max(N, 1), K, rng=rng))
        assert_same(m.lower, np.zeros((N, N), DTYPES[dt]), values(dt, N, K, rng=rng), values(dt, N, K, rng=rng))
        assert_same(m.rowscan, np.zeros((M, N), DTYPES[dt]), values(dt, M, N, rng=rng))


def test_parallel_chunks_each_copy():
    rng = np.random.default_rng(8)
    m = module("f32")
    for M, N, K in ((0, 4, 4), (2, 9, 9), (37, 21, 18)):
        assert_same(m.par, np.zeros((M, N), np.float32), values("f32", M, K, rng=rng), values("f32", N, K, rng=rng))


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_blocks_of_a_vector_narrower_than_128_bits(dt):
    """Specialized for K = 2, the plan reads B from a transposed copy in 2-lane
    vectors of f32: 2 x 2 blocks, narrower than an SSE register."""
    rng = np.random.default_rng(3)
    f = turbo.turbo(gemm)
    for m, k, n in ((3, 2, 1), (1, 2, 1), (5, 2, 3), (4, 3, 2), (3, 2, 1)):
        A, B = rng.standard_normal((m, k)).astype(dt), rng.standard_normal((k, n)).astype(dt)
        C = np.zeros((m, n), dt)
        f(C, A, B)
        np.testing.assert_allclose(C, A @ B, rtol=1e-5, atol=1e-6)
