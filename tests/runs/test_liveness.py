"""A run with no end record is "running" while it writes, "killed" once silent longer than stale-after."""

from __future__ import annotations

import pytest

from auditor.config import RunsSettings
from auditor.errors import InputError
from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs
from auditor.runs.record import DEFAULT_STALE_AFTER_S, Run, settle_liveness, stale_after_seconds
from cli_helpers import run_cli

from .helpers import age, config, write_record


def _record(state: str) -> dict:
    return {"id": "q201-s1", "seed": 1, "config": {"lr": 0.1, "max_steps": 29}, "status": {"state": state},
            "metrics": {"val/score": [[10, 0.5], [20, 0.6]]}}


def test_native_running_record_is_running_while_fresh_and_killed_when_silent(tmp_path):
    folder = tmp_path / "results" / "q201-s1"
    write_record(folder, _record("running"))
    (run,) = discover_runs(tmp_path / "results", config()).runs
    assert run.state == "running" and run.last_activity is not None
    assert "RA230" not in {f.rule for f in audit_run_record(run, config())}

    age(folder, DEFAULT_STALE_AFTER_S + 60)
    (run,) = discover_runs(tmp_path / "results", config()).runs
    assert run.state == "killed"
    ra230 = [f for f in audit_run_record(run, config()) if f.rule == "RA230"]
    assert ra230 and "killed" in ra230[0].message


def test_a_checkpoint_written_recently_keeps_the_run_alive(tmp_path):
    folder = tmp_path / "results" / "q201-s1"
    write_record(folder, _record("running"))
    age(folder, DEFAULT_STALE_AFTER_S + 60)
    (folder / "ckpt").mkdir()
    (folder / "ckpt" / "step20.pt").write_bytes(b"x")  # the newest write anywhere in the folder counts
    (run,) = discover_runs(tmp_path / "results", config()).runs
    assert run.state == "running"


def test_completed_and_failed_records_are_never_touched(tmp_path):
    for state in ("completed", "failed", "killed"):
        write_record(tmp_path / "results" / state, {**_record(state), "id": state})
    age(tmp_path / "results", 10 * DEFAULT_STALE_AFTER_S)
    runs = {run.id: run for run in discover_runs(tmp_path / "results", config()).runs}
    assert {name: run.state for name, run in runs.items()} == {"completed": "completed", "failed": "failed",
                                                               "killed": "killed"}
    assert all(run.last_activity is None for run in runs.values())


@pytest.mark.parametrize("setting, seconds", [(90, 90.0), (1.5, 1.5), ("45s", 45.0), ("30m", 1800.0),
                                              ("2h", 7200.0), ("1d", 86400.0), ("600", 600.0), (None, 7200.0)])
def test_stale_after_accepts_seconds_and_units(setting, seconds):
    assert stale_after_seconds(config(runs=RunsSettings(stale_after=setting))) == seconds


def test_a_bad_stale_after_is_an_input_error():
    with pytest.raises(InputError, match="stale-after"):
        stale_after_seconds(config(runs=RunsSettings(stale_after="soon")))


def test_settle_uses_a_strict_threshold():
    runs = [Run(id=str(i), folder="/x", state="running", last_activity=1000.0) for i in range(2)]
    runs.append(Run(id="no-clock", folder="/x", state="running"))
    settle_liveness(runs[:1], now=1000.0 + 60, stale_after_s=60)
    settle_liveness(runs[1:], now=1000.0 + 61, stale_after_s=60)
    assert [r.state for r in runs] == ["running", "killed", "running"]  # no clock: nothing to judge by


def test_bad_stale_after_in_pyproject_exits_2_with_a_clear_message(tmp_path):
    write_record(tmp_path / "results" / "q201-s1", _record("running"))
    (tmp_path / "pyproject.toml").write_text('[tool.auditor.runs]\nstale-after = "whenever"\n')
    proc = run_cli("run", "q201-s1", "--results", str(tmp_path / "results"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "stale-after" in proc.stderr and "Traceback" not in proc.stderr

