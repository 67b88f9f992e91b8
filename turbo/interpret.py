"""Reference interpreter: executes the Loop IR on NumPy arrays, exactly.

This is the test oracle. It is written for obviousness, not speed: every value is a
NumPy scalar of its IR type, so float32 arithmetic rounds as float32 and integers
wrap at their width, and every array access is bounds-checked. Each rule below is
the language's definition (docs/language.md); codegen must agree with it.

The IR is compiled once into nested Python closures (no per-node dispatch while
running), then run.
"""

from __future__ import annotations

import math

import numpy as np

from . import ir
from .arguments import NUMPY_DTYPES, check_arguments
from .errors import KernelIndexError, KernelRuntimeError, KernelZeroDivisionError
from .ir import DType

_NP = {t: NUMPY_DTYPES[t].type for t in DType}


def wrap_int(v: int, t: DType):
    """Two's-complement wrap of a Python int to the width of ``t``."""
    bits = t.bits
    v &= (1 << bits) - 1
    if v >= 1 << (bits - 1) and not t.is_unsigned:
        v -= 1 << bits
    return _NP[t](v)


def cast_value(v, to: DType):
    """The language's conversion rules (also used for implicit conversions)."""
    if to is DType.BOOL:
        return np.bool_(v != 0)
    if to.is_float:
        return _NP[to](v)
    # to an integer
    if isinstance(v, (np.floating, float)):
        f = float(v)
        if f != f:
            return _NP[to](0)
        lo, hi = to.int_range
        if f >= hi:
            return _NP[to](hi)
        if f <= lo:
            return _NP[to](lo)
        return _NP[to](math.trunc(f))
    return wrap_int(int(v), to)


def _int_pow(a: int, b: int, t: DType, loc):
    if b < 0:
        raise KernelRuntimeError("negative integer power", loc, "use a float base")
    return wrap_int(pow(a, b, 1 << t.bits), t)


