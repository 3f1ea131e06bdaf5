"""A record cut off mid-history (valid YAML, `state: completed`, metrics stopping at step 70 of 300): RA230 says
it is truncated, and RA220 states the last step actually logged instead of claiming training ran to 300."""

from __future__ import annotations

import json

from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs
from cli_helpers import run_cli

from .helpers import config, write_record


def _cut_off(with_train_to: int = 70) -> dict:
    return {"id": "cut-s0", "seed": 0, "config": {"lr": 0.1, "max_steps": 300},
            "status": {"state": "completed", "exit_code": 0},
            "metrics": {"train/loss": [[s, 1.0 / (s + 1)] for s in [*range(0, with_train_to, 10), with_train_to]],
                        "val/acc": [[s, 0.5 + s / 1000] for s in range(0, 71, 35)]},
            "reported": {"val/acc": 0.57, "step": 70}}


def _findings(tmp_path, record):
    write_record(tmp_path / "results" / record["id"], record)
    (run,) = discover_runs(tmp_path / "results", config()).runs
    return {f.rule: f for f in audit_run_record(run, config())}


def test_ra220_on_a_truncated_record_names_the_last_step_logged_and_agrees_with_ra230(tmp_path):
    findings = _findings(tmp_path, _cut_off())
    ra220, ra230 = findings["RA220"], findings["RA230"]
    assert "metrics stop at step 70 of 300" in ra230.message
    assert "ran to step 300" not in ra220.message
    assert "max_steps 300" in ra220.message and "its metrics stop at step 70" in ra220.message
    assert "last training step 300" not in ra220.message
    assert ra220.evidence["last_logged_step"] == ra230.evidence["last_step"] == 70
    # through the command line, as a user reads it
    proc = run_cli("run", "cut-s0", "--results", tmp_path / "results", "--format", "json", cwd=tmp_path)
    messages = {f["rule"]: f["message"] for f in json.loads(proc.stdout)["findings"]}
    assert "ran to step 300" not in messages["RA220"] and "step 70" in messages["RA220"]


def test_ra220_still_says_training_ran_to_its_last_step_when_it_did(tmp_path):
    # training logged to step 299 of 300, the last evaluation at 70: that is a final validation missed
    findings = _findings(tmp_path, _cut_off(with_train_to=299))
    assert "RA230" not in findings
    assert "training ran to step 300" in findings["RA220"].message
