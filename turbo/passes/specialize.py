"""Specializing symbolic dims to literal sizes.

    kernel f(x: f32[N]) { for i in 0:N { ... } }    --{N: 8}-->
    kernel f(x: f32[8]) { for i in 0:8 { ... } }

``specialize_dims`` makes a fully static kernel (``turbo inspect --dims``, callers
who want code for one size). ``substitute`` replaces dims inside the body only,
the signature unchanged: the runtime compiles such a copy beside the general code
for the values of the *short dims* (``short_dims``: the trips of inner loops, a
filter's ``for di in 0:R``) seen at a kernel's first call, and runs it when a call
has those values (``runtime/kernel.py``), so that a region unrolls the short loops
fully as it does literal ones.
"""

from __future__ import annotations

import dataclasses

from .. import ir
from . import analysis


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
    return dataclasses.replace(kernel, params=params, body=tuple(substitute_stmt(s, sizes) for s in kernel.body))


def substitute(kernel: ir.Kernel, sizes: dict[str, int]) -> ir.Kernel:
    """``kernel`` with the dims in ``sizes`` replaced by literals in its body; its
    parameters (and so its calling convention) stay as they are."""
    sizes = {**sizes, **{local: sizes[d] for local, d in aliases(kernel).items() if d in sizes}}
    return dataclasses.replace(kernel, body=tuple(substitute_stmt(s, sizes) for s in kernel.body))


def aliases(kernel: ir.Kernel) -> dict[str, str]:
    """Locals set once, at the top of the kernel, to a dim and never again
    (``q = B.shape[1]`` in Python): local -> dim. A specialized copy reads them
    as the dim's value too."""
    sets = analysis.assigned_in(kernel.body)
    return {s.name: s.value.name for s in kernel.body
            if isinstance(s, ir.Assign) and s.op is None and isinstance(s.value, ir.Var)
            and s.value.name in kernel.dims and len(sets[s.name]) == 1}


def _trip_dim(x: ir.For, kernel: ir.Kernel, alias: dict[str, str]) -> str | None:
    """The dim that is loop ``x``'s stop, directly or through an alias."""
    if not isinstance(x.stop, ir.Var):
        return None
    name = x.stop.name
    return name if name in kernel.dims else alias.get(name)


def short_dims(kernel: ir.Kernel) -> tuple[str, ...]:
    """The dims that are the whole trip of a loop inside another loop (``for di in
    0:R``, literal start and step): worth specializing when they are small."""
    out = []
    alias = aliases(kernel)
    for _, x, outer in _loops(kernel.body, (), ()):
        d = _trip_dim(x, kernel, alias)
        if outer and d is not None and isinstance(x.start, ir.Const) and isinstance(x.step, ir.Const) and d not in out:
            out.append(d)
    return tuple(out)


def worth_fixing(kernel: ir.Kernel, regions, sizes: dict[str, int], usual) -> tuple[tuple[str, int], ...]:
    """Of the short dims' values ``sizes``, those worth a specialized copy: the trip
    of a loop that a region of ``kernel``'s schedule (``regions``: RegionPlans)
    runs inside it without transforming it, that the value makes short enough to
    unroll fully, and whose index slides a window (``img[i + di, j + dj]``: a
    subscript adds it to an enclosing loop's index). Unrolled, such a loop's loads
    become the same elements for neighbouring instances (a filter's rows). A
    loop the plan vectorizes or unrolls itself (a dot product's), or one that only
    walks its own axis (a gemm's ``k``: measured no faster unrolled at K = 8, and
    the copy doubles compile time), is left alone; except the vector loop where the
    value is less than one vector, in a region of the code that runs as a rule
    (``usual``, ``Schedule.usual_regions``: not a versioned nest's checked copy; a 3 x 3 convolution's
    checked copy vectorizing its 3 channels tripled its first call, 1.0 -> 3.0 s,
    for code no faster)."""
    out = []
    alias = aliases(kernel)
    for path, x, outer in _loops(kernel.body, (), ()):
        d = _trip_dim(x, kernel, alias)
        if d not in sizes or any(n == d for n, _ in out):
            continue
        jammed = any(len(path) > len(p.root) and path[:len(p.root)] == p.root and path not in p.paths for p in regions)
        window = any(x.index in (names := analysis.names_read(i)) and names & outer
                     for node in analysis.loads_in(x.body) for i in node.indices)
        # the vector loop itself, at a value that does not fill one vector: all it
        # runs is a masked leftover (a Kronecker product's columns of a 4 x 4 B in
        # 8 lanes of f32 ran at 0.4-0.6x Numba); as a literal, the plan sees the
        # trip (a narrower vector it fills, or another loop in vectors). At a value
        # that fills a vector the copy measured no faster (gemms and gemvs at 4-16)
        partial = any(path in p.vector_paths and sizes[d] < p.width for p in usual)
        if partial or jammed and window and analysis.fully_unrollable(substitute_stmt(x, {x.stop.name: sizes[d]})):
            out.append((d, sizes[d]))
    return tuple(sorted(out))


def _loops(body, path, outer):
    """(path, loop, indices of the loops around it) of every loop in ``body``,
    paths as the scheduler numbers them (an ``if`` adds its position and 0 for
    ``then``, 1 for ``else``)."""
    for k, s in enumerate(body):
        if isinstance(s, ir.For):
            yield path + (k,), s, frozenset(outer)
            yield from _loops(s.body, path + (k,), outer + (s.index,))
        elif isinstance(s, ir.If):
            yield from _loops(s.then, path + (k, 0), outer)
            yield from _loops(s.orelse, path + (k, 1), outer)
        elif isinstance(s, ir.While):
            yield from _loops(s.body, path + (k,), outer)


def _expr(e: ir.Expr, sizes) -> ir.Expr:
    if isinstance(e, ir.Var) and e.name in sizes:
        return ir.Const(sizes[e.name], ir.DType.I64, e.loc)
    return ir.map_operands(e, lambda x: _expr(x, sizes))


def substitute_stmt(s: ir.Stmt, sizes) -> ir.Stmt:
    """``s`` with the names in ``sizes`` (dims, or a loop index) replaced by literals."""
    return ir.map_stmt(s, lambda e: _expr(e, sizes), lambda b: substitute_stmt(b, sizes))
