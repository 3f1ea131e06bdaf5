"""What a new user meets in the first hour: `audit init`, results read from [tool.auditor], "did you mean",
GitHub annotations, messages that say what happened."""

from __future__ import annotations

import sys
from pathlib import Path

import git
import pytest
import tomllib
import yaml

from auditor.config import load_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from cli_helpers import run_cli  # noqa: E402

TRAIN = '''\
import torch
from utils import my_seed
from quant import attach_mx_quant


def main():
    my_seed(0)
    torch.manual_seed(0)  # an entry point that seeds with a constant is not a seed helper
    model = attach_mx_quant(torch.nn.Linear(4, 1))
    return model


if __name__ == "__main__":
    main()
'''
UTILS = "import random\n\nimport torch\n\n\ndef my_seed(s):\n    random.seed(s)\n    torch.manual_seed(s)\n"
QUANT = '''\
import torch


def attach_mx_quant(model):
    def fake_quant(module, args):
        return tuple(a.round() for a in args)

    model.register_forward_pre_hook(fake_quant)
    return model
'''
RUN = {"id": "r1", "group": "g", "seed": 0, "status": {"state": "completed"},
       "metrics": {"val/acc": [[0, 0.1], [10, 0.5]]}, "reported": {"val/acc": 0.5, "step": 10},
       "train": {"max_steps": 10}}


def _project(tmp_path: Path) -> Path:
    repo = git.Repo.init(tmp_path / "proj")
    root = Path(repo.working_tree_dir)
    (root / "train.py").write_text(TRAIN)
    (root / "utils.py").write_text(UTILS)
    (root / "quant.py").write_text(QUANT)
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text("if __name__ == '__main__':\n    pass\n")
    (root / "pyproject.toml").write_text('[project]\nname = "proj"\n')
    run_dir = root / "outputs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.yaml").write_text(yaml.safe_dump(RUN))
    return root


def test_init_writes_a_config_every_command_reads_and_installs_the_hook(tmp_path):
    root = _project(tmp_path)
    shown = run_cli("init", "--dry-run", cwd=root)
    assert shown.returncode == 0, shown.stderr
    assert "[tool.auditor]" in shown.stdout and 'results = ["outputs"]' in shown.stdout
    assert "outputs/ (run records)" in shown.stdout
    assert "[tool.auditor]" not in (root / "pyproject.toml").read_text()  # a dry run writes nothing

    proc = run_cli("init", "--yes", "--hook", cwd=root)
    assert proc.returncode == 0, proc.stderr
    data = tomllib.loads((root / "pyproject.toml").read_text())
    assert data["project"]["name"] == "proj"  # what was there stays
    section = data["tool"]["auditor"]
    assert section["entry-points"] == ["train.py"]  # tests/ is not an entry point
    assert section["seed-helpers"] == ["my_seed"] and section["quant-hooks"] == ["attach_mx_quant"]
    config = load_config(root)
    assert config.results == ["outputs"] and "my_seed" in config.seed_helpers
    assert (root / ".git" / "hooks" / "pre-commit").is_file()

    # --results is optional now: `audit run` finds the run in the configured folder.
    run = run_cli("run", "r1", "--format", "json", cwd=root)
    assert run.returncode in (0, 1), run.stderr
    assert '"r1"' in run.stdout

    again = run_cli("init", "--yes", cwd=root)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_missing_results_says_how_to_configure_it(tmp_path):
    proc = run_cli("run", "r1", cwd=tmp_path)
    assert proc.returncode == 2 and "--results" in proc.stderr and "audit init" in proc.stderr


def test_did_you_mean_for_a_mistyped_command(tmp_path):
    proc = run_cli("sacn", cwd=tmp_path)
    assert proc.returncode == 2 and "Did you mean 'scan'?" in proc.stderr
    far = run_cli("zzzz", cwd=tmp_path)
    assert far.returncode == 2 and "No such command" in far.stderr and "Did you mean" not in far.stderr


