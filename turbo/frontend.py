"""The Python frontend: a plain loop function, read through ``ast``, to the Loop IR.

``parse_function(fn)`` reads and checks a function once, when it is decorated:
constructs turbo never compiles (``while``, lists, ``try``, ...) are refused there
with ``UnsupportedError``. ``translate(parsed, signature)`` builds the typed IR for
one call signature (the dtypes and ndims of the arrays, the types of the scalars,
which dims are equal); it is called once per signature by ``runtime.function``.
All typing goes through ``Elaborator``, exactly as for the DSL: the two frontends
share the promotion rules, the casts and the errors.

Names are resolved as Python does: a name assigned anywhere in the function is a
local; any other name is a parameter, or a closure variable, a module global or a
builtin, read *by value* when a signature is translated (numbers become literals,
modules and functions are looked through statically). Calls resolve to the object
they name, so ``math.exp``, ``np.exp`` and ``from math import exp`` are one thing.
Calls to other ``@turbo`` functions are inlined.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import inspect
import math
import re
from dataclasses import dataclass, field

import numpy as np

from . import ir
from .elaborate import MAX_EXPR_DEPTH, MAX_STMT_DEPTH, RESERVED, Elaborator, Typed, elaborate_body
from .errors import DSLSemanticError, SourceLocation, UnsupportedError
from .ir import DType


# ----------------------------------------------------------------------------- source


class PySource:
    """Where a function's nodes are in its file: ``loc(node)`` for errors."""

    def __init__(self, filename: str, lines: list[str], first_line: int, indent: int):
        self.filename = filename
        self.lines = lines  # the function's lines as in the file
        self.first_line = first_line
        self.indent = indent
        self.code = [line[indent:] if line[:indent].isspace() else line for line in lines]

    def loc(self, node: ast.AST) -> SourceLocation | None:
        line = getattr(node, "lineno", None)
        if line is None or not 0 < line <= len(self.code):
            return None
        text = self.code[line - 1].encode()
        col = len(text[: node.col_offset].decode(errors="ignore"))
        end_b = node.end_col_offset if getattr(node, "end_lineno", line) == line and node.end_col_offset is not None else len(text)
        end = len(text[:end_b].decode(errors="ignore"))
        return SourceLocation(self.filename, self.first_line + line - 1, col + self.indent + 1, self.lines[line - 1], max(1, end - col))


@dataclass(frozen=True)
class ParsedFunction:
    fn: object  # the Python function
    name: str
    node: ast.FunctionDef
    src: PySource
    params: tuple[str, ...]

    @property
    def loc(self) -> SourceLocation | None:
        return self.src.loc(self.node)


def parse_function(fn) -> ParsedFunction:
    """Read a function's source and refuse what turbo does not compile."""
    name = getattr(fn, "__name__", repr(fn))
    if not inspect.isfunction(fn):
        raise UnsupportedError(
            f"@turbo needs a Python function defined with `def`, got {type(fn).__name__} '{name}'"
        )
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        raise UnsupportedError(
            f"cannot read the source of '{name}' (defined in {fn.__code__.co_filename})",
            hint="turbo compiles functions from their source: define it in a .py file, not in an interactive prompt or exec()",
        ) from None
    first = max(first, 1)
    indent = len(lines[0]) - len(lines[0].lstrip())
    src = PySource(fn.__code__.co_filename, lines, first, indent)
    try:
        tree = ast.parse("".join(src.code))
    except SyntaxError as e:  # pragma: no cover - the function compiled, so its source parses
        raise UnsupportedError(f"cannot parse the source of '{name}': {e.msg}") from None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef) or node.name != fn.__code__.co_name:
        raise UnsupportedError(
            f"@turbo needs a function defined with `def`; '{name}' is not one", src.loc(node) if node else None,
            "lambdas and async functions are not compiled",
        )
    a = node.args
    extra = a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.kw_defaults
    if extra:
        bad = a.vararg or a.kwarg or (a.kwonlyargs[0] if a.kwonlyargs else None) or (a.defaults or a.kw_defaults)[0]
        raise UnsupportedError(
            f"'{name}': only plain positional parameters are supported", src.loc(bad) or src.loc(node),
            "remove *args, **kwargs, keyword-only parameters and default values",
        )
    for stmt in node.body:
        for sub in ast.walk(stmt):
            refuse_unsupported(sub, src)
            for child in ast.iter_child_nodes(sub):
                if not hasattr(child, "lineno"):  # an operator: report it at its expression
                    refuse_unsupported(child, src, sub)
    params = tuple(p.arg for p in (*a.posonlyargs, *a.args))
    _early_returns(node, src)
    return ParsedFunction(fn, name, node, src, params)


# ----------------------------------------------------------------------------- early returns

# the locals an early return sets: names no Python source can hold, which the IR
# calls by these (made unique against the function's own names)
_RESULT, _DONE = "return.value", "return.done"
_EARLY_LOCALS = {_RESULT: "result", _DONE: "returned"}


def _early_returns(node: ast.FunctionDef, src: PySource) -> None:
    """Rewrite ``return`` statements before the function's last one, in place:
    ``return e`` sets the result local and a done flag and leaves the loops
    around it by ``break`` (a loop that a return may leave is followed by
    ``if done: break`` in an enclosing loop); the statements after a place that
    may have returned run under ``if not done``, and so does the function's own
    last ``return e``, which sets the result local; the function returns that
    local. A linear search
    ``for i in range(n): if x[i] == v: return i`` then is a loop left by a
    break, as the language has it."""
    body = node.body
    last = body[-1] if body and isinstance(body[-1], ast.Return) else None
    inner = [s for s in ast.walk(ast.Module(body=body[:-1] if last else body, type_ignores=[]))
             if isinstance(s, ast.Return)]
    if not inner:
        return
    valued = [r for r in inner + ([last] if last else []) if not _returns_none(r)]
    if valued and (len(valued) != len(inner) + (1 if last else 0)):
        bare = next(r for r in inner + ([last] if last else []) if _returns_none(r))
        raise UnsupportedError("this function returns a value on some paths and nothing on others", src.loc(bare),
                               "return a value on every path (a kernel's result is one scalar)")
    if valued and last is None:
        raise UnsupportedError("this function returns a value inside it but can end without a `return`",
                               src.loc(inner[0]), "end the function with `return <value>` for the other paths")

    def at(new, old):
        for n in ast.walk(new):
            ast.copy_location(n, old)
            n.end_lineno, n.end_col_offset = old.end_lineno, old.end_col_offset
        return new

    def name(n, ctx=ast.Load):
        return ast.Name(id=n, ctx=ctx())

    def block(stmts, in_loop: bool) -> tuple[list, bool]:
        """The statements rewritten, and whether they may return."""
        out, may_return = [], False
        for k, s in enumerate(stmts):
            if isinstance(s, ast.Return):
                if not _returns_none(s):
                    out.append(at(ast.Assign(targets=[name(_RESULT, ast.Store)], value=s.value), s))
                out.append(at(ast.Assign(targets=[name(_DONE, ast.Store)], value=ast.Constant(True)), s))
                if in_loop:
                    out.append(at(ast.Break(), s))
                return out, True  # what follows never runs
            returns = False
            if isinstance(s, (ast.For, ast.While)):
                s.body, returns = block(s.body, True)
                out.append(s)
                if returns and in_loop:
                    out.append(at(ast.If(test=name(_DONE), body=[ast.Break()], orelse=[]), s))
                    may_return = True
                    continue
            elif isinstance(s, ast.If):
                s.body, r1 = block(s.body, in_loop)
                s.orelse, r2 = block(s.orelse, in_loop)
                out.append(s)
                returns = r1 or r2
                if returns and in_loop:
                    may_return = True
                    continue  # a return in it left the loop by its break
            else:
                out.append(s)
            if returns:
                rest, _ = block(stmts[k + 1:], in_loop)
                if rest:
                    out.append(at(ast.If(test=ast.UnaryOp(op=ast.Not(), operand=name(_DONE)), body=rest, orelse=[]),
                                  stmts[k + 1]))
                return out, True
        return out, may_return

    first = body[0]
    rest = body[:-1] if last else body
    if last is not None and valued:  # the last return sets the result too, where no return came before
        rest = rest + [at(ast.Assign(targets=[name(_RESULT, ast.Store)], value=last.value), last)]
    new, _ = block(rest, False)
    start = [at(ast.Assign(targets=[name(_DONE, ast.Store)], value=ast.Constant(False)), first)]
    if last is not None and valued:
        # the result local is assigned on every path: first with a value of the
        # results' kind, which its type (promoted over its assignments) absorbs
        if isinstance(last.value, ast.Constant):
            initial = last.value.value
        elif all(_boolean(r.value) for r in valued):
            initial = False
        else:
            initial = 0
        start.append(at(ast.Assign(targets=[name(_RESULT, ast.Store)], value=ast.Constant(initial)), first))
        new.append(at(ast.Return(value=name(_RESULT)), last))
    node.body = start + new


