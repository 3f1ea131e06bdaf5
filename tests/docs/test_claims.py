"""Claim extraction: what is a claim (tied to a run or group AND a metric), what is not, and the API."""

from pathlib import Path

from auditor.claims import check_docs, extract, known_names
from auditor.compare.runsource import run_from_native
from auditor.config import Config
from cli_helpers import run_cli


def _runs():
    records = [
        {"id": "E13h", "metrics": {"val/acc": [[20, 0.6073], [29, 0.7142]], "train/loss": [[29, 0.3]]},
         "reported": {"val/acc": 0.7142, "step": 29}},
        {"id": "E13j", "metrics": {"val/acc": [[20, 0.7331]]}, "reported": {"val/acc": 0.7331, "step": 20}},
        *[{"id": f"burgers-{i}", "group": "burgers-golden", "metrics": {"eval/nrmse": [[8, v]]}}
          for i, v in enumerate([0.1247, 0.0831, 0.1047, 0.0849])],
        {"id": "dead", "group": "burgers-golden", "status": {"state": "failed", "exit_code": 1},
         "metrics": {"eval/nrmse": [[2, 0.5]]}},
    ]
    return [run_from_native(r, folder=f"/r/{r['id']}") for r in records]


def _claims(text):
    known = known_names(_runs(), Config())
    return extract("doc.md", text, known)[0]


def test_sentence_claims_tie_number_to_metric_and_subject():
    claims = _claims("E13h reached val/acc 71.42% at step 29.\nE13j: acc = 0.7331 (bf16).\n")
    assert [(c.subject, c.metric, c.value, c.percent, c.line) for c in claims] == [
        ("E13h", "val/acc", 71.42, True, 1), ("E13j", "val/acc", 0.7331, False, 2)]


def test_not_claims():
    text = "\n".join([
        "E13h improved val/acc by +8.02pp over 29 steps.",  # a delta, an integer
        "E13h val/acc 0.7142 ± 0.0205.",  # only the first number is a claim
        "TTC gives a 25x better nrmse for burgers-golden.",  # a multiplier
        "The paper reports val/acc 0.50 on GSM8K.",  # no known run or group
        "val/acc 0.50 for E13h and E13j",  # two subjects, both after the number: not guessed
        "```",
        "E13h val/acc 0.11",  # code block
        "```",
        "E13h and E13j, val/acc 0.61 and 0.73",  # second number has another number between it and the metric
    ])
    claims = _claims(text)
    assert [(c.line, c.value) for c in claims] == [(2, 0.7142), (9, 0.61)]


def test_claims_scoped_by_what_follows_the_number_or_the_only_subject_of_the_line():
    runs = _runs() + [run_from_native({"id": f"wide-s{seed}", "group": "wide-lr3", "seed": seed,
                                       "metrics": {"train/loss": [[9, 1.8 + seed / 100]]}}, folder=f"/r/wide-s{seed}")
                      for seed in range(4)]
    known = known_names(runs, Config())
    text = "\n".join([
        "The best accuracy was val/acc 71.42% (run E13h).",
        "We reach a loss of 1.83 for the wide model (group wide-lr3).",
        "Mean train/loss 1.81 (group wide-lr3, seeds 0-2).",
        "val/acc 0.50 for E13h",
        "| model | group | train/loss |",
        "|---|---|---|",
        "| wide | wide-lr3 | 1.815 |",
    ])
    claims = extract("doc.md", text, known)[0]
    got = [(c.line, c.subject, c.metric, c.value, c.seeds, sorted(r for r, _ in c.observed)) for c in claims]
    wide = [f"wide-s{s}" for s in range(4)]
    assert got == [(1, "E13h", "val/acc", 71.42, None, ["E13h"]),
                   (2, "wide-lr3", "train/loss", 1.83, None, wide),
                   (3, "wide-lr3", "train/loss", 1.81, ["0", "1", "2"], wide[:3]),
                   (4, "E13h", "val/acc", 0.50, None, ["E13h"]),
                   (7, "wide-lr3", "train/loss", 1.815, None, wide)]


def test_heading_gives_the_subject_and_tables_give_both():
    text = ("## burgers-golden\n\nExpected NRMSE ~0.078.\n\n## Table\n\n| run | val/acc | eval/nrmse |\n|---|---|---|\n"
            "| E13h | 71.42% | n/a |\n| **E13j** | 0.7331 | |\n| unknown | 0.1 | 0.2 |\n")
    claims = _claims(text)
    assert [(c.subject, c.metric, c.text, c.approx, c.line) for c in claims] == [
        ("burgers-golden", "eval/nrmse", "~0.078", True, 3),
        ("E13h", "val/acc", "71.42%", False, 9),
        ("E13j", "val/acc", "0.7331", False, 10)]
    # failed runs are not results: the group's observed values are its four completed runs
    assert sorted(v for _, v in claims[0].observed) == [0.0831, 0.0849, 0.1047, 0.1247]


