import json
from pathlib import Path

import jsonschema
import pytest

from auditor.findings import Finding, code_location, groups_location, run_location, sort_findings
from auditor.report import emit, file_source_lookup, render

SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"


def sample_findings():
    return [
        Finding("RA220", "run-final-validation-missing", "error", "reported val/acc is from step 20, training ran to 29",
                run_location("E13j"), {"record_path": "results/E13j/run.yaml", "last_eval_step": 20}),
        Finding("RA101", "final-validation-skipped", "error", "final validation replaced by {}",
                code_location("verl/trainer/ppo/ray_trainer.py", 3, 8)),
        Finding("RA120", "nondeterministic-backend", "warning", "cudnn.benchmark = True",
                code_location("train.py", 1, 0)),
        Finding("RA312", "compare-not-significant", "info", "CI [-0.02, 0.03] includes 0",
                groups_location("E13h", "E13k")),
    ]


def test_json_report_has_the_contract_shape_and_is_sorted():
    document = json.loads(render(sample_findings(), "json"))
    assert document["version"] == 1
    assert document["summary"] == {"error": 2, "warning": 1, "info": 1}
    rules = [f["rule"] for f in document["findings"]]
    assert rules == ["RA312", "RA220", "RA120", "RA101"]  # sorted by (path|run|groups, line, rule)
    first_code = next(f for f in document["findings"] if f["rule"] == "RA101")
    assert set(first_code) == {"rule", "name", "severity", "message", "location", "evidence", "fingerprint"}
    assert first_code["location"] == {"path": "verl/trainer/ppo/ray_trainer.py", "line": 3, "col": 8}


def test_reports_are_byte_identical_whatever_the_input_order():
    findings = sample_findings()
    for fmt in ("json", "sarif", "markdown", "text"):
        assert render(findings, fmt) == render(list(reversed(findings)), fmt)


def test_sarif_validates_against_the_oasis_schema():
    document = json.loads(render(sample_findings(), "sarif"))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(document, schema)
    results = document["runs"][0]["results"]
    code = next(r for r in results if r["ruleId"] == "RA101")
    region = code["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3, "startColumn": 9}  # SARIF columns are 1-based
    run = next(r for r in results if r["ruleId"] == "RA220")
    assert run["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "results/E13j/run.yaml"
    assert run["locations"][0]["logicalLocations"][0]["name"] == "E13j"
    assert {r["level"] for r in results} == {"error", "warning", "note"}


def test_sarif_tells_apart_two_findings_on_the_same_line_text():
    """Code scanning keeps one alert per fingerprint: a second `torch.load(path)` in the file is an alert too."""
    anchor = "state = torch.load(path)"
    from auditor.findings import fingerprint

    twice = [Finding("RA170", "unsafe-checkpoint-load", "warning", "torch.load without weights_only",
                     code_location("load.py", line, 4), {}, fingerprint("RA170", code_location("load.py", line, 4),
                                                                       anchor)) for line in (9, 3)]
    assert twice[0].fingerprint == twice[1].fingerprint
    results = json.loads(render(twice, "sarif"))["runs"][0]["results"]
    marks = [(r["locations"][0]["physicalLocation"]["region"]["startLine"],
              r["partialFingerprints"]["auditorFingerprint/v1"]) for r in results]
    assert marks == [(3, twice[0].fingerprint), (9, twice[0].fingerprint + ":2")]


def test_text_report_shows_the_source_line_and_a_caret(tmp_path):
    (tmp_path / "verl/trainer/ppo").mkdir(parents=True)
    (tmp_path / "verl/trainer/ppo/ray_trainer.py").write_text("if x:\n    pass\n        val_metrics = {}\n")
    text = render(sample_findings(), "text", source_lookup=file_source_lookup(tmp_path))
    lines = text.splitlines()
    at = lines.index("      |         val_metrics = {}")
    assert lines[at + 1] == "      |         ^"
    assert "run E13j" in text and "4 finding(s): 2 error, 1 warning, 1 info" in text
    assert "\033[" not in text  # no colour unless asked


def test_markdown_groups_by_severity_and_escapes_pipes():
    findings = sample_findings() + [Finding("RA304", "compare-protocol-mismatch", "warning", "a|b differ",
                                            groups_location("A", "B"))]
    text = render(findings, "markdown")
    assert text.index("### Errors") < text.index("### Warnings") < text.index("### Infos")
    assert "a\\|b differ" in text


@pytest.mark.parametrize("fail_on,expected", [("error", 1), ("warning", 1), ("info", 1)])
def test_emit_exit_code_follows_fail_on(tmp_path, fail_on, expected):
    assert emit(sample_findings(), fmt="json", output=str(tmp_path / "r.json"), fail_on=fail_on) == expected


def test_emit_exit_code_zero_below_the_failing_severity(tmp_path):
    only_info = [f for f in sample_findings() if f.severity == "info"]
    assert emit(only_info, fmt="json", output=str(tmp_path / "r.json"), fail_on="warning") == 0
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["info"] == 1


def test_sort_findings_removes_exact_duplicates():
    f = sample_findings()[1]
    assert len(sort_findings([f, Finding(**f.to_json())])) == 1