def _boolean(e: ast.expr) -> bool:
    return (isinstance(e, (ast.Compare, ast.BoolOp)) or isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not)
            or isinstance(e, ast.Constant) and isinstance(e.value, bool))


def _returns_none(r: ast.Return) -> bool:
    return r.value is None or (isinstance(r.value, ast.Constant) and r.value.value is None)


# What turbo refuses, by node class: (what, hint). Checked for the whole function
# when it is decorated; the translator reports anything else it cannot handle.
_TRY_STAR = getattr(ast, "TryStar", ast.Try)
_MATCH = getattr(ast, "Match", ast.Try)
_REFUSED: dict[type, tuple[str, str]] = {
    ast.Try: ("'try' is not supported", "compiled kernels raise located errors themselves"),
    _TRY_STAR: ("'try' is not supported", "compiled kernels raise located errors themselves"),
    ast.With: ("'with' is not supported", "move it outside the @turbo function"),
    ast.Raise: ("'raise' is not supported", "check inputs before calling the kernel"),
    ast.Assert: ("'assert' is not supported", "check inputs before calling the kernel"),
    ast.FunctionDef: ("nested function definitions are not supported", "define it at module level with @turbo; calls to it are inlined"),
    ast.AsyncFunctionDef: ("nested function definitions are not supported", "define it at module level with @turbo"),
    ast.ClassDef: ("class definitions are not supported", "define classes outside the kernel"),
    ast.Lambda: ("lambdas are not supported", "define a function with @turbo; calls to it are inlined"),
    ast.Import: ("imports inside a kernel are not supported", "import at module level"),
    ast.ImportFrom: ("imports inside a kernel are not supported", "import at module level"),
    ast.Global: ("'global' is not supported", "globals are read-only constants in a kernel; pass arrays to write"),
    ast.Nonlocal: ("'nonlocal' is not supported", "closure variables are read-only constants in a kernel"),
    ast.Delete: ("'del' is not supported", "remove it"),
    ast.AsyncFor: ("'async for' is not supported", "use `for i in range(...)`"),
    ast.AsyncWith: ("'async with' is not supported", "move it outside the kernel"),
    _MATCH: ("'match' is not supported", "use if/elif/else"),
    ast.List: ("lists are not supported", "use a NumPy array argument, or scalar locals"),
    ast.Dict: ("dicts are not supported", "use scalar locals or array arguments"),
    ast.Set: ("sets are not supported", "use scalar locals or array arguments"),
    ast.ListComp: ("comprehensions are not supported", "write the loop out with `for i in range(...)`"),
    ast.SetComp: ("comprehensions are not supported", "write the loop out with `for i in range(...)`"),
    ast.DictComp: ("comprehensions are not supported", "write the loop out with `for i in range(...)`"),
    ast.GeneratorExp: ("generator expressions are not supported", "write the loop out with `for i in range(...)`"),
    ast.Yield: ("generators are not supported", "write results into an output array argument"),
    ast.YieldFrom: ("generators are not supported", "write results into an output array argument"),
    ast.Await: ("'await' is not supported", "kernels are synchronous"),
    ast.JoinedStr: ("strings are not supported", "kernels compute numbers only"),
    ast.Starred: ("'*' unpacking is not supported", "pass arguments one by one"),
    ast.Slice: ("slices are not supported", "index every dimension with an integer inside a loop"),
    ast.NamedExpr: ("':=' is not supported", "assign in a statement of its own"),
    ast.MatMult: ("'@' is not supported", "write the matrix product as loops"),
    ast.Is: ("'is' is not supported", "compare numbers with `==`"),
    ast.IsNot: ("'is not' is not supported", "compare numbers with `!=`"),
    ast.In: ("'in' is not supported", "compare explicitly"),
    ast.NotIn: ("'not in' is not supported", "compare explicitly"),
}


def refuse_unsupported(node: ast.AST, src: PySource, where: ast.AST | None = None) -> None:
    hit = _REFUSED.get(type(node))
    if hit is not None:
        what, hint = hit
        raise UnsupportedError(what, src.loc(where or node) or src.loc(node), hint)


# ----------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class ArraySpec:
    dtype: DType
    dims: tuple[str, ...]  # one dim name per axis; equal names are equal sizes


@dataclass(frozen=True)
class ScalarSpec:
    dtype: DType


Spec = ArraySpec | ScalarSpec

# ----------------------------------------------------------------------------- known callables

# Calls resolve to objects; these are the objects turbo knows, by identity.
_MATH_1 = {  # one-argument functions of the IR with Python's meaning
    math.exp: "exp", np.exp: "exp", math.log: "log", np.log: "log", math.sqrt: "sqrt", np.sqrt: "sqrt",
    math.sin: "sin", np.sin: "sin", math.cos: "cos", np.cos: "cos", math.tanh: "tanh", np.tanh: "tanh",
    builtins.abs: "abs", np.abs: "abs", np.fabs: "fabs", math.fabs: "fabs",
    np.floor: "floor", np.ceil: "ceil", np.rint: "rint",
    math.log2: "log2", np.log2: "log2", math.log10: "log10", np.log10: "log10", math.log1p: "log1p",
    np.log1p: "log1p", np.exp2: "exp2", math.expm1: "expm1", np.expm1: "expm1",
    math.sinh: "sinh", np.sinh: "sinh", math.cosh: "cosh", np.cosh: "cosh", math.tan: "tan", np.tan: "tan",
    math.atan: "atan", np.arctan: "atan", math.erf: "erf",
    math.asin: "asin", np.arcsin: "asin", math.acos: "acos", np.arccos: "acos",
}
if hasattr(math, "exp2"):  # Python >= 3.11
    _MATH_1[math.exp2] = "exp2"
