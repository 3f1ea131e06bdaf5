"""`audit runs --results DIR [--groups]`: what the auditor found, one line per run (or per group).

The ids shown are the ones every other command accepts as RUN_ID; a display name works too when no
other run carries it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

from auditor.cli_common import config_option, get_config
from auditor.runs.cli_support import results_dir
from auditor.runs.record import Run
from auditor.runs.selection import RunFilter, filter_options

COLUMNS = ("id", "name", "group", "seed", "state", "sha", "dirty", "tracker", "folder")


def ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def run_row(run: Run, root: str, seed, now: float) -> dict:
    state = run.state or "unknown"
    if run.exit_code not in (None, 0):
        state += f" (exit {run.exit_code})"
    last = run.last_activity if run.state in ("running", "killed") else None
    return {"id": run.id, "name": run.name, "group": run.group, "seed": seed, "state": state,
            "last_write": (f"{ago(now - last)} ago" if last is not None else None),
            "sha": run.git_sha, "dirty": run.git_dirty, "tracker": run.source,
            "folder": os.path.relpath(run.folder, root).replace(os.sep, "/")}


def group_rows(runs: list[Run], config, seed_of) -> list[dict]:
    from auditor.compare.groups import conditions, seed_order

    out = []
    for name, members in conditions(runs, config).items():
        seeds = sorted({seed_of(r) for r in members if seed_of(r) is not None}, key=seed_order)
        states: dict[str, int] = {}
        for run in members:
            states[run.state or "unknown"] = states.get(run.state or "unknown", 0) + 1
        out.append({"group": name, "runs": len(members), "seeds": seeds,
                    "states": dict(sorted(states.items())), "trackers": sorted({r.source for r in members})})
    return out


def _text_table(rows: list[dict], columns: tuple[str, ...]) -> str:
    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return ",".join(map(str, value)) or "-"
        if isinstance(value, dict):
            return ", ".join(f"{v} {k}" for k, v in value.items())
        return str(value)

    table = [list(columns)] + [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=False)).rstrip() for line in table) + "\n"


@click.command("runs")
@click.option("--results", required=True, type=click.Path(), help="The results directory to list.")
@click.option("--groups", "show_groups", is_flag=True, help="One line per group (condition) instead of per run.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@filter_options
@config_option
def runs(results, show_groups, fmt, where, seeds, exclude, config_path):
    """List the runs (id, display name, group, seed, state, SHA, dirty, tracker, folder) or the groups."""
    from auditor.compare.groups import run_seed
    from auditor.runs.discover import allow_empty, discover_runs, nothing_found

    config = get_config(Path.cwd(), config_path)
    root = results_dir(results)
    found = discover_runs(root, config)
    if not found.runs and not allow_empty(config):
        raise nothing_found(root, len(found.errors))
    seed_of = lambda run: run_seed(run, config)
    chosen = RunFilter.parse(where, seeds, exclude).apply(found.runs, seed_of)
    problems = [{"path": f.location.path, "line": f.location.line, "message": f.message}
                for f in found.problems]
    if show_groups:
        rows = group_rows(chosen, config, seed_of)
        columns: tuple[str, ...] = ("group", "runs", "seeds", "states", "trackers")
    else:
        now = time.time()
        rows = [run_row(run, os.path.abspath(root), seed_of(run), now) for run in chosen]
        columns = COLUMNS
    if fmt == "json":
        key = "groups" if show_groups else "runs"
        sys.stdout.write(json.dumps({"version": 1, key: rows, "unreadable": problems}, indent=2, default=str) + "\n")
        return
    if not show_groups:
        for row in rows:
            row["sha"] = row["sha"][:10] if row["sha"] else None
            if row["last_write"]:
                row["state"] += f", last write {row['last_write']}"
    click.echo(_text_table(rows, columns), nl=False)
    what = "group(s)" if show_groups else "run(s)"
    click.echo(f"{len(rows)} {what}" + (f"; {len(problems)} unreadable record(s) (see `audit nightly` or RA001)"
                                        if problems else ""))
