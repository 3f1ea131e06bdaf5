"""The nightly's five files, each written atomically: report.md, report.html, findings.json,
findings.sarif and summary.json (counts by severity, rule and group; new vs known findings).
Every one is a function of the findings and the runs only, so the same input gives the same bytes.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from auditor.config import Config
from auditor.findings import Finding, summarize
from auditor.locations import GroupsLocation
from auditor.report import render, write_atomic
from auditor.report.escape import Markdown, md_text

_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
REPORT_FILES = ("report.md", "report.html", "findings.json", "findings.sarif", "summary.json")


def groups_of(finding: Finding, group_of_run: dict[str, str]) -> list[str]:
    """The run groups a finding concerns ("(code)"/"(docs)" for code and docs findings)."""
    loc = finding.location
    if isinstance(loc, GroupsLocation):
        return sorted(set(loc.names))
    if loc.path is not None:
        return ["(docs)" if loc.path.endswith((".md", ".markdown")) else "(code)"]
    return sorted({group_of_run.get(r, "(no group)") for r in loc.names})  # a run, or runs


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
    summary = {
        "version": 1,
        "findings": len(findings),
        "by_severity": summarize(findings),
        "new": len(new),
        "known": len(findings) - len(new),
        "new_by_severity": summarize(new),
        "by_rule": dict(sorted(by_rule.items())),
        "by_group": {g: {s: c.get(s, 0) for s in ("error", "warning", "info")} for g, c in sorted(by_group.items())},
        "runs": len(outcome.runs),
        # the recorded groups and those the comparisons compared (derived from ungrouped runs too)
        "groups": len({run.group for run in outcome.runs if run.group}
                      | {g for c in outcome.comparisons for g in c.groups}),
        "comparisons": [_comparison_entry(c) for c in outcome.comparisons],
        "new_fingerprints": sorted({f.fingerprint for f in new}),
    }
    if outcome.repo_root is None:
        summary["no_repository"] = ("no git repository: the code at the runs' SHAs was not scanned and their "
                                    "commits were not checked")
    return summary


def _comparison_entry(c) -> dict:
    """A comparison in summary.json: the verdict with the direction and size of the effect beside it (a
    supported regression is "supported" too: "direction": "worse" says which way)."""
    checked = c.summary or {}
    return {"name": c.name, "baseline": c.baseline, "treatment": c.treatment, "metric": c.metric,
            "verdict": checked.get("verdict"), "direction": checked.get("direction"), "effect": checked.get("effect"),
            "ci": checked.get("ci"), "headline": checked.get("headline"), "findings": len(c.findings),
            "derived": c.derived}


def markdown_preamble(summary: dict) -> str:
    lines = [f"{summary['runs']} run(s) in {summary['groups']} group(s), {len(summary['comparisons'])} comparison(s). "
             f"**{summary['new']} new** finding(s), {summary['known']} known from earlier nightlies.", ""]
    if summary["by_rule"]:
        lines += ["| rule | findings | new |", "|---|---|---|"]
        lines += [f"| {rule} `{e['name']}` | {e['count']} | {e['new']} |" for rule, e in summary["by_rule"].items()]
    if summary["comparisons"]:
        lines += ["", "| comparison | verdict | effect (treatment vs baseline) | source |", "|---|---|---|---|"]
        lines += [f"| {md_text(c['name'])} | {md_text(c['verdict'] or 'not checked')} | {md_text(c['headline'] or '-')} | "
                  f"{md_text(c['derived'] or 'comparisons.yaml')} |" for c in summary["comparisons"]]
    return Markdown("\n".join(lines))


def write_reports(out: Path | str, outcome, config: Config, state=None) -> dict[str, Path]:
    """The five files, never a mix of two nights: they are written into a new folder beside OUT, which then
    takes OUT's place (an atomic exchange where the system has one). An OUT that holds other files too is
    written file by file, summary.json (which names every file's hash) removed first and written last."""
    out = Path(out)
    if out.is_symlink():
        out = out.resolve()
    texts = _render(out, outcome, config, state)
    if _only_reports(out):
        _swap_in(out, texts)
    else:
        _write_in_place(out, texts)
    return {name: out / name for name in REPORT_FILES}


def _render(out: Path, outcome, config: Config, state) -> dict[str, str]:
    from auditor.report.html import render_html

    summary = build_summary(outcome)
    texts = {
        "findings.json": render(outcome.findings, "json"),
        "findings.sarif": render(outcome.findings, "sarif"),
        "report.md": render(outcome.findings, "markdown", title="Nightly reproducibility audit",
                            preamble=markdown_preamble(summary)),
        "report.html": render_html(outcome, summary, out_dir=out, config=config, plot_cache=state),
    }
    summary["files"] = {name: hashlib.sha256(texts[name].encode("utf-8")).hexdigest() for name in sorted(texts)}
    texts["summary.json"] = json.dumps(summary, indent=2, sort_keys=False) + "\n"
    return texts


def _only_reports(out: Path) -> bool:
    try:
        return not out.exists() or (out.is_dir() and all(
            name in REPORT_FILES or name.startswith(".") for name in os.listdir(out)))
    except OSError:
        return False


def _swap_in(out: Path, texts: dict[str, str]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.new-"))
    try:
        for name in REPORT_FILES:
            write_atomic(new / name, texts[name])
        os.chmod(new, 0o755)
        if not out.exists():
            os.rename(new, out)
            return
        if not _exchange(new, out):  # no atomic exchange: move the old folder away, then the new one in
            old = out.parent / f".{out.name}.old-{new.name.rsplit('-', 1)[-1]}"
            os.rename(out, old)
            os.rename(new, out)
            new = old
    finally:
        shutil.rmtree(new, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """renameat2(RENAME_EXCHANGE): swap two paths in one step (Linux 3.15+)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0
    except (OSError, AttributeError):
        return False


def _write_in_place(out: Path, texts: dict[str, str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").unlink(missing_ok=True)  # no summary.json: the set is incomplete
    for name in REPORT_FILES:  # summary.json last: its presence (and its hashes) mean "all written"
        write_atomic(out / name, texts[name])
