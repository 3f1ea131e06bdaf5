"""Accepted findings: `audit baseline create|update` and `audit scan --baseline`, with real edits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from auditor.baseline import filter_new, load_baseline
from auditor.errors import InputError
from auditor.findings import Finding

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
from cli_helpers import run_cli  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "nightly"))
from nightly_lab import TRAINER_SKIP  # noqa: E402

UNSAFE_LOAD = "import torch\n\n\ndef restore(path):\n    return torch.load(path)\n"


def _scan_json(cwd: Path, *args: str) -> tuple[int, list[dict]]:
    proc = run_cli("scan", "--format", "json", *args, cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["findings"]


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    return root


def test_baseline_accepts_todays_findings_and_survives_edits_that_move_lines(project):
    code, before = _scan_json(project)
    assert code == 1 and any(f["rule"] == "RA101" for f in before)

    proc = run_cli("baseline", "create", cwd=project)
    assert proc.returncode == 0, proc.stderr
    document = json.loads((project / ".auditor-baseline.json").read_text())
    assert {e["fingerprint"] for e in document["accepted"]} == {f["fingerprint"] for f in before}
    accepted = next(e for e in document["accepted"] if e["rule"] == "RA101")
    assert accepted["where"] == "trainer/ray_trainer.py" and accepted["line"] and accepted["message"]

    # Unrelated edits above the finding move it down by several lines: still accepted.
    source = (project / "trainer" / "ray_trainer.py").read_text()
    moved = '"""The PPO trainer."""\nimport os\n\nDEBUG = os.environ.get("DEBUG")\n\n\n' + source
    (project / "trainer" / "ray_trainer.py").write_text(moved)
    _, still = _scan_json(project)
    ra101 = next(f for f in still if f["rule"] == "RA101")
    assert ra101["location"]["line"] == next(f for f in before if f["rule"] == "RA101")["location"]["line"] + 6
    code, new = _scan_json(project, "--baseline", ".auditor-baseline.json")
    assert code == 0 and new == []

    # A new hazard is reported, and only it.
    (project / "trainer" / "restore.py").write_text(UNSAFE_LOAD)
    code, new = _scan_json(project, "--baseline", ".auditor-baseline.json")
    assert [f["rule"] for f in new] == ["RA170"] and new[0]["location"]["path"] == "trainer/restore.py"


def test_create_refuses_to_overwrite_and_update_reports_the_change(project):
    assert run_cli("baseline", "create", cwd=project).returncode == 0
    again = run_cli("baseline", "create", cwd=project)
    assert again.returncode == 2 and "baseline update" in again.stderr
    (project / "trainer" / "restore.py").write_text(UNSAFE_LOAD)
    (project / "trainer" / "ray_trainer.py").write_text("def fit():\n    return 1\n")
    proc = run_cli("baseline", "update", "--output", ".auditor-baseline.json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "1 added" in proc.stdout and "1 no longer present" in proc.stdout
    rules = [e["rule"] for e in json.loads((project / ".auditor-baseline.json").read_text())["accepted"]]
    assert rules == ["RA170"]


def test_filter_new_api_and_a_findings_json_as_baseline(tmp_path):
    a = Finding("RA101", "final-validation-skipped", "error", "m", {"path": "t.py", "line": 3, "col": 0}, {}, "fp-a")
    b = Finding("RA170", "unsafe-checkpoint-load", "error", "m", {"path": "t.py", "line": 9, "col": 0}, {}, "fp-b")
    report = tmp_path / "findings.json"
    report.write_text(json.dumps({"version": 1, "findings": [a.to_json()], "summary": {}}))
    assert load_baseline(report) == {"fp-a"}
    assert filter_new([a, b], report) == [b]
    assert filter_new([a, b], {"fp-b"}) == [a]


@pytest.mark.parametrize("text, expect", [
    ("{not json", "not valid JSON"),
    ("[]", "must be a JSON object"),
    ('{"accepted": [{"rule": "RA101"}]}', "accepted[0]"),
    ('{"version": 1}', "not a baseline"),
])
def test_broken_baseline_is_a_clear_input_error(tmp_path, text, expect):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_baseline(path)
    assert expect in str(info.value) and str(path) in str(info.value)


def test_missing_baseline_exits_2_from_scan(project):
    proc = run_cli("scan", "--baseline", "nope.json", cwd=project)
    assert proc.returncode == 2 and "nope.json" in proc.stderr and "Traceback" not in proc.stderr
