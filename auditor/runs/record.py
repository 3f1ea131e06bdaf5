"""The normalized run record every reader translates into (see CONTRACT.md, "Native run record")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUN_STATES = ("completed", "failed", "running", "killed")


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
    metrics: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # name -> [(step, value)]
    reported: dict[str, Any] = field(default_factory=dict)  # {metric: value, "step": n}
    checkpoint: dict[str, Any] | None = None  # {"path": absolute path}
    replay: dict[str, Any] | None = None  # {"model", "evaluate", "quant"}
    environment: dict[str, Any] = field(default_factory=dict)  # python, torch, cuda, packages {name: version}
    entry_point: str | None = None  # the program that ran, relative to the repo when known
    record_path: str | None = None  # the file the record was read from
    # Tolerated read problems (a truncated last event, an unparsable metric line): each
    # {"message", "path", "line"?, "field"?}; audit_run_record reports them as RA001.
    problems: list[dict[str, Any]] = field(default_factory=list)

    def config_value(self, meaning: str, key_map: dict[str, list[str]]) -> Any:
        """The value of the first config key that means `meaning` (e.g. "seed"), or None."""
        flat = flatten(self.config)
        for key in key_map.get(meaning, []):
            if key in flat and flat[key] is not None:
                return flat[key]
        return None

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
