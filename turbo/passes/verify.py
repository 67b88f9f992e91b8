"""The IR verifier: invariants every pass must preserve.

Run by ``pipeline`` after each pass when ``TURBO_VERIFY=1`` or ``TURBO_DEBUG`` is
set, and always by the tests. A violation is a turbo bug: it raises
``CompilerError`` naming the pass that produced the IR, with the IR printed.
"""

from __future__ import annotations

from .. import ir
from ..errors import CompilerError
from ..ir import DType


class _Violation(Exception):
    pass


def verify(kernel: ir.Kernel, after_pass: str = "frontend") -> ir.Kernel:
    try:
        _Verifier(kernel).run()
    except _Violation as e:
        raise CompilerError(str(e), after_pass, str(kernel)) from None
    return kernel


class _Verifier:
    def __init__(self, k: ir.Kernel):
        self.k = k
        self.arrays = {p.name: p for p in k.arrays}
        self.scalars = {p.name: p.dtype for p in k.scalars}
        self.dims = set(k.dims)
        self.locals = ir.local_types(k)
        names = [p.name for p in k.params]
        if len(set(names)) != len(names):
            raise _Violation("duplicate parameter names")

    def run(self) -> None:
        self.block(self.k.body, {})
        for s in ir.walk_stmts(self.k.body[:-1]):
            if isinstance(s, ir.Return):
                raise _Violation("return is not the last statement of the kernel")
        for s in ir.walk_stmts(self.k.body[-1:]):
            if isinstance(s, ir.Return) and s is not self.k.body[-1]:
                raise _Violation("return inside a block")

    def block(self, body, indices: dict[str, DType], loops: int = 0) -> None:
        for s in body:
            if isinstance(s, ir.While):
                self.expect(s.cond, DType.BOOL, indices, "while condition")
                self.block(s.body, indices, loops + 1)
            elif isinstance(s, (ir.Break, ir.Continue)):
                if not loops:
                    raise _Violation(f"{type(s).__name__.lower()} outside a loop")
            elif isinstance(s, ir.For):
                for e in (s.start, s.stop, s.step):
                    self.expect(e, DType.I64, indices, "loop bound")
                if s.index in indices or s.index in self.locals or s.index in self.arrays or s.index in self.scalars or s.index in self.dims:
                    raise _Violation(f"loop index '{s.index}' shadows another name")
                self.block(s.body, {**indices, s.index: DType.I64}, loops + 1)
            elif isinstance(s, ir.Assign):
                if s.name not in self.locals:
                    raise _Violation(f"assignment to unknown local '{s.name}'")
                self.expect(s.value, self.locals[s.name], indices, f"value of '{s.name}'")
                self.check_update(s.op, s.value.type)
            elif isinstance(s, ir.Store):
                p = self.arrays.get(s.array)
                if p is None:
                    raise _Violation(f"store to '{s.array}', which is not an array parameter")
                self.indices(p, s.indices, indices)
                self.expect(s.value, p.dtype, indices, f"value stored to '{s.array}'")
                self.check_update(s.op, p.dtype)
            elif isinstance(s, ir.Return):
                self.expr(s.value, indices)
            elif isinstance(s, ir.If):
                self.expect(s.cond, DType.BOOL, indices, "if condition")
                self.block(s.then, indices, loops)
                self.block(s.orelse, indices, loops)
            else:
                raise _Violation(f"not a statement: {s!r}")

    def check_update(self, op, t: DType) -> None:
        if op is None:
            return
        if op not in ir.UPDATE_OPS:
            raise _Violation(f"unknown update operator '{op}='")
        if t is DType.BOOL or (op == "/" and t.is_int):
            raise _Violation(f"'{op}=' on {t}")

    def indices(self, p: ir.ArrayParam, idx, indices) -> None:
        if len(idx) != p.ndim:
            raise _Violation(f"'{p.name}' has {p.ndim} dims, indexed with {len(idx)}")
        for i in idx:
            self.expect(i, DType.I64, indices, f"index of '{p.name}'")

    def expect(self, e: ir.Expr, t: DType, indices, what: str) -> None:
        got = self.expr(e, indices)
        if got is not t:
            raise _Violation(f"{what} has type {got}, expected {t}: {ir.print_expr(e)}")

    def expr(self, e: ir.Expr, indices) -> DType:
        if isinstance(e, ir.Const):
            ok = isinstance(e.value, bool) if e.type is DType.BOOL else (
                isinstance(e.value, float) if e.type.is_float else isinstance(e.value, int) and not isinstance(e.value, bool))
            if not ok:
                raise _Violation(f"constant {e.value!r} does not match its type {e.type}")
            return e.type
        if isinstance(e, ir.Var):
            want = indices.get(e.name) or self.locals.get(e.name) or self.scalars.get(e.name) or (DType.I64 if e.name in self.dims else None)
            if want is None:
                raise _Violation(f"undefined name '{e.name}'")
            if want is not e.type:
                raise _Violation(f"'{e.name}' has type {want} but is used as {e.type}")
            return e.type
        if isinstance(e, ir.Load):
            p = self.arrays.get(e.array)
            if p is None:
                raise _Violation(f"load from '{e.array}', which is not an array parameter")
            self.indices(p, e.indices, indices)
            if e.type is not p.dtype:
                raise _Violation(f"load from '{e.array}' typed {e.type}, array is {p.dtype}")
            return e.type
        if isinstance(e, ir.Cast):
            self.expr(e.operand, indices)
            return e.to
        if isinstance(e, (ir.Binary, ir.Unary, ir.Call)) and e.type.is_narrow and e.type is not DType.I16:
            # the frontends widen narrow values to i64; passes/narrow.py computes in i16
            # where the values provably fit, and never in an unsigned type
            raise _Violation(f"operation on {e.type}, which computes as i64")
        if isinstance(e, ir.Unary):
            t = self.expr(e.operand, indices)
            ok = {"not": t is DType.BOOL, "neg": t is e.type and t is not DType.BOOL,
                  "invert": t is e.type and t.is_int}.get(e.op, False)
            if not ok:
                raise _Violation(f"bad operand {t} for unary {e.op}")
            return e.type
        if isinstance(e, ir.Binary):
            a, b = self.expr(e.left, indices), self.expr(e.right, indices)
            if a is not b:
                raise _Violation(f"operands of '{e.op}' differ: {a} and {b}")
            if e.op in ir.LOGIC_OPS:
                ok = a is DType.BOOL and e.type is DType.BOOL
            elif e.op in ir.COMPARE_OPS:
                ok = e.type is DType.BOOL and (a is not DType.BOOL or e.op in ("==", "!="))
            elif e.op in ir.ARITH_OPS:
                ok = a is e.type and a is not DType.BOOL and not (e.op == "/" and a.is_int)
            elif e.op in ir.BITWISE_OPS:
                ok = a is e.type and (a.is_int or (a is DType.BOOL and e.op in ("&", "|", "^")))
            else:
                ok = False
            if not ok:
                raise _Violation(f"operator '{e.op}' on {a} giving {e.type}")
            return e.type
        if isinstance(e, ir.Select):
            self.expect(e.cond, DType.BOOL, indices, "select condition")
            a, b = self.expr(e.if_true, indices), self.expr(e.if_false, indices)
            if a is not b or a is not e.type:
                raise _Violation(f"select arms {a} and {b} typed {e.type}")
            return e.type
        if isinstance(e, ir.Call):
            if e.fn not in ir.MATH_FUNCTIONS:
                raise _Violation(f"unknown function {e.fn}")
            arity, kind = ir.MATH_FUNCTIONS[e.fn]
            if len(e.args) != arity:
                raise _Violation(f"{e.fn} takes {arity} arguments")
            for a in e.args:
                if self.expr(a, indices) is not e.type:
                    raise _Violation(f"argument of {e.fn} is not {e.type}")
            if e.type is DType.BOOL or (kind == "float" and not e.type.is_float):
                raise _Violation(f"{e.fn} typed {e.type}")
            return e.type
        raise _Violation(f"not an expression: {e!r}")
