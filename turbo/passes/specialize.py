"""Specializing symbolic dims to literal sizes (a fully static kernel).

    kernel f(x: f32[N]) { for i in 0:N { ... } }    --{N: 8}-->
    kernel f(x: f32[8]) { for i in 0:8 { ... } }

Used by ``turbo inspect --dims`` and by callers who want code for one size.
"""

from __future__ import annotations

import dataclasses

from .. import ir


def specialize_dims(kernel: ir.Kernel, sizes: dict[str, int]) -> ir.Kernel:
    unknown = set(sizes) - set(kernel.dims)
    if unknown:
        raise ValueError(f"kernel '{kernel.name}' has no dim {', '.join(sorted(unknown))}; its dims: {', '.join(kernel.dims) or 'none'}")
    for name, v in sizes.items():
        if not isinstance(v, int) or v < 0:
            raise ValueError(f"dim {name} must be a non-negative integer, got {v!r}")
    params = tuple(
        dataclasses.replace(p, shape=tuple(sizes.get(d, d) if isinstance(d, str) else d for d in p.shape))
        if isinstance(p, ir.ArrayParam) else p
        for p in kernel.params
    )
    return dataclasses.replace(kernel, params=params, body=tuple(_stmt(s, sizes) for s in kernel.body))


def _expr(e: ir.Expr, sizes) -> ir.Expr:
    if isinstance(e, ir.Var) and e.name in sizes:
        return ir.Const(sizes[e.name], ir.DType.I64, e.loc)
    if isinstance(e, ir.Load):
        return dataclasses.replace(e, indices=tuple(_expr(i, sizes) for i in e.indices))
    if isinstance(e, ir.Unary):
        return dataclasses.replace(e, operand=_expr(e.operand, sizes))
    if isinstance(e, ir.Cast):
        return dataclasses.replace(e, operand=_expr(e.operand, sizes))
    if isinstance(e, ir.Binary):
        return dataclasses.replace(e, left=_expr(e.left, sizes), right=_expr(e.right, sizes))
    if isinstance(e, ir.Select):
        return dataclasses.replace(e, cond=_expr(e.cond, sizes), if_true=_expr(e.if_true, sizes), if_false=_expr(e.if_false, sizes))
    if isinstance(e, ir.Call):
        return dataclasses.replace(e, args=tuple(_expr(a, sizes) for a in e.args))
    return e


def _stmt(s: ir.Stmt, sizes) -> ir.Stmt:
    if isinstance(s, ir.For):
        return dataclasses.replace(s, start=_expr(s.start, sizes), stop=_expr(s.stop, sizes), step=_expr(s.step, sizes),
                                   body=tuple(_stmt(b, sizes) for b in s.body))
    if isinstance(s, ir.Assign):
        return dataclasses.replace(s, value=_expr(s.value, sizes))
    if isinstance(s, ir.Store):
        return dataclasses.replace(s, indices=tuple(_expr(i, sizes) for i in s.indices), value=_expr(s.value, sizes))
    if isinstance(s, ir.Return):
        return dataclasses.replace(s, value=_expr(s.value, sizes))
    if isinstance(s, ir.If):
        return dataclasses.replace(s, cond=_expr(s.cond, sizes), then=tuple(_stmt(b, sizes) for b in s.then),
                                   orelse=tuple(_stmt(b, sizes) for b in s.orelse))
    raise TypeError(s)
