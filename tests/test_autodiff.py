"""Pullbacks (reverse-mode AD): every rule against central differences in f64."""

from __future__ import annotations

import numpy as np
import pytest

import turbo
from turbo.interpret import interpret

from adcheck import check_gradients

RULES = '''
kernel arith(Y: f64[N], x: f64[N], y: f64[N]) {
    for i in 0:N { Y[i] = x[i] * y[i] + x[i] / y[i] - -y[i] * 3.0 - (x[i] - 2.0) }
}
kernel unary(Y: f64[N, 8], x: f64[N]) {
    for i in 0:N {
        Y[i, 0] = exp(x[i]); Y[i, 1] = log(x[i] * x[i] + 1.0); Y[i, 2] = sqrt(x[i] * x[i] + 0.5)
        Y[i, 3] = sin(x[i]); Y[i, 4] = cos(x[i]); Y[i, 5] = tanh(x[i]); Y[i, 6] = sigmoid(x[i])
        Y[i, 7] = abs(x[i])
    }
}
kernel unary_more(Y: f64[N, 12], x: f64[N]) {
    for i in 0:N {
        Y[i, 0] = log2(x[i] * x[i] + 1.0); Y[i, 1] = log10(x[i] * x[i] + 2.0); Y[i, 2] = log1p(x[i] * x[i])
        Y[i, 3] = exp2(x[i]); Y[i, 4] = expm1(x[i]); Y[i, 5] = sinh(x[i]); Y[i, 6] = cosh(x[i])
        Y[i, 7] = tan(x[i]); Y[i, 8] = atan(x[i]); Y[i, 9] = erf(x[i])
        Y[i, 10] = asin(0.5 * x[i]); Y[i, 11] = acos(0.5 * x[i])
    }
}
kernel binary_more(Y: f64[N, 3], x: f64[N], y: f64[N]) {
    for i in 0:N { Y[i, 0] = atan2(y[i], x[i]); Y[i, 1] = hypot(x[i], y[i]); Y[i, 2] = copysign(x[i], y[i]) }
}
kernel stored(E: f64[N], T: f64[N], S: f64[N], R: f64[N], Q: f64[N], x: f64[N]) {
    for i in 0:N {
        E[i] = exp(x[i]); T[i] = tanh(x[i]); S[i] = sigmoid(x[i]); R[i] = max(x[i], 0.0)
        Q[i] = sqrt(x[i] * x[i] + 1.0)
    }
}
kernel powers(Y: f64[N, 4], x: f64[N], p: f64[N]) {
    for i in 0:N {
        Y[i, 0] = x[i] ** 3; Y[i, 1] = (x[i] * x[i] + 1.0) ** p[i]; Y[i, 2] = pow(x[i] * x[i] + 1.0, 0.5)
        Y[i, 3] = x[i] ** -2
    }
}
kernel minmax(Y: f64[N, 4], x: f64[N], y: f64[N]) {
    for i in 0:N {
        Y[i, 0] = max(x[i], y[i]); Y[i, 1] = min(x[i], y[i]); Y[i, 2] = max(x[i], 0.0)
        Y[i, 3] = x[i] if x[i] > y[i] else 2.0 * y[i]
    }
}
kernel mixed(Y: f32[N], x: f64[N], w: f32[N]) {
    for i in 0:N { Y[i] = f32(x[i] * 2.0) * w[i] + f32(i) * w[i] }
}
kernel leaky(Y: f64[N], x: f64[N]) {
    for i in 0:N {
        if x[i] > 0.0 { t = x[i] } else { t = 0.1 * x[i] }
        Y[i] = t * t
    }
}
kernel locals(Y: f64[N], x: f64[N], w: f64[N]) {
    for i in 0:N {
        a = x[i] * w[i]
        b = exp(a) + a
        c = b * x[i]
        Y[i] = c / b + a
    }
}
kernel dot(x: f64[N], y: f64[N]) {
    s = 0.0
    for i in 0:N { s += x[i] * y[i] }
    return s * s
}
kernel spelled(x: f64[N], y: f64[N]) {
    s = 1.0
    for i in 0:N { s = s + x[i] * y[i]; s -= y[i] }
    return s
}
kernel gemm(C: f64[M, N], A: f64[M, K], B: f64[K, N]) {
    for m in 0:M, n in 0:N {
        acc = 0.0
        for k in 0:K { acc += A[m, k] * B[k, n] }
        C[m, n] = acc
    }
}
kernel gemm_acc(C: f64[M, N], A: f64[M, K], B: f64[K, N]) {
    for m in 0:M, n in 0:N, k in 0:K { C[m, n] += A[m, k] * B[k, n] }
}
kernel init_then_acc(C: f64[M, N], A: f64[M, K], B: f64[K, N], b: f64[M]) {
    for m in 0:M, n in 0:N {
        C[m, n] = b[m]
        for k in 0:K { C[m, n] += A[m, k] * B[k, n] }
    }
}
kernel chain(Y: f64[N], Z: f64[N], x: f64[N], w: f64[N]) {
    for i in 0:N { Z[i] = x[i] * w[i] }
    for i in 0:N { Y[i] = sin(Z[i]) * Z[i] }
}
kernel recurrence(Y: f64[N], x: f64[N], a: f64) {
    h = 0.0
    for i in 0:N {
        h = a * h + x[i]
        Y[i] = h
    }
}
kernel scaled_product(x: f64[N], c: f64[N]) {
    p = 1.0
    s = 0.0
    for i in 0:N { s += x[i] }
    for i in 0:N { p *= c[i] }
    return s * p
}
kernel maxpool(Y: f64[C, H, W], X: f64[C, 8, 8]) {
    for c in 0:C, i in 0:H, j in 0:W {
        m = X[c, 2 * i, 2 * j]
        for di in 0:2, dj in 0:2 { m = max(m, X[c, 2 * i + di, 2 * j + dj]) }
        Y[c, i, j] = m
    }
}
kernel conv1d(Y: f64[N], x: f64[M], w: f64[3]) {
    for i in 0:N {
        acc = 0.0
        for k in 0:3 { acc += w[k] * x[i + k] }
        Y[i] = acc
    }
}
kernel triangular(Y: f64[N], A: f64[N, N], x: f64[N]) {
    for i in 0:N {
        acc = 0.0
        for j in 0:i + 1 { acc += A[i, j] * x[j] }
        Y[i] = acc
    }
}
kernel guarded(Y: f64[N], x: f64[N], y: f64[N]) {
    for i in 0:N {
        if x[i] > 0.0 { Y[i] = x[i] * y[i] } else { Y[i] = y[i] }
    }
}
kernel reversed_loop(Y: f64[N], x: f64[N]) {
    for i in N - 1:-1:-1 { Y[i] = x[i] * x[i] }
}
kernel logsumexp(z: f64[N]) {
    mx = -inf
    for j in 0:N { mx = max(mx, z[j]) }
    s = 0.0
    for j in 0:N { s += exp(z[j] - mx) }
    return mx + log(s)
}
kernel inplace_acc(Y: f64[N], x: f64[N]) {
    for i in 0:N { Y[i] += x[i] * x[i] }
    for i in 0:N { Y[i] -= 0.5 * x[i] }
}
'''

