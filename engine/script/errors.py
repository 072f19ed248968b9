"""Reload failures: :class:`ScriptError` carries the engine's script error code and where it happened."""

from __future__ import annotations

# Error codes of the ScriptError variable (core-website script_reference/error.md).
GENERAL = 1
SYNTAX = 2
FILE_NOT_FOUND = 8
TABLE_NOT_FOUND = 10
FIELD_NOT_FOUND = 11
WRONG_FORMAT = 12
SEMANTIC = 16
CONNECTOR = 20


class ScriptError(Exception):
    """A reload stopped on an error: ``message`` is what the log shows after ``Error:``."""

    def __init__(self, message: str, line: int = 0, column: int = 0, statement_text: str = "",
                 code: int = GENERAL) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.statement_text = statement_text
        self.code = code

    def __str__(self) -> str:
        where = f" (line {self.line}, column {self.column})" if self.line else ""
        return f"{self.message}{where}"


class ReloadCancelled(Exception):
    """The reload was cancelled through its ``cancel`` event; ``line`` and ``statement_text`` say which
    statement was running (0 / empty when none was)."""

    def __init__(self, message: str = "Reload cancelled", line: int = 0, statement_text: str = "") -> None:
        super().__init__(message)
        self.line = line
        self.statement_text = statement_text


class StatementError(Exception):
    """Raised inside a statement; the runner adds the position and turns it into a ScriptError."""

    def __init__(self, message: str, code: int = GENERAL) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
