"""A commit whose code cannot be read tonight (one git object missing; a commit not fetched yet) is an RA001
for tonight only: the nightly keeps no such result in its state, and audits that code again the next night,
when the object or the commit has arrived."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import git
import pytest
from repo_helpers import tinylab

from auditor.config import Config
from auditor.nightly.engine import NightlyOptions, run_nightly


def _night(root: Path, results: Path, repo: Path, name: str) -> tuple[list[dict], dict]:
    config = Config(root=root, cache_dir_setting=str(root / "cache"))
    out = root / f"out-{name}"
    outcome = run_nightly(NightlyOptions(results_dir=results, out=out, repo=str(repo), jobs=1, progress=False),
                          config)
    return json.loads((out / "findings.json").read_text())["findings"], outcome.stats


def _unreadable(findings: list[dict]) -> list[dict]:
    return [f for f in findings if f["rule"] == "RA001" and "unreadable_commit" in f["evidence"]]


def _commit(repo: git.Repo, files: dict[str, str], message: str) -> str:
    for path, text in files.items():
        target = Path(repo.working_tree_dir) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    repo.index.add(list(files))
    return repo.index.commit(message).hexsha


def _record(run_id: str, sha: str, **extra) -> dict:
    return {"id": run_id, "seed": 0, "git": {"sha": sha, "dirty": False}, "config": {"lr": 0.1},
            "status": {"state": "completed", "exit_code": 0}, "reported": {"val/acc": 0.5, "step": 1}, **extra}


def _write(results: Path, record: dict) -> None:
    (results / record["id"]).mkdir(parents=True, exist_ok=True)
    (results / record["id"] / "run.json").write_text(json.dumps(record))


def test_a_missing_git_object_is_scanned_again_once_it_is_back(tmp_path):
    repo_dir = tmp_path / "repo"
    with git.Repo.init(repo_dir) as repo:
        sha = _commit(repo, {"train.py": "import random\nrandom.shuffle([1, 2])\n"}, "train")
        blob = (repo.commit(sha).tree / "train.py").hexsha
    obj = repo_dir / ".git" / "objects" / blob[:2] / blob[2:]
    shutil.move(obj, tmp_path / "object")  # a damaged clone tonight
    results = tmp_path / "results"
    _write(results, _record("r", sha))

    first, stats = _night(tmp_path, results, repo_dir, "1")
    assert stats["shas_scanned"] == 1
    (finding,) = _unreadable(first)
    assert finding["severity"] == "error" and sha in finding["message"]

    shutil.move(tmp_path / "object", obj)  # repaired (fetched again) before the next night
    second, stats = _night(tmp_path, results, repo_dir, "2")
    assert stats["shas_scanned"] == 1  # not served from the state: scanned again
    assert not _unreadable(second), second

    third, stats = _night(tmp_path, results, repo_dir, "3")
    assert stats["shas_scanned"] == 0 and third == second  # a readable commit's result is kept as before




def test_a_replay_of_a_commit_not_fetched_yet_runs_the_night_after_the_fetch(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    with git.Repo.init(tmp_path / "upstream") as upstream:
        _commit(upstream, {"README.md": "lab\n"}, "start")
        clone = upstream.clone(str(tmp_path / "clone"))  # the nightly's repository, cloned before the run
        sha = _commit(upstream, tinylab(), "the run's model")
    results = tmp_path / "results"
    torch.manual_seed(0)
    (results / "r" / "ckpt").mkdir(parents=True)
    safetensors_torch.save_file({k: v.contiguous() for k, v in torch.nn.Linear(4, 2).state_dict().items()},
                                str(results / "r" / "ckpt" / "model.safetensors"))
    _write(results, _record("r", sha, checkpoint={"path": "ckpt/model.safetensors"},
                            replay={"model": "tinylab.model:build", "evaluate": "tinylab.model:evaluate",
                                    "quant": "none"}))

    first, stats = _night(tmp_path, results, Path(clone.working_tree_dir), "1")
    assert stats["replays_run"] == 1
    (replay,) = [f for f in _unreadable(first) if f["evidence"].get("stage") == "replay"]
    assert sha in replay["message"] and "no such commit" in replay["message"]
    assert "RA202" in {f["rule"] for f in first}  # the run's commit is not in the repository

    clone.remotes.origin.fetch()  # the commit arrives
    clone.close()
    second, stats = _night(tmp_path, results, tmp_path / "clone", "2")
    assert stats["replays_run"] == 1  # not served from the state: replayed now that the code can be read
    assert not _unreadable(second) and "RA202" not in {f["rule"] for f in second}, second
