"""What every rule is: metadata, parameters with defaults, its own bad/good examples, one check.

Each scope (meta, code, run, compare, replay, docs) has a typed rule base, its own subject type, an example
adapter and a driver, all listed in auditor/scopes.py. Code rules derive from auditor.code.rule_base's
ModuleRule or ProjectRule; the other scopes' bases are below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from auditor.findings import SEVERITIES, Finding, evidence_identity, fingerprint
from auditor.locations import LocationLike, as_location
from auditor.scopes import SCOPES as _SCOPES

if TYPE_CHECKING:  # pragma: no cover
    from auditor.claims import Claim, Reference
    from auditor.compare.comparison import Comparison
    from auditor.replay.result import ReplayResult
    from auditor.runs.audit import RunContext
    from auditor.runs.record import Run

SCOPES = tuple(_SCOPES)


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
    # Findings at a run or comparison (no code line): the evidence keys whose names tell this rule's findings
    # there apart, for their fingerprint (see findings.evidence_identity).
    identity: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.scope and cls.scope not in _SCOPES:
            raise TypeError(f"rule {cls.__qualname__}: unknown scope {cls.scope!r}; one of {', '.join(_SCOPES)}")
        if cls.id and not cls.scope:
            raise TypeError(f"rule {cls.id} ({cls.__qualname__}) has no scope; one of {', '.join(_SCOPES)}")

    def __init__(self, params: dict[str, Any] | None = None, severity: str | None = None):
        unknown = set(params or {}) - set(self.params)
        if unknown:
            raise ValueError(f"{self.id}: unknown parameter(s) {sorted(unknown)}; known: {sorted(self.params)}")
        self.options = {**self.params, **(params or {})}
        self.level = severity or self.severity
        assert self.level in SEVERITIES, self.level

    def finding(self, message: str, location: LocationLike, evidence: dict | None = None, *,
                severity: str | None = None, anchor: str = "") -> Finding:
        """Build a finding of this rule. `anchor` is the code text the fingerprint is tied to."""
        if not anchor and as_location(location).path is None:
            anchor = evidence_identity(evidence or {}, self.identity)
        return Finding(
            rule=self.id,
            name=self.name,
            severity=severity or self.level,
            message=message,
            location=location,
            evidence=evidence or {},
            fingerprint=fingerprint(self.id, location, anchor) if anchor else "",
        )

    def check(self, *subject: Any) -> Iterable[Finding]:
        """Yield the findings of this rule on its subject; each scope's base says what the subject is."""


class MetaRule(Rule):
    """Findings the engine reports itself (unreadable input, suppressions, crashed rules): `check` finds nothing."""

    scope = "meta"

    def check(self, *subject: Any) -> Iterable[Finding]:
        """Nothing: the engine emits these findings itself."""


class RunRule(Rule):
    """Looks at one normalized run record."""

    scope = "run"

    def check(self, run: "Run", context: "RunContext") -> Iterable[Finding]:
        """Yield findings on one run; `context` has the key map and the repository."""


class CompareRule(Rule):
    """Looks at one comparison of two sides (run groups or runs)."""

    scope = "compare"

    def check(self, comparison: "Comparison") -> Iterable[Finding]:
        """Yield findings on one comparison."""


class ReplayRule(Rule):
    """Looks at what replaying one run's checkpoint measured."""

    scope = "replay"

    def check(self, result: "ReplayResult") -> Iterable[Finding]:
        """Yield findings on one replay's measurements."""


class DocsRule(Rule):
    """Looks at one claim (a number the docs state) or one reference (a file the docs name)."""

    scope = "docs"
    subject: ClassVar[str] = "claim"  # "claim" | "reference"

    def check(self, subject: "Claim | Reference") -> Iterable[Finding]:
        """Yield findings on one claim or one reference (as `subject` says)."""
