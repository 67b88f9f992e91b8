"""``@turbo``: plain Python loop functions, compiled once per call signature.

A signature is what the generated code depends on: each array's dtype and ndim,
each scalar's type, and which array dims of size 2 or more are equal (equal dims
share one name in the IR, so the bounds prover can use ``C.shape[0] == A.shape[0]``). Layout and
aliasing are handled below that, by the kernel's variants, as for DSL kernels.

Calling path: the first signature's kernel becomes the function's ``__call__``
(its machine-code entry point), so a call with the usual arguments costs what a
DSL kernel call costs. Any call that entry does not take goes to ``_dispatch``,
which computes the signature in Python, compiles it if new, and calls its kernel.
"""

from __future__ import annotations

import functools
import os
import threading
import warnings

import numpy as np

from .. import frontend, ir
from ..arguments import bind_keywords
from ..errors import ArgumentTypeError, FallbackWarning, TurboError
from ..ir import DType
from ..passes.schedule import make_options

_ARRAY_DTYPES = {np.dtype(t.numpy_name): t for t in DType}
# a NumPy scalar of a narrow integer type is passed as the i64 it computes as
_SCALAR_TYPES = {np.dtype(t.numpy_name).type: ir.computed_as(t) for t in DType}
WEAK_FLOAT = "float"  # a Python float: takes the arrays' float type, like a literal


# Options of @turbo(...): name -> (allowed values, default); None for options
# checked by the scheduler (fastmath, unroll, vectorize, parallel).
OPTIONS: dict[str, tuple[tuple | None, object]] = {
    "boundscheck": ((None, True, False), None),
    "fallback": ((False, True), False),
    "parallel": (None, False),
    "fastmath": (None, True),
    "unroll": (None, None),
    "vectorize": (None, None),
}


