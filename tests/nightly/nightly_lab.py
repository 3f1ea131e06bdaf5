"""A small lab for the nightly's tests: a real git repo with a trainer (the verl skip at one commit,
fixed at the next) and a results directory of native run records that used those commits."""

from __future__ import annotations

import json
from pathlib import Path

import git
import yaml

TRAINER_OK = '''\
class Trainer:
    def fit(self):
        for batch in self.train_dataloader:
            is_last_step = self.global_steps >= self.total_training_steps
            self.train_step(batch)
            if is_last_step or self.global_steps % self.test_freq == 0:
                val_metrics = self._validate()
                self.log(val_metrics)
            self.global_steps += 1
'''

TRAINER_SKIP = '''\
class Trainer:
    def fit(self):
        for batch in self.train_dataloader:
            is_last_step = self.global_steps >= self.total_training_steps
            self.train_step(batch)
            if is_last_step or self.global_steps % self.test_freq == 0:
                if is_last_step:
                    print("[WARN] Skipping final step validation to avoid known hang issue...")
                    val_metrics = {}
                else:
                    val_metrics = self._validate()
                self.log(val_metrics)
            self.global_steps += 1
'''


def make_repo(root: Path) -> tuple[Path, dict[str, str]]:
    """A git repo with commits "ok" (validates every time) and "skip" (the verl bug)."""
    repo_dir = root / "repo"
    (repo_dir / "trainer").mkdir(parents=True)
    repo = git.Repo.init(repo_dir)
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Lab")
        cfg.set_value("user", "email", "lab@example.com")
    shas = {}
    (repo_dir / "trainer" / "__init__.py").write_text("")
    (repo_dir / "trainer" / "ray_trainer.py").write_text(TRAINER_OK)
    repo.index.add(["trainer/__init__.py", "trainer/ray_trainer.py"])
    shas["ok"] = repo.index.commit("trainer").hexsha
    (repo_dir / "trainer" / "ray_trainer.py").write_text(TRAINER_SKIP)
    repo.index.add(["trainer/ray_trainer.py"])
    shas["skip"] = repo.index.commit("fix: Skip final step validation to avoid Ray deadlock").hexsha
    repo.close()
    return repo_dir, shas


def run_record(run_id: str, group: str, seed: int, sha: str, *, final: bool = True, score: float = 0.7,
               max_steps: int = 29) -> dict:
    val_steps = [0, 20] + ([max_steps] if final else [])
    values = [0.08, score - 0.05, score][: len(val_steps)]
    reported_step = val_steps[-1]
    return {
        "id": run_id, "group": group, "seed": seed,
        "git": {"sha": sha, "dirty": False},
        "config": {"strategy": group, "lr": 3.0e-4, "seed": seed,
                   "trainer": {"total_training_steps": max_steps, "test_freq": 20}},
        "status": {"state": "completed", "exit_code": 0, "elapsed_s": 100},
        "train": {"max_steps": max_steps},
        "eval": {"quant": "none", "dataset": "gsm8k-test", "framework": "v2"},
        "metrics": {"val/acc": [[s, v] for s, v in zip(val_steps, values, strict=False)],
                    "train/loss": [[s, 1.0 / (s + 1)] for s in range(0, max_steps + 1, 4)]},
        "reported": {"val/acc": values[len(val_steps) - 1], "step": reported_step},
    }


def write_run(results: Path, record: dict, fmt: str = "yaml") -> Path:
    folder = results / record["id"]
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = folder / "run.json"
        path.write_text(json.dumps(record))
    else:
        path = folder / "run.yaml"
        path.write_text(yaml.safe_dump(record, sort_keys=False))
    return path


def make_results(root: Path, shas: dict[str, str], n_extra: int = 0) -> Path:
    """Two seeded groups (one per commit), a comparison between them, and n_extra filler runs."""
    results = root / "results"
    results.mkdir(parents=True, exist_ok=True)
    for seed in range(3):
        write_run(results, run_record(f"base-s{seed}", "base", seed, shas["ok"], score=0.70 + 0.01 * seed))
        write_run(results, run_record(f"skip-s{seed}", "skip", seed, shas["skip"], final=False,
                                      score=0.72 + 0.01 * seed))
    for i in range(n_extra):
        write_run(results, run_record(f"filler-{i:05d}", f"fill{i % 7}", i % 5, shas["ok"], score=0.5 + (i % 13) / 100),
                  fmt="json")
    (results / "comparisons.yaml").write_text(yaml.safe_dump([
        {"name": "skip-vs-base", "baseline": "base", "treatment": "skip", "metric": "val/acc",
         "higher_is_better": True, "treatment_keys": ["strategy"]}], sort_keys=False))
    return results
