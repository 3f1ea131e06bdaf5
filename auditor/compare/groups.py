"""Runs into conditions, command-line names into sides, a run into its score, seeds into pairs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from auditor.config import Config
from auditor.errors import UsageError
from auditor.runs.record import Run, flatten

FAILED_STATES = ("failed", "killed")


def seed_keys(config: Config) -> list[str]:
    return list(config.key_map.get("seed", []))


def config_without_seed(run: Run, config: Config) -> dict:
    seeds = set(seed_keys(config))
    return {k: v for k, v in flatten(run.config).items() if k not in seeds}


def condition_of(run: Run, config: Config) -> str:
    """The condition a run belongs to: its recorded group (native group, W&B group, MLflow experiment
    or parent, as the readers map them), else a name derived from its config minus the seed keys."""
    if run.group:
        return run.group
    text = json.dumps(config_without_seed(run, config), sort_keys=True, default=str)
    return "config-" + hashlib.sha256(text.encode()).hexdigest()[:8]


def conditions(runs: list[Run], config: Config) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for run in runs:
        out.setdefault(condition_of(run, config), []).append(run)
    return {name: sorted(members, key=lambda r: r.id) for name, members in sorted(out.items())}


@dataclass
class Side:
    label: str  # the name as given: a group or a run id
    kind: str  # "group" | "run"
    runs: list[Run]


def resolve_side(name: str, runs: list[Run], config: Config) -> Side:
    """A group name (recorded or derived) gives all its runs; a run id or folder name gives that run."""
    groups = conditions(runs, config)
    if name in groups:
        return Side(name, "group", groups[name])
    for run in runs:
        if name == run.id:
            return Side(name, "run", [run])
    from auditor.runs.naming import ambiguous, by_display_name, closest

    for matches, what in (([r for r in runs if _folder_name(r) == name], "folder name"),
                          (by_display_name(name, runs), "display name")):
        if len(matches) == 1:
            return Side(name, "run", matches)
        if len(matches) > 1:
            raise ambiguous(name, matches, what)
    known = sorted(g for g in groups if not g.startswith("config-"))
    near = closest(name, runs, known)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    listing = f"; groups: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}" if known else ""
    raise UsageError(f"no run group or run id {name!r} in the results directory{hint}{listing} "
                     "(`audit runs --groups` lists them)")


def _folder_name(run: Run) -> str:
    return run.folder.rstrip("/").rsplit("/", 1)[-1]


def run_seed(run: Run, config: Config):
    return run.seed if run.seed is not None else run.config_value("seed", config.key_map)


def is_failed(run: Run) -> bool:
    return run.state in FAILED_STATES or (run.exit_code not in (None, 0))


def is_unfinished(run: Run) -> bool:
    return run.state == "running"


def usable(run: Run) -> bool:
    """A run whose score is a result: finished, and not failed or killed."""
    return not is_failed(run) and not is_unfinished(run)


def score(run: Run, metric: str) -> tuple[float | None, float | None]:
    """(value, step) of the run's number for `metric`: `reported[metric]` when the run reports one
    (at `reported.step`, else at the step where the history holds that value), else the metric's
    value at its last logged step."""
    reported = run.reported or {}
    if metric in reported and isinstance(reported[metric], (int, float)):
        value = float(reported[metric])
        step = reported.get("step")
        if step is None:
            step = next((s for s, v in reversed(run.metrics.get(metric) or []) if v == value), None)
        return value, (float(step) if step is not None else None)
    last = run.last_step(metric)
    if last is None:
        return None, None
    return run.value_at(metric, last), last


def final_step(run: Run, config: Config) -> float | None:
    """The run's last training step: the recorded max steps, else the last step any metric was logged."""
    if run.max_steps is not None:
        return float(run.max_steps)
    steps = run.config_value("max_steps", config.key_map)
    if isinstance(steps, (int, float)) and not isinstance(steps, bool):
        return float(steps)
    logged = [run.last_step(name) for name in run.metrics]
    logged = [s for s in logged if s is not None]
    return max(logged) if logged else None


def seed_order(seed) -> tuple:
    return (0, seed, "") if isinstance(seed, (int, float)) and not isinstance(seed, bool) else (1, 0, str(seed))
