"""`audit compare` in a messy lab: repeated seeds, two seeds, crashed seeds, declared quantization, new flags.

Runs are real records on disk (native run.yaml, and an MLflow file store written by the real client), read
through discovery, compared through the command line as users run it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.cli_helpers import run_cli
from tests.compare.compare_helpers import write_nested_mlflow_sweep, write_runs


def _group(name, values, *, seeds=None, config=None, extra=None):
    seeds = list(range(len(values))) if seeds is None else seeds
    out = []
    for seed, value in zip(seeds, values, strict=False):
        record = {"id": f"{name}-s{seed}", "group": name, "seed": seed,
                  "config": {"lr": 3e-4, "seed": seed, **(config or {})},
                  "status": {"state": "completed", "exit_code": 0},
                  "metrics": {"val/acc": [[100, value]]}}
        record.update(extra or {})
        out.append(record)
    return out


def _compare(results, *args, fmt="json"):
    proc = run_cli("compare", *args, "--results", results, "--metric", "val/acc", "--format", fmt, cwd=results)
    return proc, (json.loads(proc.stdout) if fmt == "json" and proc.stdout.strip() else None)


def _rules(document):
    return sorted({f["rule"] for f in document["findings"]})


def test_a_rerun_seed_is_deduplicated_reported_and_the_noop_still_found(tmp_path):
    rerun = {"id": "ls0.1-s0-rerun", "group": "ls0.1", "seed": 0, "config": {"lr": 3e-4, "seed": 0},
             "status": {"state": "completed", "exit_code": 0}, "metrics": {"val/acc": [[100, 0.30]]}}
    write_runs(tmp_path, _group("ls0", [0.30, 0.31, 0.29]) + _group("ls0.1", [0.30, 0.31, 0.29]) + [rerun])
    _, doc = _compare(tmp_path, "ls0", "ls0.1")
    comparison = doc["comparison"]
    assert comparison["paired"] is True
    assert "RA314" in _rules(doc) and "RA313" in _rules(doc)
    assert [row["seed"] for row in comparison["rows"]] == [0, 1, 2]  # one line per seed, never two seeds on one
    assert all(row["paired"] and row["delta"] == 0 for row in comparison["rows"])
    # no recorded times: the tie is broken by id, and the output says which run was kept
    note = "seed 0 appears 2 times in ls0.1: kept ls0.1-s0-rerun (latest; runs without a recorded time go by id)"
    assert comparison["dedupe"] == [note]
    assert comparison["excluded"] == [{"run": "ls0.1-s0", "side": "ls0.1", "reason": "duplicate seed",
                                       "note": comparison["dedupe"][0]}]
    text, _ = _compare(tmp_path, "ls0", "ls0.1", fmt="text")
    assert "Seeds       seed 0 appears 2 times in ls0.1: kept ls0.1-s0-rerun" in text.stdout
    assert "no change: a no-op" in text.stdout
    markdown, _ = _compare(tmp_path, "ls0", "ls0.1", fmt="markdown")
    assert "| 0 | 0.3000 | 0.3000 | +0.0000 | ls0-s0 / ls0.1-s0-rerun |" in markdown.stdout
    # --dedupe error stops and names the runs; --dedupe mean averages the repeats into one result
    error, _ = _compare(tmp_path, "ls0", "ls0.1", "--dedupe", "error", fmt="text")
    assert error.returncode == 2 and "seed 0 appears 2 times in ls0.1 (ls0.1-s0, ls0.1-s0-rerun)" in error.stderr
    _, mean = _compare(tmp_path, "ls0", "ls0.1", "--dedupe", "mean")
    assert mean["comparison"]["rows"][0]["treatment_run"] == "ls0.1-s0+ls0.1-s0-rerun"
    assert mean["comparison"]["excluded"] == []


def test_the_same_seeds_logged_by_two_trackers_keep_the_latest_and_stay_paired(tmp_path):
    pytest.importorskip("mlflow")
    # ls0.1 is logged natively AND to MLflow (the experiment is the group): two runs per seed
    write_runs(tmp_path, _group("ls0", [0.30, 0.31, 0.29]) + _group("ls0.1", [0.30, 0.31, 0.29]))
    script = textwrap.dedent("""
        import sys, mlflow
        mlflow.set_tracking_uri("file:" + sys.argv[1])
        mlflow.set_experiment("ls0.1")
        for seed, acc in ((0, 0.30), (1, 0.31), (2, 0.29)):
            with mlflow.start_run(run_name=f"ls0.1-s{seed}"):
                mlflow.log_params({"seed": seed, "lr": 3e-4})
                mlflow.log_metric("val/acc", acc, step=100)
    """)
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "mlruns")], check=True, capture_output=True,
                   env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"})
    _, doc = _compare(tmp_path, "ls0", "ls0.1")
    comparison = doc["comparison"]
    assert comparison["paired"] and [r["seed"] for r in comparison["rows"]] == [0, 1, 2]
    assert "RA314" in _rules(doc) and comparison["verdict"] == "not supported"
    # the MLflow runs carry an end time, the native ones none: the MLflow runs are the latest
    kept = {row["treatment_run"] for row in comparison["rows"]}
    assert not kept & {"ls0.1-s0", "ls0.1-s1", "ls0.1-s2"} and len(kept) == 3
    assert sorted(e["run"] for e in comparison["excluded"]) == ["ls0.1-s0", "ls0.1-s1", "ls0.1-s2"]


def test_two_seeds_are_not_enough_to_support_an_effect(tmp_path):
    write_runs(tmp_path, _group("base", [0.300, 0.310]) + _group("treat", [0.305, 0.317]))
    _, doc = _compare(tmp_path, "base", "treat")
    comparison = doc["comparison"]
    assert comparison["verdict"] == "not supported"
    assert {"RA310", "RA312"} <= set(_rules(doc))
    assert comparison["statistics"]["ci_method"] == "t"
    lo, hi = comparison["ci"]
    assert lo < 0 < hi  # t(1) interval: 0.006 +- 12.7 * 0.001
    assert comparison["statistics"]["permutation_test"]["p_value"] == 0.5
    text, _ = _compare(tmp_path, "base", "treat", fmt="text")
    assert "(Student t); signs 2+/0=/0-; exact sign-flip test p = 0.5 (cannot go below 0.5 with 2 paired seeds)" in text.stdout


def test_three_seeds_with_a_weak_effect_are_not_significant(tmp_path):
    write_runs(tmp_path, _group("base", [0.300, 0.310, 0.320]) + _group("treat", [0.301, 0.311, 0.340]))
    _, doc = _compare(tmp_path, "base", "treat")
    assert "RA312" in _rules(doc) and doc["comparison"]["verdict"] == "not supported"


def test_a_crashed_seed_is_left_out_and_does_not_make_the_comparison_invalid(tmp_path):
    crashed = {"id": "base-s3", "group": "base", "seed": 3,
               "config": {"lr": 3e-4, "seed": 3, "batch_size": 64},  # its config differs too
               "status": {"state": "failed", "exit_code": 120},
               "metrics": {"val/acc": [[40, 0.12]]}}  # and its score is from another step
    write_runs(tmp_path, _group("base", [0.30, 0.31, 0.29]) + [crashed] + _group("treat", [0.30, 0.31, 0.29]))
    _, doc = _compare(tmp_path, "base", "treat")
    rules = _rules(doc)
    assert "RA303" not in rules and "RA304" not in rules
    assert doc["comparison"]["verdict"] == "not supported" and "RA314" in rules
    ra313 = [f for f in doc["findings"] if f["rule"] == "RA313"]
    assert len(ra313) == 1 and "base-s3 (seed 3) failed, exit 120" in ra313[0]["message"]
    assert doc["comparison"]["excluded"] == [{"run": "base-s3", "side": "base", "reason": "failed", "note": ""}]


def test_quantization_as_the_declared_treatment_is_a_valid_comparison(tmp_path):
    base = _group("fp", [0.90, 0.91, 0.92], config={"quant": "none"}, extra={"eval": {"quant": "none"}})
    int8 = _group("int8", [0.88, 0.885, 0.90], config={"quant": "int8"}, extra={"eval": {"quant": "int8"}})
    write_runs(tmp_path, base + int8)
    _, without = _compare(tmp_path, "fp", "int8")
    assert "RA302" in _rules(without) and without["comparison"]["verdict"] == "invalid"
    _, declared = _compare(tmp_path, "fp", "int8", "--treatment-keys", "quant")
    assert "RA302" not in _rules(declared) and "RA304" not in _rules(declared)
    assert declared["comparison"]["verdict"] != "invalid"


def test_a_flag_unset_in_older_runs_is_a_lower_severity_difference(tmp_path):
    old = _group("old", [0.30, 0.31, 0.29, 0.30, 0.32, 0.31], config={"fs": 6})  # six seeds: enough for RA310
    new = _group("new", [0.35, 0.36, 0.34, 0.36, 0.37, 0.35], config={"fs": 10, "grad_clip": 1.0})
    write_runs(tmp_path, old + new)
    _, doc = _compare(tmp_path, "old", "new", "--treatment-keys", "fs")
    ra304 = [f for f in doc["findings"] if f["rule"] == "RA304"]
    assert [f["severity"] for f in ra304] == ["info"] and "unset vs value" in ra304[0]["message"]
    assert doc["comparison"]["verdict"] == "supported"
    # a real protocol change next to it stays an error
    write_runs(tmp_path, _group("new", [0.35, 0.36, 0.34, 0.36, 0.37, 0.35],
                                config={"fs": 10, "grad_clip": 1.0, "lr": 1e-3}))
    _, doc = _compare(tmp_path, "old", "new", "--treatment-keys", "fs")
    assert sorted(f["severity"] for f in doc["findings"] if f["rule"] == "RA304") == ["error", "info"]


def test_run_selection_options(tmp_path):
    write_runs(tmp_path, _group("base", [0.30, 0.31, 0.29, 0.10]) + _group("treat", [0.32, 0.33, 0.31, 0.50]))
    _, doc = _compare(tmp_path, "base", "treat", "--seeds", "0-2")
    assert [r["seed"] for r in doc["comparison"]["rows"]] == [0, 1, 2]
    _, doc = _compare(tmp_path, "base", "treat", "--exclude", "base-s3", "--exclude", "treat-s3")
    assert [r["seed"] for r in doc["comparison"]["rows"]] == [0, 1, 2]
    _, doc = _compare(tmp_path, "base", "treat", "--where", "seed=1")
    assert [r["seed"] for r in doc["comparison"]["rows"]] == [1]
    bad, _ = _compare(tmp_path, "base", "treat", "--exclude", "nope", fmt="text")
    assert bad.returncode == 2 and "--exclude nope: no such run" in bad.stderr
    bad, _ = _compare(tmp_path, "base", "treat", "--where", "seed", fmt="text")
    assert bad.returncode == 2 and "expected KEY=VALUE" in bad.stderr
    # a seed (or a range) no run has is a typo, not a filter that quietly drops it
    bad, _ = _compare(tmp_path, "base", "treat", "--seeds", "3-1", fmt="text")
    assert bad.returncode == 2 and "a range goes from the lower seed to the higher (e.g. 1-3)" in bad.stderr
    for typo in ("0,1,x", "a-b", "7-9"):
        bad, _ = _compare(tmp_path, "base", "treat", "--seeds", typo, fmt="text")
        assert bad.returncode == 2 and "no run has that seed; seeds the runs have: 0, 1, 2, 3" in bad.stderr, typo
    _, doc = _compare(tmp_path, "base", "treat", "--seeds", "2-9")  # a range some runs fall in
    assert [r["seed"] for r in doc["comparison"]["rows"]] == [2, 3]


def test_unknown_sides_suggest_the_closest_names(tmp_path):
    write_runs(tmp_path, _group("baseline-lr3", [0.30, 0.31, 0.29]) + _group("treat", [0.32, 0.33, 0.31]))
    proc, _ = _compare(tmp_path, "baseline-lr4", "treat", fmt="text")
    assert proc.returncode == 2 and "did you mean baseline-lr3" in proc.stderr


def test_unseeded_sides_never_share_a_table_line(tmp_path):
    runs = []
    for name, values in (("b", [0.1247, 0.0831]), ("t", [0.11, 0.09, 0.10])):
        runs += [{"id": f"{name}-{i}", "group": name, "config": {"lr": 1}, "metrics": {"val/acc": [[1, v]]}}
                 for i, v in enumerate(values)]
    write_runs(tmp_path, runs)
    _, doc = _compare(tmp_path, "b", "t")
    rows = doc["comparison"]["rows"]
    assert len(rows) == 5 and not any(r["paired"] for r in rows)
    assert all((r["baseline_run"] is None) != (r["treatment_run"] is None) for r in rows)


def test_three_identical_deltas_are_not_supported_and_print_no_nan(tmp_path):
    # +0.01 on every seed: the t interval has zero width and excludes 0, the exact sign-flip test says p = 0.25
    write_runs(tmp_path, _group("base", [0.50, 0.25, 0.75]) + _group("treat", [0.51, 0.26, 0.76]))
    _, doc = _compare(tmp_path, "base", "treat")
    comparison = doc["comparison"]
    lo, hi = comparison["ci"]
    assert lo == hi and lo > 0 and comparison["statistics"]["std_delta"] < 1e-12
    assert comparison["statistics"]["permutation_test"]["p_value"] == 0.25
    assert comparison["verdict"] == "not supported" and comparison["reasons"] == ["too few seeds (RA310)"]
    (ra310,) = [f for f in doc["findings"] if f["rule"] == "RA310"]
    assert ra310["message"].startswith("direction consistent (3+/0=/0-) but too few seeds to exclude chance")
    assert "p <= 0.05 needs at least 6" in ra310["message"]
    text, _ = _compare(tmp_path, "base", "treat", fmt="text")
    assert "effect NOT supported by the seeds: too few seeds (RA310)" in text.stdout
    assert not re.search(r"\b(nan|[+-]?inf)\b", text.stdout, re.IGNORECASE), text.stdout


def test_six_identical_deltas_are_supported(tmp_path):
    # the same pattern on six seeds: the sign-flip test reaches 2/64 = 0.031
    base = [0.50, 0.25, 0.75, 0.5, 0.625, 0.375]
    write_runs(tmp_path, _group("base", base) + _group("treat", [v + 0.01 for v in base]))
    _, doc = _compare(tmp_path, "base", "treat")
    assert doc["comparison"]["verdict"] == "supported", doc["findings"]
    assert not {"RA310", "RA312"} & set(_rules(doc))


BASE7 = [0.70, 0.71, 0.69, 0.72, 0.70, 0.71, 0.73]


@pytest.mark.parametrize("seed6,lost", [
    ({"metrics": {"val/acc": [[100, float("nan")]]}}, True),  # diverged: the final score is NaN
    ({"status": {"state": "failed", "exit_code": 1}, "metrics": {"val/acc": [[40, 0.2]]}}, True),  # failed
    (None, False),  # never started: plain missing data
])
def test_a_diverged_or_failed_seed_is_evidence_about_its_side_not_missing_data(tmp_path, seed6, lost):
    """Seven seeds planned; the treatment is better on the six that finished. A seventh that diverged or failed
    on the treatment side means the treatment did not hold up on every seed: not supported, RA313 an error. A
    seed that never started is missing data: the six pairs still support the effect, RA313 stays a warning."""
    treat = _group("treat", [v + 0.03 for v in BASE7], config={"lr": 1e-3})
    if seed6 is None:
        treat = treat[:6]
    else:
        treat[6].update(seed6)
    write_runs(tmp_path, _group("base", BASE7) + treat)
    proc, doc = _compare(tmp_path, "base", "treat")
    comparison = doc["comparison"]
    (ra313,) = [f for f in doc["findings"] if f["rule"] == "RA313"]
    assert comparison["direction"] == "better" and len(comparison["rows"]) == 6
    if lost:
        assert comparison["verdict"] == "not supported"
        assert comparison["reasons"] == ["seeds diverged/failed on treat (RA313)"]
        assert ra313["severity"] == "error" and proc.returncode == 1
        assert ra313["evidence"]["lost"] == {"treat": ["treat-s6"]}
        assert "seeds diverged/failed on treat" in ra313["message"]
        text, _ = _compare(tmp_path, "base", "treat", fmt="text")
        assert ("Verdict     valid comparison, effect NOT supported by the seeds: seeds diverged/failed on treat "
                "(RA313); measured: treatment better, +0.0300") in text.stdout
    else:
        assert comparison["verdict"] == "supported" and comparison["reasons"] == []
        assert ra313["severity"] == "warning" and proc.returncode == 0 and "lost" not in ra313["evidence"]
        assert "base-s6 (seed 6) seed only on one side" in ra313["message"]


def test_a_crashed_try_of_a_seed_that_was_run_again_is_superseded_not_lost(tmp_path):
    """Seed 0 crashed (OOM) and was re-run to completion: its result is in the table, nothing was lost."""
    treat = _group("treat", [v + 0.03 for v in BASE7], config={"lr": 1e-3})
    crashed = {**treat[0], "id": "treat-s0-oom", "status": {"state": "failed", "exit_code": 137},
               "metrics": {"val/acc": [[40, 0.2]]}}
    write_runs(tmp_path, _group("base", BASE7) + treat + [crashed])
    proc, doc = _compare(tmp_path, "base", "treat")
    (ra313,) = [f for f in doc["findings"] if f["rule"] == "RA313"]
    assert doc["comparison"]["verdict"] == "supported" and len(doc["comparison"]["rows"]) == 7
    assert ra313["severity"] == "warning" and "lost" not in ra313["evidence"] and proc.returncode == 0
    assert "treat-s0-oom (seed 0) failed" in ra313["message"]


def test_mlflow_nested_runs_are_grouped_by_their_parents_names(tmp_path):
    """A parent run per setting, a child per seed: the groups are the parents' run names, a parent's name
    selects its children, and the parents (which train nothing) are not runs to audit."""
    write_nested_mlflow_sweep(tmp_path, {"sweeps": [["lr-0.001", 0.001, 0.70], ["lr-0.003", 0.003, 0.73]]})
    groups = run_cli("runs", "--results", tmp_path, "--groups", cwd=tmp_path)
    assert groups.returncode == 0, groups.stderr
    assert [line.split()[:2] for line in groups.stdout.splitlines()[1:3]] == [["lr-0.001", "6"], ["lr-0.003", "6"]]
    assert "sweeps" not in groups.stdout and "2 group(s)" in groups.stdout
    proc, doc = _compare(tmp_path, "lr-0.001", "lr-0.003")
    assert proc.returncode == 0, proc.stderr
    comparison = doc["comparison"]
    assert (comparison["baseline"], comparison["treatment"]) == ("lr-0.001", "lr-0.003")
    assert comparison["paired"] and [row["seed"] for row in comparison["rows"]] == [0, 1, 2, 3, 4, 5]
    assert comparison["effect"] == pytest.approx(0.03) and comparison["direction"] == "better"
    # the parents' ids, the groups' names before they were named by the parents, still select them
    ids = {(tags / "mlflow.runName").read_text().strip(): tags.parent.name
           for tags in tmp_path.glob("mlruns/*/*/tags") if (tags / "mlflow.runName").is_file()}
    proc, by_id = _compare(tmp_path, ids["lr-0.001"], ids["lr-0.003"])
    assert proc.returncode == 0, proc.stderr
    assert by_id["comparison"]["effect"] == pytest.approx(0.03) and len(by_id["comparison"]["rows"]) == 6
    # the parent is named as what it is, not audited as a run that recorded no seed
    parent = run_cli("run", "lr-0.001", "--results", tmp_path, cwd=tmp_path)
    assert parent.returncode == 2 and "'lr-0.001' is a parent run (mlflow) that only groups its child runs" in parent.stderr


def test_a_parent_name_two_groups_share_keeps_the_parent_ids(tmp_path):
    """Two sweeps (experiments) each with a parent "lr-0.003": that name would select two groups, so both keep
    their parents' ids; the unique "lr-0.001" still names its group."""
    write_nested_mlflow_sweep(tmp_path, {"sweeps": [["lr-0.001", 0.001, 0.70], ["lr-0.003", 0.003, 0.73]],
                             "again": [["lr-0.003", 0.003, 0.72]]})
    groups = run_cli("runs", "--results", tmp_path, "--groups", cwd=tmp_path)
    names = [line.split()[0] for line in groups.stdout.splitlines()[1:-1]]
    assert "lr-0.001" in names and "lr-0.003" not in names
    assert len(names) == 3 and sum(bool(re.fullmatch(r"[0-9a-f]{32}", name)) for name in names) == 2