def check_options(options: dict) -> dict:
    out = {name: default for name, (_, default) in OPTIONS.items()}
    for name, value in options.items():
        if name not in OPTIONS:
            known = ", ".join(OPTIONS)
            raise TypeError(f"@turbo() got an unexpected keyword argument '{name}'; options: {known}")
        allowed, _ = OPTIONS[name]
        if allowed is not None and not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
            raise TypeError(f"@turbo(): {name} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
        out[name] = value
    make_options(out["fastmath"], out["vectorize"], out["unroll"], out["parallel"])  # raises TypeError on bad values
    return out


def turbo(fn=None, /, **options):
    """Compile a Python loop function (see docs/python.md).

    ``@turbo`` or ``@turbo(boundscheck=..., fallback=...)``. With the environment
    variable ``TURBO_DISABLE_JIT=1``, returns the function itself, uncompiled."""
    opts = check_options(options)
    if fn is None:
        return lambda f: turbo(f, **options)
    if os.environ.get("TURBO_DISABLE_JIT", "") not in ("", "0"):
        return fn
    cls = type(f"turbo_{getattr(fn, '__name__', 'fn')}", (TurboFunction,), {})
    return cls(fn, opts)


class _Python:
    """A signature that runs as plain Python (``fallback=True``), and why."""

    def __init__(self, error: TurboError):
        self.error = error


class TurboFunction:
    """A ``@turbo`` function: call it like the Python function it wraps."""

    _is_turbo_function = True

    def __init__(self, py_func, options: dict):
        functools.update_wrapper(self, py_func)
        self.py_func = py_func
        self.options = options
        self._lock = threading.RLock()
        self._signatures: dict[tuple, object] = {}  # signature -> Kernel or _Python
        self._by_ir: dict[str, object] = {}  # printed IR -> Kernel (signatures giving one IR share it)
        self._first = None  # the first kernel, until its entry point is this function's __call__
        self._chain: list = []  # entry points whose misses call the next kernel's, all built (_adopt_entry)
        self._chained = 0  # kernels in that chain
        self._parsed = None
        self._unsupported = None
        try:
            self._parsed = frontend.parse_function(py_func)
        except TurboError as e:
            if not options["fallback"]:
                raise
            self._unsupported = _Python(e)
            self._warn(e)

    # ------------------------------------------------------------------ calling

    def __call__(self, *args, **kwargs):  # replaced on this function's own class by an entry point
        return self._dispatch(None, *args, **kwargs)

    def _dispatch(self, came_from, *args, **kwargs):
        """Calls the kernel of these arguments' signature, compiling it if new.
        ``came_from``: the kernel whose entry point did not take the call.
        Keyword arguments are bound to the function's parameters first."""
        if kwargs:
            if self._unsupported is not None:
                return self.py_func(*args, **kwargs)
            args = bind_keywords(self._parsed.name, self._parsed.params, args, kwargs)
        target = self._target(args)
        if isinstance(target, _Python):
            return self.py_func(*args)
        if target is came_from or target._entry is None:
            try:
                return target._slow(*args)
            finally:
                self._adopt_entry()
        return target(*args)

    def _adopt_entry(self) -> None:
        """The first kernel's entry point, once built (its first call builds it beside
        its first variant), becomes this function's ``__call__``. Once other kernels
        (other element types, ranks) have entry points too, ``__call__`` becomes a
        chain of them: each kernel's entry point, on a call it does not take, calls
        the next one's, in C, and the last one's comes here. A second dtype then
        costs a few ns more than the first instead of a dispatch in Python (2.9 us)."""
        first = self._first
        if first is not None and first._entry is not None:
            type(self).__call__ = first._entry
            self._first = None
        ready = [k for k in self._by_ir.values() if k._entry is not None]
        if len(ready) > 1 and len(ready) != self._chained:
            nxt = ready[-1]._entry
            for k in reversed(ready[:-1]):
                nxt, mdef = k.entry_missing_to(nxt)
                # kept for the function's life, earlier chains too: a builtin may still
                # be running or held (type(f).__call__) after it is replaced, and it
                # reads its method definition
                self._chain.append((nxt, mdef))
            self._chained = len(ready)
            type(self).__call__ = nxt

    def _target(self, args):
        if self._unsupported is not None:
            return self._unsupported
        try:
            key = self._signature_of(args)
        except TurboError as e:
            if not self.options["fallback"]:
                raise
            self._warn(e)
            return _Python(e)
        target = self._signatures.get(key)
        return target if target is not None else self._specialize(key)

    def _signature_of(self, args) -> tuple:
        params = self._parsed.params
        name = self._parsed.name
        if len(args) != len(params):
            raise ArgumentTypeError(
                f"{name}() takes {len(params)} positional argument{'s' if len(params) != 1 else ''} "
                f"({', '.join(params)}), got {len(args)}"
            )
        kinds = []
        dims: list[int] = []
        for p, a in zip(params, args):
            where = f"{name}(): argument '{p}'"
            if isinstance(a, np.ndarray):
                t = _ARRAY_DTYPES.get(a.dtype)
                if t is None:
                    raise ArgumentTypeError(
                        f"{where}: arrays of dtype {a.dtype} are not supported",
                        hint="turbo computes on float32, float64, (u)int8/16/32, int64 and bool arrays in native byte order; "
                        "convert with .astype(...)",
                    )
                if a.ndim == 0:
                    raise ArgumentTypeError(f"{where}: 0-d arrays are not supported", hint="pass a[()] as a scalar, or a.reshape(1)")
                kinds.append((t, a.ndim))
                dims.extend(a.shape)
            elif isinstance(a, np.generic):
                t = _SCALAR_TYPES.get(type(a))
                if t is None:
                    raise ArgumentTypeError(f"{where}: NumPy scalars of type {type(a).__name__} are not supported",
                                            hint="pass a float, int, bool or NumPy scalar of a type turbo computes on")
                kinds.append(t)
            elif isinstance(a, bool):
                kinds.append(DType.BOOL)
            elif isinstance(a, int):
                kinds.append(DType.I64)
            elif isinstance(a, float):
                kinds.append(WEAK_FLOAT)
            else:
                raise ArgumentTypeError(
                    f"{where} must be a NumPy array or a number, got {type(a).__name__}",
                    hint="pass np.asarray(x) for sequences",
                )
        # each dim -> the first dim of equal size; sizes 0 and 1 are too often equal by
        # coincidence (a 1-element output, a single row) to specialize on
        equal = tuple(dims.index(d) if d > 1 else k for k, d in enumerate(dims))
        return tuple(kinds), equal

    def _specs(self, key: tuple) -> tuple:
        kinds, equal = key
        classes = list(dict.fromkeys(equal))
        names = dict(zip(classes, frontend.dim_names(self._parsed, len(classes))))
        floats = {k[0] if isinstance(k, tuple) else k for k in kinds}
        floats = {t for t in floats if isinstance(t, DType) and t.is_float}
        kf = floats.pop() if len(floats) == 1 else DType.F64
        it = iter(equal)
        specs = []
        for k in kinds:
            if isinstance(k, tuple):
                specs.append(frontend.ArraySpec(k[0], tuple(names[next(it)] for _ in range(k[1]))))
            else:
                specs.append(frontend.ScalarSpec(kf if k == WEAK_FLOAT else k))
        return tuple(specs)

    def _specialize(self, key: tuple):
        from .kernel import make_kernel

        with self._lock:
            target = self._signatures.get(key)
            if target is not None:
                return target
            try:
                kernel_ir = frontend.translate(self._parsed, self._specs(key))
            except TurboError as e:
                if not self.options["fallback"]:
                    raise
                self._warn(e)
                target = self._signatures[key] = _Python(e)
                return target
            text = str(kernel_ir)
            target = self._by_ir.get(text)
            if target is None:
                o = self.options
                target = make_kernel(kernel_ir, o["boundscheck"], self._parsed.src.filename,
                                     make_options(o["fastmath"], o["vectorize"], o["unroll"], o["parallel"]))
                target.on_miss = functools.partial(self._dispatch, target)
                self._by_ir[text] = target
                if len(self._by_ir) == 1:
                    self._first = target  # see _adopt_entry
            self._signatures[key] = target
            return target

    def _warn(self, e: TurboError) -> None:
        where = f"{e.filename}:{e.line}" if e.loc else self._where()
        warnings.warn(
            f"turbo: running '{self.__name__}' ({where}) as plain Python: {e.message}",
            FallbackWarning, stacklevel=4,
        )

    def _where(self) -> str:
        code = self.py_func.__code__
        return f"{code.co_filename}:{code.co_firstlineno}"

    # ------------------------------------------------------------------ looking inside

    @property
    def kernels(self) -> list:
        """The compiled kernels, one per distinct IR, in order of compilation."""
        return list(self._by_ir.values())

    @property
    def signatures(self) -> list[str]:
        """Each compiled signature, as the kernel's parameter list and result type."""
        out = []
        for k in self._by_ir.values():
            result = f" -> {k.ir.result}" if k.ir.result is not None else ""
            out.append(f"({ir.print_param_list(k.ir)}){result}")
        return out

    def inspect(self, stage: str = "loops", *example_args) -> str:
        """The compiled code at one stage, as text (see ``Kernel.inspect``).

        With example arguments, their signature is compiled if needed and shown;
        without, the one compiled signature (an error if there are several)."""
        if example_args:
            target = self._target(example_args)
        elif len(self._by_ir) == 1:
            target = next(iter(self._by_ir.values()))
        else:
            what = "no compiled signature yet" if not self._by_ir else f"{len(self._by_ir)} compiled signatures"
            raise TypeError(f"{self.__name__} has {what}; pass example arguments: {self.__name__}.inspect({stage!r}, ...)")
        if isinstance(target, _Python):
            raise target.error
        return target.inspect(stage, *example_args)

    def explain(self, *example_args) -> str:
        """The schedule chosen for the signature of ``example_args`` (compiled if
        needed) and why: see ``Kernel.explain``."""
        return self.inspect("schedule", *example_args)

    def __repr__(self) -> str:
        n = len(self._by_ir)
        return f"<turbo function {self.__name__} ({n} signature{'s' if n != 1 else ''})>"
