"""The subject of the compare rules: two sides of runs, one metric, and what the seeds say."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from auditor.compare import stats
from auditor.compare.groups import Side, pair_by_seed, run_seed, score, usable
from auditor.config import CompareSettings, Config
from auditor.errors import UsageError
from auditor.findings import groups_location
from auditor.runs.record import Run

_LOWER_IS_BETTER = re.compile(r"(loss|mse|rmse|mae|err|perplexity|ppl|wer|cer|fid|regret|gap|violation|latency)",
                              re.IGNORECASE)

# [tool.auditor.compare] settings and their defaults.
DEFAULTS = dataclasses.asdict(CompareSettings())


def infer_higher_is_better(metric: str) -> bool:
    """Losses and errors go down, everything else up (--higher-is-better/--lower-is-better override)."""
    return not _LOWER_IS_BETTER.search(metric.rsplit("/", 1)[-1])


def settings(config: Config, **overrides) -> dict[str, Any]:
    """[tool.auditor.compare] (checked when the configuration was loaded), with command-line overrides."""
    out = dataclasses.asdict(config.compare)
    out.update({k: v for k, v in overrides.items() if v is not None})
    level = out["confidence"]
    if not isinstance(level, (int, float)) or not 0 < level < 1:
        raise _setting_error("confidence", f"must be between 0 and 1 (e.g. 0.95), got {level!r}", config, overrides)
    if out["ci_method"] not in stats.CI_METHODS:
        raise _setting_error("ci_method", f"must be one of {', '.join(stats.CI_METHODS)}, got {out['ci_method']!r}",
                             config, overrides)
    return out


def _setting_error(key: str, problem: str, config: Config, overrides: dict) -> UsageError:
    """Name where the bad value came from: the command line, or the config file's [tool.auditor.compare]."""
    if overrides.get(key) is not None:
        return UsageError(f"{key} {problem}")
    return UsageError(problem, path=config.source, field=f"compare.{key}")


@dataclass
class Row:
    """One line of the per-seed table; a side's value is None when that side has no usable score."""

    seed: Any
    baseline_run: str | None
    treatment_run: str | None
    baseline: float | None
    treatment: float | None
    paired: bool = True  # False: two runs that merely share a table line (unseeded sides)

    @property
    def delta(self) -> float | None:
        if not self.paired or self.baseline is None or self.treatment is None:
            return None
        return self.treatment - self.baseline

    def to_json(self) -> dict:
        return {"seed": self.seed, "baseline_run": self.baseline_run, "treatment_run": self.treatment_run,
                "baseline": self.baseline, "treatment": self.treatment, "delta": self.delta}


@dataclass
class Comparison:
    baseline_label: str
    treatment_label: str
    baseline: list[Run]  # every run of the side, failed ones too
    treatment: list[Run]
    metric: str
    higher_is_better: bool
    treatment_keys: list[str] | None
    config: Config
    repo: str | None = None
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    rows: list[Row] = field(default_factory=list)
    effect: stats.Effect | None = None

    @property
    def location(self) -> dict:
        return groups_location(self.baseline_label, self.treatment_label)

    @property
    def paired(self) -> bool:
        return bool(self.effect and self.effect.paired)

    @property
    def runs(self) -> list[Run]:
        return self.baseline + self.treatment

    def scored(self, side: list[Run]) -> list[tuple[Run, float]]:
        """The side's usable runs that have a finite score for the metric."""
        out = []
        for run in side:
            value, _ = score(run, self.metric)
            if usable(run) and value is not None and math.isfinite(value):
                out.append((run, value))
        return out

    def better(self, delta: float) -> bool:
        return delta > 0 if self.higher_is_better else delta < 0


def build_comparison(baseline: Side, treatment: Side, metric: str, *, config: Config,
                     higher_is_better: bool | None = None, treatment_keys: list[str] | None = None,
                     repo: str | None = None, **overrides) -> Comparison:
    if {r.id for r in baseline.runs} & {r.id for r in treatment.runs}:
        raise UsageError(f"{baseline.label!r} and {treatment.label!r} share runs: compare two different conditions")
    comparison = Comparison(
        baseline_label=baseline.label, treatment_label=treatment.label, baseline=baseline.runs,
        treatment=treatment.runs, metric=metric,
        higher_is_better=infer_higher_is_better(metric) if higher_is_better is None else higher_is_better,
        treatment_keys=list(treatment_keys) if treatment_keys is not None else None, config=config, repo=repo,
        settings=settings(config, **overrides))
    b_scored, t_scored = comparison.scored(baseline.runs), comparison.scored(treatment.runs)
    if not b_scored and not t_scored and not any(metric in r.metrics or metric in (r.reported or {})
                                                 for r in comparison.runs):
        raise UsageError(f"no run of {baseline.label!r} or {treatment.label!r} has the metric {metric!r}; "
                         f"metrics they log: {', '.join(sorted({m for r in comparison.runs for m in r.metrics})[:12])}")
    pairs = pair_by_seed([r for r, _ in b_scored], [r for r, _ in t_scored], config)
    values = {run.id: value for run, value in b_scored + t_scored}
    if pairs:
        comparison.rows = _paired_rows(pairs, b_scored, t_scored, values, config)
        b_vals = [values[b.id] for _, b, _ in pairs]
        t_vals = [values[t.id] for _, _, t in pairs]
    else:
        comparison.rows = [Row(run_seed(b, config) if b else run_seed(t, config), b.id if b else None,
                               t.id if t else None, vb, vt, paired=False)
                           for (b, vb), (t, vt) in zip_longest(b_scored, t_scored, fillvalue=(None, None))]
        b_vals = [v for _, v in b_scored]
        t_vals = [v for _, v in t_scored]
    s = comparison.settings
    comparison.effect = stats.effect(b_vals, t_vals, paired=bool(pairs), level=float(s["confidence"]),
                                     method=s["ci_method"], reps=int(s["bootstrap_reps"]),
                                     seed=int(s["bootstrap_seed"]), zero_abs_tol=1e-12)
    return comparison


def _paired_rows(pairs, b_scored, t_scored, values, config) -> list[Row]:
    rows = [Row(seed, b.id, t.id, values[b.id], values[t.id]) for seed, b, t in pairs]
    paired_ids = {b.id for _, b, _ in pairs} | {t.id for _, _, t in pairs}
    for run, value in b_scored:
        if run.id not in paired_ids:
            rows.append(Row(run_seed(run, config), run.id, None, value, None))
    for run, value in t_scored:
        if run.id not in paired_ids:
            rows.append(Row(run_seed(run, config), None, run.id, None, value))
    return rows
