"""Loop interchange: which order a perfect nest's loops run in.

A nest ``for m in 0:M { for n in 0:N { body } }`` may run as
``for n in 0:N { for m in 0:M { body } }`` when the iterations of its loops are
independent: exactly the rule for running them side by side in a region
(``analysis.region_problems`` with no vector loop: every written array is
accessed at one subscript in which each of the loops' indices appears alone,
scalars carried across them are reductions, nothing in the nest can fail), and
when no loop's bounds read another one's index (a rectangular nest). The
scheduler prices every order of the first two or three loops of each nest with
the cost model and keeps the cheapest when it is at least 5% under the order as
written; between orders within 5% of each other, the one whose innermost loop
walks the last subscript of more accesses wins (``locality``).

Example, C = Aᵀ Bᵀ: ``for m, n { acc = 0; for k { acc += A[k, m] * B[n, k] }; C[m, n] = acc }``.
As written, the best plan vectorizes m with n inside it one at a time; run as
``for n, m`` it vectorizes m with n jammed around it, the register tile of the
``A B`` gemm (rows of B broadcast, vectors of A loaded, ``n × m`` accumulators).
"""

from __future__ import annotations

import dataclasses
import itertools

from .. import ir
from . import analysis
from .analysis import Context, LoopSite, Path

MAX_LOOPS = 3  # loops of a perfect nest whose orders are tried (3! = 6 orders)
DEEP_LOOPS = 6  # ... and how deep a nest may be for the one order of a deeper nest tried (``orders``)


def perfect_chain(loop: ir.For, limit: int = MAX_LOOPS) -> list[ir.For]:
    """The loop and the loops perfectly nested in it (each the only statement of
    the one above), at most ``limit``."""
    chain = [loop]
    while len(chain) < limit and len(chain[-1].body) == 1 and isinstance(chain[-1].body[0], ir.For):
        chain.append(chain[-1].body[0])
    return chain


def orders(ctx: Context, site: LoopSite, variant, fastmath: bool) -> list[tuple[ir.For, tuple[str, ...]]]:
    """The nest at ``site`` in each other legal order of its perfect loops:
    (the new root loop, the order of the indices). Every order of the first
    MAX_LOOPS; in a deeper perfect nest, also the order that runs the loops
    written arrays are updated across innermost (a batched gemm written
    ``for b, i, k, j { C[b, i, j] += ... }`` as ``b, i, j, k``)."""
    deep = perfect_chain(site.loop, DEEP_LOOPS)
    out = []
    chain = deep[:MAX_LOOPS]
    if _reorderable(ctx, site, chain, variant, fastmath):
        out += _permuted(chain, [p for p in itertools.permutations(range(len(chain)))])
    if len(deep) > MAX_LOOPS and _reorderable(ctx, site, deep, variant, fastmath):
        inward = _carried_inward(deep)
        if inward is not None and inward[MAX_LOOPS:] != tuple(range(MAX_LOOPS, len(deep))):  # else tried above
            out += _permuted(deep, [inward])
    return out


def _reorderable(ctx: Context, site: LoopSite, chain: list[ir.For], variant, fastmath: bool) -> bool:
    """Whether the loops ``chain`` (perfectly nested, from ``site``) may run in
    some other order: rectangular, counting up by constant steps, none marked
    parallel, their iterations independent but for elements updated in place."""
    if len(chain) < 2 or any(s.parallel for s in chain):
        return False
    names = {s.index for s in chain}
    for s in chain:
        if not (isinstance(s.step, ir.Const) and s.step.value > 0):
            return False
        if (analysis.names_read(s.start) | analysis.names_read(s.stop)) & names:
            return False  # triangular: the bounds would change meaning
    return not analysis.region_problems(ctx, site, tuple(chain), None, variant, fastmath, reorder=True)


def _permuted(chain: list[ir.For], perms) -> list[tuple[ir.For, tuple[str, ...]]]:
    """The nest ``chain`` in each order of ``perms`` (positions in it) but the one
    written and those that would change the order in which an element updated
    across two of its loops sees its updates."""
    carried = analysis.carried_across(tuple(chain))
    out = []
    for perm in perms:
        if perm == tuple(range(len(chain))):
            continue
        ran = [chain[k].index for k in perm]
        if any([n for n in ran if n in free] != [s.index for s in chain if s.index in free] for free in carried):
            continue
        body = chain[-1].body
        for k in reversed(perm):
            body = (dataclasses.replace(chain[k], body=body),)
        out.append((body[0], tuple(ran)))
    return out


def _carried_inward(chain: list[ir.For]) -> tuple[int, ...] | None:
    """The order (positions in ``chain``) that keeps the loops in their order but
    moves the loops every written array is updated across (none of its
    subscripts reads them) innermost; None when the written arrays disagree on
    them or there are none."""
    across = set(analysis.updated_across(tuple(chain)).values())
    if len(across) != 1:
        return None
    (free,) = across
    if not free:
        return None
    names = [s.index for s in chain]
    return tuple(k for k, n in enumerate(names) if n not in free) + tuple(k for k, n in enumerate(names) if n in free)


def replace_at(body: tuple[ir.Stmt, ...], path: Path, new: ir.Stmt) -> tuple[ir.Stmt, ...]:
    """``body`` with the statement at ``path`` (analysis.py paths) replaced."""
    k, rest = path[0], path[1:]
    s = body[k]
    if rest:
        if isinstance(s, (ir.For, ir.While)):
            s = dataclasses.replace(s, body=replace_at(s.body, rest, new))
        else:
            branch, rest = rest[0], rest[1:]
            field = "then" if branch == 0 else "orelse"
            s = dataclasses.replace(s, **{field: replace_at(getattr(s, field), rest, new)})
    else:
        s = new
    return body[:k] + (s,) + body[k + 1:]


def locality(root: ir.For, order: tuple[str, ...]) -> int:
    """How well the innermost loop of ``order`` walks memory: accesses in the nest
    whose last subscript moves with it, minus those where an earlier one does (a
    row of a C-order array each step). Breaks near-ties between orders; the cost
    model itself does not see caches."""
    inner = order[-1]
    score = 0
    for n in analysis.accesses((root,)):
        moves = [inner in analysis.names_read(i) for i in n.indices]
        if moves and moves[-1]:
            score += 1
        elif any(moves):
            score -= 1
    return score


def row_walks(root: ir.For, order: tuple[str, ...]) -> int:
    """Accesses inside the innermost loop of ``order`` that step from row to row
    with it: an earlier subscript moves with that loop and the last one does not
    (a C-order array's column, one cache line per iteration). Accesses it does
    not move are held or hoisted, and do not count."""
    inner = order[-1]
    loop = next(s for s in ir.walk_stmts((root,)) if isinstance(s, ir.For) and s.index == inner)
    count = 0
    for n in analysis.accesses(loop.body):
        moves = [inner in analysis.names_read(i) for i in n.indices]
        if moves and not moves[-1] and any(moves):
            count += 1
    return count
