"""Comparisons derived from the runs, for a results folder whose comparisons nobody declared.

Like a tracker's "group by config" (W&B groups, MLflow's compare view), but narrower, so that each one is a
comparison someone meant to make: two run groups are compared when

- their configs differ in at least one and at most `max_treatment_keys` keys (default 1), leaving out the
  seed keys and the keys that name where a run wrote (RA304's `ignore_keys`: output dirs, run names...);
  those keys become the comparison's treatment keys, so RA304 checks everything else;
- with `treatment_keys` set, every differing key is one of them; with `baseline` set, one side is that group;
- each group has at least `min_seeds` usable seeds (finished, scored) of a shared metric: the `metrics`
  configured, else every eval-like metric (val/eval/test in its name) both sides score.

The baseline is the configured `baseline`, else the group whose runs started first, else the name that sorts
first. Pairs a comparisons.yaml entry already names (either way round) are left to it. The order is fixed:
fewest differing keys first, then baseline, treatment and metric by name; `max_derived` caps the count.
Each comparison says it was derived and why.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from auditor.compare.api import COMPARISONS_FILE, ComparisonSpec
from auditor.compare.groups import conditions, ignored_keys, is_ignored, run_seed, score, seed_keys, show, usable
from auditor.compare.validity import is_treatment_key
from auditor.config import Config
from auditor.runs.record import Run, flatten

log = logging.getLogger("auditor")

UNSET = frozenset({"(unset)"})
# Eval-like metric names, and the bookkeeping numbers among them that are no result (eval/runtime...).
_EVAL = re.compile(r"(^|[/_.\-])(val|valid|validation|eval|evaluation|test)([/_.\-]|$)")
_NOT_A_RESULT = re.compile(r"runtime|per_second|samples|steps|epoch|time|(^|[/_.])step$")


def should_derive(config: Config, results_dir: Path | str) -> bool:
    """`derive = "always"`, or `"auto"` (the default) and the folder has no comparisons.yaml."""
    mode = config.compare.derive
    return mode == "always" or (mode == "auto" and not (Path(results_dir) / COMPARISONS_FILE).exists())


@dataclass
class _Group:
    name: str
    runs: list[Run]
    values: dict[str, frozenset[str]]  # config key -> the values its runs hold ("(unset)" where a run lacks it)
    started: float | None  # the earliest start time its runs record

    @property
    def items(self) -> frozenset:
        return frozenset(self.values.items())

    def value_text(self, key: str) -> str:
        return ", ".join(sorted(self.values.get(key, UNSET)))


def derive_comparisons(runs: list[Run], config: Config, declared: list[ComparisonSpec]) -> list[ComparisonSpec]:
    settings = config.compare
    groups = [g for g in _groups(runs, config) if _seed_count(g.runs, config) >= settings.min_seeds]
    taken = {frozenset((spec.baseline, spec.treatment)) for spec in declared}
    names = {spec.name for spec in declared}
    found: list[tuple[int, str, str, str, ComparisonSpec]] = []
    items = {g.name: g.items for g in groups}
    for a, b in _close_pairs(groups, settings.max_treatment_keys):
        differing = items[a.name] ^ items[b.name]  # a key that differs leaves one or two (key, values) items
        keys = sorted({key for key, _ in differing})
        if not keys or len(keys) > settings.max_treatment_keys or frozenset((a.name, b.name)) in taken:
            continue
        if settings.treatment_keys and not all(is_treatment_key(k, settings.treatment_keys) for k in keys):
            continue
        pair = _order(a, b, settings.baseline)
        if pair is None:
            continue
        (base, treat), basis = pair
        for metric in _metrics(base, treat, config):
            name = f"{treat.name} vs {base.name} on {metric}"
            if name not in names:
                spec = ComparisonSpec(name=name, baseline=base.name, treatment=treat.name, metric=metric,
                                      treatment_keys=keys, derived=_why(base, treat, keys, basis, config))
                found.append((len(keys), base.name, treat.name, metric, spec))
    found.sort(key=lambda item: item[:4])
    if len(found) > settings.max_derived:
        log.warning("%d comparisons could be derived; the first %d are checked ([tool.auditor.compare] max-derived)",
                    len(found), settings.max_derived)
    specs = [item[-1] for item in found[:settings.max_derived]]
    log.info("derived %d comparison(s) from the runs", len(specs))
    return specs


def _close_pairs(groups: list[_Group], most: int):
    """The pairs of groups that may differ in at most `most` keys. For one key (the default) without comparing
    every pair: groups equal but for key K share their items without K; a group without K at all has exactly
    those items. A sweep of thousands of groups costs one pass over their keys, not millions of pairs."""
    if most > 1:
        yield from combinations(groups, 2)
        return
    by_items = {g.items: g for g in groups}
    buckets: dict[tuple[str, frozenset], list[_Group]] = {}
    for group in groups:
        whole = group.items
        for key, value in group.values.items():
            rest = whole - {(key, value)}
            buckets.setdefault((key, rest), []).append(group)
            lacking = by_items.get(rest)
            if lacking is not None:
                yield lacking, group
    for members in buckets.values():
        yield from combinations(members, 2)


def _groups(runs: list[Run], config: Config) -> list[_Group]:
    skip, ignore = set(seed_keys(config)), ignored_keys(config)  # RA304's: not a difference here either
    counted: dict[str, bool] = {}  # key -> whether it can be a treatment (asked once per key, not per group)
    out = []
    for name, members in conditions(runs, config).items():
        flat = [flatten(run.config) for run in members if run.config]
        if not flat:
            continue  # nothing recorded: what differs cannot be told
        for key in {k for f in flat for k in f} - counted.keys():
            counted[key] = key not in skip and not is_ignored(key, ignore)
        keys = {k for f in flat for k in f if counted[k]}
        values = {k: frozenset(show(f.get(k)) for f in flat) for k in keys}
        values = {k: v for k, v in values.items() if v != UNSET}  # set to nothing everywhere: as if absent
        starts = [run.started_at for run in members if run.started_at is not None]
        out.append(_Group(name, members, values, min(starts) if starts else None))
    return out


def _seed_count(runs: list[Run], config: Config, metric: str | None = None) -> int:
    """Independent usable results: distinct seeds, each unseeded run on its own."""
    seeds, unseeded = set(), 0
    for run in runs:
        if not usable(run) or (metric is not None and score(run, metric)[0] is None):
            continue
        seed = run_seed(run, config)
        if seed is None:
            unseeded += 1
        else:
            seeds.add(str(seed))
    return len(seeds) + unseeded


def _order(a: _Group, b: _Group, baseline: str | None) -> tuple[tuple[_Group, _Group], str] | None:
    """((baseline, treatment), why that one is the baseline), or None when a configured baseline is neither."""
    if baseline:
        if baseline not in (a.name, b.name):
            return None
        return ((a, b) if a.name == baseline else (b, a)), "the configured baseline"
    if a.started is not None and b.started is not None and a.started != b.started:
        return ((a, b) if a.started < b.started else (b, a)), "its runs started first"
    return ((a, b) if a.name < b.name else (b, a)), "first by name"


def _metrics(base: _Group, treat: _Group, config: Config) -> list[str]:
    """The configured metrics, else the eval-like ones; kept when each side scores it at min_seeds seeds."""
    names = list(config.compare.metrics)
    if not names:
        every = {k for run in base.runs + treat.runs for k in [*run.metrics, *(run.reported or {})] if k != "step"}
        names = sorted(m for m in every if _EVAL.search(m.lower()) and not _NOT_A_RESULT.search(m.lower()))
    need = config.compare.min_seeds
    return [m for m in names if min(_seed_count(base.runs, config, m), _seed_count(treat.runs, config, m)) >= need]


def _why(base: _Group, treat: _Group, keys: list[str], basis: str, config: Config) -> str:
    changes = "; ".join(f"{k}: {base.value_text(k)} → {treat.value_text(k)}" for k in keys)
    only = "only in " if len(keys) == 1 else f"in {len(keys)} keys: "
    return (f"derived: the groups differ {only}{changes} (seed and output keys aside); "
            f"{_seed_count(base.runs, config)} and {_seed_count(treat.runs, config)} seeds; "
            f"baseline {base.name}: {basis}")
