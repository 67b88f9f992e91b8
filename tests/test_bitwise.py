"""Bitwise operators on integers (``& | ^ << >> ~``) and ``& | ^`` on booleans, in
the loop language and under ``@turbo``: checked against the reference interpreter
and against the plain Python function, scalar and vectorized, at the edges of the
shift counts (0, width - 1, width, beyond) and with negative operands."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo import errors

from helpers import assert_same

SOURCE = """
kernel mix(out: I[N], x: I[N], y: I[N]) {
    for i in 0:N {
        out[i] = (x[i] & y[i]) ^ (x[i] | 12) + (~x[i] >> 2) - (y[i] << 3)
    }
}
kernel literal_counts(out: I[N], x: I[N]) {
    for i in 0:N { out[i] = (x[i] >> 70) + (x[i] << 70) + (x[i] >> 31) + (x[i] << 31) + (x[i] >> 0) }
}
kernel parity(x: I[N]) {
    h = 0
    for i in 0:N { h = h ^ x[i] }
    return h
}
kernel flags(out: bool[N], a: f64[N], b: f64[N]) {
    for i in 0:N { out[i] = (a[i] > 0.0) & (b[i] > 0.0) | (a[i] < -1.0) ^ (b[i] < -1.0) }
}
"""

# counts that may be negative raise (so these loops stay scalar); a masked subscript
# is checked at run time
SCALAR_SOURCE = """
kernel shifts(out: I[N], x: I[N], s: I[N]) {
    for i in 0:N { out[i] = (x[i] << s[i]) + (x[i] >> s[i]) }
}
kernel by_scalar(out: I[N], x: I[N], s: i64) {
    for i in 0:N { out[i] = (x[i] >> s) | (x[i] << s) }
}
kernel gather_masked(out: f64[N], x: f64[M]) {
    for i in 0:N { out[i] = x[(i * 7) & (M - 1)] }
}
"""


def module(it: str, **options):
    return turbo.compile(SOURCE.replace("I[", f"{it}["), "bitwise.loop", **options)


def scalar_module(it: str):
    return turbo.compile(SCALAR_SOURCE.replace("I[", f"{it}["), "bitwise_scalar.loop")


def _ints(rng, n, dt, lo=-(2 ** 40), hi=2 ** 40):
    info = np.iinfo(dt)
    return rng.integers(max(lo, info.min), min(hi, info.max), size=n, endpoint=True).astype(dt)


SIZES = (0, 1, 3, 4, 5, 8, 9, 17, 64, 65)


@pytest.mark.parametrize("it", ["i32", "i64"])
@pytest.mark.parametrize("options", [{}, {"vectorize": "i"}, {"vectorize": None}])
def test_bitwise_matches_the_interpreter(it, options):
    mod = module(it, **options)
    smod = scalar_module(it)
    dt = np.dtype({"i32": "int32", "i64": "int64"}[it])
    bits = dt.itemsize * 8
    rng = np.random.default_rng(bits)
    for n in SIZES:
        x, y = _ints(rng, n, dt), _ints(rng, n, dt)
        x[: n // 3] = -x[: n // 3]
        assert_same(mod.mix, np.zeros(n, dt), x, y)
        assert_same(mod.literal_counts, np.zeros(n, dt), x)
        counts = rng.integers(0, bits + 5, size=n).astype(dt)
        assert_same(smod.shifts, np.zeros(n, dt), x, counts)
        for s in (0, 1, bits - 1, bits, bits + 1, 1000):
            assert_same(smod.by_scalar, np.zeros(n, dt), x, s)
        assert_same(mod.parity, x)
        a, b = rng.standard_normal((2, n))
        assert_same(mod.flags, np.zeros(n, bool), a, b)
        assert_same(smod.gather_masked, np.zeros(n), np.arange(16.0))


def test_literal_shifts_and_masks_are_vectorized():
    mod = module("i64")
    x = np.arange(-40, 40, dtype=np.int64)
    text = mod.mix.explain(np.zeros(80, np.int64), x, x)
    assert "vectorize i" in next(line for line in text.splitlines() if "chosen:" in line), text
    llvm = mod.literal_counts.inspect("llvm", np.zeros(80, np.int64), x)
    assert "ashr <" in llvm and "shl <" in llvm
    # a count that is not a literal may be negative, which raises: that loop stays scalar
    assert "'>>' may raise" in scalar_module("i64").by_scalar.explain(np.zeros(80, np.int64), x, 3)


def test_negative_shift_count_raises():
    mod = scalar_module("i64")
    x = np.arange(10, dtype=np.int64)
    s = np.zeros(10, np.int64)
    s[7] = -1
    with pytest.raises(errors.KernelRuntimeError, match="negative shift count"):
        mod.shifts(np.zeros(10, np.int64), x, s)
    with pytest.raises(errors.KernelRuntimeError, match="negative shift count"):
        mod.by_scalar(np.zeros(10, np.int64), x, -2)
    with pytest.raises(errors.DSLTypeError, match="negative shift count"):
        turbo.compile("kernel k(x: i64[N]) { for i in 0:N { x[i] = x[i] << -1 } }")


@pytest.mark.parametrize("src, message", [
    ("kernel k(x: f64[N]) { for i in 0:N { x[i] = x[i] & 1 } }", "'&' needs integers, got f64"),
    ("kernel k(x: i64[N], b: bool[N]) { for i in 0:N { x[i] = x[i] | b[i] } }", "'|' needs integers"),
    ("kernel k(b: bool[N]) { for i in 0:N { b[i] = ~b[i] } }", "'~' needs an integer, got bool"),
    ("kernel k(x: f32[N]) { for i in 0:N { x[i] = ~x[i] } }", "'~' needs an integer, got f32"),
    ("kernel k(b: bool[N]) { for i in 0:N { b[i] = b[i] << 1 } }", "'<<' needs integers"),
])
def test_bitwise_type_errors_point_at_the_source(src, message):
    with pytest.raises(errors.DSLTypeError, match=message) as info:
        turbo.compile(src, "bad.loop")
    assert "^" in str(info.value)  # the caret under the offending expression


def test_printed_ir_parses_back_to_the_same_ir():
    mod = module("i32")
    for k in mod.ir.kernels + scalar_module("i64").ir.kernels:
        again = turbo.parse(str(k)).kernels[0]
        assert again == k, str(k)
    text = str(mod.ir.kernels[0])
    assert "x[i] & y[i] ^ (x[i] | 12) + (~x[i] >> 2) - (y[i] << 3)" in text, text  # only the parentheses needed


# ----------------------------------------------------------------------------- @turbo


def popcount_rows(out, x):
    for i in range(x.shape[0]):
        c = 0
        v = x[i]
        for _ in range(64):
            c += v & 1
            v = v >> 1
        out[i] = c


def xorshift(out, seed):
    s = seed
    for i in range(out.shape[0]):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out[i] = s


def bit_reverse(out, x, bits):
    for i in range(x.shape[0]):
        r = 0
        for b in range(bits):
            r |= ((i >> b) & 1) << (bits - 1 - b)
        out[r] = x[i]


def masks(out, x, y):
    for i in range(x.shape[0]):
        out[i] = (x[i] & ~y[i]) | ((x[i] ^ y[i]) >> 1)


def test_turbo_functions_match_plain_python():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2 ** 62, size=37)
    got, want = np.zeros(37, np.int64), np.zeros(37, np.int64)
    turbo.turbo(popcount_rows)(got, x)
    popcount_rows(want, x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, [bin(int(v)).count("1") for v in x])

    got, want = np.zeros(50, np.int64), np.zeros(50, np.int64)
    turbo.turbo(xorshift)(got, 2463534242)
    xorshift(want, 2463534242)
    np.testing.assert_array_equal(got, want)

    x = rng.standard_normal(64)
    got, want = np.zeros(64), np.zeros(64)
    turbo.turbo(bit_reverse)(got, x, 6)
    bit_reverse(want, x, 6)
    np.testing.assert_array_equal(got, want)

    x, y = rng.integers(-1000, 1000, size=(2, 45))
    got, want = np.zeros(45, np.int64), np.zeros(45, np.int64)
    f = turbo.turbo(masks)
    f(got, x, y)
    masks(want, x, y)
    np.testing.assert_array_equal(got, want)
    assert "vectorize i" in f.explain(got, x, y)


def test_python_refusals_are_gone_and_float_operands_are_located():
    def bad(out, x):
        for i in range(x.shape[0]):
            out[i] = x[i] >> 1

    f = turbo.turbo(bad)
    with pytest.raises(errors.DSLTypeError, match="'>>' needs integers, got f64") as info:
        f(np.zeros(3), np.zeros(3))
    assert "out[i] = x[i] >> 1" in str(info.value)


def test_bitwise_reductions_are_vectorized_and_threaded():
    """h = h ^ x[i], h |= ..., h &= ...: associative and commutative on integers, so
    reductions like + (identity 0, 0 and all ones), split across lanes and threads."""
    src = """
    kernel folds(x: I[N], out: I[3]) {
        a = 0
        o = 0
        n = -1
        for i in 0:N {
            a = a ^ x[i]
            o = x[i] | o
            n = n & (x[i] | 4096)
        }
        out[0] = a
        out[1] = o
        out[2] = n
    }"""
    rng = np.random.default_rng(11)
    for it, dt in (("i32", np.int32), ("i64", np.int64)):
        for options in ({}, {"vectorize": "i", "unroll": {"i": 3}}):
            k = turbo.compile(src.replace("I[", f"{it}["), **options).folds
            for n in SIZES + (1000,):
                x = _ints(rng, n, dt)
                assert_same(k, x, np.zeros(3, dt))
        x = _ints(rng, 100, dt)
        assert "vectorize i" in turbo.compile(src.replace("I[", f"{it}[")).folds.explain(x, np.zeros(3, dt))

    def xor_all(x):
        h = 0
        for i in turbo.prange(x.shape[0]):
            h ^= x[i]
        return h

    x = rng.integers(0, 2 ** 60, size=10001)
    assert turbo.turbo(parallel=True)(xor_all)(x) == xor_all(x)
