"""Where a finding is: a file (code, or a docs/record file and maybe a line), a run, a pair of runs, or the two
groups of a comparison.

Each kind answers the questions the reports ask (`path`/`line`/`col`, the run or group `names`, how to show
and sort it), so no reporter looks inside a dict. `to_json()` is the contract's dict (CONTRACT.md, JSON
report), which the fingerprints hash; `location_from_json` reads it back (caches, nightly state, plugins).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Mapping, Union

Quote = Callable[[str], str]


class Location(ABC):
    """What every kind answers; None (or no names) where it does not apply."""

    path: str | None
    line: int | None
    col: int | None  # 0-based, as in the JSON report
    names: tuple[str, ...]  # the runs or groups the finding is about

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The contract's dict for this kind."""

    def sort_key(self) -> tuple[str, int, int]:
        """Files and subjects in one order: by path or names, then line and column."""
        return (self.path or "/".join(self.names), self.line or 0, self.col or 0)

    @abstractmethod
    def subject(self) -> str:
        """What the finding is about, as the text report heads its group: the path, `run X`, `runs A vs B`."""

    @abstractmethod
    def display(self, quote: Quote = str) -> str:
        """A short label for a table cell or an annotation, each name passed through `quote` (Markdown or
        HTML code): `path:line`, `run X`, `A vs B`."""


class _File(Location):
    names = ()

    def subject(self) -> str:
        return self.path

    def display(self, quote: Quote = str) -> str:
        return quote(f"{self.path}:{self.line}" if self.line else self.path)


@dataclass(frozen=True)
class CodeLocation(_File):
    path: str
    line: int
    col: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "col": self.col}


@dataclass(frozen=True)
class FileLocation(_File):
    """A file and, when known, a line; no column: a docs claim, an input file that could not be read."""

    path: str
    line: int | None = None
    col = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, **({"line": self.line} if self.line is not None else {})}


class _Subject(Location):
    """Runs or groups: no file."""

    path = line = col = None


@dataclass(frozen=True)
class RunLocation(_Subject):
    run: str

    @property
    def names(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.run,)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run}

    def subject(self) -> str:
        return f"run {self.run}"

    def display(self, quote: Quote = str) -> str:
        return f"run {quote(self.run)}"


@dataclass(frozen=True)
class _Pair(_Subject):
    """Subjects compared, shown `A vs B`."""

    names: tuple[str, ...]
    key: ClassVar[str] = ""  # the JSON key, also the text report's noun

    def to_json(self) -> dict[str, Any]:
        return {self.key: list(self.names)}

    def subject(self) -> str:
        return f"{self.key} " + " vs ".join(self.names)

    def display(self, quote: Quote = str) -> str:
        return " vs ".join(map(quote, self.names))


@dataclass(frozen=True)
class RunPairLocation(_Pair):
    key: ClassVar[str] = "runs"


@dataclass(frozen=True)
class GroupsLocation(_Pair):
    """The baseline and treatment groups of a comparison."""

    key: ClassVar[str] = "groups"


LocationLike = Union[Location, Mapping[str, Any]]


def location_from_json(data: Mapping[str, Any]) -> Location:
    """The location a contract dict describes; a dict of any other shape is a ValueError naming it."""
    keys = set(data)
    if keys == {"path", "line", "col"}:
        return CodeLocation(str(data["path"]), int(data["line"]), int(data["col"]))
    if "path" in keys and keys <= {"path", "line"}:
        return FileLocation(str(data["path"]), int(data["line"]) if "line" in data else None)
    if keys == {"run"}:
        return RunLocation(str(data["run"]))
    for kind in (RunPairLocation, GroupsLocation):
        if keys == {kind.key} and isinstance(data[kind.key], (list, tuple)):
            return kind(tuple(map(str, data[kind.key])))
    raise ValueError(f"not a finding location: {dict(data)!r} (one of {{path, line, col}}, {{path, line}}, "
                     f"{{path}}, {{run}}, {{runs: [A, B]}}, {{groups: [BASELINE, TREATMENT]}})")


def as_location(location: LocationLike) -> Location:
    """A typed location, from one or from its dict (what rules and plugins written before the types pass)."""
    return location if isinstance(location, Location) else location_from_json(location)
