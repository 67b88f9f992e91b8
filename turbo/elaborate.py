"""Typed IR construction shared by every frontend.

A frontend (the DSL builder in ``dsl_grammar``, the Python ``ast`` frontend in
``frontend``) walks its syntax tree and calls the methods of ``Elaborator``: they resolve names, apply the
promotion rules of ``turbo.ir``, insert explicit casts, check definite assignment
and raise located errors. Frontends only translate syntax.

Scalar locals get one type for the whole kernel: the join of the types of every
value assigned to them, where bare literals are weak (``acc = 0.0`` followed by
``acc += x[i]`` on f32 data makes ``acc`` an f32). The join is a fixpoint computed
by elaborating the kernel body repeatedly (see ``elaborate_body``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from . import ir
from .errors import DSLSemanticError, DSLTypeError, SourceLocation
from .ir import DType

TYPE_NAMES = {t.value: t for t in DType}
RESERVED = set(ir.MATH_FUNCTIONS) | set(TYPE_NAMES) | {
    "inf", "nan", "kernel", "for", "in", "if", "else", "elif", "and", "or", "not", "True", "False", "return",
    "parallel", "while", "break", "continue",
}

# Deeper nesting than this is refused by both frontends: every later stage (printer,
# passes, codegen) recurses over expressions and statements, and must stay far from
# Python's recursion limit.
MAX_EXPR_DEPTH = 100
MAX_STMT_DEPTH = 50


def _fits(value: int, t: DType) -> bool:
    lo, hi = t.int_range
    return lo <= value <= hi


@dataclass
class Typed:
    """An elaborated expression; ``weak`` marks a bare literal whose type may still adapt."""

    expr: ir.Expr
    weak: bool = False

    @property
    def type(self) -> DType:
        return self.expr.type


@dataclass
class _Assignment:
    type: DType
    weak: bool
    loc: SourceLocation | None


@dataclass
class _Scope:
    kind: str  # "array" | "scalar" | "dim" | "index" | "local"
    type: DType | None
    loc: SourceLocation | None
    param: ir.Param | None = None


@dataclass
class Elaborator:
    params: tuple[ir.Param, ...]
    local_types: dict[str, DType] = field(default_factory=dict)
    collecting: bool = False  # True during the local-type fixpoint passes

    def __post_init__(self) -> None:
        self.kf = ir.kernel_float_type(self.params)
        self.names: dict[str, _Scope] = {}
        self.defined: set[str] = set()  # locals definitely assigned at this point
        self.loop_depth = 0  # loops (for and while) around the statement being built
        self.assignments: dict[str, list[_Assignment]] = {}
        for p in self.params:
            if isinstance(p, ir.ArrayParam):
                self.names[p.name] = _Scope("array", p.dtype, p.loc, p)
            else:
                self.names[p.name] = _Scope("scalar", p.dtype, p.loc, p)
        for p in self.params:
            if isinstance(p, ir.ArrayParam):
                for d in p.shape:
                    if isinstance(d, str) and d not in self.names:
                        self.names[d] = _Scope("dim", DType.I64, p.loc)

    # --------------------------------------------------------------------- errors

    def error(self, msg: str, loc: SourceLocation | None, hint: str | None = None) -> DSLSemanticError:
        return DSLSemanticError(msg, loc, hint)

    def type_error(self, msg: str, loc: SourceLocation | None, hint: str | None = None) -> DSLTypeError:
        return DSLTypeError(msg, loc, hint)

    def _suggest(self, name: str) -> str | None:
        candidates = [n for n, s in self.names.items() if s.kind != "local" or n in self.defined]
        close = difflib.get_close_matches(name, candidates, n=1)
        return f"did you mean '{close[0]}'?" if close else None

    # --------------------------------------------------------------------- conversions

    def literal(self, value: int | float | bool, loc: SourceLocation | None) -> Typed:
        if isinstance(value, bool):
            return Typed(ir.Const(value, DType.BOOL, loc))
        if isinstance(value, int):
            if not _fits(value, DType.I64):
                raise self.type_error(f"integer literal {value} does not fit in 64 bits", loc)
            return Typed(ir.Const(value, DType.I64, loc), weak=True)
        return Typed(ir.Const(float(value), self.kf, loc), weak=True)

    def _retype_literal(self, t: Typed, to: DType, loc: SourceLocation | None) -> ir.Expr:
        c = t.expr
        assert isinstance(c, ir.Const)
        if to is DType.BOOL:
            raise self.type_error("a number is used where a boolean is needed", loc, "compare it, e.g. `x != 0`")
        if isinstance(c.value, float) and to.is_int:
            raise self.type_error(
                f"float literal {ir.format_float(c.value)} used as {to}", loc,
                f"write an integer, or cast explicitly: {to}(...)",
            )
        value = float(c.value) if to.is_float else int(c.value)
        if to.is_int and not _fits(value, to):
            raise self.type_error(f"integer literal {value} does not fit in {to}", loc)
        return ir.Const(value, to, c.loc)

    def convert(self, t: Typed, to: DType, loc: SourceLocation | None, what: str) -> ir.Expr:
        """Implicit conversion for assignment-like positions (stores, locals,
        operands after promotion). Allowed: numeric widening and narrowing within a
        kind, integer -> float. Refused: float -> integer and anything with bool."""
        if t.weak:
            return self._retype_literal(t, to, loc)
        src = t.type
        if src is to:
            return t.expr
        if src is DType.BOOL or to is DType.BOOL:
            raise self.type_error(
                f"{what}: cannot use {src} as {to} implicitly", loc,
                f"convert explicitly, e.g. {to}(...)" if to is not DType.BOOL else "compare explicitly, e.g. `x != 0`",
            )
        if src.is_float and to.is_int:
            raise self.type_error(
                f"{what}: {src} value where {to} is expected", loc, f"cast explicitly with {to}(...) (truncates toward zero)"
            )
        c = t.expr
        if isinstance(c, ir.Const) and (to.is_float or _fits(c.value, to)):
            # a literal already typed by its peer, converted again (``i / 2``): fold,
            # so that the printed text re-parses to the same IR
            return ir.Const(float(c.value) if to.is_float else int(c.value), to, c.loc)
        return ir.Cast(to, t.expr, loc)

    def unify(self, a: Typed, b: Typed, loc: SourceLocation | None, what: str) -> tuple[ir.Expr, ir.Expr, DType]:
        """Bring two operands to their common type (the binary-operator rule)."""
        if a.weak and b.weak:
            if isinstance(a.expr.value, float) or isinstance(b.expr.value, float):
                t = self.kf
            else:
                t = DType.I64
        elif a.weak:
            t = ir.literal_type(a.expr.value, b.type, self.kf)
            t = ir.promote(t, b.type) or t
        elif b.weak:
            t = ir.literal_type(b.expr.value, a.type, self.kf)
            t = ir.promote(a.type, t) or t
        else:
            t = ir.promote(a.type, b.type)
            if t is None:
                raise self.type_error(
                    f"{what}: operands are {a.type} and {b.type}", loc,
                    "booleans do not mix with numbers; convert with i32(...) or use `x if c else y`",
                )
        return self.convert(a, t, loc, what), self.convert(b, t, loc, what), t

    # --------------------------------------------------------------------- expressions

    def name(self, name: str, loc: SourceLocation | None) -> Typed:
        scope = self.names.get(name)
        if scope is None:
            if name == "inf":
                return Typed(ir.Const(float("inf"), self.kf, loc), weak=True)
            if name == "nan":
                return Typed(ir.Const(float("nan"), self.kf, loc), weak=True)
            if name in self.local_types or name in self.assignments:
                raise self.error(f"'{name}' is used before it is assigned", loc, "assign it before this line, on every path")
            raise self.error(f"undefined name '{name}'", loc, self._suggest(name))
        if scope.kind == "array":
            raise self.type_error(f"'{name}' is an array; index it, e.g. {name}[i]", loc)
        if scope.kind == "local":
            if name not in self.defined:
                raise self.error(
                    f"'{name}' may be used before it is assigned", loc,
                    "a local assigned only inside a loop or one branch of an `if` is not defined after it; assign it before",
                )
            return Typed(ir.Var(name, scope.type, loc))
        return Typed(ir.Var(name, scope.type, loc))

    def index(self, t: Typed, loc: SourceLocation | None, what: str) -> ir.Expr:
        if t.weak:
            if isinstance(t.expr.value, float):
                raise self.type_error(f"{what} must be an integer, got a float literal", loc)
            return self._retype_literal(t, DType.I64, loc)
        if not t.type.is_int:
            raise self.type_error(
                f"{what} must be an integer, got {t.type}", loc,
                "convert explicitly with i64(...)" if t.type.is_float else None,
            )
        return self.convert(t, DType.I64, loc, what)

    def load(self, name: str, indices: list[Typed], loc: SourceLocation | None, idx_locs: list) -> Typed:
        param = self._array(name, loc)
        if len(indices) != param.ndim:
            raise self.error(
                f"'{name}' has {param.ndim} dim{'s' if param.ndim != 1 else ''} but is indexed with {len(indices)}",
                loc, f"declared as {ir.print_param(param)}",
            )
        idx = tuple(
            self.index(t, where, f"index {k} of '{name}'") for k, (t, where) in enumerate(zip(indices, idx_locs))
        )
        return Typed(ir.Load(name, idx, param.dtype, loc))

    def _array(self, name: str, loc: SourceLocation | None) -> ir.ArrayParam:
        scope = self.names.get(name)
        if scope is None:
            raise self.error(f"undefined array '{name}'", loc, self._suggest(name))
        if scope.kind != "array":
            raise self.type_error(f"'{name}' is a {_kind_word(scope.kind)}, not an array; it cannot be indexed", loc)
        return scope.param

    def widen(self, t: Typed, loc: SourceLocation | None) -> Typed:
        """A narrow integer operand converted to the i64 it computes in."""
        if t.weak or not t.type.is_narrow:
            return t
        return Typed(ir.Cast(DType.I64, t.expr, loc))

    def unary_neg(self, t: Typed, loc: SourceLocation | None) -> Typed:
        if t.weak:
            c = t.expr
            return Typed(ir.Const(-c.value, c.type, loc), weak=True)
        if not t.type.is_numeric:
            raise self.type_error("unary '-' needs a number, got bool", loc)
        t = self.widen(t, loc)
        return Typed(ir.Unary("neg", t.expr, t.type, loc))

    def unary_not(self, t: Typed, loc: SourceLocation | None) -> Typed:
        self._need_bool(t, loc, "not")
        return Typed(ir.Unary("not", t.expr, DType.BOOL, loc))

    def unary_invert(self, t: Typed, loc: SourceLocation | None) -> Typed:
        if t.weak:
            if isinstance(t.expr.value, float):
                raise self.type_error("'~' needs an integer, got a float literal", loc)
            return Typed(ir.Const(~t.expr.value, t.expr.type, loc), weak=True)
        if not t.type.is_int:
            hint = "use `not` on a boolean" if t.type is DType.BOOL else "convert explicitly with i64(...)"
            raise self.type_error(f"'~' needs an integer, got {t.type}", loc, hint)
        t = self.widen(t, loc)
        return Typed(ir.Unary("invert", t.expr, t.type, loc))

    def _bitwise(self, op: str, a: Typed, b: Typed, loc: SourceLocation | None) -> Typed:
        if a.type is DType.BOOL and b.type is DType.BOOL and op in ("&", "|", "^"):
            return Typed(ir.Binary(op, a.expr, b.expr, DType.BOOL, loc))
        for t in (a, b):
            if t.type is DType.BOOL or t.type.is_float:
                hint = ("both sides of '&', '|', '^' may be booleans; or convert with i64(...)"
                        if t.type is DType.BOOL else "convert explicitly with i64(...)")
                raise self.type_error(f"'{op}' needs integers, got {a.type} and {b.type}", loc, hint)
        left, right, t = self.unify(a, b, loc, f"operator '{op}'")
        if op in ("<<", ">>") and isinstance(right, ir.Const) and right.value < 0:
            raise self.type_error("negative shift count", loc, "shift the other way")
        return Typed(ir.Binary(op, left, right, t, loc))

    def _need_bool(self, t: Typed, loc, op: str) -> None:
        if t.type is not DType.BOOL:
            raise self.type_error(f"'{op}' needs booleans, got {t.type}", loc, "compare explicitly, e.g. `x != 0`")

    def binary(self, op: str, a: Typed, b: Typed, loc: SourceLocation | None) -> Typed:
        if op in ir.LOGIC_OPS:
            self._need_bool(a, loc, op)
            self._need_bool(b, loc, op)
            return Typed(ir.Binary(op, a.expr, b.expr, DType.BOOL, loc))
        if op in ir.COMPARE_OPS:
            if a.type is DType.BOOL and b.type is DType.BOOL and op in ("==", "!="):
                return Typed(ir.Binary(op, a.expr, b.expr, DType.BOOL, loc))
            left, right, _ = self.unify(a, b, loc, f"comparison '{op}'")
            return Typed(ir.Binary(op, left, right, DType.BOOL, loc))
        if op in ir.BITWISE_OPS:
            return self._bitwise(op, a, b, loc)
        if DType.BOOL in (a.type, b.type):
            raise self.type_error(
                f"'{op}' needs numbers, got {a.type} and {b.type}", loc, "convert a boolean with i32(...) first"
            )
        left, right, t = self.unify(a, b, loc, f"operator '{op}'")
        if op == "/" and t.is_int:
            # true division, as in Python: integers divide as the kernel's float type
            left = self.convert(Typed(left), self.kf, loc, "operator '/'")
            right = self.convert(Typed(right), self.kf, loc, "operator '/'")
            t = self.kf
        if op == "**" and t.is_int and isinstance(right, ir.Const) and right.value < 0:
            raise self.type_error("negative integer power", loc, "use a float base, e.g. 2.0 ** -1")
        return Typed(ir.Binary(op, left, right, t, loc))

    def select(self, cond: Typed, a: Typed, b: Typed, loc: SourceLocation | None) -> Typed:
        self._need_bool(cond, loc, "if")
        if a.type is DType.BOOL and b.type is DType.BOOL:
            return Typed(ir.Select(cond.expr, a.expr, b.expr, DType.BOOL, loc))
        left, right, t = self.unify(a, b, loc, "conditional expression")
        return Typed(ir.Select(cond.expr, left, right, t, loc))

    def call(self, fn: str, args: list[Typed], loc: SourceLocation | None) -> Typed:
        if fn in TYPE_NAMES:
            if len(args) != 1:
                raise self.type_error(f"{fn}(...) takes one argument, got {len(args)}", loc)
            return self.cast(TYPE_NAMES[fn], args[0], loc)
        if fn not in ir.MATH_FUNCTIONS:
            if fn in self.names:
                raise self.type_error(f"'{fn}' is a {_kind_word(self.names[fn].kind)}, not a function", loc)
            known = ", ".join(sorted(ir.MATH_FUNCTIONS))
            close = difflib.get_close_matches(fn, list(ir.MATH_FUNCTIONS) + list(TYPE_NAMES), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise self.error(f"unknown function '{fn}'", loc, f"{hint}known functions: {known}; casts: f32 f64 i32 i64 bool")
        arity, kind = ir.MATH_FUNCTIONS[fn]
        if len(args) != arity:
            raise self.type_error(f"{fn}() takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)}", loc)
        for a in args:
            if a.type is DType.BOOL:
                raise self.type_error(f"{fn}() needs numbers, got bool", loc)
        if arity == 2:
            left, right, t = self.unify(args[0], args[1], loc, f"{fn}()")
            if kind == "float" and not t.is_float:
                left = self.convert(Typed(left), self.kf, loc, f"{fn}()")
                right = self.convert(Typed(right), self.kf, loc, f"{fn}()")
                t = self.kf
            return Typed(ir.Call(fn, (left, right), t, loc))
        a = self.widen(args[0], loc)
        if kind == "float":
            t = a.type if (not a.weak and a.type.is_float) else self.kf
        else:
            t = a.type if not a.weak else (self.kf if isinstance(a.expr.value, float) else DType.I64)
        return Typed(ir.Call(fn, (self.convert(a, t, loc, f"{fn}()"),), t, loc))

    def cast(self, to: DType, t: Typed, loc: SourceLocation | None) -> Typed:
        if t.weak:
            v = t.expr.value
            if to is DType.BOOL:
                return Typed(ir.Const(bool(v), DType.BOOL, loc))
            if to.is_int:
                if v != v or v in (float("inf"), float("-inf")):
                    raise self.type_error(f"cannot convert {ir.format_float(v)} to {to}", loc)
                v = int(v)
                if not _fits(v, to):
                    raise self.type_error(f"{v} does not fit in {to}", loc)
                return Typed(ir.Const(v, to, loc))
            return Typed(ir.Const(float(v), to, loc))
        if t.type is to:
            return Typed(t.expr)
        return Typed(ir.Cast(to, t.expr, loc))

    # --------------------------------------------------------------------- statements

    def begin_loop(self, index: str, start: Typed, stop: Typed, step: Typed | None, loc, locs) -> tuple:
        self._check_new_name(index, loc, "loop index")
        s0 = self.index(start, locs[0], "loop start")
        s1 = self.index(stop, locs[1], "loop stop")
        if step is None:
            s2 = ir.Const(1, DType.I64)
        else:
            s2 = self.index(step, locs[2], "loop step")
            if isinstance(s2, ir.Const) and s2.value == 0:
                raise self.error("loop step is zero", locs[2], "use a positive step, or a negative one to count down")
        self.names[index] = _Scope("index", DType.I64, loc)
        self.loop_depth += 1
        return s0, s1, s2, set(self.defined)

    def end_loop(self, index: str, saved_defined: set[str]) -> None:
        del self.names[index]
        self.loop_depth -= 1
        # the body may run zero times: what it assigns is not definitely assigned after it
        self.defined = saved_defined

    def while_stmt(self, cond: Typed, loc, build_body) -> ir.While:
        """``while cond { body }``: like a ``for`` body, the body may run zero
        times, so what it assigns is not definitely assigned after it."""
        c = self.condition(cond, loc)
        saved = set(self.defined)
        self.loop_depth += 1
        try:
            body = build_body()
        finally:
            self.loop_depth -= 1
        self.defined = saved
        return ir.While(c, body, loc)

    def loop_exit(self, kind: str, loc) -> ir.Break | ir.Continue:
        """``break`` or ``continue``, which must be inside a loop."""
        if self.loop_depth == 0:
            raise self.error(f"'{kind}' outside a loop", loc, f"'{kind}' leaves or skips an iteration of the loop around it")
        return ir.Break(loc) if kind == "break" else ir.Continue(loc)

    def _check_new_name(self, name: str, loc, what: str) -> None:
        if name in RESERVED:
            raise self.error(f"'{name}' is a reserved name and cannot be a {what}", loc)
        scope = self.names.get(name)
        if scope is not None:
            raise self.error(
                f"{what} '{name}' shadows the {_kind_word(scope.kind)} '{name}'", loc, "choose another name"
            )

    def assign(self, name: str, op: str | None, value: Typed, loc: SourceLocation | None) -> ir.Assign:
        scope = self.names.get(name)
        if scope is not None and scope.kind != "local":
            kind = _kind_word(scope.kind)
            hint = f"write array elements as {name}[...] = ..." if scope.kind == "array" else "copy it into a local first"
            raise self.error(f"cannot assign to the {kind} '{name}'", loc, hint)
        if scope is None and name in RESERVED:
            raise self.error(f"'{name}' is a reserved name and cannot be assigned", loc)
        if op is not None:
            current = self.name(name, loc)  # raises if not yet assigned
            result = self.binary(op, current, value, loc)
            rhs_type, weak = result.type, False
        else:
            rhs_type, weak = value.type, value.weak
        if self.collecting:
            # types are provisional in these rounds: record, do not convert
            self.assignments.setdefault(name, []).append(_Assignment(rhs_type, weak, loc))
            local_t = self.local_types.setdefault(name, rhs_type)
            if scope is None:
                self.names[name] = _Scope("local", local_t, loc)
            self.defined.add(name)
            return ir.Assign(name, value.expr, op, loc)
        local_t = self.local_types[name]
        if scope is None:
            self.names[name] = _Scope("local", local_t, loc)
        if op is not None:
            if local_t.is_int and op == "/":
                raise self.type_error(f"'/=' on the integer local '{name}'", loc, f"use {name} = {name} // ...")
            expr = self.convert(value, local_t, loc, f"'{name} {op}='")
        else:
            expr = self.convert(value, local_t, loc, f"assignment to '{name}'")
        self.defined.add(name)
        return ir.Assign(name, expr, op, loc)

    def store(self, name: str, indices: list[Typed], idx_locs: list, op: str | None, value: Typed, loc) -> ir.Store:
        target = self.load(name, indices, loc, idx_locs).expr
        elem = target.type
        if op == "/" and elem.is_int:
            raise self.type_error(f"'/=' on the integer array '{name}'", loc, f"use {name}[...] = {name}[...] // ...")
        if op is not None and value.type is DType.BOOL:
            raise self.type_error(f"'{op}=' needs a number, got bool", loc)
        expr = self.convert(value, elem, loc, f"store to '{name}'")
        return ir.Store(name, target.indices, expr, op, loc)

    def ret(self, value: Typed, loc) -> ir.Return:
        """``return value``: a bare literal takes the kernel's float type, or i64; a
        narrow integer is returned as i64."""
        if value.weak and not isinstance(value.expr.value, bool):
            to = self.kf if isinstance(value.expr.value, float) else DType.I64
            return ir.Return(self._retype_literal(value, to, loc), loc)
        return ir.Return(self.widen(value, loc).expr, loc)

    def condition(self, t: Typed, loc) -> ir.Expr:
        if t.type is not DType.BOOL:
            raise self.type_error(f"condition must be a boolean, got {t.type}", loc, "compare explicitly, e.g. `x != 0`")
        return t.expr

    def if_stmt(self, cond: Typed, loc, build_then, build_else) -> ir.If:
        """``if cond { then } else { orelse }``: the builders translate the branches;
        a local is defined after the ``if`` only if both branches define it."""
        c = self.condition(cond, loc)
        before = set(self.defined)
        then = build_then()
        after_then = self.defined
        self.defined = set(before)
        orelse = build_else()
        # a branch that ends in break or continue does not reach the statement after
        # the if: only the other branch's assignments count there
        if ir.leaves(then) and not ir.leaves(orelse):
            self.defined = self.defined | before
        elif ir.leaves(orelse) and not ir.leaves(then):
            self.defined = after_then | before
        else:
            self.defined = (after_then & self.defined) | before
        return ir.If(c, then, orelse, loc)


def _kind_word(kind: str) -> str:
    return {"array": "array parameter", "scalar": "scalar parameter", "dim": "dimension", "index": "loop index", "local": "local"}[kind]


def elaborate_body(params: tuple[ir.Param, ...], build, *, max_rounds: int = 8):
    """Run a frontend's ``build(elaborator)`` to the fixpoint of local types, then
    once more for real; returns what the last run built (the kernel body).

    Each collecting round records what is assigned to each local; the join of those
    types is the local's type for the next round. The join only moves up the type
    lattice, so a few rounds reach the fixpoint."""
    kf = ir.kernel_float_type(params)
    types: dict[str, DType] = {}
    for _ in range(max_rounds):
        el = Elaborator(params, local_types=dict(types), collecting=True)
        build(el)
        new = {n: join_assignments(n, recs, kf) for n, recs in el.assignments.items()}
        if new == types:
            break
        types = new
    return build(Elaborator(params, local_types=types))


def join_assignments(name: str, records: list[_Assignment], kf: DType) -> DType:
    """The type of a local: the join of what is assigned to it; literals are weak."""
    strong = [r for r in records if not r.weak]
    weak_float = any(r.weak and r.type.is_float for r in records)
    if not strong:
        return kf if weak_float else DType.I64
    t = strong[0].type
    for r in strong[1:]:
        joined = ir.promote(t, r.type)
        if joined is None:
            raise DSLTypeError(
                f"local '{name}' is assigned both {t} and {r.type}", r.loc,
                "a local has one type; use two names or convert explicitly",
            )
        t = joined
    if weak_float and t.is_int:
        t = kf
    if t is DType.BOOL and len(strong) != len(records):
        bad = next(r for r in records if r.weak)
        raise DSLTypeError(f"local '{name}' is a bool but is assigned a number here", bad.loc)
    return ir.computed_as(t)  # a local holding a u8 element is an i64
