"""MLflow runs, parsed directly (never through MLflow, which refuses file stores and mis-reads steps).

File store: mlruns/<exp>/meta.yaml (experiment name) and mlruns/<exp>/<run>/{meta.yaml, params/,
metrics/, tags/}. SQLite backend: mlflow.db opened read-only.
"""

from __future__ import annotations

import math
import os
import sqlite3
from typing import Any
from urllib.parse import unquote, urlparse

from auditor import safe_read
from auditor.runs.readers.common import (ReadError, iter_lines, load_yaml, newest_mtime, read_text, to_float, to_step,
                                         typed)
from auditor.runs.record import Run
from auditor.runs.series import Series, series_for

_INT_STATUS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_STATE = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "killed", "RUNNING": "running",
          "SCHEDULED": "running"}
RUN_DIRS = ("metrics", "params", "tags")


def is_run_folder(names: set[str]) -> bool:
    return "meta.yaml" in names and any(name in names for name in RUN_DIRS)


def _state(status: Any, end_time: Any) -> str | None:
    name = _INT_STATUS.get(status, status) if isinstance(status, int) else str(status or "").upper()
    if name == "RUNNING" and end_time in (None, "", 0):
        return "running"  # a SIGKILLed run keeps RUNNING with no end time for good: settle_liveness decides
    return _STATE.get(name)


