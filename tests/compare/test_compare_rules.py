"""Every compare rule flags its bad examples and none of its good ones through the CLI, on real results
directories built from its examples (in process, every rule's examples run in tests/engine)."""

import pytest

from compare_helpers import compare_rule_classes, rules_in, write_example
from cli_helpers import run_cli

CASES = [(cls, kind, i) for cls in compare_rule_classes() for kind in ("bad", "good")
         for i in range(len(getattr(cls, kind)))]


@pytest.mark.parametrize("cls,kind,index", CASES, ids=[f"{c.id}-{k}{i}" for c, k, i in CASES])
def test_examples_through_the_cli(tmp_path, cls, kind, index):
    argv = write_example(tmp_path / "results", getattr(cls, kind)[index])
    proc = run_cli(*argv, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    found = rules_in(proc.stdout)
    assert (cls.id in found) == (kind == "bad"), (found, proc.stdout)
