"""Weights & Biases run folders (`wandb/offline-run-*/`, `wandb/run-*/`).

Current wandb keeps config, git commit, environment, history, summary and exit code only in the
binary `run-<id>.wandb` log (see docs/run-formats.md). The container is parsed here
(wandb_log.py) and the payloads decoded with wandb's own protobuf classes when wandb is
importable; files/wandb-metadata.json, wandb-summary.json and config.yaml are used where they exist.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from auditor.runs.readers.common import (ReadError, environment, load_json, load_yaml, nested_pop, nested_set,
                                         newest_mtime, parse_requirements, read_bytes, read_text, to_float, to_step)
from auditor.runs.readers.wandb_log import LogFormatError, read_payloads
from auditor.runs.record import Run
from auditor.runs.series import Series, series_for

FOLDER = re.compile(r"^(offline-)?run-(\d{8}_\d{6}-)?(?P<id>[A-Za-z0-9_-]+)$")
_INTERNAL = ("_wandb", "_runtime", "_timestamp", "_step")


def is_run_folder(name: str, names: set[str]) -> bool:
    if not FOLDER.match(name):
        return False
    return any(n.endswith(".wandb") for n in names) or "files" in names


def _record_class():
    try:
        from wandb.proto.wandb_internal_pb2 import Record
    except Exception:  # wandb is an optional extra: without it only the JSON side files are read
        return None
    return Record


def _key(item) -> list[str]:
    return list(item.nested_key) if item.nested_key else [item.key]


def _value(item) -> Any:
    if item.value_json:
        try:
            return json.loads(item.value_json)
        except ValueError:
            return item.value_json
    kind = item.WhichOneof("value") if "value" in item.DESCRIPTOR.oneofs_by_name else None
    return getattr(item, kind) if kind else None


class _State:
    def __init__(self) -> None:
        self.run_id = None
        self.group = None
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.history: dict[str, Series] = {}
        self.exit_code = None
        self.runtime = None
        self.git_sha = None
        self.env: dict[str, Any] = {}
        self.records = 0
        self.name: str | None = None
        self.started_at: float | None = None


def _apply(state: _State, record) -> None:
    kind = record.WhichOneof("record_type")
    if kind == "run":
        run = record.run
        state.run_id = run.run_id or state.run_id
        state.group = run.run_group or state.group
        state.name = run.display_name or state.name
        if run.start_time.seconds:
            state.started_at = run.start_time.seconds + run.start_time.nanos / 1e9
        state.git_sha = run.git.commit or state.git_sha
        _config(state, run.config)
        if run.telemetry.python_version:
            state.env.setdefault("python", run.telemetry.python_version)
    elif kind == "config":
        _config(state, record.config)
    elif kind == "environment":
        env = record.environment
        for name in ("python", "program", "code_path", "executable", "host", "os", "cuda_version"):
            if getattr(env, name, ""):
                state.env[name] = getattr(env, name)
        if env.args:
            state.env["args"] = list(env.args)
        state.git_sha = state.git_sha or env.git.commit or None
    elif kind == "history":
        items = {".".join(_key(item)): _value(item) for item in record.history.item}
        step = to_step(items.get("_step", record.history.step.num))
        for name, value in items.items():
            number = to_float(value)
            if name.startswith("_") or number is None or step is None:
                continue
            series_for(state.history, name).append(step, number)
    elif kind == "summary":
        for item in record.summary.update:
            nested_set(state.summary, _key(item), _value(item))
        for item in record.summary.remove:
            nested_pop(state.summary, _key(item))
    elif kind == "exit":
        state.exit_code = record.exit.exit_code
        state.runtime = record.exit.runtime


def _config(state: _State, config) -> None:
    for item in config.update:
        keys = _key(item)
        if keys[0] != "_wandb":
            nested_set(state.config, keys, _value(item))
    for item in config.remove:
        nested_pop(state.config, _key(item))


def _read_log(path: str, display: str, state: _State, problems: list[dict]) -> None:
    Record = _record_class()
    try:
        payloads = read_payloads(read_bytes(path))
    except LogFormatError as exc:
        raise ReadError(str(exc), display) from exc
    invalid: list[int] = []
    for index, payload in enumerate(payloads.records if Record is not None else ()):
        record = Record()
        try:
            record.ParseFromString(payload)
        except Exception:
            invalid.append(index)
            continue
        state.records += 1
        _apply(state, record)
    # One problem per file, with a count: invalid records are skipped, a torn or corrupt chunk ends the reading.
    bad = [f"{len(invalid)} not a valid protobuf, skipped (first: record {invalid[0]})"] if invalid else []
    if payloads.problem:
        bad.append(f"{payloads.problem}: the rest of the file was not read")
    if bad:
        count = len(invalid) + bool(payloads.problem)
        problems.append({"message": f"W&B log: {count} bad record(s) ({'; '.join(bad)}); the {state.records} "
                                    "other record(s) were read", "path": display, "count": count})


def _side_files(files: str, state: _State) -> None:
    """wandb-metadata.json / wandb-summary.json / config.yaml (online, synced or old offline runs)."""
    meta_path = os.path.join(files, "wandb-metadata.json")
    if os.path.isfile(meta_path):
        meta = load_json(meta_path)
        if isinstance(meta, dict):
            state.git_sha = state.git_sha or (meta.get("git") or {}).get("commit")
            for src, dst in (("python", "python"), ("program", "program"), ("codePath", "code_path"),
                             ("args", "args"), ("host", "host"), ("cuda", "cuda_version")):
                if meta.get(src) and dst not in state.env:
                    state.env[dst] = meta[src]
    summary_path = os.path.join(files, "wandb-summary.json")
    if os.path.isfile(summary_path) and not state.summary:
        summary = load_json(summary_path)
        state.summary = summary if isinstance(summary, dict) else {}
    config_path = os.path.join(files, "config.yaml")
    if os.path.isfile(config_path) and not state.config:
        raw = load_yaml(config_path) or {}
        for key, entry in raw.items() if isinstance(raw, dict) else ():
            if key != "_wandb" and key != "wandb_version":
                state.config[key] = entry.get("value") if isinstance(entry, dict) and "value" in entry else entry


def read(folder: str, display_folder: str, names: set[str]) -> list[Run]:
    state, problems = _State(), []
    logs = sorted(n for n in names if n.endswith(".wandb"))
    if logs:
        _read_log(os.path.join(folder, logs[0]), os.path.join(display_folder, logs[0]), state, problems)
    files = os.path.join(folder, "files")
    if os.path.isdir(files):
        _side_files(files, state)
    if logs and state.records == 0 and not problems and not state.config and not state.git_sha:
        # a 7-byte header and nothing else: the process died (or is starting) before its first flush
        problems.append({"message": "W&B log holds no records: nothing was recorded (killed before its first "
                                    "flush, or only just started)", "path": os.path.join(display_folder, logs[0]),
                         "nothing_recorded": True})
    match = FOLDER.match(os.path.basename(folder))
    run_id = state.run_id or (match.group("id") if match else os.path.basename(folder))
    packages = {}
    requirements = os.path.join(files, "requirements.txt")
    if os.path.isfile(requirements):
        packages = parse_requirements(read_text(requirements))
    diff = os.path.join(files, "diff.patch")
    dirty = None
    if os.path.isfile(diff):
        dirty = os.path.getsize(diff) > 0
    elif os.path.isdir(os.path.join(files, "code")):  # save_code=True and no diff: the tree was clean
        dirty = False
    env = state.env
    finished = state.exit_code is not None
    if not finished and logs:
        state_name = "running"  # no exit record: still writing, or killed (settle_liveness tells them apart)
    elif finished:
        state_name = "completed" if state.exit_code == 0 else "failed"
    else:
        state_name = None
    reported = {k: v for k, v in state.summary.items()
                if not k.startswith("_") and k not in state.history and to_float(v) is not None}
    return [Run(
        id=run_id,
        folder=folder,
        source="wandb",
        group=state.group,
        git_sha=state.git_sha or None,
        git_dirty=dirty,
        config=state.config,
        state=state_name,
        exit_code=state.exit_code,
        elapsed_s=float(state.runtime) if finished else None,
        last_activity=newest_mtime(folder) if state_name == "running" else None,
        started_at=state.started_at,
        ended_at=(state.started_at + float(state.runtime)) if finished and state.started_at and state.runtime else None,
        name=state.name if state.name and state.name != run_id else None,
        metrics=state.history,
        reported=reported,
        environment=environment(env.get("python"), packages, cuda=env.get("cuda_version")),
        entry_point=env.get("code_path") or env.get("program"),
        record_path=os.path.join(display_folder, logs[0]) if logs else display_folder,
        problems=problems,
    )]
