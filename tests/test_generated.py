"""Hypothesis-generated kernels: print/parse round trip, and compiled == interpreted.

Programs are generated as DSL text that is well typed and in bounds by
construction; only operations with exactly rounded IEEE results are used, so the
compiled kernel must agree with the interpreter bit for bit.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turbo
from helpers import assert_same

FLOAT_TYPES = ("f32", "f64")


class _Gen:
    def __init__(self, draw, t: str):
        self.draw = draw
        self.t = t
        self.locals: list[str] = []
        self.n_locals = 0

    def fexpr(self, depth: int, idx: list[str]) -> str:
        d = self.draw
        leaves = [f"x[{idx[0]}]", f"y[{idx[0]}]", "s", f"{d(st.sampled_from(['0.5', '1.0', '2.0', '-3.25', '0.0']))}",
                  f"{self.t}({idx[-1]})", f"{self.t}(k[{idx[0]}])"]
        if len(idx) > 1:
            leaves.append(f"z[{idx[0]}, {idx[1]}]")
        leaves += self.locals
        if depth <= 0 or d(st.integers(0, 3)) == 0:
            return d(st.sampled_from(leaves))
        a, b = self.fexpr(depth - 1, idx), self.fexpr(depth - 1, idx)
        form = d(st.integers(0, 9))
        if form <= 2:
            return f"({a} {d(st.sampled_from(['+', '-', '*']))} {b})"
        if form == 3:
            return f"({a} / (abs({b}) + 1.0))"
        if form == 4:
            return f"{d(st.sampled_from(['min', 'max']))}({a}, {b})"
        if form == 5:
            return f"({a} if {self.cond(depth - 1, idx)} else {b})"
        if form == 6:
            return f"sqrt(abs({a}))"
        if form == 7:
            return f"-{a}"
        if form == 8:
            return f"floor({a})"
        return f"({a} // (abs({b}) + 1.0))"

    def iexpr(self, depth: int, idx: list[str]) -> str:
        d = self.draw
        leaves = [f"k[{idx[0]}]", idx[-1], "n", str(d(st.integers(-5, 5)))]
        if depth <= 0 or d(st.integers(0, 2)) == 0:
            return d(st.sampled_from(leaves))
        a, b = self.iexpr(depth - 1, idx), self.iexpr(depth - 1, idx)
        op = d(st.sampled_from(["+", "-", "*", "//", "%", "&", "|", "^", "<<", ">>", "~"]))
        if op in ("//", "%"):
            return f"({a} {op} (abs({b}) + 1))"
        if op in ("<<", ">>"):  # literal counts, past the width too
            return f"({a} {op} {d(st.integers(0, 70))})"
        if op == "~":
            return f"~{a}"
        return f"({a} {op} {b})"

    def cond(self, depth: int, idx: list[str]) -> str:
        d = self.draw
        if d(st.booleans()):
            return f"{self.fexpr(depth, idx)} {d(st.sampled_from(['<', '<=', '>', '>=', '==', '!=']))} {self.fexpr(depth, idx)}"
        return f"({self.iexpr(depth, idx)} % 2 == 0 {d(st.sampled_from(['and', 'or']))} {self.fexpr(0, idx)} > 0.0)"

    def stmts(self, depth: int, idx: list[str], pad: str) -> list[str]:
        d = self.draw
        out = []
        for _ in range(d(st.integers(1, 3))):
            form = d(st.integers(0, 6))
            i = idx[0]
            if form == 0:
                out.append(f"{pad}y[{i}] = {self.fexpr(2, idx)}")
            elif form == 1:
                out.append(f"{pad}y[{i}] {d(st.sampled_from(['+=', '-=', '*=']))} {self.fexpr(2, idx)}")
            elif form == 2:
                name = f"t{self.n_locals}"
                self.n_locals += 1
                out.append(f"{pad}{name} = {self.fexpr(2, idx)}")
                self.locals.append(name)
            elif form == 3 and self.locals:
                name = d(st.sampled_from(self.locals))
                out.append(f"{pad}{name} += {self.fexpr(1, idx)}")
            elif form == 4:
                out.append(f"{pad}k[{i}] = {self.iexpr(2, idx)}")
            elif form == 5 and depth > 0:
                saved = list(self.locals)
                then = self.stmts(depth - 1, idx, pad + "    ")
                self.locals = list(saved)
                other = self.stmts(depth - 1, idx, pad + "    ")
                self.locals = saved
                out.append(f"{pad}if {self.cond(1, idx)} {{")
                out += then
                out.append(f"{pad}}} else {{")
                out += other
                out.append(f"{pad}}}")
            elif form == 6 and depth > 0 and len(idx) == 1:
                j = "j"
                bound = d(st.sampled_from(["0:M", "1:M", "0:M:2", "M - 1:-1:-1"]))
                saved = list(self.locals)
                body = self.stmts(depth - 1, idx + [j], pad + "    ")
                self.locals = saved
                out.append(f"{pad}for {j} in {bound} {{")
                out += [f"{pad}    z[{i}, {j}] = {self.fexpr(1, idx + [j])}"] + body
                out.append(f"{pad}}}")
            else:
                out.append(f"{pad}y[{i}] = x[{i}] * s")
        return out


@st.composite
def programs(draw):
    t = draw(st.sampled_from(FLOAT_TYPES))
    g = _Gen(draw, t)
    lines = [f"kernel gen(y: {t}[N], x: {t}[N], z: {t}[N, M], k: i64[N], s: {t}, n: i64) {{"]
    lines.append("    for i in 0:N {")
    lines += g.stmts(2, ["i"], "        ")
    lines.append("    }")
    lines.append("}")
    return t, "\n".join(lines) + "\n"


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(programs())
def test_generated_programs_round_trip(prog):
    _, src = prog
    module = turbo.parse(src)
    printed = str(module)
    assert turbo.parse(printed) == module
    assert str(turbo.parse(printed)) == printed


def _array(rng, shape, dtype, strided: bool):
    """A random array; ``strided``: a non-contiguous view (every other element,
    and a transposed layout for 2-d)."""
    if not strided:
        return rng.standard_normal(shape).astype(dtype) if dtype != np.int64 else rng.integers(-20, 20, shape)
    if len(shape) == 1:
        return _array(rng, (2 * shape[0],), dtype, False)[::2]
    return _array(rng, (shape[1], 2 * shape[0]), dtype, False).T[::2]


def _check(prog, n, m, seed, strided):
    t, src = prog
    rng = np.random.default_rng(seed)
    npt = np.float32 if t == "f32" else np.float64
    mod = turbo.compile(src)
    y = _array(rng, (n,), npt, strided)
    x = _array(rng, (n,), npt, strided)
    z = _array(rng, (n, m), npt, strided)
    k = _array(rng, (n,), np.int64, strided)
    assert_same(mod.gen, y, x, z, k, npt(rng.standard_normal()), int(rng.integers(-5, 5)))


SIZES_N = [0, 1, 7, 8, 9, 31, 32, 33, 127, 128, 129]


@SETTINGS
@given(programs(), st.sampled_from(SIZES_N), st.sampled_from([0, 1, 3, 8]), st.integers(0, 2**32 - 1), st.booleans())
def test_generated_programs_compile_to_the_interpreters_results(prog, n, m, seed, strided):
    _check(prog, n, m, seed, strided)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.sampled_from(SIZES_N), st.sampled_from([0, 1, 3, 8, 9]), st.integers(0, 2**32 - 1), st.booleans())
def test_generated_programs_exhaustive(prog, n, m, seed, strided):
    _check(prog, n, m, seed, strided)
