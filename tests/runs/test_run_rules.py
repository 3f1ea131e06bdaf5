"""Every run rule's own bad/good examples, written as native records, read back and audited."""

from __future__ import annotations

import pytest

from auditor.registry import all_rule_classes
from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs
from auditor.vcs import Repo

from .helpers import config, git_repo, write_record

RUN_RULES = [cls for cls in all_rule_classes().values() if cls.scope == "run"]
EXPECTED = {"RA201", "RA202", "RA203", "RA210", "RA211", "RA220", "RA230", "RA240"}


def test_all_run_rules_present():
    assert EXPECTED <= {cls.id for cls in RUN_RULES}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path, sha = git_repo(tmp_path_factory.mktemp("repo"))
    return Repo(path), sha


def _audit(tmp_path, example, repo_and_sha, rule_id):
    repo, sha = repo_and_sha
    record = dict(example)
    if isinstance(record.get("git"), dict) and record["git"].get("sha") == "HEAD_SHA":
        record["git"] = {**record["git"], "sha": sha}
    write_record(tmp_path / "results" / record["id"], record)
    cfg = config(select=[rule_id])
    discovery = discover_runs(tmp_path / "results", cfg)
    assert not discovery.problems, [p.message for p in discovery.problems]
    (run,) = discovery.runs
    return [f for f in audit_run_record(run, cfg, repo=repo) if f.rule == rule_id]


@pytest.mark.parametrize("cls", RUN_RULES, ids=lambda c: c.id)
def test_bad_examples_are_flagged(cls, tmp_path, repo):
    assert cls.bad and cls.good, f"{cls.id} needs bad and good examples"
    for index, example in enumerate(cls.bad):
        found = _audit(tmp_path / f"bad{index}", example, repo, cls.id)
        assert found, f"{cls.id} missed bad example {example['id']}"
        assert all(f.location == {"run": example["id"]} for f in found)


@pytest.mark.parametrize("cls", RUN_RULES, ids=lambda c: c.id)
def test_good_examples_pass(cls, tmp_path, repo):
    for index, example in enumerate(cls.good):
        found = _audit(tmp_path / f"good{index}", example, repo, cls.id)
        assert not found, f"{cls.id} flagged good example {example['id']}: {[f.message for f in found]}"
