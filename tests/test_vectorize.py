"""The scheduler and the vectorizer: decisions as decisions, and every schedule
(chosen or forced through the overrides) against the reference interpreter on
sizes around each factor, every dtype, transposed and strided inputs."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

import turbo
from turbo.codegen.abi import Variant
from turbo.passes import schedule as S
from turbo.passes.target import host

from helpers import AVX2, AVX512, assert_same, rand


# sizes around every factor: 0, 1, W-1, W, W+1 for W = 4, 8, 16, tile multiples +- 1
SIZES = (0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 47, 49)
MAT_SIZES = (0, 1, 5, 8, 9, 13, 17, 24, 25)

SOURCE = """
kernel axpy(y: T[N], a: T, x: T[N]) {
    for i in 0:N { y[i] += a * x[i] }
}
kernel dot(x: T[N], y: T[N]) {
    s = 0.0
    for i in 0:N { s += x[i] * y[i] }
    return s
}
kernel maxabs(x: T[N]) {
    m = 0.0
    for i in 0:N { m = max(m, abs(x[i])) }
    return m
}
kernel possum(x: T[N]) {
    s = 0.0
    for i in 0:N {
        if x[i] > 0.0 { s += x[i] } else { s -= 0.5 * x[i] }
    }
    return s
}
kernel relu(y: T[N], x: T[N]) {
    for i in 0:N {
        y[i] = 0.0
        if x[i] > 0.0 { y[i] = x[i] }
    }
}
kernel gemm(C: T[M, N], A: T[M, K], B: T[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
kernel gemm_ikj(C: T[M, N], A: T[M, K], B: T[K, N]) {
    for m in 0:M, k in 0:K, n in 0:N { C[m, n] += A[m, k] * B[k, n] }
}
kernel gemm_abt(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[n, k] }
        C[m, n] = acc
    }
}
kernel gemvt(y: T[N], A: T[M, N], x: T[M]) {
    for j in 0:N {
        s = 0.0
        for i in 0:M { s += A[i, j] * x[i] }
        y[j] = s
    }
}
kernel sse(y: T[M], X: T[M, N], b: T[N]) {
    s = 0.0
    for i in 0:M {
        r = y[i]
        for j in 0:N { r -= X[i, j] * b[j] }
        s += r * r
    }
    return s
}
kernel aplusat(B: T[N, N], A: T[N, N]) {
    for i in 0:N, j in 0:N { B[i, j] = A[i, j] + A[j, i] }
}
kernel lower_rowsums(y: T[N], A: T[N, N]) {
    for i in 0:N {
        s = 0.0
        for j in 0:i + 1 { s += A[i, j] }
        y[i] = s
    }
}
kernel mathy(y: T[N], x: T[N]) {
    for i in 0:N { y[i] = sqrt(abs(x[i])) + floor(x[i]) * 0.5 + min(x[i], 0.25) + i * 0.25 }
}
kernel scan(y: T[N], x: T[N]) {
    s = 0.0
    for i in 0:N {
        s += x[i]
        y[i] = s
    }
}
"""

INT_SOURCE = """
kernel isum(x: T[N]) {
    s = 0
    for i in 0:N { s += x[i] * 3 - i }
    return s
}
kernel imax(y: T[N], x: T[N], z: T[N]) {
    for i in 0:N { y[i] = max(x[i], z[i]) + abs(x[i] - z[i]) }
}
kernel count_true(m: bool[N], x: T[N]) {
    c = 0
    for i in 0:N {
        m[i] = x[i] > 0
        if m[i] { c += 1 }
    }
    return c
}
"""

_modules: dict = {}


def module(src: str, dt: str, **options):
    key = (src, dt, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _modules:
        _modules[key] = turbo.compile(src.replace("T[", f"{dt}[").replace(": T)", f": {dt})").replace("a: T,", f"a: {dt},"),
                                      "vec.loop", **options)
    return _modules[key]


def args_for(name, rng, n, dt):
    v = lambda: rand(rng, n, dt)
    m = lambda r, c: rand(rng, (r, c), dt)
    k = max(n - 2, 0)
    return {
        "axpy": lambda: (v(), np.dtype(dt).type(1.5), v()),
        "dot": lambda: (v(), v()),
        "maxabs": lambda: (v(),),
        "possum": lambda: (v(),),
        "relu": lambda: (np.zeros(n, dt), v()),
        "gemm": lambda: (np.zeros((n, n + 1), dt), m(n, k), m(k, n + 1)),
        "gemm_ikj": lambda: (np.zeros((n, n + 1), dt), m(n, k), m(k, n + 1)),
        "gemm_abt": lambda: (np.zeros((n, n + 1), dt), m(n, k), m(n + 1, k)),
        "gemvt": lambda: (np.zeros(n + 3, dt), m(n, n + 3), rand(rng, n, dt)),
        "sse": lambda: (rand(rng, n, dt), m(n, n + 2), rand(rng, n + 2, dt)),
        "aplusat": lambda: (np.zeros((n, n), dt), m(n, n)),
        "lower_rowsums": lambda: (np.zeros(n, dt), m(n, n)),
        "mathy": lambda: (np.zeros(n, dt), v()),
        "scan": lambda: (np.zeros(n, dt), v()),
        "isum": lambda: (v(),),
        "imax": lambda: (np.zeros(n, dt), v(), v()),
        "count_true": lambda: (np.zeros(n, bool), v()),
    }[name]()


FLOAT_KERNELS = ["axpy", "dot", "maxabs", "possum", "relu", "gemm", "gemm_ikj", "gemm_abt", "gemvt", "sse",
                 "aplusat", "lower_rowsums", "mathy", "scan"]
MATRIX = {"gemm", "gemm_ikj", "gemm_abt", "gemvt", "sse", "aplusat", "lower_rowsums"}


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", FLOAT_KERNELS)
@pytest.mark.parametrize("fastmath", [True, False])
def test_chosen_schedule_matches_interpreter(name, dt, fastmath):
    rng = np.random.default_rng(3)
    kernel = module(SOURCE, {"float32": "f32", "float64": "f64"}[dt], fastmath=fastmath)[name]
    for n in MAT_SIZES if name in MATRIX else SIZES:
        assert_same(kernel, *args_for(name, rng, n, dt))


@pytest.mark.parametrize("dt", ["int32", "int64"])
@pytest.mark.parametrize("name", ["isum", "imax", "count_true"])
def test_integer_and_bool_kernels_vectorize_exactly(name, dt):
    rng = np.random.default_rng(4)
    kernel = module(INT_SOURCE, {"int32": "i32", "int64": "i64"}[dt])[name]
    assert S.format_schedule(kernel.ir, kernel.schedule(kernel.variant_for(()))[1]).count("vectorize") >= 1
    for n in SIZES:
        assert_same(kernel, *args_for(name, rng, n, dt))


def test_transposed_and_strided_inputs():
    rng = np.random.default_rng(5)
    mod = module(SOURCE, "f64")
    for n in (1, 7, 9, 17):
        base = rand(rng, (2 * n + 1, 2 * n + 3), "float64")
        A = base[::2, 1::2][:n, :n]  # strided rows and columns
        assert_same(mod.aplusat, np.zeros((n, n)), A)
        assert_same(mod.aplusat, np.zeros((n, n)), A.T)
        out = np.zeros((3 * n, 2))[::3, 1]  # a strided output
        x = rand(rng, 2 * n, "float64")[::-2]  # reversed, strided input
        assert_same(mod.relu, out, x)
        assert_same(mod.dot, x, rand(rng, n, "float64"))
        C = np.zeros((n + 1, n), order="F").T  # a transposed output
        assert_same(mod.gemm, C, rand(rng, (n, n), "float64").T, rand(rng, (n, n + 1), "float64"))


def legal_overrides(kernel):
    """(vectorize, unroll) pairs the scheduler accepts for a kernel's loops."""
    names = sorted({s.index for s in _loops(kernel.ir.body)})
    out = []
    for v in names:
        for f in (1, 2, 3):
            out.append((v, {v: f}))
        for u in names:
            if u != v:
                out.append((v, {u: 3, v: 2}))
    return out


