"""turbo: a loop-nest kernel compiler for Python.

    import turbo
    mod = turbo.compile('''
        kernel axpy(y: f32[N], x: f32[N], a: f32) {
            for i in 0:N { y[i] += a * x[i] }
        }''')
    mod.axpy(y, x, 2.0)
"""

from __future__ import annotations

__version__ = "0.1.0"

import os as _os

from .errors import (
    ArgumentError,
    ArgumentTypeError,
    ArgumentValueError,
    CompilerError,
    DSLSemanticError,
    DSLSyntaxError,
    DSLTypeError,
    KernelIndexError,
    KernelRuntimeError,
    KernelZeroDivisionError,
    TurboError,
    UnsupportedError,
)


def parse(source: str, filename: str | None = None):
    """Parse DSL source into the Loop IR (an ``ir.Module``) without compiling."""
    from .dsl_grammar import parse as _parse

    return _parse(source, filename or "<string>")


def compile(source: str, filename: str | None = None, *, boundscheck: bool | None = None):
    """Compile DSL source; returns a module whose kernels are attributes.

    boundscheck: None (default) checks only the accesses whose bounds cannot be
    proven from loop bounds and shapes; True checks every access; False none.
    Machine code is generated on a kernel's first call (or ``kernel.compile()``).
    """
    from .runtime.kernel import KernelModule

    name = filename or "<string>"
    return KernelModule(parse(source, name), boundscheck, name)


def load(path: str | _os.PathLike, *, boundscheck: bool | None = None):
    """Compile a ``.loop`` file; like ``compile``."""
    path = _os.fspath(path)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return compile(source, path, boundscheck=boundscheck)


__all__ = [
    "compile", "load", "parse", "__version__",
    "TurboError", "DSLSyntaxError", "DSLSemanticError", "DSLTypeError", "UnsupportedError",
    "ArgumentError", "ArgumentTypeError", "ArgumentValueError", "KernelIndexError",
    "KernelRuntimeError", "KernelZeroDivisionError", "CompilerError",
]
