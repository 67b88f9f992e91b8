"""The dense-layer pullback: turbo's generated adjoint beside two hand-written
turbo gemms (the target: within 1.3x of them), NumPy and PyTorch autograd.

Layer: Y = tanh(W X + b), W: n x n, X: n x n (batch n). The pullback computes
dW, dX and db from dY; the hand-written baseline is given dZ = dY * (1 - Y*Y)
precomputed and runs only dW += dZ X^T and dX += W^T dZ, so the ratio charges the
pullback for its elementwise and bias work too.
"""

from __future__ import annotations

import numpy as np

import turbo

from . import timing

GEMMS = """
kernel dW(dW: T[M, K], dZ: T[M, N], X: T[K, N]) {
    for m in 0:M, k in 0:K {
        acc = 0.0
        for n in 0:N { acc += dZ[m, n] * X[k, n] }
        dW[m, k] += acc
    }
}
kernel dX(dX: T[K, N], W: T[M, K], dZ: T[M, N]) {
    for k in 0:K, n in 0:N {
        acc = 0.0
        for m in 0:M { acc += W[m, k] * dZ[m, n] }
        dX[k, n] += acc
    }
}
"""

SIZES = (16, 32, 64, 128, 256)


def run(peers, dtypes, quick: bool, rounds: int, min_batch_s: float, log=print) -> list[dict]:
    from .kernels import DENSE

    out = []
    for dtype in dtypes:
        dt = np.float32 if dtype == "f32" else np.float64
        layer = turbo.compile(DENSE.replace("T[", f"{dtype}["), "dense.loop").dense
        gemms = turbo.compile(GEMMS.replace("T[", f"{dtype}["), "gemms.loop")
        pb = turbo.pullback(layer, ("W", "X", "b"))
        rng = np.random.default_rng(0)
        for n in SIZES[:2] if quick else SIZES:
            W = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(dt)
            X, b = rng.standard_normal((n, n)).astype(dt), rng.standard_normal(n).astype(dt)
            Y = np.zeros((n, n), dt)
            layer(Y, W, X, b)
            dY = rng.standard_normal((n, n)).astype(dt)
            dZ = (dY * (1 - Y * Y)).astype(dt)
            dW, dX, db = np.zeros_like(W), np.zeros_like(X), np.zeros_like(b)
            pb(Y, W, X, b, dY, dW, dX, db)
            Z64 = dZ.astype(np.float64)
            tol = 1e-3 if dtype == "f32" else 1e-9
            ok = (np.allclose(dW, Z64 @ X.T, rtol=tol, atol=tol * np.sqrt(n))
                  and np.allclose(dX, W.T.astype(np.float64) @ Z64, rtol=tol, atol=tol * np.sqrt(n))
                  and np.allclose(db, Z64.sum(1), rtol=tol, atol=tol * np.sqrt(n)))
            row = {"dtype": dtype, "n": n, "correct": bool(ok)}
            if not ok:
                log(f"  dense pullback {dtype} n={n}: WRONG")
                out.append(row)
                continue
            fns = _systems(pb, gemms, peers.torch, Y, W, X, b, dY, dZ, dW, dX, db)
            times = timing.compare(fns, rounds=rounds, min_batch_s=min_batch_s)
            row.update({k: v for k, v in times.items()})
            t = times["turbo pullback"]
            cells = [f"{k} {fmt(v)}" + ("" if k == "turbo pullback" else f" [{v / t:.2f}x]") for k, v in times.items()]
            log(f"  dense pullback {dtype} n={n:<4d} " + " | ".join(cells)
                + f"  -> pullback / 2 gemms = {t / times['turbo 2 gemms']:.2f}")
            out.append(row)
    return out


def _systems(pb, gemms, torch, Y, W, X, b, dY, dZ, dW, dX, db) -> dict:
    fns = {
        "turbo pullback": lambda: pb(Y, W, X, b, dY, dW, dX, db),
        "turbo 2 gemms": lambda: (gemms.dW(dW, dZ, X), gemms.dX(dX, W, dZ)),
        "numpy": lambda: _numpy(Y, W, X, dY, dW, dX, db),
    }
    if torch is not None:
        fns["torch autograd"] = _torch(torch, W, X, b, dY)
    return fns


def _numpy(Y, W, X, dY, dW, dX, db):
    dZ = dY * (1 - Y * Y)
    dW += dZ @ X.T
    dX += W.T @ dZ
    db += dZ.sum(1)


def _torch(torch, W, X, b, dY):
    Wt, Xt, bt = (torch.tensor(a, requires_grad=True) for a in (W, X, b))
    Yt = torch.tanh(torch.addmm(bt[:, None], Wt, Xt))
    g = torch.from_numpy(dY)
    return lambda: Yt.backward(g, retain_graph=True)


def fmt(t: float) -> str:
    return f"{t * 1e6:.2f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def markdown(rows: list[dict]) -> list[str]:
    systems = [s for s in ("turbo pullback", "turbo 2 gemms", "numpy", "torch autograd") if any(s in r for r in rows)]
    md = ["", "## Dense-layer pullback (Y = tanh(W X + b), n x n)", "", __doc__.split("\n\n")[1].replace("\n", " "), "",
          "| dtype | n | " + " | ".join(systems) + " | pullback / 2 gemms |", "|---|---:|" + "---:|" * (len(systems) + 1)]
    for r in rows:
        if not r.get("correct"):
            md.append(f"| {r['dtype']} | {r['n']} | WRONG |" + " |" * len(systems))
            continue
        t = r["turbo pullback"]
        cells = [fmt(r[s]) + ("" if s == "turbo pullback" else f" ({r[s] / t:.2f}x)") if s in r else "—" for s in systems]
        md.append(f"| {r['dtype']} | {r['n']} | " + " | ".join(cells) + f" | {t / r['turbo 2 gemms']:.2f} |")
    return md
