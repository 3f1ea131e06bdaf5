"""Where compare and docs get their runs from.

The runs area owns discovery (`auditor.runs.discover.discover_runs`: every reader, schema
validation). Until that module is present in a checkout, this thin adapter reads native
`run.yaml` / `run.json` records itself, so compare and docs work on native results directories.
`run_from_native` also turns the small dicts of the rules' examples into Run records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import Finding, run_location
from auditor.runs.record import Run

RECORD_NAMES = ("run.yaml", "run.yml", "run.json")


def load_runs(results_dir: str | Path, config: Config) -> tuple[list[Run], list[Finding]]:
    """All runs of a results directory and the problems met while reading them (RA001 findings)."""
    results = Path(results_dir)
    if not results.is_dir():
        raise InputError("results directory not found", path=str(results))
    try:
        from auditor.runs.discover import discover_runs
    except ModuleNotFoundError as exc:
        if exc.name not in ("auditor.runs.discover",):
            raise
        return _native_runs(results, config)
    found = discover_runs(results, config)
    return list(found.runs), list(found.problems)


def _native_runs(results: Path, config: Config) -> tuple[list[Run], list[Finding]]:
    from auditor.registry import rule_class

    runs: list[Run] = []
    problems: list[Finding] = []
    for folder, dirs, files in os.walk(results):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        name = next((n for n in RECORD_NAMES if n in files), None)
        if name is None:
            continue
        path = Path(folder) / name
        try:
            text = path.read_text(encoding="utf-8")
            data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            runs.append(run_from_native(data, folder=Path(folder), config=config, record_path=path))
        except (OSError, ValueError, yaml.YAMLError, InputError) as exc:
            rel = os.path.relpath(path, results)
            problems.append(rule_class("RA001")().finding(
                f"{rel}: unreadable run record, skipped: {exc}", run_location(rel), {"path": rel}))
    return sorted(runs, key=lambda r: r.id), problems


def _mapping(data: dict, key: str, where: str) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise InputError("must be a mapping", path=where, field=key)
    return value


def run_from_native(data: Any, *, folder: Path | str = ".", config: Config | None = None,
                    record_path: Path | str | None = None) -> Run:
    """A Run from the native record's dict (see CONTRACT.md, "Native run record")."""
    config = config or Config()
    where = str(record_path or folder)
    if not isinstance(data, dict):
        raise InputError("a run record must be a mapping", path=where)
    if not data.get("id"):
        raise InputError("missing required field", path=where, field="id")
    git = _mapping(data, "git", where)
    status = _mapping(data, "status", where)
    train = _mapping(data, "train", where)
    metrics = {}
    for name, points in _mapping(data, "metrics", where).items():
        if not isinstance(points, list) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in points):
            raise InputError("must be a list of [step, value] pairs", path=where, field=f"metrics.{name}")
        metrics[str(name)] = [(float(s), float(v)) for s, v in points]
    run = Run(
        id=str(data["id"]), folder=str(Path(folder).resolve()), source="native",
        group=str(data["group"]) if data.get("group") is not None else None,
        seed=data.get("seed"), git_sha=git.get("sha"), git_dirty=git.get("dirty"),
        config=_mapping(data, "config", where), state=status.get("state"), exit_code=status.get("exit_code"),
        elapsed_s=status.get("elapsed_s"), max_steps=train.get("max_steps"),
        eval=_mapping(data, "eval", where), metrics=metrics, reported=_mapping(data, "reported", where),
        checkpoint=data.get("checkpoint"), replay=data.get("replay"),
        environment=_mapping(data, "environment", where), entry_point=data.get("entry_point"),
        record_path=str(record_path) if record_path else None,
    )
    if run.seed is None:
        run.seed = run.config_value("seed", config.key_map)
    if run.max_steps is None:
        steps = run.config_value("max_steps", config.key_map)
        run.max_steps = int(steps) if isinstance(steps, (int, float)) else None
    return run
