"""The rule examples harness: every rule's `bad` examples must be flagged by it and its `good` ones must not,
whatever its scope. The bundled rules are tested with it, and so can a plugin pack be:

    import pytest
    from auditor.testing import example_cases, check_example

    @pytest.mark.parametrize("case", example_cases("my_rules"), ids=str)
    def test_rule_examples(case, tmp_path):
        check_example(case, tmp_path)

Each scope's example adapter (auditor/scopes.py) runs an example through the real machinery of that scope:
code examples are scanned as files (a bad one marks each line it expects flagged with `# expect: RAxxx`),
run examples are discovered as run records, docs examples are checked as Markdown files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.registry import all_rule_classes
from auditor.scopes import SCOPES

EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")
MARKED_SCOPES = ("code", "meta")  # scopes whose examples are source files carrying `# expect:` marks


@dataclass(frozen=True)
class ExampleCase:
    rule: type
    kind: str  # "bad" | "good"
    index: int
    plugins: tuple[str, ...] = ()

    @property
    def example(self) -> Any:
        return getattr(self.rule, self.kind)[self.index]

    def __str__(self) -> str:
        return f"{self.rule.id}-{self.kind}{self.index}"


def rules_of(package: str | None = None) -> list[type]:
    """The rules of one pack: the bundled one (None) or a plugin package."""
    plugins = (package,) if package else ()
    prefix = package or "auditor.rules"
    return [cls for cls in all_rule_classes(plugins).values()
            if cls.__module__ == prefix or cls.__module__.startswith(prefix + ".")]


def example_cases(package: str | None = None) -> list[ExampleCase]:
    """One case per example of every rule of the pack, every scope."""
    plugins = (package,) if package else ()
    return [ExampleCase(cls, kind, index, plugins) for cls in rules_of(package)
            for kind in ("bad", "good") for index in range(len(getattr(cls, kind)))]


def expected_lines(example: Any, rule_id: str) -> set[tuple[str, int]]:
    """(path, line) of every line of a code example marked `# expect: <rule_id>`."""
    from auditor.code.examples import example_files

    out = set()
    for rel, text in example_files(example).items():
        for number, line in enumerate(text.splitlines(), 1):
            match = EXPECT.search(line)
            if match and rule_id in [r.strip() for r in match.group(1).split(",")]:
                out.add((rel, number))
    return out


def check_example(case: ExampleCase, folder: Path) -> None:
    """Raise AssertionError unless the rule flags its bad example (exactly on the marked lines, for code) and
    not its good one. The example itself must be sound: readable (no RA001) and no rule crashes on it (RA004)."""
    rule_id = case.rule.id
    adapter = SCOPES[case.rule.scope].example_adapter()
    assert adapter is not None, f"{rule_id}: rules of scope {case.rule.scope!r} take no examples"
    folder.mkdir(parents=True, exist_ok=True)
    findings = adapter(case.rule, case.example, folder, case.plugins)
    broken = [f.message for f in findings if f.rule in ("RA001", "RA004")]
    assert not broken, f"{case}: the example is unreadable or crashes a rule: {broken}"
    mine = [f for f in findings if f.rule == rule_id]
    if case.kind == "good":
        assert not mine, f"{case}: flagged its good example: {[f.message for f in mine]}"
        return
    assert mine, f"{case}: did not flag its bad example; findings: {[f.to_json() for f in findings]}"
    fingerprints = [f.fingerprint for f in mine]
    assert len(set(fingerprints)) == len(fingerprints), \
        f"{case}: two findings share a fingerprint (the nightly and SARIF would take them for one): " \
        f"{[f.message for f in mine]}; for a run or comparison, declare the rule's `identity`"
    if case.rule.scope in MARKED_SCOPES:
        expected = expected_lines(case.example, rule_id)
        assert expected, f"{case}: a bad code example marks the lines it expects flagged with `# expect: {rule_id}`"
        hits = {(f.location.path, f.location.line) for f in mine}
        assert hits == expected, f"{case}: flagged {sorted(hits)}, the example marks {sorted(expected)}"
