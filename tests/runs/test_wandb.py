"""W&B offline runs written by the real wandb client, plus killed / truncated / corrupt logs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from auditor.errors import InputError
from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs, find_run
from auditor.runs.readers.wandb_log import BLOCK, CHUNK, read_payloads
from auditor.runs.series import Series

from .helpers import age, config, git_repo

pytest.importorskip("wandb")

SCRIPT = textwrap.dedent("""
    import sys
    import wandb

    out = sys.argv[1]
    for name, exit_code in (("good", 0), ("bad", 1)):
        run = wandb.init(project="p", dir=out, group="cond-a", save_code=True, id=name + "run1",
                         config={"seed": 7, "trainer": {"total_training_steps": 29, "test_freq": 20}, "lr": 3e-4})
        run.config.update({"extra": "late"})
        for step in range(29):
            row = {"train/loss": 1.0 / (step + 1)}
            if step % 20 == 0:
                row["val/acc"] = 0.1 + step / 100
            run.log(row, step=step)
        run.summary["best_acc"] = 0.9
        run.finish(exit_code=exit_code)
""")


@pytest.fixture(scope="module")
def wandb_results(tmp_path_factory):
    repo, sha = git_repo(tmp_path_factory.mktemp("wandb-repo"))
    (repo / "train.py").write_text("print('changed, not committed')\n")  # a dirty tree
    (repo / "log_runs.py").write_text(SCRIPT)
    results = tmp_path_factory.mktemp("wandb-results")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(results),
           "WANDB_CONSOLE": "off"}
    subprocess.run([sys.executable, "log_runs.py", str(results)], cwd=repo, env=env, check=True, timeout=300)
    return results, sha


def _by_id(results):
    discovery = discover_runs(results, config())
    return {run.id: run for run in discovery.runs}, discovery


def test_reads_config_history_git_and_exit_from_the_binary_log(wandb_results):
    results, sha = wandb_results
    runs, discovery = _by_id(results)
    assert set(runs) == {"goodrun1", "badrun1"}  # latest-run symlink is not read twice
    assert discovery.problems == []
    good = runs["goodrun1"]
    assert good.source == "wandb" and good.group == "cond-a"
    assert good.config["trainer"] == {"total_training_steps": 29, "test_freq": 20}
    assert good.config["extra"] == "late" and "_wandb" not in good.config
    assert good.seed == 7 and good.max_steps == 29  # through the key map
    assert good.git_sha == sha
    assert good.git_dirty is True  # files/diff.patch is non-empty
    assert good.state == "completed" and good.exit_code == 0
    assert good.metrics["val/acc"] == [(0, 0.1), (20, pytest.approx(0.3))]
    assert [s for s, _ in good.metrics["train/loss"]] == list(range(29))
    assert isinstance(good.metrics["train/loss"], Series)
    assert good.reported == {"best_acc": 0.9}
    assert good.environment["python"].startswith("3.") and "wandb" in good.environment["packages"]
    assert good.entry_point == "log_runs.py"
    assert runs["badrun1"].state == "failed" and runs["badrun1"].exit_code == 1


def test_rules_on_real_wandb_runs(wandb_results):
    results, _ = wandb_results
    runs, _ = _by_id(results)
    rules = {f.rule: f for f in audit_run_record(runs["goodrun1"], config())}
    assert "RA220" in rules and "step 20" in rules["RA220"].message  # test_freq 20, 29 steps
    assert "RA203" in rules and "RA201" not in rules and "RA210" not in rules
    assert "RA230" in {f.rule for f in audit_run_record(runs["badrun1"], config())}


def _log_path(results, run_id):
    (folder,) = [p for p in (results / "wandb").iterdir() if p.name.endswith(run_id) and not p.is_symlink()]
    return folder, next(folder.glob("*.wandb"))


def _copy_run(results, run_id, dest):
    import shutil

    folder, _ = _log_path(results, run_id)
    target = dest / "wandb" / folder.name
    shutil.copytree(folder, target, symlinks=True)
    return target, next(target.glob("*.wandb"))


def test_header_only_log_is_a_killed_run(wandb_results, tmp_path):
    results, _ = wandb_results
    folder, log = _copy_run(results, "goodrun1", tmp_path)
    log.write_bytes(log.read_bytes()[:7])  # what a SIGKILLed 0.31 run leaves
    import shutil

    shutil.rmtree(folder / "files", ignore_errors=True)  # killed before anything was flushed beside the log
    age(folder, 3 * 3600)
    runs, discovery = _by_id(tmp_path)
    (run,) = runs.values()
    assert discovery.problems == []
    assert run.state == "killed" and run.id == "goodrun1" and run.metrics == {}
    # "nothing was recorded", once, instead of RA201/RA210/RA211 about what an empty log could not hold
    findings = audit_run_record(run, config())
    assert [f.rule for f in findings] == ["RA001"] and "nothing was recorded" in findings[0].message


def test_truncated_chunk_keeps_earlier_records_and_reports(wandb_results, tmp_path):
    results, _ = wandb_results
    folder, log = _copy_run(results, "goodrun1", tmp_path)
    data = log.read_bytes()
    log.write_bytes(data[: len(data) * 2 // 3])
    age(folder, 3 * 3600)
    runs, discovery = _by_id(tmp_path)
    run = runs["goodrun1"]
    assert run.state == "killed"  # the exit record was cut off
    assert run.config["trainer"]["total_training_steps"] == 29 and run.metrics["train/loss"]
    assert any("truncated" in p["message"] or "incomplete" in p["message"] for p in run.problems)
    ra001 = [f for f in audit_run_record(run, config()) if f.rule == "RA001"]
    assert ra001 and ra001[0].location.path.endswith(log.name)
    ra230 = [f for f in audit_run_record(run, config()) if f.rule == "RA230"]  # its partial history is no result
    assert ra230 and "killed" in ra230[0].message


def test_corrupt_header_is_ra001_and_an_input_error_for_that_run(wandb_results, tmp_path):
    results, _ = wandb_results
    _copy_run(results, "goodrun1", tmp_path)
    _, log = _copy_run(results, "badrun1", tmp_path)
    log.write_bytes(b"NOTWANDB" + log.read_bytes()[8:])
    runs, discovery = _by_id(tmp_path)
    assert set(runs) == {"goodrun1"}
    (problem,) = discovery.problems
    assert problem.rule == "RA001" and problem.location.path.endswith(log.name)
    with pytest.raises(InputError) as err:
        find_run(tmp_path, log.parent.name, config())
    assert log.name in str(err.value) and "magic" in str(err.value)


def test_crc_mismatch_stops_reading():
    good = read_payloads(b":W&B\xe1\xbe\x00")
    assert good.records == [] and good.problem is None
    import struct
    import zlib

    payload = b"x" * 10
    crc = zlib.crc32(payload, zlib.crc32(bytes([1])))
    chunk = CHUNK.pack(crc, len(payload), 1) + payload
    ok = read_payloads(b":W&B\xe1\xbe\x00" + chunk)
    assert ok.records == [payload]
    broken = read_payloads(b":W&B\xe1\xbe\x00" + CHUNK.pack(crc ^ 1, len(payload), 1) + payload)
    assert broken.records == [] and "CRC" in broken.problem
    assert BLOCK == 32768 and struct.calcsize("<IHB") == 7


def test_side_files_without_binary_log(tmp_path):
    """An online / synced run folder: wandb-metadata.json, wandb-summary.json and config.yaml only."""
    import json

    folder = tmp_path / "wandb" / "run-20260101_000000-abc123"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "wandb-metadata.json").write_text(json.dumps(
        {"python": "3.11.7", "git": {"commit": "e2dfbd8c" * 5, "remote": "x"}, "codePath": "train.py"}))
    (folder / "files" / "wandb-summary.json").write_text(json.dumps({"val/acc": 0.7, "_step": 29}))
    (folder / "files" / "config.yaml").write_text(
        "wandb_version: 1\n_wandb: {value: {}}\nseed: {desc: null, value: 3}\nlr: {value: 0.1}\n")
    runs, discovery = _by_id(tmp_path)
    run = runs["abc123"]
    assert run.config == {"seed": 3, "lr": 0.1} and run.seed == 3
    assert run.git_sha == "e2dfbd8c" * 5 and run.entry_point == "train.py" and run.reported == {"val/acc": 0.7}


def test_header_only_log_still_being_written_is_running(wandb_results, tmp_path):
    results, _ = wandb_results
    folder, log = _copy_run(results, "goodrun1", tmp_path)
    log.write_bytes(log.read_bytes()[:7])  # a live run whose writer has not flushed yet
    runs, _ = _by_id(tmp_path)
    assert runs["goodrun1"].state == "running"
    assert not [f for f in audit_run_record(runs["goodrun1"], config()) if f.rule == "RA230"]


def _chunks(data: bytes) -> list[tuple[int, int, int]]:
    """(offset, length, type) of each chunk of a real .wandb file (small runs: one 32 KiB block)."""
    from auditor.runs.readers.wandb_log import HEADER

    found, pos = [], HEADER.size
    while pos + CHUNK.size <= len(data) and pos // BLOCK == (pos + CHUNK.size - 1) // BLOCK:
        crc, length, kind = CHUNK.unpack_from(data, pos)
        if kind == 0:
            break
        found.append((pos, length, kind))
        pos += CHUNK.size + length
    return found


def test_corrupt_records_in_a_real_log_are_one_problem_with_a_count(wandb_results, tmp_path):
    """Two records replaced by junk (their CRCs made right: a writer's bug) and a flipped byte further on (bit
    rot): one RA001 for the file counting three bad records; the records before the flip are still audited."""
    import zlib

    results, sha = wandb_results
    folder, log = _copy_run(results, "goodrun1", tmp_path)
    data = bytearray(log.read_bytes())
    full = [c for c in _chunks(bytes(data)) if c[2] == 1]
    assert len(full) > 12 and len(data) < BLOCK  # the real file is big enough to corrupt its middle
    middle = len(full) // 2
    for pos, length, kind in full[middle:middle + 2]:
        junk = b"\xff" * length
        data[pos + CHUNK.size:pos + CHUNK.size + length] = junk
        data[pos:pos + 4] = (zlib.crc32(junk, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF).to_bytes(4, "little")
    pos, length, _ = full[middle + 4]
    data[pos + CHUNK.size + length // 2] ^= 0x5A
    log.write_bytes(bytes(data))
    age(folder, 3 * 3600)

    runs, discovery = _by_id(tmp_path)
    run = runs["goodrun1"]
    assert discovery.problems == []
    (problem,) = run.problems
    assert problem["count"] == 3 and "3 bad record(s)" in problem["message"]
    assert f"2 not a valid protobuf, skipped (first: record {middle})" in problem["message"]
    assert "CRC mismatch" in problem["message"] and "the rest of the file was not read" in problem["message"]
    # the good records before the damage: config, git, the first steps of the history
    assert run.git_sha == sha and run.config["trainer"]["total_training_steps"] == 29
    assert run.metrics["train/loss"] and run.state == "killed"  # the exit record was past the flip
    findings = audit_run_record(run, config())
    ra001 = [f for f in findings if f.rule == "RA001"]
    assert len(ra001) == 1 and ra001[0].location.path.endswith(log.name)
    assert "RA230" in {f.rule for f in findings}  # its partial history is still audited
