"""Errors that reach the user as one clear line and exit code 2, never as a traceback."""

from __future__ import annotations


class InputError(Exception):
    """Input that was asked for is unusable: names the file, the line (or field) and what is wrong."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.field = field

    def __str__(self) -> str:
        where = ""
        if self.path:
            where = str(self.path)
            if self.line:
                where += f":{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


class UsageError(InputError):
    """A command was called in a way that cannot work (unknown run id, missing option...)."""
