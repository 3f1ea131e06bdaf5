"""A finding is plain data: rule id, severity, message, location, evidence, fingerprint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from auditor.locations import (CodeLocation, FileLocation, GroupsLocation, Location, LocationLike, RunLocation,
                               as_location, location_from_json)

SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}


def code_location(path: str, line: int, col: int = 0) -> CodeLocation:
    return CodeLocation(path, int(line), int(col))


def run_location(run_id: str) -> RunLocation:
    return RunLocation(run_id)


def groups_location(baseline: str, treatment: str) -> GroupsLocation:
    return GroupsLocation((baseline, treatment))


def docs_location(path: str, line: int) -> FileLocation:
    return FileLocation(path, int(line))


def fingerprint(rule: str, location: LocationLike, anchor: str = "") -> str:
    """Stable hash of rule + location + normalized anchor text.

    For code, pass the normalized source line as `anchor` and leave the line number out of the
    location used here, so that fingerprints survive edits that only move lines.
    """
    data = as_location(location).to_json()  # the contract's dict: what the fingerprints have always hashed
    stable = {k: v for k, v in data.items() if k not in ("line", "col")} if anchor else data
    text = json.dumps([rule, stable, " ".join(anchor.split())], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def evidence_identity(evidence: dict, identity: tuple[str, ...] = ()) -> str:
    """What tells apart one rule's findings at one run or comparison, which have no line of code to tie to:
    which evidence they carry, and the names in the `identity` keys the rule declares (a metric, the config
    keys that differ). The values (p-values, counts, steps, the runs on each side) move with every new seed
    or logged step while the finding stays the same one, so a comparison that gains a seed keeps its
    findings' fingerprints and the nightly does not call them new."""
    named = [[key, _names(evidence.get(key))] for key in identity]
    return json.dumps([sorted(map(str, evidence)), named], sort_keys=True, default=str)


def _names(value: Any) -> Any:
    """A value's names: a mapping's keys, a list's items, sorted; anything else as it is."""
    if isinstance(value, (dict, list, tuple, set, frozenset)):
        return sorted(map(str, value))
    return value


@dataclass
class Finding:
    rule: str
    name: str
    severity: str
    message: str
    location: Location  # a dict of the contract's shape is read into one (rules and plugins may pass either)
    evidence: dict = field(default_factory=dict)
    fingerprint: str = ""

    def __post_init__(self) -> None:
        self.location = as_location(self.location)
        if not self.fingerprint:
            evidence = evidence_identity(self.evidence) if self.location.path is None else ""
            self.fingerprint = fingerprint(self.rule, self.location, evidence)

    def sort_key(self) -> tuple:
        return (*self.location.sort_key(), self.rule, self.message)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "name": self.name,
            "severity": self.severity,
            "message": self.message,
            "location": self.location.to_json(),
            "evidence": self.evidence,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, data: dict) -> "Finding":
        fields = {k: data[k] for k in ("rule", "name", "severity", "message", "evidence", "fingerprint")}
        return cls(location=location_from_json(data["location"]), **fields)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Sorted and de-duplicated: the same input gives the same list, byte for byte."""
    unique = {}
    for f in findings:
        unique.setdefault((f.rule, f.fingerprint, f.location, f.message), f)
    return sorted(unique.values(), key=Finding.sort_key)


def summarize(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        counts[f.severity] = counts.get(f.severity, 0) + 1
    return counts


def at_or_above(findings: Iterable[Finding], severity: str) -> list[Finding]:
    floor = SEVERITY_RANK[severity]
    return [f for f in findings if SEVERITY_RANK.get(f.severity, 0) >= floor]


def split_new(before: Iterable[Finding], after: Iterable[Finding]) -> tuple[list[Finding], list[Finding]]:
    """(new, known): the findings of `after` whose fingerprints `before` lacks, and the others.

    Counted, not as sets: a second copy of a known hazard (same rule, file and line text) is new. A hazard
    created by deleting lines (a removed seed, a removed `or is_last_step`) is new too, wherever it lands:
    no line of the change has to carry it. `audit diff`'s "hazards introduced" and the hooks use this.
    """
    from collections import Counter

    budget = Counter(f.fingerprint for f in before)
    new, known = [], []
    for f in sort_findings(after):
        if budget[f.fingerprint] > 0:
            budget[f.fingerprint] -= 1
            known.append(f)
        else:
            new.append(f)
    return new, known


def carried(findings: Iterable[Finding], moves: dict[str, str],
            line_text: Callable[[str, int], str | None]) -> list[Finding]:
    """The findings, those of a moved file (old path -> new path in `moves`) as the same findings at the new
    path: the fingerprint a finding on the same line text has there. So split_new calls a pure rename known,
    while the reports' fingerprints stay rule + path + line text. A finding is carried only when its own
    fingerprint is rebuilt from the flagged line (`line_text(path, line)` in the old file): one tied to other
    text stays where it was."""
    out = []
    for f in findings:
        target = moves.get(f.location.path or "")
        text = line_text(f.location.path, f.location.line) if target and f.location.line else None
        if text is None or fingerprint(f.rule, f.location, text) != f.fingerprint:
            out.append(f)
            continue
        location = dataclasses.replace(f.location, path=target)
        out.append(dataclasses.replace(f, location=location, fingerprint=fingerprint(f.rule, location, text)))
    return out
