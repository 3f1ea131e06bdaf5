"""The comparison engine, for `audit compare` and for `nightly`.

- `load_comparisons(results_dir)`: the declared comparisons of `comparisons.yaml`, validated.
- `auditor.compare.derive.derive_comparisons(runs, config, declared)`: the ones derived from the runs.
- `check_comparison(spec, runs, config, repo=None)`: run the compare rules on one comparison and
  return the findings with a summary (effect, CI, per-seed rows, verdict).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditor import bounded, safe_read
from auditor.compare import render
from auditor.compare.comparison import Comparison, build_comparison
from auditor.compare.groups import resolve_side
from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import Finding, sort_findings
from auditor.meta import run_rule
from auditor.runs.record import Run

COMPARISONS_FILE = "comparisons.yaml"
VALIDITY = {"RA301": "code differs between the sides", "RA302": "eval quantization differs",
            "RA303": "scores from different or non-final steps", "RA304": "config differs outside the treatment",
            "RA305": "eval set/framework/metric differs"}
EVIDENCE = {"RA310": "too few seeds", "RA311": "per-seed deltas flip sign", "RA312": "not significant",
            "RA313": "runs left out", "RA314": "treatment identical to baseline (no-op)",
            "RA315": "seed spread too large"}
_SPEC_FIELDS = {"name", "baseline", "treatment", "metric", "higher_is_better", "lower_is_better", "treatment_keys",
                "confidence"}


@dataclass
class ComparisonSpec:
    name: str
    baseline: str
    treatment: str
    metric: str
    higher_is_better: bool | None = None  # None: inferred from the metric's name
    treatment_keys: list[str] | None = None
    confidence: float | None = None
    path: str | None = None  # where it was declared
    line: int | None = None
    derived: str | None = None  # derived from the runs, not declared: why (auditor/compare/derive.py)


@dataclass
class ComparisonResult:
    findings: list[Finding]
    summary: dict[str, Any] = field(default_factory=dict)
    comparison: Comparison | None = None


# -- comparisons.yaml -----------------------------------------------------------------------


def load_comparisons(results_dir: str | Path) -> list[ComparisonSpec]:
    """The comparisons declared in RESULTS/comparisons.yaml ([] when there is no such file). Errors name
    the file, the line and the field."""
    path = Path(results_dir) / COMPARISONS_FILE
    if not os.path.lexists(path):  # a FIFO or a folder by that name is an error below, not "no comparisons"
        return []
    where = str(path)
    try:
        loader = yaml.SafeLoader(safe_read.read_bytes(path).decode("utf-8"))  # no FIFO, no unbounded file
        try:
            root = loader.get_single_node()
            if root is None:
                return []
            problem = bounded.yaml_problem(root)
            if problem:
                raise InputError(problem, path=where, line=root.start_mark.line + 1)
            if not isinstance(root, yaml.SequenceNode):
                raise InputError("must be a list of comparisons", path=where, line=root.start_mark.line + 1)
            specs = [_spec(item, loader, where) for item in root.value]
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=where,
                         line=mark.line + 1 if mark else None) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=where) from exc
    seen: dict[str, int] = {}
    for spec in specs:
        if spec.name in seen:
            raise InputError(f"duplicate comparison name {spec.name!r} (first at line {seen[spec.name]})",
                             path=where, line=spec.line, field="name")
        seen[spec.name] = spec.line
    return specs


def _spec(node, loader, where: str) -> ComparisonSpec:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise InputError("each comparison must be a mapping (name, baseline, treatment, metric...)", path=where,
                         line=line)
    data, lines = {}, {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        data[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1

    def fail(field_name, message):
        raise InputError(message, path=where, line=lines.get(field_name, line), field=field_name)

    for key in data:
        if key not in _SPEC_FIELDS:
            fail(key, f"unknown field; known: {', '.join(sorted(_SPEC_FIELDS))}")
    for key in ("name", "baseline", "treatment", "metric"):
        if key not in data:
            fail(key, "missing required field")
        if not isinstance(data[key], (str, int)) or isinstance(data[key], bool) or str(data[key]).strip() == "":
            fail(key, "must be a non-empty string")
    higher = data.get("higher_is_better")
    if "lower_is_better" in data:
        if not isinstance(data["lower_is_better"], bool):
            fail("lower_is_better", "must be true or false")
        if higher is not None and higher == data["lower_is_better"]:
            fail("lower_is_better", "contradicts higher_is_better")
        higher = not data["lower_is_better"]
    if higher is not None and not isinstance(higher, bool):
        fail("higher_is_better", "must be true or false")
    keys = data.get("treatment_keys")
    if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
        fail("treatment_keys", "must be a list of config keys (strings)")
    confidence = data.get("confidence")
    if confidence is not None and (not isinstance(confidence, (int, float)) or not 0 < confidence < 1):
        fail("confidence", "must be a number between 0 and 1")
    return ComparisonSpec(name=str(data["name"]), baseline=str(data["baseline"]), treatment=str(data["treatment"]),
                          metric=str(data["metric"]), higher_is_better=higher, treatment_keys=keys,
                          confidence=confidence, path=where, line=line)


# -- checking -------------------------------------------------------------------------------


def check_comparison(spec: ComparisonSpec, runs: list[Run], config: Config, repo: str | None = None,
                     **overrides) -> ComparisonResult:
    """Resolve the spec's sides among `runs`, run every selected compare rule, and summarize."""
    from auditor.registry import selected_rules

    baseline = resolve_side(spec.baseline, runs, config)
    treatment = resolve_side(spec.treatment, runs, config)
    comparison = build_comparison(baseline, treatment, spec.metric, config=config,
                                  higher_is_better=spec.higher_is_better, treatment_keys=spec.treatment_keys,
                                  repo=repo, confidence=spec.confidence, **overrides)
    findings = run_rules(comparison, selected_rules(config, "compare"))
    summary = summarize_comparison(comparison, findings, name=spec.name)
    summary["derived"] = spec.derived
    return ComparisonResult(findings, summary, comparison)


