"""The DSL frontend: source text -> Lark tree -> typed Loop IR.

``parse(source, filename)`` is the only entry point. Lark errors are turned into
``DSLSyntaxError`` with a caret snippet; they never reach the user raw.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import pathlib

import lark
from lark import Token, Tree

from .. import ir
from ..errors import DSLSemanticError, DSLSyntaxError, SourceLocation
from ..elaborate import MAX_EXPR_DEPTH, MAX_STMT_DEPTH, RESERVED, TYPE_NAMES, Elaborator, Typed, elaborate_body

_GRAMMAR = pathlib.Path(__file__).with_name("loops.lark")

# What the user should read instead of Lark's terminal names.
_TERMINAL_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "ASSIGN": "'=' or 'op='",
    "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/', '//' or '%'",
    "SHIFT_OP": "'<<' or '>>'", "VBAR": "'|'", "CIRCUMFLEX": "'^'", "AMPERSAND": "'&'", "TILDE": "'~'",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "COLON": "':'", "COMMA": "','", "SEMICOLON": "';'", "MINUS": "'-'", "PLUS": "'+'", "__ANON_0": "'**'",
    "IN": "'in'", "RETURN": "'return'", "FOR": "'for'", "IF": "'if'", "ELSE": "'else'", "ELIF": "'elif'", "KERNEL": "'kernel'",
    "$END": "end of input", "_NL": "a new line",
}


class _BracketNewlines:
    """Postlexer: newlines inside ( ) and [ ] are whitespace; runs of them are one."""

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0
        last_nl = False
        for tok in stream:
            if tok.type == "_NL":
                if depth > 0 or last_nl:
                    continue
                last_nl = True
                yield tok
                continue
            last_nl = False
            if tok.type in ("LPAR", "LSQB"):
                depth += 1
            elif tok.type in ("RPAR", "RSQB"):
                depth = max(depth - 1, 0)
            yield tok


def _parser_cache_path(grammar: str) -> str | bool:
    """Where Lark keeps its analysed grammar between processes (building the LALR
    tables costs ~70 ms, loading them ~5 ms). Lark's own ``cache=True`` keys the file
    on the postlexer's repr, an address that changes every run, so it never hits:
    the path is given explicitly, keyed on the grammar and Lark's version."""
    from ..runtime.cache import cache_dir

    d = cache_dir()
    if d is None:
        return False
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    digest = hashlib.sha256(f"{lark.__version__}\0{grammar}".encode()).hexdigest()[:16]
    return str(d / f"lark-{digest}.cache")


@functools.lru_cache(maxsize=1)
def _parser() -> lark.Lark:
    grammar = _GRAMMAR.read_text()
    return lark.Lark(
        grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False,
        postlex=_BracketNewlines(), cache=_parser_cache_path(grammar),
    )


class _Source:
    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self.lines = text.splitlines()

    def loc(self, line: int | None, column: int | None, length: int = 1) -> SourceLocation | None:
        if line is None:
            return None
        src = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return SourceLocation(self.filename, line, column or 1, src, max(1, length))

    def of(self, node: Tree | Token) -> SourceLocation | None:
        if isinstance(node, Token):
            return self.loc(node.line, node.column, len(str(node)))
        meta = node.meta
        if getattr(meta, "empty", True):
            return None
        length = meta.end_column - meta.column if meta.end_line == meta.line else len(self.lines[meta.line - 1]) - meta.column + 1
        return self.loc(meta.line, meta.column, length)


def parse(source: str, filename: str = "<string>") -> ir.Module:
    """Parse DSL source into a typed ``ir.Module``; raises ``TurboError`` subclasses only."""
    if not isinstance(source, str):
        raise TypeError(f"turbo source must be a str, got {type(source).__name__}")
    src = _Source(source, filename)
    try:
        tree = _parser().parse(source)
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, src) from None
    except RecursionError:
        raise DSLSyntaxError("program is nested too deeply to parse", src.loc(1, 1)) from None
    try:
        kernels = []
        seen: dict[str, ir.Kernel] = {}
        for node in tree.children:
            k = _Builder(src).kernel(node)
            if k.name in seen:
                raise DSLSemanticError(f"kernel '{k.name}' is defined twice", k.loc, f"first defined on line {seen[k.name].loc.line}")
            seen[k.name] = k
            kernels.append(k)
    except RecursionError:
        raise DSLSyntaxError("expression is nested too deeply", src.loc(1, 1)) from None
    return ir.Module(tuple(kernels))