def _files_under(root: str) -> list[tuple[str, str]]:
    """(key, path) for every file below root; keys with '/' are nested folders in MLflow's layout."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            out.append((os.path.relpath(path, root).replace(os.sep, "/"), path))
    return out


def parse_metric_lines(text, display: str, problems: list[dict], stamps: list[float] | None = None) -> Series:
    """Lines "<ts> <value>", "<ts> <value> <step>" or "<ts> <value> <step> <dataset> <digest>", read one at a
    time into a compact Series (a 3M-line file is never held as lines or tuples). With `stamps`, the newest
    time stamp (ms) of the file is appended to it: when the run last logged."""
    points = Series()
    bad: list[tuple[int, str]] = []  # (line, text) of the first bad line; then only counted
    skipped = 0
    newest = None
    for number, line in enumerate(text.splitlines() if isinstance(text, str) else text, 1):
        fields = line.split()
        if not fields:
            continue
        try:  # the common line, converted directly: the general conversion is several times slower
            value, step = float(fields[1]), (int(fields[2]) if len(fields) > 2 else 0)
        except (ValueError, IndexError):
            step, value = _point(fields)
        if len(fields) not in (2, 3, 5) or step is None or value is None:
            skipped += 1
            if not bad:
                bad.append((number, line.strip()[:60]))
            continue
        points.append(step, value)
        if stamps is not None:
            try:
                stamp = float(fields[0])
            except ValueError:
                continue
            if newest is None or stamp > newest:
                newest = stamp
    if stamps is not None and newest is not None:
        stamps.append(newest)
    if bad:  # one problem per file, with a count: a file of junk lines is one finding, not a million
        (number, first), more = bad[0], skipped - 1
        problems.append({"message": f"unparsable metric line {first!r}; skipped"
                                    + (f" (and {more} more unparsable line(s) in this file)" if more else ""),
                         "path": display, "line": number})
    return points


def _point(fields: list[str]) -> tuple[Any, float | None]:
    """(step, value) of a split line the direct conversion refused; None where it is not a number."""
    return (to_step(fields[2]) if len(fields) > 2 else 0), (to_float(fields[1]) if len(fields) > 1 else None)


def _experiment_name(exp_folder: str) -> str | None:
    path = os.path.join(exp_folder, "meta.yaml")
    try:
        meta = load_yaml(path)
    except ReadError:
        return None
    return str(meta["name"]) if isinstance(meta, dict) and meta.get("name") is not None else None


def _activity(activity: Any, start: Any) -> float | None:
    """When an unfinished run last wrote (seconds since the epoch): what the store says (a callable: asked only
    for a run that is still open), else its start."""
    activity = activity() if callable(activity) else activity
    if activity is None and isinstance(start, (int, float)):
        return start / 1000.0
    return activity


def _flag(value: Any) -> bool | None:
    text = str(value).strip().lower() if value is not None else ""
    return True if text in ("true", "1", "yes") else False if text in ("false", "0", "no") else None


def _from_parts(*, run_id, folder, display, meta, params, tags, metrics, experiment, problems, activity=None) -> Run:
    start, end = meta.get("start_time"), meta.get("end_time")
    elapsed = (end - start) / 1000.0 if isinstance(start, (int, float)) and isinstance(end, (int, float)) else None
    parent = tags.get("mlflow.parentRunId") or None
    group = parent or experiment  # named by the parent's run name once every run is read (runs/parents.py)
    state = _state(meta.get("status"), end)
    return Run(
        id=run_id,
        folder=folder,
        source="mlflow",
        group=group,
        parent=parent,
        git_sha=tags.get("mlflow.source.git.commit") or None,
        git_dirty=_flag(tags.get("mlflow.source.git.dirty", params.get("git_dirty"))),
        config={key: typed(value) for key, value in params.items()},
        state=state,
        elapsed_s=elapsed,
        last_activity=_activity(activity, start) if state == "running" else None,
        started_at=start / 1000.0 if isinstance(start, (int, float)) and start else None,
        ended_at=end / 1000.0 if isinstance(end, (int, float)) and end else None,
        name=tags.get("mlflow.runName") or meta.get("run_name") or None,
        metrics=metrics,
        entry_point=tags.get("mlflow.source.name") if tags.get("mlflow.source.name") not in (None, "", "-") else None,
        record_path=display,
        problems=problems,
    )


def read(folder: str, display_folder: str, _names: set[str]) -> list[Run]:
    meta_display = os.path.join(display_folder, "meta.yaml")
    meta = load_yaml(os.path.join(folder, "meta.yaml"))
    if not isinstance(meta, dict):
        raise ReadError("MLflow run meta.yaml is not a mapping (half-written run?)", meta_display)
    if meta.get("lifecycle_stage") == "deleted":
        return []
    problems: list[dict] = []
    params = {key: read_text(path) for key, path in _files_under(os.path.join(folder, "params"))}
    tags = {key: read_text(path) for key, path in _files_under(os.path.join(folder, "tags"))}
    metrics, stamps = {}, []
    for key, path in _files_under(os.path.join(folder, "metrics")):
        display = os.path.join(display_folder, "metrics", key)
        metrics[key] = parse_metric_lines(iter_lines(path, display), display, problems, stamps)
    # When an open run last wrote: its own metric time stamps (a copied or restored folder has fresh file
    # times, the record does not), else its start time; the files' times only when it logged nothing.
    logged = max(stamps) / 1000.0 if stamps else None
    return [_from_parts(run_id=str(meta.get("run_id") or os.path.basename(folder)), folder=folder,
                        display=meta_display, meta=meta, params=params, tags=tags, metrics=metrics,
                        experiment=_experiment_name(os.path.dirname(folder)), problems=problems,
                        activity=logged if logged is not None else
                        (None if meta.get("start_time") else (lambda: newest_mtime(folder))))]


# -- SQLite backend -----------------------------------------------------------------------------------

def _run_folder(db_folder: str, artifact_uri: str | None, experiment_id: Any, run_uuid: str) -> str:
    if artifact_uri:
        parsed = urlparse(artifact_uri)
        path = unquote(parsed.path) if parsed.scheme in ("file", "") else ""
        if path and os.path.isabs(path):
            return os.path.dirname(path.rstrip("/")) if path.rstrip("/").endswith("artifacts") else path
    return os.path.join(db_folder, "mlruns", str(experiment_id), run_uuid)


def read_sqlite(path: str, display: str) -> list[Run]:
    """Every run of an mlflow.db, opened read-only (the file is never written)."""
    try:
        safe_read.check(path, max_bytes=None)  # a FIFO named mlflow.db would block the open for ever
    except OSError as exc:
        raise ReadError(getattr(exc, "reason", None) or f"cannot read: {exc.strerror or exc}", display) from exc
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ReadError(f"cannot open SQLite database: {exc}", display) from exc
    try:
        cursor = connection.cursor()
        experiments = dict(cursor.execute("SELECT experiment_id, name FROM experiments"))
        rows = cursor.execute("SELECT run_uuid, status, start_time, end_time, experiment_id, artifact_uri, "
                              "lifecycle_stage FROM runs ORDER BY run_uuid").fetchall()
        params: dict[str, dict] = {}
        for key, value, run in cursor.execute("SELECT key, value, run_uuid FROM params"):
            params.setdefault(run, {})[key] = value
        tags: dict[str, dict] = {}
        for key, value, run in cursor.execute("SELECT key, value, run_uuid FROM tags"):
            tags.setdefault(run, {})[key] = value
        metrics: dict[str, dict] = {}
        for key, value, run, step, is_nan in cursor.execute(
                "SELECT key, value, run_uuid, step, is_nan FROM metrics ORDER BY run_uuid, key, step, timestamp"):
            step, value = to_step(step), math.nan if is_nan else to_float(value)
            if step is not None and value is not None:
                series_for(metrics.setdefault(run, {}), key).append(step, value)
        last_logged = {run: stamp / 1000.0 for run, stamp in cursor.execute(
            "SELECT run_uuid, MAX(timestamp) FROM metrics GROUP BY run_uuid") if isinstance(stamp, (int, float))}
    except sqlite3.Error as exc:
        raise ReadError(f"not a readable MLflow database: {exc}", display) from exc
    finally:
        connection.close()
    runs = []
    db_folder = os.path.dirname(os.path.abspath(path))
    for run_uuid, status, start, end, experiment_id, artifact_uri, stage in rows:
        if stage == "deleted":
            continue
        runs.append(_from_parts(
            run_id=run_uuid, folder=_run_folder(db_folder, artifact_uri, experiment_id, run_uuid), display=display,
            meta={"status": status, "start_time": start, "end_time": end}, params=params.get(run_uuid, {}),
            tags=tags.get(run_uuid, {}), metrics=metrics.get(run_uuid, {}),
            experiment=experiments.get(experiment_id), problems=[], activity=last_logged.get(run_uuid)))
    return runs
