"""Native run.yaml/run.json, schema errors, find_run, the key map, and discovery's robustness."""

from __future__ import annotations

import os

import pytest

from auditor.config import RunsSettings, load_config
from auditor.errors import InputError
from auditor.runs.discover import discover_runs, find_run

from .helpers import config, write_record

Q201 = {
    "id": "q201-s0", "group": "q201", "seed": 0,
    "git": {"sha": "e2dfbd8c", "dirty": False},
    "config": {"strategy": "adversarial", "lr": 3.0e-4, "trainer": {"total_training_steps": 29, "test_freq": 20},
               "eval": {"quant": "mxfp4-w4a4"}},
    "status": {"state": "completed", "exit_code": 0, "elapsed_s": 6856},
    "metrics": {"val/acc": [[29, 0.7142], [0, 0.0796], [20, 0.6073]]},
    "reported": {"val/acc": 0.7142, "step": 29},
    "checkpoint": {"path": "ckpt/model.safetensors"},
    "replay": {"model": "pkg.models:build", "evaluate": "pkg.eval:run", "quant": "mxfp4-w4a4"},
    "environment": {"python": "3.11.7", "torch": "2.13.0", "packages": {"numpy": "1.26.4"}},
    "entry_point": "train.py",
}


def test_yaml_and_json_records_map_the_same(tmp_path):
    write_record(tmp_path / "r" / "a", Q201)
    write_record(tmp_path / "r" / "b", {**Q201, "id": "q201-s0-json"}, fmt="json")
    discovery = discover_runs(tmp_path / "r", config())
    assert discovery.problems == [] and [r.id for r in discovery.runs] == ["q201-s0", "q201-s0-json"]
    run, twin = discovery.runs
    assert run.metrics["val/acc"] == [(0, 0.0796), (20, 0.6073), (29, 0.7142)]  # sorted by step
    assert run.max_steps == 29 and run.seed == 0 and run.state == "completed"
    assert run.eval == {"quant": "mxfp4-w4a4"}  # from config through the key map (eval.quant)
    assert run.checkpoint == {"path": str(tmp_path / "r" / "a" / "ckpt" / "model.safetensors")}
    assert run.record_path == os.path.join(str(tmp_path / "r"), "a", "run.yaml")
    for name in ("metrics", "config", "max_steps", "eval", "environment", "entry_point", "git_sha", "reported"):
        assert getattr(run, name) == getattr(twin, name), name


def test_schema_violation_names_file_and_field(tmp_path):
    results = tmp_path / "results"
    write_record(results / "q201-s0", {**Q201, "status": {"state": "done"}})
    write_record(results / "q201-s1", {**Q201, "id": "q201-s1"})
    discovery = discover_runs(results, config())
    assert [r.id for r in discovery.runs] == ["q201-s1"]
    (problem,) = discovery.problems
    assert problem.rule == "RA001" and problem.location.path == str(results / "q201-s0" / "run.yaml")
    assert problem.message.startswith("status.state: 'done' is not one of")
    with pytest.raises(InputError) as err:
        find_run(results, "q201-s0", config())
    assert str(err.value).startswith(f"{results}/q201-s0/run.yaml: status.state: 'done' is not one of")


@pytest.mark.parametrize("record, field", [
    ({"id": "x", "metrics": {"val/acc": [[0, "high"]]}}, "metrics.val/acc.0.1"),
    ({"id": "x", "seed": 1.5}, "seed"),
    ({"id": "x", "git": {"sha": "not-hex"}}, "git.sha"),
    ({"group": "g"}, "id"),
    ({"id": "x", "checkpoint": {}}, "checkpoint.path"),
])
def test_more_schema_violations(tmp_path, record, field):
    write_record(tmp_path / "x", record)
    with pytest.raises(InputError) as err:
        find_run(tmp_path, "x", config())
    assert err.value.field == field and err.value.path.endswith("run.yaml")


def test_broken_yaml_names_the_line(tmp_path):
    folder = tmp_path / "results" / "broken"
    folder.mkdir(parents=True)
    (folder / "run.yaml").write_text("id: broken\nseed: 0\nconfig: {lr: [1, 2}\n")
    discovery = discover_runs(tmp_path / "results", config())
    (problem,) = discovery.problems
    assert problem.location.line == 3 and "invalid YAML" in problem.message
    with pytest.raises(InputError) as err:
        find_run(tmp_path / "results", "broken", config())
    assert err.value.line == 3


def test_broken_record_found_by_its_id_in_another_folder(tmp_path):
    folder = tmp_path / "results" / "2026-01-01"
    folder.mkdir(parents=True)
    (folder / "run.json").write_text('{"id": "e13k", "seed": 0, "status": {"state": 3}}')
    with pytest.raises(InputError) as err:
        find_run(tmp_path / "results", "e13k", config())
    assert err.value.field == "status.state"


def test_unknown_id_is_an_input_error(tmp_path):
    write_record(tmp_path / "a", Q201)
    with pytest.raises(InputError, match="no run with id, folder or display name 'nope'"):
        find_run(tmp_path, "nope", config())
    assert find_run(tmp_path, "a", config()).id == "q201-s0"  # folder name
    assert find_run(tmp_path, "q201-s0", config()).id == "q201-s0"


