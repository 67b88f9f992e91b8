"""Pullbacks of layer kernels against PyTorch autograd (f64, CPU)."""

from __future__ import annotations

import numpy as np
import pytest

import turbo

torch = pytest.importorskip("torch")
F = torch.nn.functional

ACTIVATIONS = {
    "identity": ("acc", lambda z: z),
    "relu": ("max(acc, 0.0)", F.relu),
    "tanh": ("tanh(acc)", torch.tanh),
    "sigmoid": ("sigmoid(acc)", torch.sigmoid),
    "leaky": ("acc if acc > 0.0 else 0.01 * acc", lambda z: F.leaky_relu(z, 0.01)),
    "exp": ("exp(acc)", torch.exp),
}

LAYERS = turbo.compile('''
kernel conv_valid(Y: f64[B, CO, OH, OW], X: f64[B, CI, H, W], K: f64[CO, CI, 3, 3], bias: f64[CO]) {
    for b in 0:B, co in 0:CO, i in 0:OH, j in 0:OW {
        acc = bias[co]
        for ci in 0:CI, di in 0:3, dj in 0:3 { acc += K[co, ci, di, dj] * X[b, ci, i + di, j + dj] }
        Y[b, co, i, j] = acc
    }
}
kernel conv_stride_pad(Y: f64[B, CO, OH, OW], X: f64[B, CI, H, W], K: f64[CO, CI, 3, 3]) {
    for b in 0:B, co in 0:CO, i in 0:OH, j in 0:OW {
        acc = 0.0
        for ci in 0:CI, di in 0:3, dj in 0:3 {
            y = 2 * i + di - 1
            x = 2 * j + dj - 1
            if y >= 0 and y < H and x >= 0 and x < W { acc += K[co, ci, di, dj] * X[b, ci, y, x] }
        }
        Y[b, co, i, j] = acc
    }
}
kernel conv_pad_bounds(Y: f64[B, CO, H, W], X: f64[B, CI, H, W], K: f64[CO, CI, 3, 3]) {
    for b in 0:B, co in 0:CO, i in 0:H, j in 0:W {
        acc = 0.0
        for ci in 0:CI, di in max(0, 1 - i):min(3, H + 1 - i), dj in max(0, 1 - j):min(3, W + 1 - j) {
            acc += K[co, ci, di, dj] * X[b, ci, i + di - 1, j + dj - 1]
        }
        Y[b, co, i, j] = acc
    }
}
kernel maxpool(Y: f64[B, C, OH, OW], X: f64[B, C, H, W]) {
    for b in 0:B, c in 0:C, i in 0:OH, j in 0:OW {
        m = -inf
        for di in 0:2, dj in 0:2 { m = max(m, X[b, c, 2 * i + di, 2 * j + dj]) }
        Y[b, c, i, j] = m
    }
}
kernel relu(Y: f64[N], X: f64[N]) {
    for i in 0:N { Y[i] = max(X[i], 0.0) }
}
kernel cross_entropy(Z: f64[C, B], labels: i64[B]) {
    loss = 0.0
    for b in 0:B {
        mx = -inf
        for c in 0:C { mx = max(mx, Z[c, b]) }
        s = 0.0
        for c in 0:C { s += exp(Z[c, b] - mx) }
        loss += mx + log(s) - Z[labels[b], b]
    }
    return loss / f64(B)
}
''', "layers.loop")


def dense_kernel(act: str):
    return turbo.compile(f'''
    kernel dense(Y: f64[M, N], W: f64[M, K], X: f64[K, N], b: f64[M]) {{
        for m in 0:M, n in 0:N {{
            acc = b[m]
            for k in 0:K {{ acc += W[m, k] * X[k, n] }}
            Y[m, n] = {act}
        }}
    }}''').dense


