"""Guild AI runs: <run>/.guild/attrs/<name> (YAML each) and .guild/events.out.tfevents.* scalars."""

from __future__ import annotations

import os

from auditor.runs.readers import tensorboard
from auditor.runs.readers.common import ReadError, environment, load_yaml, newest_mtime, packages_from_list
from auditor.runs.record import Run
from auditor.runs.series import series_for


def is_run_folder(folder: str, names: set[str]) -> bool:
    return ".guild" in names and os.path.isdir(os.path.join(folder, ".guild", "attrs"))


def _attrs(folder: str, display_folder: str) -> dict:
    attrs_dir = os.path.join(folder, ".guild", "attrs")
    attrs = {}
    for name in sorted(os.listdir(attrs_dir)):
        path = os.path.join(attrs_dir, name)
        try:
            attrs[name] = load_yaml(path)
        except ReadError as exc:
            exc.path = os.path.join(display_folder, ".guild", "attrs", name)
            raise
    return attrs


def _entry_point(cmd) -> str | None:
    if isinstance(cmd, list):
        for part in cmd:
            if isinstance(part, str) and part.endswith(".py"):
                return part
    return None


def read(folder: str, display_folder: str, names: set[str]) -> list[Run]:
    attrs = _attrs(folder, display_folder)
    commit = str(attrs.get("vcs_commit") or "")
    sha, dirty = None, None
    if commit:
        sha = commit.split(":", 1)[-1]
        dirty = sha.endswith("*")  # Guild marks a dirty tree with a trailing '*'
        sha = sha.rstrip("*")
    exit_status = attrs.get("exit_status")
    # No exit status yet: running, or killed if it has been silent too long (settle_liveness).
    state = ("completed" if exit_status == 0 else "failed") if isinstance(exit_status, int) else "running"
    started, stopped = attrs.get("started"), attrs.get("stopped")
    elapsed = (stopped - started) / 1e6 if isinstance(started, int) and isinstance(stopped, int) else None
    platform = attrs.get("platform") or {}
    pip = attrs.get("pip_freeze")
    problems: list[dict] = []
    guild_dir = os.path.join(folder, ".guild")
    events = tensorboard.event_files(guild_dir, set(os.listdir(guild_dir)))
    events += tensorboard.event_files(folder, names)
    metrics = {}
    for path in events:
        display = os.path.dirname(path).replace(folder, display_folder, 1)
        for key, points in tensorboard.read_scalars([path], display, problems).items():
            series_for(metrics, key).extend(points)
    flags = attrs.get("flags")
    return [Run(
        id=str(attrs.get("id") or os.path.basename(folder)),
        folder=folder,
        source="guild",
        seed=attrs.get("random_seed"),
        git_sha=sha or None,
        git_dirty=dirty,
        config=flags if isinstance(flags, dict) else {},
        state=state,
        exit_code=exit_status if isinstance(exit_status, int) else None,
        elapsed_s=elapsed,
        last_activity=newest_mtime(folder) if state == "running" else None,
        metrics=metrics,
        environment=environment(platform.get("python_version") if isinstance(platform, dict) else None,
                                packages_from_list(pip if isinstance(pip, list) else str(pip or "").splitlines())),
        entry_point=_entry_point(attrs.get("cmd")),
        record_path=os.path.join(display_folder, ".guild", "attrs"),
        problems=problems,
    )]
