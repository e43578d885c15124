"""The exceptions listkit raises.

Every error is a ``ValueError`` (as email-validator's are) so callers that only want "bad input"
can catch one type. Each message is one sentence a person can act on: which file, which row or
column, what is wrong, and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

from listkit.privacy import redact


class ListkitError(ValueError):
    """Base class of every error listkit raises on purpose."""


class InputError(ListkitError):
    """An input file cannot be read as the contract describes.

    ``file``, ``row`` (1 = first data row) and ``column`` locate the problem where known;
    ``problem`` says what is wrong and ``hint`` what to do. The message never shows an address
    from the data: address-like text in ``problem``, ``column`` and ``hint`` is masked
    (:func:`listkit.privacy.redact`; the file's path is the user's own and is kept).
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = redact(column) if column is not None else None
        self.problem = redact(problem)
        self.hint = redact(hint) if hint is not None else None
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = (", ".join(where) + ": " if where else "") + self.problem
        if self.hint:
            text += f"; {self.hint}"
        return text if text.endswith(".") else text + "."


class MissingColumnError(InputError):
    """A required column is absent (the message lists the headers that were found)."""


class ConfigError(ListkitError):
    """A policy file, option or parameter is invalid."""


class OutputError(ListkitError):
    """The output folder cannot be written."""
