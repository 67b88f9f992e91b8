"""Loops over ``n // 2`` pairs that write both elements of each pair: an integer
``//`` by a literal never raises (so it does not keep a nest scalar), a loop bound
``n // 2`` is a symbol the bounds proofs know (2 * (n // 2) <= n), stores to
``x[2*k]`` and ``x[2*k + 1]`` are apart (odd against even) and written together as
interleaved vectors (``analysis.store_groups``)."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo.passes import analysis, bounds

from helpers import assert_same, rand

SOURCE = """
kernel rotate(out: T[P, N], x: T[P, N], c: T[P, H], s: T[P, H]) {
    for p in 0:P, k in 0:N // 2 {
        a = x[p, 2*k]
        b = x[p, 2*k + 1]
        out[p, 2*k] = a * c[p, k] - b * s[p, k]
        out[p, 2*k + 1] = a * s[p, k] + b * c[p, k]
    }
}
kernel swapped(out: T[N], x: T[N]) {
    for k in 0:N // 2 {
        out[2*k + 1] = x[2*k]
        out[2*k] = x[2*k + 1] * 2.0
    }
}
kernel triples(out: T[N], x: T[M]) {
    for k in 0:M {
        out[3*k + 2] = x[k] + 2.0
        out[3*k] = x[k]
        out[3*k + 1] = x[k] * x[k]
    }
}
kernel quads(out: T[N], x: T[M]) {
    for k in 0:M {
        out[4*k] = x[k]
        out[4*k + 1] = x[k] + 1.0
        out[4*k + 2] = x[k] + 2.0
        out[4*k + 3] = x[k] + 3.0
    }
}
kernel reads_back(out: T[N], x: T[M]) {
    for k in 0:M {
        out[2*k] = x[k]
        out[2*k + 1] = out[2*k] + 1.0
    }
}
kernel split(out: T[N], x: T[M]) {
    for k in 0:M {
        out[2*k] = x[k]
        t = x[k] * 3.0
        out[2*k + 1] = t
    }
}
kernel halves(out: T[N], x: T[N]) {
    for k in 0:(N - 3) // 2 { out[k] = x[2*k + 3] }
}
kernel ints(out: I[N], x: I[M]) {
    for k in 0:M {
        out[2*k] = x[k] // 3
        out[2*k + 1] = x[k] % 3
    }
}
"""

_modules: dict = {}


def module(dt: str, **options):
    key = (dt, tuple(sorted((k, repr(v)) for k, v in options.items())))
    if key not in _modules:
        ints = "i64" if dt == "f64" else "i32"
        src = SOURCE.replace("T[", f"{dt}[").replace("I[", f"{ints}[")
        _modules[key] = turbo.compile(src, "interleaved.loop", **options)
    return _modules[key]


def _args(name, rng, n, dt):
    np_dt = {"f32": "float32", "f64": "float64"}[dt]
    v = lambda *shape: rand(rng, shape, np_dt)
    ints = "int64" if dt == "f64" else "int32"
    return {
        "rotate": lambda: (np.zeros((3, n), np_dt), v(3, n), v(3, n // 2), v(3, n // 2)),
        "swapped": lambda: (np.zeros(n, np_dt), v(n)),
        "triples": lambda: (np.zeros(3 * n, np_dt), v(n)),
        "quads": lambda: (np.zeros(4 * n + 1, np_dt), v(n)),
        "reads_back": lambda: (np.zeros(2 * n, np_dt), v(n)),
        "split": lambda: (np.zeros(2 * n, np_dt), v(n)),
        "halves": lambda: (np.zeros(n, np_dt), v(n)),
        "ints": lambda: (np.zeros(2 * n, ints), rand(rng, n, ints)),
    }[name]()


NAMES = ["rotate", "swapped", "triples", "quads", "reads_back", "split", "halves", "ints"]
SIZES = (0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65)


@pytest.mark.parametrize("dt", ["f32", "f64"])
@pytest.mark.parametrize("name", NAMES)
def test_pair_loops_match_the_interpreter(name, dt):
    rng = np.random.default_rng(len(name))
    vector = "k"
    for options in ({}, {"vectorize": vector}, {"vectorize": vector, "unroll": {"k": 3}}):
        if name == "rotate" and "unroll" in options:
            options = {"vectorize": vector, "unroll": {"p": 2, "k": 2}}
        kernel = module(dt, **options)[name]
        for n in SIZES:
            assert_same(kernel, *_args(name, rng, n, dt))


def _chosen(kernel, *args) -> str:
    text = kernel.explain(*args)
    return next(line for line in text.splitlines() if "chosen:" in line)


def test_pairs_are_vectorized_with_interleaved_stores():
    mod = module("f32")
    args = _args("rotate", np.random.default_rng(0), 64, "f32")
    assert "vectorize k" in _chosen(mod.rotate, *args)
    body = mod.rotate.inspect("llvm", *args).split("define", 2)[1]
    assert "shufflevector" in body
    # the whole vectors store plain vectors; only the masked tail scatters
    assert body.count("store <8 x float>") >= 2
    assert body.count("call void @llvm.masked.scatter") == 2
    for name in ("swapped", "triples", "quads"):
        args = _args(name, np.random.default_rng(0), 64, "f32")
        assert "vectorize k" in _chosen(mod[name], *args), name


def test_stores_that_may_meet_are_not_vectorized():
    """out[2*k] and out[2*k + 2] meet (iteration k + 1 writes what k wrote): a
    dependence between iterations, refused; out[2*k] and out[2*k + 1] never meet."""
    mod = turbo.compile("""
    kernel meet(out: f32[N], x: f32[M]) {
        for k in 0:M { out[2*k] = x[k]
                       out[2*k + 2] = x[k] + 1.0 }
    }""", vectorize="k")
    out, x = np.zeros(40, np.float32), np.arange(19, dtype=np.float32)
    with pytest.raises(turbo.errors.ScheduleError, match="different subscripts"):
        mod.meet(out, x)
    assert analysis._axis_apart({"k": 2, "": 0}, {"k": 2, "": 1}, {"k"})
    assert not analysis._axis_apart({"k": 2, "": 0}, {"k": 2, "": 2}, {"k"})
    assert analysis._axis_apart({"": 0}, {"": 1}, {"i"})  # y[i, 0], y[i, 1]
    assert not analysis._axis_apart({"k": 3, "": 0}, {"k": 6, "": 1}, {"k"})  # other terms


def test_a_division_by_a_literal_does_not_raise():
    mod = turbo.compile("""
    kernel half(out: i64[N], x: i64[N]) {
        for i in 0:N { out[i] = x[i] // 4 + x[i] % 3 + x[i] ** 2 }
    }
    kernel bydiv(out: i64[N], x: i64[N], d: i64) {
        for i in 0:N { out[i] = x[i] // d }
    }""")
    x = np.arange(-20, 20, dtype=np.int64)
    assert "vectorize" in _chosen(mod.half, np.zeros(40, np.int64), x)
    assert_same(mod.half, np.zeros(40, np.int64), x)
    text = mod.bydiv.explain(np.zeros(40, np.int64), x, 3)
    assert "integer '//' may raise" in text
    with pytest.raises(ZeroDivisionError):
        mod.bydiv(np.zeros(40, np.int64), x, 0)


def test_floor_symbols_in_bounds_proofs_and_guards():
    """k in 0:N // 2 proves x[2*k + 1] inside x: f32[N]; another array's size is
    compared with N // 2 at run time, and the checked copy catches a short one."""
    mod = module("f32")
    out, x, c, s = _args("rotate", np.random.default_rng(1), 10, "f32")
    text = mod.rotate.explain(out, x, c, s)
    assert "(N // 2) <= H" in text, text
    assert "x" not in text.split("without the bounds checks of", 1)[1].split("when")[0]
    with pytest.raises(IndexError):
        mod.rotate(out, x, c[:, :4], s[:, :4])
    n = bounds.floor_symbol({"N": 1, "": -3}, 2)
    assert n == "((-3 + N) // 2)" and bounds.floor_of(n) == ({"N": 1, "": -3}, 2)
    # (N - 3) // 2 - 1 + 2 + ... : 2*q + 3 <= N holds, 2*q + 4 <= N does not
    assert bounds._provably_nonneg({"N": 1, n: -2, "": -3}, frozenset({"N"}), [])
    assert not bounds._provably_nonneg({"N": 1, n: -2, "": -4}, frozenset({"N"}), [])
    assert bounds._provably_nonneg({n: 2, "N": -1, "": 4}, frozenset({"N"}), [])  # 2*q >= N - 4
    assert not bounds._provably_nonneg({n: 2, "N": -1, "": 3}, frozenset({"N"}), [])


CABS = """
kernel cabs2(out: T[M], z: T[N]) {
    for k in 0:M {
        re = z[2*k]
        im = z[2*k + 1]
        out[k] = re * re + im * im
    }
}
"""


@pytest.mark.parametrize("dt", ["f32", "f64"])
def test_the_phases_of_a_pair_read_in_two_statements_share_their_loads(dt):
    """``re = z[2*k]; im = z[2*k + 1]``: each phase is read by its own statement,
    and both use the same two aligned vector loads (``block_groups``), not two
    each."""
    width = {"f32": 8, "f64": 4}[dt]
    src = CABS.replace("T[", f"{dt}[")
    m = turbo.compile(src, vectorize="k", unroll={"k": 1})
    npdt = {"f32": np.float32, "f64": np.float64}[dt]
    llvm = m.cabs2.inspect("llvm", np.zeros(32, npdt), np.ones(64, npdt))
    assert llvm.count(f"load <{width} x {'float' if dt == 'f32' else 'double'}>") == 2, llvm
    rng = np.random.default_rng(7)
    for mod in (m, turbo.compile(src)):
        for n in (0, 1, width - 1, width, width + 1, 3 * width + 2):
            assert_same(mod.cabs2, np.zeros(n, npdt), rand(rng, 2 * n + 1, npdt))
