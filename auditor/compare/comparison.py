"""The subject of the compare rules: two sides of runs, one metric, and what the seeds say."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from auditor.compare import stats
from auditor.compare.groups import Side, usable
from auditor.compare.selection import DEDUPE_MODES, Excluded, Selection, Unit, select
from auditor.config import CompareSettings, Config
from auditor.errors import UsageError
from auditor.findings import groups_location
from auditor.locations import GroupsLocation
from auditor.runs.record import Run

# Losses, errors, distances and costs go down. Short names count only as the last word of the metric's name
# (`val/ce`, `test_eer`), so that `acceptance`, `fidelity`, `ce_acc` or `gap_closed` are not read as one.
_LOWER_IS_BETTER = re.compile(
    r"loss|err|perplexity|regret|violation|latency|nll|cross_?entropy|xent|bits_?per|lpips|brier|divergence|distance"
    r"|(?:^|[/_.\-])(?:mse|rmse|mae|fid|ppl|gap|wer|cer|ter|eer|ce|bpb|bpd|bpc|kl|kld|far|frr)$", re.IGNORECASE)

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
    if out["dedupe"] not in DEDUPE_MODES:
        raise _setting_error("dedupe", f"must be one of {', '.join(DEDUPE_MODES)}, got {out['dedupe']!r}",
                             config, overrides)
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
    """One line of the per-seed table: one seed's result on both sides (paired), or one result of one
    side (unpaired: the other side's cells stay empty, so no line ever joins two different seeds)."""

    seed: Any
    baseline_run: str | None
    treatment_run: str | None
    baseline: float | None
    treatment: float | None
    paired: bool = True

    @property
    def delta(self) -> float | None:
        if not self.paired or self.baseline is None or self.treatment is None:
            return None
        return self.treatment - self.baseline

    def to_json(self) -> dict:
        return {"seed": self.seed, "baseline_run": self.baseline_run, "treatment_run": self.treatment_run,
                "baseline": self.baseline, "treatment": self.treatment, "delta": self.delta, "paired": self.paired}


@dataclass
class Comparison:
    baseline_label: str
    treatment_label: str
    baseline: list[Run]  # the runs whose results enter the statistics (after exclusions and dedupe)
    treatment: list[Run]
    metric: str
    higher_is_better: bool
    treatment_keys: list[str] | None
    config: Config
    repo: str | None = None
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    rows: list[Row] = field(default_factory=list)
    effect: stats.Effect | None = None
    selection: Selection = field(default_factory=Selection)

    @property
    def location(self) -> GroupsLocation:
        return groups_location(self.baseline_label, self.treatment_label)

    @property
    def paired(self) -> bool:
        return bool(self.effect and self.effect.paired)

    @property
    def runs(self) -> list[Run]:
        return self.baseline + self.treatment

    @property
    def excluded(self) -> list[Excluded]:
        return self.selection.excluded

    def units(self, label: str) -> list[Unit]:
        return self.selection.baseline if label == self.baseline_label else self.selection.treatment

    def better(self, delta: float) -> bool:
        return delta > 0 if self.higher_is_better else delta < 0


def _scores(run: Run, metric: str) -> bool:
    return metric in run.metrics or metric in (run.reported or {})


def _missing_on_one_side(side: Side, metric: str) -> str:
    """One side logs the metric under another name (`val/accuracy` against `val/acc`): a comparison of the
    other side with nothing."""
    import difflib

    logged = sorted({m for r in side.runs for m in r.metrics})
    close = difflib.get_close_matches(metric, logged, n=3, cutoff=0.5)
    parts = [f"no run of {side.label!r} has the metric {metric!r}, so that side of the comparison is empty"]
    parts += [f"did it log it as {' or '.join(repr(c) for c in close)}?"] if close else []
    parts.append(f"metrics {side.label!r} logs: {', '.join(logged[:12]) or 'none'}")
    return "; ".join(parts)


def build_comparison(baseline: Side, treatment: Side, metric: str, *, config: Config,
                     higher_is_better: bool | None = None, treatment_keys: list[str] | None = None,
                     repo: str | None = None, dedupe: str | None = None, **overrides) -> Comparison:
    if {r.id for r in baseline.runs} & {r.id for r in treatment.runs}:
        raise UsageError(f"{baseline.label!r} and {treatment.label!r} share runs: compare two different conditions")
    every = baseline.runs + treatment.runs
    if not any(_scores(r, metric) for r in every):
        raise UsageError(f"no run of {baseline.label!r} or {treatment.label!r} has the metric {metric!r}; "
                         f"metrics they log: {', '.join(sorted({m for r in every for m in r.metrics})[:12])}")
    for side in (baseline, treatment):  # runs that finished and never logged it: another name, not failed seeds
        finished = [r for r in side.runs if usable(r)]
        if finished and not any(_scores(r, metric) for r in side.runs):
            raise UsageError(_missing_on_one_side(side, metric))
    s = settings(config, **overrides)
    selection = select(baseline.label, baseline.runs, treatment.label, treatment.runs, metric, config,
                       dedupe or s["dedupe"])
    comparison = Comparison(
        baseline_label=baseline.label, treatment_label=treatment.label,
        baseline=[r for u in selection.baseline for r in u.runs],
        treatment=[r for u in selection.treatment for r in u.runs], metric=metric,
        higher_is_better=infer_higher_is_better(metric) if higher_is_better is None else higher_is_better,
        treatment_keys=list(treatment_keys) if treatment_keys is not None else None, config=config, repo=repo,
        settings=s, selection=selection)
    b_vals = [u.value for u in selection.baseline]
    t_vals = [u.value for u in selection.treatment]
    if selection.paired:
        comparison.rows = [Row(b.seed, b.label, t.label, b.value, t.value)
                           for b, t in zip(selection.baseline, selection.treatment, strict=False)]
    else:
        comparison.rows = ([Row(u.seed, u.label, None, u.value, None, paired=False) for u in selection.baseline]
                           + [Row(u.seed, None, u.label, None, u.value, paired=False) for u in selection.treatment])
    comparison.effect = stats.effect(b_vals, t_vals, paired=selection.paired, level=float(s["confidence"]),
                                     method=s["ci_method"], reps=int(s["bootstrap_reps"]),
                                     seed=int(s["bootstrap_seed"]), zero_abs_tol=1e-12)
    return comparison
