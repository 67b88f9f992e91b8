"""Compiled kernels against the reference interpreter (and NumPy where natural)."""

import pathlib

import numpy as np
import pytest

import turbo
from helpers import SIZES, assert_same, compiled, rand

rng = np.random.default_rng(1234)

GEMMS = """
kernel ab(C: T[M, N], A: T[M, K], B: T[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
kernel atb(C: T[M, N], A: T[K, M], B: T[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[k, m] * B[k, n] }
        C[m, n] = acc
    }
}
kernel abt(C: T[M, N], A: T[M, K], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[n, k] }
        C[m, n] = acc
    }
}
kernel atbt(C: T[M, N], A: T[K, M], B: T[N, K]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[k, m] * B[n, k] }
        C[m, n] = acc
    }
}
"""


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 31, 33])
def test_gemm_orientations_match_numpy(dtype, n):
    mod = compiled(GEMMS.replace("T[", f"{dtype}["))
    npt = np.float32 if dtype == "f32" else np.float64
    M, N, K = n, n + 1, max(n - 1, 0)
    A = rand(rng, (M, K), npt)
    B = rand(rng, (K, N), npt)
    want = A.astype(np.float64) @ B.astype(np.float64)
    tol = 1e-4 if dtype == "f32" else 1e-12
    for name, a, b in [("ab", A, B), ("atb", A.T.copy(), B), ("abt", A, B.T.copy()), ("atbt", A.T.copy(), B.T.copy())]:
        C = np.zeros((M, N), npt)
        getattr(mod, name)(C, a, b)
        np.testing.assert_allclose(C, want, rtol=tol, atol=tol * max(K, 1))
        assert_same(getattr(mod, name), np.zeros((M, N), npt), a, b)


def test_gemm_on_strided_and_transposed_views():
    mod = compiled(GEMMS.replace("T[", "f64["))
    A = rand(rng, (9, 14), np.float64)[:, ::2]  # (9, 7), non-contiguous
    B = rand(rng, (7, 11), np.float64).T.copy().T  # Fortran order
    C_base = np.zeros((9, 22))
    C = C_base[:, ::2]  # written through a strided view
    mod.ab(C, A, B)
    np.testing.assert_allclose(C, A @ B, rtol=1e-12)
    assert np.all(C_base[:, 1::2] == 0), "wrote outside the view"
    assert_same(mod.ab, np.zeros((9, 11)), A, B)


SCAN = """
kernel cumsum(y: T[N], x: T[N]) {
    if N > 0 { y[0] = x[0] }
    for i in 1:N { y[i] = y[i - 1] + x[i] }
}
kernel inplace_scan(y: T[N]) {
    for i in 1:N { y[i] += y[i - 1] }
}
"""


@pytest.mark.parametrize("dtype", ["f32", "f64", "i32", "i64"])
@pytest.mark.parametrize("n", SIZES)
def test_scans_keep_loop_carried_dependence(dtype, n):
    mod = compiled(SCAN.replace("T[", f"{dtype}["))
    npt = np.dtype({"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64"}[dtype])
    x = rand(rng, n, npt)
    y = np.zeros(n, npt)
    mod.cumsum(y, x)
    assert_same(mod.cumsum, np.zeros(n, npt), x)
    assert_same(mod.inplace_scan, x)
    if npt.kind == "i":
        np.testing.assert_array_equal(y, np.cumsum(x, dtype=npt))


