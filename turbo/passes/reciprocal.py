"""Divisions by one value, several times in a row: one reciprocal, then products.

A 2 × 2 inverse divides four entries by the determinant; a point is normalized
by dividing each coordinate by its length. A float division occupies the divider
3.5–5 cycles (``fdiv32``, ``fdiv64`` in the cost table) where a product costs half a
cycle, so with ``fastmath`` (the default) the statements of one block that divide
by the same local, with no assignment to it between them, share one reciprocal::

    det = a * d - b * c                 det = a * d - b * c
    out[0] = d / det          ->        det.inv = 1.0 / det
    out[1] = -b / det                   out[0] = d * det.inv
                                        out[1] = -b * det.inv

``x * (1 / y)`` may differ from ``x / y`` in the last bit, and is infinite where
``1 / y`` overflows (a subnormal ``y``, below about 5.6e-309 in f64), which is what
``fastmath=False`` rules out: the pass runs only with fastmath. LLVM would do the
same in the loops turbo vectorizes (their divisions allow reciprocals), but not
in code that runs as written, and the cost model would price every division.
Divisions inside a nested block share reciprocals within that block only. A
divisor computed from what the block stores or sets again is left alone: on a
recurrence the product after the reciprocal lengthens the chain.
"""

from __future__ import annotations

from dataclasses import replace

from .. import ir
from . import analysis


def shared_divisors(kernel: ir.Kernel, variant=None) -> ir.Kernel:
    """``kernel`` with repeated float divisions by one local computed as one
    reciprocal and products."""
    body = _block(kernel.body, analysis.names_taken(kernel))
    return kernel if body == kernel.body else replace(kernel, body=body)


def _block(body: tuple, taken: set[str]) -> tuple:
    body = tuple(_nested_blocks(s, taken) for s in body)
    out = list(body)
    # divisor -> positions of the statements of this block that divide by it, since
    # its last assignment here
    runs: dict[str, list[int]] = {}
    done: list[tuple[str, list[int]]] = []
    for k, s in enumerate(body):
        for name in _divisors(s):
            runs.setdefault(name, []).append(k)
        for name in set(analysis.assigned_in((s,))) & set(runs):
            done.append((name, runs.pop(name)))  # an assignment ends the run (after its own use)
    done.extend(runs.items())
    inserts: dict[int, list[ir.Stmt]] = {}
    stored = {_key(x) for x in ir.walk_stmts(body) if isinstance(x, ir.Store)}
    for name, sites in done:
        if len(sites) < 2:  # one statement may divide twice: sites holds it twice
            continue
        if _carried(body, sites[0], name, stored):
            continue
        first = sites[0]
        t = _divisor_type(body[first], name)
        inv = analysis.fresh_name(taken, f"{name}.inv")
        loc = body[first].loc
        inserts.setdefault(first, []).append(
            ir.Assign(inv, ir.Binary("/", ir.Const(1.0, t, loc), ir.Var(name, t, loc), t, loc), None, loc))
        var = ir.Var(inv, t, loc)
        for k in dict.fromkeys(sites):
            out[k] = _rewrite(out[k], name, var)
    if not inserts:
        return body
    result = []
    for k, s in enumerate(out):
        result.extend(inserts.get(k, ()))
        result.append(s)
    return tuple(result)


def _carried(body: tuple, first: int, name: str, stored: set[str]) -> bool:
    """Whether the divisor ``name`` at statement ``first`` is computed, in this
    block, from an element of an array the block stores at other subscripts, or
    from a local it sets again after: a recurrence (a tridiagonal solve's
    ``den = b[i] - a[i] * cp[i - 1]`` with ``cp[i]`` stored), where the product
    after the reciprocal would lengthen the chain from one iteration to the next
    (the Thomas algorithm ran 0.85x as fast with it). ``stored``: (array,
    subscripts) of the block's stores."""
    setter = next((s for s in reversed(body[:first]) if isinstance(s, ir.Assign) and s.name == name), None)
    if setter is None:
        return False
    arrays = {a for a, _ in stored}
    loads = {_key(x) for x in ir.walk_expr(setter.value) if isinstance(x, ir.Load) and x.array in arrays}
    later = set(analysis.assigned_in(body[first:]))
    return bool(loads - stored or analysis.names_read(setter.value) & later)


def _key(access) -> tuple:
    return access.array, tuple(map(analysis.expr_text, access.indices))


def _nested_blocks(s: ir.Stmt, taken: set[str]) -> ir.Stmt:
    if isinstance(s, (ir.For, ir.While)):
        body = _block(s.body, taken)
        return s if body == s.body else replace(s, body=body)
    if isinstance(s, ir.If):
        then, orelse = _block(s.then, taken), _block(s.orelse, taken)
        return s if (then, orelse) == (s.then, s.orelse) else replace(s, then=then, orelse=orelse)
    return s


def _divisors(s: ir.Stmt) -> list[str]:
    """The locals and scalars statement ``s`` divides a float by, once per
    division: in the value of an assignment or store (``x /= y`` too), not in
    nested blocks or a loop's bounds."""
    if not isinstance(s, (ir.Assign, ir.Store)):
        return []
    out = [x.right.name for x in ir.walk_expr(s.value) if _divides(x)]
    if s.op == "/" and isinstance(s.value, ir.Var) and s.value.type.is_float:
        out.append(s.value.name)
    return out


def _divides(x: ir.Expr) -> bool:
    return isinstance(x, ir.Binary) and x.op == "/" and x.type.is_float and isinstance(x.right, ir.Var)


def _divisor_type(s: ir.Stmt, name: str) -> ir.DType:
    if s.op == "/" and isinstance(s.value, ir.Var) and s.value.name == name:
        return s.value.type
    return next(x.type for x in ir.walk_expr(s.value) if _divides(x) and x.right.name == name)


def _rewrite(s: ir.Stmt, name: str, inv: ir.Var) -> ir.Stmt:
    s = replace(s, value=_times(s.value, name, inv))
    if s.op == "/" and isinstance(s.value, ir.Var) and s.value.name == name and s.value.type is inv.type:
        s = replace(s, op="*", value=inv)
    return s


def _times(e: ir.Expr, name: str, inv: ir.Var) -> ir.Expr:
    e = ir.map_operands(e, lambda x: _times(x, name, inv))
    if _divides(e) and e.right.name == name and e.type is inv.type:
        return ir.Binary("*", e.left, inv, e.type, e.loc)
    return e
