"""The GitHub Action's steps run locally: a real clone whose origin has a base branch, a pull-request branch,
and the action's script with the environment GitHub gives it (GITHUB_BASE_REF, GITHUB_STEP_SUMMARY,
GITHUB_OUTPUT, RUNNER_TEMP)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "github-audit.sh"
sys.path.insert(0, str(ROOT / "tests" / "hooks"))
from test_hook_checks_what_is_committed import LEGACY, SEEDED, UNSEEDED  # noqa: E402

GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **GIT_ENV})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _clone_with_pr(tmp_path: Path, train: str) -> Path:
    """origin (bare) has main; the clone checks out a PR branch whose only change is `train`."""
    seed = tmp_path / "seed"
    seed.mkdir()
    _git(seed, "init", "-q", "-b", "main")
    (seed / "train.py").write_text(SEEDED)
    (seed / "legacy.py").write_text(LEGACY)
    _git(seed, "add", "-A")
    _git(seed, "commit", "-qm", "start")
    _git(tmp_path, "clone", "-q", "--bare", str(seed), "origin.git")
    _git(tmp_path, "clone", "-q", str(tmp_path / "origin.git"), "work")
    work = tmp_path / "work"
    _git(work, "checkout", "-q", "-b", "pr")
    (work / "train.py").write_text(train)
    (work / "notes.md").write_text("notes\n")
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "the pull request")
    return work


def _run_action(work: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path, Path]:
    summary, output = tmp_path / "summary.md", tmp_path / "github_output"
    env = {**os.environ, "AUDIT_CMD": f"{sys.executable} -m auditor", "GITHUB_BASE_REF": "main",
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(tmp_path / "runner"),
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run(["bash", str(SCRIPT)], cwd=work, capture_output=True, text=True, env=env, timeout=600)
    return proc, summary, output


def test_action_annotates_uploads_sarif_and_summarizes_a_deleted_seed(tmp_path):
    work = _clone_with_pr(tmp_path, UNSEEDED)
    proc, summary, output = _run_action(work, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    assert len(annotations) == 1 and annotations[0].startswith("::error title=RA110 ")
    assert ",file=train.py,line=" in annotations[0]  # the legacy RA170 is not the PR's doing
    assert "RA110" in summary.read_text() and "RA170" not in summary.read_text()
    sarif_path = Path(dict(line.split("=", 1) for line in output.read_text().splitlines())["sarif"])
    sarif = json.loads(sarif_path.read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["RA110"]
    assert not (work / "audit.sarif").exists()  # nothing written into the checkout


def test_action_passes_a_clean_pull_request(tmp_path):
    work = _clone_with_pr(tmp_path, SEEDED + "\n\ndef helper():\n    return 1\n")
    proc, summary, _ = _run_action(work, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not [line for line in proc.stdout.splitlines() if line.startswith("::error")]
    assert "No findings" in summary.read_text() or "0 finding" in summary.read_text()


def test_action_and_workflow_files_run_the_script():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    steps = action["runs"]["steps"]
    assert any(".ci/github-audit.sh" in step.get("run", "") for step in steps)
    assert any(step.get("uses", "").startswith("github/codeql-action/upload-sarif") for step in steps)
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "audit.yml").read_text())
    job = workflow["jobs"]["audit"]
    assert job["steps"][0]["with"]["fetch-depth"] == 0 and job["steps"][1]["uses"] == "./"
