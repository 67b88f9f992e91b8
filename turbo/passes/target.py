"""What the cost model knows about the machine: vector width, registers, costs.

A ``TargetDesc`` is built from the CPU features LLVM reports for the host
(``llvmlite.binding.get_host_cpu_features``), never from the CPU name alone: a VM
may hide AVX-512 on a CPU that has it. Tests build descriptions for other machines
from a feature string (``TargetDesc.from_features("+avx512f,+fma,...")``) to check
decisions made for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..ir import DType
from .costs import COSTS, OpCost


@dataclass(frozen=True)
class TargetDesc:
    name: str  # what explain() prints, e.g. "x86-64 AVX2+FMA"
    vector_bits: int  # width of one SIMD register: 128, 256 or 512
    vector_registers: int  # architectural SIMD registers (16 with AVX2, 32 with AVX-512)
    mask_registers: int  # AVX-512 k-registers (0 without AVX-512: masks live in vector registers)
    fma: bool  # fused multiply-add instructions
    # masked loads and stores of 8- and 16-bit elements (AVX-512BW); without them LLVM
    # expands a masked <16 x i8> access into 16 conditional scalar ones
    small_masks: bool = False
    costs: dict[str, OpCost] = field(default_factory=lambda: dict(COSTS), compare=False, hash=False)
    issue_width: int = 6  # instructions (uops) started per cycle, all kinds together
    # uops in flight the core overlaps across loop iterations (reorder and scheduler
    # capacity): how far a dependence chain inside one iteration is hidden
    window: int = 128
    # general registers a loop can keep array row addresses in: x86-64's 16 less the
    # stack pointer, the loop's counter and bound, and a spare (schedule._Counter.rows)
    address_registers: int = 12
    # ways of the L1 data cache: rows of arrays 4 KB apart (a power of two) share one
    # set, so a loop walking more rows than this evicts its own lines (Zen 4, Golden Cove
    # and later: 8 or 12; 8 is assumed)
    l1_ways: int = 8
    # data beyond this streams from L3 or memory (Zen 4's L2 per core) ...
    cache_bytes: int = 1 << 20
    # ... at about this many bytes a cycle: a 3-d outer product writing 4 MB ran
    # at 20 B/cycle in Numba's plain loop, a 4-d relu reading and writing 8 MB at 18
    stream_bytes_per_cycle: float = 16.0
    # data beyond L1 (32 KB on Zen 4 and Golden Cove) comes from L2 at about this many
    # bytes a cycle; a line written costs two (read for ownership, written back)
    l1_bytes: int = 32 << 10
    l2_bytes_per_cycle: float = 32.0

    def width(self, t: DType) -> int:
        """Lanes of one vector register for element type ``t``."""
        return max(1, self.vector_bits // t.bits)

    def cost(self, op: str) -> OpCost:
        return self.costs[op]

    @classmethod
    def from_features(cls, features: str, cpu: str = "") -> "TargetDesc":
        """From an LLVM feature string (``+avx2,-avx512f,...``)."""
        on = {f[1:] for f in features.split(",") if f.startswith("+")}
        fma = "fma" in on
        if "avx512f" in on:
            bits, regs, masks, isa = 512, 32, 8, "AVX-512"
        elif "avx2" in on or "avx" in on:
            bits, regs, masks, isa = 256, 16, 0, "AVX2" if "avx2" in on else "AVX"
        else:
            bits, regs, masks, isa = 128, 16, 0, "SSE"
        name = f"{cpu + ' ' if cpu else ''}{isa}{'+FMA' if fma else ''}".strip()
        return cls(name, bits, regs, masks, fma, small_masks="avx512bw" in on)


@lru_cache(maxsize=1)
def host() -> TargetDesc:
    import llvmlite.binding as llvm

    return TargetDesc.from_features(llvm.get_host_cpu_features().flatten(), llvm.get_host_cpu_name())
