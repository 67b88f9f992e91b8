"""The instruction-cost table: what one operation costs, as data.

The cost model (``schedule.py``) counts the operations of a loop body and prices
them with this table; nothing here is measured at compile time. Figures are for
one instruction on one SIMD register (a scalar operation costs the same as a
vector one on x86), taken from the published tables for recent x86 cores (Zen 4,
Sapphire Rapids) and rounded; they need to rank schedules, not predict
nanoseconds.

Fields of an ``OpCost``:

``latency``
    cycles from the moment the operation's inputs are ready until its result can
    be used by the next operation. It bounds a dependence chain: a loop that adds
    into one accumulator runs at most one iteration per ``fadd`` latency, which is
    why reductions get several accumulators.
``rthroughput``
    reciprocal throughput: cycles of its unit the operation occupies, so a unit
    finishes ``1 / rthroughput`` of them per cycle when they are independent
    (``fma`` 0.5: two per cycle).
``uops``
    micro-operations it issues; all kinds share the core's issue width.
``unit``
    the execution resource it competes for: ``fp`` (vector arithmetic ports),
    ``load`` (load ports), ``store`` (store port), ``mem`` (element-wise accesses:
    the lanes of gathers and scatters), ``div`` (the divider, separate and slow),
    ``int`` (integer/address ports, rarely the bottleneck).
``regs``
    vector registers it needs for temporaries beyond its result (a SIMD ``exp``
    holds constants and intermediate values).

Entries for math functions (``exp``, ``log``, ...) price turbo's own SIMD
routines (``codegen/simdmath.py``) as a whole; ``libm_call`` prices one scalar
call into the C library, what a lane costs where no SIMD routine exists.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpCost:
    latency: float
    rthroughput: float
    uops: int = 1
    unit: str = "fp"
    regs: int = 0


COSTS: dict[str, OpCost] = {
    # arithmetic
    "fadd": OpCost(3, 0.5),
    "fmul": OpCost(3, 0.5),
    "fma": OpCost(4, 0.5),
    "fdiv32": OpCost(11, 3.5, unit="div"),
    "fdiv64": OpCost(14, 5.0, unit="div"),
    "sqrt32": OpCost(12, 4.0, unit="div"),
    "sqrt64": OpCost(18, 7.0, unit="div"),
    "fcmp": OpCost(3, 0.5),
    "blend": OpCost(1, 0.5),  # select, min, max, abs, neg
    "round": OpCost(3, 1.0),  # floor, ceil
    "convert": OpCost(4, 1.0),  # int <-> float, f32 <-> f64
    "iadd": OpCost(1, 0.33, unit="int"),
    "imul": OpCost(3, 1.0, unit="int"),
    "shuffle": OpCost(1, 1.0),  # permutes, broadcasts from a register, extracts
    # memory
    "load": OpCost(5, 0.5, unit="load"),
    "broadcast": OpCost(6, 0.5, unit="load"),  # load one element into every lane
    "masked_load": OpCost(7, 1.0, 2, unit="load"),
    "store": OpCost(1, 1.0, unit="store"),
    "masked_store": OpCost(1, 2.0, 2, unit="store"),
    # a vector load overlapping a narrower store still in flight cannot take its
    # data from the store: it waits until the store reaches the cache (trsv rows
    # ran ~30 cycles longer with a masked tail than with a scalar one on Zen 4)
    "forward_stall": OpCost(30, 30.0, unit="load"),
    # per lane of a gather, and of a scatter (AVX2 has none: codegen stores lane
    # by lane, one extract-to-memory each at a scalar address). Both go element by
    # element through the address ports that loads and stores share, so they
    # share a unit: a loop that gathers and scatters pays for both. Measured on
    # Zen 4 (f32 and f64, rows 250 apart): ~1.8 and ~1.2 cycles a lane; rows a
    # power of two apart (256) cost 2-3x that, their lines competing for the same
    # L1 sets. Row lengths are rarely known when the plan is made, so a scatter
    # lane is priced at 2.0, above its best case: at 1.2 a row-wise prefix sum
    # turned from scalar to vectorized across rows (a gather and a scatter per
    # element), 1.18x faster at n = 250 but 0.44x at n = 256 and 0.65x at 16.
    "gather_lane": OpCost(6, 1.8, 1, unit="mem"),
    "scatter_lane": OpCost(2, 2.0, 2, unit="mem"),
    # control
    "branch": OpCost(1, 0.5, unit="int"),  # loop back-edge with its compare
    # malloc and free of a buffer (a transposed copy too large for the stack)
    "heap_alloc": OpCost(100, 100.0, 40, unit="int"),
    # math routines, per vector
    "exp": OpCost(20, 6.0, 14, regs=4),
    "log": OpCost(24, 8.0, 18, regs=5),
    "tanh": OpCost(30, 9.0, 22, regs=5),
    "sigmoid": OpCost(26, 8.0, 17, regs=4),
    # sin and cos: an f64 reduction and both polynomials (f32 lanes are widened)
    "sin": OpCost(40, 14.0, 45, regs=7),
    "cos": OpCost(40, 14.0, 45, regs=7),
    # pow: a log and an exp on f64 lanes (double-double for f64) plus C99's cases
    "pow": OpCost(90, 36.0, 90, regs=8),
    # the others, estimated from the routines' operation counts (simdmath.py)
    "log2": OpCost(34, 12.0, 32, regs=6),  # f64: a double-double log
    "log10": OpCost(24, 8.0, 18, regs=5),
    "log1p": OpCost(30, 10.0, 24, regs=6),
    "exp2": OpCost(20, 6.0, 14, regs=4),
    "expm1": OpCost(30, 11.0, 32, regs=6),
    "sinh": OpCost(34, 13.0, 34, regs=6),
    "cosh": OpCost(28, 9.0, 22, regs=5),
    "tan": OpCost(50, 20.0, 60, regs=8),  # sin and cos of one f64 reduction, and a division
    "atan": OpCost(40, 14.0, 40, regs=7),
    "atan2": OpCost(48, 18.0, 48, regs=8),
    "asin": OpCost(56, 22.0, 56, regs=9),  # a square root and atan2's reduction, with low parts
    "acos": OpCost(56, 22.0, 56, regs=9),
    "hypot": OpCost(30, 8.0, 14, regs=5),
    "erf": OpCost(60, 26.0, 64, regs=8),
    "libm_call": OpCost(40, 20.0, 30, unit="fp"),
}
