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
        "val/acc 0.50 for E13h",  # the subject comes after the number: not guessed
        "```",
        "E13h val/acc 0.11",  # code block
        "```",
        "E13h and E13j, val/acc 0.61 and 0.73",  # second number has another number between it and the metric
    ])
    claims = _claims(text)
    assert [(c.line, c.value) for c in claims] == [(2, 0.7142), (9, 0.61)]


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
    got = sorted((f.rule, f.location["line"], f.message) for f in findings)
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


def test_docs_command_errors(tmp_path):
    (tmp_path / "results").mkdir()
    proc = run_cli("docs", "missing.md", "--results", tmp_path / "results", cwd=tmp_path)
    assert proc.returncode == 2 and "no such file or directory: missing.md" in proc.stderr
    proc = run_cli("docs", "x.md", "--results", tmp_path / "nope", cwd=tmp_path)
    assert proc.returncode == 2
