"""turbo: a loop-nest kernel compiler for Python.

    from turbo import turbo

    @turbo
    def axpy(y, x, a):
        for i in range(len(y)):
            y[i] += a * x[i]

or, in the loop language:

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
    DifferentiationError,
    ScheduleError,
    DSLSemanticError,
    DSLSyntaxError,
    DSLTypeError,
    FallbackWarning,
    KernelIndexError,
    KernelRuntimeError,
    KernelZeroDivisionError,
    TurboError,
    UnsupportedError,
)
from .ir import prange


def parse(source: str, filename: str | None = None):
    """Parse DSL source into the Loop IR (an ``ir.Module``) without compiling."""
    from .dsl_grammar import parse as _parse

    return _parse(source, filename or "<string>")


def turbo(fn=None, /, **options):
    """Decorator: compile a plain Python loop function per call signature.

    ``@turbo`` or ``@turbo(boundscheck=None|True|False, fallback=False)``; see
    docs/python.md for what is compiled and the rules. Set ``TURBO_DISABLE_JIT=1``
    to run every decorated function as plain Python."""
    from .runtime.function import turbo as _turbo

    return _turbo(fn, **options)


def compile(source: str, filename: str | None = None, *, boundscheck: bool | None = None,
            fastmath: bool = True, vectorize: str | bool | None = None, unroll: dict | None = None,
            parallel: bool = False):
    """Compile DSL source; returns a module whose kernels are attributes.

    boundscheck: None (default) checks only the accesses whose bounds cannot be
    proven from loop bounds and shapes; True checks every access; False none.
    fastmath: True (default) lets vectorized and unrolled loops reassociate float
    reductions and fuse ``a * b + c`` into one FMA; False keeps every float
    operation as written (float reductions then stay scalar).
    vectorize / unroll: override the cost model (``vectorize="j"``, ``False`` for
    none; ``unroll={"i": 4}``); checked for legality (``ScheduleError``).
    parallel: True splits every top-level loop that allows it across threads
    (loops marked ``parallel for`` are split whatever this says); see docs/threads.md.
    Machine code is generated on a kernel's first call (or ``kernel.compile()``).
    """
    from .passes.schedule import make_options
    from .runtime.kernel import KernelModule

    name = filename or "<string>"
    options = make_options(fastmath, vectorize, unroll, parallel)
    return KernelModule(parse(source, name), boundscheck, name, options)


def pullback(kernel, wrt, *, forward: bool = False):
    """The pullback (reverse-mode derivative) of a kernel or ``@turbo`` function
    with respect to the arrays named in ``wrt``; an ordinary kernel. Parameters:
    the original ones, ``d<Y>`` per float array written, ``dresult`` for a float
    result, ``d<X>`` per name in ``wrt``. See docs/autodiff.md."""
    from .runtime.pullback import pullback as _pullback

    return _pullback(kernel, wrt, forward=forward)


def value_and_grad(kernel, wrt):
    """``f(*args) -> (loss, (dX, ...))`` for a kernel returning a float loss."""
    from .runtime.pullback import value_and_grad as _vg

    return _vg(kernel, wrt)


def set_num_threads(n: int) -> None:
    """Threads (the calling one included) that parallel loops use from now on.
    Default: the CPUs this process may run on, or ``$TURBO_NUM_THREADS``."""
    from .runtime.threads import set_num_threads as _set

    _set(n)


def get_num_threads() -> int:
    from .runtime.threads import get_num_threads as _get

    return _get()


def set_parallel_threshold(cycles: int) -> None:
    """Predicted cycles of work below which a parallel loop runs on the calling
    thread alone (default 60000; 0 splits every parallel loop)."""
    from .runtime.threads import set_parallel_threshold as _set

    _set(cycles)


def load(path: str | _os.PathLike, **options):
    """Compile a ``.loop`` file; like ``compile`` (same keyword options)."""
    path = _os.fspath(path)
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return compile(source, path, **options)


__all__ = [
    "turbo", "compile", "load", "parse", "pullback", "value_and_grad", "DifferentiationError", "__version__", "FallbackWarning",
    "prange", "set_num_threads", "get_num_threads", "set_parallel_threshold",
    "TurboError", "DSLSyntaxError", "DSLSemanticError", "DSLTypeError", "UnsupportedError",
    "ArgumentError", "ArgumentTypeError", "ArgumentValueError", "KernelIndexError",
    "KernelRuntimeError", "KernelZeroDivisionError", "CompilerError", "ScheduleError",
]
