"""The JSON report of the contract: version, sorted findings, summary by severity."""

from __future__ import annotations

import json

from auditor.findings import Finding, summarize


def render_json(findings: list[Finding]) -> str:
    document = {"version": 1, "findings": [f.to_json() for f in findings], "summary": summarize(findings)}
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"
