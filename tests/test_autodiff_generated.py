"""Pullbacks of hypothesis-generated kernels against central differences."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import turbo

from adcheck import check_gradients

UNARY = ("-{}", "exp(tanh({}))", "sin({})", "cos({})", "tanh({})", "sigmoid({})", "sqrt({0} * {0} + 1.0)",
         "log({0} * {0} + 1.0)", "abs({})", "({}) ** 2")
BINARY = ("({} + {})", "({} - {})", "({} * {})", "({} / ({} * {} + 1.5))", "max({}, {})", "min({}, {})",
          "({} if {} > 0.3 else {})")


def exprs(leaves):
    leaf = st.sampled_from(leaves + ("0.7", "1.3"))

    def extend(children):
        un = st.tuples(st.sampled_from(UNARY), children).map(lambda p: p[0].format(p[1]))
        bi = st.tuples(st.sampled_from(BINARY), children, children).map(_binary)
        return un | bi

    return st.recursive(leaf, extend, max_leaves=5)


def _binary(p):
    form, a, b = p
    if form.startswith("({} / ("):
        return form.format(a, b, b)
    if form.startswith("({} if"):
        return form.format(a, b, b)
    return form.format(a, b)


KERNEL = """
kernel g(Y: f64[N], x: f64[N], y: f64[N], A: f64[N, N]) {{
    for i in 0:N {{
        t = {e1}
        acc = 0.0
        for j in 0:N {{ acc += A[i, j] * {e2} }}
        Y[i] = {e3}
    }}
}}
"""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e1=exprs(("x[i]", "y[i]")), e2=exprs(("x[j]", "t")), e3=exprs(("t", "acc", "y[i]")), seed=st.integers(0, 2**16))
def test_generated_kernel_gradients(e1, e2, e3, seed):
    k = turbo.compile(KERNEL.format(e1=e1, e2=e2, e3=e3), "gen.loop").g
    rng = np.random.default_rng(seed)
    n = 3
    args = [np.zeros(n), rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal((n, n))]
    check_gradients(k, ("x", "y", "A"), args, rtol=1e-5, atol=1e-6)