STENCILS = """
kernel filter3(out: f32[M2, N2], img: f32[M, N], k: f32[3, 3]) {
    for i in 0:M - 2, j in 0:N - 2 {
        s = 0.0
        for di in 0:3, dj in 0:3 { s += img[i + di, j + dj] * k[di, dj] }
        out[i, j] = s
    }
}
kernel conv(out: f32[H2, W2, CO], img: f32[H, W, CI], w: f32[KH, KW, CI, CO], b: f32[CO]) {
    for y in 0:H - KH + 1, x in 0:W - KW + 1, co in 0:CO {
        s = b[co]
        for dy in 0:KH, dx in 0:KW, ci in 0:CI { s += img[y + dy, x + dx, ci] * w[dy, dx, ci, co] }
        out[y, x, co] = max(s, 0.0)
    }
}
kernel strided_conv(out: f64[H2, W2], img: f64[H, W], w: f64[3, 3]) {
    for y in 0:H2, x in 0:W2 {
        s = 0.0
        for dy in 0:3, dx in 0:3 {
            iy = 2 * y + dy - 1
            ix = 2 * x + dx - 1
            if iy >= 0 and iy < H and ix >= 0 and ix < W { s += img[iy, ix] * w[dy, dx] }
        }
        out[y, x] = s
    }
}
"""


@pytest.mark.parametrize("n", [3, 4, 7, 9, 17])
def test_stencils_and_convolutions(n):
    mod = compiled(STENCILS)
    img = rand(rng, (n, n + 2), np.float32)
    assert_same(mod.filter3, np.zeros((n - 2, n), np.float32), img, rand(rng, (3, 3), np.float32))
    out = np.zeros((n - 2, n), np.float32)
    k = rand(rng, (3, 3), np.float32)
    mod.filter3(out, img, k)
    win = np.lib.stride_tricks.sliding_window_view(img, (3, 3))
    np.testing.assert_allclose(out, np.einsum("ijab,ab->ij", win, k), rtol=1e-5, atol=1e-5)
    H, W, CI, CO = n, n + 1, 3, 4
    img3 = rand(rng, (H, W, CI), np.float32)
    w = rand(rng, (3, 2, CI, CO), np.float32)
    assert_same(mod.conv, np.zeros((H - 2, W - 1, CO), np.float32), img3, w, rand(rng, CO, np.float32))
    H2 = (n + 1) // 2
    assert_same(mod.strided_conv, np.zeros((H2, H2)), rand(rng, (n, n), np.float64), rand(rng, (3, 3), np.float64))


TRIANGULAR = """
kernel trsv(x: f64[N], L: f64[N, N], b: f64[N]) {
    for i in 0:N {
        s = b[i]
        for j in 0:i { s -= L[i, j] * x[j] }
        x[i] = s / L[i, i]
    }
}
kernel syrk_lower(C: f32[N, N], A: f32[N, K]) {
    for i in 0:N, j in 0:i + 1 {
        s = 0.0
        for k in 0:K { s += A[i, k] * A[j, k] }
        C[i, j] += s
    }
}
kernel logdet(out: f64[1], A: f64[N, N]) {
    s = 0.0
    for i in 0:N { s += log(A[i, i]) }
    out[0] = s
}
"""


@pytest.mark.parametrize("n", SIZES[:9])
def test_triangular_loops(n):
    mod = compiled(TRIANGULAR)
    L = np.tril(rng.random((n, n))) + n * np.eye(n) + np.eye(n)
    b = rng.random(n)
    x = np.zeros(n)
    mod.trsv(x, L, b)
    np.testing.assert_allclose(L @ x, b, rtol=1e-10, atol=1e-12)
    assert_same(mod.trsv, np.zeros(n), L, b)
    A = rand(rng, (n, 5), np.float32)
    assert_same(mod.syrk_lower, np.zeros((n, n), np.float32), A)
    out = np.zeros(1)
    mod.logdet(out, L)
    np.testing.assert_allclose(out[0], np.sum(np.log(np.diag(L))), rtol=1e-12)


