"""A rule that raises never passes silently: in every scope the crash is an RA004 error finding naming the
rule, the exception and where it was raised, the other rules' findings are still reported, and the command
exits 1. Plugin rules written into a temp dir raise on purpose."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from cli_helpers import run_cli
from crash_pack import write_config, write_pack


@pytest.fixture
def lab(tmp_path):
    write_pack(tmp_path / "plugins")
    root = tmp_path / "lab"
    root.mkdir()
    write_config(root)
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path / "plugins"), os.environ.get("PYTHONPATH", "")])}
    return root, env


def _crashes(report: dict) -> dict[str, dict]:
    return {f["evidence"]["rule"]: f for f in report["findings"] if f["rule"] == "RA004"}


def test_scan_reports_crashed_module_and_project_rules_and_keeps_the_others(lab):
    root, env = lab
    (root / "train.py").write_text("import torch\nboom = 1\nstate = torch.load('ckpt.pt')\n", encoding="utf-8")
    proc = run_cli("scan", "train.py", "--format", "json", cwd=root, env=env)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    crashes = _crashes(report)
    assert set(crashes) == {"RA991", "RA992"}
    code = crashes["RA991"]
    assert code["severity"] == "error" and code["name"] == "rule-crashed"
    assert code["location"]["path"] == "train.py"
    assert code["evidence"]["exception"] == "ZeroDivisionError"
    assert code["evidence"]["where"].startswith("crashpack.rules:") and code["evidence"]["where"].endswith("in check")
    assert crashes["RA992"]["evidence"]["exception"] == "KeyError"
    assert [f["location"]["line"] for f in report["findings"] if f["rule"] == "RA170"] == [3]
    assert not [f for f in report["findings"] if f["rule"] == "RA001"], "a crash is not an unreadable input"


def test_a_crash_is_an_error_even_when_nothing_else_is_found(lab):
    root, env = lab
    (root / "clean.py").write_text("boom = 1\n", encoding="utf-8")
    proc = run_cli("scan", "clean.py", "--format", "json", cwd=root, env=env)
    assert proc.returncode == 1
    assert "RA991" in _crashes(json.loads(proc.stdout))


def _native_run(results: Path, run_id: str, **extra) -> None:
    folder = results / run_id
    folder.mkdir(parents=True)
    record = {"id": run_id, "group": run_id.rstrip("0123456789-s"), "seed": 0,
              "git": {"sha": "e2dfbd8", "dirty": True}, "config": {"lr": 0.1},
              "status": {"state": "completed", "exit_code": 0},
              "metrics": {"val/acc": [[0, 0.1], [10, 0.5]]}, "reported": {"val/acc": 0.5, "step": 10}, **extra}
    (folder / "run.yaml").write_text(yaml.safe_dump(record), encoding="utf-8")


def test_run_rule_crash_is_reported_with_the_other_run_findings(lab):
    root, env = lab
    _native_run(root / "results", "boom-1")
    proc = run_cli("run", "boom-1", "--results", "results", "--format", "json", cwd=root, env=env)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    crash = _crashes(report)["RA993"]
    assert crash["location"] == {"run": "boom-1"} and crash["evidence"]["exception"] == "RuntimeError"
    assert "RA203" in {f["rule"] for f in report["findings"]}, "the dirty tree is still reported"


def test_compare_rule_crash_keeps_the_verdict_of_the_others(lab):
    root, env = lab
    for i, (base, treat) in enumerate([(0.40, 0.50), (0.41, 0.52), (0.39, 0.51)]):
        _native_run(root / "results", f"base-s{i}", group="base", seed=i, reported={"val/acc": base, "step": 10})
        _native_run(root / "results", f"treat-s{i}", group="treat", seed=i, reported={"val/acc": treat, "step": 10})
    proc = run_cli("compare", "base", "treat", "--results", "results", "--metric", "val/acc", "--format", "json",
                   cwd=root, env=env)
    assert proc.returncode == 1, proc.stderr
    crash = _crashes(json.loads(proc.stdout))["RA994"]
    assert crash["location"] == {"groups": ["base", "treat"]} and crash["evidence"]["exception"] == "ValueError"


def test_docs_rule_crash(lab):
    root, env = lab
    _native_run(root / "results", "q201-s0")
    (root / "RESULTS.md").write_text("q201-s0 reached val/acc 50.00% at step 10.\n", encoding="utf-8")
    proc = run_cli("docs", "RESULTS.md", "--results", "results", "--format", "json", cwd=root, env=env)
    assert proc.returncode == 1, proc.stderr
    crash = _crashes(json.loads(proc.stdout))["RA995"]
    assert crash["location"]["path"].endswith("RESULTS.md") and crash["evidence"]["exception"] == "IndexError"


def test_replay_rule_crash(lab, monkeypatch):
    pytest.importorskip("torch")
    from auditor.config import load_config
    from auditor.registry import all_rule_classes
    from auditor.replay.driver import findings_for
    from auditor.replay.result import ReplayResult

    root, env = lab
    monkeypatch.syspath_prepend(env["PYTHONPATH"].split(os.pathsep)[0])
    all_rule_classes.cache_clear()
    config = load_config(root)
    example = all_rule_classes(("crashpack",))["RA402"].bad[0]
    findings = findings_for(ReplayResult(**example), config)
    assert {f.rule for f in findings} >= {"RA402", "RA004"}
    crash = next(f for f in findings if f.rule == "RA004")
    assert crash.evidence["rule"] == "RA996" and crash.location.to_json() == {"run": example["run_id"]}
    all_rule_classes.cache_clear()


def test_nightly_records_the_crash_and_carries_on(lab):
    root, env = lab
    results = root / "results"
    _native_run(results, "boom-1")
    _native_run(results, "calm-1")
    proc = run_cli("nightly", str(results), "--out", str(root / "report"), "--no-repo", cwd=root, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    findings = json.loads((root / "report" / "findings.json").read_text())["findings"]
    assert [f["location"] for f in findings if f["rule"] == "RA004"] == [{"run": "boom-1"}]
    assert {f["location"]["run"] for f in findings if f["rule"] == "RA203"} == {"boom-1", "calm-1"}
