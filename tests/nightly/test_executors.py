"""The same task functions on a local process pool, a real local Ray cluster and submitit's local
executor: the same findings, in input order."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nightly_lab import make_repo, make_results

from auditor.config import Config, NightlySettings
from auditor.errors import UsageError
from auditor.executors import (
    JobFailed,
    LocalExecutor,
    TaskInterrupted,
    make_executor,
    parse_minutes,
)
from auditor.executors.common import Answer, Envelope, check_answer, run_envelope
from auditor.nightly.engine import NightlyOptions, run_nightly


def square(x: int) -> int:  # the local pool forks: a test-module function is fine there
    return x * x


def square_or_die(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # the OOM killer's way
    return x * x


def swallowing_task(_x: int) -> str:
    """Like a replay: the scheduler's stop signal raises inside it, and its broad except turns that into a value."""
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
        time.sleep(1)
        return "finished"
    except Exception:  # noqa: BLE001 - the broad except under test
        return "replay not run"  # what must never be stored as this task's result


def _submitit_like_handler(_signum, _frame):
    raise RuntimeError("UncompletedJobError: the job timed out")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("executors")
    repo, shas = make_repo(root)
    results = make_results(root, shas, n_extra=30)
    return root, repo, results


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from auditor.executors.ray import running_cluster

    if running_cluster():  # a head runs here (or RAY_ADDRESS is set): join it; Ray refuses num_cpus then
        ray.init(include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _findings(lab, tmp_path, executor: str, **options) -> tuple[list[dict], dict]:
    root, repo, results = lab
    config = Config(root=root, cache_dir_setting=str(tmp_path / f"cache-{executor}"),
                    nightly=NightlySettings(chunk_size=7))
    out = tmp_path / f"out-{executor}"
    outcome = run_nightly(NightlyOptions(results_dir=results, out=out, repo=str(repo), executor=executor,
                                         progress=False, **options), config)
    assert outcome.stats["runs_audited"] == outcome.stats["runs"] == 36
    return json.loads((out / "findings.json").read_text())["findings"], outcome.stats


def test_local_pool_keeps_input_order_and_reports_each_result():
    seen = []
    results = LocalExecutor(jobs=2).map(square, list(range(20)), on_result=lambda i, r: seen.append((i, r)))
    assert results == [x * x for x in range(20)]
    assert sorted(seen) == [(i, i * i) for i in range(20)]


def test_a_dead_worker_is_a_failure_after_the_other_results_are_reported():
    seen = []
    with pytest.raises(JobFailed, match="worker process died"):
        LocalExecutor(jobs=2).map(square_or_die, [1, 2, 3], on_result=lambda i, _r: seen.append(i))
    assert 2 not in seen  # the dead task's result is never reported


def test_a_task_told_to_stop_fails_whatever_its_code_made_of_the_signal():
    previous = signal.signal(signal.SIGUSR2, _submitit_like_handler)  # submitit arms one in every Slurm task
    try:
        with pytest.raises(TaskInterrupted, match="stopped by signal"):
            run_envelope(Envelope("night", 0, swallowing_task, 1))
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert run_envelope(Envelope("night", 0, square, 4)).result == 16


def test_an_answer_is_checked_to_belong_to_the_task_sent():
    assert check_answer(Answer("night-1", 2, "ok"), "night-1", 2, "job 7_2") == "ok"
    with pytest.raises(JobFailed, match="result of another task"):
        check_answer(Answer("night-0", 2, "stale"), "night-1", 2, "job 7_2")  # same job id, an older nightly


@pytest.mark.usefixtures("ray_cluster")
def test_ray_and_submitit_give_the_same_findings_as_the_local_pool(lab, tmp_path):
    local, _ = _findings(lab, tmp_path, "local", jobs=2)
    assert any(f["rule"] == "RA220" for f in local) and any(f["rule"] == "RA101" for f in local)
    on_ray, _ = _findings(lab, tmp_path, "ray")
    assert on_ray == local
    pytest.importorskip("submitit")
    on_slurm, _ = _findings(lab, tmp_path, "slurm", cluster="local", time="00:10:00")
    assert on_slurm == local
    # Each nightly had its own job folder, removed once it finished cleanly.
    assert not [p for p in (tmp_path / "cache-slurm" / "nightly").rglob("*") if p.suffix == ".pkl"]


def test_ray_executor_map_in_order(ray_cluster):
    executor = make_executor("ray")
    # Ray workers import the function by module name: one of the package's own.
    assert executor.map(parse_minutes, ["90", "1:30:00", 5, "2-00:00:00"]) == [90, 90, 5, 2880]
    executor.close()  # the module's cluster was started elsewhere: left running
    assert ray_cluster.is_initialized()


def test_slurm_time_and_unknown_executor():
    assert parse_minutes("90") == 90 and parse_minutes("1:30:00") == 90 and parse_minutes("1-00:00:00") == 1440
    with pytest.raises(UsageError):
        parse_minutes("soon")
    with pytest.raises(UsageError, match="unknown executor"):
        make_executor("kubernetes")
