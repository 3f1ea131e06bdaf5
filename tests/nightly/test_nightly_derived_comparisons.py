"""A nightly on a results folder nobody wrote a comparisons.yaml for still checks the comparisons the runs
imply: groups that differ in one config key, at enough seeds each. Declared comparisons take precedence,
and derivation follows [tool.auditor.compare] (derive, baseline, treatment-keys)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nightly_lab import make_repo, run_record, write_run  # noqa: E402
from test_nightly import nightly  # noqa: E402
from cli_helpers import run_cli  # noqa: E402


def _group(results: Path, group: str, sha: str, *, lr: float, scores: list[float], warmup: int = 10,
           output_dir: bool = True) -> None:
    for seed, score in enumerate(scores):
        record = run_record(f"{group}-s{seed}", group, seed, sha, score=score)
        record["config"].update(strategy="fsdp", lr=lr, warmup=warmup)
        if output_dir:  # differs on every run: never a treatment
            record["config"]["output_dir"] = f"/ckpt/{group}/s{seed}"
        write_run(results, record)


@pytest.fixture
def lab(tmp_path):
    repo, shas = make_repo(tmp_path)
    results = tmp_path / "results"
    ok = shas["ok"]
    # six seeds a side: the fewest at which the exact sign-flip test can reach p <= 0.05 (RA310)
    _group(results, "base", ok, lr=3e-4, scores=[0.70, 0.71, 0.72, 0.70, 0.71, 0.72])
    _group(results, "lr-high", ok, lr=1e-3, scores=[0.75, 0.761, 0.769, 0.752, 0.758, 0.771])  # a consistent gain
    _group(results, "lr-low", ok, lr=1e-4, scores=[0.70, 0.722, 0.709, 0.695, 0.715, 0.705])  # noise: signs flip
    _group(results, "two-keys", ok, lr=1e-3, warmup=50, scores=[0.8] * 6)  # lr and warmup: not derived
    _group(results, "one-seed", ok, lr=3e-3, scores=[0.9])  # too few seeds: not derived
    return tmp_path, repo, results


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_a_first_nightly_without_comparisons_yaml_checks_the_derived_comparisons(lab):
    root, repo, results = lab
    out = root / "report"
    proc = nightly(root, results, repo, out)
    assert proc.returncode in (0, 1), proc.stderr
    assert "4 comparison(s) (4 derived from the runs)" in proc.stdout

    comparisons = _summary(out)["comparisons"]
    # Fixed order: baseline then treatment by name (no start times recorded), each says why it exists.
    assert [(c["baseline"], c["treatment"], c["metric"]) for c in comparisons] == [
        ("base", "lr-high", "val/acc"), ("base", "lr-low", "val/acc"), ("lr-high", "lr-low", "val/acc"),
        ("lr-high", "two-keys", "val/acc")]
    assert [c["name"] for c in comparisons][0] == "lr-high vs base on val/acc"
    high, low, _, warmup = comparisons
    assert high["derived"].startswith("derived: the groups differ only in lr: 0.0003 → 0.001")
    assert "6 and 6 seeds" in high["derived"] and "baseline base: first by name" in high["derived"]
    assert "warmup: 10 → 50" in warmup["derived"]
    assert high["verdict"] == "supported" and low["verdict"] == "not supported"
    assert _summary(out)["groups"] == 5  # the recorded groups, compared or not, each counted once

    findings = json.loads((out / "findings.json").read_text())["findings"]
    at_low = {f["rule"] for f in findings if f["location"].get("groups") == ["base", "lr-low"]}
    assert "RA311" in at_low or "RA312" in at_low  # the noise is reported at that comparison
    # output_dir differs on every run, lr is the treatment: no protocol mismatch reported
    assert not [f for f in findings if f["rule"] == "RA304" and f["location"].get("groups") == ["base", "lr-high"]]

    markdown = (out / "report.md").read_text()
    assert "4 comparison(s)" in markdown and "derived: the groups differ only in lr" in markdown
    assert "| supported |" in markdown and "| not supported |" in markdown
    assert "derived: the groups differ only in lr" in (out / "report.html").read_text()


def test_declared_comparisons_are_kept_exactly_unless_derivation_is_asked_for(lab):
    root, repo, results = lab
    (results / "comparisons.yaml").write_text(yaml.safe_dump([
        {"name": "the lr sweep", "baseline": "lr-high", "treatment": "base", "metric": "val/acc"}]))
    proc = nightly(root, results, repo, root / "declared")
    assert proc.returncode in (0, 1), proc.stderr
    comparisons = _summary(root / "declared")["comparisons"]
    assert [(c["name"], c["derived"]) for c in comparisons] == [("the lr sweep", None)]
    assert "1 comparison(s)\n" in proc.stdout

    (repo / "pyproject.toml").write_text('[tool.auditor.compare]\nderive = "always"\n')
    proc = nightly(root, results, repo, root / "always")
    assert proc.returncode in (0, 1), proc.stderr
    comparisons = _summary(root / "always")["comparisons"]
    # the declared one first; the pair it names (either way round) is not derived again
    assert [(c["baseline"], c["treatment"], bool(c["derived"])) for c in comparisons] == [
        ("lr-high", "base", False), ("base", "lr-low", True), ("lr-high", "lr-low", True),
        ("lr-high", "two-keys", True)]


def test_a_configured_baseline_and_treatment_keys_narrow_derivation_and_off_turns_it_off(lab):
    root, repo, results = lab
    (repo / "pyproject.toml").write_text(
        '[tool.auditor.compare]\nbaseline = "lr-low"\ntreatment-keys = ["lr"]\n')
    proc = nightly(root, results, repo, root / "narrow")
    assert proc.returncode in (0, 1), proc.stderr
    comparisons = _summary(root / "narrow")["comparisons"]
    assert [(c["baseline"], c["treatment"]) for c in comparisons] == [("lr-low", "base"), ("lr-low", "lr-high")]
    assert all("baseline lr-low: the configured baseline" in c["derived"] for c in comparisons)

    (repo / "pyproject.toml").write_text('[tool.auditor.compare]\nderive = "off"\n')
    proc = nightly(root, results, repo, root / "off")
    assert proc.returncode in (0, 1), proc.stderr
    assert _summary(root / "off")["comparisons"] == [] and "0 comparison(s)" in proc.stdout


def test_a_wrong_derive_setting_is_an_input_error(lab):
    root, repo, results = lab
    (repo / "pyproject.toml").write_text('[tool.auditor.compare]\nderive = "sometimes"\n')
    proc = nightly(root, results, repo, root / "bad")
    assert proc.returncode == 2
    assert "pyproject.toml" in proc.stderr and "compare.derive" in proc.stderr and "auto, always or off" in proc.stderr


def test_ungrouped_runs_with_per_run_keys_form_one_group_per_config(tmp_path):
    """No recorded group, and every config carries its own output_dir, run name and timestamp: the runs still
    fall into one group per config (seed and RA304's ignored keys aside), named by what differs."""
    repo, shas = make_repo(tmp_path)
    results = tmp_path / "results"
    for lr, scores in ((3e-4, [0.70, 0.71, 0.72]), (1e-3, [0.75, 0.761, 0.769])):
        for seed, score in enumerate(scores):
            run_id = f"run-{lr:g}-{seed}"
            record = run_record(run_id, "unused", seed, shas["ok"], score=score)
            del record["group"]
            record["config"].update(strategy="fsdp", lr=lr, output_dir=f"/ckpt/{run_id}", run_name=run_id,
                                    timestamp=f"2026-11-2{seed}T10:0{seed}")
            write_run(results, record)
    out = tmp_path / "report"
    proc = nightly(tmp_path, results, repo, out)
    assert proc.returncode in (0, 1), proc.stderr
    (comparison,) = _summary(out)["comparisons"]
    assert (comparison["baseline"], comparison["treatment"]) == ("lr=0.0003", "lr=0.001")
    assert comparison["derived"].startswith("derived: the groups differ only in lr: 0.0003 → 0.001")
    assert "3 and 3 seeds" in comparison["derived"]
    # the two groups it compares are counted, in every output, though no run recorded a group
    assert _summary(out)["groups"] == 2
    assert "6 run(s) in 2 group(s), 1 comparison(s)." in (out / "report.md").read_text()
    assert "6 runs · 2 groups · 1 comparisons" in (out / "report.html").read_text()
    # the same names work on the command line, and `audit runs --groups` lists them
    compare = run_cli("compare", "lr=0.0003", "lr=0.001", "--results", results, "--metric", "val/acc",
                      "--format", "json", cwd=tmp_path)
    assert compare.returncode in (0, 1), compare.stderr
    document = json.loads(compare.stdout)
    assert "RA304" not in {f["rule"] for f in document["findings"]}
    assert document["comparison"]["paired"] and [r["seed"] for r in document["comparison"]["rows"]] == [0, 1, 2]
    groups = run_cli("runs", "--results", results, "--groups", cwd=tmp_path)
    assert "lr=0.0003" in groups.stdout and "lr=0.001" in groups.stdout and "config-" not in groups.stdout


def test_a_supported_regression_says_so_beside_the_verdict(lab):
    """The treatment is worse on every seed: "supported" alone would read as a win, so summary.json, report.md
    and the HTML say the direction and the size of the effect with its interval beside the verdict."""
    root, repo, results = lab
    (results / "comparisons.yaml").write_text(yaml.safe_dump([
        {"name": "back to the old lr", "baseline": "lr-high", "treatment": "base", "metric": "val/acc"}]))
    out = root / "report"
    proc = nightly(root, results, repo, out)
    assert proc.returncode in (0, 1), proc.stderr
    (comparison,) = _summary(out)["comparisons"]
    assert comparison["verdict"] == "supported" and comparison["direction"] == "worse"
    assert comparison["effect"] == pytest.approx(-0.301 / 6, abs=1e-9)
    low, high = comparison["ci"]
    assert low < high < 0
    assert comparison["headline"] == f"treatment worse, -0.0502 (95% CI [{low:+.4f}, {high:+.4f}])"
    markdown = (out / "report.md").read_text()
    assert "| comparison | verdict | effect (treatment vs baseline) | source |" in markdown
    assert (f"| back to the old lr | supported | treatment worse, -0.0502 \\(95% CI \\[{low:+.4f}, {high:+.4f}\\]\\) | "
            "comparisons.yaml |") in markdown
    assert "treatment worse, -0.0502" in (out / "report.html").read_text()


def test_mlflow_nested_sweeps_are_derived_by_the_parents_names_and_parents_are_not_audited(tmp_path):
    """A parent run per lr, a child per seed (the real MLflow client): the derived comparison is named by the
    parents' run names, and the parents, which train nothing and log no metric, get no run findings."""
    from tests.compare.compare_helpers import write_nested_mlflow_sweep

    repo, _ = make_repo(tmp_path)
    results = tmp_path / "results"
    write_nested_mlflow_sweep(results, {"sweeps": [["lr-0.001", 0.001, 0.70], ["lr-0.003", 0.003, 0.73]]})
    out = tmp_path / "report"
    proc = nightly(tmp_path, results, repo, out)
    assert proc.returncode in (0, 1), proc.stderr
    summary = _summary(out)
    (comparison,) = summary["comparisons"]
    assert comparison["name"] == "lr-0.003 vs lr-0.001 on val/acc"
    assert (comparison["baseline"], comparison["treatment"]) == ("lr-0.001", "lr-0.003")
    assert summary["runs"] == 12 and summary["groups"] == 2
    findings = json.loads((out / "findings.json").read_text())["findings"]
    at_runs = {f["location"]["run"] for f in findings if "run" in f["location"]}
    parents = {p.parent.name for p in (results / "mlruns").glob("*/*/meta.yaml")
               if not any((p.parent / "metrics").iterdir())}
    assert len(parents) == 2 and not at_runs & parents
    assert "RA210" not in {f["rule"] for f in findings}
