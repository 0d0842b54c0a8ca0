"""Errors einsim raises for bad input.

Every user-facing error is an `EinsimError` whose `str()` is one paragraph: where (file:line:col when
the input is a cascade file), the offending text, what is wrong and what to change. The CLI prints it
and exits 2; no Python traceback ever reaches the user for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass


class EinsimError(ValueError):
    """Bad input to einsim (malformed cascade, wrong spec, impossible mapping)."""


@dataclass(frozen=True)
class SourceLocation:
    """A position in a cascade source: file name (or '<string>'), 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class CascadeError(EinsimError):
    """An error at a place in a cascade source."""

    def __init__(self, loc: SourceLocation | None, problem: str, fix: str, text: str = "") -> None:
        self.loc = loc
        self.problem = problem
        self.fix = fix
        self.text = text
        where = f"{loc}: " if loc is not None else ""
        shown = f" in `{text.strip()}`" if text.strip() else ""
        super().__init__(f"{where}{problem}{shown}. {fix}")
