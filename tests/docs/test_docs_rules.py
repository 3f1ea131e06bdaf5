"""Every docs rule flags its bad examples and none of its good ones through `audit docs` on real files."""

import json

import pytest

from auditor.registry import all_rule_classes, rule_class
from cli_helpers import run_cli
from docs_helpers import write_docs_example

CASES = [(rid, kind, i) for rid, cls in all_rule_classes().items() if cls.scope == "docs" for kind in ("bad", "good")
         for i in range(len(getattr(rule_class(rid), kind)))]


@pytest.mark.parametrize("rule_id,kind,index", CASES, ids=[f"{r}-{k}{i}" for r, k, i in CASES])
def test_docs_examples_through_the_cli(tmp_path, rule_id, kind, index):
    example = getattr(rule_class(rule_id), kind)[index]
    repo, results, doc = write_docs_example(tmp_path, example)
    proc = run_cli("docs", "docs/RESULTS.md", "--results", results, "--format", "json", cwd=repo)
    assert proc.returncode in (0, 1), proc.stderr
    found = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == rule_id]
    if kind == "bad":
        assert found, proc.stdout
        assert all(f["location"]["path"] == "docs/RESULTS.md" and f["location"]["line"] >= 1 for f in found)
    else:
        assert not found, found
