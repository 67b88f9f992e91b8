"""The calling convention between the runtime and a compiled kernel variant.

A kernel is compiled in *variants*: one per layout signature (which arrays are
C-contiguous) and aliasing (whether a written array may overlap another
argument). A variant is a native function

    i32 kernel(<array args>..., <dims>..., <scalars>..., ptr err)

where each array contributes its data pointer and its byte strides (a contiguous
variant ignores them: every variant has the same signature, so the entry point
calls any of them through one function-pointer type); each symbolic dim is an i64; each scalar has its
IR type (bool as i8). A kernel with a result (``return x``) gets one more
pointer, where it stores the result (its IR type in memory, bool as i8). It returns 0, or an error code after filling ``err``
(five i64: code, site, axis, value, size). Everything that builds or calls such a
function derives the parameter list from ``Variant.abi`` so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ir

# error codes written to err[0]
ERR_INDEX = 1
ERR_ZERO_DIVISION = 2
ERR_NEGATIVE_POWER = 3
ERR_ZERO_STEP = 4
ERR_NEGATIVE_SHIFT = 5
ERR_NO_MEMORY = 6  # a buffer the kernel allocates (a transposed copy); size: its bytes

ERR_FIELDS = 5

MAX_LAYOUT_BITS = 7  # above this many arrays, contiguity is one bit for all of them


@dataclass(frozen=True)
class AbiParam:
    kind: str  # "data" | "stride" | "dim" | "scalar" | "result" | "err"
    name: str  # the parameter (or dim) name
    dtype: ir.DType | None = None
    axis: int = 0


@dataclass(frozen=True)
class Variant:
    contiguous: tuple[bool, ...]  # per array parameter, in parameter order
    may_alias: bool
    boundscheck: bool | None  # None: check what cannot be proven; True: all; False: none
    # short dims (passes/specialize.py) and the values a second copy of the code is
    # specialized for; the function runs that copy when a call has them
    dims: tuple[tuple[str, int], ...] = ()

    def abi(self, kernel: ir.Kernel) -> tuple[AbiParam, ...]:
        out: list[AbiParam] = []
        for p in kernel.arrays:
            out.append(AbiParam("data", p.name, p.dtype))
            out.extend(AbiParam("stride", p.name, None, axis) for axis in range(p.ndim))
        out.extend(AbiParam("dim", d) for d in kernel.dims)
        out.extend(AbiParam("scalar", p.name, p.dtype) for p in kernel.scalars)
        if kernel.result is not None:
            out.append(AbiParam("result", "result", kernel.result))
        out.append(AbiParam("err", "err"))
        return tuple(out)

    @property
    def tag(self) -> str:
        layout = "".join("C" if c else "A" for c in self.contiguous)
        check = {None: "auto", True: "all", False: "none"}[self.boundscheck]
        fixed = "".join(f"_{d}{v}" for d, v in self.dims)
        return f"{layout or '-'}_{'alias' if self.may_alias else 'noalias'}_{check}{fixed}"


def layout_bits(n_arrays: int) -> int:
    return n_arrays if n_arrays <= MAX_LAYOUT_BITS else 1


def slot_count(n_arrays: int) -> int:
    """Size of the entry point's variant table: layout bits plus one aliasing bit."""
    return 1 << (layout_bits(n_arrays) + 1)


def variant_from_slot(slot: int, n_arrays: int, boundscheck: bool | None) -> Variant:
    bits = layout_bits(n_arrays)
    if bits == n_arrays:
        contig = tuple(bool(slot >> i & 1) for i in range(n_arrays))
    else:
        contig = (bool(slot & 1),) * n_arrays
    return Variant(contig, bool(slot >> bits & 1), boundscheck)


def slot_of(contiguous: tuple[bool, ...], may_alias: bool) -> int:
    n = len(contiguous)
    bits = layout_bits(n)
    if bits == n:
        mask = sum(1 << i for i, c in enumerate(contiguous) if c)
    else:
        mask = int(all(contiguous))
    return mask | (int(may_alias) << bits)
