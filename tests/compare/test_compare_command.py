"""`audit compare` end to end: RA301 on a real git repo, comparisons.yaml, the API, output formats, errors."""

import json

import git
import pytest

from auditor.compare.api import ComparisonSpec, check_comparison, load_comparisons
from auditor.compare.examples import group
from auditor.compare.runsource import load_runs
from auditor.config import Config
from auditor.errors import InputError
from auditor.rules.compare.ra302_compare_eval_quant_mismatch import CompareEvalQuantMismatch
from auditor.rules.compare.ra310_compare_single_seed import CompareSingleSeed
from auditor.rules.compare.ra311_compare_sign_flip import CompareSignFlip
from compare_helpers import rules_in, write_example, write_runs
from cli_helpers import run_cli

TRAIN = "from trainer.loop import fit\n\nif __name__ == '__main__':\n    fit()\n"
LOOP = "def fit():\n    for step in range(10):\n        pass\n"


def _commit(repo, files, message):
    for rel, text in files.items():
        path = repo.working_tree_dir + "/" + rel
        import os
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
    repo.index.add(sorted(files))
    actor = git.Actor("t", "t@example.org")
    return repo.index.commit(message, author=actor, committer=actor).hexsha


@pytest.fixture
def drift_repo(tmp_path):
    repo = git.Repo.init(tmp_path / "repo")
    shas = {"a": _commit(repo, {"train.py": TRAIN, "trainer/__init__.py": "", "trainer/loop.py": LOOP,
                                "tools/plot.py": "print(1)\n", "README.md": "# x\n"}, "base")}
    shas["docs"] = _commit(repo, {"README.md": "# y\n", "tools/plot.py": "print(2)\n"}, "docs and a tool")
    shas["loop"] = _commit(repo, {"trainer/loop.py": LOOP + "    print('diag')\n"}, "diag in the loop")
    shas["more"] = _commit(repo, {"README.md": "# z\n"}, "readme again")
    repo.close()
    return tmp_path / "repo", shas


def _side(group, sha, values):
    return [{"id": f"{group}-s{i}", "group": group, "seed": i, "git": {"sha": sha}, "entry_point": "train.py",
             "config": {"lr": 0.1}, "metrics": {"val_mse": [[10, v]]}} for i, v in enumerate(values)]


def test_code_drift_names_training_path_files_and_commit_count(tmp_path, drift_repo):
    repo, shas = drift_repo
    results = write_runs(tmp_path / "results", _side("q101", shas["a"], [0.0097, 0.0098]) +
                         _side("q201", shas["more"], [1.704, 1.105]))
    proc = run_cli("compare", "q101", "q201", "--results", results, "--metric", "val_mse", "--repo", repo,
                   "--format", "json", cwd=tmp_path)
    drift = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "RA301"]
    assert len(drift) == 1, proc.stdout + proc.stderr
    message = drift[0]["message"]
    assert "3 commit(s)" in message and "trainer/loop.py" in message
    assert "tools/plot.py" not in message and "README.md" not in message  # off the training path
    # without the repo, only that the SHAs differ
    proc = run_cli("compare", "q101", "q201", "--results", results, "--metric", "val_mse", cwd=tmp_path)
    assert "different git SHAs" in proc.stdout and "--repo" in proc.stdout
    # from inside the repository, --repo is the current directory, as for run and diff
    proc = run_cli("compare", "q101", "q201", "--results", results, "--metric", "val_mse", "--format", "json",
                   cwd=repo / "trainer")
    drift = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "RA301"]
    assert len(drift) == 1 and "trainer/loop.py" in drift[0]["message"], proc.stdout + proc.stderr


def test_no_drift_finding_when_only_off_path_files_changed(tmp_path, drift_repo):
    repo, shas = drift_repo
    results = write_runs(tmp_path / "results", _side("b", shas["a"], [0.5, 0.6]) + _side("t", shas["docs"], [0.5, 0.7]))
    proc = run_cli("compare", "b", "t", "--results", results, "--metric", "val_mse", "--repo", repo,
                   "--format", "json", cwd=tmp_path)
    assert "RA301" not in rules_in(proc.stdout), proc.stdout


def test_json_has_the_comparison_and_is_deterministic(tmp_path):
    argv = write_example(tmp_path / "results", CompareSignFlip.bad[0])
    first = run_cli(*argv, cwd=tmp_path)
    second = run_cli(*argv, cwd=tmp_path)
    assert first.stdout == second.stdout
    document = json.loads(first.stdout)
    assert document["version"] == 1 and set(document["summary"]) == {"error", "warning", "info"}
    comparison = document["comparison"]
    assert comparison["verdict"] == "not supported"
    assert comparison["effect"] == pytest.approx(0.0012, abs=1e-4)
    assert comparison["ci"][0] < 0 < comparison["ci"][1]
    assert [row["seed"] for row in comparison["rows"]] == [0, 1, 2]
    assert [round(row["delta"], 4) for row in comparison["rows"]] == [0.0382, 0.0179, -0.0525]