MOD = turbo.compile(RULES, "rules.loop")

DENSE_TANH = '''
kernel dense(Y: T[M, N], W: T[M, K], X: T[K, N], b: T[M]) {
    for m in 0:M, n in 0:N {
        acc = b[m]
        for k in 0:K { acc += W[m, k] * X[k, n] }
        Y[m, n] = tanh(acc)
    }
}'''


def _args(name, rng):
    r = lambda *s: rng.standard_normal(s)  # noqa: E731
    pos = lambda *s: rng.uniform(0.5, 2.0, s)  # noqa: E731
    N = 5
    table = {
        "arith": lambda: [np.zeros(N), r(N), pos(N)],
        "unary": lambda: [np.zeros((N, 8)), r(N) + 0.3],
        "unary_more": lambda: [np.zeros((N, 12)), r(N) * 0.4 + 0.1],
        "binary_more": lambda: [np.zeros((N, 3)), np.array([1.0, -1.0, 2.0, 0.5, -0.7]), np.array([0.3, 1.0, -2.0, 0.6, -0.2])],
        "stored": lambda: [np.zeros(N) for _ in range(5)] + [r(N) + np.sign(r(N)) * 0.3],
        "powers": lambda: [np.zeros((N, 4)), pos(N), r(N)],
        "minmax": lambda: [np.zeros((N, 4)), np.array([1.0, -1.0, 2.0, 0.5, -0.7]), np.array([0.0, 1.0, -2.0, 0.6, -0.2])],
        "mixed": lambda: [np.zeros(N, np.float32), r(N), r(N).astype(np.float32)],
        "leaky": lambda: [np.zeros(N), np.array([1.0, -1.0, 0.3, -0.4, 2.0])],
        "locals": lambda: [np.zeros(N), r(N), r(N)],
        "dot": lambda: [r(N), r(N)],
        "spelled": lambda: [r(N), r(N)],
        "gemm": lambda: [np.zeros((3, 4)), r(3, 5), r(5, 4)],
        "gemm_acc": lambda: [r(3, 4), r(3, 5), r(5, 4)],
        "init_then_acc": lambda: [np.zeros((3, 4)), r(3, 5), r(5, 4), r(3)],
        "chain": lambda: [np.zeros(N), np.zeros(N), r(N), r(N)],
        "recurrence": lambda: [np.zeros(N), r(N), 0.7],
        "scaled_product": lambda: [r(N), r(N)],
        "maxpool": lambda: [np.zeros((2, 4, 4)), rng.permutation(128).reshape(2, 8, 8) / 10.0],
        "conv1d": lambda: [np.zeros(N), r(N + 2), r(3)],
        "triangular": lambda: [np.zeros(N), r(N, N), r(N)],
        "guarded": lambda: [np.zeros(N), np.array([1.0, -1.0, 0.3, -0.4, 2.0]), r(N)],
        "reversed_loop": lambda: [np.zeros(N), r(N)],
        "logsumexp": lambda: [r(7)],
        "inplace_acc": lambda: [r(N), r(N)],
    }
    return table[name]()


