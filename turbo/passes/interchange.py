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


def perfect_chain(loop: ir.For) -> list[ir.For]:
    """The loop and the loops perfectly nested in it (each the only statement of
    the one above), at most MAX_LOOPS."""
    chain = [loop]
    while len(chain) < MAX_LOOPS and len(chain[-1].body) == 1 and isinstance(chain[-1].body[0], ir.For):
        chain.append(chain[-1].body[0])
    return chain


def orders(ctx: Context, site: LoopSite, variant, fastmath: bool) -> list[tuple[ir.For, tuple[str, ...]]]:
    """The nest at ``site`` in each other legal order of its perfect loops:
    (the new root loop, the order of the indices)."""
    chain = perfect_chain(site.loop)
    if len(chain) < 2 or any(s.parallel for s in chain):
        return []
    names = {s.index for s in chain}
    for s in chain:
        if not (isinstance(s.step, ir.Const) and s.step.value > 0):
            return []
        if (analysis.names_read(s.start) | analysis.names_read(s.stop)) & names:
            return []  # triangular: the bounds would change meaning
    if analysis.region_problems(ctx, site, tuple(chain), None, variant, fastmath, reorder=True):
        return []
    carried = analysis.carried_across(tuple(chain))
    inner_body = chain[-1].body
    out = []
    for perm in itertools.permutations(range(len(chain))):
        if perm == tuple(range(len(chain))):
            continue
        ran = [chain[k].index for k in perm]
        if any([n for n in ran if n in free] != [s.index for s in chain if s.index in free] for free in carried):
            continue  # an element updated across two loops would see its updates in another order
        body = inner_body
        for k in reversed(perm):
            body = (dataclasses.replace(chain[k], body=body),)
        out.append((body[0], tuple(chain[k].index for k in perm)))
    return out


def replace_at(body: tuple[ir.Stmt, ...], path: Path, new: ir.Stmt) -> tuple[ir.Stmt, ...]:
    """``body`` with the statement at ``path`` (analysis.py paths) replaced."""
    k, rest = path[0], path[1:]
    s = body[k]
    if rest:
        if isinstance(s, ir.For):
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
