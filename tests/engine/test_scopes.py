"""One scope registry: each scope's typed rule base, subject, example adapter and driver in one place; a
rule with a scope outside it is refused when its class is defined, not left silently unrun."""

from __future__ import annotations

import pytest

from auditor.registry import all_rule_classes
from auditor.rule import CompareRule, Rule
from auditor.scopes import SCOPES, load
from auditor.testing import check_example, example_cases

from crash_pack import write_pack


def test_a_misspelt_scope_is_refused_at_definition():
    with pytest.raises(TypeError, match="unknown scope 'compre'"):
        type("Typo", (Rule,), {"id": "RA999", "scope": "compre"})


def test_a_rule_without_scope_is_refused():
    with pytest.raises(TypeError, match="has no scope"):
        type("Scopeless", (Rule,), {"id": "RA998"})


def test_every_rule_derives_from_its_scopes_base():
    for rule_id, cls in all_rule_classes().items():
        assert issubclass(cls, SCOPES[cls.scope].base_classes()), (rule_id, cls.scope)


def test_every_scope_names_loadable_parts():
    for scope in SCOPES.values():
        assert scope.base_classes() and all(issubclass(b, Rule) for b in scope.base_classes())
        assert callable(load(scope.driver))
        assert callable(scope.example_adapter())


NEW_COMPARE_RULE = '''
from auditor.compare.examples import group
from auditor.rule import CompareRule


class TinyBaseline(CompareRule):
    id = "RA990"
    name = "compare-tiny-baseline"
    summary = "The baseline scores under 0.1."
    rationale = "A near-zero baseline makes any effect look large."
    incident = "a test"
    bad = [{"baseline": group("b", [0.01, 0.02]), "treatment": group("t", [0.3, 0.31]), "metric": "val/acc"}]
    good = [{"baseline": group("b", [0.2, 0.21]), "treatment": group("t", [0.3, 0.31]), "metric": "val/acc"}]

    def check(self, comparison, context=None):
        values = [row.baseline for row in comparison.rows if row.baseline is not None]
        if values and max(values) < 0.1:
            yield self.finding("the baseline is near zero", comparison.location)
'''


def test_a_plugin_rule_gets_the_same_harness(tmp_path, monkeypatch):
    write_pack(tmp_path, "newpack", NEW_COMPARE_RULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    all_rule_classes.cache_clear()
    try:
        cases = example_cases("newpack")
        assert [str(c) for c in cases] == ["RA990-bad0", "RA990-good0"]
        assert issubclass(cases[0].rule, CompareRule)
        for case in cases:
            check_example(case, tmp_path / str(case))
    finally:
        all_rule_classes.cache_clear()


def test_tests_import_the_bundled_rules_one_way():
    """As `auditor.rules.*` only: importing `rules.*` too would make every rule class exist twice."""
    import re
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"^\s*(from|import)\s+rules[.\s]", re.M)
    offenders = [str(p.relative_to(tests)) for p in sorted(tests.rglob("*.py")) if pattern.search(p.read_text())]
    assert not offenders, offenders