def test_github_format_prints_workflow_annotations(tmp_path):
    unseeded = ("import numpy as np\nimport torch\n\n\ndef main():\n    return torch.nn.Linear(4, 1), "
                "np.random.permutation(9)\n\n\nif __name__ == \"__main__\":\n    main()\n")
    (tmp_path / "train.py").write_text(unseeded)
    proc = run_cli("scan", "--format", "github", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if "RA110" in x)
    assert line.startswith("::error title=RA110 seed-unset,file=train.py,line=9,col=1::")
    assert all(x.startswith("::") for x in proc.stdout.splitlines())  # nothing else on stdout


def _two_runs(tmp_path: Path, config_a: dict, config_b: dict) -> Path:
    results = tmp_path / "results"
    for run_id, config in (("a", config_a), ("b", config_b)):
        (results / run_id).mkdir(parents=True)
        (results / run_id / "run.yaml").write_text(yaml.safe_dump({**RUN, "id": run_id, "config": config}))
    return results


def test_diff_counts_keys_and_says_when_nothing_was_recorded(tmp_path):
    results = _two_runs(tmp_path, {"lr": 1, "bs": 2, "x": 3, "y": 4}, {"lr": 2, "bs": 3, "x": 4, "y": 5})
    proc = run_cli("diff", "a", "b", "--results", results, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Config (4 keys differ)" in proc.stdout and "keies" not in proc.stdout
    environment = proc.stdout.split("Environment", 1)[1].splitlines()[1]
    assert "neither run recorded any" in environment  # not "same": there was nothing to compare


def test_a_schema_error_lists_every_problem_and_hints_at_the_word_meant(tmp_path):
    run_dir = tmp_path / "results" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "run.yaml").write_text(yaml.safe_dump({**RUN, "train": {"max_steps": "many"}, "status": {"state": "finished"}}))
    proc = run_cli("run", "r1", "--results", tmp_path / "results", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "did you mean 'completed'?" in proc.stderr and "train.max_steps" in proc.stderr and "'many'" in proc.stderr


def test_the_demo_replaces_its_own_folder_and_refuses_a_foreign_one(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_main", ROOT / "fixtures" / "demo" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "demo_main", demo)  # its dataclasses look their module up
    spec.loader.exec_module(demo)
    assert demo.DEFAULT_DIR == ROOT / "demo-out" and "/demo-out/" in (ROOT / ".gitignore").read_text()

    monkeypatch.setenv("AUDITOR_DEMO_DIR", str(tmp_path / "lab"))
    first = demo.fresh_root()
    (first / "left-from-last-time").write_text("x")
    second = demo.fresh_root()
    assert second == first and not (second / "left-from-last-time").exists()  # one lab, never a pile

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    monkeypatch.setenv("AUDITOR_DEMO_DIR", str(foreign))
    with pytest.raises(SystemExit, match="not made by the demo"):
        demo.fresh_root()
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_the_nightly_report_folder_defaults_to_the_cache_never_the_audited_tree(tmp_path, monkeypatch):
    from auditor.config import Config
    from auditor.errors import InputError
    from auditor.nightly.command import default_report_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    repo = tmp_path / "lab"
    results = repo / "results"
    results.mkdir(parents=True)
    folder = default_report_dir(Config(root=repo), results)
    assert folder.is_relative_to(tmp_path / "cache" / "auditor") and not folder.is_relative_to(repo)
    assert folder == default_report_dir(Config(root=repo), repo / "results")  # stable: one folder per DIR
    assert folder != default_report_dir(Config(root=repo), tmp_path / "other" / "results")

    folder.parent.mkdir(parents=True)
    folder.symlink_to(repo)  # planted: the report would land in the audited tree
    with pytest.raises(InputError, match="symlink"):
        default_report_dir(Config(root=repo), results)


def test_the_nightly_checks_every_markdown_file_at_the_top_and_under_docs(tmp_path):
    from types import SimpleNamespace

    from auditor.config import Config
    from auditor.nightly.engine import Nightly

    for rel in ("README.md", "RESULTS.md", "docs/guide/runs.md", "src/notes.md"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("# x\n")
    config = Config(root=tmp_path)
    nightly = SimpleNamespace(options=SimpleNamespace(docs=None), settings=config.nightly, repo_path=str(tmp_path),
                              config=config)
    found = [p.relative_to(tmp_path).as_posix() for p in Nightly.docs_paths(nightly)]
    assert found == ["README.md", "RESULTS.md", "docs/guide/runs.md"]