STEPS = """
kernel steps(y: i64[N], x: i64[N], s: i64) {
    for i in 0:N:3 { y[i] = x[i] * 2 }
    for i in N - 1:-1:-2 { y[i] += 1 }
    for i in 0:N:s { y[i] -= x[i] }
    for i in N - 1:-1:-s { y[i] += 7 }
}
"""


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("s", [1, 2, 5, -1])
def test_strided_steps(n, s):
    mod = compiled(STEPS)
    x = rand(rng, n, np.int64)
    if s > 0:
        assert_same(mod.steps, np.zeros(n, np.int64), x, s)
    else:
        # a negative run-time step counts down: range(0, N, -1) is empty, like Python
        assert_same(mod.steps, np.zeros(n, np.int64), x, s)


SEMANTICS = """
kernel intops(q: i64[N], r: i64[N], a: i64[N], b: i64[N]) {
    for i in 0:N { q[i] = a[i] // b[i]
                   r[i] = a[i] % b[i] }
}
kernel intops32(q: i32[N], r: i32[N], a: i32[N], b: i32[N]) {
    for i in 0:N { q[i] = a[i] // b[i] + a[i] * b[i] - (-a[i])
                   r[i] = a[i] % b[i] + abs(a[i]) + b[i] ** 3 }
}
kernel floatops(q: T[N], r: T[N], a: T[N], b: T[N]) {
    for i in 0:N { q[i] = a[i] // b[i] + min(a[i], b[i]) - max(b[i], a[i])
                   r[i] = a[i] % b[i] + f64(a[i] < b[i]) + f64(a[i] != b[i]) }
}
kernel casts(o32: i32[N], o64: i64[N], ob: bool[N], of: f32[N], x: f64[N]) {
    for i in 0:N {
        o32[i] = i32(x[i])
        o64[i] = i64(x[i])
        ob[i] = bool(x[i]) and not ob[i]
        of[i] = f32(x[i]) + f32(o32[i] > 3)
    }
}
kernel math(y: T[N], x: T[N]) {
    for i in 0:N {
        v = x[i]
        y[i] = exp(v) + log(abs(v) + 1.0) + sqrt(abs(v)) + sin(v) * cos(v) + tanh(v) + sigmoid(v) + floor(v) * ceil(v) + pow(abs(v), 0.5) + abs(v) ** 1.5
    }
}
kernel select(y: f32[N], x: f32[N], lo: f32, hi: f32, flag: bool) {
    for i in 0:N {
        y[i] = lo if x[i] < lo else (hi if x[i] > hi else x[i])
        if flag or x[i] == 0.0 { y[i] += 1.0 } else { y[i] -= 1.0 }
    }
}
"""


