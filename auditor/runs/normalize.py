"""Filling a Run consistently after any reader: states, sorted metrics, key-map derived fields."""

from __future__ import annotations

from typing import Any

from auditor.runs.readers.common import ReadError, to_float, to_int, to_step
from auditor.runs.record import RUN_STATES, Run

_INF = float("inf")

# key-map meaning -> field of run.eval it fills when the record's eval section does not say
_EVAL_FIELDS = {"eval_quant": "quant", "eval_dataset": "dataset", "eval_framework": "framework"}


def _already_clean(points: Any) -> bool:
    """A reader's list of (number, float) tuples in step order: kept as it is, not copied (a 3M-point
    history copied once more is hundreds of MB)."""
    if not isinstance(points, list):
        return False
    last = None
    for point in points:
        if type(point) is not tuple or len(point) != 2 or type(point[1]) is not float:
            return False
        step = point[0]
        integral_float = type(step) is float and (step.is_integer() or step != step or step in (_INF, -_INF))
        if type(step) not in (int, float) or integral_float or (last is not None and step < last):
            return False
        last = step
    return True


def sort_points(points: Any) -> list[tuple[Any, float]]:
    """[(step, value)] with numeric steps and float values, stably sorted by step."""
    if _already_clean(points):
        return points
    out = []
    for point in points or []:
        if not isinstance(point, (list, tuple)) or len(point) < 2:
            continue
        step, value = to_step(point[0]), to_float(point[1])
        if step is None or value is None:
            continue
        out.append((step, value))
    out.sort(key=lambda p: p[0])
    return out


def normalize(run: Run, key_map: dict[str, list[str]]) -> Run:
    if run.state is not None and run.state not in RUN_STATES:
        raise ValueError(f"reader produced an unknown state {run.state!r}")
    if run.state is None and run.exit_code is not None:
        run.state = "completed" if run.exit_code == 0 else "failed"
    run.config = run.config if isinstance(run.config, dict) else {}
    run.metrics = {name: sort_points(points) for name, points in sorted(run.metrics.items())}
    run.metrics = {name: points for name, points in run.metrics.items() if points}
    if run.seed is None:
        seed = run.config_value("seed", key_map)
        run.seed = to_int(seed) if to_int(seed) is not None else seed
    if run.max_steps is None:
        run.max_steps = to_int(run.config_value("max_steps", key_map))
    run.eval = dict(run.eval or {})
    for meaning, name in _EVAL_FIELDS.items():
        if run.eval.get(name) is None:
            value = run.config_value(meaning, key_map)
            if value is not None:
                run.eval[name] = value
    if run.git_sha is not None:
        run.git_sha = str(run.git_sha).strip() or None
    for name in ("id", "group", "seed"):  # keys of groups, dicts and caches further on: one value each
        value = getattr(run, name)
        if value is not None and not isinstance(value, (str, int, float)):
            raise ReadError(f"must be a single value, not a {type(value).__name__}", run.record_path or run.folder,
                            field=name)
    return run
