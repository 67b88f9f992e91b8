"""Stores both branches of an if make to one element, made once after it.

``if c { out[i] = a } else { out[i] = b }`` stores to ``out[i]`` whichever
branch runs. Vectorized, each branch's store is masked to its lanes, and a
masked store costs several plain ones on AVX2 (a leaky ReLU written so ran at
0.2-0.4x Numba). This pass gives each branch a local for the value and stores
it once, after the ``if``::

    if c { out[i] = a } else { out[i] = b }   ->   if c { out.v0 = a } else { out.v0 = b }
                                                    out[i] = out.v0

An ``elif`` chain whose every branch ends by storing to the element becomes one
store; so does a pair of updates with one operator (``out[i] += a`` /
``out[i] += b``). The store must be the last statement of both branches, to the
same array at the same subscripts, which read no local either branch assigns (so
they name the same element after the ``if``); the values must have one type.
The local's name (the array's, ``.v`` and a number) is one no program can spell.
Statement order is unchanged: each store was its branch's last statement.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from .. import ir
from .analysis import assigned_in, names_read


def sink_branch_stores(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """``kernel`` with the stores both branches of an if make to one element
    made once after it."""
    body = _block(kernel.body, itertools.count())
    return kernel if body == kernel.body else replace(kernel, body=body)


def _block(body: tuple[ir.Stmt, ...], serial) -> tuple[ir.Stmt, ...]:
    out: list[ir.Stmt] = []
    for s in body:
        if isinstance(s, (ir.For, ir.While)):
            out.append(replace(s, body=_block(s.body, serial)))
        elif isinstance(s, ir.If):
            s = replace(s, then=_block(s.then, serial), orelse=_block(s.orelse, serial))
            out.extend(_sunk(s, serial))
        else:
            out.append(s)
    return tuple(out)


def _sunk(s: ir.If, serial) -> tuple[ir.Stmt, ...]:
    """``s``, or ``s`` with the store ending both branches made after it."""
    if not (s.then and s.orelse):
        return (s,)
    a, b = s.then[-1], s.orelse[-1]
    if not (isinstance(a, ir.Store) and isinstance(b, ir.Store) and a.array == b.array and a.indices == b.indices
            and a.op == b.op and a.value.type is b.value.type):
        return (s,)
    set_in_branches = set(assigned_in(s.then)) | set(assigned_in(s.orelse))
    if any(names_read(i) & set_in_branches for i in a.indices):
        return (s,)
    local = f"{a.array}.v{next(serial)}"
    then = s.then[:-1] + (ir.Assign(local, a.value, None, a.loc),)
    orelse = s.orelse[:-1] + (ir.Assign(local, b.value, None, b.loc),)
    value = ir.Var(local, a.value.type, a.loc)
    return replace(s, then=then, orelse=orelse), replace(a, value=value)
