"""The results directory is the boundary for reads: a file symlinked from outside it (a token, ~/.netrc) is
never read into a report, FIFOs and devices are never opened (no hang, no endless read), and a folder
symlink out of a run folder is never walked; each refusal is one RA001 naming the path, never its content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from cli_helpers import run_cli

from auditor import safe_read
from auditor.runs.discover import discover_runs
from auditor.runs.discovery_cache import signature

from .helpers import config, write_record

SECRET = "ghp_TOPSECRETTOKEN0123456789"
GOOD = {"id": "good", "group": "g", "seed": 0, "status": {"state": "completed", "exit_code": 0},
        "metrics": {"val/acc": [[10, 0.5]]}, "reported": {"val/acc": 0.5, "step": 10}}


@pytest.fixture
def outside(tmp_path):
    secrets = tmp_path / "home"
    secrets.mkdir()
    (secrets / "token").write_text(SECRET + "\n")
    (secrets / "run.yaml").write_text(f"id: leak\ngit: {{sha: {SECRET}}}\n")
    return secrets


def _messages(discovery) -> str:
    return json.dumps([f.to_json() for f in discovery.problems]) + json.dumps([vars(r) for r in discovery.runs],
                                                                             default=str)


def test_a_record_symlinked_from_outside_is_one_ra001_without_its_content(tmp_path, outside):
    results = tmp_path / "results"
    write_record(results / "good", GOOD)
    (results / "leak").mkdir()
    os.symlink(outside / "run.yaml", results / "leak" / "run.yaml")
    discovery = discover_runs(results, config(), cache=False)
    assert [r.id for r in discovery.runs] == ["good"]
    (problem,) = discovery.problems
    assert problem.rule == "RA001" and "leak/run.yaml" in problem.location.path
    assert "outside the audited folder" in problem.message
    assert SECRET not in _messages(discovery)


def test_a_symlink_inside_the_results_directory_is_read(tmp_path):
    results = tmp_path / "results"
    write_record(results / "shared", {**GOOD, "id": "linked"})
    (results / "alias").mkdir()
    os.symlink(results / "shared" / "run.yaml", results / "alias" / "run.yaml")
    (results / "shared" / "run.yaml").rename(results / "shared" / "record.txt")
    os.symlink("record.txt", results / "shared" / "run.yaml")
    discovery = discover_runs(results, config(), cache=False)
    assert {r.id for r in discovery.runs} == {"linked"} and len(discovery.problems) == 1  # one duplicate id


def test_a_folder_symlink_out_of_a_run_folder_is_not_followed(tmp_path, outside):
    results = tmp_path / "results"
    write_record(results / "good", GOOD)
    os.symlink(outside, results / "good" / "files")
    discovery = discover_runs(results, config(), cache=False)
    assert [r.id for r in discovery.runs] == ["good"] and SECRET not in _messages(discovery)
    folder = str(results / "good")
    sig, _ = signature(folder, set(os.listdir(folder)), "native", {"files"})
    assert "token" not in sig  # the signature does not walk what the link points at


@pytest.mark.parametrize("make", ["fifo", "device"])
def test_fifos_and_devices_are_never_opened(tmp_path, make):
    results = tmp_path / "results"
    write_record(results / "good", GOOD)
    (results / "trap").mkdir()
    if make == "fifo":
        os.mkfifo(results / "trap" / "run.yaml")  # an open for reading would wait for a writer for ever
    else:
        os.symlink("/dev/zero", results / "trap" / "run.yaml")  # never ends
    # in a child with a timeout: were the guard gone, this test fails instead of hanging the suite
    proc = run_cli("run", "trap", "--results", results, cwd=tmp_path)
    why = "not a regular file" if make == "fifo" else "outside the audited folder"
    assert proc.returncode == 2 and why in proc.stderr and "trap/run.yaml" in proc.stderr, proc.stderr
    with pytest.raises(safe_read.UnsafeFile, match="a FIFO" if make == "fifo" else "a character device"):
        safe_read.read_bytes(results / "trap" / "run.yaml")  # without a boundary: still never opened
    discovery = discover_runs(results, config(), cache=False)
    assert [r.id for r in discovery.runs] == ["good"] and len(discovery.problems) == 1


def test_size_is_checked_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 2048)
    with pytest.raises(safe_read.UnsafeFile, match="too large"):
        safe_read.read_bytes(big, max_bytes=1024)
    assert safe_read.read_bytes(big, max_bytes=4096) == b"#" * 2048


MLFLOW_SCRIPT = textwrap.dedent("""
    import sys
    import mlflow

    mlflow.set_tracking_uri("file:" + sys.argv[1])
    mlflow.set_experiment("leak")
    with mlflow.start_run(run_name="s0"):
        mlflow.log_param("seed", 0)
        mlflow.set_tag("mlflow.source.git.commit", "0" * 40)
        mlflow.log_metric("val/acc", 0.5, step=1)
""")


def test_an_mlflow_tag_linked_to_a_token_never_becomes_the_sha(tmp_path, outside):
    pytest.importorskip("mlflow")
    results = tmp_path / "results"
    (tmp_path / "log.py").write_text(MLFLOW_SCRIPT)
    subprocess.run([sys.executable, str(tmp_path / "log.py"), str(results / "mlruns")], cwd=tmp_path, check=True,
                   env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}, capture_output=True, timeout=300)
    (tag,) = results.glob("mlruns/*/*/tags/mlflow.source.git.commit")
    tag.unlink()
    os.symlink(outside / "token", tag)
    discovery = discover_runs(results, config(), cache=False)
    assert SECRET not in _messages(discovery)
    (problem,) = discovery.problems
    assert "mlflow.source.git.commit" in problem.location.path and "outside" in problem.message


@pytest.mark.parametrize("twin", ["b\u0430se-s0", "base-s0\u200b", "\u202ebase-s0", "ｂａｓｅ-s0"])
def test_look_alike_ids_are_flagged(tmp_path, twin):
    results = tmp_path / "results"
    write_record(results / "one", {**GOOD, "id": "base-s0"})
    write_record(results / "two", {**GOOD, "id": twin})
    discovery = discover_runs(results, config(), cache=False)
    (problem,) = discovery.problems
    assert "looks like 'base-s0'" in problem.message and problem.evidence == {"field": "id"}
    assert "\u202e" not in problem.message and "\u200b" not in problem.message