def test_check_docs_api(tmp_path):
    doc = tmp_path / "RESULTS.md"
    doc.write_text("## burgers-golden\n\nNRMSE ~0.078, best run nrmse 0.0831, mean nrmse about 0.099.\n"
                   "E13h val/acc 71.4% and E13j val/acc 60.73%.\nLogs: `logs/run.log`, [cfg](cfg.yaml)\n")
    (tmp_path / "cfg.yaml").write_text("a: 1\n")
    findings = check_docs([str(doc)], _runs(), tmp_path, Config(root=tmp_path))
    got = sorted((f.rule, f.location.line, f.message) for f in findings)
    assert [(r, line) for r, line, _ in got] == [("RA501", 3), ("RA501", 4), ("RA502", 5)]
    assert "0.0831–0.1247" in got[0][2]
    assert "E13j" in got[1][2] and "its record says 0.7331" in got[1][2]
    assert "logs/run.log" in got[2][2]


def test_incident_reports_give_no_false_claims(tmp_path):
    """The five incident reports, checked against runs named like their experiments: nothing there is
    tied to a metric these runs log, so there must be no RA501 (precision over recall)."""
    incidents = Path("/work/shared/incidents")
    if not incidents.is_dir():
        return
    runs = _runs() + [run_from_native({"id": "R2", "group": "arc", "metrics": {"acc": [[1, 0.5]]}}, folder="/r/R2")]
    findings = check_docs([str(incidents)], runs, tmp_path, Config(root=tmp_path))
    assert not [f for f in findings if f.rule == "RA501"], [f.message for f in findings if f.rule == "RA501"]


def test_incident_reports_against_runs_that_log_every_metric_they_mention(tmp_path):
    """The adversarial version: every experiment the reports name is a run (and a group) logging every
    metric they mention, all with a value no sentence states. Each RA501 is then a claim the extractor
    made; only sentences that really state a number for that run and metric may become one."""
    incidents = Path("/work/shared/incidents")
    if not incidents.is_dir():
        return
    names = ("E13g E13h E13j E13k E13l E13m E13n E14a R1 R2 R3 R4 R5 R6 R7 R8 R9 R10 R11 R12 "
             "q101 q103 q201 q207 burgers-golden").split()
    metrics = ["d_acc", "acc", "accuracy", "loss", "val/acc", "val_mse", "mse", "nrmse", "val/score",
               "val/operator/loss", "val/diffusion/loss"]
    runs = []
    for name in names:
        history = {m: [[1, 123.456]] for m in metrics}
        runs.append(run_from_native({"id": name, "metrics": history}, folder=f"/r/{name}"))
        runs.append(run_from_native({"id": f"{name}-s0", "group": f"{name}-grp", "metrics": history},
                                    folder=f"/r/{name}-s0"))
    findings = check_docs([str(incidents)], runs, tmp_path, Config(root=tmp_path))
    flagged = sorted((Path(f.location.path).name, f.location.line) for f in findings if f.rule == "RA501")
    # q201-sha-regression: "q101 baseline ... val MSE = 0.00969", "q101 baseline (val MSE 0.009)",
    # "q201 current (val MSE 1.70)"; verl: "Reported score: 73.31%" under the E13j heading. Not claims:
    # "q201 previously reached val MSE 0.00977 (q103 multiseed avg)" (attributed to what follows) and
    # "E14a) only have step 20 results, missing ~10% accuracy gain" (a difference).
    assert flagged == [("q201-sha-regression.md", 29), ("q201-sha-regression.md", 42),
                       ("q201-sha-regression.md", 43), ("verl-skipped-validation-bf16-eval.md", 126)], flagged


def test_differences_and_trailing_attributions_are_not_claims():
    claims = _claims("E13h missed a ~10% val/acc gain.\nE13h val/acc 0.61 lower than before.\n"
                     "E13h reached val/acc 0.65 (E13j avg).\nE13h reached val/acc 0.66 at the end.\n")
    assert [(c.line, c.value) for c in claims] == [(4, 0.66)]


