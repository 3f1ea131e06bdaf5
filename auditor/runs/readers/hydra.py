"""Hydra output folders: `.hydra/config.yaml` (+ overrides.yaml, hydra.yaml) and the metrics beside them.

Hydra records no git SHA, status, metrics or seed of its own; the metrics come from a TensorBoard
event file, a metrics.json/jsonl/csv, or a native run.yaml in the same folder (or one level below).
"""

from __future__ import annotations

import os

from auditor.runs.readers import metrics_files, tensorboard
from auditor.runs.readers.common import ReadError, load_yaml
from auditor.runs.record import Run
from auditor.runs.series import Series, series_for


def is_run_folder(folder: str, names: set[str]) -> bool:
    return ".hydra" in names and os.path.isfile(os.path.join(folder, ".hydra", "config.yaml"))


def hydra_config(folder: str, display_folder: str) -> tuple[dict, list, dict]:
    """(composed config, overrides, hydra.job) of one Hydra output folder."""
    def load(name, required=False):
        path = os.path.join(folder, ".hydra", name)
        if not required and not os.path.isfile(path):
            return None
        try:
            return load_yaml(path)
        except ReadError as exc:
            exc.path = os.path.join(display_folder, ".hydra", name)
            raise

    config = load("config.yaml", required=True)
    if config is not None and not isinstance(config, dict):
        raise ReadError("the composed config is not a mapping", os.path.join(display_folder, ".hydra", "config.yaml"))
    overrides = load("overrides.yaml") or []
    hydra = load("hydra.yaml") or {}
    job = ((hydra.get("hydra") or {}).get("job") or {}) if isinstance(hydra, dict) else {}
    return config or {}, overrides if isinstance(overrides, list) else [], job


def _metric_sources(folder: str, display_folder: str, problems: list[dict]) -> dict[str, list]:
    """Event files and metrics files in the folder, or one level below (tb/, logs/, lightning_logs/...)."""
    metrics: dict[str, Series] = {}
    candidates = [(folder, display_folder)]
    try:
        with os.scandir(folder) as entries:
            subdirs = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except OSError:
        subdirs = []
    candidates += [(os.path.join(folder, d), os.path.join(display_folder, d)) for d in subdirs]
    for path, display in candidates:
        try:
            names = set(os.listdir(path))
        except OSError:
            continue
        events = tensorboard.event_files(path, names)
        if events:
            for key, points in tensorboard.read_scalars(events, display, problems).items():
                series_for(metrics, key).extend(points)
        for name in metrics_files.NAMES:
            if name in names:
                found = metrics_files.read_metrics_file(os.path.join(path, name), os.path.join(display, name))
                for key, points in found.items():
                    series_for(metrics, key).extend(points)
    return metrics


def group_name(job: dict, overrides: list, seed_keys: list[str]) -> str | None:
    """The job name plus the overrides other than the seed: seeds of one condition share a group."""
    name = job.get("name")
    kept = sorted(str(o) for o in overrides if str(o).lstrip("+~").split("=", 1)[0] not in seed_keys)
    if name and kept:
        return f"{name}[{','.join(kept)}]"
    return name


def read(folder: str, display_folder: str, _names: set[str], run_id: str, seed_keys: list[str]) -> list[Run]:
    config, overrides, job = hydra_config(folder, display_folder)
    problems: list[dict] = []
    metrics = _metric_sources(folder, display_folder, problems)
    return [Run(id=run_id, folder=folder, source="hydra", group=group_name(job, overrides, seed_keys),
                config=config, metrics=metrics, record_path=os.path.join(display_folder, ".hydra", "config.yaml"),
                problems=problems)]