def _syntax_error(e: lark.exceptions.UnexpectedInput, src: _Source) -> DSLSyntaxError:
    line, col = getattr(e, "line", None), getattr(e, "column", None)
    if line is None or line < 1:
        line, col = max(len(src.lines), 1), (len(src.lines[-1]) + 1 if src.lines else 1)
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        ch = src.text[e.pos_in_stream] if 0 <= e.pos_in_stream < len(src.text) else "?"
        return DSLSyntaxError(f"unexpected character {ch!r}", src.loc(line, col), _expect_hint(e.allowed))
    if isinstance(e, lark.exceptions.UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            return DSLSyntaxError("unexpected end of input", src.loc(line, col), _expect_hint(e.expected) or "a '}' may be missing")
        text = str(tok)
        msg = f"unexpected {text!r}"
        hint = _expect_hint(e.expected)
        if text in ("==",) and "ASSIGN" in (e.expected or ()):
            hint = "use '=' to assign"
        return DSLSyntaxError(msg, src.loc(tok.line, tok.column, len(text)), hint)
    return DSLSyntaxError("unexpected end of input", src.loc(line, col), "a '}' may be missing")


def _expect_hint(expected) -> str | None:
    if not expected:
        return None
    words = sorted({_TERMINAL_WORDS.get(t, f"'{t.lower()}'" if t.isalpha() else t) for t in expected})
    if len(words) > 8:
        return None
    return "expected " + (words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1])



