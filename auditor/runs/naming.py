"""Names people type for runs: ids, folder names, display names (W&B run names, MLflow runName).

A display name is accepted as a RUN_ID when exactly one run carries it; when several do, the command
stops (exit 2) and lists them, because picking one silently audits a run nobody asked for. An unknown
name is answered with the closest ids and names.
"""

from __future__ import annotations

import difflib

from auditor.errors import InputError
from auditor.runs.record import Run


def by_display_name(name: str, runs: list[Run]) -> list[Run]:
    return [run for run in runs if run.name == name]


def describe(run: Run) -> str:
    group = f", group {run.group}" if run.group else ""
    name = f" ({run.name})" if run.name else ""
    return f"{run.id}{name} [{run.source}{group}] in {run.folder}"


def ambiguous(name: str, candidates: list[Run], what: str = "display name") -> InputError:
    listed = "; ".join(describe(run) for run in candidates[:10])
    more = f"; and {len(candidates) - 10} more" if len(candidates) > 10 else ""
    return InputError(f"{name!r} is the {what} of {len(candidates)} runs: {listed}{more}. "
                      "Name one by its id (see `audit runs`)")


def closest(name: str, runs: list[Run], extra: list[str] = (), limit: int = 5) -> list[str]:
    """The ids, display names and group names most like `name`."""
    pool = sorted({run.id for run in runs} | {run.name for run in runs if run.name} | set(extra))
    return difflib.get_close_matches(name, pool, n=limit, cutoff=0.5)


def unknown_run_message(run_id: str, runs: list[Run], groups: list[str] = ()) -> str:
    near = closest(run_id, runs, list(groups))
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    return f"no run with id, folder or display name {run_id!r} ({len(runs)} runs found{hint}; `audit runs` lists them)"