_MATH_2 = {  # two-argument functions of the IR, float arguments
    math.pow: "pow", math.atan2: "atan2", np.arctan2: "atan2", math.hypot: "hypot", np.hypot: "hypot",
    math.copysign: "copysign", np.copysign: "copysign",
}
_NUMPY_SCALARS = {np.dtype(t.numpy_name).type: t for t in DType}  # np.float32, ..., np.uint8, np.bool_
_CASTS = {builtins.float: DType.F64, builtins.int: DType.I64, builtins.bool: DType.BOOL, **_NUMPY_SCALARS}
_FLOAT_WORDS = {"inf": math.inf, "+inf": math.inf, "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf, "nan": math.nan}

_DSL_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9]*\Z")


KNOWN_CALLABLES = (
    "range, len, abs, min, max, float, int, bool, pow, round; math/np: exp log sqrt sin cos tan tanh sinh cosh "
    "log2 log10 log1p exp2 expm1 asin acos atan (np.arcsin np.arccos np.arctan) atan2 (np.arctan2) hypot copysign "
    "fabs floor ceil trunc pow "
    "isnan isinf isfinite, math.erf; np: abs absolute sign rint round minimum maximum clip where square power; "
    "np.float32/float64/int8/uint8/int16/uint16/int32/uint32/int64/bool_; other @turbo functions"
)


# ----------------------------------------------------------------------------- translation


@dataclass
class _Scope:
    """One function being translated: the top-level one or an inlined callee."""

    parsed: ParsedFunction
    names: dict[str, str]  # Python name -> IR name (params, locals, loop indices)
    local_names: frozenset[str]  # every name Python treats as local in this function
    values: dict[str, object] = field(default_factory=dict)  # closure variables


def _assigned_names(node: ast.FunctionDef) -> set[str]:
    out = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            out.add(sub.id)
    return out


def _plain_locals(node: ast.FunctionDef) -> frozenset[str]:
    """The names a function assigns other than as a ``for`` loop's variable."""
    targets = {id(sub.target) for sub in ast.walk(node) if isinstance(sub, ast.For)}
    return frozenset(sub.id for sub in ast.walk(node)
                     if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and id(sub) not in targets)


def _closure_values(fn) -> dict[str, object]:
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # an empty cell: the variable is not bound yet
            pass
    return out


_MISSING = object()


