"""Loop fission for adjoint kernels: one accumulation per nest, loops reordered.

The adjoint of a dense layer comes out of the AD pass as one nest that does
everything per output element::

    for m in 0:M, n in 0:N {
        dacc = dY[m, n] * (1.0 - Y[m, n] * Y[m, n])
        for k in 0:K { dW[m, k] += dacc * X[k, n]; dX[k, n] += dacc * W[m, k] }
        db[m] += dacc
    }

Each iteration scatters into rows and columns, which no schedule makes fast.
``split_nests`` saves the per-iteration values in a scratch array and gives every
accumulation its own nest, ordered so that the written element's indices run
outermost and the summed indices innermost::

    for m in 0:M, n in 0:N { S[m, n] = dY[m, n] * (1.0 - Y[m, n] * Y[m, n]) }
    for m in 0:M, k in 0:K { a = 0.0; for n in 0:N { a += S[m, n] * X[k, n] }; dW[m, k] += a }
    for k in 0:K, n in 0:N { a = 0.0; for m in 0:M { a += W[m, k] * S[m, n] }; dX[k, n] += a }
    for m in 0:M { a = 0.0; for n in 0:N { a += S[m, n] }; db[m] += a }

which are the gemm and reduction nests the scheduler tiles. Legal because the
nest's statements only accumulate (``+=``/``-=``) into arrays the nest never
reads: the order of the additions is all that changes (float reassociation).
Nests that do not have this shape are left as they are.
"""

from __future__ import annotations

from dataclasses import replace

from .. import ir
from ..ir import DType
from .analysis import fresh_name, names_read
from .autodiff import _is_atom, _subst_stmt, _substitute, _where


def split_nests(kernel: ir.Kernel, adjoint_arrays: frozenset[str], taken: set[str]):
    """Returns (kernel, scratch parameters to append, notes)."""
    body: list[ir.Stmt] = []
    scratch: list[ir.ArrayParam] = []
    notes: list[str] = []
    for s in kernel.body:
        got = _split(s, kernel, adjoint_arrays, taken) if isinstance(s, ir.For) else None
        if got is None:
            body.append(s)
            continue
        stmts, params, note = got
        body += stmts
        scratch += params
        notes.append(note)
    return replace(kernel, body=tuple(body)), tuple(scratch), notes


def _size(loop: ir.For, dims: set[str]):
    """The scratch extent of a loop ``0:D`` (D a dim or a literal), else None."""
    if not (isinstance(loop.start, ir.Const) and loop.start.value == 0):
        return None
    if not (isinstance(loop.step, ir.Const) and loop.step.value == 1):
        return None
    if isinstance(loop.stop, ir.Const):
        return int(loop.stop.value)
    if isinstance(loop.stop, ir.Var) and loop.stop.name in dims:
        return loop.stop.name
    return None


def _units(stmts, inner: tuple[ir.For, ...], out: list) -> bool:
    """Collects (loops, store) for every accumulation; False if a statement is
    anything else."""
    for s in stmts:
        if isinstance(s, ir.Store) and s.op in ("+", "-"):
            out.append((inner, s))
        elif isinstance(s, ir.For) and isinstance(s.step, ir.Const) and s.step.value in (1, -1):
            if not _units(s.body, inner + (s,), out):
                return False
        else:
            return False
    return True