def _floordiv(a, b, t: DType, loc):
    if t.is_int:
        if b == 0:
            raise KernelZeroDivisionError("integer division by zero", loc)
        return wrap_int(int(a) // int(b), t)
    return _NP[t](np.floor_divide(a, b))  # Python's float floor division, in the type's precision


def _mod(a, b, t: DType, loc):
    if t.is_int:
        if b == 0:
            raise KernelZeroDivisionError("integer modulo by zero", loc)
        return wrap_int(int(a) % int(b), t)
    return _NP[t](np.remainder(a, b))


def _shift(op: str, a, n, t: DType, loc):
    n = int(n)
    if n < 0:
        raise KernelRuntimeError("negative shift count", loc, "shift the other way")
    n = min(n, t.bits)  # as far as the result can tell: all bits out, or the sign in
    return wrap_int(int(a) << n if op == "<<" else int(a) >> n, t)


def _arith(op: str, t: DType, loc):
    if t is DType.BOOL:  # & | ^ of booleans
        f = {"&": lambda a, b: a and b, "|": lambda a, b: a or b, "^": lambda a, b: a != b}[op]
        return lambda a, b: np.bool_(f(bool(a), bool(b)))
    if t.is_int:
        if op == "&":
            return lambda a, b: wrap_int(int(a) & int(b), t)
        if op == "|":
            return lambda a, b: wrap_int(int(a) | int(b), t)
        if op == "^":
            return lambda a, b: wrap_int(int(a) ^ int(b), t)
        if op in ("<<", ">>"):
            return lambda a, b: _shift(op, a, b, t, loc)
        if op == "+":
            return lambda a, b: wrap_int(int(a) + int(b), t)
        if op == "-":
            return lambda a, b: wrap_int(int(a) - int(b), t)
        if op == "*":
            return lambda a, b: wrap_int(int(a) * int(b), t)
        if op == "**":
            return lambda a, b: _int_pow(int(a), int(b), t, loc)
    else:
        if op == "+":
            return lambda a, b: a + b
        if op == "-":
            return lambda a, b: a - b
        if op == "*":
            return lambda a, b: a * b
        if op == "/":
            return lambda a, b: a / b
        if op == "**":
            return lambda a, b: _NP[t](np.power(a, b))
    if op == "//":
        return lambda a, b: _floordiv(a, b, t, loc)
    if op == "%":
        return lambda a, b: _mod(a, b, t, loc)
    raise KernelRuntimeError(f"operator {op} on {t}", loc)  # unreachable for verified IR


_COMPARE = {
    "<": lambda a, b: np.bool_(a < b),
    "<=": lambda a, b: np.bool_(a <= b),
    ">": lambda a, b: np.bool_(a > b),
    ">=": lambda a, b: np.bool_(a >= b),
    "==": lambda a, b: np.bool_(a == b),
    "!=": lambda a, b: np.bool_(a != b),
}


def _math(fn: str, t: DType):
    T = _NP[t]
    if fn in ("exp", "log", "sqrt", "sin", "cos", "tanh", "floor", "ceil", "rint", "log2", "log10", "log1p", "exp2",
              "expm1", "sinh", "cosh", "tan"):
        if t.is_int:  # only floor/ceil/rint accept integers: identity
            return lambda a: a
        f = getattr(np, fn)
        return lambda a: T(f(a))
    if fn in ("atan", "asin", "acos"):
        f = getattr(np, "arc" + fn[1:])
        return lambda a: T(f(a))
    if fn == "atan2":
        return lambda a, b: T(np.arctan2(a, b))
    if fn in ("hypot", "copysign"):
        f = getattr(np, fn)
        return lambda a, b: T(f(a, b))
    if fn == "erf":  # NumPy has none; the C library's, in double precision, rounded once
        return lambda a: T(math.erf(float(a)))
    if fn == "sigmoid":
        one = T(1)
        return lambda a: T(one / (one + T(np.exp(-a))))
    if fn == "abs":
        if t.is_int:
            return lambda a: wrap_int(abs(int(a)), t)
        return lambda a: T(np.abs(a))
    if fn == "min":
        return lambda a, b: b if b < a else a
    if fn == "max":
        return lambda a, b: b if b > a else a
    if fn == "pow":
        return lambda a, b: T(np.power(a, b))
    raise ValueError(fn)


class _Env:
    __slots__ = ("scalars", "arrays", "result")

    def __init__(self):
        self.scalars: dict[str, object] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.result = None


def _compile_expr(e: ir.Expr):
    if isinstance(e, ir.Const):
        v = _NP[e.type](e.value)
        return lambda env: v
    if isinstance(e, ir.Var):
        name = e.name
        return lambda env: env.scalars[name]
    if isinstance(e, ir.Load):
        get_index = _compile_index(e.array, e.indices, e.loc)
        name = e.array
        return lambda env: env.arrays[name][get_index(env)]
    if isinstance(e, ir.Cast):
        inner = _compile_expr(e.operand)
        to = e.to
        return lambda env: cast_value(inner(env), to)
    if isinstance(e, ir.Unary):
        inner = _compile_expr(e.operand)
        if e.op == "not":
            return lambda env: np.bool_(not inner(env))
        if e.op == "invert":
            t = e.type
            return lambda env: wrap_int(~int(inner(env)), t)
        if e.type.is_int:
            t = e.type
            return lambda env: wrap_int(-int(inner(env)), t)
        return lambda env: -inner(env)
    if isinstance(e, ir.Select):
        c, a, b = _compile_expr(e.cond), _compile_expr(e.if_true), _compile_expr(e.if_false)
        return lambda env: a(env) if c(env) else b(env)
    if isinstance(e, ir.Call):
        f = _math(e.fn, e.type)
        args = [_compile_expr(a) for a in e.args]
        if len(args) == 1:
            a0 = args[0]
            return lambda env: f(a0(env))
        a0, a1 = args
        return lambda env: f(a0(env), a1(env))
    if isinstance(e, ir.Binary):
        left, right = _compile_expr(e.left), _compile_expr(e.right)
        if e.op == "and":
            return lambda env: np.bool_(bool(left(env)) and bool(right(env)))
        if e.op == "or":
            return lambda env: np.bool_(bool(left(env)) or bool(right(env)))
        if e.op in _COMPARE:
            cmp = _COMPARE[e.op]
            return lambda env: cmp(left(env), right(env))
        f = _arith(e.op, e.type, e.loc)
        return lambda env: f(left(env), right(env))
    raise TypeError(f"not an expression: {e!r}")


def _compile_index(name: str, indices: tuple[ir.Expr, ...], loc):
    parts = [_compile_expr(i) for i in indices]

    def get(env):
        arr = env.arrays[name]
        idx = tuple(int(p(env)) for p in parts)
        for axis, (i, n) in enumerate(zip(idx, arr.shape)):
            if not 0 <= i < n:
                raise KernelIndexError(
                    f"index {i} is out of bounds for axis {axis} of '{name}' with size {n}", loc
                )
        return idx

    return get


def _compile_block(body: tuple[ir.Stmt, ...]):
    stmts = [_compile_stmt(s) for s in body]

    def run(env):
        for s in stmts:
            s(env)

    return run


class _Break(Exception):
    """Raised by ``break``; caught by the innermost loop."""


class _Continue(Exception):
    """Raised by ``continue``; caught by the innermost loop's iteration."""


def _iteration(body, env) -> bool:
    """Run one iteration of a loop's ``body``; False when a ``break`` ended the loop."""
    try:
        body(env)
    except _Continue:
        pass
    except _Break:
        return False
    return True


def _compile_stmt(s: ir.Stmt):
    if isinstance(s, ir.While):
        cond = _compile_expr(s.cond)
        body = _compile_block(s.body)

        def run_while(env):
            while cond(env) and _iteration(body, env):
                pass

        return run_while
    if isinstance(s, ir.Break):
        def run_break(env):
            raise _Break

        return run_break
    if isinstance(s, ir.Continue):
        def run_continue(env):
            raise _Continue

        return run_continue
    if isinstance(s, ir.For):
        start, stop, step = _compile_expr(s.start), _compile_expr(s.stop), _compile_expr(s.step)
        body = _compile_block(s.body)
        name, loc = s.index, s.loc

        def run_for(env):
            a, b, c = int(start(env)), int(stop(env)), int(step(env))
            if c == 0:
                raise KernelRuntimeError(f"step of loop '{name}' is zero", loc)
            scalars = env.scalars
            for i in range(a, b, c):
                scalars[name] = np.int64(i)
                if not _iteration(body, env):
                    break
            scalars.pop(name, None)

        return run_for
    if isinstance(s, ir.Assign):
        value = _compile_expr(s.value)
        name = s.name
        if s.op is None:
            def run_assign(env):
                env.scalars[name] = value(env)
            return run_assign
        f = _arith(s.op, s.value.type, s.loc)

        def run_update(env):
            env.scalars[name] = f(env.scalars[name], value(env))

        return run_update
    if isinstance(s, ir.Store):
        get_index = _compile_index(s.array, s.indices, s.loc)
        value = _compile_expr(s.value)
        name = s.array
        f = None if s.op is None else _arith(s.op, s.value.type, s.loc)

        def run_store(env):
            idx = get_index(env)
            v = value(env)
            arr = env.arrays[name]
            arr[idx] = v if f is None else f(arr[idx], v)

        return run_store
    if isinstance(s, ir.Return):
        value = _compile_expr(s.value)

        def run_return(env):
            env.result = value(env)

        return run_return
    if isinstance(s, ir.If):
        cond = _compile_expr(s.cond)
        then, orelse = _compile_block(s.then), _compile_block(s.orelse)

        def run_if(env):
            if cond(env):
                then(env)
            else:
                orelse(env)

        return run_if
    raise TypeError(f"not a statement: {s!r}")


def interpret(kernel: ir.Kernel, *args):
    """Run ``kernel`` on ``args`` (arrays written in place), with the same argument
    checks as a compiled kernel. Returns the kernel's result as a NumPy scalar of
    its type, or None."""
    bound = check_arguments(kernel, args, ir.written_arrays(kernel))
    env = _Env()
    for p, v in zip(kernel.params, bound.values):
        if isinstance(p, ir.ArrayParam):
            env.arrays[p.name] = v
        else:
            env.scalars[p.name] = v
    for d, size in bound.dims.items():
        env.scalars[d] = np.int64(size)
    run = _compile_block(kernel.body)
    with np.errstate(all="ignore"):
        run(env)
    return env.result
