"""The pass driver: runs named passes in order, verifying and dumping each stage.

Stage dumps go to stderr at ``TURBO_DEBUG=3`` and above; the verifier runs after
every pass when ``TURBO_VERIFY=1`` or any ``TURBO_DEBUG`` level is set.
"""

from __future__ import annotations

import os
import sys
from typing import Callable

from .. import ir
from .continues import remove_continues
from .narrow import narrow
from .reciprocal import shared_divisors
from .roundtrip import float_roundtrips
from .sink import sink_branch_stores
from .split import split_loops
from .verify import verify
from .whiles import while_searches

# (name, pass) in the order they run. Passes take (kernel, variant) and return a kernel.
PASSES: list[tuple[str, Callable]] = [
    ("whiles", while_searches),
    ("continues", remove_continues),
    ("sink", sink_branch_stores),
    ("split", split_loops),
    ("roundtrips", float_roundtrips),
    ("reciprocals", shared_divisors),  # with fastmath only
    ("narrow", narrow),
]
FASTMATH_ONLY = {"reciprocals"}


def _verifying() -> bool:
    return os.environ.get("TURBO_VERIFY") == "1" or os.environ.get("TURBO_DEBUG", "0") not in ("", "0")


def _dump(name: str, kernel: ir.Kernel) -> None:
    try:
        level = int(os.environ.get("TURBO_DEBUG", "0"))
    except ValueError:
        level = 0
    if level >= 3:
        print(f"[turbo] --- {kernel.name} after {name} ---\n{kernel}", file=sys.stderr)


def lower(kernel: ir.Kernel, variant, fastmath: bool = True) -> ir.Kernel:
    if _verifying():
        verify(kernel, "frontend")
    _dump("frontend", kernel)
    for name, fn in PASSES:
        if name in FASTMATH_ONLY and not fastmath:
            continue
        kernel = fn(kernel, variant)
        if _verifying():
            verify(kernel, name)
        _dump(name, kernel)
    return kernel
