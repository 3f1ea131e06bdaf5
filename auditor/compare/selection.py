"""Which runs of a side enter the statistics: finished runs with a score, one result per seed.

Everything else is set aside with its reason (failed, killed, running, no score, a repeated seed, a
seed the other side does not have) and reported once by RA313; set-aside runs never decide validity
or statistics. A seed that appears more than once on a side is resolved by the dedupe rule:

- latest (default): keep the run that finished last (end time, else last write, else start time, as
  the record gives it; runs with no time at all are ordered by id);
- first: keep the earliest;
- mean: average the repeats into one result for that seed;
- error: refuse (exit 2), naming the runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from auditor.compare.groups import is_failed, is_unfinished, run_seed, score, seed_order
from auditor.config import Config
from auditor.errors import UsageError
from auditor.runs.record import Run

DEDUPE_MODES = ("latest", "first", "mean", "error")
# Runs set aside for these reasons diverged or failed: evidence about their side (the treatment may be what
# made them blow up), not missing data. A side that lost seeds this way cannot have a supported effect (RA313).
LOST_REASONS = ("failed", "killed", "non-finite score")


@dataclass
class Excluded:
    run: Run
    side: str  # the side's label
    reason: str  # failed | killed | non-finite score | running | no score | duplicate seed | seed only on one side
    note: str = ""  # e.g. "seed 0 appears twice in ls0.1: kept run X (latest)"

    def describe(self, config: Config) -> str:
        seed = run_seed(self.run, config)
        text = f"{self.run.id}{f' (seed {seed})' if seed is not None else ''} {self.reason}"
        if self.run.exit_code not in (None, 0) and self.reason in ("failed", "killed"):
            text += f", exit {self.run.exit_code}"
        return text


@dataclass
class Unit:
    """One independent result of a side: a seed's run (or the mean of its repeats), or an unseeded run."""

    seed: Any
    runs: list[Run]
    value: float

    @property
    def label(self) -> str:
        return "+".join(run.id for run in self.runs)


@dataclass
class Selection:
    baseline: list[Unit] = field(default_factory=list)
    treatment: list[Unit] = field(default_factory=list)
    excluded: list[Excluded] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how repeated seeds were resolved
    paired: bool = False


def run_time(run: Run) -> float | None:
    """When the run last wrote, as its own record says (never a file's modification time)."""
    for value in (run.ended_at, run.last_activity, run.started_at):
        if value is not None:
            return float(value)
    return None


def _state_reason(run: Run) -> str | None:
    if is_unfinished(run):
        return "running"
    if is_failed(run):
        return run.state if run.state in ("failed", "killed") else "failed"
    return None


def _candidates(label: str, runs: list[Run], metric: str, excluded: list[Excluded]) -> list[tuple[Run, float]]:
    out = []
    for run in runs:
        reason = _state_reason(run)
        value, _ = score(run, metric)
        if reason is None and (value is None or not math.isfinite(value)):
            reason = "no score" if value is None else "non-finite score"
        if reason:
            excluded.append(Excluded(run, label, reason))
        else:
            out.append((run, value))
    return out


def _dedupe(label: str, scored: list[tuple[Run, float]], mode: str, config: Config,
            selection: Selection) -> list[Unit]:
    by_seed: dict[Any, list[tuple[Run, float]]] = {}
    units: list[Unit] = []
    for run, value in scored:
        seed = run_seed(run, config)
        if seed is None:
            units.append(Unit(None, [run], value))
        else:
            by_seed.setdefault(seed, []).append((run, value))
    for seed in sorted(by_seed, key=seed_order):
        repeats = by_seed[seed]
        if len(repeats) == 1:
            units.append(Unit(seed, [repeats[0][0]], repeats[0][1]))
            continue
        ids = ", ".join(run.id for run, _ in repeats)
        times = "" if all(run_time(r) is not None for r, _ in repeats) else "; runs without a recorded time go by id"
        head = f"seed {seed} appears {len(repeats)} times in {label}"
        if mode == "error":
            raise UsageError(f"{head} ({ids}); choose one with --exclude RUN or --dedupe latest|first|mean")
        if mode == "mean":
            units.append(Unit(seed, [r for r, _ in repeats], sum(v for _, v in repeats) / len(repeats)))
            selection.notes.append(f"{head}: averaged {ids} (--dedupe mean)")
            continue
        ordered = sorted(repeats, key=lambda rv: (run_time(rv[0]) is not None, run_time(rv[0]) or 0.0, rv[0].id))
        kept = ordered[-1] if mode == "latest" else ordered[0]
        units.append(Unit(seed, [kept[0]], kept[1]))
        note = f"{head}: kept {kept[0].id} ({mode}{times})"
        selection.notes.append(note)
        for run, _ in repeats:
            if run is not kept[0]:
                selection.excluded.append(Excluded(run, label, "duplicate seed", note))
    return units


def select(baseline_label: str, baseline: list[Run], treatment_label: str, treatment: list[Run], metric: str,
           config: Config, dedupe: str = "latest") -> Selection:
    """The units of each side, paired by seed when every unit of both sides has a seed and they share one."""
    if dedupe not in DEDUPE_MODES:
        raise UsageError(f"--dedupe must be one of {', '.join(DEDUPE_MODES)}, got {dedupe!r}")
    selection = Selection()
    b_scored = _candidates(baseline_label, baseline, metric, selection.excluded)
    t_scored = _candidates(treatment_label, treatment, metric, selection.excluded)
    b_units = _dedupe(baseline_label, b_scored, dedupe, config, selection)
    t_units = _dedupe(treatment_label, t_scored, dedupe, config, selection)
    seeded = b_units and t_units and all(u.seed is not None for u in b_units + t_units)
    common = {u.seed for u in b_units} & {u.seed for u in t_units} if seeded else set()
    if common:
        selection.paired = True
        for label, units in ((baseline_label, b_units), (treatment_label, t_units)):
            for unit in units:
                if unit.seed not in common:
                    other = treatment_label if label == baseline_label else baseline_label
                    for run in unit.runs:
                        selection.excluded.append(Excluded(run, label, "seed only on one side",
                                                           f"seed {unit.seed} has no run in {other}"))
        b_units = [u for u in b_units if u.seed in common]
        t_units = [u for u in t_units if u.seed in common]
    selection.baseline, selection.treatment = b_units, t_units
    return selection
