"""``turbo.pullback`` and ``turbo.value_and_grad``: derivative kernels as callables.

The AD pass (``passes/autodiff.py``) turns a kernel's IR into its pullback's IR;
this module makes that an ordinary compiled kernel. Scratch arrays the pass asked
for (values saved between the split adjoint nests) are allocated here on each call,
so the caller passes exactly the pullback's documented parameters. A ``@turbo``
function's pullback is built per call signature, like the function's own kernels.
"""

from __future__ import annotations

import dataclasses
import threading
from threading import get_ident

import numpy as np

from .. import frontend, ir
from ..errors import ArgumentTypeError
from ..passes import parallel
from ..passes.autodiff import Pullback, pullback_ir
from .kernel import Kernel, make_kernel


def pullback(target, wrt, *, forward: bool = False):
    """The pullback of a kernel or ``@turbo`` function with respect to ``wrt``.

    Parameters of the result: the original parameters in order, then ``d<Y>`` for
    every float array the kernel writes (the incoming adjoints), then ``dresult`` if
    the kernel returns a float, then ``d<X>`` for each name in ``wrt``. Adjoints
    accumulate (``dX += ...``): zero them first. The arrays must hold what the kernel
    left in them (outputs included), unless ``forward=True``: then the pullback runs
    the kernel first and returns its result. See docs/autodiff.md."""
    wrt = _names(wrt)
    if isinstance(target, Kernel):
        return _compile(pullback_ir(target.ir, wrt, forward), target)
    if getattr(target, "_is_turbo_function", False):
        return PullbackFunction(target, wrt, forward)
    raise TypeError(f"pullback() takes a turbo kernel or @turbo function, got {type(target).__name__}")


def value_and_grad(target, wrt):
    """``f(*args) -> (value, (dX, ...))`` for a kernel that returns a float loss:
    runs the kernel and its pullback in one call, seeded with 1, and returns fresh
    gradient arrays in ``wrt`` order."""
    wrt = _names(wrt)
    if isinstance(target, Kernel) and (target.ir.result is None or not target.ir.result.is_float):
        raise TypeError(f"value_and_grad() needs a kernel that returns a float; '{target.name}' returns "
                        f"{target.ir.result or 'nothing'}")
    pb = pullback(target, wrt, forward=True)
    return _ValueAndGrad(pb, wrt)


def _names(wrt) -> tuple[str, ...]:
    if isinstance(wrt, str):
        return (wrt,)
    try:
        out = tuple(wrt)
    except TypeError:
        raise TypeError("wrt must be a parameter name or a tuple of names, e.g. wrt=('W', 'X')") from None
    if not all(isinstance(n, str) for n in out):
        raise TypeError("wrt must be a parameter name or a tuple of names, e.g. wrt=('W', 'X')")
    return out


def _compile(pb: Pullback, like: Kernel):
    threaded = like.options.parallel or bool(parallel.marked_loops(like.ir))
    kernel = parallel.mark_legal(pb.kernel, threaded, like.options.fastmath)
    options = dataclasses.replace(like.options, parallel=False)
    k = make_kernel(kernel, like.boundscheck, like.source_name, options)
    k.overlap = pb.overlap
    k.refuse_alias = True
    k.notes = pb.notes
    k.adjoint_of = pb.adjoint_of
    return ScratchKernel(k, pb) if pb.scratch else k