def test_integer_division_and_modulo_are_floored():
    mod = compiled(SEMANTICS.replace("T[", "f64["))
    a = np.array([7, -7, 7, -7, 0, 2**63 - 1, -(2**63), -(2**63), 5], np.int64)
    b = np.array([2, 2, -2, -2, 3, -1, -1, 1, 5], np.int64)
    q, r = np.zeros_like(a), np.zeros_like(a)
    mod.intops(q, r, a, b)
    for i in range(len(a)):
        pa, pb = int(a[i]), int(b[i])
        want_q = ((pa // pb) + 2**63) % 2**64 - 2**63  # wraps like i64
        assert q[i] == want_q and r[i] == pa % pb, (pa, pb)
    assert_same(mod.intops, q, r, a, b)
    a32 = rand(rng, 200, np.int32)
    b32 = rand(rng, 200, np.int32)
    b32[b32 == 0] = 3
    assert_same(mod.intops32, np.zeros(200, np.int32), np.zeros(200, np.int32), a32, b32)


def test_integer_division_by_zero_raises():
    mod = compiled(SEMANTICS.replace("T[", "f64["))
    a = np.array([1, 2], np.int64)
    b = np.array([1, 0], np.int64)
    with pytest.raises(ZeroDivisionError) as info:
        mod.intops(np.zeros(2, np.int64), np.zeros(2, np.int64), a, b)
    assert isinstance(info.value, turbo.TurboError)
    assert info.value.line == 3


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_float_semantics_with_specials(dtype):
    mod = compiled(SEMANTICS.replace("T[", f"{dtype}["))
    npt = np.float32 if dtype == "f32" else np.float64
    specials = np.array([0.0, -0.0, 1.5, -1.5, 3.0, -3.0, np.inf, -np.inf, np.nan, 1e-42, 7.25, -7.25], npt)
    a = np.repeat(specials, len(specials))
    b = np.tile(specials, len(specials))
    assert_same(mod.floatops, np.zeros_like(a), np.zeros_like(a), a, b)
    x = np.concatenate([specials, rand(rng, 100, npt) * 5])
    mine, ref = np.zeros_like(x), np.zeros_like(x)
    mod.math(mine, x)
    from turbo.interpret import interpret

    interpret(mod.math.ir, ref, x)
    # libm and NumPy may differ in the last bits of transcendental functions
    np.testing.assert_allclose(mine, ref, rtol=1e-5 if dtype == "f32" else 1e-13, equal_nan=True)


def test_casts_saturate():
    mod = compiled(SEMANTICS.replace("T[", "f64["))
    x = np.array([0.0, -0.0, 1.9, -1.9, 2.5e9, -2.5e9, 1e19, -1e19, np.inf, -np.inf, np.nan, 3.5, 4.0], np.float64)
    n = len(x)
    args = (np.zeros(n, np.int32), np.zeros(n, np.int64), np.zeros(n, bool), np.zeros(n, np.float32), x)
    assert_same(mod.casts, *args)
    mod.casts(*args)
    assert list(args[0][:8]) == [0, 0, 1, -1, 2**31 - 1, -(2**31), 2**31 - 1, -(2**31)]
    assert args[1][10] == 0 and args[0][10] == 0  # NaN -> 0


def test_select_and_bool_scalars():
    mod = compiled(SEMANTICS.replace("T[", "f64["))
    x = rand(rng, 33, np.float32)
    x[3] = 0.0
    for flag in (True, False):
        assert_same(mod.select, np.zeros(33, np.float32), x, -0.5, 0.5, flag)


HISTOGRAM = """
kernel hist(h: i32[B], x: i64[N]) {
    for i in 0:N { h[x[i]] += 1 }
}
kernel gather(y: f32[N], x: f32[M], idx: i32[N]) {
    for i in 0:N { y[i] = x[idx[i]] if idx[i] >= 0 else 0.0 }
}
"""


@pytest.mark.parametrize("n", SIZES)
def test_computed_indices(n):
    mod = compiled(HISTOGRAM)
    x = rng.integers(0, 10, n)
    h = np.zeros(10, np.int32)
    mod.hist(h, x)
    np.testing.assert_array_equal(h, np.bincount(x, minlength=10))
    idx = rng.integers(-3, 20, n).astype(np.int32)
    assert_same(mod.gather, np.zeros(n, np.float32), rand(rng, 20, np.float32), idx)


def test_computed_index_out_of_bounds_raises_index_error():
    mod = compiled(HISTOGRAM)
    h = np.zeros(10, np.int32)
    for bad in (10, -1, 2**40):
        x = np.array([1, 2, bad, 3])
        with pytest.raises(IndexError) as info:
            mod.hist(h, x)
        e = info.value
        assert isinstance(e, turbo.KernelIndexError)
        assert f"index {bad} is out of bounds for axis 0 of 'h' with size 10" in str(e)
        assert (e.line, e.column) == (3, 20)


def test_unprovable_affine_access_is_checked():
    mod = compiled("kernel shift(y: f32[N], x: f32[N], s: i64) { for i in 0:N { y[i] = x[i + s] } }")
    x = rand(rng, 8, np.float32)
    y = np.zeros(8, np.float32)
    mod.shift(y, x, 0)
    np.testing.assert_array_equal(y, x)
    with pytest.raises(IndexError):
        mod.shift(y, x, 1)


def test_boundscheck_policies():
    src = "kernel f(y: f32[N], x: f32[M]) { for i in 0:N { y[i] = x[i] } }"
    x = rand(rng, 4, np.float32)
    with pytest.raises(IndexError):
        compiled(src).f(np.zeros(5, np.float32), x)
    with pytest.raises(IndexError):
        compiled(src, boundscheck=True).f(np.zeros(5, np.float32), x)
    y = np.zeros(3, np.float32)
    compiled(src, boundscheck=False).f(y, x)  # trusted: in bounds here
    np.testing.assert_array_equal(y, x[:3])


def test_aliasing_arguments_keep_sequential_semantics():
    mod = compiled("""
    kernel add_t(C: f64[N, N], A: f64[N, N], B: f64[N, N]) {
        for i in 0:N, j in 0:N { C[i, j] = A[i, j] + B[j, i] }
    }
    kernel shift(y: f64[N], x: f64[N]) { for i in 0:N - 1 { y[i + 1] = x[i] * 2.0 } }
    """)
    for n in (1, 5, 16, 33):
        A = rand(rng, (n, n), np.float64)
        # C is A: every element read after earlier writes, exactly as the interpreter does
        from turbo.interpret import interpret
        mine, ref = A.copy(), A.copy()
        mod.add_t(mine, mine, mine)
        interpret(mod.add_t.ir, ref, ref, ref)
        np.testing.assert_array_equal(mine, ref)
        x = rand(rng, 3 * n, np.float64)
        mine, ref = x.copy(), x.copy()
        mod.shift(mine[n:], mine[:2 * n])  # overlapping views of one buffer
        interpret(mod.shift.ir, ref[n:], ref[:2 * n])
        np.testing.assert_array_equal(mine, ref)


def test_scalar_arguments_of_every_kind():
    mod = compiled("""
    kernel axpby(y: f32[N], x: f32[N], a: f32, b: f64, k: i32, n: i64, flag: bool) {
        for i in 0:N { y[i] = a * x[i] + f32(b) + f32(k * 2) + f32(n) if flag else 0.0 }
    }""")
    x = rand(rng, 17, np.float32)
    for args in [(1.5, 2.0, 3, 4, True), (np.float32(1.5), np.float64(2), np.int32(3), np.int64(4), np.bool_(True)),
                 (2, 1, 2**31 - 1, -(2**63), False)]:
        assert_same(mod.axpby, np.zeros(17, np.float32), x, *args)


def test_literal_dims_and_zero_size():
    mod = compiled("""
    kernel img(out: f32[28, 28, 1], x: f32[28, 28, 1], s: f32) {
        for r in 0:28, c in 0:28 { out[r, c, 0] = x[r, c, 0] * s }
    }
    kernel empty(y: f64[N], x: f64[M, N]) {
        for i in 0:M, j in 0:N { y[j] += x[i, j] }
    }""")
    x = rand(rng, (28, 28, 1), np.float32)
    out = np.zeros_like(x)
    mod.img(out, x, 2.0)
    np.testing.assert_array_equal(out, x * np.float32(2.0))
    for m, n in [(0, 0), (0, 5), (5, 0), (1, 1)]:
        assert_same(mod.empty, np.zeros(n), rand(rng, (m, n), np.float64))


def test_bool_arrays():
    mod = compiled("""
    kernel mask(out: bool[N], x: f32[N], t: f32) {
        for i in 0:N { out[i] = x[i] > t or out[i] }
    }""")
    x = rand(rng, 40, np.float32)
    out = rng.random(40) < 0.3
    assert_same(mod.mask, out, x, 0.1)


def test_integer_power_and_negative_exponent_error():
    mod = compiled("kernel p(y: i64[N], x: i64[N], e: i64) { for i in 0:N { y[i] = x[i] ** e } }")
    x = np.arange(-4, 5, dtype=np.int64)
    for e in (0, 1, 2, 3, 7, 63):
        assert_same(mod.p, np.zeros(9, np.int64), x, e)
    with pytest.raises(ValueError, match="negative integer power"):
        mod.p(np.zeros(9, np.int64), x, -1)


def test_zero_runtime_step_raises():
    mod = compiled(STEPS)
    with pytest.raises(ValueError, match="step is zero"):
        mod.steps(np.zeros(4, np.int64), np.zeros(4, np.int64), 0)


def test_negative_strides_and_reversed_overlapping_views():
    mod = compiled("""
    kernel rev(y: f64[N], x: f64[N]) { for i in 0:N { y[i] = x[i] + f64(i) } }
    kernel mat(C: f32[M, N], A: f32[M, N]) { for i in 0:M, j in 0:N { C[i, j] = A[i, j] * 2.0 } }
    """)
    from turbo.interpret import interpret
    for n in (1, 2, 9, 33):
        base = rand(rng, 2 * n, np.float64)
        mine, ref = base.copy(), base.copy()
        mod.rev(mine[::-1][:n], mine[::2])  # reversed output overlapping a strided input
        interpret(mod.rev.ir, ref[::-1][:n], ref[::2])
        np.testing.assert_array_equal(mine, ref)
        A = rand(rng, (n, n + 1), np.float32)
        assert_same(mod.mat, np.zeros((n, n + 1), np.float32), A[::-1, ::-1])
        C = np.zeros((n, n + 1), np.float32)
        mod.mat(C[::-1], A)
        np.testing.assert_array_equal(C[::-1], A * np.float32(2.0))


RETURNS = (pathlib.Path(__file__).parent / "golden" / "returns.loop").read_text()


@pytest.mark.parametrize("n", SIZES)
def test_returned_scalars_match_interpreter(n):
    rng = np.random.default_rng(n)
    mod = compiled(RETURNS)
    x32, x64 = rand(rng, n, np.float32), rand(rng, n, np.float64)
    if n > 3:
        x32[3] = np.nan
    assert_same(mod.selfdot, x32, rtol=1e-5)
    assert_same(mod.count_negative, x64)
    assert_same(mod.any_nan, x32)
    if n:
        assert_same(mod.widened, x32)
        assert_same(mod.literal_f64, x32)


def test_returned_scalar_through_slow_path_and_errors():
    mod = compiled(RETURNS)
    x = np.arange(6, dtype=np.float32)
    # a strided view takes the slow path the first time (its variant is compiled there)
    assert mod.selfdot(x[::2]) == 0.0 + 4 + 16
    assert mod.selfdot(x[::2]) == 20.0
    assert mod.count_negative._slow(-np.ones(3)) == 3
    with pytest.raises(turbo.KernelIndexError):
        mod.widened(x[:0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_floor_division_and_modulo_are_numpys_divmod(dtype):
    """1.0 // 0.1 is 9.0 in Python (divmod from fmod), not floor(1.0 / 0.1) = 10.0;
    signed zeros, infinities, NaNs and a zero divisor as NumPy gives them."""
    mod = compiled("kernel f(q: T[N], r: T[N], x: T[N], z: T[N]) { for i in 0:N { q[i] = x[i] // z[i]; r[i] = x[i] % z[i] } }"
                   .replace("T[", "f32[" if dtype == np.float32 else "f64["))
    vals = [1.0, -1.0, 0.1, -0.1, 0.0, -0.0, 3.0, 7.5, -2.5, np.inf, -np.inf, np.nan, 1e30, 1e-30]
    x, z = (a.ravel().astype(dtype) for a in np.meshgrid(vals, vals))
    q, r = np.zeros_like(x), np.zeros_like(x)
    mod.f(q, r, x, z)
    with np.errstate(all="ignore"):
        wq, wr = np.floor_divide(x, z), np.remainder(x, z)
    for got, want in ((q, wq), (r, wr)):
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(want[~np.isnan(want)]))
    assert_same(mod.f, q, r, x, z)
