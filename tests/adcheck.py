"""Gradient checking for pullbacks: central differences in f64 (the oracle)."""

from __future__ import annotations

import numpy as np

import turbo


def loss(kernel, args, seeds, outputs):
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    r = kernel(*work)
    names = [p.name for p in kernel.ir.params]
    total = 0.0
    it = iter(seeds)
    for name in outputs:
        total += float(np.sum(next(it) * work[names.index(name)]))
    if r is not None:
        total += next(it) * r
    return total


def check_gradients(kernel, wrt, args, *, seed=0, h=1e-6, rtol=1e-6, atol=1e-7, pb=None):
    """Runs the kernel, then its pullback, and compares every wrt gradient with
    central differences of  sum(dY * Y) (+ dresult * result)."""
    rng = np.random.default_rng(seed)
    pb = pb or turbo.pullback(kernel, wrt)
    names = [p.name for p in kernel.ir.params]
    outputs = [n for d, n in pb.adjoint_of[: len(pb.adjoint_of) - len(wrt)] if n]
    has_result = any(not n for _, n in pb.adjoint_of)
    seeds = [rng.standard_normal(np.shape(args[names.index(n)])).astype(args[names.index(n)].dtype) for n in outputs]
    if has_result:
        seeds.append(1.3)
    prim = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    kernel(*prim)
    grads = [np.zeros_like(args[names.index(n)]) for n in wrt]
    incoming = [s.copy() if isinstance(s, np.ndarray) else s for s in seeds]
    pb(*prim, *incoming, *grads)
    for name, g in zip(wrt, grads):
        i = names.index(name)
        want = np.zeros_like(g)
        for idx in np.ndindex(g.shape):
            plus = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            plus[i][idx] += h
            minus = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            minus[i][idx] -= h
            want[idx] = (loss(kernel, plus, seeds, outputs) - loss(kernel, minus, seeds, outputs)) / (2 * h)
        np.testing.assert_allclose(g, want, rtol=rtol, atol=atol, err_msg=f"d{name} of {kernel.name}")
    return grads
