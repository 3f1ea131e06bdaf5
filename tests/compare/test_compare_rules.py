"""Every compare rule flags its bad examples and none of its good ones: in process, and through the CLI on
real results directories built from the same examples."""

import pytest

from auditor.compare.examples import comparison_from_example
from compare_helpers import compare_rule_classes, rules_in, write_example
from cli_helpers import run_cli

CASES = [(cls, kind, i) for cls in compare_rule_classes() for kind in ("bad", "good")
         for i in range(len(getattr(cls, kind)))]


def test_every_compare_rule_has_examples():
    ids = {cls.id for cls in compare_rule_classes()}
    assert ids == {"RA301", "RA302", "RA303", "RA304", "RA305", "RA310", "RA311", "RA312", "RA313", "RA314", "RA315"}
    for cls in compare_rule_classes():
        assert cls.bad and cls.good, cls.id
        assert cls.scope == "compare" and cls.summary and cls.rationale and cls.incident


@pytest.mark.parametrize("cls,kind,index", CASES, ids=[f"{c.id}-{k}{i}" for c, k, i in CASES])
def test_examples_in_process(cls, kind, index):
    example = getattr(cls, kind)[index]
    findings = list(cls().check(comparison_from_example(example), None))
    if kind == "bad":
        assert findings, f"{cls.id} missed its bad example {index}"
        assert all(f.rule == cls.id and f.location.get("groups") for f in findings)
    else:
        assert not findings, [f.message for f in findings]


@pytest.mark.parametrize("cls,kind,index", CASES, ids=[f"{c.id}-{k}{i}" for c, k, i in CASES])
def test_examples_through_the_cli(tmp_path, cls, kind, index):
    argv = write_example(tmp_path / "results", getattr(cls, kind)[index])
    proc = run_cli(*argv, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    found = rules_in(proc.stdout)
    assert (cls.id in found) == (kind == "bad"), (found, proc.stdout)