def _loops(body):
    from turbo import ir

    return [s for s in ir.walk_stmts(body) if isinstance(s, ir.For)]


def forced_schedules_applied(src, name, make_args, rng) -> int:
    """Force every override pair of ``legal_overrides`` on kernel ``name`` (f64):
    each is refused with a ScheduleError or matches the interpreter at sizes
    0 - 13. Returns how many were applied."""
    applied = 0
    for vec, unroll in legal_overrides(module(src, "f64")[name]):
        try:
            kernel = module(src, "f64", vectorize=vec, unroll=unroll)[name]
            kernel.schedule(kernel.variant_for(()))
        except turbo.ScheduleError:
            continue
        applied += 1
        for n in (0, 1, 5, 9, 13):
            assert_same(kernel, *make_args(name, rng, n, "float64"))
    return applied


@pytest.mark.parametrize("name", ["dot", "possum", "gemm", "gemm_ikj", "gemm_abt", "gemvt", "sse", "aplusat",
                                  "lower_rowsums", "relu"])
def test_forced_schedules_match_interpreter(name):
    """Every schedule the overrides can force is either refused with a
    ScheduleError or computes what the interpreter computes."""
    assert forced_schedules_applied(SOURCE, name, args_for, np.random.default_rng(6)) >= 1


# ----------------------------------------------------------------------------- decisions


def plans(name, target, dt="f32", src=SOURCE):
    kernel = module(src, dt)[name]
    variant = Variant((True,) * len(kernel.ir.arrays), False, None)
    return S.schedule(kernel.ir, variant, target).regions


STENCIL = """
kernel jacobi(out: T[N, N], u: T[N, N]) {
    for i in 1:N - 1, j in 1:N - 1 {
        out[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
    }
}
"""


def test_a_tile_walking_more_rows_than_two_l1_sets_hold_gives_way_to_a_near_one():
    """Jammed 8 rows x 4 vectors the stencil walks 18 rows (10 of u, 8 of out),
    predicted a few % cheaper than a tile of 16 rows or fewer, but 1.4x slower than
    3 rows at 256 x 256 f64, where rows 2 KB apart share two L1 sets of 8 ways."""
    (p,) = plans("jacobi", AVX2, "f64", STENCIL)
    assert p.vector == "j" and 1 < p.factor("i") <= 6  # i + 2 rows of u, i of out
    kernel = module(STENCIL, "f64").jacobi
    text = kernel.explain(np.zeros((64, 64)), np.zeros((64, 64)))
    assert "few rows: chosen over unroll-and-jam i × 8" in text and "walks 18 array rows" in text
    x = np.random.default_rng(1).standard_normal((37, 37))
    assert_same(kernel, np.zeros((37, 37)), x)


def test_few_rows_keeps_a_tile_that_fits_or_has_no_near_rival():
    est = lambda cycles, rows: S.Estimate(cycles, 1.0, 8, "fp", rows)  # noqa: E731
    plan = next(iter(plans("gemm", AVX2)))
    wide = S.Option(plan, est(100.0, 20))
    near = S.Option(plan, est(110.0, 10))
    far = S.Option(plan, est(130.0, 10))
    assert S._few_rows([wide, near, far], wide, AVX2) is near
    assert S._few_rows([wide, far], wide, AVX2) is wide
    fits = S.Option(plan, est(100.0, 16))
    assert S._few_rows([fits, near], fits, AVX2) is fits


def test_gemm_register_tile_decisions():
    (p,) = plans("gemm", AVX2)
    assert (p.loops, p.vector, p.width, p.factors) == (("m", "n"), "n", 8, (6, 2))  # 12 accumulators of 16 registers
    (p,) = plans("gemm", AVX512)
    # 24 accumulators of 32 registers: 6 rows x 4 vectors, or 8 x 3 (no leftover rows at the assumed 128)
    assert (p.loops, p.vector, p.width) == (("m", "n"), "n", 16) and p.factors in ((6, 4), (8, 3))
    (p,) = plans("gemm", AVX2, "f64")
    assert (p.vector, p.width, p.factors) == ("n", 4, (6, 2))


QGEMV = """
kernel qgemv(y: i64[M], W: i8[M, N], x: i8[N]) {
    for i in 0:M {
        acc = 0
        for j in 0:N { acc += i64(i32(W[i, j]) * i32(x[j])) }
        y[i] = acc
    }
}
"""


def test_accumulators_wider_than_the_lanes_count_their_registers():
    """An i64 sum of i32 products vectorized in 8 i32 lanes fills two registers
    per row (and each add is two instructions): the model counted one, and jammed
    8 rows (16 accumulator registers, with x and the products beside them); the
    tile must fit the 16 registers."""
    kernel = turbo.compile(QGEMV).qgemv
    variant = Variant((True,) * 3, False, None)
    sched = S.schedule(kernel.ir, variant, AVX2)
    (p,) = sched.regions
    (d,) = sched.decisions
    assert p.vector == "j" and p.width == 8, p
    rows = p.factors[0] if p.loops[0] == "i" else 1
    assert 2 * rows < 16 and d.chosen.estimate.registers <= 16, (p, d.chosen.estimate)
    rng = np.random.default_rng(2)
    for m, n in ((1, 1), (5, 7), (13, 33)):
        W = rng.integers(-128, 128, (m, n)).astype(np.int8)
        x = rng.integers(-128, 128, n).astype(np.int8)
        assert_same(kernel, np.zeros(m, np.int64), W, x)


FILTER5 = """
kernel filter5(out: T[M, N], img: T[M, N], k: T[5, 5]) {
    for i in 0:M - 4, j in 0:N - 4 {
        s = 0.0
        for di in 0:5, dj in 0:5 { s += img[i + di, j + dj] * k[di, dj] }
        out[i, j] = s
    }
}
"""


@pytest.mark.parametrize("target", [AVX2, AVX512], ids=["avx2", "avx512"])
@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_skipping_spilling_candidates_changes_no_decision(target, dt, monkeypatch):
    """The scheduler does not estimate plans past one that already spills and
    costs more than the one before it (schedule._Spills). Every kernel here gets
    the plan a full enumeration picks, and a gemm is spared estimates (many on AVX2). The
    5x5 filter's best tile needs more registers than AVX2 has (it reloads taps):
    pruning on registers alone would lose it."""
    names = ["gemm", "gemm_ikj", "gemm_abt", "gemvt", "sse", "aplusat", "dot", "lower_rowsums"]
    kernels = [(SOURCE, n) for n in names] + [(FILTER5, "filter5")]
    counted = []
    real = S.estimate

    def counting(*a, **kw):
        counted[-1] += 1
        return real(*a, **kw)

    monkeypatch.setattr(S, "estimate", counting)
    found = {}
    for prune in (True, False):
        if not prune:
            monkeypatch.setattr(S._Spills, "beyond", lambda self, plan: False)
        for src, name in kernels:
            counted.append(0)
            found[prune, name] = plans(name, target, dt, src), counted[-1]
    for _, name in kernels:
        assert found[True, name][0] == found[False, name][0], name
    fewer = 0.75 if target is AVX2 else 1.0  # 32 registers: few plans spill
    assert found[True, "gemm"][1] < fewer * found[False, "gemm"][1]


def test_reduction_accumulator_decisions():
    (p,) = plans("dot", AVX2)
    assert (p.vector, p.width, p.factors) == ("i", 8, (4,))  # 4 independent accumulators hide the FMA latency
    (p,) = plans("dot", AVX512, "f64")
    assert (p.vector, p.width, p.factors) == ("i", 8, (4,))


