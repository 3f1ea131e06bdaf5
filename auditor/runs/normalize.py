"""Filling a Run consistently after any reader: states, sorted metrics, key-map derived fields."""

from __future__ import annotations

from typing import Any

from auditor.runs.readers.common import ReadError, to_int
from auditor.runs.record import RUN_STATES, Run
from auditor.runs.series import Series, clean_series

# key-map meaning -> field of run.eval it fills when the record's eval section does not say
_EVAL_FIELDS = {"eval_quant": "quant", "eval_dataset": "dataset", "eval_framework": "framework"}


def sort_points(points: Any) -> Series:
    """A compact Series of numeric steps and float values, stably sorted by step; a reader's Series in step
    order is kept as it is, not copied (a 3M-point history copied once more is another 50 MB)."""
    return clean_series(points).sorted_by_step()


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
