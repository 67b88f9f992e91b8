"""Errors users see.

Every error caused by user input carries a source location and renders the
offending line with a caret under the column, followed by what was expected.
Errors from Lark, llvmlite or LLVM are caught at the boundary and re-raised as
one of these; they never reach the user raw.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A position in user source: 1-based line and column."""

    filename: str
    line: int
    column: int
    source_line: str = ""
    length: int = 1

    def render(self) -> str:
        head = f'  File "{self.filename}", line {self.line}, column {self.column}'
        if not self.source_line:
            return head
        text = self.source_line.rstrip("\n").expandtabs(4)
        stripped = text.lstrip()
        indent = len(text) - len(stripped)
        caret_col = max(self.column - 1 - indent, 0)
        carets = "^" * max(1, min(self.length, len(stripped) - caret_col))
        return f"{head}\n    {stripped}\n    {' ' * caret_col}{carets}"


class TurboError(Exception):
    """Base class of every error turbo raises on purpose."""

    def __init__(self, message: str, loc: SourceLocation | None = None, hint: str | None = None):
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(self._format())

    @property
    def line(self) -> int | None:
        return self.loc.line if self.loc else None

    @property
    def column(self) -> int | None:
        return self.loc.column if self.loc else None

    @property
    def filename(self) -> str | None:
        return self.loc.filename if self.loc else None

    def _format(self) -> str:
        parts = [self.message]
        if self.loc is not None:
            parts.append(self.loc.render())
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class DSLSyntaxError(TurboError, SyntaxError):
    """The source text does not follow the grammar."""

    def __init__(self, message: str, loc: SourceLocation | None = None, hint: str | None = None):
        TurboError.__init__(self, message, loc, hint)

    def __str__(self) -> str:  # SyntaxError.__str__ would drop our caret snippet
        return self._format()


class DSLSemanticError(TurboError):
    """The program parses but means nothing: undefined name, bad types, ..."""


class DSLTypeError(DSLSemanticError, TypeError):
    """A type rule of the language is violated."""


class UnsupportedError(TurboError):
    """A construct turbo does not compile (used by the Python frontend)."""


class ScheduleError(TurboError, ValueError):
    """A schedule the user asked for (``vectorize=``, ``unroll=``) is illegal for
    the loops it names, or names no loop."""


class DifferentiationError(TurboError, ValueError):
    """``turbo.pullback`` cannot differentiate a kernel correctly; points at the
    statement or expression that stops it, and says what would work."""


class FallbackWarning(RuntimeWarning):
    """A ``@turbo(fallback=True)`` function runs as plain Python; says where and why."""


class ArgumentError(TurboError):
    """Base of the argument-check errors raised when a kernel is called."""


class ArgumentTypeError(ArgumentError, TypeError):
    """Wrong kind of argument: dtype, ndim, a non-array for an array, count."""


class ArgumentValueError(ArgumentError, ValueError):
    """Right kind, wrong value: inconsistent or wrong dims, a read-only output."""


class KernelIndexError(TurboError, IndexError):
    """A checked array access was out of bounds while the kernel ran."""


class KernelRuntimeError(TurboError, ValueError):
    """A run-time rule was violated inside a kernel (zero loop step, negative int power)."""


class KernelZeroDivisionError(TurboError, ZeroDivisionError):
    """Integer division or modulo by zero inside a kernel."""


class CompilerError(TurboError):
    """An internal failure: names the pass and shows the IR. Always a turbo bug."""

    def __init__(self, message: str, pass_name: str, ir_text: str | None = None):
        self.pass_name = pass_name
        self.ir_text = ir_text
        text = f"internal compiler error in pass '{pass_name}': {message}"
        if ir_text:
            text += "\n--- IR ---\n" + ir_text
        text += "\nThis is a bug in turbo; please report it with the kernel source."
        super().__init__(text)
