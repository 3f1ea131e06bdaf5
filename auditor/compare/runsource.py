"""Where compare and docs get their runs from: the runs area's discovery and native reader.

`load_runs` is discovery (every reader, schema validation, RA001 for broken records);
`run_from_native` turns the small dicts of the rules' examples into Run records through the same
native reader and normalization, so an example means in memory what it means on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import Finding
from auditor.runs.discover import discover_runs
from auditor.runs.normalize import normalize
from auditor.runs.readers.native import from_record
from auditor.runs.record import Run


def load_runs(results_dir: str | Path, config: Config, wanted: tuple[str, ...] = ()) -> tuple[list[Run], list[Finding]]:
    """All runs of a results directory and the problems met while reading them (RA001 findings).

    A `wanted` name (a run id or group asked for on the command line) that no run has but a broken
    record names is an InputError naming that record's file and field (exit 2), not a bare "not found"."""
    found = discover_runs(Path(results_dir), config)
    known = {run.id for run in found.runs} | {run.group for run in found.runs if run.group}
    for name in wanted:
        broken = found.error_for(name) if name not in known else None
        if broken:
            raise broken
    return list(found.runs), list(found.problems)


def run_from_native(data: Any, *, folder: Path | str = ".", config: Config | None = None) -> Run:
    """A Run from a native record's dict (see CONTRACT.md, "Native run record")."""
    if not isinstance(data, dict) or not data.get("id"):
        raise InputError("a run record must be a mapping with an id", path=str(folder))
    config = config or Config()
    return normalize(from_record(data, str(folder), str(Path(folder) / "run.yaml")), config.key_map)
