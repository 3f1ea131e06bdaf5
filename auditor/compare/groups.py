"""Runs into conditions, command-line names into sides, a run into its score, seeds into pairs."""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass

from auditor.config import Config
from auditor.errors import UsageError
from auditor.runs.record import Run, flatten

FAILED_STATES = ("failed", "killed")


# Config keys that name where a run wrote things, not how it trained: never a protocol difference (RA304's
# `ignore_keys`), never what tells two conditions apart (derived comparisons, groups of ungrouped runs).
DEFAULT_IGNORE_KEYS = ["*output_dir*", "*out_dir*", "*log_dir*", "*logdir*", "*save_dir*", "*checkpoint_dir*",
                       "*ckpt_dir*", "*run_name*", "*experiment_name*", "*exp_name*", "*wandb*", "*project_name*",
                       "*.name", "name", "run_id", "id", "notes", "tags", "*hydra*", "*job_id*", "*timestamp*"]
_MAX_NAME = 80  # a derived group name longer than this falls back to config-<hash>


def seed_keys(config: Config) -> list[str]:
    return list(config.key_map.get("seed", []))


def ignored_keys(config: Config) -> list[str]:
    """RA304's ignore_keys as configured ([tool.auditor.rules.RA304]), else the defaults."""
    return list((config.rule_params.get("RA304") or {}).get("ignore_keys", DEFAULT_IGNORE_KEYS))


def is_ignored(key: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(key, p) for p in patterns)


def condition_config(run: Run, config: Config) -> dict:
    """What makes a run's condition: its flattened config minus the seed keys and the per-run keys (output
    dirs, run names, timestamps...) that RA304 ignores."""
    seeds, ignore = set(seed_keys(config)), ignored_keys(config)
    return {k: v for k, v in flatten(run.config).items() if k not in seeds and not is_ignored(k, ignore)}


def conditions(runs: list[Run], config: Config) -> dict[str, list[Run]]:
    """The conditions: each recorded group (native group, W&B group, MLflow experiment or parent, as the
    readers map them) as it is; runs without one grouped by `condition_config`, named by the values of the
    keys in which those groups differ and which it sets ("lr=0.001"; config-<hash> when that says nothing, is
    too long or names another group too)."""
    out: dict[str, list[Run]] = {}
    ungrouped: dict[str, list[Run]] = {}
    for run in runs:
        if run.group:
            out.setdefault(run.group, []).append(run)
        else:
            text = json.dumps(condition_config(run, config), sort_keys=True, default=str)
            ungrouped.setdefault(text, []).append(run)
    for text, members in _name_ungrouped(ungrouped, taken=set(out)).items():
        out[text] = members
    return {name: sorted(members, key=lambda r: r.id) for name, members in sorted(out.items())}


def _name_ungrouped(buckets: dict[str, list[Run]], taken: set[str]) -> dict[str, list[Run]]:
    """{name: runs} for the config buckets of ungrouped runs: deterministic, from the configs alone."""
    configs = {text: json.loads(text) for text in buckets}
    keys = sorted({k for c in configs.values() for k in c})
    differing = [k for k in keys if len({show(c.get(k)) for c in configs.values()}) > 1]
    out: dict[str, list[Run]] = {}
    for text in sorted(buckets):
        # a key the group does not set is left out (unless nothing else names it): runs with a new flag,
        # added later, leave the older groups' names as they were
        named = [k for k in differing if k in configs[text]] or differing
        name = ",".join(f"{k}={show(configs[text].get(k))}" for k in named)
        if not name or len(name) > _MAX_NAME or name in taken or name in out:
            name = "config-" + hashlib.sha256(text.encode()).hexdigest()[:8]
        out[name] = buckets[text]
    return out


def show(value) -> str:
    """A config value as text: "(unset)" for a missing one, JSON for a dict or list."""
    if value is None:
        return "(unset)"
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else str(value)


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
    # a folded tracker parent's id (runs/parents.py): its children's group, by the name it had before
    named = {run.group for run in runs if run.parent == name and run.group in groups}
    if len(named) == 1:
        return Side(name, "group", groups[named.pop()])
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
