"""The project index: what every function in the scanned tree does that matters for reproducibility.

Per file, `summarize_source` walks Python's `ast` once and records, per function (and per module-level
code), an ordered list of events: calls, RNG seeding and consumption, determinism settings,
quantization hooks, checkpoint loads, validation calls, tracker starts. The summary is plain data
(JSON round-trip, picklable) so the engine can cache it per file content. `build_project_index`
joins the summaries: calls resolve to project functions across files, entry points are found, and
the transitive closure over the call graph answers "does this entry point seed numpy?".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MODULE_CODE = "<module>"  # the pseudo-function holding a module's top-level code


@dataclass(slots=True)
class Event:
    kind: str  # call | seed | consume | determinism | quant | load | validate | tracker | train | dataloader
    target: str  # qualified name of what is called / set
    line: int
    col: int
    text: str  # the normalized source line: anchor for fingerprints
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> list:
        # a list, not a dict: a big project has hundreds of thousands of events to cache and reload
        return [self.kind, self.target, self.line, self.col, self.text, self.detail] if self.detail else \
            [self.kind, self.target, self.line, self.col, self.text]

    @classmethod
    def from_json(cls, data) -> "Event":
        if isinstance(data, dict):
            return cls(**data)
        return cls(*data) if len(data) > 5 else cls(*data, {})


_event = Event  # a local name for the hot loop of FunctionSummary.from_json


@dataclass
class FunctionSummary:
    qualname: str  # "pkg.train.main", "pkg.train.Trainer.fit", "pkg.train.<module>"
    line: int
    text: str
    events: list[Event] = field(default_factory=list)
    entry: str = ""  # why it is an entry point ("main-guard", "hydra", "click", "argparse", ...), or ""
    cls: str = ""  # the enclosing class's qualified name for methods

    def to_json(self) -> dict:
        return {"qualname": self.qualname, "line": self.line, "text": self.text, "entry": self.entry,
                "cls": self.cls, "events": [e.to_json() for e in self.events]}

    @classmethod
    def from_json(cls, data: dict) -> "FunctionSummary":
        return cls(qualname=data["qualname"], line=data["line"], text=data["text"], entry=data.get("entry", ""),
                   cls=data.get("cls", ""), events=[_event(*e) if len(e) > 5 else _event(*e, {})
                                                    for e in data.get("events", ())])


@dataclass
class ModuleSummary:
    path: str
    module_name: str
    functions: dict[str, FunctionSummary] = field(default_factory=dict)
    imported_modules: list[str] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)  # class qualname -> base qualnames
    aliases: dict[str, str] = field(default_factory=dict)  # imported local name -> qualified name

    def to_json(self) -> dict:
        return {"path": self.path, "module_name": self.module_name, "aliases": dict(self.aliases),
                "imported_modules": list(self.imported_modules), "classes": dict(self.classes),
                "functions": {k: f.to_json() for k, f in self.functions.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "ModuleSummary":
        return cls(path=data["path"], module_name=data["module_name"],
                   imported_modules=list(data.get("imported_modules", [])),
                   classes={k: list(v) for k, v in data.get("classes", {}).items()},
                aliases=dict(data.get("aliases", {})),
                   functions={k: FunctionSummary.from_json(f) for k, f in data.get("functions", {}).items()})


def summary_head(data: dict) -> dict:
    """What the project index reads of every module without looking into its functions' bodies (names,
    imports, classes, entry-point marks, which event kinds and called names occur). Built from a
    summary's JSON; the index loads a module's full summary only when it follows a call into it."""
    functions = data.get("functions", {})
    entries, kinds, call_names = [], set(), set()
    for qual, fn in functions.items():
        calls = []
        for ev in fn.get("events", ()):
            kind = ev[0] if not isinstance(ev, dict) else ev["kind"]
            kinds.add(kind)
            target = ev[1] if not isinstance(ev, dict) else ev["target"]
            if kind == "call":
                call_names.add(target.rsplit(".", 1)[-1])
            elif kind == "entry_call":
                calls.append(target)
        if fn.get("entry") or calls:
            entries.append([qual, fn.get("entry", ""), calls])
    module_name = data["module_name"]
    prefixes = set()
    for target in [*data.get("imported_modules", []), *data.get("aliases", {}).values()]:
        parts = target.split(".")
        prefixes.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    prefixes.discard(module_name)
    return {"path": data["path"], "module_name": module_name, "aliases": dict(data.get("aliases", {})),
            "classes": {k: list(v) for k, v in data.get("classes", {}).items()}, "functions": list(functions),
            "imported_modules": list(data.get("imported_modules", [])), "entries": entries,
            "kinds": sorted(kinds), "call_names": sorted(call_names), "import_prefixes": sorted(prefixes)}


class LazySummary:
    """A module of the project index known by its head; `functions` loads the full summary on first use
    (and tells `on_load`, so the scan knows which modules' bodies the project rules' results depend on)."""

    def __init__(self, head: dict, load, on_load=None):
        self.head = head
        self.path: str = head["path"]
        self.module_name: str = head["module_name"]
        self.aliases: dict[str, str] = head["aliases"]
        self.classes: dict[str, list[str]] = head["classes"]
        self._load, self._on_load = load, on_load
        self._functions: dict[str, FunctionSummary] | None = None

    @property
    def functions(self) -> dict[str, FunctionSummary]:
        if self._functions is None:
            data = self._load()
            self._functions = ModuleSummary.from_json(data).functions
            if self._on_load is not None:
                self._on_load(self.path)
        return self._functions

    @property
    def imported_modules(self) -> list[str]:
        return self.head["imported_modules"]


def head_of(summary) -> dict:
    """The head of a ModuleSummary or LazySummary."""
    head = getattr(summary, "head", None)
    return head if isinstance(head, dict) else summary_head(summary.to_json())