def t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_dense_layer(name):
    text, torch_act = ACTIVATIONS[name]
    k = dense_kernel(text)
    rng = np.random.default_rng(0)
    M, K, N = 7, 9, 5
    W, X, b = rng.standard_normal((M, K)), rng.standard_normal((K, N)), rng.standard_normal(M)
    Y = np.zeros((M, N))
    k(Y, W, X, b)
    Wt, Xt, bt = t(W), t(X), t(b)
    Yt = torch_act(Wt @ Xt + bt[:, None])
    assert np.abs(W @ X + b[:, None]).min() > 1e-3  # away from the kinks of relu and leaky
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    dY = rng.standard_normal((M, N))
    Yt.backward(torch.tensor(dY))
    dW, dX, db = np.zeros_like(W), np.zeros_like(X), np.zeros_like(b)
    turbo.pullback(k, ("W", "X", "b"))(Y, W, X, b, dY, dW, dX, db)
    np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-11, atol=1e-12)


def _conv_case(kernel, torch_fn, out_shape, shapes, wrt, rng):
    arrays = {name: rng.standard_normal(shape) for name, shape in shapes.items()}
    names = [p.name for p in kernel.ir.params]
    Y = np.zeros(out_shape)
    args = [Y] + [arrays[n] for n in names[1:]]
    kernel(*args)
    tens = {n: t(arrays[n]) for n in names[1:]}
    Yt = torch_fn(**tens)
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    dY = rng.standard_normal(Y.shape)
    Yt.backward(torch.tensor(dY))
    grads = [np.zeros_like(arrays[n]) for n in wrt]
    turbo.pullback(kernel, wrt)(*args, dY, *grads)
    for n, g in zip(wrt, grads):
        np.testing.assert_allclose(g, tens[n].grad.numpy(), rtol=1e-11, atol=1e-11, err_msg=f"d{n}")


def test_conv2d_valid():
    rng = np.random.default_rng(1)
    _conv_case(LAYERS.conv_valid, lambda X, K, bias: F.conv2d(X, K, bias), (2, 3, 4, 5), {"X": (2, 2, 6, 7), "K": (3, 2, 3, 3), "bias": (3,)},
               ("X", "K", "bias"), rng)


def test_conv2d_stride_and_padding_by_index_arithmetic():
    rng = np.random.default_rng(2)
    _conv_case(LAYERS.conv_stride_pad, lambda X, K: F.conv2d(X, K, stride=2, padding=1), (2, 3, 4, 4), {"X": (2, 2, 7, 8), "K": (3, 2, 3, 3)},
               ("X", "K"), rng)


def test_conv2d_padding_by_loop_bounds():
    rng = np.random.default_rng(3)
    _conv_case(LAYERS.conv_pad_bounds, lambda X, K: F.conv2d(X, K, padding=1), (2, 3, 5, 6), {"X": (2, 2, 5, 6), "K": (3, 2, 3, 3)}, ("X", "K"), rng)


def test_maxpool_routes_to_the_argmax():
    rng = np.random.default_rng(4)
    X = rng.permutation(2 * 3 * 6 * 8).reshape(2, 3, 6, 8) / 7.0  # distinct values: one argmax per window
    Y = np.zeros((2, 3, 3, 4))
    LAYERS.maxpool(Y, X)
    Xt = t(X)
    Yt = F.max_pool2d(Xt, 2)
    np.testing.assert_array_equal(Y, Yt.detach().numpy())
    dY = rng.standard_normal(Y.shape)
    Yt.backward(torch.tensor(dY))
    dX = np.zeros_like(X)
    turbo.pullback(LAYERS.maxpool, ("X",))(Y, X, dY, dX)
    np.testing.assert_array_equal(dX, Xt.grad.numpy())


def test_maxpool_ties_go_to_the_first_element():
    X = np.ones((1, 1, 2, 2))
    Y = np.zeros((1, 1, 1, 1))
    LAYERS.maxpool(Y, X)
    dX = np.zeros_like(X)
    turbo.pullback(LAYERS.maxpool, ("X",))(Y, X, np.ones((1, 1, 1, 1)), dX)
    np.testing.assert_array_equal(dX.ravel(), [1, 0, 0, 0])