def test_orientation_decisions():
    (p,) = plans("gemvt", AVX2)
    assert p.vector == "j"  # contiguous rows of A; x[i] broadcast
    (p,) = plans("gemm_abt", AVX2)
    # A[m, k] * B[n, k]: both rows contiguous along k. B is read M times: copied
    # transposed before the nest, it is AB's contiguous rows, and the gemm tile
    # needs no horizontal sum per element of C (k in the lanes: 0.63-0.70 of AB at
    # n = 16-32 f32; from the copy 0.95-1.03)
    assert p.loops == ("m", "n") and p.vector == "n" and p.packed == ("B",) and p.factor("m") > 1
    (p,) = plans("sse", AVX2)
    assert p.vector == "j" and p.factor("i") > 1  # several rows share each load of b


ROW_SCAN = """
kernel cumsum_rows(out: T[M, N], A: T[M, N]) {
    for i in 0:M {
        s = 0.0
        for j in 0:N {
            s += A[i, j]
            out[i, j] = s
        }
    }
}
"""


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_a_row_scan_is_not_vectorized_across_rows_with_gathers_and_scatters(dt):
    """Across rows every vector is a gather and a scatter, lane by lane through
    the same address ports: slower than the rows one after the other (measured
    equal at n = 250 and 5x slower at n = 256)."""
    assert plans("cumsum_rows", AVX2, dt, ROW_SCAN) == ()
    kernel = module(ROW_SCAN, dt).cumsum_rows
    rng = np.random.default_rng(3)
    npdt = {"f32": "float32", "f64": "float64"}[dt]
    for m, n in [(5, 7), (9, 16), (1, 1)]:
        assert_same(kernel, np.zeros((m, n), npdt), rand(rng, (m, n), npdt))


def test_recurrences_and_triangular_solves_are_not_vectorized_across_the_carrying_loop():
    assert plans("scan", AVX2) == ()
    kernel = module(SOURCE, "f32").scan
    text = kernel.explain()
    assert "'s' is carried from one iteration of i to the next" in text
    trsv = turbo.compile("""
kernel trsv(x: f64[N], L: f64[N, N], b: f64[N]) {
    for i in 0:N {
        s = b[i]
        for j in 0:i { s -= L[i, j] * x[j] }
        x[i] = s / L[i, i]
    }
}""").trsv
    (p,) = S.schedule(trsv.ir, Variant((True,) * 3, False, None), AVX2).regions
    assert p.loops == ("j",)  # the inner dot product, never across i
    rng = np.random.default_rng(1)
    for n in (1, 5, 9, 33):
        L = np.tril(rand(rng, (n, n), "float64")) + 4 * np.eye(n)
        assert_same(trsv, np.zeros(n), L, rand(rng, n, "float64"))


LU = """
kernel lu(A: f64[N, N]) {
    for k in 0:N {
        for i in k+1:N {
            A[i, k] = A[i, k] / A[k, k]
            for j in k+1:N { A[i, j] -= A[i, k] * A[k, j] }
        }
    }
}
kernel shift_rows(A: f64[N, N]) {
    for i in 1:N {
        for j in 0:N-1 { A[i, j] = A[i - 1, j + 1] + 1.0 }
    }
}
"""


def test_elements_the_loop_ranges_keep_apart_do_not_stop_vectorization():
    """LU's row update writes A[i, j] and reads A[i, k] and A[k, j]: j > k and
    i > k keep them apart (the ranges), and A[k, j] meets A[i, j] only in the same
    iteration of j. Both loops vectorize; a read of another iteration's element
    still refuses the loops that carry it."""
    lu = turbo.compile(LU).lu
    forced = [turbo.compile(LU, fastmath=False, **options).lu
              for options in ({"vectorize": "j"}, {"vectorize": "i"}, {"vectorize": "j", "unroll": {"j": 2}})]
    rng = np.random.default_rng(4)
    for n in (1, 2, 5, 9, 17):
        A = rand(rng, (n, n), "float64") + n * np.eye(n)
        assert_same(lu, A, rtol=1e-12)
        for kernel in forced:
            assert_same(kernel, A)
    text = lu.explain(np.eye(64))
    assert "chosen: vectorize j" in text, text
    shift = turbo.compile(LU, vectorize="j").shift_rows
    for n in (1, 6, 11):
        assert_same(shift, rand(rng, (n, n), "float64"))
    # rows i - 1 and i, jammed: row i would read A[i - 1, j + 1] before it is written
    with pytest.raises(turbo.ScheduleError, match="different subscripts"):
        turbo.compile(LU, vectorize="j", unroll={"i": 2}).shift_rows(np.ones((8, 8)))


ADD3 = """
kernel add3(out: T[P, Q, R], a: T[P, Q, R], b: T[P, Q, R]) {
    for i in 0:P, j in 0:Q, k in 0:R { out[i, j, k] = a[i, j, k] + b[i, j, k] }
}
"""


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_jammed_rows_are_limited_by_the_address_registers(dt):
    # each row of out, a and b that a step walks needs a register for its address
    # (run-time strides): jamming 8 x 4 rows of i and j walked 96 and ran 3x slower
    # than the model predicted
    (p,) = plans("add3", AVX2, dt, ADD3)
    assert p.vector == "k" and 3 * p.factor("i") * p.factor("j") <= AVX2.address_registers
    kernel = module(ADD3, dt).add3
    npdt = {"f32": np.float32, "f64": np.float64}[dt]
    rng = np.random.default_rng(2)
    for shape in [(0, 3, 4), (3, 5, 8), (9, 4, 7), (5, 17, 3)]:
        assert_same(kernel, np.zeros(shape, npdt), rand(rng, shape, npdt), rand(rng, shape, npdt))


def test_arrays_passed_with_run_time_strides_are_priced_as_gathers():
    # y[::2] and x[::3]: along i every vector would be a gather and a scatter
    kernel = module(SOURCE, "f64").axpy
    (p,) = S.schedule(kernel.ir, Variant((True, True), False, None), AVX2).regions
    assert p.vector == "i"
    assert S.schedule(kernel.ir, Variant((False, False), False, None), AVX2).regions == ()
    text = kernel.explain(np.zeros(20)[::2], 0.5, np.ones(30)[::3])
    assert "chosen: loops as written (scalar)" in text and "bound by mem" in text
    y = np.zeros(20)
    kernel(y[::2], 0.5, np.arange(30.0)[::3])
    np.testing.assert_array_equal(y[::2], 0.5 * np.arange(30.0)[::3])


def test_aliasing_variant_keeps_writes_scalar():
    kernel = module(SOURCE, "f64").axpy
    variant = Variant((True, True), True, None)
    assert S.schedule(kernel.ir, variant, host()).regions == ()
    x = np.arange(10.0)
    y = x[1:]  # overlaps x
    want = x.copy()
    for i in range(9):
        want[1 + i] += 1.5 * want[i]
    kernel(y, 1.5, x[:9])
    np.testing.assert_array_equal(x, want)


def test_explain_shows_choice_cost_and_rejected_alternatives():
    text = module(SOURCE, "f32").gemm.explain()
    assert "chosen: unroll-and-jam m" in text and "vectorize n" in text
    assert "cycles per innermost iteration" in text and "vector registers" in text
    assert text.count("rejected:") >= 2
    f = turbo.turbo(lambda_free_dot)
    f(np.ones(3), np.ones(3))
    assert "vectorize i" in f.explain(np.ones(3), np.ones(3))