def test_unreadable_docs(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "latin.md").write_bytes("E13h val/acc 0.5\ncaf\xe9\n".encode("latin-1"))
    (docs / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (docs / "ok.md").write_text("E13h val/acc 0.5\n")
    (tmp_path / "results").mkdir()
    # among many: RA001 each (no excerpt of binary lines), the rest checked
    findings = check_docs([str(docs)], _runs(), tmp_path / "results", Config(root=tmp_path))
    unreadable = sorted((Path(f.location.path).name, f.message) for f in findings if f.rule == "RA001")
    assert [name for name, _ in unreadable] == ["image.md", "latin.md"]
    assert all(f.location.line is None for f in findings if f.rule == "RA001")
    assert "not UTF-8 text (byte 20 is 0xe9) (line 2)" in unreadable[1][1] and "binary" in unreadable[0][1]
    assert [f.rule for f in findings if f.location.path.endswith("ok.md")] == ["RA501"]
    # the one file asked for: exit 2 naming the file and line
    proc = run_cli("docs", docs / "latin.md", "--results", tmp_path / "results", cwd=tmp_path)
    assert proc.returncode == 2 and "internal error" not in proc.stderr
    assert proc.stderr.strip() == f"audit: error: {docs / 'latin.md'}:2: not UTF-8 text (byte 20 is 0xe9)"


def test_docs_command_errors(tmp_path):
    (tmp_path / "results").mkdir()
    proc = run_cli("docs", "missing.md", "--results", tmp_path / "results", cwd=tmp_path)
    assert proc.returncode == 2 and "no such file or directory: missing.md" in proc.stderr
    proc = run_cli("docs", "x.md", "--results", tmp_path / "nope", cwd=tmp_path)
    assert proc.returncode == 2


def test_docs_reads_the_configuration_of_the_repo_it_is_given(tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "README.md").write_text("Logs: `logs/run.log`\n")  # a reference to a file that is not there
    (tmp_path / "results").mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    argv = ("docs", repo / "README.md", "--results", tmp_path / "results", "--repo", repo, "--format", "json")
    assert "RA502" in run_cli(*argv, cwd=elsewhere).stdout
    (repo / "pyproject.toml").write_text('[tool.auditor]\nignore = ["RA502"]\n')
    proc = run_cli(*argv, cwd=elsewhere)
    assert proc.returncode == 0 and "RA502" not in proc.stdout, proc.stdout + proc.stderr


def test_seed_counts_claimed_after_a_number_are_checked_through_audit_docs(tmp_path):
    """"(3 seeds)", "over 4 seeds", "(mean over 5 seeds)": the distinct completed seeds behind the number
    must be that many. A killed seed and a re-run of a seed do not add one."""
    import json

    from docs_helpers import write_docs_example

    runs = [{"id": f"q8-s{seed}", "group": "q8", "seed": seed, "metrics": {"acc": [[10, value]]}}
            for seed, value in enumerate([0.90, 0.92, 0.94])]
    runs += [{"id": "q8-s1-rerun", "group": "q8", "seed": 1, "metrics": {"acc": [[10, 0.92]]}},
             {"id": "q8-s3", "group": "q8", "seed": 3, "status": {"state": "killed"}, "metrics": {"acc": [[4, 0.5]]}}]
    doc = "\n".join(["q8 reaches acc 0.92 (3 seeds).",
                     "q8 reaches acc 0.92 over 4 seeds.",
                     "q8 reaches acc 0.91 (seeds 0-1, 2 seeds).",
                     "q8: acc 0.92 ± 0.02 (mean over 5 seeds).",
                     "q8 reaches acc 0.92 (run q8-s1, 1 seed)."]) + "\n"
    repo, results, _ = write_docs_example(tmp_path, {"doc": doc, "runs": runs})
    proc = run_cli("docs", "docs/RESULTS.md", "--results", results, "--format", "json", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    found = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "RA501"]
    assert [f["location"]["line"] for f in found] == [2, 4], [f["message"] for f in found]
    assert "over 4 seeds, but 3 completed seed(s) are behind it (seeds 0, 1, 2)" in found[0]["message"]
    assert "over 5 seeds" in found[1]["message"]
    assert found[0]["evidence"]["seeds"] == ["0", "1", "2"]


def test_seed_count_parsing():
    runs = [run_from_native({"id": f"g-s{s}", "group": "g", "seed": s, "metrics": {"acc": [[1, 0.5]]}},
                            folder=f"/r/g-s{s}") for s in range(3)]
    known = known_names(runs, Config())
    text = "g acc 0.5 (3 seeds)\ng acc 0.5 across 2 random seeds\ng acc 0.5 (n = 4 seeds)\ng acc 0.5 at 3 seeds\n"
    claims = extract("doc.md", text, known)[0]
    assert [(c.line, c.seed_count, c.behind) for c in claims] == [
        (1, 3, ["0", "1", "2"]), (2, 2, ["0", "1", "2"]), (3, 4, ["0", "1", "2"]), (4, None, ["0", "1", "2"])]
