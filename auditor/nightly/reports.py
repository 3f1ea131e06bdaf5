"""The nightly's five files, each written atomically: report.md, report.html, findings.json,
findings.sarif and summary.json (counts by severity, rule and group; new vs known findings).
Every one is a function of the findings and the runs only, so the same input gives the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from auditor.config import Config
from auditor.findings import Finding, summarize
from auditor.report import render, write_atomic
from auditor.report.escape import Markdown

REPORT_FILES = ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json")


def groups_of(finding: Finding, group_of_run: dict[str, str]) -> list[str]:
    """The run groups a finding concerns ("(code)"/"(docs)" for code and docs findings)."""
    loc = finding.location
    if "run" in loc:
        return [group_of_run.get(loc["run"], "(no group)")]
    if "runs" in loc:
        return sorted({group_of_run.get(r, "(no group)") for r in loc["runs"]})
    if "groups" in loc:
        return sorted(set(map(str, loc["groups"])))
    if "path" in loc:
        return ["(docs)" if str(loc["path"]).endswith((".md", ".markdown")) else "(code)"]
    return ["(other)"]


def build_summary(outcome) -> dict:
    findings = outcome.findings
    group_of_run = {run.id: run.group or "(no group)" for run in outcome.runs}
    by_rule: dict[str, dict] = {}
    for f in findings:
        entry = by_rule.setdefault(f.rule, {"name": f.name, "count": 0, "new": 0})
        entry["count"] += 1
        entry["new"] += f.fingerprint in outcome.new
    by_group: dict[str, Counter] = {}
    for f in findings:
        for group in groups_of(f, group_of_run):
            by_group.setdefault(group, Counter())[f.severity] += 1
    new = [f for f in findings if f.fingerprint in outcome.new]
    return {
        "version": 1,
        "findings": len(findings),
        "by_severity": summarize(findings),
        "new": len(new),
        "known": len(findings) - len(new),
        "new_by_severity": summarize(new),
        "by_rule": dict(sorted(by_rule.items())),
        "by_group": {g: {s: c.get(s, 0) for s in ("error", "warning", "info")} for g, c in sorted(by_group.items())},
        "runs": len(outcome.runs),
        "groups": len({run.group for run in outcome.runs if run.group}),
        "comparisons": [{"name": c.name, "baseline": c.baseline, "treatment": c.treatment, "metric": c.metric,
                         "findings": len(c.findings)} for c in outcome.comparisons],
        "new_fingerprints": sorted({f.fingerprint for f in new}),
    }


def markdown_preamble(summary: dict) -> str:
    lines = [f"{summary['runs']} run(s) in {summary['groups']} group(s), {len(summary['comparisons'])} comparison(s). "
             f"**{summary['new']} new** finding(s), {summary['known']} known from earlier nightlies.", ""]
    if summary["by_rule"]:
        lines += ["| rule | findings | new |", "|---|---|---|"]
        lines += [f"| {rule} `{e['name']}` | {e['count']} | {e['new']} |" for rule, e in summary["by_rule"].items()]
    return Markdown("\n".join(lines))


def write_reports(out: Path | str, outcome, config: Config, state=None) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = build_summary(outcome)
    from auditor.report.html import render_html

    texts = {
        "findings.json": render(outcome.findings, "json"),
        "findings.sarif": render(outcome.findings, "sarif"),
        "summary.json": json.dumps(summary, indent=2, sort_keys=False) + "\n",
        "report.md": render(outcome.findings, "markdown", title="Nightly reproducibility audit",
                            preamble=markdown_preamble(summary)),
        "report.html": render_html(outcome, summary, out_dir=out, config=config, plot_cache=state),
    }
    written = {}
    for name in REPORT_FILES:  # the HTML last but one, summary.json last: its presence means "all written"
        write_atomic(out / name, texts[name])
        written[name] = out / name
    return written