def test_cross_entropy():
    rng = np.random.default_rng(5)
    C, B = 10, 6
    Z = rng.standard_normal((C, B)) * 3
    labels = rng.integers(0, C, B)
    loss = LAYERS.cross_entropy(Z, labels)
    Zt = t(Z)
    lt = F.cross_entropy(Zt.T, torch.tensor(labels))
    assert loss == pytest.approx(lt.item(), rel=1e-13)
    lt.backward()
    dZ = np.zeros_like(Z)
    turbo.pullback(LAYERS.cross_entropy, ("Z",))(Z, labels, 1.0, dZ)
    np.testing.assert_allclose(dZ, Zt.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_chain_conv_relu_pool_dense_cross_entropy():
    """A small network: each layer's pullback feeds the previous one's."""
    rng = np.random.default_rng(6)
    B, CI, H, W, CO, C = 3, 2, 8, 8, 4, 5
    X = rng.standard_normal((B, CI, H, W))
    Kc = rng.standard_normal((CO, CI, 3, 3)) * 0.5
    bc = rng.standard_normal(CO) * 0.1
    Wd = rng.standard_normal((C, CO * 3 * 3)) * 0.3
    bd = rng.standard_normal(C) * 0.1
    labels = rng.integers(0, C, B)
    dense = dense_kernel("acc")

    # forward
    Y1 = np.zeros((B, CO, 6, 6))
    LAYERS.conv_valid(Y1, X, Kc, bc)
    Y2 = np.zeros(Y1.size)
    LAYERS.relu(Y2, Y1.reshape(-1))
    Y3 = np.zeros((B, CO, 3, 3))
    LAYERS.maxpool(Y3, Y2.reshape(Y1.shape))
    feats = np.ascontiguousarray(Y3.reshape(B, -1).T)  # (CO*9, B)
    Z = np.zeros((C, B))
    dense(Z, Wd, feats, bd)
    loss = LAYERS.cross_entropy(Z, labels)

    # backward
    dZ = np.zeros_like(Z)
    turbo.pullback(LAYERS.cross_entropy, ("Z",))(Z, labels, 1.0, dZ)
    dWd, dfeats, dbd = np.zeros_like(Wd), np.zeros_like(feats), np.zeros_like(bd)
    turbo.pullback(dense, ("W", "X", "b"))(Z, Wd, feats, bd, dZ, dWd, dfeats, dbd)
    dY3 = np.ascontiguousarray(dfeats.T.reshape(Y3.shape))
    dY2 = np.zeros(Y1.shape)
    turbo.pullback(LAYERS.maxpool, ("X",))(Y3, Y2.reshape(Y1.shape), dY3, dY2)
    dY1 = np.zeros(Y1.size)
    turbo.pullback(LAYERS.relu, ("X",))(Y2, Y1.reshape(-1), dY2.reshape(-1), dY1)
    dX, dKc, dbc = np.zeros_like(X), np.zeros_like(Kc), np.zeros_like(bc)
    turbo.pullback(LAYERS.conv_valid, ("X", "K", "bias"))(Y1, X, Kc, bc, dY1.reshape(Y1.shape), dX, dKc, dbc)

    Xt, Kt, bct, Wt, bdt = t(X), t(Kc), t(bc), t(Wd), t(bd)
    h = F.max_pool2d(F.relu(F.conv2d(Xt, Kt, bct)), 2).reshape(B, -1)
    lt = F.cross_entropy(h @ Wt.T + bdt, torch.tensor(labels))
    lt.backward()
    assert loss == pytest.approx(lt.item(), rel=1e-12)
    for mine, ref in ((dX, Xt), (dKc, Kt), (dbc, bct), (dWd, Wt), (dbd, bdt)):
        np.testing.assert_allclose(mine, ref.grad.numpy(), rtol=1e-10, atol=1e-12)
