"""SARIF 2.1.0 for GitHub code scanning: one run, the driver's rules, one result per finding."""

from __future__ import annotations

import json

from auditor import __version__
from auditor.findings import Finding

_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _rule_descriptors(findings: list[Finding]) -> list[dict]:
    from auditor.registry import all_rule_classes

    known = all_rule_classes()
    descriptors = []
    for rule_id in sorted({f.rule for f in findings}):
        cls = known.get(rule_id)
        name = cls.name if cls else next(f.name for f in findings if f.rule == rule_id)
        summary = (cls.summary if cls else "") or name
        descriptor = {
            "id": rule_id,
            "name": name,
            "shortDescription": {"text": summary},
            "fullDescription": {"text": (cls.rationale if cls else "") or summary},
            "helpUri": f"https://github.com/repro-auditor/repro-auditor/blob/main/docs/rules/{rule_id}.md",
            "help": {"text": (cls.rationale if cls else "") or summary},
            "defaultConfiguration": {"level": _LEVEL.get(cls.severity if cls else "warning", "warning")},
            "properties": {"tags": ["reproducibility", cls.scope if cls else "auditor"]},
        }
        descriptors.append(descriptor)
    return descriptors


def _locations(finding: Finding) -> dict:
    loc = finding.location
    path = loc.path or finding.evidence.get("record_path")
    out: dict = {}
    if path:
        region = {"startLine": max(1, loc.line or 1)}
        if loc.col is not None and loc.line is not None:
            region["startColumn"] = loc.col + 1
        out["locations"] = [{"physicalLocation": {
            "artifactLocation": {"uri": str(path).replace("\\", "/"), "uriBaseId": "%SRCROOT%"},
            "region": region}}]
    if loc.names:
        logical = [{"name": name, "kind": "resource"} for name in loc.names]
        if "locations" in out:
            out["locations"][0]["logicalLocations"] = logical
        else:
            out["locations"] = [{"logicalLocations": logical}]
    return out


def render_sarif(findings: list[Finding]) -> str:
    rules = _rule_descriptors(findings)
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    seen: dict[str, int] = {}
    for f in findings:
        # the same line text twice in a file gives one fingerprint twice: code scanning would keep one alert, so
        # each later copy is told apart by its place among them (the first keeps the report's fingerprint)
        copies = seen[f.fingerprint] = seen.get(f.fingerprint, 0) + 1
        result = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL.get(f.severity, "warning"),
            "message": {"text": f.message},
            "partialFingerprints": {"auditorFingerprint/v1": f.fingerprint if copies == 1 else
                                    f"{f.fingerprint}:{copies}"},
        }
        result.update(_locations(f))
        if f.evidence:
            result["properties"] = {"evidence": f.evidence}
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "repro-auditor", "version": __version__,
                                "informationUri": "https://github.com/repro-auditor/repro-auditor",
                                "rules": rules}},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The root of the audited repository."}}},
            "results": results,
        }],
    }
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"
