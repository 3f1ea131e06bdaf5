"""The nightly on a real single-node Slurm (sbatch, no local fallback) and a real Ray head, started by
tests/clusters.py: the same reports as the local pool, and a job that dies is a failure, never a finding,
never a hang. Run serially (`make test` runs them after the rest); CI requires them, elsewhere they skip
with the reason when the machine cannot run the clusters."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import git
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "nightly"))
import clusters
from nightly_lab import make_repo, make_results

from auditor.nightly.state import state_path

pytestmark = pytest.mark.clusters
REPORTS = ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json")

# A replay whose model takes as long as the file SLOW says (seconds): a job to kill, or to run past --time.
# SLOW sits outside the repository (its path is committed with the model): replays import the code at the
# run's commit, so a file written into the working tree afterwards would not be seen.
SLOW_MODEL = textwrap.dedent('''\
    import time
    from pathlib import Path

    import torch
    from torch import nn


    def build() -> nn.Module:
        slow = Path(SLOW_FILE)
        if slow.exists():
            time.sleep(float(slow.read_text()))
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 2))


    def evaluate(model: nn.Module) -> dict:
        return {"val/acc": 0.5}
''')


def _start(cluster):
    try:
        return cluster.start()
    except clusters.Unavailable as exc:
        if clusters.required():
            pytest.fail(f"the cluster could not start: {exc}")
        pytest.skip(f"no local cluster here: {exc}")


@pytest.fixture(scope="module")
def slurm():
    cluster = _start(clusters.Slurm(accounting=False))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("clusters")
    repo, shas = make_repo(root)
    results = make_results(root, shas, n_extra=20)
    return root, repo, results


def _nightly(root: Path, repo: Path, results: Path, out: Path, *extra: str, cache: str = "cache", env=None,
             wait: bool = True):
    argv = [sys.executable, "-m", "auditor", "nightly", str(results), "--repo", str(repo), "--out", str(out), "-v",
            *extra]
    full_env = {**os.environ, "XDG_CACHE_HOME": str(root / cache), **(env or {})}
    if not wait:
        return subprocess.Popen(argv, cwd=root, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, cwd=root, env=full_env, capture_output=True, text=True, timeout=900, check=False)


def _reports(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in REPORTS}


def _slurm_config(root: Path, grace: int = 3) -> str:
    """A config that puts the runs in several Slurm array tasks and gives up on a vanished job quickly."""
    path = root / f"auditor-grace{grace}.yaml"
    path.write_text(f"nightly:\n  chunk_size: 10\n  grace: {grace}\n")
    return str(path)


def test_local_slurm_and_ray_write_byte_identical_reports(lab, slurm):
    root, repo, results = lab
    local = _nightly(root, repo, results, root / "out-local", "--jobs", "2", cache="c-local")
    assert local.returncode == 1, local.stderr
    reference = _reports(root / "out-local")

    on_slurm = _nightly(root, repo, results, root / "out-slurm", "--executor", "slurm", "--time", "10",
                        "--config", _slurm_config(root), cache="c-slurm", env=slurm.env)
    assert on_slurm.returncode == 1, on_slurm.stderr
    assert _reports(root / "out-slurm") == reference
    # Slurm's own record of finished jobs: the nightly's array tasks ran there, and their folder is gone.
    finished = (slurm.root / "log" / "jobcomp.txt").read_text()
    assert finished.count("Name=audit-nightly") >= 3, finished  # 26 runs in chunks of 10, plus the SHAs
    assert not list((root / "c-slurm").rglob("*.pkl"))

    head = _start(clusters.RayHead())
    try:
        for name, extra in (("auto", ("--address", "auto")), ("no-address", ())):  # a head runs: join it
            on_ray = _nightly(root, repo, results, root / f"out-ray-{name}", "--executor", "ray", *extra,
                              cache=f"c-ray-{name}")
            assert on_ray.returncode == 1, on_ray.stderr
            assert _reports(root / f"out-ray-{name}") == reference, name
        # Ray workers use the driver's cache dir, not their own: the code scan's cache is under it.
        assert (root / "c-ray-auto" / "auditor").is_dir()
    finally:
        head.stop()


def test_a_restarted_cluster_repeating_job_ids_never_hands_old_results_to_new_jobs(tmp_path, slurm):
    repo, shas = make_repo(tmp_path)
    first = make_results(tmp_path / "a", shas, n_extra=10)
    second = make_results(tmp_path / "b", shas, n_extra=3)
    config = _slurm_config(tmp_path)
    done = _nightly(tmp_path, repo, first, tmp_path / "out-a", "--executor", "slurm", "--config", config,
                    env=slurm.env)
    assert done.returncode == 1, done.stderr
    slurm.stop()
    slurm.start(fresh=True)  # job ids start again at 1
    reference = _nightly(tmp_path, repo, second, tmp_path / "out-ref", "--jobs", "1", cache="c-ref")
    again = _nightly(tmp_path, repo, second, tmp_path / "out-b", "--executor", "slurm", "--config", config,
                     env=slurm.env)
    assert again.returncode == 1, again.stderr
    assert _reports(tmp_path / "out-b") == _reports(tmp_path / "out-ref"), reference.stderr


@pytest.fixture
def slow_lab(tmp_path):
    """A repo with the slow model, one replaying run (whose record audit is quick) and a few plain runs."""
    repo_dir, shas = make_repo(tmp_path)
    (repo_dir / "slowlab").mkdir()
    (repo_dir / "slowlab" / "__init__.py").write_text("")
    (repo_dir / "slowlab" / "model.py").write_text(SLOW_MODEL.replace("SLOW_FILE", repr(str(tmp_path / "SLOW"))))
    repo = git.Repo(repo_dir)
    repo.index.add(["slowlab/__init__.py", "slowlab/model.py"])
    sha = repo.index.commit("slow model").hexsha
    repo.close()
    results = make_results(tmp_path, shas, n_extra=2)
    import torch
    from safetensors.torch import save_file

    run = results / "replayed-s0"
    (run / "ckpt").mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in __import__("torch").nn.Linear(4, 2).state_dict().items()},
              str(run / "ckpt" / "model.safetensors"))
    torch.manual_seed(0)
    (run / "run.json").write_text(json.dumps({
        "id": "replayed-s0", "group": "replayed", "seed": 0, "git": {"sha": sha, "dirty": False},
        "status": {"state": "completed", "exit_code": 0, "elapsed_s": 3}, "train": {"max_steps": 10},
        "metrics": {"val/acc": [[0, 0.1], [10, 0.5]]}, "reported": {"val/acc": 0.5, "step": 10},
        "checkpoint": {"path": "ckpt/model.safetensors"},
        "replay": {"model": "slowlab.model:build", "evaluate": "slowlab.model:evaluate"}}))
    return tmp_path, repo_dir, results


def _replay_rows(root: Path, results: Path, cache: str = "cache") -> int:
    import sqlite3

    db = state_path(root / cache / "auditor", results)
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM results WHERE kind='replay'").fetchone()[0]


def test_a_replay_past_its_time_limit_fails_the_nightly_and_is_not_kept(slow_lab, slurm):
    root, repo, results = slow_lab
    (root / "SLOW").write_text("200")  # far past --time 1
    config = _slurm_config(root, grace=3)
    done = _nightly(root, repo, results, root / "out", "--executor", "slurm", "--time", "1", "--config", config,
                    env=slurm.env)
    assert done.returncode == 2, done.stderr
    assert "did not finish on Slurm" in done.stderr and "log: " in done.stderr and "replays: job " in done.stderr
    log = Path(done.stderr.split("log: ")[1].split()[0])
    assert log.is_file()  # named, and kept for the owner to read
    assert not (root / "out" / "summary.json").exists()
    assert _replay_rows(root, results) == 0  # never a cached "replay not run"

    (root / "SLOW").unlink()
    rerun = _nightly(root, repo, results, root / "out", "--executor", "slurm", "--time", "1", "--config", config,
                     env=slurm.env)
    assert rerun.returncode in (0, 1), rerun.stderr
    assert "from the last nightly" in rerun.stderr and "replays: 1 (1 run)" in rerun.stderr
    assert _replay_rows(root, results) == 1


def _wait_for_running_job(slurm, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = slurm.run("squeue", "-h", "-r", "-t", "RUNNING", "-o", "%i %j").stdout.split("\n")
        ids = [line.split()[0] for line in running if line.endswith("audit-nightly-replays")]
        if ids:
            return ids[0]
        time.sleep(0.5)
    raise AssertionError("no replay job of the nightly started running on Slurm")


@pytest.mark.parametrize("accounting", [False, True], ids=["without-slurmdbd", "with-slurmdbd"])
def test_a_cancelled_job_is_a_failure_naming_it_never_a_hang(slow_lab, slurm, accounting):
    root, repo, results = slow_lab
    proc = None
    if accounting:
        slurm.stop()
        with_dbd = _start(clusters.Slurm(accounting=True))
    (root / "SLOW").write_text("300")
    try:
        proc = _nightly(root, repo, results, root / "out", "--executor", "slurm", "--config", _slurm_config(root),
                        "--time", "10", env=slurm.env, wait=False)
        job = _wait_for_running_job(slurm)
        time.sleep(1)
        slurm.run("scancel", job)
        _out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, err
        assert f"job {job}" in err and "log: " in err
        if accounting:
            assert "CANCELLED" in err  # sacct names the state
        assert _replay_rows(root, results) == 0
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if accounting:
            with_dbd.stop()
            slurm.start(fresh=True)


def test_a_stopped_driver_cancels_its_jobs(slow_lab, slurm):
    root, repo, results = slow_lab
    (root / "SLOW").write_text("300")
    proc = _nightly(root, repo, results, root / "out", "--executor", "slurm", "--config", _slurm_config(root),
                    env=slurm.env, wait=False)
    job = _wait_for_running_job(slurm)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0 and "cancelled 1 Slurm job" in err, err
    deadline = time.monotonic() + 60
    while slurm.run("squeue", "-h", "-j", job.split("_")[0]).stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not slurm.run("squeue", "-h", "-j", job.split("_")[0]).stdout.strip()
