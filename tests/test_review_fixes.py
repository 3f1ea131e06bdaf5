"""Defects found in an end-to-end review of the command line, each pinned by a test that fails without its fix."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "nightly"))
from cli_helpers import run_cli  # noqa: E402
from nightly_lab import make_repo, make_results  # noqa: E402


@pytest.fixture
def lab(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = make_results(tmp_path, shas)
    return tmp_path, repo, results


def _one_line_usage_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


# -- nightly: one stale comparison among many is a finding, not the end of the nightly ---------------

def test_nightly_reports_an_unusable_comparison_and_checks_the_others(lab):
    root, repo, results = lab
    specs = yaml.safe_load((results / "comparisons.yaml").read_text())
    specs += [{"name": "gone", "baseline": "base", "treatment": "deleted-group", "metric": "val/acc"},
              {"name": "typo", "baseline": "base", "treatment": "skip", "metric": "val/acc_typo"}]
    (results / "comparisons.yaml").write_text(yaml.safe_dump(specs, sort_keys=False))
    out = root / "out"
    proc = run_cli("nightly", results, "--repo", repo, "--out", out, "--jobs", "1", cwd=root)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the valid comparison's findings still count
    findings = json.loads((out / "findings.json").read_text())["findings"]
    unusable = {f["evidence"]["comparison"]: f for f in findings if f["rule"] == "RA001" and "comparison" in f["evidence"]}
    assert set(unusable) == {"gone", "typo"}
    assert "deleted-group" in unusable["gone"]["message"] and "comparisons.yaml:" in unusable["gone"]["message"]
    assert unusable["typo"]["location"] == {"groups": ["base", "skip"]}
    assert all(f["fingerprint"] for f in unusable.values())
    # the valid comparison was still checked
    assert any(f["rule"].startswith("RA3") and f["location"] == {"groups": ["base", "skip"]} for f in findings)
    summary = json.loads((out / "summary.json").read_text())
    assert [c["name"] for c in summary["comparisons"]] == ["skip-vs-base", "gone", "typo"]


# -- reports are readable by others (mkstemp's 0600 is not what a report file should get) -------------

def test_written_reports_get_the_usual_file_mode(lab):
    root, repo, results = lab
    old = os.umask(0o022)
    try:
        out = root / "out"
        run_cli("nightly", results, "--repo", repo, "--out", out, "--jobs", "1", cwd=root)
        report = root / "run.json"
        run_cli("run", "base-s0", "--results", results, "--repo", repo, "--format", "json", "-o", report, cwd=root)
    finally:
        os.umask(old)
    for path in [report, *sorted(out.iterdir())]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_write_atomic_keeps_an_existing_files_mode(tmp_path):
    from auditor.report import write_atomic

    target = tmp_path / "report.md"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640


# -- bad option values: a one-line usage error with exit 2, never silently accepted or a traceback -----

def test_run_rejects_an_unknown_device(lab):
    root, repo, results = lab
    proc = run_cli("run", "base-s0", "--results", results, "--repo", repo, "--device", "bogus", cwd=root)
    _one_line_usage_error(proc, "--device", "bogus")


def test_rules_rejects_an_unknown_scope():
    proc = run_cli("rules", "--scope", "bogus")
    _one_line_usage_error(proc, "--scope", "bogus")
    assert proc.stdout == ""
    ok = run_cli("rules", "--scope", "run")
    assert ok.returncode == 0 and "RA220" in ok.stdout and "RA101" not in ok.stdout


def test_docs_rejects_a_missing_repo(lab):
    root, repo, results = lab
    (root / "RESULTS.md").write_text("base reaches val/acc 0.71.\n")
    proc = run_cli("docs", root / "RESULTS.md", "--results", results, "--repo", root / "no-such-repo", cwd=root)
    _one_line_usage_error(proc, "--repo", "no-such-repo")


@pytest.mark.parametrize("option", [["--jobs", "0"], ["-j", "-3"], ["--wait", "-1"], ["--gpus", "-1"]])
def test_nightly_rejects_out_of_range_numbers(lab, option):
    root, repo, results = lab
    proc = run_cli("nightly", results, "--repo", repo, "--out", root / "out", *option, cwd=root)
    _one_line_usage_error(proc, option[0])
    assert not (root / "out").exists()


def test_slurm_executor_refuses_to_fall_back_to_local_processes(tmp_path, monkeypatch):
    import submitit

    from auditor.errors import UsageError
    from auditor.executors import SlurmExecutor

    # A machine without Slurm's commands, also where Slurm is installed: a PATH with only this Python on it.
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert submitit.AutoExecutor(folder=str(tmp_path / "probe")).cluster != "slurm"
    with pytest.raises(UsageError, match="Slurm is not available"):
        SlurmExecutor(tmp_path / "jobs")
    SlurmExecutor(tmp_path / "jobs", cluster="local")  # the explicit local cluster (tests) still works


# -- a bad [tool.auditor.compare] value names the config file and the key ------------------------------

@pytest.mark.parametrize("setting, needle", [("confidence = 7", "compare.confidence"),
                                             ('ci_method = "bogus"', "compare.ci_method")])
def test_compare_setting_errors_name_the_config_file(lab, setting, needle):
    root, repo, results = lab
    (root / "pyproject.toml").write_text(f"[tool.auditor.compare]\n{setting}\n")
    proc = run_cli("compare", "base", "skip", "--results", results, "--metric", "val/acc", cwd=root)
    _one_line_usage_error(proc, str(root / "pyproject.toml"), needle)


# -- [tool.auditor.nightly] settings are checked up front, naming the file and the key -----------------

@pytest.mark.parametrize("settings, needle", [
    ({"docs": 5}, "nightly.docs"),  # was an internal error (TypeError)
    ({"bogus_key": 1}, "nightly.bogus_key"),  # was silently ignored
    ({"executor": "bogus"}, "nightly.executor"),  # named neither the file nor the key
    ({"jobs": 0}, "nightly.jobs"),
    ({"replay": "maybe"}, "nightly.replay"),
])
def test_nightly_settings_errors_name_the_config_file_and_key(lab, settings, needle):
    root, repo, results = lab
    config = root / "auditor.yaml"
    config.write_text(yaml.safe_dump({"nightly": settings}))
    proc = run_cli("nightly", results, "--repo", repo, "--out", root / "out", "--config", config, cwd=root)
    _one_line_usage_error(proc, str(config), needle)
    assert not (root / "out").exists()


def test_nightly_accepts_the_documented_settings(lab):
    root, repo, results = lab
    config = root / "auditor.yaml"
    config.write_text(yaml.safe_dump({"nightly": {
        "docs": ["README.md"], "executor": "local", "jobs": 1, "chunk_size": 3, "replay": False,
        "discovery_cache": False, "max_run_plots": 5, "link_template": "https://forge/{sha}/{path}#L{line}",
        "time": "00:10:00", "gpus": 0, "partition": "cpu"}}))
    proc = run_cli("nightly", results, "--repo", repo, "--out", root / "out", "--config", config, cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    assert (root / "out" / "summary.json").exists()


# -- outside a git repository, the note says so once, without repeating itself ---------------------------

def test_run_outside_a_repository_says_so_once(lab):
    root, repo, results = lab
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    proc = run_cli("run", "base-s0", "--results", results, cwd=elsewhere)
    assert proc.returncode in (0, 1), proc.stderr
    note = next(line for line in proc.stdout.splitlines() if line.strip().startswith("note:"))
    assert "not a git repository" in note and note.count("pass --repo") == 1, note


# -- a CI bound that is exactly 0 in decimal arithmetic is 0, not -1e-17 (RA312 must not hinge on it) ----

def test_bootstrap_bound_at_exactly_zero_includes_zero():
    from auditor.compare.stats import bootstrap_ci

    # the demo's arc-r5 seeds; the resample (+0.0312, +0.0312, +0.0156, -0.039, -0.039) has mean 0 exactly
    baseline = [0.4219, 0.4375, 0.4453, 0.4297, 0.4141]
    treatment = [0.4531, 0.4531, 0.3984, 0.3672, 0.3751]
    lo, hi = bootstrap_ci(baseline, treatment, paired=True, level=0.8)
    assert lo < 0 and hi == 0.0
    assert lo <= 0 <= hi  # RA312's test: the interval includes 0


# -- a run id recorded twice is ambiguous: audit neither silently -----------------------------------------

def test_run_refuses_a_run_id_recorded_twice(lab):
    import shutil

    root, repo, results = lab
    shutil.copytree(results / "base-s0", results / "base-s0-copy")
    for command in (["run", "base-s0"], ["diff", "base-s1", "base-s0"]):
        proc = run_cli(*command, "--results", results, "--repo", repo, cwd=root)
        _one_line_usage_error(proc, "'base-s0' is recorded more than once", "base-s0-copy", "base-s0/run.yaml")
    ok = run_cli("run", "base-s1", "--results", results, "--repo", repo, cwd=root)  # the other runs are fine
    assert ok.returncode in (0, 1), ok.stderr


# -- the pre-commit framework's hook is not offered for pre-push, where it would check nothing -------------

def test_pre_commit_manifest_offers_no_pre_push_stage_that_checks_nothing(tmp_path):
    import git

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    hook = hooks["repro-auditor"]
    assert hook["entry"] == "audit scan --staged"
    assert hooks["repro-auditor-push"]["entry"] == "audit hook pre-push"  # push time checks the pushed commits
    assert hooks["repro-auditor-push"]["stages"] == ["pre-push"]
    # Why: at push time the commits are made and the tree is clean, so the entry finds nothing even when
    # the pushed commit carries the verl skip.
    from nightly_lab import TRAINER_SKIP

    repo = git.Repo.init(tmp_path / "user")
    with repo.config_writer() as cfg:
        cfg.set_value("user", "name", "Dev")
        cfg.set_value("user", "email", "dev@example.com")
    (tmp_path / "user" / "ray_trainer.py").write_text(TRAINER_SKIP)
    repo.index.add(["ray_trainer.py"])
    repo.index.commit("skip final validation")
    proc = run_cli("scan", "--diff", "HEAD", cwd=tmp_path / "user")
    assert proc.returncode == 0 and "RA101" not in proc.stdout
    assert "pre-push" not in hook.get("stages", [])


# -- the pre-push hook checks a new branch against its upstream (it used to ask git for '@{{upstream}}') ----

def test_pre_push_hook_blocks_a_new_branch_carrying_the_verl_skip(tmp_path):
    import subprocess

    from nightly_lab import TRAINER_OK, TRAINER_SKIP

    env = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}

    def git_(*args, check=True):
        return subprocess.run(["git", *args], cwd=tmp_path / "work", capture_output=True, text=True, env=env,
                              check=check)

    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "remote.git")], check=True)
    (tmp_path / "work").mkdir()
    git_("init", "-q", "-b", "main")
    (tmp_path / "work" / "ray_trainer.py").write_text(TRAINER_OK)
    git_("add", "-A")
    git_("commit", "-qm", "trainer")
    git_("remote", "add", "origin", str(tmp_path / "remote.git"))
    git_("push", "-q", "origin", "main")
    git_("checkout", "-q", "-b", "feature", "origin/main")  # tracks origin/main, as `git checkout -b` from it does
    installed = run_cli("hook", "install", "--pre-push", "--repo", tmp_path / "work")
    assert installed.returncode == 0, installed.stderr
    (tmp_path / "work" / "ray_trainer.py").write_text(TRAINER_SKIP)
    git_("commit", "-qam", "skip final validation")
    pushed = git_("push", "origin", "feature", check=False)  # a new remote branch: remote sha is all zeros
    assert pushed.returncode != 0, pushed.stderr
    assert "RA101" in pushed.stdout + pushed.stderr and "no base to compare" not in pushed.stderr


# -- the HTML comparison plot labels unseeded runs by run, not "seed None", and does not join them as pairs ----

def test_comparison_plot_of_unseeded_runs(lab):
    root, repo, results = lab
    from nightly_lab import run_record, write_run

    for i, score in enumerate([0.61, 0.64, 0.66]):
        for group in ("plain", "ttc"):
            record = run_record(f"{group}-{i}", group, 0, "0" * 40, score=score)
            record.pop("seed")
            record["config"] = {"strategy": group, "trainer": {"total_training_steps": 29, "test_freq": 20}}
            write_run(results, record)
    (results / "comparisons.yaml").write_text(yaml.safe_dump(
        [{"name": "ttc", "baseline": "plain", "treatment": "ttc", "metric": "val/acc", "treatment_keys": ["strategy"]}]))
    out = root / "out"
    proc = run_cli("nightly", results, "--out", out, "--jobs", "1", "--no-replay", "--no-repo", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    html = (out / "report.html").read_text()
    panel = html[html.index('id="cmp-ttc"'):]
    panel = panel[:panel.index("</section>")]
    assert "seed None" not in panel and "seed 0" not in panel  # the runs have no seed
    assert all(f"ttc-{i}" in panel for i in range(3))


# -- `audit run --device cuda` without CUDA is a usage error, as in `audit replay` (was a skipped replay) -----

def test_run_with_cuda_asked_for_and_absent_is_a_usage_error(lab):
    import torch

    from nightly_lab import run_record, write_run

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    root, repo, results = lab
    record = run_record("rp-0", "rp", 0, "0" * 40)
    record["checkpoint"] = {"path": "model.safetensors"}
    record["replay"] = {"model": "pkg.models:build", "evaluate": "pkg.eval:run"}
    write_run(results, record)
    proc = run_cli("run", "rp-0", "--results", results, "--repo", repo, "--device", "cuda", cwd=root)
    _one_line_usage_error(proc, "CUDA is not available")
    skipped = run_cli("run", "rp-0", "--results", results, "--repo", repo, "--device", "cuda", "--no-replay", cwd=root)
    assert skipped.returncode in (0, 1), skipped.stderr  # no replay asked for: the device does not matter


# -- `hook uninstall --pre-commit --pre-push` removes both (the last flag used to win, silently) ----------

def test_hook_uninstall_with_both_flags_removes_both(tmp_path):
    import git

    git.Repo.init(tmp_path / "r").close()
    for kind in ("--pre-commit", "--pre-push"):
        assert run_cli("hook", "install", kind, "--repo", tmp_path / "r").returncode == 0
    proc = run_cli("hook", "uninstall", "--pre-commit", "--pre-push", "--repo", tmp_path / "r")
    assert proc.returncode == 0, proc.stderr
    hooks = tmp_path / "r" / ".git" / "hooks"
    assert not any((hooks / name).exists() for name in ("pre-commit", "pre-merge-commit", "pre-push"))
    assert proc.stdout.count("removed") == 3  # the pre-merge-commit hook goes with the pre-commit one
