"""Every rule of every scope is tested by its own examples, through its scope's example adapter: each bad
example is flagged (on exactly the lines marked `# expect:` for code), each good one is not. A new rule, of
any scope, is tested here without editing this file."""

from __future__ import annotations

import pytest

from auditor.testing import example_cases, check_example
from auditor.registry import all_rule_classes

CASES = example_cases()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_rule_example(case, tmp_path):
    check_example(case, tmp_path)


def test_every_rule_outside_meta_has_examples_and_docs():
    for rule_id, cls in all_rule_classes().items():
        assert cls.summary and cls.rationale and cls.incident, f"{rule_id} needs its docs"
        if cls.scope != "meta":
            assert cls.bad and cls.good, f"{rule_id} needs bad and good examples"


def test_the_cases_cover_every_scope():
    assert {case.rule.scope for case in CASES} == {"meta", "code", "run", "compare", "replay", "docs"}