def _split(nest: ir.For, kernel: ir.Kernel, adjoint_arrays, taken):
    dims = set(kernel.dims)
    outer: list[ir.For] = [nest]
    while len(outer[-1].body) == 1 and isinstance(outer[-1].body[0], ir.For):
        outer.append(outer[-1].body[0])
    sizes = [_size(lp, dims) for lp in outer]
    if any(s is None for s in sizes):
        return None
    body = outer[-1].body
    k = 0
    while k < len(body) and isinstance(body[k], ir.Assign) and body[k].op is None:
        k += 1
    scalars, rest = body[:k], body[k:]
    units: list = []
    if not rest or not _units(rest, (), units):
        return None
    written = {u.array for _, u in units}
    if not written <= adjoint_arrays:
        return None
    for s in ir.walk_stmts((nest,)):
        for e in ir.stmt_exprs(s):
            if any(isinstance(x, ir.Load) and x.array in written for x in ir.walk_expr(e)):
                return None
    names = {s.name for s in scalars}
    if len(names) != len(scalars):
        return None
    if len(units) < 2 and not any(loops for loops, _ in units):
        return None

    # values of the body's locals: atoms are substituted, the rest saved
    value: dict[str, ir.Expr] = {}
    saved: list[tuple[ir.Assign, str]] = []
    params: list[ir.ArrayParam] = []
    idx = tuple(ir.Var(lp.index, DType.I64) for lp in outer)
    for s in scalars:
        v = s.value
        for name, e in value.items():
            v = _substitute(v, name, e)
        if _is_atom(v):
            value[s.name] = v
            continue
        t = s.value.type
        sname = fresh_name(taken, f"{s.name}_saved")
        params.append(ir.ArrayParam(sname, t, tuple(sizes)))
        saved.append((s, sname))
        value[s.name] = ir.Load(sname, idx, t)
    for loops, u in units:
        for e in ir.stmt_exprs(u):
            if names_read(e) & (names - set(value)):
                return None
        if any(names_read(e) & names for lp in loops for e in (lp.start, lp.stop, lp.step)):
            return None

    out: list[ir.Stmt] = []
    if saved:
        first = list(scalars) + [ir.Store(sname, idx, ir.Var(s.name, s.value.type)) for s, sname in saved]
        out.append(_wrap(outer, tuple(first)))
    shapes = []
    for loops, u in units:
        for name, e in value.items():
            u = _subst_stmt(u, name, e)
        stmts, shape = _reordered(tuple(outer) + loops, u, taken)
        out += stmts
        shapes.append(shape)
    note = (f"loop nest '{nest.index}' ({_where(nest, 'generated')}): split into {len(units)} accumulation nest"
            f"{'s' if len(units) != 1 else ''} ({'; '.join(shapes)})")
    if saved:
        note += f"; saved {', '.join(s.name for s, _ in saved)} per iteration in scratch {', '.join(n for _, n in saved)}"
    return out, params, note


def _wrap(loops, body: tuple[ir.Stmt, ...]) -> ir.For:
    for lp in reversed(loops):
        body = (replace(lp, body=body),)
    return body[0]


def _rectangular(loops) -> bool:
    names = {lp.index for lp in loops}
    return all(not (names_read(e) & names) for lp in loops for e in (lp.start, lp.stop, lp.step))


def _reordered(loops: tuple[ir.For, ...], u: ir.Store, taken) -> tuple[list[ir.Stmt], str]:
    """``for loops { A[idx] += e }`` with the loops idx uses outermost (in the
    order idx names them) and the others summed into a local innermost."""
    text = f"{u.array}[{', '.join(ir.print_expr(i) for i in u.indices)}] {u.op}= ..."
    if not _rectangular(loops):
        return [_wrap(loops, (u,))], f"{text} in the original order"
    order: list[str] = []
    for i in u.indices:
        for x in ir.walk_expr(i):
            if isinstance(x, ir.Var) and x.name not in order and any(lp.index == x.name for lp in loops):
                order.append(x.name)
    by_name = {lp.index: lp for lp in loops}
    keep = [by_name[n] for n in order]
    summed = [lp for lp in loops if lp.index not in order]
    if not summed:
        return [_wrap(keep, (u,))], f"{text} over {', '.join(order)}"
    t = u.value.type
    acc = fresh_name(taken, "a")
    inner = _wrap(summed, (ir.Assign(acc, u.value, "+"),))
    body = (ir.Assign(acc, ir.Const(0.0 if t.is_float else 0, t)), inner, replace(u, value=ir.Var(acc, t)))
    if not keep:
        return list(body), f"{text}: sum over {', '.join(lp.index for lp in summed)}"
    return [_wrap(keep, body)], f"{text} over {', '.join(order)}, summing {', '.join(lp.index for lp in summed)}"
