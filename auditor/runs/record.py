"""The normalized run record every reader translates into (see CONTRACT.md, "Native run record")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.runs.series import Series

RUN_STATES = ("completed", "failed", "running", "killed")

# A run with no end record is alive while it keeps writing; silent for longer than this, it is dead.
DEFAULT_STALE_AFTER_S = 2 * 3600.0


def flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if not isinstance(config, dict):
        return {prefix: config} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


@dataclass
class Run:
    id: str
    folder: str  # absolute path of the run's folder
    source: str = "native"  # native | wandb | mlflow | hydra | tensorboard | sacred | guild
    group: str | None = None
    seed: int | None = None
    git_sha: str | None = None
    git_dirty: bool | None = None
    config: dict[str, Any] = field(default_factory=dict)
    state: str | None = None  # one of RUN_STATES, None when the source does not say
    exit_code: int | None = None
    elapsed_s: float | None = None
    max_steps: int | None = None  # train.max_steps, else derived from config through the key map
    eval: dict[str, Any] = field(default_factory=dict)  # quant, dataset, framework, metric definitions
    # name -> its (step, value) points; a reader may fill lists, normalize() makes each a compact Series
    metrics: dict[str, Series] = field(default_factory=dict)
    reported: dict[str, Any] = field(default_factory=dict)  # {metric: value, "step": n}
    checkpoint: dict[str, Any] | None = None  # {"path": absolute path}
    replay: dict[str, Any] | None = None  # {"model", "evaluate", "quant"}
    environment: dict[str, Any] = field(default_factory=dict)  # python, torch, cuda, packages {name: version}
    entry_point: str | None = None  # the program that ran, relative to the repo when known
    record_path: str | None = None  # the file the record was read from
    # Tolerated read problems (a truncated last event, an unparsable metric line): each
    # {"message", "path", "line"?, "field"?}; audit_run_record reports them as RA001.
    problems: list[dict[str, Any]] = field(default_factory=list)
    # For a run with no end record (state "running"): when it last wrote (a heartbeat, else its newest
    # file's mtime), in seconds since the epoch. settle_liveness() turns a silent one into "killed".
    last_activity: float | None = None
    # When the run started and ended, from the record's own timestamps (seconds since the epoch), when
    # the format keeps them: which of two runs of one seed is the latest, and "last write N ago".
    started_at: float | None = None
    ended_at: float | None = None
    name: str | None = None  # the display name a tracker shows (W&B run name, MLflow runName), when not the id
    parent: str | None = None  # the tracker's parent run id (MLflow nested runs), whose group this run is in

    def config_value(self, meaning: str, key_map: dict[str, list[str]]) -> Any:
        """The value of the first config key that means `meaning` (e.g. "seed"), or None."""
        flat = flatten(self.config)
        for key in key_map.get(meaning, []):
            if key in flat and flat[key] is not None:
                return flat[key]
        return None

    @property
    def nothing_recorded(self) -> bool:
        """The tracker's record is empty (a W&B log killed before its first flush): the rules that ask
        what was recorded (SHA, seed, config) have nothing to judge, and RA001 says so once."""
        return any(problem.get("nothing_recorded") for problem in self.problems)

    @property
    def has_metrics(self) -> bool:
        return any(self.metrics.values()) or any(k != "step" for k in self.reported)

    def last_step(self, metric: str) -> float | None:
        points = self.metrics.get(metric) or []
        return max((step for step, _ in points), default=None)

    def value_at(self, metric: str, step: float | None = None) -> float | None:
        """The metric at `step` (the last logged value at that step), or the last point when step is None."""
        points = self.metrics.get(metric) or []
        if not points:
            return None
        if step is None:
            return max(points, key=lambda p: p[0])[1]
        matching = [value for s, value in points if s == step]
        return matching[-1] if matching else None


def stale_after_seconds(config) -> float:
    """[tool.auditor.runs] stale-after: seconds, or a number with a unit (90s, 30m, 2h, 1d)."""
    setting = config.runs.stale_after if config is not None else None
    if setting is None:
        return DEFAULT_STALE_AFTER_S
    if isinstance(setting, (int, float)) and not isinstance(setting, bool):
        return float(setting)
    text = str(setting).strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        from auditor.errors import InputError

        raise InputError(f"[tool.auditor.runs] stale-after: {setting!r} is not a duration (e.g. 7200, 30m, 2h)",
                         path=getattr(config, "source", None), field="runs.stale-after") from None


def settle_liveness(runs: list[Run], now: float, stale_after_s: float) -> None:
    """A "running" run silent for longer than stale_after_s was killed: SIGKILL and OOM leave no end record."""
    for run in runs:
        if run.state == "running" and run.last_activity is not None and now - run.last_activity > stale_after_s:
            run.state = "killed"
