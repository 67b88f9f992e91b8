"""Narrow integer arrays (i8, u8, i16, u16, u32): loaded values compute as i64 (as
in Numba: ``u8 + u8`` does not wrap at 8 bits), stores wrap to the width, casts
from floats saturate. Checked against the reference interpreter, NumPy and plain
Python, scalar and vectorized, with values at the ends of each type's range."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo import errors

from helpers import assert_same

NARROW = ["i8", "u8", "i16", "u16", "u32"]
NP = {"i8": np.int8, "u8": np.uint8, "i16": np.int16, "u16": np.uint16, "u32": np.uint32}

SOURCE = """
kernel blend(out: T[N], a: T[N], b: T[N]) {
    for i in 0:N { out[i] = (a[i] + b[i]) // 2 }
}
kernel widen(out: f32[N], x: T[N]) {
    for i in 0:N { out[i] = x[i] * 0.5 - 1.0 }
}
kernel saturate(out: T[N], x: f64[N]) {
    for i in 0:N { out[i] = T(x[i]) }
}
kernel wraps(out: T[N], x: i64[N]) {
    for i in 0:N { out[i] = x[i] }
}
kernel total(x: T[N]) {
    s = 0
    for i in 0:N { s += x[i] }
    return s
}
kernel extremes(x: T[N], out: i64[2]) {
    lo = 1 << 40
    hi = -(1 << 40)
    for i in 0:N {
        lo = min(lo, x[i])
        hi = max(x[i], hi)
    }
    out[0] = lo
    out[1] = hi
}
kernel update(out: T[N], x: T[N]) {
    for i in 0:N { out[i] += x[i] * 3 }
}
kernel unary(out: i64[N], x: T[N]) {
    for i in 0:N { out[i] = -x[i] + abs(x[i]) * 2 + (~x[i] & 255) + (x[i] >> 3) }
}
kernel compare(out: bool[N], x: T[N]) {
    for i in 0:N { out[i] = x[i] > 100 and x[i] != 200 }
}
kernel scaled(out: T[N], a: T[N], b: T[N]) {
    for i in 0:N { out[i] = (a[i] * b[i] // 1000 + (a[i] & 15) - (b[i] >> 2)) % 97 }
}
kernel choose(out: T[N], a: T[N], b: T[N]) {
    for i in 0:N { out[i] = max(a[i], b[i]) - min(a[i], 3) if a[i] < b[i] else abs(a[i] - b[i]) }
}
"""


def module(t: str, **options):
    return turbo.compile(SOURCE.replace("T[", f"{t}[").replace("T(", f"{t}("), f"narrow_{t}.loop", **options)


def _values(rng, n, dt):
    info = np.iinfo(dt)
    x = rng.integers(info.min, info.max, size=n, endpoint=True, dtype=np.int64).astype(dt)
    edges = np.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1], dtype=np.int64).astype(dt)
    x[: min(n, len(edges))] = edges[: min(n, len(edges))]
    return x


SIZES = (0, 1, 5, 8, 9, 31, 32, 33, 100)


@pytest.mark.parametrize("t", NARROW)
@pytest.mark.parametrize("options", [{}, {"vectorize": "i"}, {"vectorize": None}])
def test_narrow_kernels_match_the_interpreter(t, options):
    mod = module(t, **options)
    dt = np.dtype(NP[t])
    rng = np.random.default_rng(dt.itemsize)
    for n in SIZES:
        a, b = _values(rng, n, dt), _values(rng, n, dt)
        assert_same(mod.blend, np.zeros(n, dt), a, b)
        assert_same(mod.widen, np.zeros(n, np.float32), a)
        f = np.concatenate([rng.standard_normal(n) * 1e6, [np.nan, np.inf, -np.inf, -0.5, 0.99, 255.5, -129.0]])
        assert_same(mod.saturate, np.zeros(len(f), dt), f)
        assert_same(mod.wraps, np.zeros(n, dt), rng.integers(-(2 ** 62), 2 ** 62, size=n))
        assert_same(mod.total, a)
        assert_same(mod.extremes, a, np.zeros(2, np.int64))
        assert_same(mod.update, a.copy(), b)
        assert_same(mod.unary, np.zeros(n, np.int64), a)
        assert_same(mod.compare, np.zeros(n, bool), a)
        assert_same(mod.scaled, np.zeros(n, dt), a, b)
        assert_same(mod.choose, np.zeros(n, dt), a, b)


@pytest.mark.parametrize("t", NARROW)
def test_narrow_semantics_against_numpy(t):
    """What the interpreter computes is what the language promises: i64 arithmetic
    (Numba's rule), wrapping stores (NumPy's astype), saturating float casts."""
    mod = module(t)
    dt = np.dtype(NP[t])
    info = np.iinfo(dt)
    a = np.array([info.max, info.max, info.min, 7], dt)
    b = np.array([info.max, 1, info.min, 9], dt)
    out = np.zeros(4, dt)
    mod.blend(out, a, b)
    np.testing.assert_array_equal(out, ((a.astype(np.int64) + b) // 2).astype(dt))
    assert mod.total(a) == int(a.astype(np.int64).sum())
    x = np.array([1e30, -1e30, np.nan, 3.9, -3.9, info.max + 0.5])
    out = np.zeros(6, dt)
    mod.saturate(out, x)
    want = np.where(np.isnan(x), 0, np.clip(np.trunc(np.nan_to_num(x)), info.min, info.max)).astype(dt)
    np.testing.assert_array_equal(out, want)
    big = np.array([2 ** 40 + 5, -1, 2 ** 33 - 3], np.int64)
    out = np.zeros(3, dt)
    mod.wraps(out, big)
    np.testing.assert_array_equal(out, big.astype(dt))


def test_lanes_follow_what_narrow_values_compute_as():
    mod = module("u8")
    x = np.zeros(1000, np.uint8)

    def chosen(kernel, *args):
        return next(line for line in kernel.explain(*args).splitlines() if "chosen:" in line)

    assert "× 8 f32" in chosen(mod.widen, np.zeros(1000, np.float32), x)  # u8 -> f32: f32 lanes
    assert "× 16 i16" in chosen(mod.blend, np.zeros(1000, np.uint8), x, x.copy())  # narrowed to i16
    assert "× 4 i64" in chosen(mod.total, x)  # summed in i64
    copy = turbo.compile("kernel copy(o: u8[N], x: u8[N]) { for i in 0:N { o[i] = x[i] } }").copy
    assert "× 32 u8" in chosen(copy, np.zeros(1000, np.uint8), x)  # nothing computes: bytes


def test_small_values_compute_in_a_narrower_type():
    """passes/narrow.py: every value of (a + b) // 2 of two u8 fits i16, so the loop
    computes on 16 lanes of i16, not 4 of i64; a * b of two u8 needs i32; anything
    that reads a parameter (range unknown) stays i64."""
    from turbo.passes import narrow

    lowered = {k.name: str(narrow.narrow(k)) for k in module("u8").ir.kernels}
    assert "u8((i16(a[i]) + i16(b[i])) // 2)" in lowered["blend"], lowered["blend"]
    assert "i32(a[i]) * i32(b[i]) // 1000" in lowered["scaled"], lowered["scaled"]
    assert "i16(x[i]) > 100" in lowered["compare"], lowered["compare"]
    kernel = turbo.compile("kernel k(o: u8[N], a: u8[N], s: i64) { for i in 0:N { o[i] = a[i] + s } }").k
    assert narrow.narrow(kernel.ir) == kernel.ir
    assert narrow.value_range(module("i16").ir.kernels[0].body[0].body[0].value.operand) == (-32768, 32767)
    x = np.zeros(1000, np.uint8)
    text = module("u8").blend.explain(np.zeros(1000, np.uint8), x, x.copy())
    assert "× 16 i16" in next(line for line in text.splitlines() if "chosen:" in line), text
    assert "scalar tail" in text  # masked byte accesses would go element by element on AVX2


LOCALS = """
kernel box3(out: T[M, N], img: T[M, N]) {
    for i in 1:M - 1, j in 1:N - 1 {
        s = 0
        for di in -1:2, dj in -1:2 { s += img[i + di, j + dj] }
        out[i, j] = s // 9
    }
}
kernel diff(out: i64[M, N], img: T[M, N]) {
    for i in 0:M, j in 1:N {
        d = img[i, j] * 2
        for k in 0:3 { d -= img[i, j - 1] }
        d += 7
        out[i, j] = d
    }
}
kernel rows(out: i64[M], img: T[M, N]) {
    for i in 0:M {
        s = 0
        for j in 0:N { s += img[i, j] }
        out[i] = s
    }
}
kernel carried(out: i64[M], img: T[M, N]) {
    s = 0
    for i in 0:M {
        for d in 0:2 { s += img[i, d] }
        out[i] = s
    }
}
kernel twice(out: i64[M], img: T[M, N]) {
    for i in 0:M {
        s = img[i, 0]
        for d in 0:2 { s += img[i, d] }
        s = 5
        out[i] = s
    }
}
kernel before(out: i64[M], img: T[M, N]) {
    for i in 0:M {
        s = 0
        out[i] = s
        s += img[i, 0]
        out[i] += s
    }
}
"""


def _narrowed_locals(t):
    from turbo.passes import narrow

    mod = turbo.compile(LOCALS.replace("T[", f"{t}["), f"narrow_locals_{t}.loop")
    return mod, {k.name: narrow._local_ranges(k) for k in mod.ir.kernels}


def test_a_local_summing_few_small_values_is_held_narrow():
    """s sums 9 u8 (0 .. 2295: i16), 9 u16 (0 .. 589815: i32); d is 2 x u8 less 3
    of them, plus 7. A sum over a loop of unknown trip, one carried across the
    rows and a local assigned twice are not bounded: they stay i64. One update
    outside any loop counts once."""
    _, r = _narrowed_locals("u8")
    assert r["box3"] == {"s": (0, 9 * 255)}
    assert r["diff"] == {"d": (-3 * 255, 2 * 255 + 7)}
    assert r["before"] == {"s": (0, 255)}
    assert r["rows"] == r["carried"] == r["twice"] == {}
    _, r = _narrowed_locals("u16")
    assert r["box3"] == {"s": (0, 9 * 65535)}
    _, r = _narrowed_locals("i8")
    assert r["box3"] == {"s": (-9 * 128, 9 * 127)}
    mod, _ = _narrowed_locals("u8")
    img = np.zeros((64, 64), np.uint8)
    text = mod.box3.explain(np.zeros((64, 64), np.uint8), img)
    assert "× 16 i16" in next(line for line in text.splitlines() if "chosen:" in line), text


@pytest.mark.parametrize("t", NARROW)
def test_narrow_locals_match_the_interpreter(t):
    mod, _ = _narrowed_locals(t)
    dt = np.dtype(NP[t])
    rng = np.random.default_rng(3)
    for m, n in ((0, 4), (3, 3), (5, 17), (17, 40), (9, 300)):
        img = _values(rng, m * n, dt).reshape(m, n)
        assert_same(mod.box3, np.zeros((m, n), dt), img)
        assert_same(mod.diff, np.zeros((m, n), np.int64), img)
        assert_same(mod.rows, np.zeros(m, np.int64), img)  # 300 x 65535 would wrap i16 and i32 lanes
        if n >= 2:
            assert_same(mod.carried, np.zeros(m, np.int64), img)
            assert_same(mod.twice, np.zeros(m, np.int64), img)
        if n >= 1:
            assert_same(mod.before, np.zeros(m, np.int64), img)
    big = np.full((300, 4), np.iinfo(dt).max, dt)  # the carried sum passes i16's and i32's range
    out = np.zeros(300, np.int64)
    mod.carried(out, big)
    np.testing.assert_array_equal(out, np.cumsum(big[:, :2].astype(np.int64).sum(axis=1)))


def test_printed_ir_parses_back_to_the_same_ir():
    for t in NARROW:
        for k in module(t).ir.kernels:
            assert turbo.parse(str(k)).kernels[0] == k, str(k)


@pytest.mark.parametrize("src, message", [
    ("kernel k(x: u8[N]) { for i in 0:N { x[i] = 256 } }", "integer literal 256 does not fit in u8"),
    ("kernel k(x: i8[N]) { for i in 0:N { x[i] = i8(-129) } }", "-129 does not fit in i8"),
    ("kernel k(x: u8[N], y: f32[N]) { for i in 0:N { x[i] = y[i] } }", "f32 value where u8 is expected"),
    ("kernel k(x: u8[N], s: u8) { for i in 0:N { x[i] = s } }", "a scalar parameter cannot be u8"),
])
def test_narrow_errors_point_at_the_source(src, message):
    with pytest.raises(errors.TurboError, match=message) as info:
        turbo.compile(src, "bad.loop")
    assert "^" in str(info.value)


# ----------------------------------------------------------------------------- @turbo


def to_gray(out, rgb):
    for i in range(rgb.shape[0]):
        for j in range(rgb.shape[1]):
            v = 0.299 * rgb[i, j, 0] + 0.587 * rgb[i, j, 1] + 0.114 * rgb[i, j, 2]
            out[i, j] = np.uint8(v)


def threshold(out, img, t):
    for i in range(img.shape[0]):
        out[i] = 255 if img[i] > t else 0


def histogram(h, img):
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            h[img[i, j]] += 1


def mean_u16(x):
    s = 0
    for i in range(x.shape[0]):
        s += x[i]
    return s / x.shape[0]


def test_turbo_image_kernels_match_plain_python():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, size=(13, 17, 3)).astype(np.uint8)
    got, want = np.zeros((13, 17), np.uint8), np.zeros((13, 17), np.uint8)
    turbo.turbo(fastmath=False)(to_gray)(got, rgb)  # a fused multiply-add may round 111.0 down to 110.99...
    to_gray(want, rgb)
    np.testing.assert_array_equal(got, want)

    img = rng.integers(0, 256, size=101).astype(np.uint8)
    got, want = np.zeros(101, np.uint8), np.zeros(101, np.uint8)
    turbo.turbo(threshold)(got, img, 128)
    threshold(want, img, 128)
    np.testing.assert_array_equal(got, want)
    turbo.turbo(threshold)(got, img, np.uint8(40))  # a narrow NumPy scalar is passed as an i64
    threshold(want, img, np.uint8(40))
    np.testing.assert_array_equal(got, want)

    img = rng.integers(0, 256, size=(30, 41)).astype(np.uint8)
    h = np.zeros(256, np.int64)
    turbo.turbo(histogram)(h, img)
    np.testing.assert_array_equal(h, np.bincount(img.ravel(), minlength=256))

    x = rng.integers(0, 65536, size=1001).astype(np.uint16)
    assert turbo.turbo(mean_u16)(x) == pytest.approx(x.astype(np.float64).mean(), rel=1e-12)


def test_unsupported_dtypes_are_still_refused():
    f = turbo.turbo(threshold)
    with pytest.raises(errors.ArgumentTypeError, match="uint64"):
        f(np.zeros(3, np.uint64), np.zeros(3, np.uint64), 1)


WRAPPED = """
kernel qgemv(y: i32[M], W: i8[M, N], x: i8[N]) {
    for i in 0:M {
        acc = 0
        for j in 0:N { acc += i64(i32(W[i, j]) * i32(x[j])) }
        y[i] = i32(acc)
    }
}
kernel big(y: i32[M], a: i32[M, N], b: i32[N]) {
    for i in 0:M {
        acc = 7
        for j in 0:N { acc -= a[i, j] * b[j] }
        y[i] = i32(acc)
    }
}
kernel kept(y: i64[M], a: i32[M, N]) {
    for i in 0:M {
        acc = 0
        for j in 0:N { acc += a[i, j] }
        y[i] = acc
    }
}
"""


def test_a_local_used_only_truncated_to_32_bits_is_held_in_i32():
    """Sums modulo 2^64 truncated to 32 bits are sums modulo 2^32: a local read
    only through conversions to 32-bit or narrower integers is held in i32, so an
    i8 dot product runs on i16 / i32 lanes. Values that overflow i32 wrap as the
    i64 sum truncated would (the interpreter computes in i64)."""
    from turbo.passes.narrow import narrow

    m = turbo.compile(WRAPPED)
    assert "acc = i32(0)" in str(narrow(m.qgemv.ir)) and "i16(W[i, j]) * i16(x[j])" in str(narrow(m.qgemv.ir))
    assert "i32(" not in str(narrow(m.kept.ir)).split("acc = ")[1].split("\n")[0]  # read as i64: kept
    rng = np.random.default_rng(5)
    for mm, n in ((1, 1), (3, 7), (5, 33), (9, 130)):
        W = rng.integers(-128, 128, (mm, n)).astype(np.int8)
        x = rng.integers(-128, 128, n).astype(np.int8)
        assert_same(m.qgemv, np.zeros(mm, np.int32), W, x)
        a = rng.integers(-2**31, 2**31, (mm, n)).astype(np.int32)
        b = rng.integers(-2**31, 2**31, n).astype(np.int32)
        assert_same(m.big, np.zeros(mm, np.int32), a, b)
        assert_same(m.kept, np.zeros(mm, np.int64), a)
    text = m.qgemv.explain(np.zeros(64, np.int32), np.ones((64, 64), np.int8), np.ones(64, np.int8))
    assert "vectorize j × 16 i16" in text.split("rejected")[0], text


CONVERT = """
kernel to_i32(out: i32[N], x: T[N]) {
    for i in 0:N { out[i] = i32(x[i]) }
}
kernel quantize(q: i8[N], x: T[N], scale: T) {
    for i in 0:N {
        v = i64(rint(x[i] / scale))
        q[i] = i8(min(max(v, -128), 127))
    }
}
kernel wide(q: i64[N], x: T[N]) {
    for i in 0:N {
        v = i64(x[i])
        q[i] = min(max(v, -10000000000), 10000000000)
    }
}
kernel unclamped(q: i64[N], x: T[N]) {
    for i in 0:N {
        v = i64(x[i])
        q[i] = min(v, 5)
    }
}
"""

EDGES = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 3.7, -3.7, 2147483647.0, 2147483647.5, 2147483648.0,
         -2147483648.0, -2147483648.5, -2147483649.0, 2147483520.0, 1e10, -1e10, 1e300, 127.4, -128.6, 200.0]


@pytest.mark.parametrize("t", ["f32", "f64"])
def test_float_to_i32_saturates_in_vectors_and_clamped_conversions_hold_i32(t):
    """Vectors of floats convert to i32 by a plain conversion and compares (LLVM
    converted fptosi.sat lane by lane on AVX2): NaN gives 0, beyond i32 its
    ends. A local set from a float and read only clamped between literals inside
    i32's range is held in i32 (``_clamped_locals``): the same values."""
    from turbo.passes.narrow import narrow

    npdt = {"f32": np.float32, "f64": np.float64}[t]
    with np.errstate(over="ignore"):
        x = np.array(EDGES * 3, dtype=npdt)
    for options in ({}, {"vectorize": "i"}, {"vectorize": False}):
        m = turbo.compile(CONVERT.replace("T[", f"{t}[").replace(": T)", f": {t})"), **options)
        assert_same(m.to_i32, np.zeros(x.size, np.int32), x)
        for scale in (1.0, 0.01, 1e-30):
            assert_same(m.quantize, np.zeros(x.size, np.int8), x, scale)
        assert_same(m.unclamped, np.zeros(x.size, np.int64), x)
        assert_same(m.wide, np.zeros(x.size, np.int64), x)
    assert "v = i32(rint(" in str(narrow(m.quantize.ir))
    assert "v = i64(" in str(narrow(m.wide.ir))  # bounds beyond i32: kept
    assert "v = i64(" in str(narrow(m.unclamped.ir))  # read beyond a clamp: kept
    llvm = turbo.compile(CONVERT.replace("T[", f"{t}[").replace(": T)", f": {t})"), vectorize="i").to_i32.inspect(
        "llvm", np.zeros(64, np.int32), np.ones(64, npdt))
    assert "fptosi <" in llvm and "fptosi.sat.v" not in llvm
