"""The HTML report's plots and links: a crashed run's plot, an empty run, record links to a readable view,
code links at the finding's commit (a permalink, else the lines at that commit)."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import git
import pytest

from auditor.findings import Finding
from auditor.report import plots
from auditor.report.html import Links, _where
from auditor.runs.record import Run

pytest.importorskip("matplotlib")


def test_a_crashed_run_is_drawn_stopping_where_it_died():
    run = Run(id="crash", folder="/x", state="failed", max_steps=300,
              metrics={"loss": [(s, 1.0 / (s + 1)) for s in range(0, 151, 10)], "val/acc": [(0, 0.1), (100, 0.5)]})
    svg = plots.run_curve_svg(plots.run_curve_data(run))
    assert "planned steps (300)" in svg and "training stopped (150, failed)" in svg
    assert "last training step (300)" not in svg
    assert "after step 100" in svg  # the unevaluated stretch is 100-150, not 100-300

    finished = Run(id="ok", folder="/x", state="completed", max_steps=300, metrics={"val/acc": [(0, 0.1), (300, 0.5)]})
    svg = plots.run_curve_svg(plots.run_curve_data(finished))
    assert "last training step (300)" in svg and "training stopped" not in svg


@pytest.mark.parametrize("state", ["finished", "completed", "running", None])
def test_metrics_that_end_before_max_steps_are_drawn_ending_there_whatever_the_state(state):
    run = Run(id="short", folder="/x", state=state, max_steps=300,
              metrics={"loss": [(s, 1.0 / (s + 1)) for s in range(0, 71, 10)], "val/acc": [(0, 0.1), (50, 0.5)]})
    data = plots.run_curve_data(run)
    assert data["stopped_at"] == 70
    svg = plots.run_curve_svg(data)
    assert "metrics end at step 70 (planned 300)" in svg and "planned steps (300)" in svg
    assert "last training step (300)" not in svg and "training stopped" not in svg
    assert "after step 50" in svg  # the unevaluated stretch is 50-70, not 50-300
    assert plots.run_curve_svg(plots.run_curve_data(run)) == svg  # deterministic


@pytest.mark.parametrize("steps", [range(0, 300), range(1, 301), range(0, 301, 50)])
def test_a_run_whose_metrics_reach_max_steps_is_drawn_as_before(steps):
    """0-based (..299) and 1-based (..300) counts both reach max_steps 300: nothing marks an early end."""
    run = Run(id="full", folder="/x", state="finished", max_steps=300,
              metrics={"loss": [(s, 1.0 / (s + 1)) for s in steps], "val/acc": [(0, 0.1), (200, 0.5)]})
    data = plots.run_curve_data(run)
    assert data["stopped_at"] is None
    svg = plots.run_curve_svg(data)
    assert "last training step (300)" in svg and "metrics end" not in svg and "planned steps" not in svg


def test_an_empty_run_gets_no_chart_and_no_warning():
    data = plots.run_curve_data(Run(id="empty", folder="/x"))
    assert not plots.has_curve(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plots.run_curve_svg(data)  # even drawn, it must not warn (no empty legend)


def test_record_links_go_to_a_readable_view(tmp_path):
    wandb_run = tmp_path / "wandb" / "offline-run-1"
    wandb_run.mkdir(parents=True)
    native = tmp_path / "native" / "run.yaml"
    runs = [Run(id="w", folder=str(wandb_run), record_path=str(wandb_run / "run-1.wandb")),
            Run(id="n", folder=str(native.parent), record_path=str(native))]
    links = Links(tmp_path / "report", None, None, runs)
    assert links.run("w") == "../wandb/offline-run-1/"  # the folder, not the binary .wandb file
    assert links.run("n") == "../native/run.yaml"


def _repo_with_moved_line(tmp_path: Path) -> tuple[Path, str]:
    repo = git.Repo.init(tmp_path / "repo")
    root = Path(repo.working_tree_dir)
    (root / "t.py").write_text("import torch\nx = torch.load('a.pt')\n")
    repo.index.add(["t.py"])
    sha = repo.index.commit("old").hexsha
    (root / "t.py").write_text("import torch\n\n\n\n# moved down\nx = torch.load('a.pt')\n")
    return root, sha


def test_code_links_show_the_code_at_the_findings_commit(tmp_path):
    root, sha = _repo_with_moved_line(tmp_path)
    finding = Finding("RA170", "unsafe-checkpoint-load", "error", "unsafe", {"path": "t.py", "line": 2, "col": 0},
                      {"shas": [sha[:12]]})
    links = Links(tmp_path / "report", root, None, [])
    cell = _where(finding, links)
    assert 'href="' not in cell  # no link into today's working tree, where line 2 is now blank
    assert f"at <code>{sha[:10]}</code>" in cell and "&gt;    2  x = torch.load(&#x27;a.pt&#x27;)" in cell

    subprocess.run(["git", "-C", str(root), "remote", "add", "origin", "git@github.com:lab/trainer.git"], check=True)
    links = Links(tmp_path / "report", root, None, [])
    assert f'href="https://github.com/lab/trainer/blob/{sha[:12]}/t.py#L2"' in _where(finding, links)


def test_used_by_lists_only_runs_whose_training_path_has_the_file(tmp_path):
    from types import SimpleNamespace

    from auditor.nightly.engine import Nightly, merge_code_findings
    from auditor.vcs import Repo

    repo = git.Repo.init(tmp_path / "lab")
    root = Path(repo.working_tree_dir)
    (root / "train.py").write_text("import model\n\nmodel.build()\n")
    (root / "evaluate.py").write_text("import metrics\n\nmetrics.score()\n")
    (root / "model.py").write_text("import torch\n\n\ndef build():\n    return torch.load('m.pt')\n")
    (root / "metrics.py").write_text("def score():\n    return 1\n")
    repo.index.add(["train.py", "evaluate.py", "model.py", "metrics.py"])
    sha = repo.index.commit("lab").hexsha
    runs = [Run(id="trainer", folder="/x", git_sha=sha, entry_point="train.py"),
            Run(id="evaluator", folder="/x", git_sha=sha, entry_point="evaluate.py"),
            Run(id="unknown", folder="/x", git_sha=sha)]
    reach = Nightly._training_paths(SimpleNamespace(repo=Repo(root)), runs)
    assert reach["trainer"] == {"train.py", "model.py"} and "unknown" not in reach
    finding = Finding("RA170", "unsafe-checkpoint-load", "warning", "unsafe", {"path": "model.py", "line": 5})
    merged = merge_code_findings({sha: [finding]}, {sha: ["evaluator", "trainer", "unknown"]}, reach)
    assert merged[0].evidence["runs"] == ["trainer", "unknown"]  # evaluate.py never imports model.py
