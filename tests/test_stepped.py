"""Vector loops of a literal step above 1 (``for i in 0:N:2``) and accesses whose
lanes are a few elements apart (``x[2*i]``): lane k runs index ``i0 + k*step``;
lanes at most ``analysis.MAX_EVERY`` elements apart are read by plain loads and
shuffles, farther ones gathered, and stores between them scattered."""

from __future__ import annotations

import ctypes
import mmap

import numpy as np
import pytest

import turbo

from helpers import assert_same, rand

SOURCE = """
kernel evensum(x: T[N]) {
    s = 0.0
    for i in 0:N:2 { s += x[i] }
    return s
}
kernel third(out: T[N], x: T[N]) {
    for i in 1:N:3 { out[i] = x[i] * 2.0 + T(i) }
}
kernel pairs(out: T[M], x: T[N]) {
    for i in 0:M { out[i] = x[2*i] + 3.0 * x[2*i + 1] }
}
kernel odd(out: T[M], x: T[N]) {
    for i in 0:M { out[i] = x[2*i + 1] }
}
kernel pool(out: T[M, N], x: T[P, Q]) {
    for i in 0:M, j in 0:N {
        out[i, j] = max(max(x[2*i, 2*j], x[2*i, 2*j + 1]), max(x[2*i + 1, 2*j], x[2*i + 1, 2*j + 1]))
    }
}
kernel quads(out: T[M], x: T[N]) {
    for i in 0:M { out[i] = max(x[4*i + 3], 0.0) }
}
kernel fifth(out: T[N], x: T[N]) {
    for i in 0:N:5 { out[i] += x[i] }
}
kernel rows(out: T[M, N], A: T[M, N]) {
    for i in 0:M, j in 0:N - 1:2 { out[i, j] = A[i, j] * 2.0 + A[i, j + 1] }
}
kernel idot(x: I[N], y: I[N]) {
    s = 0
    for i in 0:N - 1:2 { s += x[i] * y[i + 1] }
    return s
}
"""

_modules: dict = {}


def module(dt: str, **options):
    key = (dt, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _modules:
        ints = "i64" if dt == "f64" else "i32"
        src = SOURCE.replace("T[", f"{dt}[").replace("T(", f"{dt}(").replace("I[", f"{ints}[")
        _modules[key] = turbo.compile(src, "stepped.loop", **options)
    return _modules[key]


def _args(name, rng, n, dt):
    np_dt = {"f32": "float32", "f64": "float64"}[dt]
    v = lambda k: rand(rng, k, np_dt)
    return {
        "evensum": lambda: (v(n),),
        "third": lambda: (np.zeros(n, np_dt), v(n)),
        "pairs": lambda: (np.zeros(n // 2, np_dt), v(n)),
        "odd": lambda: (np.zeros(n // 2, np_dt), v(n)),
        "pool": lambda: (np.zeros((n // 4, n // 2), np_dt), rand(rng, (n // 2 + 1, n + 1), np_dt)),
        "quads": lambda: (np.zeros(n // 4, np_dt), v(n)),
        "fifth": lambda: (v(n), v(n)),
        "rows": lambda: (np.zeros((3, n + 1), np_dt), rand(rng, (3, n + 1), np_dt)),
        "idot": lambda: (rand(rng, n + 1, "int64" if dt == "f64" else "int32"),
                         rand(rng, n + 1, "int64" if dt == "f64" else "int32")),
    }[name]()


NAMES = ["evensum", "third", "pairs", "odd", "pool", "quads", "fifth", "rows", "idot"]
SIZES = (0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 97)


@pytest.mark.parametrize("dt", ["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_stepped_loops_match_the_interpreter(name, dt):
    rng = np.random.default_rng(len(name))
    for options in ({}, {"vectorize": "j" if name in ("rows", "pool") else "i"}):
        kernel = module(dt, **options)[name]
        for n in SIZES:
            assert_same(kernel, *_args(name, rng, n, dt))


@pytest.mark.parametrize("dt", ["f32", "f64"])
@pytest.mark.parametrize("unroll", [{"i": 2}, {"i": 3}, {"i": 4}])
def test_stepped_vector_loops_with_several_vectors_per_step(dt, unroll):
    rng = np.random.default_rng(7)
    mod = module(dt, vectorize="i", unroll=unroll)
    for name in ("evensum", "third", "pairs", "fifth"):
        for n in SIZES:
            assert_same(mod[name], *_args(name, rng, n, dt))


def test_stepped_loops_are_vectorized():
    mod = module("f32")
    x = np.ones(64, np.float32)
    for name, args in [("evensum", (x,)), ("pairs", (np.zeros(32, np.float32), x))]:
        text = mod[name].explain(*args)
        chosen = next(line for line in text.splitlines() if "chosen:" in line)
        assert "vectorize" in chosen, text


def test_lanes_a_few_elements_apart_are_loaded_and_shuffled():
    """x[2*i] is read with two vector loads and shuffles, not a gather; a step of
    5 is gathered. No load reaches past the last lane's element: of x[2*i + 1]
    alone, nor of the group x[2*i], x[2*i + 1], which share aligned loads."""
    mod = module("f32", vectorize="i")
    llvm = mod.pairs.inspect("llvm", np.zeros(8, np.float32), np.ones(16, np.float32))
    body = llvm.split("define", 2)[1]
    assert "shufflevector" in body
    assert "llvm.masked.gather" in body  # the masked tail's lanes only
    assert "llvm.masked.gather" in mod.fifth.inspect("llvm", np.ones(20, np.float32), np.ones(20, np.float32))
    for m in (8, 16, 24):  # whole vectors: the last one's last lane reads the array's last element
        np.testing.assert_array_equal(_at_page_end(mod.pairs, m, lambda x: x[0::2] + 3.0 * x[1::2]), 0)
        np.testing.assert_array_equal(_at_page_end(mod.odd, m, lambda x: x[1::2]), 0)


def _at_page_end(kernel, m: int, want):
    """Run ``kernel(out, x)`` (m outputs from x's 2*m elements) with ``x`` ending
    right before a page that may not be read: a load past the last lane's element
    faults. Returns the difference from ``want(x)``."""
    page = mmap.PAGESIZE
    buf = mmap.mmap(-1, 2 * page)
    libc = ctypes.CDLL(None, use_errno=True)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    try:
        assert libc.mprotect(ctypes.c_void_p(addr + page), page, 0) == 0  # PROT_NONE
        n = 2 * m
        x = np.frombuffer(buf, np.float32, count=n, offset=page - 4 * n)
        x[:] = np.arange(n, dtype=np.float32)
        out = np.zeros(m, np.float32)
        kernel(out, x)
        return out - want(x)
    finally:
        libc.mprotect(ctypes.c_void_p(addr + page), page, 3)
        del x
        buf.close()