def lambda_free_dot(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


def test_overrides_are_checked_and_shown():
    mod = module(SOURCE, "f32", vectorize="n", unroll={"m": 2, "n": 1})
    text = mod.gemm.explain()
    assert "unroll-and-jam m × 2; vectorize n" in text
    with pytest.raises(turbo.ScheduleError, match="carried from one iteration"):
        module(SOURCE, "f32", vectorize="i").scan.compile()
    with pytest.raises(TypeError, match="unroll must be a dict"):
        turbo.compile(SOURCE.replace("T[", "f32["), unroll=4)
    with pytest.raises(TypeError, match="vectorize must be"):
        turbo.compile(SOURCE.replace("T[", "f32["), vectorize=3)
    g = turbo.turbo(vectorize=False)(lambda_free_dot)
    assert g(np.ones(5), np.ones(5)) == 5.0
    assert "chosen: loops as written" in g.explain(np.ones(5), np.ones(5))


def test_vector_code_is_emitted():
    asm = module(SOURCE, "f32").gemm.inspect("asm")
    assert "vfmadd" in asm and "ymm" in asm or "zmm" in asm
    plain = module(SOURCE, "f32", fastmath=False).gemm.inspect("asm")
    assert "vfmadd" not in plain  # fastmath=False: no contraction


def test_llvm_does_not_unroll_the_loops_the_cost_model_unrolled():
    """The cost model chose 2 x 2 instances; LLVM keeps that (no further unrolling
    of the main loop: its body keeps 4 vector multiplies), where
    without the loops' ``llvm.loop.unroll.disable`` it unrolls the k loop 4 times.
    Only the leftover (one vector per step) and the masked corner are left for LLVM
    to unroll."""
    kernel = module(SOURCE, "f32", vectorize="n", unroll={"m": 2, "n": 2}).gemm
    w = host().width(turbo.ir.DType.F32)
    blocks = re.split(r"\n(?=[\w.\"$-]+:)", kernel.inspect("llvm"))
    counts = [len(re.findall(rf"= fmul [^<]*<{w} x float>", b)) for b in blocks]
    main = next(c for c in counts if c)  # the 2 x 2 tile's k loop comes first
    assert main == 4
    assert "llvm.loop.unroll.disable" in kernel.inspect("llvm-unoptimized")


@pytest.mark.parametrize("pair", list(itertools.product(["f32", "f64"], [True, False])))
def test_every_size_with_tile_factors(pair):
    """gemm through sizes around the 6 x 2W tile: multiples +- 1."""
    dt, fm = pair
    kernel = module(SOURCE, dt, fastmath=fm).gemm
    rng = np.random.default_rng(9)
    w = host().width(turbo.ir.DType(dt))
    npdt = {"f32": "float32", "f64": "float64"}[dt]
    for m, n in [(6, 2 * w), (5, 2 * w - 1), (7, 2 * w + 1), (12, 4 * w + 1), (13, w - 1), (1, 1)]:
        assert_same(kernel, np.zeros((m, n), npdt), rand(rng, (m, 5), npdt), rand(rng, (5, n), npdt))


JOINT_SOURCE = """
kernel abt_max(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = -1e30
        for k in 0:K { acc = max(acc, A[m, k] - B[n, k]) }
        C[m, n] = acc
    }
}
kernel abt_sum(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = 0.5
        p = 1.0
        for k in 0:K {
            acc += A[m, k] * B[n, k]
            p *= 1.0 + 0.01 * A[m, k]
        }
        C[m, n] = acc + p
    }
}
"""


@pytest.mark.parametrize("dt", ["f32", "f64"])
@pytest.mark.parametrize("unroll", [{"m": 2, "n": 2}, {"m": 3, "n": 3}, {"m": 2, "n": 5}, {"m": 4, "n": 4}, {"m": 3}])
def test_reductions_of_many_instances_combined_together(dt, unroll):
    """The k loop in the lanes, several (m, n) instances: their vector partial
    results are reduced together (pairs of vectors interleaved), 1 to 16 at a time."""
    rng = np.random.default_rng(8)
    mod = module(JOINT_SOURCE, dt, vectorize="k", unroll=unroll)
    npdt = {"f32": np.float32, "f64": np.float64}[dt]
    for name in ("abt_max", "abt_sum"):
        kernel = mod[name]
        for M, N, K in [(1, 1, 1), (5, 9, 7), (9, 5, 8), (7, 11, 9), (3, 4, 17)]:
            A = rng.standard_normal((M, K)).astype(npdt)
            B = rng.standard_normal((N, K)).astype(npdt)
            assert_same(kernel, np.zeros((M, N), npdt), A, B)


SEEDED_SOURCE = """
kernel abt_acc(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = C[m, n]
        for k in 0:K { acc += A[m, k] * B[n, k] }
        C[m, n] = acc
    }
}
kernel abt_min(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = C[m, n]
        for k in 0:K { acc = min(acc, A[m, k] - B[n, k]) }
        C[m, n] = acc
    }
}
"""


@pytest.mark.parametrize("dt", ["f32", "f64", "i32", "i64"])
@pytest.mark.parametrize("unroll", [{}, {"m": 2}, {"m": 3, "n": 2}, {"m": 4, "n": 2}, {"m": 4, "n": 4}, {"m": 5}])
def test_vector_reductions_start_from_the_value_before_the_loop(dt, unroll):
    """A vector reduction into a scalar starts its first vector from the value
    the local had (lane 0), so that value takes part in the horizontal reduction;
    a min whose start is the smallest, or K = 0, must give it back."""
    rng = np.random.default_rng(9)
    mod = module(SEEDED_SOURCE, dt, vectorize="k", unroll=unroll)
    npdt = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}[dt]
    for name in ("abt_acc", "abt_min"):
        for M, N, K in [(1, 1, 1), (5, 9, 7), (9, 5, 8), (4, 4, 0), (3, 4, 17), (8, 8, 33)]:
            A = rng.integers(-9, 9, (M, K)).astype(npdt)
            B = rng.integers(-9, 9, (N, K)).astype(npdt)
            C = rng.integers(-30, 30, (M, N)).astype(npdt)
            assert_same(mod[name], C, A, B)


CARRIED_SOURCE = """
kernel total(A: T[M, N]) {
    s = 0
    for i in 0:M, j in 0:N { s += A[i, j] * A[i, j] }
    return s
}
kernel spread(A: T[M, N]) {
    lo = A[0, 0]
    hi = A[0, 0]
    for i in 0:M, j in 0:N {
        lo = min(lo, A[i, j])
        hi = max(hi, A[i, j])
    }
    return hi - lo
}
kernel rows(out: T[M], A: T[M, N]) {
    for i in 0:M {
        s = 0
        for j in 0:N { s += A[i, j] }
        out[i] = s
    }
}
"""


@pytest.mark.parametrize("dt", ["f32", "f64", "i32", "i64"])
@pytest.mark.parametrize("unroll", [{}, {"i": 8, "j": 1}, {"i": 3, "j": 2}, {"i": 2, "j": 4}])
def test_reductions_held_in_vectors_across_the_loop_around_the_vector_loop(dt, unroll):
    """A sum over a matrix keeps its vectors across the rows (summed across lanes
    once, when the row loop ends): every jam, leftover rows and columns, masked
    tails and empty dims, against the interpreter."""
    rng = np.random.default_rng(14)
    mod = module(CARRIED_SOURCE, dt, **({"vectorize": "j", "unroll": unroll} if unroll else {}))
    npdt = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64}[dt]
    for M, N in [(1, 1), (0, 5), (5, 0), (3, 7), (9, 8), (8, 17), (17, 33), (40, 9)]:
        A = rng.integers(-9, 9, (M, N)).astype(npdt)
        assert_same(mod.total, A)
        if M and N:
            assert_same(mod.spread, A)
        assert_same(mod.rows, np.zeros(M, npdt), A)