WRT = {
    "arith": ("x", "y"), "unary": ("x",), "unary_more": ("x",), "binary_more": ("x", "y"), "stored": ("x",), "powers": ("x", "p"), "minmax": ("x", "y"),
    "mixed": ("x", "w"), "leaky": ("x",), "locals": ("x", "w"), "dot": ("x", "y"), "spelled": ("x", "y"),
    "gemm": ("A", "B"), "gemm_acc": ("A", "B"), "init_then_acc": ("A", "B", "b"), "chain": ("x", "w"),
    "recurrence": ("x",), "scaled_product": ("x",), "maxpool": ("X",), "conv1d": ("x", "w"),
    "triangular": ("A", "x"), "guarded": ("x", "y"), "reversed_loop": ("x",), "logsumexp": ("z",),
    "inplace_acc": ("x",),
}


@pytest.mark.parametrize("name", sorted(WRT))
def test_rule_matches_finite_differences(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    args = _args(name, rng)
    # f32 outputs: a step far above their rounding (the kernel is linear in each input)
    tol = dict(rtol=2e-3, atol=2e-3, h=1e-2) if name == "mixed" else {}
    check_gradients(MOD[name], WRT[name], args, **tol)


@pytest.mark.parametrize("name", sorted(WRT))
def test_pullback_compiled_matches_interpreter(name):
    """The generated adjoint kernel is an ordinary kernel: compiled == interpreted."""
    rng = np.random.default_rng(1)
    k = MOD[name]
    pb = turbo.pullback(k, WRT[name])
    args = _args(name, rng)
    k(*args)
    names = [p.name for p in k.ir.params]
    extra = []
    for _, n in pb.adjoint_of:
        extra.append(1.0 if not n else rng.standard_normal(np.shape(args[names.index(n)])).astype(args[names.index(n)].dtype))
    a = [x.copy() if isinstance(x, np.ndarray) else x for x in args + extra]
    b = [x.copy() if isinstance(x, np.ndarray) else x for x in args + extra]
    pb(*a)
    scratch = pb.scratch_for(*b) if hasattr(pb, "scratch_for") else ()
    interpret(pb.ir, *b, *scratch)
    for u, v in zip(a, b):
        if isinstance(u, np.ndarray):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_parameters_follow_the_documented_order():
    pb = turbo.pullback(MOD.chain, ("w", "x"))
    names = [p.name for p in pb.ir.params]
    assert names == ["Y", "Z", "x", "w", "dY", "dZ", "dw", "dx"]
    pb = turbo.pullback(MOD.logsumexp, ("z",))
    assert [p.name for p in pb.ir.params] == ["z", "dresult", "dz"]


def test_adjoint_loops_print_as_dsl_that_parses_back():
    pb = turbo.pullback(MOD.gemm, ("A", "B"))
    text = pb.inspect("loops")
    assert "dA[m, k] +=" in text
    assert turbo.parse(text).kernels[0] == pb.ir


def test_stored_output_is_used_instead_of_recomputing():
    """tanh(acc) stored in Y: the derivative reads Y, so acc's loop is not replayed."""
    k = turbo.compile(DENSE_TANH.replace("T[", "f64[")).dense
    text = turbo.pullback(k, ("W",)).inspect("loops")
    assert "Y[m, n] * Y[m, n]" in text and "acc" not in text.replace("dacc", "")


def test_recomputes_what_was_not_stored():
    src = '''
    kernel f(Y: f64[M, N], W: f64[M, K], X: f64[K, N]) {
        for m in 0:M, n in 0:N {
            acc = 0.0
            for k in 0:K { acc += W[m, k] * X[k, n] }
            Y[m, n] = sin(acc)
        }
    }'''
    k = turbo.compile(src).f
    rng = np.random.default_rng(3)
    check_gradients(k, ("W", "X"), [np.zeros((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((4, 3))])
    assert "cos(acc)" in turbo.pullback(k, ("W",)).inspect("loops")


def test_forward_true_runs_the_kernel_and_returns_its_result():
    rng = np.random.default_rng(4)
    z = rng.standard_normal(9)
    pb = turbo.pullback(MOD.logsumexp, ("z",), forward=True)
    dz = np.zeros(9)
    value = pb(z, 1.0, dz)
    assert value == pytest.approx(np.log(np.sum(np.exp(z))), rel=1e-14)
    np.testing.assert_allclose(dz, np.exp(z) / np.exp(z).sum(), rtol=1e-12)


def test_value_and_grad():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(6), rng.standard_normal(6)
    f = turbo.value_and_grad(MOD.dot, ("x", "y"))
    value, (dx, dy) = f(x, y)
    s = float(x @ y)
    assert value == pytest.approx(s * s, rel=1e-13)
    np.testing.assert_allclose(dx, 2 * s * y, rtol=1e-12)
    np.testing.assert_allclose(dy, 2 * s * x, rtol=1e-12)
    with pytest.raises(TypeError, match="returns a float"):
        turbo.value_and_grad(MOD.gemm, ("A",))


def test_turbo_function_pullback():
    from turbo import turbo as jit

    @jit
    def layer(Y, W, X):
        for m in range(Y.shape[0]):
            for n in range(Y.shape[1]):
                acc = 0.0
                for k in range(W.shape[1]):
                    acc += W[m, k] * X[k, n]
                Y[m, n] = np.tanh(acc)

    rng = np.random.default_rng(6)
    W, X = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    Y = np.zeros((3, 5))
    layer(Y, W, X)
    pb = turbo.pullback(layer, ("W", "X"))
    dY = rng.standard_normal((3, 5))
    dW, dX = np.zeros_like(W), np.zeros_like(X)
    pb(Y, W, X, dY, dW, dX)
    dZ = dY * (1 - np.tanh(W @ X) ** 2)
    np.testing.assert_allclose(dW, dZ @ X.T, rtol=1e-12)
    np.testing.assert_allclose(dX, W.T @ dZ, rtol=1e-12)
    assert "dW" in pb.inspect("loops", Y, W, X, dY, dW, dX)


def test_adjoints_accumulate():
    rng = np.random.default_rng(7)
    A, B = rng.standard_normal((3, 5)), rng.standard_normal((5, 4))
    C = A @ B
    dC = rng.standard_normal((3, 4))
    pb = turbo.pullback(MOD.gemm, ("A", "B"))
    dA, dB = np.ones_like(A), np.ones_like(B)
    pb(C, A, B, dC, dA, dB)
    np.testing.assert_allclose(dA, 1 + dC @ B.T, rtol=1e-12)
    np.testing.assert_allclose(dB, 1 + A.T @ dC, rtol=1e-12)


def test_dense_pullback_is_split_into_gemm_nests_and_explained():
    k = turbo.compile(DENSE_TANH.replace("T[", "f32[")).dense
    pb = turbo.pullback(k, ("W", "X", "b"))
    text = pb.inspect("loops")
    assert "for m in 0:M, k in 0:K {" in text and "for k in 0:K, n in 0:N {" in text
    rng = np.random.default_rng(8)
    M, K, N = 33, 17, 9
    W, X, b = (rng.standard_normal(s).astype(np.float32) for s in ((M, K), (K, N), (M,)))
    Y = np.zeros((M, N), np.float32)
    k(Y, W, X, b)
    dY = rng.standard_normal((M, N)).astype(np.float32)
    dW, dX, db = np.zeros_like(W), np.zeros_like(X), np.zeros_like(b)
    pb(Y, W, X, b, dY, dW, dX, db)
    dZ = (dY * (1 - Y.astype(np.float64) ** 2))
    np.testing.assert_allclose(dW, dZ @ X.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dX, W.T @ dZ, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, dZ.sum(1), rtol=1e-4, atol=1e-4)
    why = pb.explain(Y, W, X, b, dY, dW, dX, db)
    assert "split into 3 accumulation nests" in why and "scratch dacc_saved" in why
    assert "chosen:" in why