class _Builder:
    """Translates one kernel's Lark tree; all meaning is in ``Elaborator``."""

    def __init__(self, src: _Source):
        self.src = src
        self.expr_depth = 0
        self.stmt_depth = 0

    def kernel(self, node: Tree) -> ir.Kernel:
        name_tok, *rest = node.children
        block = rest[-1]
        params = tuple(self.param(p) for p in rest[:-1])
        loc = self.src.of(name_tok)
        self._check_params(params)
        body = elaborate_body(params, lambda el: self.block(el, block, top=True))
        return ir.Kernel(str(name_tok), params, body, loc)

    def param(self, node: Tree) -> ir.Param:
        name, type_tok, *shape = node.children
        loc = self.src.of(name)
        if str(type_tok) not in TYPE_NAMES:
            raise DSLSemanticError(
                f"unknown element type '{type_tok}'", self.src.of(type_tok),
                "element types are f32, f64, i32, i64, bool, and for arrays i8, u8, i16, u16, u32"
            )
        dtype = TYPE_NAMES[str(type_tok)]
        if not shape:
            if dtype.is_narrow:
                raise DSLSemanticError(f"a scalar parameter cannot be {dtype}", self.src.of(type_tok),
                                       "declare it i64: narrow integers compute as i64 anyway")
            return ir.ScalarParam(str(name), dtype, loc)
        dims: list[int | str] = []
        for d in shape[0].children:
            tok = d.children[0]
            if tok.type == "INT":
                dims.append(int(tok))
            else:
                if str(tok) in RESERVED:
                    raise DSLSemanticError(f"'{tok}' is a reserved name and cannot be a dimension", self.src.of(tok))
                dims.append(str(tok))
        return ir.ArrayParam(str(name), dtype, tuple(dims), loc)

    def _check_params(self, params: tuple[ir.Param, ...]) -> None:
        names: dict[str, ir.Param] = {}
        for p in params:
            if p.name in RESERVED:
                raise DSLSemanticError(f"'{p.name}' is a reserved name and cannot be a parameter", p.loc)
            if p.name in names:
                raise DSLSemanticError(f"parameter '{p.name}' is declared twice", p.loc)
            names[p.name] = p
        for p in params:
            if isinstance(p, ir.ArrayParam):
                for d in p.shape:
                    if isinstance(d, str) and d in names:
                        raise DSLSemanticError(
                            f"dimension '{d}' of '{p.name}' has the name of a parameter", p.loc, "use distinct names for dims"
                        )

    # ------------------------------------------------------------------ statements

    def block(self, el: Elaborator, node: Tree, top: bool = False) -> tuple[ir.Stmt, ...]:
        self.stmt_depth += 1
        try:
            if self.stmt_depth > MAX_STMT_DEPTH:
                raise DSLSyntaxError(f"blocks are nested more than {MAX_STMT_DEPTH} deep", self.src.of(node))
            stmts = node.children
            for k, s in enumerate(stmts):
                if s.data == "return_stmt" and not (top and k == len(stmts) - 1):
                    raise DSLSemanticError(
                        "'return' must be the last statement of the kernel", self.src.of(s),
                        "assign the result to a local and return it at the end",
                    )
            return tuple(self.stmt(el, s) for s in stmts)
        finally:
            self.stmt_depth -= 1

    def stmt(self, el: Elaborator, node: Tree) -> ir.Stmt:
        kind = node.data
        if kind == "assign":
            name, op_tok, value = node.children
            return el.assign(str(name), _update_op(op_tok), self.expr(el, value), self.src.of(node))
        if kind == "store":
            name, exprs, op_tok, value = node.children
            idx = [self.expr(el, e) for e in exprs.children]
            locs = [self.src.of(e) for e in exprs.children]
            return el.store(str(name), idx, locs, _update_op(op_tok), self.expr(el, value), self.src.of(node))
        if kind == "for_stmt":
            *specs, block = node.children
            parallel = bool(specs) and isinstance(specs[0], Token) and specs[0].type == "PARALLEL"
            loop = self._loops(el, specs[1:] if parallel else specs, block)
            return dataclasses.replace(loop, parallel=True) if parallel else loop
        if kind == "if_stmt":
            cond, then_block, *clauses = node.children
            return self._if(el, cond, then_block, clauses)
        if kind == "while_stmt":
            cond, block = node.children
            return el.while_stmt(self.expr(el, cond), self.src.of(cond), lambda: self.block(el, block))
        if kind in ("break_stmt", "continue_stmt"):
            return el.loop_exit(kind.split("_")[0], self.src.of(node.children[0]))
        if kind == "return_stmt":
            return el.ret(self.expr(el, node.children[0]), self.src.of(node))
        raise DSLSyntaxError(f"unexpected statement {kind}", self.src.of(node))  # pragma: no cover

    def _loops(self, el: Elaborator, specs: list[Tree], block: Tree) -> ir.For:
        spec = specs[0]
        index_tok, *bounds = spec.children
        typed = [self.expr(el, b) for b in bounds]
        locs = [self.src.of(b) for b in bounds]
        start, stop, step, saved = el.begin_loop(
            str(index_tok), typed[0], typed[1], typed[2] if len(typed) > 2 else None, self.src.of(index_tok), locs
        )
        if len(specs) > 1:
            body = (self._loops(el, specs[1:], block),)
        else:
            body = self.block(el, block)
        el.end_loop(str(index_tok), saved)
        return ir.For(str(index_tok), start, stop, step, body, self.src.of(index_tok))

    def _if(self, el: Elaborator, cond: Tree, then_block: Tree, clauses: list[Tree]) -> ir.If:
        def orelse() -> tuple[ir.Stmt, ...]:
            if not clauses:
                return ()
            first, *more = clauses
            if first.data == "elif_clause":
                return (self._if(el, first.children[0], first.children[1], more),)
            return self.block(el, first.children[0])

        return el.if_stmt(self.expr(el, cond), self.src.of(cond), lambda: self.block(el, then_block), orelse)

    # ------------------------------------------------------------------ expressions

    def expr(self, el: Elaborator, node: Tree | Token) -> Typed:
        self.expr_depth += 1
        try:
            if self.expr_depth > MAX_EXPR_DEPTH:
                raise DSLSyntaxError(
                    f"expression is nested more than {MAX_EXPR_DEPTH} deep", self.src.of(node),
                    "split it with intermediate locals",
                )
            return self._expr(el, node)
        finally:
            self.expr_depth -= 1

    def _expr(self, el: Elaborator, node: Tree | Token) -> Typed:
        loc = self.src.of(node)
        kind = node.data
        ch = node.children
        if kind == "int_lit":
            return el.literal(int(ch[0]), loc)
        if kind == "float_lit":
            return el.literal(float(ch[0]), loc)
        if kind == "true_lit":
            return el.literal(True, loc)
        if kind == "false_lit":
            return el.literal(False, loc)
        if kind == "name":
            return el.name(str(ch[0]), loc)
        if kind == "load":
            idx = [self.expr(el, e) for e in ch[1].children]
            return el.load(str(ch[0]), idx, loc, [self.src.of(e) for e in ch[1].children])
        if kind == "call":
            args = [self.expr(el, e) for e in ch[1].children] if len(ch) > 1 else []
            return el.call(str(ch[0]), args, loc)
        if kind == "neg":
            return el.unary_neg(self.expr(el, ch[0]), loc)
        if kind == "pos":
            t = self.expr(el, ch[0])
            if t.type is ir.DType.BOOL:
                raise el.type_error("unary '+' needs a number, got bool", loc)
            return t
        if kind == "not_op":
            return el.unary_not(self.expr(el, ch[0]), loc)
        if kind == "invert":
            return el.unary_invert(self.expr(el, ch[0]), loc)
        if kind in _BITWISE:
            return el.binary(_BITWISE[kind], self.expr(el, ch[0]), self.expr(el, ch[1]), loc)
        if kind in ("binop", "compare"):
            a, op, b = ch
            return el.binary(str(op), self.expr(el, a), self.expr(el, b), self.src.of(op))
        if kind == "pow_op":
            return el.binary("**", self.expr(el, ch[0]), self.expr(el, ch[1]), loc)
        if kind == "and_op":
            return el.binary("and", self.expr(el, ch[0]), self.expr(el, ch[1]), loc)
        if kind == "or_op":
            return el.binary("or", self.expr(el, ch[0]), self.expr(el, ch[1]), loc)
        if kind == "ternary":
            a, c, b = ch
            return el.select(self.expr(el, c), self.expr(el, a), self.expr(el, b), loc)
        raise DSLSyntaxError(f"unexpected expression {kind}", loc)  # pragma: no cover


_BITWISE = {"bitor_op": "|", "bitxor_op": "^", "bitand_op": "&"}


def _update_op(tok: Token) -> str | None:
    text = str(tok)
    return None if text == "=" else text[0]