def test_which_reductions_are_held_across_the_loop_around():
    from turbo.passes import analysis

    mod = module(CARRIED_SOURCE, "f32")
    for name, held in (("total", {"s"}), ("spread", {"lo", "hi"}), ("rows", set())):
        outer = next(s for s in mod[name].ir.body if isinstance(s, turbo.ir.For))
        inner = outer.body[-1] if name != "rows" else outer.body[1]
        assert analysis.carried_reductions((outer, inner), "masked", ()) == held, name
        assert analysis.carried_reductions((outer, inner), "scalar", ()) == frozenset()
    # as written, row after row: no longer turned to walk down the columns
    text = mod.total.explain(np.zeros((256, 256), np.float32))
    assert "interchanged" not in text and "vectorize j" in text.split("chosen:")[1].split("\n")[0], text
    assert "s held in vectors across loop i" in text, text


@pytest.mark.parametrize("n", range(0, 70, 3))
def test_vector_loop_leftover_runs_one_masked_vector_per_step(n):
    """With 4 vectors per step, the leftover (up to 4 vectors) runs a vector at a time under a mask."""
    rng = np.random.default_rng(n)
    mod = module(SOURCE, "f32", vectorize="i", unroll={"i": 4})
    for name in ("dot", "axpy", "relu"):
        kernel = mod[name]
        assert_same(kernel, *args_for(name, rng, n, "float32"))


# ----------------------------------------------------------------------------- full unrolling of short literal loops

LITERAL_SOURCE = """
kernel filter3(out: T[M, N], img: T[M, N], k: T[3, 3]) {
    for i in 0:M - 2, j in 0:N - 2 {
        s = 0.0
        for di in 0:3, dj in 0:3 { s += img[i + di, j + dj] * k[di, dj] }
        out[i, j] = s
    }
}
kernel taps(out: T[M, N], x: T[M, N]) {
    for i in 0:M, j in 0:N {
        s = 0.0
        for d in 4:-1:-2 {
            w = 0.5 * f64(d)
            if x[i, j] > 0.5 { s += w * x[i, j] } else { s -= x[i, j] }
        }
        for e in 0:0 { s += 1.0 }
        out[i, j] = s
    }
}
kernel channels(out: T[N], x: T[N, 3], w: T[3]) {
    for n in 0:N {
        for c in 0:3 { out[n] += x[n, c] * w[c] }
    }
}
kernel bmm4(c: T[N, 4, 4], a: T[N, 4, 4], b: T[N, 4, 4]) {
    for n in 0:N, i in 0:4, j in 0:4 {
        s = 0.0
        for k in 0:4 { s += a[n, i, k] * b[n, k, j] }
        c[n, i, j] = s
    }
}
kernel rot2(out: T[N, 2], x: T[N, 2], r: T[2, 2]) {
    for n in 0:N, c in 0:2 { out[n, c] = r[c, 0] * x[n, 0] + r[c, 1] * x[n, 1] + x[n, c] }
}
kernel long(out: T[M, N], x: T[M, N]) {
    for i in 0:M, j in 0:N {
        s = 0.0
        for d in 0:17 { s += x[i, j] * f64(d) }
        out[i, j] = s
    }
}
kernel big(out: T[M, N], x: T[M, N]) {
    for i in 0:M, j in 0:N {
        s = 0.0
        for d in 0:8 {
            s += x[i, j]
            s += 1.0
            s *= 0.5
            s -= 0.25
            s += x[i, j] * 2.0
            s = max(s, 0.0)
            s = min(s, 9.0)
            s += 0.125
            s -= 0.0625
        }
        out[i, j] = s
    }
}
"""


def literal_args(name, rng, n, dt):
    m = lambda r, c: rand(rng, (r, c), dt)
    return {
        "filter3": lambda: (np.zeros((n + 2, n + 3), dt), m(n + 2, n + 3), m(3, 3)),
        "taps": lambda: (np.zeros((n, n + 1), dt), m(n, n + 1)),
        "channels": lambda: (rand(rng, n, dt), m(n, 3), rand(rng, 3, dt)),
        "bmm4": lambda: (np.zeros((n, 4, 4), dt), rand(rng, (n, 4, 4), dt), rand(rng, (n, 4, 4), dt)),
        "rot2": lambda: (np.zeros((n, 2), dt), m(n, 2), m(2, 2)),
        "long": lambda: (np.zeros((n, n + 1), dt), m(n, n + 1)),
        "big": lambda: (np.zeros((n, n + 1), dt), m(n, n + 1)),
    }[name]()


def test_short_literal_loops_are_unrolled_fully_inside_regions():
    """The filter's 3 x 3 taps are unrolled fully (literal trips, 9 statements);
    a 17-trip loop is not (longer than FULL_UNROLL_TRIP), nor an 8-trip loop of
    9 statements (72 > FULL_UNROLL_STMTS)."""
    (p,) = plans("filter3", AVX2, src=LITERAL_SOURCE)
    assert [(name, trip) for _, name, trip in p.unrolled] == [("di", 3), ("dj", 3)]
    assert p.vector == "j"
    (p,) = plans("taps", AVX2, src=LITERAL_SOURCE)
    assert [(name, trip) for _, name, trip in p.unrolled] == [("d", 3), ("e", 0)]
    for name in ("long", "big"):
        (p,) = plans(name, AVX2, src=LITERAL_SOURCE)
        assert p.unrolled == ()
    rng = np.random.default_rng(1)
    text = module(LITERAL_SOURCE, "f32").filter3.explain(*literal_args("filter3", rng, 8, "float32"))
    assert "unroll fully di × 3, dj × 3" in text.split("rejected")[0]


def test_a_literal_trip_shorter_than_a_vector_fills_a_narrower_one():
    """A batch of 4 x 4 matrices: rows of 4 f32 are half an AVX2 vector; the plan
    vectorizes j in 4 lanes (one full xmm row, no tail) instead of gathering
    across the batch. Trips that are not a power of two (3 taps) stay unrolled."""
    (p,) = plans("bmm4", AVX2, src=LITERAL_SOURCE)
    assert (p.vector, p.width) == ("j", 4)
    (p,) = plans("bmm4", AVX512, dt="f64", src=LITERAL_SOURCE)
    assert (p.vector, p.width) == ("j", 4)
    (p,) = plans("filter3", AVX512, src=LITERAL_SOURCE)
    assert p.vector == "j" and p.width == 16
    rng = np.random.default_rng(3)
    text = module(LITERAL_SOURCE, "f32").bmm4.explain(*literal_args("bmm4", rng, 64, "float32"))
    assert "vectorize j × 4 f32" in text.split("rejected")[0]
    raw = module(LITERAL_SOURCE, "f32").bmm4.inspect("llvm")
    assert "<4 x float>" in raw


def test_unrolled_taps_run_without_loops():
    """No loop is emitted for di or dj, and the vector loop's body issues all 9 taps
    for each of its instances."""
    kernel = module(LITERAL_SOURCE, "f32", vectorize="j", unroll={"i": 2, "j": 1}).filter3
    raw = kernel.inspect("llvm-unoptimized")
    assert "di_head" not in raw and "dj_head" not in raw
    w = host().width(turbo.ir.DType.F32)
    blocks = re.split(r"\n(?=[\w.\"$-]+:)", kernel.inspect("llvm"))
    products = [len(re.findall(rf"(fmul|fma[^(]*)[^<]*<{w} x float>", b)) for b in blocks if "masked.load" not in b]
    assert max(products) >= 2 * 9


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["filter3", "taps", "channels", "bmm4", "rot2", "long", "big"])
def test_literal_loop_kernels_match_interpreter(name, dt):
    rng = np.random.default_rng(2)
    kernel = module(LITERAL_SOURCE, {"float32": "f32", "float64": "f64"}[dt])[name]
    for n in MAT_SIZES:
        assert_same(kernel, *literal_args(name, rng, n, dt))


@pytest.mark.parametrize("name", ["filter3", "taps", "channels", "bmm4"])
def test_forced_schedules_with_unrolled_loops_match_interpreter(name):
    assert forced_schedules_applied(LITERAL_SOURCE, name, literal_args, np.random.default_rng(7)) >= 3


# ----------------------------------------------------------------------------- scalar tails