def test_text_verdict_and_table(tmp_path):
    argv = write_example(tmp_path / "results", CompareEvalQuantMismatch.bad[0])
    argv[argv.index("json")] = "text"
    proc = run_cli(*argv, cwd=tmp_path)
    assert proc.returncode == 1  # RA302 is an error
    assert "Verdict     INVALID comparison: eval quantization differs (RA302)" in proc.stdout
    assert "+0.0189" in proc.stdout and "E13h / E13j" in proc.stdout
    argv[argv.index("text")] = "markdown"
    markdown = run_cli(*argv, cwd=tmp_path).stdout
    assert "| seed | baseline E13h | treatment E13j | delta | runs |" in markdown
    argv[argv.index("markdown")] = "sarif"
    sarif = json.loads(run_cli(*argv, cwd=tmp_path).stdout)
    assert any(r["ruleId"] == "RA302" for r in sarif["runs"][0]["results"])


def test_confidence_option_changes_the_interval(tmp_path):
    argv = write_example(tmp_path / "results", CompareSignFlip.bad[0])
    narrow = json.loads(run_cli(*argv, "--confidence", "0.5", cwd=tmp_path).stdout)["comparison"]
    wide = json.loads(run_cli(*argv, "--confidence", "0.99", "--ci-method", "bca", cwd=tmp_path).stdout)["comparison"]
    assert wide["ci"][0] < narrow["ci"][0] and narrow["ci"][1] < wide["ci"][1]
    assert wide["statistics"]["ci_method"] == "bca"


