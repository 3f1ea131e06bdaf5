"""Sacred FileStorageObserver runs: <basedir>/<id>/{config.json, run.json, metrics.json}."""

from __future__ import annotations

import os
from datetime import datetime, timezone

from auditor.runs.readers.common import ReadError, environment, load_json, newest_mtime, packages_from_list
from auditor.runs.record import Run
from auditor.runs.series import clean_series

# A RUNNING record is alive while its heartbeat moves; a stale one is a crashed run (settle_liveness).
_STATES = {"COMPLETED": "completed", "FAILED": "failed", "INTERRUPTED": "killed", "TIMED_OUT": "killed",
           "RUNNING": "running", "QUEUED": None}


def is_sacred_record(data: object) -> bool:
    return isinstance(data, dict) and "experiment" in data and "id" not in data


def _elapsed(start: str | None, stop: str | None) -> float | None:
    try:
        return (datetime.fromisoformat(stop) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def _heartbeat(run_json: dict, folder: str) -> float | None:
    """Sacred writes a UTC heartbeat every few seconds while the run lives; else the newest file's mtime."""
    try:
        beat = datetime.fromisoformat(str(run_json.get("heartbeat")))
    except ValueError:
        return newest_mtime(folder)
    return (beat if beat.tzinfo else beat.replace(tzinfo=timezone.utc)).timestamp()


def from_files(folder: str, display_folder: str, run_json: dict, run_id: str) -> Run:
    def load(name):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            return None
        try:
            return load_json(path)
        except ReadError as exc:
            exc.path = os.path.join(display_folder, name)
            raise

    config = load("config.json") or {}
    raw_metrics = load("metrics.json") or {}
    experiment = run_json.get("experiment") or {}
    repositories = experiment.get("repositories") or []
    repo = repositories[0] if repositories and isinstance(repositories[0], dict) else {}
    host = run_json.get("host") or {}
    metrics = {}
    for name, series in raw_metrics.items() if isinstance(raw_metrics, dict) else ():
        if isinstance(series, dict):
            metrics[name] = clean_series(zip(series.get("steps") or [], series.get("values") or [], strict=False))
    status = str(run_json.get("status") or "").upper()
    result = run_json.get("result")
    return Run(
        id=run_id,
        folder=folder,
        source="sacred",
        group=experiment.get("name"),
        seed=config.get("seed") if isinstance(config, dict) else None,
        git_sha=repo.get("commit"),
        git_dirty=repo.get("dirty"),
        config=config if isinstance(config, dict) else {},
        state=_STATES.get(status),
        last_activity=_heartbeat(run_json, folder) if _STATES.get(status) == "running" else None,
        elapsed_s=_elapsed(run_json.get("start_time"), run_json.get("stop_time")),
        metrics=metrics,
        reported={"result": result} if isinstance(result, (int, float)) and not isinstance(result, bool) else {},
        environment=environment(host.get("python_version"), packages_from_list(experiment.get("dependencies"))),
        entry_point=experiment.get("mainfile"),
        record_path=os.path.join(display_folder, "run.json"),
    )