class Translator:
    """Builds one kernel from a parsed function and a signature."""

    def __init__(self, parsed: ParsedFunction, specs: tuple[Spec, ...]):
        self.parsed = parsed
        self.specs = specs
        used_in_source = {n.id for n in ast.walk(parsed.node) if isinstance(n, ast.Name)} | set(parsed.params)
        self.source_names = frozenset(used_in_source)
        assigned = _assigned_names(parsed.node)
        # parameter names as the IR sees them; a scalar parameter that the function
        # reassigns becomes a local copied from a renamed parameter
        params: list[ir.Param] = []
        self.copied: list[tuple[str, str]] = []  # (local IR name, param IR name)
        taken: set[str] = set()
        top_names: dict[str, str] = {}
        dim_names = sorted({d for s in specs if isinstance(s, ArraySpec) for d in s.dims})
        taken |= set(dim_names)
        for pyname, spec in zip(parsed.params, specs):
            name = _unique(pyname, taken | used_in_source - {pyname})
            taken.add(name)
            top_names[pyname] = name
            if isinstance(spec, ArraySpec):
                params.append(ir.ArrayParam(name, spec.dtype, spec.dims, parsed.src.loc(_arg_node(parsed, pyname))))
            elif pyname in assigned:
                pname = _unique(f"{name}_arg", taken | used_in_source)
                taken.add(pname)
                self.copied.append((name, pname))
                params.append(ir.ScalarParam(pname, spec.dtype, parsed.src.loc(_arg_node(parsed, pyname))))
            else:
                params.append(ir.ScalarParam(name, spec.dtype, parsed.src.loc(_arg_node(parsed, pyname))))
        self.base_taken = frozenset(taken)
        self.base_names = top_names
        self.params = tuple(params)

    # ------------------------------------------------------------------ driver

    def kernel(self) -> ir.Kernel:
        name = _unique(self.parsed.name, ())
        body = elaborate_body(self.params, self._build)
        return ir.Kernel(name, self.params, body, self.parsed.loc)

    def _build(self, el: Elaborator) -> tuple[ir.Stmt, ...]:
        # called once per round of the local-type fixpoint: all naming state restarts
        self.el = el
        self.taken = set(self.base_taken)
        self.pending: list[ir.Stmt] = []
        self.lazy_depth = 0  # > 0 inside a conditional expression or an and/or operand
        self.expr_depth = 0
        self.stmt_depth = 0
        self.inlining: list[object] = [self.parsed.fn]
        self.scope = _Scope(self.parsed, dict(self.base_names), frozenset(_assigned_names(self.parsed.node) | set(self.parsed.params)),
                            _closure_values(self.parsed.fn))
        out: list[ir.Stmt] = []
        for local, param in self.copied:
            p = self.el.names[param]
            out.append(el.assign(local, None, Typed(ir.Var(param, p.type)), None))
        out.extend(self.body(self.parsed.node.body, top=True))
        return tuple(out)

    def loc(self, node: ast.AST) -> SourceLocation | None:
        return self.scope.parsed.src.loc(node)

    def unsupported(self, msg: str, node: ast.AST, hint: str | None = None) -> UnsupportedError:
        return UnsupportedError(msg, self.loc(node), hint)

    def fresh(self, base: str) -> str:
        name = _unique(base, self.taken)
        self.taken.add(name)
        return name

    def ir_name(self, pyname: str, node: ast.AST) -> str:
        """The IR name of a local of the current scope (allocated on first sight)."""
        name = self.scope.names.get(pyname)
        if name is None:
            base = pyname if len(self.inlining) == 1 else f"{self.scope.parsed.name}_{pyname}"
            if pyname in _EARLY_LOCALS:  # an early return's locals: no name of the source
                early = _EARLY_LOCALS[pyname]
                base = early if len(self.inlining) == 1 else f"{self.scope.parsed.name}_{early}"
                base = _unique(base, self.taken | self.source_names)
            name = self.fresh(base)
            self.scope.names[pyname] = name
        return name

    # ------------------------------------------------------------------ statements

    def body(self, stmts: list[ast.stmt], top: bool = False) -> tuple[ir.Stmt, ...]:
        self.stmt_depth += 1
        try:
            if self.stmt_depth > MAX_STMT_DEPTH:
                raise self.unsupported(f"blocks are nested more than {MAX_STMT_DEPTH} deep", stmts[0])
            out: list[ir.Stmt] = []
            for k, s in enumerate(stmts):
                if k == 0 and isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                    continue  # docstring
                if isinstance(s, ast.Return) and not (top and k == len(stmts) - 1):
                    raise self.unsupported(
                        "'return' is supported only as the last statement of the function", s,
                        "assign the result to a local and return it at the end",
                    )
                saved, self.pending = self.pending, []
                built = self.stmt(s)
                out.extend(self.pending)
                out.extend(built)
                self.pending = saved
            return tuple(out)
        finally:
            self.stmt_depth -= 1

    def stmt(self, s: ast.stmt) -> list[ir.Stmt]:
        el = self.el
        loc = self.loc(s)
        if isinstance(s, ast.For):
            return self.for_(s)
        if isinstance(s, ast.If):
            return [el.if_stmt(self.expr(s.test), self.loc(s.test), lambda: self.body(s.body), lambda: self.body(s.orelse))]
        if isinstance(s, ast.While):
            if s.orelse:
                raise self.unsupported("'while ... else' is not supported", s.orelse[0],
                                       "set a flag before `break` and test it after the loop")
            return [el.while_stmt(self.expr(s.test), self.loc(s.test), lambda: self.body(s.body))]
        if isinstance(s, (ast.Break, ast.Continue)):
            return [el.loop_exit("break" if isinstance(s, ast.Break) else "continue", loc)]
        if isinstance(s, ast.Assign):
            return self.assign(s.targets, s.value, loc)
        if isinstance(s, ast.AnnAssign):
            return self.assign([s.target], s.value, loc) if s.value is not None else []
        if isinstance(s, ast.AugAssign):
            return [self.aug_assign(s)]
        if isinstance(s, ast.Return):
            return self.return_(s)
        if isinstance(s, ast.Pass):
            return []
        if isinstance(s, ast.Expr):
            call = s.value
            if isinstance(call, ast.Call):
                target = self.static_value(call.func)
                if _is_turbo_function(target):
                    self.inline(target, call, want_value=False)
                    return []
            raise self.unsupported(
                "an expression statement has no effect in a kernel", s,
                "assign its value, or call a @turbo function for its effect",
            )
        refuse_unsupported(s, self.scope.parsed.src)
        raise self.unsupported(f"'{type(s).__name__}' statements are not supported", s)

    def for_(self, s: ast.For) -> ir.For:
        if s.orelse:
            raise self.unsupported("'for ... else' is not supported", s.orelse[0],
                                   "set a flag before `break` and test it after the loop")
        if not isinstance(s.target, ast.Name):
            raise self.unsupported("a loop target must be one name", s.target, "write `for i in range(...)`")
        it = s.iter
        ranger = self.static_value(it.func) if isinstance(it, ast.Call) else None
        if not (ranger is builtins.range or ranger is ir.prange):
            hint = "iterate over indices: `for i in range(len(A))` or `for i in range(A.shape[0])`"
            if isinstance(it, ast.Call) and self.static_value(it.func) in (enumerate, zip, reversed):
                hint = "write `for i in range(...)` and index the arrays; `range(n - 1, -1, -1)` counts down"
            raise self.unsupported("only `for ... in range(...)` loops are supported", it, hint)
        if it.keywords or not 1 <= len(it.args) <= 3:
            raise self.unsupported(f"{ranger.__name__}() takes 1 to 3 positional arguments", it)
        bounds = [self.expr(a) for a in it.args]
        locs = [self.loc(a) for a in it.args]
        if len(bounds) == 1:
            bounds.insert(0, self.el.literal(0, locs[0]))
            locs.insert(0, locs[0])
        pyname = s.target.id
        before = self.scope.names.get(pyname)
        scope = self.el.names.get(before) if before is not None else None
        local = before if scope is not None and scope.kind == "local" else None
        own = local is not None or pyname in _plain_locals(self.scope.parsed.node)
        if own:
            # Python's loop variable is the function's local of that name, which the
            # function also assigns elsewhere (``c = idx[i]`` in another loop): the
            # loop gets an index of its own, read under that name inside the loop;
            # a local that exists already takes the last value after it
            # (``_last_value``), and one first assigned later gets its own name
            index = self.fresh(pyname)
            self.scope.names[pyname] = index
        else:
            index = self.ir_name(pyname, s.target)
        try:
            start, stop, step, saved = self.el.begin_loop(
                index, bounds[0], bounds[1], bounds[2] if len(bounds) > 2 else None, self.loc(s.target), locs
            )
            body = self.body(s.body)
            self.el.end_loop(index, saved)
        finally:
            if own:
                if before is None:
                    del self.scope.names[pyname]
                else:
                    self.scope.names[pyname] = before
        loop = ir.For(index, start, stop, step, body, self.loc(s.target), parallel=ranger is ir.prange)
        if local is None:
            return [loop]
        after = self._last_value(loop, pyname, local, s)
        if not ir.has_exits(body, (ir.Break,)):
            return [loop, after]
        # left by a break, the loop ends on the index it broke at: each break of
        # the loop sets the local to it, and a flag that skips the last value (the
        # statements an exit ``if`` runs once: the loop may still run as a search)
        loc = self.loc(s.target)
        broke = self.fresh(f"{pyname}_broke")
        init = self.el.assign(broke, None, Typed(ir.Const(False, DType.BOOL, loc)), loc)

        def at_breaks(stmts: tuple) -> tuple:
            out: list[ir.Stmt] = []
            for x in stmts:
                if isinstance(x, ir.Break):
                    out += [self.el.assign(local, None, Typed(ir.Var(index, DType.I64, x.loc)), x.loc),
                            self.el.assign(broke, None, Typed(ir.Const(True, DType.BOOL, x.loc)), x.loc), x]
                elif isinstance(x, ir.If):
                    out.append(dataclasses.replace(x, then=at_breaks(x.then), orelse=at_breaks(x.orelse)))
                else:  # a loop inside: its breaks are its own
                    out.append(x)
            return tuple(out)

        stayed = ir.Unary("not", ir.Var(broke, DType.BOOL, loc), DType.BOOL, loc)
        after = dataclasses.replace(after, cond=ir.Binary("and", stayed, after.cond, DType.BOOL, loc))
        return [init, dataclasses.replace(loop, body=at_breaks(body)), after]

    def _last_value(self, loop: ir.For, pyname: str, local: str, s: ast.For) -> ir.If:
        """After ``for c in range(...)`` whose name is also a local the function
        assigned before (``c = idx[i]`` in an earlier loop): ``c`` holds the loop's
        last index when the loop ran, as in Python. The bounds are evaluated
        again, so they must not read what the loop assigns."""
        assigned = {x.name for x in ir.walk_stmts(loop.body) if isinstance(x, ir.Assign)}
        assigned |= {x.array for x in ir.walk_stmts(loop.body) if isinstance(x, ir.Store)}
        reads = set()
        for e in (loop.start, loop.stop, loop.step):
            reads |= {x.name if isinstance(x, ir.Var) else x.array for x in ir.walk_expr(e)
                      if isinstance(x, (ir.Var, ir.Load))}
        if reads & assigned:
            raise self.unsupported(
                f"loop variable '{pyname}' is also a local of the function, and this loop's bounds read what it assigns",
                s.target, "give the loop variable a name of its own")
        t, b = ir.DType.I64, ir.DType.BOOL
        one = ir.Const(1, t)

        def last_of(up: bool, step: ir.Expr):
            lo, hi = (loop.start, loop.stop) if up else (loop.stop, loop.start)
            size = step if up else ir.Unary("neg", step, t)  # > 0
            span = ir.Binary("-", ir.Binary("-", hi, lo, t), one, t)  # >= 0 when the loop ran
            steps = ir.Binary("//", span, size, t)
            return ir.Binary("<", lo, hi, b), ir.Binary("+", loop.start, ir.Binary("*", steps, step, t), t)

        if isinstance(loop.step, ir.Const):
            ran, last = last_of(loop.step.value > 0, loop.step)
        else:  # the step's sign is known when the loop starts
            up = ir.Binary(">", loop.step, ir.Const(0, t), b)
            (ran_up, last_up), (ran_down, last_down) = last_of(True, loop.step), last_of(False, loop.step)
            ran = ir.Select(up, ran_up, ran_down, b)
            last = ir.Select(up, last_up, last_down, t)
        loc = self.loc(s.target)
        return ir.If(ran, (self.el.assign(local, None, Typed(last), loc),), (), loc)

    def assign(self, targets: list[ast.expr], value: ast.expr, loc) -> list[ir.Stmt]:
        if len(targets) == 1 and isinstance(targets[0], ast.Tuple):
            return self.unpack(targets[0], value, loc)
        if len(targets) > 1 and not all(isinstance(t, ast.Name) for t in targets):
            raise self.unsupported("chained assignment is supported to names only", targets[0], "assign each target on its own line")
        typed = self.expr(value)
        first, *rest = targets
        out = [self.assign_one(first, None, typed, loc)]
        for t in rest:
            out.append(self.assign_one(t, None, self.name(first), loc))
        return out

    def unpack(self, target: ast.Tuple, value: ast.expr, loc) -> list[ir.Stmt]:
        """``m, n = A.shape`` and ``a, b = x, y`` (values first, then targets, as in Python)."""
        if any(not isinstance(t, (ast.Name, ast.Subscript)) for t in target.elts):
            raise self.unsupported("unpacking is supported into names and array elements only", target)
        if isinstance(value, ast.Attribute) and value.attr == "shape":
            param = self.array_param(value.value)
            if param is not None:
                if len(target.elts) != param.ndim:
                    raise self.unsupported(f"'{param.name}' has {param.ndim} dims; cannot unpack its shape into {len(target.elts)} names", target)
                return [self.assign_one(t, None, self.dim(param, k, value), loc) for k, t in enumerate(target.elts)]
        if not isinstance(value, ast.Tuple) or len(value.elts) != len(target.elts):
            raise self.unsupported("unpacking is supported from a tuple of the same length or from A.shape", value)
        values = [self.expr(v) for v in value.elts]
        temps, out = [], []
        for v in values:
            if len(values) == 1 or v.weak:
                temps.append(v)
                continue
            tmp = self.fresh("tmp")
            out.append(self.el.assign(tmp, None, v, loc))
            temps.append(self.el.name(tmp, loc))
        for t, v in zip(target.elts, temps):
            out.append(self.assign_one(t, None, v, loc))
        return out

    def assign_one(self, target: ast.expr, op: str | None, value: Typed, loc) -> ir.Stmt:
        if isinstance(target, ast.Name):
            if target.id not in self.scope.local_names:  # pragma: no cover - Python makes it local
                raise self.unsupported(f"cannot assign to '{target.id}'", target)
            return self.el.assign(self.ir_name(target.id, target), op, value, self.loc(target))
        if isinstance(target, ast.Subscript):
            name, idx, locs = self.subscript(target)
            return self.el.store(name, idx, locs, op, value, self.loc(target))
        if isinstance(target, ast.Attribute):
            raise self.unsupported("cannot assign to an attribute", target, "write array elements: A[i] = ...")
        raise self.unsupported("cannot assign to this target", target)

    _UPDATE = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}

    def aug_assign(self, s: ast.AugAssign) -> ir.Stmt:
        loc = self.loc(s)
        value = self.expr(s.value)
        op = self._UPDATE.get(type(s.op))
        if op is not None:
            return self.assign_one(s.target, op, value, loc)
        # `x //= y`, `x %= y`, `x **= y`: x = x op y (the target's indices are pure)
        refuse_unsupported(s.op, self.scope.parsed.src, s)
        current = self.expr(s.target)
        return self.assign_one(s.target, None, self.el.binary(self.binop(s.op, s), current, value, loc), loc)

    def return_(self, s: ast.Return) -> list[ir.Stmt]:
        v = s.value
        if v is None or (isinstance(v, ast.Constant) and v.value is None):
            return []
        if isinstance(v, ast.Tuple):
            raise self.unsupported("returning several values is not supported", v, "write them into an output array")
        return [self.el.ret(self.expr(v), self.loc(s))]

    # ------------------------------------------------------------------ inlining

    def inline(self, fn, call: ast.Call, want_value: bool) -> Typed | None:
        """Translate a call of another @turbo function in place: its parameters bind
        to the caller's arrays and to fresh locals holding the scalar arguments."""
        parsed = fn._parsed
        if parsed is None:
            raise self.unsupported(f"'{fn.__name__}' is a @turbo function that itself cannot be compiled", call)
        if fn.py_func in self.inlining:
            raise self.unsupported(f"recursive call of '{parsed.name}'", call, "turbo inlines calls; write the recursion as a loop")
        if self.lazy_depth:
            raise self.unsupported(
                f"a call of '{parsed.name}' inside a conditional expression or an `and`/`or` operand", call,
                "call it in a statement of its own before, and use the local",
            )
        if call.keywords or len(call.args) != len(parsed.params):
            raise self.unsupported(f"'{parsed.name}' takes {len(parsed.params)} positional arguments", call)
        names: dict[str, str] = {}
        bind: list[ir.Stmt] = []
        for pyname, arg in zip(parsed.params, call.args):
            param = self.array_param(arg)
            if param is not None:
                names[pyname] = param.name
                continue
            if isinstance(arg, ast.Starred):
                refuse_unsupported(arg, self.scope.parsed.src)
            value = self.expr(arg)
            local = self.fresh(f"{parsed.name}_{pyname}")
            bind.append(self.el.assign(local, None, value, self.loc(arg)))
            names[pyname] = local
        outer = self.scope
        self.scope = _Scope(parsed, names, frozenset(_assigned_names(parsed.node) | set(parsed.params)), _closure_values(parsed.fn))
        self.inlining.append(fn.py_func)
        try:
            self.pending.extend(bind)
            body = list(parsed.node.body)
            ret = body.pop() if body and isinstance(body[-1], ast.Return) else None
            self.pending.extend(self.body(body))
            result = None
            if ret is not None and ret.value is not None and not (isinstance(ret.value, ast.Constant) and ret.value.value is None):
                if isinstance(ret.value, ast.Tuple):
                    raise self.unsupported("returning several values is not supported", ret.value)
                value = self.expr(ret.value)
                if want_value:
                    local = self.fresh(f"{parsed.name}_result")
                    self.pending.append(self.el.assign(local, None, value, self.loc(ret)))
                    result = local
        finally:
            self.scope = outer
            self.inlining.pop()
        if want_value:
            if result is None:
                raise self.unsupported(f"'{parsed.name}' returns nothing; its call has no value", call)
            return self.el.name(result, self.loc(call))
        return None

    # ------------------------------------------------------------------ expressions

    def expr(self, node: ast.expr) -> Typed:
        self.expr_depth += 1
        try:
            if self.expr_depth > MAX_EXPR_DEPTH:
                raise self.unsupported(f"expression is nested more than {MAX_EXPR_DEPTH} deep", node, "split it with intermediate locals")
            return self._expr(node)
        finally:
            self.expr_depth -= 1

    def lazy(self, node: ast.expr) -> Typed:
        """An operand evaluated only sometimes (a conditional arm, the right of and/or)."""
        self.lazy_depth += 1
        try:
            return self.expr(node)
        finally:
            self.lazy_depth -= 1

    def _expr(self, node: ast.expr) -> Typed:
        el = self.el
        loc = self.loc(node)
        if isinstance(node, ast.Constant):
            return self.constant(node.value, node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Subscript):
            shape = self.shape_item(node)
            if shape is not None:
                return shape
            name, idx, locs = self.subscript(node)
            return el.load(name, idx, loc, locs)
        if isinstance(node, ast.Attribute):
            return self.attribute(node)
        if isinstance(node, (ast.BinOp, ast.UnaryOp)):
            folded = _folded_int(node)
            if folded is not None and I64_MIN <= folded <= I64_MAX:
                # Python's value of an expression of integer literals, as the function
                # computes it (an FNV offset basis written 14695981039346656037 - 2**64)
                return self.constant(folded, node)
        if isinstance(node, ast.BinOp):
            return el.binary(self.binop(node.op, node), self.expr(node.left), self.expr(node.right), loc)
        if isinstance(node, ast.UnaryOp):
            operand = self.expr(node.operand)
            if isinstance(node.op, ast.USub):
                return el.unary_neg(operand, loc)
            if isinstance(node.op, ast.Not):
                return el.unary_not(operand, loc)
            if isinstance(node.op, ast.Invert):
                return el.unary_invert(operand, loc)
            if isinstance(node.op, ast.UAdd):
                if operand.type is DType.BOOL:
                    raise el.type_error("unary '+' needs a number, got bool", loc)
                return operand
            refuse_unsupported(node.op, self.scope.parsed.src, node)
        if isinstance(node, ast.BoolOp):
            op = "and" if isinstance(node.op, ast.And) else "or"
            acc = self.expr(node.values[0])
            for v in node.values[1:]:
                acc = el.binary(op, acc, self.lazy(v), loc)
            return acc
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            cond = self.expr(node.test)
            return el.select(cond, self.lazy(node.body), self.lazy(node.orelse), loc)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Tuple):
            raise self.unsupported("tuples are supported only as array indices and in unpacking", node)
        refuse_unsupported(node, self.scope.parsed.src)
        raise self.unsupported(f"'{type(node).__name__}' expressions are not supported", node)

    _BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
               ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
    _COMPARE = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}

    def binop(self, op: ast.operator, node: ast.AST) -> str:
        text = self._BINOPS.get(type(op))
        if text is None:
            refuse_unsupported(op, self.scope.parsed.src, node)
            raise self.unsupported(f"operator {type(op).__name__} is not supported", node)
        return text

    def compare(self, node: ast.Compare) -> Typed:
        """``a < b < c`` is ``a < b and b < c`` (operands are pure: evaluating b twice is fine)."""
        el = self.el
        result = None
        left_node = node.left
        left = self.expr(left_node)
        for op, right_node in zip(node.ops, node.comparators):
            text = self._COMPARE.get(type(op))
            if text is None:
                refuse_unsupported(op, self.scope.parsed.src, node)
            right = self.expr(right_node) if result is None else self.lazy(right_node)
            c = el.binary(text, left, right, self.loc(node))
            result = c if result is None else el.binary("and", result, c, self.loc(node))
            left = right
        return result

    def constant(self, value, node: ast.AST) -> Typed:
        if isinstance(value, (bool, int, float)):
            return self.el.literal(value, self.loc(node))
        if isinstance(value, (np.bool_, np.integer, np.floating)):
            t = _NUMPY_SCALARS.get(type(value))
            if t is None:
                raise self.unsupported(f"a NumPy {type(value).__name__} constant is not supported", node,
                                       "use float32, float64, (u)int8/16/32, int64 or bool_")
            return self.el.cast(t, self.el.literal(value.item(), self.loc(node)), self.loc(node))
        kind = {str: "strings", bytes: "bytes", complex: "complex numbers", type(None): "None"}.get(type(value), type(value).__name__)
        raise self.unsupported(f"{kind} are not supported in kernels", node, "kernels compute with numbers and booleans")

    def name(self, node: ast.Name) -> Typed:
        pyname = node.id
        if pyname in self.scope.local_names:
            name = self.scope.names.get(pyname)
            if name is None:
                raise self.el.error(f"'{pyname}' is used before it is assigned", self.loc(node), "assign it before this line, on every path")
            if name in self.el.names and self.el.names[name].kind == "array":
                raise self.el.type_error(f"'{pyname}' is an array; index it, e.g. {pyname}[i]", self.loc(node))
            return self.el.name(name, self.loc(node))
        value = self.global_value(pyname, node)
        return self.captured(value, node)

    def captured(self, value, node: ast.AST) -> Typed:
        """A closure variable, global or attribute used as a value."""
        if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
            return self.constant(value, node)
        what = ast.unparse(node)
        if isinstance(value, np.ndarray):
            raise self.unsupported(f"'{what}' is a global array; kernels do not capture arrays", node, "pass it as an argument")
        if inspect.ismodule(value):
            raise self.unsupported(f"'{what}' is a module, not a value", node)
        if callable(value):
            raise self.unsupported(f"'{what}' is a function; it can only be called", node)
        raise self.unsupported(f"'{what}' is a {type(value).__name__}; kernels capture only numbers", node,
                               "pass it as an argument or make it a number")

    def global_value(self, pyname: str, node: ast.AST):
        if pyname in self.scope.values:
            return self.scope.values[pyname]
        g = self.scope.parsed.fn.__globals__
        if pyname in g:
            return g[pyname]
        if hasattr(builtins, pyname):
            return getattr(builtins, pyname)
        raise DSLSemanticError(f"undefined name '{pyname}'", self.loc(node))

    def static_value(self, node: ast.expr):
        """The object a name or attribute chain of globals denotes, or _MISSING."""
        if isinstance(node, ast.Name):
            if node.id in self.scope.local_names:
                return _MISSING
            return self.global_value(node.id, node)
        if isinstance(node, ast.Attribute):
            base = self.static_value(node.value)
            if base is _MISSING:
                return _MISSING
            try:
                return getattr(base, node.attr)
            except AttributeError:
                raise DSLSemanticError(f"'{ast.unparse(node.value)}' has no attribute '{node.attr}'", self.loc(node)) from None
        return _MISSING

    def attribute(self, node: ast.Attribute) -> Typed:
        param = self.array_param(node.value)
        if param is not None:
            if node.attr == "ndim":
                return self.el.literal(param.ndim, self.loc(node))
            if node.attr == "size":
                acc = self.el.literal(1, self.loc(node)) if param.ndim == 0 else self.dim(param, 0, node)
                for k in range(1, param.ndim):
                    acc = self.el.binary("*", acc, self.dim(param, k, node), self.loc(node))
                return acc
            if node.attr == "shape":
                raise self.unsupported("A.shape is supported when indexed: A.shape[0]", node, "or unpack it: m, n = A.shape")
            raise self.unsupported(
                f"attribute '{node.attr}' of an array is not supported", node, "arrays offer .shape[k], .ndim and .size",
            )
        value = self.static_value(node)
        if value is _MISSING:
            raise self.unsupported(f"attribute access '.{node.attr}' is not supported here", node,
                                   "arrays offer .shape[k], .ndim and .size; module constants such as math.pi work")
        return self.captured(value, node)

    # ------------------------------------------------------------------ arrays

    def array_param(self, node: ast.expr) -> ir.ArrayParam | None:
        if isinstance(node, ast.Name) and node.id in self.scope.local_names:
            name = self.scope.names.get(node.id)
            scope = self.el.names.get(name) if name else None
            if scope is not None and scope.kind == "array":
                return scope.param
        return None

    def dim(self, param: ir.ArrayParam, axis: int, node: ast.AST) -> Typed:
        d = param.shape[axis]
        if isinstance(d, int):
            return self.el.literal(d, self.loc(node))
        return self.el.name(d, self.loc(node))

    def shape_item(self, node: ast.Subscript) -> Typed | None:
        """``A.shape[k]`` (k a literal, negative counts from the end)."""
        v = node.value
        if not (isinstance(v, ast.Attribute) and v.attr == "shape"):
            return None
        param = self.array_param(v.value)
        if param is None:
            return None
        k = _int_literal(node.slice)
        if k is None:
            raise self.unsupported("A.shape must be indexed with an integer literal", node.slice)
        if not -param.ndim <= k < param.ndim:
            raise self.el.error(f"'{param.name}' has {param.ndim} dims; shape[{k}] does not exist", self.loc(node))
        return self.dim(param, k % param.ndim, node)

    def subscript(self, node: ast.Subscript) -> tuple[str, list[Typed], list]:
        """``A[i, j]`` or ``A[i][j]``: the array's IR name and the typed indices.
        A negative integer literal counts from the end, as in Python."""
        parts: list[ast.expr] = []
        base: ast.expr = node
        while isinstance(base, ast.Subscript):
            sl = base.slice
            parts[:0] = list(sl.elts) if isinstance(sl, ast.Tuple) else [sl]
            base = base.value
        for p in parts:
            if isinstance(p, ast.Slice):
                refuse_unsupported(p, self.scope.parsed.src)
        param = self.array_param(base)
        if param is None:
            self.expr(base)  # refuses attributes (A.T), global arrays, undefined names with their own errors
            raise self.el.type_error(
                f"'{ast.unparse(base)}' is not an array argument; only arrays can be indexed", self.loc(base),
                "pass the array as a parameter of the function",
            )
        if len(parts) != param.ndim:
            raise self.el.error(
                f"'{param.name}' has {param.ndim} dim{'s' if param.ndim != 1 else ''} but is indexed with {len(parts)}",
                self.loc(node), "index every dimension with an integer (slices are not supported)",
            )
        idx = []
        for axis, p in enumerate(parts):
            k = _int_literal(p)
            if k is not None and k < 0:
                idx.append(self.el.binary("+", self.dim(param, axis, p), self.el.literal(k, self.loc(p)), self.loc(p)))
            else:
                idx.append(self.expr(p))
        return param.name, idx, [self.loc(p) for p in parts]

    # ------------------------------------------------------------------ calls

    def call(self, node: ast.Call) -> Typed:
        el = self.el
        loc = self.loc(node)
        fn = _hashable_or_missing(self.static_value(node.func))
        label = ast.unparse(node.func)
        if fn is _MISSING:
            raise self.unsupported(f"'{label}' is not a function turbo can call", node.func, f"known: {KNOWN_CALLABLES}")
        if _is_turbo_function(fn):
            return self.inline(fn, node, want_value=True)
        if node.keywords:
            raise self.unsupported(f"keyword arguments in a call of '{label}' are not supported", node.keywords[0].value or node)
        for a in node.args:
            if isinstance(a, ast.Starred):
                refuse_unsupported(a, self.scope.parsed.src)
        n = len(node.args)

        def arity(*ok: int) -> None:
            if n not in ok:
                want = " or ".join(str(k) for k in ok)
                raise el.type_error(f"{label}() takes {want} argument{'s' if ok != (1,) else ''} here, got {n}", loc)

        if fn is builtins.len:
            arity(1)
            param = self.array_param(node.args[0])
            if param is None:
                raise self.unsupported("len() is supported on array arguments only", node.args[0])
            return self.dim(param, 0, node)
        if fn is builtins.float and n == 1 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            word = node.args[0].value.strip().lower()
            if word not in _FLOAT_WORDS:
                raise self.unsupported(f"float({node.args[0].value!r}) is not supported", node, "write the number as a literal")
            return el.literal(_FLOAT_WORDS[word], loc)
        if fn in _CASTS and isinstance(fn, type):
            arity(1)
            return el.cast(_CASTS[fn], self.expr(node.args[0]), loc)
        if fn in (builtins.min, builtins.max):
            if n < 2:
                raise self.unsupported(f"{label}() of one iterable is not supported", node, f"write {label}(a, b, ...) of scalars, or a loop")
            acc = self.expr(node.args[0])
            for a in node.args[1:]:
                acc = el.call(fn.__name__, [acc, self.expr(a)], loc)
            return acc
        if fn in (builtins.pow, np.power):
            arity(2)
            return el.binary("**", self.expr(node.args[0]), self.expr(node.args[1]), loc)
        if fn is math.log and n == 2:
            x, base = (el.call("log", [self.expr(a)], loc) for a in node.args)
            return el.binary("/", x, base, loc)
        if fn in _MATH_1:
            arity(1)
            name = _MATH_1[fn]
            arg = self.expr(node.args[0])
            if name == "fabs":  # always a float, like Python's
                return el.call("abs", [self.as_float(arg, loc)], loc)
            if name == "rint":  # np.rint(3) is 3.0
                arg = self.as_float(arg, loc)
            return el.call(name, [arg], loc)
        if fn in (math.floor, math.ceil, math.trunc):
            # Python's math.floor/ceil/trunc return an int
            arity(1)
            arg = self.expr(node.args[0])
            if arg.type.is_int and not arg.weak:
                return arg
            if fn is not math.trunc:
                arg = el.call(fn.__name__, [self.as_float(arg, loc)], loc)
            return el.cast(DType.I64, arg, loc)
        if fn in _MATH_2:
            arity(2)
            return el.call(_MATH_2[fn], [self.float_arg(a) for a in node.args], loc)
        if fn in (builtins.round, np.round, np.around):
            if n == 2:
                raise self.unsupported(f"{label}() with a number of digits is not supported", node.args[1],
                                       "scale, round and scale back: round(x * 100.0) / 100.0")
            arity(1)
            arg = self.expr(node.args[0])
            if arg.type.is_int and not arg.weak:
                return arg
            # half to even, as Python and NumPy round; Python's round returns an int
            x = el.call("rint", [self.as_float(arg, loc)], loc)
            return el.cast(DType.I64, x, loc) if fn is builtins.round else x
        if fn is np.sign:
            arity(1)
            x = self.expr(node.args[0])
            zero = el.literal(0, loc)
            # NumPy's: -1, 0 or 1 of x's type, +0 for both zeros, nan for nan
            rest = el.select(el.binary("==", x, x, loc), zero, x, loc)
            rest = el.select(el.binary("<", x, zero, loc), el.literal(-1, loc), rest, loc)
            return el.select(el.binary(">", x, zero, loc), el.literal(1, loc), rest, loc)
        if fn in (math.isnan, np.isnan):
            arity(1)
            x = self.as_float(self.expr(node.args[0]), loc)
            return el.binary("!=", x, x, loc)
        if fn in (math.isinf, np.isinf):
            arity(1)
            x = el.call("abs", [self.as_float(self.expr(node.args[0]), loc)], loc)
            return el.binary("==", x, el.literal(math.inf, loc), loc)
        if fn in (math.isfinite, np.isfinite):
            arity(1)
            x = el.call("abs", [self.as_float(self.expr(node.args[0]), loc)], loc)
            return el.binary("<", x, el.literal(math.inf, loc), loc)
        if fn is np.absolute:
            arity(1)
            return el.call("abs", [self.expr(node.args[0])], loc)
        if fn is np.square:
            arity(1)
            x = self.expr(node.args[0])
            return el.binary("*", x, x, loc)
        if fn in (np.minimum, np.maximum):
            # NumPy propagates NaN: maximum(a, b) = a if (a > b or a != a) else b
            arity(2)
            a, b = self.expr(node.args[0]), self.expr(node.args[1])
            better = el.binary(">" if fn is np.maximum else "<", a, b, loc)
            if a.type.is_float or b.type.is_float:
                better = el.binary("or", better, el.binary("!=", a, a, loc), loc)
            return el.select(better, a, b, loc)
        if fn is np.clip:
            arity(3)
            x, lo, hi = (self.expr(a) for a in node.args)
            return el.call("min", [el.call("max", [x, lo], loc), hi], loc)
        if fn is np.where:
            arity(3)
            c = self.expr(node.args[0])
            return el.select(c, self.expr(node.args[1]), self.expr(node.args[2]), loc)
        if fn is builtins.range:
            raise self.unsupported("range() is supported only as the iterable of a for loop", node)
        hint = f"known: {KNOWN_CALLABLES}"
        if inspect.isfunction(fn):
            hint = f"decorate '{label}' with @turbo to have it inlined, or {hint}"
        raise self.unsupported(f"'{label}' cannot be called in a kernel", node.func, hint)

    def as_float(self, t: Typed, loc) -> Typed:
        if t.type.is_float:
            return t
        if t.weak:
            return self.el.literal(float(t.expr.value), loc)
        return self.el.cast(self.el.kf, t, loc)

    def float_arg(self, node: ast.expr) -> Typed:
        return self.as_float(self.expr(node), self.loc(node))