def run_rules(comparison: Comparison, rules) -> list[Finding]:
    findings = []
    for rule in rules:
        findings.extend(run_rule(rule, comparison.location, comparison, config=comparison.config))
    return sort_findings(findings)


def verdict(findings: list[Finding]) -> tuple[str, list[str]]:
    """("invalid" | "not supported" | "supported", reasons). Invalid: a validity rule at error severity
    (the sides are not like for like). Not supported: the seeds do not back the effect."""
    invalid = [f for f in findings if f.rule in VALIDITY and f.severity == "error"]
    if invalid:
        return "invalid", _reasons(invalid, VALIDITY)
    # Sign flips (RA311) and a spread above the effect (RA315) are caveats: with few seeds the exact test and
    # the interval already leave such an effect unsupported (RA310, RA312); with many they can support it.
    unsupported = [f for f in findings if f.rule in ("RA310", "RA312", "RA314")]
    # A side that lost seeds to divergence or failure (RA313's "lost") cannot back the effect its survivors show.
    lost = [f"seeds diverged/failed on {side} (RA313)" for f in findings if f.rule == "RA313"
            for side in f.evidence.get("lost", {})]
    if unsupported or lost:
        return "not supported", lost + _reasons(unsupported, EVIDENCE)
    return "supported", []


def _reasons(findings, labels) -> list[str]:
    seen = []
    for f in findings:
        text = f"{labels.get(f.rule, f.name)} ({f.rule})"
        if text not in seen:
            seen.append(text)
    return seen


def summarize_comparison(comparison: Comparison, findings: list[Finding], name: str | None = None) -> dict:
    state, reasons = verdict(findings)
    caveats = _reasons([f for f in findings if (f.rule in VALIDITY or f.rule in EVIDENCE)], {**VALIDITY, **EVIDENCE})
    effect = comparison.effect
    summary = {
        "name": name,
        "baseline": comparison.baseline_label,
        "treatment": comparison.treatment_label,
        "metric": comparison.metric,
        "higher_is_better": comparison.higher_is_better,
        "treatment_keys": comparison.treatment_keys,
        "verdict": state,
        "reasons": reasons,
        "caveats": [c for c in caveats if c not in reasons],
        "direction": render.direction(comparison, caveats),  # of the treatment: better | worse | no change
        "effect": effect.delta if effect else None,
        "ci": list(effect.ci) if effect and effect.ci else None,
        "statistics": effect.to_json() if effect else None,
        "rows": [row.to_json() for row in comparison.rows],
        "paired": comparison.paired,
        "dedupe": comparison.selection.notes,
        "excluded": [{"run": e.run.id, "side": e.side, "reason": e.reason, "note": e.note}
                     for e in comparison.excluded],
    }
    summary["headline"] = render.headline(summary)
    return summary