TAIL_SOURCE = """
kernel trsv(x: T[N], L: T[N, N], b: T[N]) {
    for i in 0:N {
        s = b[i]
        for j in 0:i {
            t = L[i, j] * x[j]
            s -= t
        }
        x[i] = s / L[i, i]
    }
}
kernel rows(x: T[N], w: T[N], A: T[N, N]) {
    for i in 1:N {
        s = 0.0
        m = x[0]
        for j in 0:i {
            s += A[i, j] * x[j]
            if x[j] > 0.5 { s += x[j] }
            m = max(m, x[j])
            w[j] = x[j] * 2.0 + w[j]
        }
        x[i] = s * 0.25 + m * 0.125
    }
}
"""


def tail_args(name, rng, n, dt):
    if name == "trsv":
        L = np.tril(rand(rng, (n, n), dt)) + np.asarray(4 * np.eye(n), dt)
        return np.zeros(n, dt), L, rand(rng, n, dt)
    return rand(rng, n, dt), rand(rng, n, dt), rand(rng, (n, n), dt) * np.asarray(0.5, dt)


def test_scalar_tail_where_a_masked_load_would_wait_on_a_store():
    """trsv's dot product reads x[0:i] right after the pass before stored x[i - 1]:
    a masked tail would load that element with a vector, so the model prices a
    scalar tail and takes it; loops that read nothing the nest stores keep the
    masked tail."""
    for target, dt in ((AVX2, "f32"), (AVX2, "f64")):
        (p,) = plans("trsv", target, dt, src=TAIL_SOURCE)
        assert (p.vector, p.tail) == ("j", "scalar")
        for name in ("dot", "gemvt", "sse"):
            assert {q.tail for q in plans(name, target, dt)} == {"masked"}
    kernel = module(TAIL_SOURCE, "f32").trsv
    chosen, rejected = kernel.explain().split("rejected", 1)
    assert "scalar tail" in chosen and "masked tail" in rejected
    assert "note: loop j reads x, which loop i stores" in rejected


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["trsv", "rows"])
def test_scalar_tails_match_interpreter(name, dt, monkeypatch):
    """Every leftover of whole vectors and single iterations (the vector loop runs
    0 .. N - 1 times), under the chosen and forced plans. A stall priced out of
    reach makes the model take the scalar tail even for ``rows``, whose ``if``,
    store and non-reduction local then run in the scalar loop."""
    from turbo.passes.costs import OpCost

    monkeypatch.setitem(host().costs, "forward_stall", OpCost(1e4, 1e4, unit="load"))
    rng = np.random.default_rng(8)
    short = {"float32": "f32", "float64": "f64"}[dt]
    for options in ({}, {"vectorize": "j", "unroll": {"j": 1}}, {"vectorize": "j", "unroll": {"j": 3}}):
        kernel = turbo.compile(TAIL_SOURCE.replace("T[", f"{short}["), "tail.loop", **options)[name]
        assert {p.tail for p in kernel.schedule(kernel.variant_for(()))[1].regions} == {"scalar"}
        for n in (0, 1, 2, 3, 8, 9, 17, 25, 33, 70):
            assert_same(kernel, *tail_args(name, rng, n, dt))


# ----------------------------------------------------------------------------- transposed blocks

TRANSPOSE_SOURCE = """
kernel aplusat(out: T[N, N], A: T[N, N]) {
    for i in 0:N, j in 0:N { out[i, j] = A[i, j] + A[j, i] }
}
kernel shifted(out: T[M, N], A: T[K, L], B: T[M, N]) {
    for i in 0:M, j in 0:N { out[i, j] = A[2 * j + 1, i + 3] * 2.0 - B[i, j] }
}
kernel guarded(out: T[N, N], A: T[N, N]) {
    for i in 0:N, j in 0:N {
        if A[i, j] > 0.5 { out[i, j] = A[j, i] } else { out[i, j] = -A[i, j] }
    }
}
kernel colsum(out: T[M], A: T[N, M]) {
    for i in 0:M {
        s = 0.0
        for j in 0:N { s += A[j, i] * A[j, i] }
        out[i] = s
    }
}
"""


def transpose_args(name, rng, n, dt):
    m = lambda r, c: rand(rng, (r, c), dt)
    return {
        "aplusat": lambda: (np.zeros((n, n), dt), m(n, n)),
        "shifted": lambda: (np.zeros((n + 2, n), dt), m(2 * n + 1, n + 5), m(n + 2, n)),
        "guarded": lambda: (np.zeros((n, n), dt), m(n, n)),
        "colsum": lambda: (np.zeros(n + 1, dt), m(n, n + 1)),
    }[name]()


def test_strided_reads_become_transposed_blocks():
    """A + Aᵀ vectorized along j with i unrolled by a multiple of W reads A[j, i] as
    transposed W x W blocks: the model prices W loads and W log2(W) shuffles per
    W instances instead of W gathers, and takes such a plan; the vector loop's
    code then has no gather."""
    for dt in ("f32", "f64"):
        (p,) = plans("aplusat", AVX2, dt, src=TRANSPOSE_SOURCE)
        assert p.vector == "j" and p.factor("i") % p.width == 0
    kernel = module(TRANSPOSE_SOURCE, "f32", vectorize="j", unroll={"i": 8, "j": 1}).aplusat
    raw = kernel.inspect("llvm-unoptimized")
    blocks = {b.split(":", 1)[0]: b for b in re.split(r"\n(?=[\w.\"$-]+:)", raw)}
    body = blocks["j_body"]
    assert "gather" not in body and body.count("shufflevector") >= 24  # 3 rounds of 8 interleaves
    assert "gather" in raw  # the rows of i past the last whole step of 8


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["aplusat", "shifted", "guarded", "colsum"])
def test_transposed_blocks_match_interpreter(name, dt):
    """Chosen and forced plans with i unrolled by W and 2W (f64) or W (f32), one and
    two vectors per step, on sizes around every factor: whole blocks, leftover rows
    of i (gathers), the masked tail of j (rows past the end read the last row), an
    `if` (its masked loads stay gathers), subscripts with offsets and a stride."""
    rng = np.random.default_rng(9)
    short = {"float32": "f32", "float64": "f64"}[dt]
    forced = [{"i": 8, "j": 1}, {"i": 8, "j": 2}] + ([{"i": 4, "j": 3}] if short == "f64" else [])
    for options in [{}] + [{"vectorize": "j", "unroll": u} for u in forced]:
        try:
            kernel = module(TRANSPOSE_SOURCE, short, **options)[name]
            kernel.schedule(kernel.variant_for(()))
        except turbo.ScheduleError:
            assert name == "colsum" and options  # j carries s: only vectorize i there
            continue
        for n in (0, 1, 3, 4, 7, 8, 9, 12, 15, 16, 17, 23, 25, 33):
            assert_same(kernel, *transpose_args(name, rng, n, dt))


# ----------------------------------------------------------------------------- short dims specialized at the first call

SHORT_SOURCE = """
kernel filt(out: T[M2, N2], img: T[M, N], k: T[R, R]) {
    for i in 0:M - R + 1, j in 0:N - R + 1 {
        s = 0.0
        for di in 0:R, dj in 0:R { s += img[i + di, j + dj] * k[di, dj] }
        out[i, j] = s
    }
}
kernel taps(out: T[M], x: T[N], w: T[R]) {
    for i in 0:N - R + 1 {
        s = 0.0
        for d in 0:R { s += x[i + d] * w[d] }
        out[i] = s
    }
}
kernel outer(out: T[R], x: T[R]) {
    for d in 0:R { out[d] = x[d] * 2.0 }
}
"""


def short_args(name, rng, n, r, dt):
    m = lambda a, b: rand(rng, (a, b), dt)
    if name == "filt":
        return np.zeros((n + 1, n + 2), dt), m(n + r - 1, n + r + 1), m(r, r)
    if name == "taps":
        return np.zeros(n + r, dt), rand(rng, n + r - 1, dt), rand(rng, r, dt)
    return np.zeros(r, dt), rand(rng, r, dt)