def _hashable_or_missing(obj):
    try:
        hash(obj)
    except TypeError:
        return _MISSING
    return obj


def _is_turbo_function(obj) -> bool:
    return getattr(obj, "_is_turbo_function", False) is True


I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
_FOLD_BITS = 4096  # the largest integer folded, in bits: no 10**10**9 at compile time


def _folded_int(node: ast.expr) -> int | None:
    """The value Python gives an expression of integer literals and the operators
    + - * // % ** << >> & | ^ ~, computed exactly; None for anything else, and
    where Python would raise (division by zero, a negative shift or power) or the
    value grows past _FOLD_BITS: those are left to the kernel's own checks."""
    if isinstance(node, ast.Constant):
        return node.value if type(node.value) is int else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Invert)):
        v = _folded_int(node.operand)
        if v is None:
            return None
        return -v if isinstance(node.op, ast.USub) else v if isinstance(node.op, ast.UAdd) else ~v
    if not isinstance(node, ast.BinOp):
        return None
    a, b = _folded_int(node.left), _folded_int(node.right)
    if a is None or b is None:
        return None
    op = type(node.op)
    if op in (ast.FloorDiv, ast.Mod) and b == 0:
        return None
    if op in (ast.LShift, ast.RShift, ast.Pow) and b < 0:
        return None
    if ((op is ast.Pow and a.bit_length() * b > _FOLD_BITS) or (op is ast.LShift and a.bit_length() + b > _FOLD_BITS)
            or (op is ast.Mult and a.bit_length() + b.bit_length() > _FOLD_BITS)):
        return None
    value = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.FloorDiv: lambda: a // b,
             ast.Mod: lambda: a % b, ast.Pow: lambda: a ** b, ast.LShift: lambda: a << b, ast.RShift: lambda: a >> b,
             ast.BitAnd: lambda: a & b, ast.BitOr: lambda: a | b, ast.BitXor: lambda: a ^ b}.get(op)
    return value() if value is not None else None