@pytest.mark.parametrize("argv,needle", [
    (["nope", "r6-fs"], "no run group or run id 'nope'"),
    (["r6-base", "r6-fs", "--confidence", "1.5"], "--confidence must be between 0 and 1"),
])
def test_usage_errors_exit_2(tmp_path, argv, needle):
    write_example(tmp_path / "results", CompareSignFlip.bad[0])
    proc = run_cli("compare", *argv, "--results", tmp_path / "results", "--metric", "val/acc", cwd=tmp_path)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_metric_and_broken_record(tmp_path):
    results = write_example(tmp_path / "results", CompareSignFlip.bad[0])
    proc = run_cli("compare", "r6-base", "r6-fs", "--results", tmp_path / "results", "--metric", "val/f1",
                   cwd=tmp_path)
    assert proc.returncode == 2 and "no run of 'r6-base' or 'r6-fs' has the metric 'val/f1'" in proc.stderr
    broken = tmp_path / "results" / "zz-broken"
    broken.mkdir()
    (broken / "run.yaml").write_text("id: [unclosed\n")
    proc = run_cli(*results, cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    assert "RA001" in rules_in(proc.stdout) and "RA311" in rules_in(proc.stdout)


def test_comparisons_file_and_api(tmp_path):
    results = write_runs(tmp_path / "results", CompareSignFlip.bad[0]["baseline"] + CompareSignFlip.bad[0]["treatment"])
    (results / "comparisons.yaml").write_text(
        "- name: r6\n  baseline: r6-base\n  treatment: r6-fs\n  metric: val/acc\n  treatment_keys: [fs]\n"
        "- name: r6-low\n  baseline: r6-base\n  treatment: r6-fs\n  metric: val/acc\n  lower_is_better: true\n")
    specs = load_comparisons(results)
    assert [(s.name, s.line, s.treatment_keys, s.higher_is_better) for s in specs] == [
        ("r6", 1, ["fs"], None), ("r6-low", 6, None, False)]
    config = Config()
    runs, problems = load_runs(results, config)
    assert not problems
    result = check_comparison(specs[0], runs, config)
    assert {f.rule for f in result.findings} >= {"RA311", "RA312", "RA315"}
    assert result.summary["verdict"] == "not supported" and result.summary["name"] == "r6"
    assert len(result.summary["rows"]) == 3 and result.summary["ci"] is not None


@pytest.mark.parametrize("text,line,field", [
    ("- name: a\n  baseline: b\n  treatment: c\n", 1, "metric"),
    ("- name: a\n  baseline: b\n  treatment: c\n  metric: m\n  treatment_key: [x]\n", 5, "treatment_key"),
    ("- name: a\n  baseline: b\n  treatment: c\n  metric: m\n  higher_is_better: yes please\n", 5, "higher_is_better"),
    ("- name: a\n  baseline: b\n  treatment: c\n  metric: m\n- name: a\n  baseline: b\n  treatment: c\n  metric: m\n",
     5, "name"),
    ("name: a\n", 1, None),
    ("- name: a\n  baseline: [b\n", 3, None),
])
def test_comparisons_file_errors_name_line_and_field(tmp_path, text, line, field):
    (tmp_path / "comparisons.yaml").write_text(text)
    with pytest.raises(InputError) as caught:
        load_comparisons(tmp_path)
    assert caught.value.line == line and caught.value.field == field
    assert str(caught.value).startswith(str(tmp_path / "comparisons.yaml"))


def test_no_comparisons_file_is_empty(tmp_path):
    assert load_comparisons(tmp_path) == []


def test_run_id_and_group_resolution(tmp_path):
    records = CompareSignFlip.bad[0]["baseline"] + CompareSignFlip.bad[0]["treatment"]
    results = write_runs(tmp_path / "results", records)
    runs, _ = load_runs(results, Config())
    spec = ComparisonSpec("x", "r6-base-s0", "r6-fs-s0", "val/acc")
    summary = check_comparison(spec, runs, Config()).summary
    assert summary["rows"][0]["baseline_run"] == "r6-base-s0" and len(summary["rows"]) == 1


def test_supported_verdict_when_seeds_agree(tmp_path):
    argv = write_example(tmp_path / "results", CompareSingleSeed.good[0])  # six seeds that agree
    proc = run_cli(*argv, cwd=tmp_path)
    assert proc.returncode == 0
    comparison = json.loads(proc.stdout)["comparison"]
    assert comparison["verdict"] == "supported" and comparison["reasons"] == []
    assert comparison["ci"][0] > 0 and comparison["statistics"]["signs"] == {"positive": 6, "zero": 0, "negative": 0}
    assert comparison["statistics"]["permutation_test"]["p_value"] == 2 / 64
    argv[argv.index("json")] = "text"
    assert "Verdict     valid comparison, effect supported by the seeds" in run_cli(*argv, cwd=tmp_path).stdout


@pytest.mark.parametrize("baseline,treatment,p,floor_text", [
    ([0.70, 0.71, 0.69], [0.74, 0.75, 0.73, 0.76], 2 / 35, "0.0571 with 3 and 4 runs"),
    ([0.70, 0.71, 0.69, 0.72, 0.70], [0.74, 0.75, 0.73, 0.76], 2 / 126, None),
])
def test_unpaired_p_and_its_floor_agree_with_unequal_sides(tmp_path, baseline, treatment, p, floor_text):
    """Fully separated sides of unequal size: p is scipy's two-sided 2 / C(m+n, n), never half of it, and
    never below the floor the output states."""
    example = {"baseline": group("base", baseline, seeded=False), "treatment": group("treat", treatment, seeded=False),
               "metric": "val/acc"}
    argv = write_example(tmp_path / "results", example)
    document = json.loads(run_cli(*argv, cwd=tmp_path).stdout)
    test = document["comparison"]["statistics"]["permutation_test"]
    assert test["p_value"] == pytest.approx(p) and test["p_min"] == pytest.approx(p)
    ra310 = [f["message"] for f in document["findings"] if f["rule"] == "RA310"]
    argv[argv.index("json")] = "text"
    text = run_cli(*argv, cwd=tmp_path).stdout
    sizes = f"{len(baseline)} baseline vs {len(treatment)} treatment runs"  # in the header's order
    assert f"difference of means, {sizes}, not paired by seed" in text
    if floor_text:
        assert ra310 and f"cannot go below p = {floor_text} (p <= 0.05 needs at least 4 runs per side)" in ra310[0]
        assert f"exact permutation test p = 0.0571 (cannot go below {floor_text})" in text
        assert document["comparison"]["verdict"] == "not supported"
    else:
        assert not ra310 and document["comparison"]["verdict"] == "supported"
        assert "exact permutation test p = 0.0159;" not in text and "cannot go below" not in text


def test_every_report_says_which_way_the_effect_goes_beside_the_verdict(tmp_path):
    """A loss that went up on every seed is a supported regression: the verdict line of the text, the
    Markdown and the JSON say "treatment worse" with the effect and its interval."""
    example = {"baseline": group("old", [1.20, 1.25, 1.18, 1.22, 1.30, 1.21], metric="val/loss"),
               "treatment": group("new", [1.23, 1.29, 1.20, 1.26, 1.32, 1.25], metric="val/loss",
                                  config={"lr": 1e-3}),
               "metric": "val/loss"}
    argv = write_example(tmp_path / "results", example)
    comparison = json.loads(run_cli(*argv, cwd=tmp_path).stdout)["comparison"]
    assert comparison["verdict"] == "supported" and comparison["direction"] == "worse"
    assert comparison["effect"] == pytest.approx(0.0317, abs=1e-4)
    low, high = comparison["ci"]
    headline = f"treatment worse, +0.0317 (95% CI [{low:+.4f}, {high:+.4f}])"
    assert comparison["headline"] == headline and 0 < low < high
    argv[argv.index("json")] = "text"
    assert f"Verdict     valid comparison, effect supported by the seeds: {headline}\n" in run_cli(*argv, cwd=tmp_path).stdout
    argv[argv.index("text")] = "markdown"
    markdown = run_cli(*argv, cwd=tmp_path).stdout
    assert "- Verdict: **valid comparison, effect supported by the seeds**: **treatment worse, \\+0.0317 \\(95% CI" in markdown
    # with reasons, the measured direction still follows them
    example["treatment"] = group("new", [1.00, 1.29, 1.20, 1.26, 1.32, 1.25], metric="val/loss", config={"lr": 1e-3})
    argv = write_example(tmp_path / "mixed", example)
    argv[argv.index("json")] = "text"
    text = run_cli(*argv, cwd=tmp_path).stdout
    assert "effect NOT supported by the seeds: " in text and "; measured: treatment better, -0.0067 (95% CI [" in text