class ScratchKernel:
    """A pullback whose split nests share values through scratch arrays: calls the
    compiled kernel with the caller's arguments plus freshly allocated scratch."""

    def __init__(self, kernel: Kernel, pb: Pullback):
        self.kernel = kernel
        self.ir = pb.kernel
        self.name = kernel.name
        self.notes = pb.notes
        self.adjoint_of = pb.adjoint_of
        self.visible = pb.visible
        # per scratch array: its dtype and, per axis, a literal size or the
        # (argument position, axis) holding that dim
        where: dict[str, tuple[int, int]] = {}
        for pos, p in enumerate(pb.kernel.params[: pb.visible]):
            if isinstance(p, ir.ArrayParam):
                for axis, d in enumerate(p.shape):
                    if isinstance(d, str):
                        where.setdefault(d, (pos, axis))
        self._plan = [(np.dtype(p.dtype.numpy_name), tuple(d if isinstance(d, int) else where[d] for d in p.shape))
                      for p in pb.scratch]
        self._dim_src = list(dict.fromkeys(d for _, shape in self._plan for d in shape if not isinstance(d, int)))
        self._cache: dict[tuple, tuple[np.ndarray, ...]] = {}
        self._call = kernel

    def __call__(self, *args):
        try:
            key = (get_ident(), *[args[p].shape[a] for p, a in self._dim_src])
        except (AttributeError, IndexError, TypeError):
            key = None
        if key is not None and len(args) == self.visible:
            bufs = self._cache.get(key)
            if bufs is None:
                bufs = self._scratch(key)
            return self._call(*args, *bufs)
        if len(args) != self.visible:
            names = ", ".join(p.name for p in self.ir.params[: self.visible])
            raise ArgumentTypeError(f"{self.name}() takes {self.visible} arguments ({names}), got {len(args)}")
        # a bad argument: the kernel's checks name it
        return self.kernel(*args, *(np.empty((0,) * len(shape), dtype) for dtype, shape in self._plan))

    def _scratch(self, key):
        """Scratch arrays for these dims, kept per thread and reused between calls
        (the kernel writes them fully before it reads them)."""
        dims = dict(zip(self._dim_src, key[1:]))
        bufs = tuple(np.empty(tuple(d if isinstance(d, int) else dims[d] for d in shape), dtype)
                     for dtype, shape in self._plan)
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[key] = bufs
        return bufs

    def scratch_for(self, *args) -> tuple[np.ndarray, ...]:
        """Fresh scratch arrays for a call with ``args`` (for running the kernel
        directly, e.g. in the interpreter)."""
        return tuple(np.zeros(tuple(d if isinstance(d, int) else args[d[0]].shape[d[1]] for d in shape), dtype)
                     for dtype, shape in self._plan)

    def inspect(self, stage: str = "loops", *example_args) -> str:
        if example_args:
            example_args = tuple(example_args) + self.scratch_for(*example_args)
        return self.kernel.inspect(stage, *example_args)

    def explain(self, *example_args) -> str:
        if example_args:
            example_args = tuple(example_args) + self.scratch_for(*example_args)
        return self.kernel.explain(*example_args)

    def compile(self):
        self.kernel.compile()
        return self

    @property
    def signature(self) -> str:
        return ", ".join(ir.print_param(p) for p in self.ir.params[: self.visible])

    def __repr__(self) -> str:
        return f"<turbo pullback {self.name}({self.signature})>"


class PullbackFunction:
    """The pullback of a ``@turbo`` function, compiled per signature of the
    function's own arguments (the first parameters of each call)."""

    def __init__(self, fn, wrt: tuple[str, ...], forward: bool):
        self.fn = fn
        self.wrt = wrt
        self.forward = forward
        self.__name__ = f"{fn.__name__}_pullback"
        self._lock = threading.RLock()
        self._by_key: dict[tuple, object] = {}
        if fn._parsed is None:
            raise fn._unsupported.error
        self._nprimal = len(fn._parsed.params)
        missing = [n for n in wrt if n not in fn._parsed.params]
        if missing:
            raise TypeError(f"pullback of '{fn.__name__}': wrt names '{missing[0]}', which is not a parameter "
                            f"({', '.join(fn._parsed.params)})")

    def target(self, args):
        key = self.fn._signature_of(args[: self._nprimal])
        hit = self._by_key.get(key)
        if hit is None:
            with self._lock:
                hit = self._by_key.get(key)
                if hit is None:
                    kernel_ir = frontend.translate(self.fn._parsed, self.fn._specs(key))
                    o = self.fn.options
                    from ..passes.schedule import make_options

                    like = make_kernel(kernel_ir, o["boundscheck"], self.fn._parsed.src.filename,
                                       make_options(o["fastmath"], o["vectorize"], o["unroll"], o["parallel"]))
                    hit = self._by_key[key] = _compile(pullback_ir(kernel_ir, self.wrt, self.forward), like)
        return hit

    def __call__(self, *args):
        if len(args) < self._nprimal:
            raise ArgumentTypeError(f"{self.__name__}() takes the {self._nprimal} arguments of {self.fn.__name__} "
                                    f"first, then the adjoints; got {len(args)} arguments")
        return self.target(args)(*args)

    def inspect(self, stage: str = "loops", *example_args) -> str:
        if not example_args:
            raise TypeError(f"{self.__name__}.inspect({stage!r}, ...) needs example arguments: the pullback is "
                            "compiled per signature")
        return self.target(example_args).inspect(stage, *example_args)

    def explain(self, *example_args) -> str:
        if not example_args:
            raise TypeError(f"{self.__name__}.explain(...) needs example arguments")
        return self.target(example_args).explain(*example_args)

    def __repr__(self) -> str:
        return f"<turbo pullback of {self.fn.__name__} wrt {', '.join(self.wrt)}>"


class _ValueAndGrad:
    def __init__(self, pb, wrt: tuple[str, ...]):
        self.pb = pb
        self.wrt = wrt

    def __call__(self, *args):
        target = self.pb.target(args) if isinstance(self.pb, PullbackFunction) else self.pb
        primal = {p.name: a for p, a in zip(target.ir.params, args)}
        extra, grads = [], {}
        for _, name in target.adjoint_of:
            if not name:
                extra.append(1.0)
                continue
            buf = np.zeros_like(primal[name])
            extra.append(buf)
            grads[name] = buf
        value = self.pb(*args, *extra)
        return value, tuple(grads[n] for n in self.wrt)