def _int_literal(node: ast.expr) -> int | None:
    """An integer literal, possibly negated."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_literal(node.operand)
        return -inner if inner is not None else None
    return None


def _unique(base: str, taken) -> str:
    if not _DSL_NAME.match(base):
        base = "v_" + "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in base)
    name = base
    k = 1
    while name in taken or name in RESERVED:
        name = f"{base}_{k}"
        k += 1
    return name


def _arg_node(parsed: ParsedFunction, pyname: str) -> ast.arg:
    a = parsed.node.args
    return next(p for p in (*a.posonlyargs, *a.args) if p.arg == pyname)


def dim_names(parsed: ParsedFunction, count: int) -> list[str]:
    """Names for the distinct dims of a signature, clear of every name in the source."""
    avoid = {n.id for n in ast.walk(parsed.node) if isinstance(n, ast.Name)} | set(parsed.params) | RESERVED
    out: list[str] = []
    k = 0
    while len(out) < count:
        if f"n{k}" not in avoid:
            out.append(f"n{k}")
        k += 1
    return out


def translate(parsed: ParsedFunction, specs: tuple[Spec, ...]) -> ir.Kernel:
    """The IR of ``parsed`` for one signature; raises located ``TurboError``\\s."""
    try:
        return Translator(parsed, specs).kernel()
    except RecursionError:
        raise UnsupportedError(f"'{parsed.name}' is nested too deeply to compile", parsed.loc) from None