def test_short_dims_get_a_copy_specialized_for_the_first_calls_values():
    """A dim that is the whole trip of an inner loop sliding a window, small at the
    call (R = 3), gets a copy of the code with R literal, whose taps unroll fully
    as a literal filter's do; explain() shows both schedules. A dim that only
    bounds a top-level loop, is too large to unroll, or is the trip of a loop that
    walks only its own axis (a gemm's k) or that the plan vectorizes (gemvt's i)
    gets none."""
    rng = np.random.default_rng(10)
    mod = module(SHORT_SOURCE, "f32")
    args = short_args("filt", rng, 9, 3, "float32")
    variant = mod.filt.variant_for(args)
    assert variant.dims == (("R", 3),) and variant.tag.endswith("_R3")
    text = mod.filt.explain(*args)
    fixed, general = text.split("any other values:")
    assert "specialized for R = 3" in fixed and "unroll fully di × 3, dj × 3" in fixed
    assert "unroll fully" not in general
    assert mod.filt.variant_for(short_args("filt", rng, 9, 17, "float32")).dims == ()
    assert mod.outer.variant_for(short_args("outer", rng, 9, 3, "float32")).dims == ()
    assert mod.filt.variant_for(()).dims == ()
    plain = module(SOURCE, "f32")
    for name in ("gemm", "gemvt"):
        assert plain[name].variant_for(args_for(name, rng, 9, "float32")).dims == ()