def test_duplicate_ids_are_reported_and_first_kept(tmp_path):
    write_record(tmp_path / "a", Q201)
    write_record(tmp_path / "b", Q201)
    discovery = discover_runs(tmp_path, config())
    assert len(discovery.runs) == 1 and discovery.runs[0].record_path.endswith(os.path.join("a", "run.yaml"))
    (problem,) = discovery.problems
    assert "duplicate run id 'q201-s0'" in problem.message and problem.location.path.endswith("b/run.yaml")


def test_symlink_loop_and_symlinked_run_are_not_followed(tmp_path):
    write_record(tmp_path / "runs" / "a", Q201)
    os.symlink(tmp_path / "runs", tmp_path / "runs" / "a" / "loop")
    os.symlink(tmp_path / "runs", tmp_path / "runs" / "self")
    os.symlink(tmp_path / "runs" / "a", tmp_path / "runs" / "latest")
    discovery = discover_runs(tmp_path / "runs", config())
    assert [r.id for r in discovery.runs] == ["q201-s0"] and discovery.problems == []


def test_unreadable_file_is_reported_and_the_rest_read(tmp_path):
    write_record(tmp_path / "ok", Q201)
    locked = write_record(tmp_path / "locked", {**Q201, "id": "locked"})
    os.chmod(locked, 0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reads")
        discovery = discover_runs(tmp_path, config())
        assert [r.id for r in discovery.runs] == ["q201-s0"]
        (problem,) = discovery.problems
        assert "cannot read" in problem.message and problem.location.path.endswith("locked/run.yaml")
    finally:
        os.chmod(locked, 0o644)


def test_unreadable_directory_is_reported(tmp_path):
    write_record(tmp_path / "ok", Q201)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reads")
        discovery = discover_runs(tmp_path, config())
        assert [r.id for r in discovery.runs] == ["q201-s0"] and len(discovery.problems) == 1
    finally:
        os.chmod(locked, 0o755)


def test_undecodable_and_empty_files(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "run.yaml").write_bytes(b"\xff\xfe\x00id: x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "run.json").write_text("")
    write_record(tmp_path / "ok", Q201)
    discovery = discover_runs(tmp_path, config())
    assert [r.id for r in discovery.runs] == ["q201-s0"]
    assert sorted(p.location.path.rsplit("/", 2)[-2] for p in discovery.problems) == ["bin", "empty"]


def test_results_dir_missing(tmp_path):
    with pytest.raises(InputError, match="results directory not found"):
        discover_runs(tmp_path / "nope", config())


def test_key_map_override_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.auditor.key-map]\nseed = ["exp.rng_seed"]\nmax_steps = ["sched.iters"]\n'
        'eval_interval = ["sched.eval_every"]\n')
    cfg = load_config(tmp_path)
    record = {"id": "k", "config": {"exp": {"rng_seed": 5}, "sched": {"iters": 29, "eval_every": 20}, "seed": 99,
                                    "max_steps": 1000}, "metrics": {"val/acc": [[0, 0.1], [20, 0.6]]}}
    write_record(tmp_path / "results" / "k", record)
    (run,) = discover_runs(tmp_path / "results", cfg).runs
    assert run.seed == 5 and run.max_steps == 29  # the override replaces the defaults for that meaning
    from auditor.runs.audit import audit_run_record

    (ra220,) = [f for f in audit_run_record(run, cfg) if f.rule == "RA220"]
    assert ra220.evidence["eval_interval"] == 20 and "not 29" in ra220.message
    (default_run,) = discover_runs(tmp_path / "results", config()).runs
    assert default_run.seed == 99 and default_run.max_steps == 1000


def test_deterministic_discovery(tmp_path):
    for index in range(5):
        write_record(tmp_path / f"r{index}", {**Q201, "id": f"run-{4 - index}"})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.yaml").write_text("id: [\n")
    first = discover_runs(tmp_path, config())
    second = discover_runs(tmp_path, config())
    assert [r.id for r in first.runs] == [f"run-{i}" for i in range(5)]
    assert [vars(r) for r in first.runs] == [vars(r) for r in second.runs]
    assert [p.to_json() for p in first.problems] == [p.to_json() for p in second.problems]


def test_dangling_symlink_record_is_reported_even_as_root(tmp_path):
    write_record(tmp_path / "ok", Q201)
    (tmp_path / "dangling").mkdir()
    os.symlink(tmp_path / "nowhere.yaml", tmp_path / "dangling" / "run.yaml")
    discovery = discover_runs(tmp_path, config())
    assert [r.id for r in discovery.runs] == ["q201-s0"]
    (problem,) = discovery.problems
    assert "cannot read" in problem.message and problem.location.path.endswith("dangling/run.yaml")


def test_process_pool_reads_the_same_as_one_process(tmp_path, monkeypatch):
    import auditor.runs.discover as discover_module

    for index in range(12):
        write_record(tmp_path / f"r{index:02d}", {**Q201, "id": f"run-{index:02d}"})
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.yaml").write_text("id: x\nstatus: {state: done}\n")
    serial = discover_runs(tmp_path, config(runs=RunsSettings(workers=1)))
    monkeypatch.setattr(discover_module, "PARALLEL_THRESHOLD", 2)
    pooled = discover_runs(tmp_path, config(runs=RunsSettings(workers=2)))
    assert [vars(r) for r in pooled.runs] == [vars(r) for r in serial.runs] and len(serial.runs) == 12
    assert [p.to_json() for p in pooled.problems] == [p.to_json() for p in serial.problems]
