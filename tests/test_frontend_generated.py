"""Hypothesis-generated Python loop functions: @turbo(f) must equal f, bit for bit.

Functions are generated as Python source (written to a file: turbo reads source
through ``inspect``), in bounds and well typed by construction, on float64 and
int64 data with only exactly rounded operations, so the plain Python function is
an exact oracle: loops over ``range`` with computed and triangular bounds, nested
loops, ``if``/``elif``/``else``, conditional expressions, ``and``/``or``, min/max/abs,
floor division and modulo, augmented assignments, locals and a returned reduction.
"""

from __future__ import annotations

import importlib.util
import itertools
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turbo import turbo

_DIR = Path(tempfile.mkdtemp(prefix="turbo-gen-"))
_COUNTER = itertools.count()


class _Gen:
    def __init__(self, draw):
        self.draw = draw
        self.locals: list[str] = []

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def fexpr(self, depth: int, idx: list[str]) -> str:
        i = idx[0]
        leaves = [f"x[{i}]", f"y[{i}]", "s", self.pick(["0.5", "1.0", "2.0", "-3.25", "0.0", "1e-3"]),
                  f"float({idx[-1]})", f"float(k[{i}])", f"z[{i}, {idx[-1]}]" if len(idx) > 1 else f"z[{i}, 0]"]
        leaves += self.locals
        if depth <= 0 or self.draw(st.integers(0, 3)) == 0:
            return self.pick(leaves)
        a, b = self.fexpr(depth - 1, idx), self.fexpr(depth - 1, idx)
        form = self.draw(st.integers(0, 10))
        if form <= 2:
            return f"({a} {self.pick(['+', '-', '*'])} {b})"
        if form == 3:
            return f"({a} / (abs({b}) + 1.0))"
        if form == 4:
            return f"{self.pick(['min', 'max'])}({a}, {b})"
        if form == 5:
            return f"({a} if {self.cond(depth - 1, idx)} else {b})"
        if form == 6:
            return f"np.sqrt(abs({a}))"
        if form == 7:
            return f"-{a}"
        if form == 8:
            return f"np.floor({a})"
        if form == 9:
            return f"({a} % (abs({b}) + 0.5))"
        return f"({a} // (abs({b}) + 1.0))"

    def iexpr(self, depth: int, idx: list[str]) -> str:
        leaves = [f"k[{idx[0]}]", idx[-1], "n", str(self.draw(st.integers(-5, 5))), "len(x)"]
        if depth <= 0 or self.draw(st.integers(0, 2)) == 0:
            return self.pick(leaves)
        a, b = self.iexpr(depth - 1, idx), self.iexpr(depth - 1, idx)
        op = self.pick(["+", "-", "*", "//", "%", "&", "|", "^", "<<", ">>", "~"])
        if op in ("//", "%"):
            return f"({a} {op} (abs({b}) + 1))"
        if op in ("<<", ">>"):  # small counts: Python's ints do not wrap
            return f"({a} {op} {self.draw(st.integers(0, 5))})"
        if op == "~":
            return f"~{a}"
        return f"({a} {op} {b})"

    def cond(self, depth: int, idx: list[str]) -> str:
        if self.draw(st.booleans()):
            return f"{self.fexpr(depth, idx)} {self.pick(['<', '<=', '>', '>=', '==', '!='])} {self.fexpr(depth, idx)}"
        return f"({self.iexpr(depth, idx)} % 2 == 0 {self.pick(['and', 'or'])} not {self.fexpr(0, idx)} > 0.0)"

    def stmts(self, depth: int, idx: list[str], pad: str) -> list[str]:
        out = []
        for _ in range(self.draw(st.integers(1, 3))):
            form = self.draw(st.integers(0, 7))
            i = idx[0]
            if form == 0:
                out.append(f"{pad}y[{i}] = {self.fexpr(2, idx)}")
            elif form == 1:
                out.append(f"{pad}y[{i}] {self.pick(['+=', '-=', '*='])} {self.fexpr(2, idx)}")
            elif form == 2:
                out.append(f"{pad}s {self.pick(['+=', '-='])} {self.fexpr(2, idx)}")
            elif form == 3:
                out.append(f"{pad}k[{i}] = {self.iexpr(2, idx)}")
            elif form == 4 and depth > 0:
                out.append(f"{pad}if {self.cond(1, idx)}:")
                out.extend(self.stmts(depth - 1, idx, pad + "    "))
                if self.draw(st.booleans()):
                    out.append(f"{pad}elif {self.cond(1, idx)}:")
                    out.extend(self.stmts(depth - 1, idx, pad + "    "))
                if self.draw(st.booleans()):
                    out.append(f"{pad}else:")
                    out.extend(self.stmts(depth - 1, idx, pad + "    "))
            elif form == 5 and depth > 0 and len(idx) < 3:
                j = f"j{len(idx)}"
                bound = self.pick([f"{idx[-1]} + 1", "len(x)", "n % 4 + 1"])
                out.append(f"{pad}for {j} in range({bound}):")
                # j < len(x) everywhere it indexes z's second axis
                out.extend(self.stmts(depth - 1, [*idx, f"min({j}, len(x) - 1)"], pad + "    "))
            elif form == 6 and pad == "        ":
                name = f"t{len(self.locals)}"
                out.append(f"{pad}{name} = {self.fexpr(2, idx)}")
                self.locals.append(name)
            else:
                out.append(f"{pad}z[{i}, {idx[-1]}] = {self.fexpr(1, idx)}")
        return out


@st.composite
def programs(draw):
    g = _Gen(draw)
    start, step = draw(st.sampled_from([(0, 1), (0, 2), (1, 1)]))
    body = g.stmts(2, ["i"], " " * 8)
    reverse = draw(st.booleans())
    header = f"range(len(x) - 1, {start - 1}, -{step})" if reverse else f"range({start}, len(x), {step})"
    lines = ["def f(y, x, z, k, n):", "    s = 0.0", f"    for i in {header}:", *body, "    return s"]
    return "\n".join(lines) + "\n"


def load(source: str):
    path = _DIR / f"gen_{next(_COUNTER)}.py"
    path.write_text("import numpy as np\n\n\n" + source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def _check(source: str, sizes) -> None:
    f = load(source)
    tf = turbo(f)
    rng = np.random.default_rng(0)
    for n in sizes:
        x = rng.standard_normal(n)
        y = rng.standard_normal(n)
        z = rng.standard_normal((n, n))
        k = rng.integers(-9, 9, n)
        mine = [y.copy(), x.copy(), z.copy(), k.copy(), 3]
        ref = [y.copy(), x.copy(), z.copy(), k.copy(), 3]
        got = tf(*mine)
        with np.errstate(all="ignore"):
            want = f(*ref)
        # fastmath (the default) may reassociate a float reduction: equal up to rounding
        for a, b in zip(mine[:4], ref[:4]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=source)
        np.testing.assert_allclose(np.float64(got), np.float64(want), rtol=1e-12, atol=1e-12, err_msg=source)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_generated_functions_equal_plain_python(source):
    _check(source, (0, 1, 5, 9))


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_generated_functions_exhaustive(source):
    _check(source, (0, 1, 2, 3, 8, 17))
