"""The demo lab's code part: deterministic commits, and the scan finds each hazard at the commit that adds it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]


def _build(folder: Path):
    spec = importlib.util.spec_from_file_location("demo_part_code_test", ROOT / "fixtures/demo/parts/code.py")
    part = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(part)
    lab = SimpleNamespace(root=folder, repo=folder / "lab-repo", results=folder / "results", out=folder / "out",
                          shas={}, info={})
    part.build(lab)
    return lab


def _scan(lab, *args):
    proc = subprocess.run([sys.executable, "-m", "auditor", "scan", "--format", "json", *args], cwd=lab.repo,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return {(f["rule"], f["location"]["path"]) for f in json.loads(proc.stdout)["findings"]}


def test_demo_repo_is_deterministic_and_hazards_appear_commit_by_commit(tmp_path):
    lab = _build(tmp_path / "a")
    again = _build(tmp_path / "b")
    assert list(lab.shas) == ["baseline", "diagnostics", "skip-final-val", "head"]
    assert lab.shas == again.shas
    assert not list(lab.repo.glob("auditor.yaml")) and "tool.auditor" not in (lab.repo / "README.md").read_text()
    baseline = _scan(lab, "--rev", lab.shas["baseline"])
    assert not {rule for rule, _ in baseline} & {"RA101", "RA102", "RA110", "RA130", "RA170"}
    skip = _scan(lab, "--rev", lab.shas["skip-final-val"])
    assert ("RA101", "trainer/loop.py") in skip
    head = _scan(lab)
    assert {("RA101", "trainer/loop.py"), ("RA170", "scripts/eval_quick.py")} <= head