def kron(out, A, B):
    p = B.shape[0]  # a local standing for a dim
    q = B.shape[1]
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            for k in range(p):
                for c in range(q):
                    out[i * p + k, j * q + c] = A[i, j] * B[k, c]


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_a_vector_loop_shorter_than_a_vector_gets_a_specialized_copy(dt):
    """The plan vectorizes kron's c, whose trip is B's columns: at the call, 2 or 4,
    less than a vector, so every step would be a masked leftover. The copy for
    the call's value sees a literal trip (a dim read through the local q) and
    fills narrower vectors; other values run the general code."""
    rng = np.random.default_rng(13)
    f = turbo.turbo(kron)
    lanes = 8 if dt == "float32" else 4
    for q in (lanes // 2, lanes, 3, lanes // 2):
        A, B = rand(rng, (5, 7), dt), rand(rng, (q, q), dt)
        out = np.zeros((5 * q, 7 * q), dt)
        f(out, A, B)
        np.testing.assert_array_equal(out, np.kron(A, B))
    args = (np.zeros((20, 28), dt), rand(rng, (5, 7), dt), rand(rng, (lanes // 2, lanes // 2), dt))
    kernel = f.kernels[0]
    assert [v for _, v in kernel.variant_for(args).dims] == [lanes // 2]  # B's dim
    fixed = f.explain(*args).split("any other values:")[0]
    assert f"vectorize c × {lanes // 2} " in fixed, fixed
    wide = (np.zeros((5 * lanes, 7 * lanes), dt), args[1], rand(rng, (lanes, lanes), dt))
    assert kernel.variant_for(wide).dims == ()


def test_a_checked_copys_vector_loop_gets_no_specialized_copy():
    """The demo's 3 x 3 convolution vectorizes its output channels; only the copy
    with bounds checks (run where the guards fail) vectorizes the 3 input channels.
    A copy for CI = 3 made the first call 3x slower for code no faster."""
    import pathlib

    demo = turbo.load(str(pathlib.Path(turbo.__file__).parent / "examples" / "demo.loop"))
    args = (np.zeros((26, 26, 8), np.float32), np.ones((28, 28, 3), np.float32), np.ones((3, 3, 3, 8), np.float32))
    assert demo.conv3x3.variant_for(args).dims == ()


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["filt", "taps"])
def test_specialized_and_general_copies_match_interpreter(name, dt):
    """The first call fixes R; later calls with other values run the general copy,
    against the interpreter. A forced schedule is applied to the code as written:
    no specialized copy."""
    short = {"float32": "f32", "float64": "f64"}[dt]
    for options in ({}, {"vectorize": "j" if name == "filt" else "i", "unroll": {"i": 2}}):
        rng = np.random.default_rng(11)
        kernel = turbo.compile(SHORT_SOURCE.replace("T[", f"{short}["), "short.loop", **options)[name]
        assert bool(kernel.variant_for(short_args(name, rng, 9, 3, dt)).dims) == (not options)
        for r in (3, 1, 5, 0, 2, 17, 3):
            for n in (1, 7, 9, 16, 17):
                assert_same(kernel, *short_args(name, rng, n, r, dt))


def test_specialized_copy_reports_errors_at_the_source():
    """An out-of-bounds read inside the specialized copy raises the same located
    error as the general code."""
    src = """
kernel bad(out: f64[N], x: f64[N], w: f64[R]) {
    for i in 0:N {
        s = 0.0
        for d in 0:R { s += x[i + d] * w[d] }
        out[i] = s
    }
}"""
    for r in (3, 20):
        kernel = turbo.compile(src, "bad.loop").bad
        assert kernel.variant_for((np.zeros(8), np.ones(8), np.ones(r))).dims == ((("R", 3),) if r == 3 else ())
        with pytest.raises(turbo.KernelIndexError, match="'x'") as info:
            kernel(np.zeros(8), np.ones(8), np.ones(r))
        assert "x[i + d]" in str(info.value) and "line 5" in str(info.value)


def test_literal_trips_shorter_than_a_vector_are_not_tried():
    """A literal 3-trip loop is never the vector loop of a candidate (every step
    would be masked), nor unrolled beyond its trip, unless the user asks for it."""
    rng = np.random.default_rng(12)
    args = literal_args("filter3", rng, 9, "float32")
    kernel = module(LITERAL_SOURCE, "f32").filter3
    from turbo.passes import analysis

    ctx = analysis.Context.of(kernel.ir)
    sites = list(S.sites_within(next(S._nests(kernel.ir.body))))
    for site in sites:
        plans_here = list(S._candidates(ctx, site, AVX2, S.Options()))
        assert (plans_here == []) == (site.loop.index in ("di", "dj"))
        for p in plans_here:
            assert all(f <= 3 for n, f in zip(p.loops, p.factors) if n in ("di", "dj"))
    forced = module(LITERAL_SOURCE, "f32", vectorize="dj", unroll={"di": 3}).filter3
    text = forced.explain(*args)
    assert "vectorize dj" in text.split("rejected")[0]
    for n in (1, 5, 9):
        assert_same(forced, *literal_args("filter3", rng, n, "float32"))


# ----------------------------------------------------------------------------- split nests

SPLIT_SOURCE = """
kernel softmax(out: T[M, N], A: T[M, N]) {
    for i in 0:M {
        m = A[i, 0]
        for j in 0:N { m = max(m, A[i, j]) }
        s = 0.0
        for j in 0:N {
            e = exp(A[i, j] - m)
            out[i, j] = e
            s += e
        }
        r = 1.0 / s
        for j in 0:N { out[i, j] = out[i, j] * r }
    }
}
kernel layernorm(out: T[M, N], A: T[M, N], g: T[N]) {
    for i in 0:M {
        s = 0.0
        for j in 0:N { s += A[i, j] }
        mu = s / N
        v = 0.0
        for j in 0:N {
            d = A[i, j] - mu
            if d > 0.0 { v += d * d } else { v += d * d * 1.0 }
        }
        r = 1.0 / sqrt(v / N + 0.00001)
        for j in 0:N { out[i, j] = (A[i, j] - mu) * r * g[j] }
    }
}
"""


def split_args(name, rng, m, n, dt):
    args = [np.zeros((m, n), dt), rand(rng, (m, n), dt)]
    if name == "layernorm":
        args.append(rand(rng, n, dt))
    return args


def test_sibling_loops_get_regions_of_their_own():
    """A row softmax has three loops inside i: one region could vectorize only one
    of them (the others would run as written inside it, exp per element); the model
    prices the root as written with each inner loop vectorized lower, and explain()
    shows the three schedules."""
    for dt in ("f32", "f64"):
        regions = plans("softmax", AVX2, dt, src=SPLIT_SOURCE)
        assert sorted(p.root for p in regions) == [(0, 1), (0, 3), (0, 5)]
        assert all(p.vector == "j" for p in regions)
    text = module(SPLIT_SOURCE, "f32").softmax.explain()
    assert "chosen: loop i as written, each loop inside with a schedule of its own" in text
    headers = re.findall(r"^ +loop j \(at 0\.\d\):$", text, re.M)
    assert len(headers) in (3, 6)  # 6: the unchecked and the checked copy of a versioned nest


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["softmax", "layernorm"])
def test_split_nests_match_interpreter(name, dt):
    rng = np.random.default_rng(13)
    short = {"float32": "f32", "float64": "f64"}[dt]
    for options in ({}, {"parallel": True}):
        kernel = module(SPLIT_SOURCE, short, **options)[name]
        for m, n in ((0, 3), (1, 1), (3, 7), (5, 8), (9, 17), (2, 33), (7, 40)):
            assert_same(kernel, *split_args(name, rng, m, n, dt))


# ----------------------------------------------------------------------------- sibling vector loops

SIBLING_SOURCE = """
kernel rmsnorm(out: T[M, N], A: T[M, N], g: T[N]) {
    for i in 0:M {
        s = 0.0
        for j in 0:N { s += A[i, j] * A[i, j] }
        r = 1.0 / sqrt(s / N + 0.000001)
        for j in 0:N { out[i, j] = A[i, j] * r * g[j] }
    }
}
kernel center(out: T[M, N], A: T[M, N], g: T[N]) {
    for i in 0:M {
        s = 0.0
        for j in 0:N { s += A[i, j] }
        mu = s / N
        for j in 0:N { out[i, j] = A[i, j] - mu }
    }
}
kernel softmax(out: T[M, N], A: T[M, N], g: T[N]) {
    for i in 0:M {
        m = -inf
        for j in 0:N { m = max(m, A[i, j]) }
        s = 0.0
        for j in 0:N {
            e = exp(A[i, j] - m)
            out[i, j] = e
            s += e
        }
        for j in 0:N { out[i, j] = out[i, j] / s }
    }
}
kernel clipnorm(out: T[M, N], A: T[M, N], g: T[N]) {
    for i in 0:M {
        s = 0.0
        for j in 0:N {
            if A[i, j] > 0.0 { s += A[i, j] } else { s -= A[i, j] * g[j] }
        }
        for q in 0:4 { s += g[q] }
        n = s + 1.0
        for t in 0:N {
            v = A[i, t] / n
            if v > 0.1 { out[i, t] = v } else { out[i, t] = g[t] }
        }
    }
}
"""


def sibling_args(rng, m, n, dt):
    return np.zeros((m, max(n, 4)), dt), rand(rng, (m, max(n, 4)), dt), rand(rng, max(n, 4), dt)


def test_sibling_loops_run_in_vectors_for_several_rows_at_once():
    """rmsnorm: with its rows one at a time, each row's scaling waits on a
    reduction, a division and a square root; one region unrolling i and
    vectorizing both j loops runs the rows' chains side by side (0.88x Numba ->
    1.0-1.1x at 128-512 f64). Its loops walk no more rows than L1's ways less two."""
    for target, dt in ((AVX2, "f32"), (AVX2, "f64"), (AVX512, "f32")):
        (p,) = plans("rmsnorm", target, dt, src=SIBLING_SOURCE)
        assert p.root == (0,) and p.vector == "j" and p.siblings == (((0, 1), "j"),)
        assert p.factor("i") > 1 and p.paths[-1] == (0, 3)
        assert 2 * p.factor("i") + 1 <= target.l1_ways - 2
    text = module(SIBLING_SOURCE, "f64").rmsnorm.explain()
    assert "the same for loop j (at 0.1)" in text.split("rejected")[0]


def test_rows_streamed_from_l2_are_not_jammed_through_siblings():
    """center has no long chain between its loops: jammed over rows it is
    predicted cheaper, but both plans take longer to move its data from L2 than to
    compute, and rows one at a time stream it better (measured 10% faster at
    256 x 256 f64): it is not taken, and explain() says why."""
    for target in (AVX2, AVX512):
        # the region without siblings then stands against the split, as any region
        assert not any(p.siblings for p in plans("center", target, "f64", src=SIBLING_SOURCE))
    text = module(SIBLING_SOURCE, "f64").center.explain()
    assert "the same for loop j (at 0.1)" in text and "note: not chosen: unroll-and-jam i" in text
    assert "takes to move from L2" in text


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", ["rmsnorm", "center", "softmax", "clipnorm"])
def test_sibling_vector_loops_match_interpreter(name, dt):
    """Chosen and forced plans vectorizing sibling loops (a softmax's third loop
    reads what its second stored; clipnorm's loops hold ifs and have different
    indices, a short literal loop sits between them) on sizes around each factor,
    and across threads."""
    rng = np.random.default_rng(21)
    short = {"float32": "f32", "float64": "f64"}[dt]
    forced = [{"vectorize": "j", "unroll": {"i": a, "j": f, "t": f}} for a, f in ((2, 1), (3, 2), (4, 3))]
    for options in [{}, {"parallel": True}] + forced:
        kernel = module(SIBLING_SOURCE, short, **options)[name]
        if "unroll" in options:
            sched = kernel.schedule(kernel.variant_for(()))[1]
            regions = sched.regions + (sched.fast.regions if sched.fast else ())  # clipnorm: g[q] is versioned
            assert any(p.siblings for p in regions), options
        for m, n in ((0, 3), (1, 1), (3, 7), (5, 8), (7, 9), (9, 17), (2, 33), (11, 40)):
            assert_same(kernel, *sibling_args(rng, m, n, dt))


def test_division_by_an_invariant_is_priced_as_a_multiply():
    """With fastmath, x / s in a transformed loop may become x * (1 / s), the
    reciprocal computed once before the loop (LLVM's arcp): the model prices it
    as a multiply where s does not change in the loop, and keeps a division's cost
    where it does. A row divided by its norm ran 0.5x Numba at 256 x 256 f64 with
    a division per element, 1.0x with the reciprocal."""
    src = """
kernel byrow(out: f64[M, N], A: f64[M, N], d: f64[M]) {
    for i in 0:M, j in 0:N { out[i, j] = A[i, j] / d[i] }
}
kernel byelem(out: f64[M, N], A: f64[M, N], B: f64[M, N]) {
    for i in 0:M, j in 0:N { out[i, j] = A[i, j] / B[i, j] }
}
"""
    mod = turbo.compile(src, "div.loop")
    bounds = {}
    for name in ("byrow", "byelem"):
        k = mod[name]
        bounds[name] = k.schedule(k.variant_for(()))[1].decisions[0].chosen.estimate.bound
    assert bounds["byelem"] == "div" and bounds["byrow"] != "div"
    assert "fdiv arcp" in mod.byrow.inspect("llvm") or "arcp" in mod.byrow.inspect("llvm")
    rng = np.random.default_rng(3)
    A, d = rand(rng, (9, 13), np.float64), rand(rng, 9, np.float64) + 0.5
    out = np.zeros((9, 13))
    mod.byrow(out, A, d)
    np.testing.assert_allclose(out, A / d[:, None], rtol=4e-16, atol=0)
    nofm = turbo.compile(src, "div.loop", fastmath=False)
    assert "arcp" not in nofm.byrow.inspect("llvm")
