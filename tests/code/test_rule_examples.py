"""Every code rule's own examples are its tests: each bad example is flagged (on exactly the lines
marked `# expect: RAxxx` when there are such marks), each good example is not. Examples run through
the real scan pipeline (a dict example is a small project), so project rules see their index."""

from __future__ import annotations

import pytest

from auditor.config import Config
from auditor.registry import all_rule_classes

from code_helpers import expected_lines, scan_example


def _cases(kind: str):
    for rule_id, cls in all_rule_classes().items():
        if cls.scope not in ("code", "meta"):
            continue
        for number, example in enumerate(getattr(cls, kind)):
            yield pytest.param(rule_id, example, id=f"{rule_id}-{kind}{number}")


def test_every_code_rule_has_examples():
    for rule_id, cls in all_rule_classes().items():
        if cls.scope == "code":
            assert cls.bad and cls.good, f"{rule_id} needs bad and good examples"
            assert cls.summary and cls.rationale and cls.incident, f"{rule_id} needs its docs"


@pytest.mark.parametrize("rule_id, example", list(_cases("bad")))
def test_bad_example_is_flagged(rule_id, example, tmp_path):
    files, result = scan_example(example, tmp_path / "project", None)
    hits = {(f.location["path"], f.location["line"]) for f in result.findings if f.rule == rule_id}
    assert hits, f"{rule_id} did not flag its bad example; findings: {[f.to_json() for f in result.findings]}"
    expected = expected_lines(files, rule_id)
    if expected:
        assert hits == expected
    assert not [f for f in result.findings if f.rule == "RA001"], "the example itself must parse"


@pytest.mark.parametrize("rule_id, example", list(_cases("good")))
def test_good_example_is_not_flagged(rule_id, example, tmp_path):
    _, result = scan_example(example, tmp_path / "project", Config(root=tmp_path / "project"))
    flagged = [f.to_json() for f in result.findings if f.rule == rule_id]
    assert not flagged
    assert not [f for f in result.findings if f.rule == "RA001"], "the example itself must parse"
