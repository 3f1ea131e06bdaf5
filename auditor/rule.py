"""What every rule is: metadata, parameters with defaults, its own bad/good examples, one check.

Each scope (code, run, compare, replay, docs) has its own subject type and its own driver,
which calls `check(subject, context)` on every selected rule of that scope.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

from auditor.findings import SEVERITIES, Finding, fingerprint

SCOPES = ("meta", "code", "run", "compare", "replay", "docs")


class Rule:
    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    scope: ClassVar[str] = ""
    severity: ClassVar[str] = "warning"
    summary: ClassVar[str] = ""  # one line: what it finds
    rationale: ClassVar[str] = ""  # why it matters
    incident: ClassVar[str] = ""  # the incident report (and line) it comes from
    params: ClassVar[dict[str, Any]] = {}  # parameters with their defaults
    # Examples are the rule's tests and its docs. Their shape depends on the scope: for code
    # rules a source string or a {path: source} dict of a small project.
    bad: ClassVar[list] = []
    good: ClassVar[list] = []

    def __init__(self, params: dict[str, Any] | None = None, severity: str | None = None):
        unknown = set(params or {}) - set(self.params)
        if unknown:
            raise ValueError(f"{self.id}: unknown parameter(s) {sorted(unknown)}; known: {sorted(self.params)}")
        self.options = {**self.params, **(params or {})}
        self.level = severity or self.severity
        assert self.level in SEVERITIES, self.level

    def finding(self, message: str, location: dict, evidence: dict | None = None, *,
                severity: str | None = None, anchor: str = "") -> Finding:
        """Build a finding of this rule. `anchor` is the code text the fingerprint is tied to."""
        return Finding(
            rule=self.id,
            name=self.name,
            severity=severity or self.level,
            message=message,
            location=location,
            evidence=evidence or {},
            fingerprint=fingerprint(self.id, location, anchor) if anchor else "",
        )

    def check(self, subject: Any, context: Any) -> Iterable[Finding]:
        """Yield the findings of this rule on one subject; every concrete rule overrides it."""
        return ()
