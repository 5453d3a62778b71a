"""Errors raised by directory/.

    DirectoryError            anything directory/ could not do
    ├── ImportRowError        one bad line of an imported CSV file (row, column, reason)
    ├── ImportRejected        an import refused as a whole; ``errors`` lists every bad row
    ├── UnknownUnit           no unit has this id or address (``key``)
    └── StoreError            the SQLite store could not be opened, read or written

An :class:`ImportRowError` is also the *value* an import summary lists for each
row that was skipped with ``partial=True``: it is raised only inside
:class:`ImportRejected`, never alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbase import Reason


class DirectoryError(Exception):
    """directory/ could not do what was asked; the message says what and where."""


class ImportRowError(DirectoryError):
    """One bad row of an imported file: its line number, the column and the reason.

    ``row`` is the line number in the file (1 is the header), ``column`` the CSV
    column at fault (``None`` when the whole row is), ``problem`` what is wrong (a
    code of directory/problems.py with its values), ``reason`` its English text and
    ``value`` the offending value, if any.
    """

    def __init__(self, row: int, column: str | None, problem: Reason, *,
                 value: str = "") -> None:
        where = f"line {row}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {problem.text}")
        self.row = row
        self.column = column
        self.problem = problem
        self.reason = problem.text
        self.value = value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImportRowError):
            return NotImplemented
        return (self.row, self.column, self.reason) == (other.row, other.column, other.reason)

    def __hash__(self) -> int:
        return hash((self.row, self.column, self.reason))

    def __repr__(self) -> str:
        return f"ImportRowError({self.row!r}, {self.column!r}, {self.reason!r})"


class ImportRejected(DirectoryError):
    """The file was not imported at all: every bad row is listed in ``errors``."""

    def __init__(self, source: str, errors: Sequence[ImportRowError]) -> None:
        lines = "\n".join(f"  {error}" for error in errors)
        super().__init__(
            f"{source}: nothing imported, {len(errors)} problem(s) found "
            f"(fix them, or import the good rows with --partial):\n{lines}"
        )
        self.source = source
        self.errors = tuple(errors)


class UnknownUnit(DirectoryError, LookupError):
    """No unit has this id or address; ``key`` is what was asked for."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no unit has the id or address {key!r}")
        self.key = key


class StoreError(DirectoryError):
    """The directory's store could not be used; ``path`` names it (a file or a url),
    ``problem`` says why (a code of directory/problems.py), ``reason`` in English."""

    def __init__(self, path: str, problem: Reason) -> None:
        super().__init__(f"{path}: {problem.text}")
        self.path = path
        self.problem = problem
        self.reason = problem.text
