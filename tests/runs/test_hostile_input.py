"""Hostile results directories through every run-reading command: one line, exit 2, file and field for
the run asked for; RA001 for a broken run among many; nothing written into the results directory."""

from __future__ import annotations

import hashlib
import os

import pytest

from auditor.runs.audit import audit_run_record
from auditor.runs.discover import discover_runs
from cli_helpers import run_cli

from .helpers import config, write_record

GOOD = {"id": "good", "group": "g", "seed": 0, "config": {"lr": 0.1}, "status": {"state": "completed", "exit_code": 0},
        "metrics": {"val/acc": [[10, 0.5]]}, "reported": {"val/acc": 0.5, "step": 10}}

# run.yaml text of the run "bad" -> what the one error line must contain (file is checked separately)
BROKEN = {
    "a list": ("- id: bad\n- 2\n", "a run record must be a mapping, not list"),
    "binary garbage": (bytes(range(256)) * 4, "not UTF-8 text"),
    "empty": ("", "a run record must be a mapping, not NoneType"),
    "metrics of strings": ("id: bad\nmetrics: {val/acc: hello}\n", "metrics.val/acc:"),
    "steps as strings": ("id: bad\nmetrics: {val/acc: [['20', 0.5]]}\n", "metrics.val/acc.0.0:"),
    "value a word": ("id: bad\nmetrics: {val/acc: [[20, high]]}\n", "metrics.val/acc.0.1:"),
    "reported not a dict": ("id: bad\nreported: [0.5, 20]\n", "reported:"),
    "seed a list": ("id: bad\nseed: [1, 2]\n", "seed:"),
    "git a string": ("id: bad\ngit: e2dfbd8\n", "git:"),
    "status a string": ("id: bad\nstatus: failed\n", "status:"),
    "max_steps negative": ("id: bad\ntrain: {max_steps: -1}\n", "train.max_steps:"),
    "python tag": ("id: bad\nconfig: !!python/object/apply:os.system ['touch pwned']\n", "invalid YAML"),
}


def _tree_digest(root) -> str:
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        digest.update(folder.encode())
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(name.encode())
            if not os.path.islink(path):
                with open(path, "rb") as handle:
                    digest.update(handle.read())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    for index, (text, _) in enumerate(BROKEN.values()):
        results = root / f"case{index}"
        write_record(results / "good", GOOD)
        write_record(results / "good2", {**GOOD, "id": "good2", "seed": 1})
        (results / "bad").mkdir()
        (results / "bad" / "run.yaml").write_bytes(text if isinstance(text, bytes) else text.encode())
        os.symlink("..", results / "good" / "loop")  # a symlink loop inside a run folder
        os.symlink(".", results / "self")  # and at the top
    return root


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
@pytest.mark.parametrize("argv", [["run", "bad"], ["diff", "good", "bad"], ["replay", "bad"],
                                  ["compare", "g", "bad", "--metric", "val/acc"]], ids=lambda a: a[0])
def test_the_broken_run_asked_for_is_one_line_exit_2(hostile, case, argv):
    results = hostile / f"case{list(BROKEN).index(case)}"
    before = _tree_digest(results)
    proc = run_cli(*argv, "--results", results, cwd=hostile)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"audit: error: {results / 'bad' / 'run.yaml'}") and BROKEN[case][1] in line, line
    assert _tree_digest(results) == before and not (hostile / "pwned").exists()


@pytest.mark.parametrize("argv", [["run", "good"], ["diff", "good", "good2"],
                                  ["compare", "good", "good2", "--metric", "val/acc"]], ids=lambda a: a[0])
def test_a_broken_run_among_many_is_ra001(hostile, argv):
    results = hostile / "case0"
    before = _tree_digest(results)
    proc = run_cli(*argv, "--results", results, "--format", "json", cwd=hostile)
    assert proc.returncode in (0, 1), proc.stderr
    if argv[0] == "compare":  # run and diff audit the runs asked for; the others are none of their business
        assert '"rule": "RA001"' in proc.stdout and "bad/run.yaml" in proc.stdout
    assert _tree_digest(results) == before


@pytest.mark.parametrize("argv", [["run", "x"], ["diff", "x", "y"], ["replay", "x"],
                                  ["compare", "x", "y", "--metric", "m"], ["docs"]], ids=lambda a: a[0])
@pytest.mark.parametrize("kind", ["missing", "a file", "empty"])
def test_unusable_results_dir(tmp_path, argv, kind):
    (tmp_path / "README.md").write_text("# nothing\n")
    results = tmp_path / "results"
    if kind == "a file":
        results.write_text("x")
    elif kind == "empty":
        results.mkdir()
    proc = run_cli(*argv, "--results", results, cwd=tmp_path)
    if argv[0] == "docs" and kind == "empty":
        assert proc.returncode == 0, proc.stderr  # nothing claimed, nothing to contradict
        return
    assert proc.returncode == 2 and "internal error" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "results" in line, line


def test_yaml_1_2_numbers_are_numbers(tmp_path):
    """PyYAML reads `1e-3` and `1.0e400` as strings; the record means numbers (1e400 is inf: RA240)."""
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.yaml").write_text(
        "id: r\nseed: 0\nconfig: {lr: 1e-3}\nmetrics:\n  val/loss: [[1e3, 2e-1], [2e3, 1.0e400]]\n"
        "reported: {val/loss: 1.0e400, step: 2e3}\n")
    discovery = discover_runs(tmp_path, config())
    assert discovery.problems == []
    (run,) = discovery.runs
    assert run.metrics["val/loss"] == [(1000, 0.2), (2000, float("inf"))] and run.reported["step"] == 2000.0
    assert "RA240" in {f.rule for f in audit_run_record(run, config())}
