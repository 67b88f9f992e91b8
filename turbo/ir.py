"""The Loop IR: one readable place for every node, the type rules and the printer.

Nodes are frozen dataclasses with named fields; transformations build new nodes
(``dataclasses.replace``). Source locations never take part in equality, so
``parse(str(ir)) == ir`` holds for any IR whatever text it came from.

The IR is *explicit*: after a frontend has built it, every operand already has the
type its operation needs. Implicit conversions of the source language appear as
``Cast`` nodes, and literals carry their final type, so interpreter and codegen
never apply promotion rules themselves. The rules live here (``promote``,
``literal_type``) and are shared by every frontend and by the printer.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Union

from .errors import SourceLocation


class DType(enum.Enum):
    F32 = "f32"
    F64 = "f64"
    I32 = "i32"
    I64 = "i64"
    BOOL = "bool"
    # narrow integers: arrays store them, the language computes with them as i64
    I8 = "i8"
    U8 = "u8"
    I16 = "i16"
    U16 = "u16"
    U32 = "u32"

    @property
    def is_float(self) -> bool:
        return self in (DType.F32, DType.F64)

    @property
    def is_int(self) -> bool:
        return self in _INTS

    @property
    def is_narrow(self) -> bool:
        """An integer type that operations widen to i64 first (``u8 + u8`` is i64)."""
        return self in _NARROW

    @property
    def is_unsigned(self) -> bool:
        return self in (DType.U8, DType.U16, DType.U32)

    @property
    def is_numeric(self) -> bool:
        return self is not DType.BOOL

    @property
    def bits(self) -> int:
        return _BITS[self.value]

    @property
    def itemsize(self) -> int:
        return self.bits // 8

    @property
    def int_range(self) -> tuple[int, int]:
        """The smallest and largest value of an integer type."""
        if self.is_unsigned:
            return 0, (1 << self.bits) - 1
        return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1

    @property
    def numpy_name(self) -> str:
        return _NUMPY_NAMES[self.value]

    def __str__(self) -> str:
        return self.value


_BITS = {"f32": 32, "f64": 64, "i32": 32, "i64": 64, "bool": 8, "i8": 8, "u8": 8, "i16": 16, "u16": 16, "u32": 32}
_NUMPY_NAMES = {"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64", "bool": "bool", "i8": "int8",
                "u8": "uint8", "i16": "int16", "u16": "uint16", "u32": "uint32"}
_NARROW = frozenset({DType.I8, DType.U8, DType.I16, DType.U16, DType.U32})
_INTS = frozenset({DType.I32, DType.I64}) | _NARROW


def computed_as(t: DType) -> DType:
    """The type operations on a ``t`` value compute in: i64 for a narrow integer."""
    return DType.I64 if t.is_narrow else t


INDEX = DType.I64  # the type of loop indices, dims and array subscripts

# Math functions of the language: name -> (arity, kind).
#   "float": arguments converted to a float type, result of that type
#   "same":  keeps an integer argument's type (abs, min, max, floor, ceil, rint)
MATH_FUNCTIONS: dict[str, tuple[int, str]] = {
    "exp": (1, "float"),
    "log": (1, "float"),
    "sqrt": (1, "float"),
    "sin": (1, "float"),
    "cos": (1, "float"),
    "tanh": (1, "float"),
    "sigmoid": (1, "float"),
    "abs": (1, "same"),
    "floor": (1, "same"),
    "ceil": (1, "same"),
    "min": (2, "same"),
    "max": (2, "same"),
    "pow": (2, "float"),
    "log2": (1, "float"),
    "log10": (1, "float"),
    "log1p": (1, "float"),
    "exp2": (1, "float"),
    "expm1": (1, "float"),
    "sinh": (1, "float"),
    "cosh": (1, "float"),
    "tan": (1, "float"),
    "atan": (1, "float"),
    "asin": (1, "float"),
    "acos": (1, "float"),
    "erf": (1, "float"),
    "atan2": (2, "float"),  # atan2(y, x)
    "hypot": (2, "float"),
    "copysign": (2, "float"),
    "rint": (1, "same"),  # round half to even; the identity on integers
}

ARITH_OPS = ("+", "-", "*", "/", "//", "%", "**")
COMPARE_OPS = ("<", "<=", ">", ">=", "==", "!=")
LOGIC_OPS = ("and", "or")
# Bitwise operators, on integers (two's complement, wrapping like ``*``); ``&``, ``|``
# and ``^`` also on booleans (both sides evaluated). ``~`` is the Unary "invert".
BITWISE_OPS = ("&", "|", "^", "<<", ">>")
UPDATE_OPS = ("+", "-", "*", "/")  # the ops of `+=`, `-=`, `*=`, `/=`

# ----------------------------------------------------------------------------- expressions


def _loc() -> SourceLocation | None:
    return field(default=None, compare=False, repr=False)


def prange(*args):
    """``range`` for a loop of a ``@turbo`` function that is split across threads
    (see docs/threads.md). Called from plain Python it is ``range``."""
    return range(*args)


@dataclass(frozen=True, slots=True)
class Const:
    value: int | float | bool
    type: DType
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Var:
    """A scalar name: a local, a scalar parameter, a loop index or a symbolic dim."""

    name: str
    type: DType
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Load:
    array: str
    indices: tuple[Expr, ...]
    type: DType
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "neg" | "not" | "invert" (``~`` of an integer)
    operand: Expr
    type: DType
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Binary:
    """Arithmetic, comparison or logic. Operands have equal types (``**`` excepted:
    an integer exponent of a float base stays an integer)."""

    op: str
    left: Expr
    right: Expr
    type: DType
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Select:
    """``if_true if cond else if_false``; only the chosen arm is evaluated."""

    cond: Expr
    if_true: Expr
    if_false: Expr
    type: DType
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Call:
    fn: str
    args: tuple[Expr, ...]
    type: DType
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Cast:
    to: DType
    operand: Expr
    loc: SourceLocation | None = _loc()

    @property
    def type(self) -> DType:
        return self.to


Expr = Union[Const, Var, Load, Unary, Binary, Select, Call, Cast]

# ----------------------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class For:
    """``for index in start:stop:step``; bounds are evaluated once, on entry (like
    Python's ``range``); a zero step is a run-time error. ``parallel`` marks a loop
    the user asked to split across threads (``parallel for`` / ``prange``)."""

    index: str
    start: Expr
    stop: Expr
    step: Expr
    body: tuple[Stmt, ...]
    loc: SourceLocation | None = _loc()
    parallel: bool = False


@dataclass(frozen=True, slots=True)
class Assign:
    """``name = value`` or ``name op= value`` on a scalar local."""

    name: str
    value: Expr
    op: str | None = None
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Store:
    """``array[indices] = value`` or ``array[indices] op= value``."""

    array: str
    indices: tuple[Expr, ...]
    value: Expr
    op: str | None = None
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...] = ()
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class While:
    """``while cond { body }``: ``cond`` is evaluated before each iteration. The
    scheduler never transforms a loop holding one (passes/analysis.py
    ``opaque_control``): its trip count is not known on entry."""

    cond: Expr
    body: tuple[Stmt, ...]
    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Break:
    """``break``: leaves the innermost enclosing ``for`` or ``while``."""

    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Continue:
    """``continue``: goes on with the next iteration of the innermost enclosing loop."""

    loc: SourceLocation | None = _loc()


@dataclass(frozen=True, slots=True)
class Return:
    """``return value``: the kernel's scalar result. Only the last statement of a
    kernel's body may be a Return; a kernel without one returns nothing."""

    value: Expr
    loc: SourceLocation | None = _loc()


Stmt = Union[For, While, Break, Continue, Assign, Store, If, Return]

# the statements whose trip counts are not known on entry, as messages name them
CONTROL_WORDS = {While: "a while loop", Break: "a break", Continue: "a continue"}

# ----------------------------------------------------------------------------- kernels


@dataclass(frozen=True, slots=True)
class ArrayParam:
    name: str
    dtype: DType
    shape: tuple[int | str, ...]  # literal sizes or symbolic dim names
    loc: SourceLocation | None = _loc()

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(frozen=True, slots=True)
class ScalarParam:
    name: str
    dtype: DType
    loc: SourceLocation | None = _loc()


Param = Union[ArrayParam, ScalarParam]


@dataclass(frozen=True, slots=True)
class Kernel:
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    loc: SourceLocation | None = _loc()

    @property
    def arrays(self) -> tuple[ArrayParam, ...]:
        return tuple(p for p in self.params if isinstance(p, ArrayParam))

    @property
    def scalars(self) -> tuple[ScalarParam, ...]:
        return tuple(p for p in self.params if isinstance(p, ScalarParam))

    @property
    def dims(self) -> tuple[str, ...]:
        """Symbolic dim names in order of first appearance in the parameters."""
        seen: dict[str, None] = {}
        for p in self.arrays:
            for d in p.shape:
                if isinstance(d, str):
                    seen.setdefault(d)
        return tuple(seen)

    @property
    def result(self) -> DType | None:
        """The type of the scalar the kernel returns, or None."""
        if self.body and isinstance(self.body[-1], Return):
            return self.body[-1].value.type
        return None

    def param(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def __str__(self) -> str:
        return print_kernel(self)


@dataclass(frozen=True, slots=True)
class Module:
    kernels: tuple[Kernel, ...]

    def __str__(self) -> str:
        return "\n".join(print_kernel(k) for k in self.kernels)


# ----------------------------------------------------------------------------- type rules


def kernel_float_type(params: tuple[Param, ...]) -> DType:
    """The float type untyped float literals take: the one float type the kernel's
    parameters use, or f64 when they use none or both."""
    floats = {p.dtype for p in params if p.dtype.is_float}
    return floats.pop() if len(floats) == 1 else DType.F64


def promote(a: DType, b: DType) -> DType | None:
    """The common type of two strongly typed operands, or None (bool with a number).

    Same type -> that type; i32 with i64 -> i64; f32 with f64 -> f64; an integer with
    a float -> the float (so ``i * x[i]`` stays f32 in an f32 kernel). Narrow
    integers compute as i64: ``u8`` with ``u8`` -> i64, as in Numba.
    """
    if a is b:
        return computed_as(a)
    if a is DType.BOOL or b is DType.BOOL:
        return None
    if a.is_float and b.is_float:
        return DType.F64
    if a.is_int and b.is_int:
        return DType.I64
    return a if a.is_float else b


def literal_type(value: int | float | bool, peer: DType | None, kernel_float: DType) -> DType:
    """The type a bare literal takes next to an operand of type ``peer``.

    Literals are weak: an integer literal takes any numeric peer's type, a float
    literal takes a float peer's type. Alone (or next to an integer, for a float
    literal) they default to i64 and to the kernel's float type.
    """
    if isinstance(value, bool):
        return DType.BOOL
    if isinstance(value, int):
        return peer if peer is not None and peer.is_numeric else DType.I64
    return peer if peer is not None and peer.is_float else kernel_float


def is_literal(e: Expr) -> bool:
    return isinstance(e, Const)


# ----------------------------------------------------------------------------- printer

# Binding strength of each operator, loosest first; the printer adds parentheses
# exactly where the grammar needs them.
_PREC = {
    "select": 1,
    "or": 2,
    "and": 3,
    "not": 4,
    "<": 5, "<=": 5, ">": 5, ">=": 5, "==": 5, "!=": 5,
    "|": 6,
    "^": 7,
    "&": 8,
    "<<": 9, ">>": 9,
    "+": 10, "-": 10,
    "*": 11, "/": 11, "//": 11, "%": 11,
    "neg": 12, "invert": 12,
    "**": 13,
    "atom": 14,
}


def format_float(v: float) -> str:
    if v != v:
        return "nan"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    text = repr(float(v))
    return text if any(c in text for c in ".eE") else text + ".0"


class _Printer:
    def __init__(self, kernel_float: DType):
        self.kf = kernel_float

    # Literal printing: a bare literal re-parses with the type ``literal_type`` gives
    # it next to its peer; when that is not the literal's type, print a cast.
    def const(self, c: Const, peer: DType | None) -> str:
        if c.type is DType.BOOL:
            return "True" if c.value else "False"
        if c.type.is_float:
            text = format_float(float(c.value))
            bare_ok = literal_type(1.0, peer, self.kf) is c.type
        else:
            text = str(int(c.value))
            bare_ok = literal_type(1, peer, self.kf) is c.type
        return text if bare_ok else f"{c.type}({text})"

    def expr(self, e: Expr, peer: DType | None = None) -> tuple[str, int]:
        """Returns (text, precedence of its top operator)."""
        if isinstance(e, Const):
            text = self.const(e, peer)
            return text, (_PREC["neg"] if text.startswith("-") else _PREC["atom"])
        if isinstance(e, Var):
            return e.name, _PREC["atom"]
        if isinstance(e, Load):
            idx = ", ".join(self.top(i, DType.I64) for i in e.indices)
            return f"{e.array}[{idx}]", _PREC["atom"]
        if isinstance(e, Cast):
            return f"{e.to}({self.top(e.operand, None)})", _PREC["atom"]
        if isinstance(e, Call):
            peer_t = _call_peer(e)
            args = ", ".join(self.top(a, peer_t) for a in e.args)
            return f"{e.fn}({args})", _PREC["atom"]
        if isinstance(e, Unary):
            if e.op == "not":
                return f"not {self.sub(e.operand, _PREC['not'], None)}", _PREC["not"]
            if e.op == "invert":
                inner = self.sub(e.operand, _PREC["invert"], e.type)
                if isinstance(e.operand, Const):
                    inner = f"({inner})"
                return f"~{inner}", _PREC["invert"]
            inner = self.sub(e.operand, _PREC["neg"], e.type)
            # "- -x" would lex fine, but "--x" reads badly; a literal operand needs
            # parentheses so that it is not folded into a negative literal
            if isinstance(e.operand, Const) or inner.startswith("-"):
                inner = f"({inner})"
            return f"-{inner}", _PREC["neg"]
        if isinstance(e, Select):
            peer_t = _pair_peer(e.if_true, e.if_false)
            t = self.sub(e.if_true, _PREC["select"] + 1, peer_t)
            c = self.sub(e.cond, _PREC["select"] + 1, None)
            f = self.sub(e.if_false, _PREC["select"], peer_t)
            return f"{t} if {c} else {f}", _PREC["select"]
        if isinstance(e, Binary):
            p = _PREC[e.op]
            if e.op == "**":
                # right-associative; the exponent is a unary-level operand
                lp = _pair_peer(e.left, e.right) if e.left.type is e.right.type else None
                left = self.sub(e.left, p + 1, lp)
                right = self.sub(e.right, _PREC["neg"], lp)
                return f"{left} ** {right}", p
            peer_t = _pair_peer(e.left, e.right)
            left = self.sub(e.left, p, peer_t)
            # comparisons do not chain, so both sides need to bind tighter
            right = self.sub(e.right, p + 1, peer_t)
            if e.op in COMPARE_OPS:
                left = self.sub(e.left, p + 1, peer_t)
            return f"{left} {e.op} {right}", p
        raise TypeError(f"not an expression: {e!r}")

    def sub(self, e: Expr, min_prec: int, peer: DType | None) -> str:
        text, prec = self.expr(e, peer)
        return f"({text})" if prec < min_prec else text

    def top(self, e: Expr, peer: DType | None) -> str:
        return self.expr(e, peer)[0]

    def stmts(self, body: tuple[Stmt, ...], depth: int, out: list[str]) -> None:
        pad = "    " * depth
        for s in body:
            if isinstance(s, For):
                headers = []
                loop = s
                while True:
                    headers.append(self.loop_header(loop))
                    if len(loop.body) == 1 and isinstance(loop.body[0], For) and not loop.body[0].parallel:
                        loop = loop.body[0]
                        continue
                    break
                out.append(f"{pad}{'parallel ' if s.parallel else ''}for {', '.join(headers)} {{")
                self.stmts(loop.body, depth + 1, out)
                out.append(f"{pad}}}")
            elif isinstance(s, While):
                out.append(f"{pad}while {self.top(s.cond, None)} {{")
                self.stmts(s.body, depth + 1, out)
                out.append(f"{pad}}}")
            elif isinstance(s, Break):
                out.append(f"{pad}break")
            elif isinstance(s, Continue):
                out.append(f"{pad}continue")
            elif isinstance(s, Assign):
                op = f"{s.op}=" if s.op else "="
                out.append(f"{pad}{s.name} {op} {self.top(s.value, s.value.type)}")
            elif isinstance(s, Return):
                # a bare literal returned takes the kernel's float type (or i64)
                out.append(f"{pad}return {self.top(s.value, None)}")
            elif isinstance(s, Store):
                idx = ", ".join(self.top(i, DType.I64) for i in s.indices)
                op = f"{s.op}=" if s.op else "="
                out.append(f"{pad}{s.array}[{idx}] {op} {self.top(s.value, s.value.type)}")
            elif isinstance(s, If):
                out.append(f"{pad}if {self.top(s.cond, None)} {{")
                self.stmts(s.then, depth + 1, out)
                orelse = s.orelse
                # an else holding just another if prints as `elif` (the same IR)
                while len(orelse) == 1 and isinstance(orelse[0], If):
                    out.append(f"{pad}}} elif {self.top(orelse[0].cond, None)} {{")
                    self.stmts(orelse[0].then, depth + 1, out)
                    orelse = orelse[0].orelse
                if orelse:
                    out.append(f"{pad}}} else {{")
                    self.stmts(orelse, depth + 1, out)
                out.append(f"{pad}}}")
            else:
                raise TypeError(f"not a statement: {s!r}")

    def loop_header(self, s: For) -> str:
        start = self.top(s.start, DType.I64)
        stop = self.top(s.stop, DType.I64)
        text = f"{s.index} in {start}:{stop}"
        if not (isinstance(s.step, Const) and s.step.value == 1):
            text += f":{self.top(s.step, DType.I64)}"
        return text


def _pair_peer(a: Expr, b: Expr) -> DType | None:
    """The peer type a literal operand sees: the other operand's, unless both are literals."""
    if isinstance(a, Const) and isinstance(b, Const):
        return None
    return b.type if isinstance(a, Const) else a.type


def _call_peer(c: Call) -> DType | None:
    non_lit = [a for a in c.args if not isinstance(a, Const)]
    return non_lit[0].type if non_lit else None


def print_param(p: Param) -> str:
    if isinstance(p, ScalarParam):
        return f"{p.name}: {p.dtype}"
    dims = ", ".join(str(d) for d in p.shape)
    return f"{p.name}: {p.dtype}[{dims}]"


def print_kernel(k: Kernel) -> str:
    printer = _Printer(kernel_float_type(k.params))
    out = [f"kernel {k.name}({', '.join(print_param(p) for p in k.params)}) {{"]
    printer.stmts(k.body, 1, out)
    out.append("}")
    return "\n".join(out) + "\n"


def print_expr(e: Expr, kernel_float: DType = DType.F64) -> str:
    return _Printer(kernel_float).top(e, None)


# ----------------------------------------------------------------------------- traversal


def walk_stmts(body: tuple[Stmt, ...]):
    """Every statement, pre-order."""
    for s in body:
        yield s
        if isinstance(s, (For, While)):
            yield from walk_stmts(s.body)
        elif isinstance(s, If):
            yield from walk_stmts(s.then)
            yield from walk_stmts(s.orelse)


def stmt_exprs(s: Stmt) -> tuple[Expr, ...]:
    """The expressions a statement evaluates itself (not those of nested statements)."""
    if isinstance(s, For):
        return (s.start, s.stop, s.step)
    if isinstance(s, Assign):
        return (s.value,)
    if isinstance(s, Store):
        return (*s.indices, s.value)
    if isinstance(s, If):
        return (s.cond,)
    if isinstance(s, Return):
        return (s.value,)
    if isinstance(s, While):
        return (s.cond,)
    if isinstance(s, (Break, Continue)):
        return ()
    raise TypeError(s)


def walk_expr(e: Expr):
    """Every sub-expression, pre-order."""
    yield e
    if isinstance(e, Load):
        for i in e.indices:
            yield from walk_expr(i)
    elif isinstance(e, Unary):
        yield from walk_expr(e.operand)
    elif isinstance(e, Binary):
        yield from walk_expr(e.left)
        yield from walk_expr(e.right)
    elif isinstance(e, Select):
        yield from walk_expr(e.cond)
        yield from walk_expr(e.if_true)
        yield from walk_expr(e.if_false)
    elif isinstance(e, Call):
        for a in e.args:
            yield from walk_expr(a)
    elif isinstance(e, Cast):
        yield from walk_expr(e.operand)


def map_operands(e: Expr, f) -> Expr:
    """``e`` with each of its direct operands ``x`` replaced by ``f(x)`` (a pass's
    rewrite recurses by passing itself); leaves are returned as they are."""
    if isinstance(e, Load):
        return replace(e, indices=tuple(f(i) for i in e.indices))
    if isinstance(e, (Unary, Cast)):
        return replace(e, operand=f(e.operand))
    if isinstance(e, Binary):
        return replace(e, left=f(e.left), right=f(e.right))
    if isinstance(e, Select):
        return replace(e, cond=f(e.cond), if_true=f(e.if_true), if_false=f(e.if_false))
    if isinstance(e, Call):
        return replace(e, args=tuple(f(a) for a in e.args))
    return e


def map_stmt(s: Stmt, expr, stmt) -> Stmt:
    """``s`` with the expressions it evaluates itself replaced by ``expr(e)`` and
    each statement of its bodies by ``stmt(b)``."""
    if isinstance(s, For):
        return replace(s, start=expr(s.start), stop=expr(s.stop), step=expr(s.step), body=tuple(map(stmt, s.body)))
    if isinstance(s, Assign):
        return replace(s, value=expr(s.value))
    if isinstance(s, Store):
        return replace(s, indices=tuple(map(expr, s.indices)), value=expr(s.value))
    if isinstance(s, Return):
        return replace(s, value=expr(s.value))
    if isinstance(s, If):
        return replace(s, cond=expr(s.cond), then=tuple(map(stmt, s.then)), orelse=tuple(map(stmt, s.orelse)))
    if isinstance(s, While):
        return replace(s, cond=expr(s.cond), body=tuple(map(stmt, s.body)))
    if isinstance(s, (Break, Continue)):
        return s
    raise TypeError(s)


def leaves(body: tuple[Stmt, ...]) -> bool:
    """Whether running ``body`` never reaches its end: it ends in a ``break`` or
    ``continue``, or in an ``if`` whose branches both do."""
    if not body:
        return False
    last = body[-1]
    if isinstance(last, (Break, Continue)):
        return True
    return isinstance(last, If) and leaves(last.then) and leaves(last.orelse)


def has_exits(body: tuple[Stmt, ...], kinds: tuple[type, ...] = (Break, Continue)) -> bool:
    """Whether ``body`` holds a ``break`` or ``continue`` (of ``kinds``) of the loop
    it is the body of (not one of a loop inside it)."""
    for s in body:
        if isinstance(s, kinds):
            return True
        if isinstance(s, If) and (has_exits(s.then, kinds) or has_exits(s.orelse, kinds)):
            return True
    return False



def written_arrays(k: Kernel) -> frozenset[str]:
    return frozenset(s.array for s in walk_stmts(k.body) if isinstance(s, Store))


def local_types(k: Kernel) -> dict[str, DType]:
    """Scalar locals and their types, in order of first assignment."""
    out: dict[str, DType] = {}
    for s in walk_stmts(k.body):
        if isinstance(s, Assign) and s.name not in out:
            out[s.name] = s.value.type
    return out


def print_param_list(k: Kernel) -> str:
    return ", ".join(print_param(p) for p in k.params)
