"""The native run record: run.yaml / run.json, validated by auditor/schemas/run.schema.json."""

from __future__ import annotations

import os
from typing import Any

from jsonschema.exceptions import best_match

from auditor.runs.readers.common import FLOAT_TEXT, ReadError, absolute, load_json, load_yaml, newest_mtime, read_text
from auditor.runs.record import Run
from auditor.schemas import validator

RECORD_NAMES = ("run.yaml", "run.yml", "run.json")


def field_path(error) -> str | None:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        parts += missing[:1]
    return ".".join(parts) or None


# Words other tools use for a run's end state, and the record's word for each.
_STATE_HINTS = {"finished": "completed", "FINISHED": "completed", "done": "completed", "success": "completed",
                "succeeded": "completed", "crashed": "failed", "FAILED": "failed", "error": "failed",
                "KILLED": "killed", "RUNNING": "running"}


def _explain(error) -> str:
    """The schema's message, with the record's word when a state is spelled as another tool spells it."""
    if error.validator == "enum" and isinstance(error.instance, str) and error.instance in _STATE_HINTS:
        return f"{error.message} (did you mean {_STATE_HINTS[error.instance]!r}?)"
    return error.message


def load_record(path: str, display: str) -> dict[str, Any]:
    """The validated mapping of one record file; a ReadError names the file and line or field."""
    text = read_text(path)
    try:
        data = load_json(path, text) if path.endswith(".json") else load_yaml(path, text)
    except ReadError as exc:
        exc.path = display
        raise
    if not isinstance(data, dict):
        raise ReadError(f"a run record must be a mapping, not {type(data).__name__}", display)
    _keep_sha_text(data, text, path)
    if isinstance(data.get("reported"), dict):
        data["reported"] = {key: _exponent_number(value) for key, value in data["reported"].items()}
    metrics = data.get("metrics")
    if isinstance(metrics, dict):  # the points are checked below: per-point schema checks are 10x slower
        shallow = {**data, "metrics": {name: [] if isinstance(points, list) else points
                                       for name, points in metrics.items()}}
    else:
        shallow = data
    errors = sorted(validator("run").iter_errors(shallow), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        first = best_match(errors)
        rest = [e for e in errors if e is not first]
        message = _explain(first) + "".join(f"; also {field_path(e) or 'the record'}: {_explain(e)}" for e in rest[:4])
        if len(rest) > 4:
            message += f"; and {len(rest) - 4} more problem(s)"
        raise ReadError(message, display, field=field_path(first))
    if isinstance(metrics, dict):
        _check_points(metrics, display)
    return data


def _keep_sha_text(data: dict, text: str, path: str) -> None:
    """An unquoted all-digit short SHA (`sha: 0123456`) is a number to YAML (octal, even): take the text written."""
    git = data.get("git")
    if not isinstance(git, dict) or not isinstance(git.get("sha"), (int, float)) or path.endswith(".json"):
        return
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key in ("git", "sha"):
        node = next((v for k, v in getattr(node, "value", []) if getattr(k, "value", None) == key), None)
    if isinstance(node, yaml.ScalarNode):
        git["sha"] = node.value


def _exponent_number(value: Any) -> Any:
    """PyYAML reads YAML 1.1, where `1e5`, `1.0e308` and `2e-3` are strings (a float needs a dot and a
    signed exponent there); where the record expects a number, such a string is the number a person wrote."""
    if isinstance(value, str) and "e" in value.lower() and FLOAT_TEXT.match(value.strip()):
        return float(value)
    return value


_VALUE_STRINGS = {"nan", "NaN", "inf", "Infinity", "-inf", "-Infinity"}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_points(metrics: dict, display: str) -> None:
    """What run.schema.json says of metrics points ([step, value]), checked directly for speed."""
    for name, points in metrics.items():
        for index, point in enumerate(points):
            where = f"metrics.{name}.{index}"
            if not isinstance(point, list) or len(point) != 2:
                raise ReadError(f"{point!r} is not a [step, value] pair", display, field=where)
            step, value = _exponent_number(point[0]), _exponent_number(point[1])
            point[:] = [step, value]
            if not _is_number(step):
                raise ReadError(f"{step!r} is not of type 'number'", display, field=where + ".0")
            if not (_is_number(value) or value is None or value in _VALUE_STRINGS):
                raise ReadError(f"{value!r} is not a number, null or one of {sorted(_VALUE_STRINGS)}", display,
                                field=where + ".1")


def from_record(data: dict[str, Any], folder: str, display: str, source: str = "native") -> Run:
    git = data.get("git") or {}
    status = data.get("status") or {}
    train = data.get("train") or {}
    checkpoint = dict(data["checkpoint"]) if data.get("checkpoint") else None
    if checkpoint:
        checkpoint["path"] = absolute(folder, checkpoint["path"])
    replay = dict(data["replay"]) if data.get("replay") else None
    if replay and isinstance(replay.get("quant"), str) and replay["quant"].endswith((".py", ".json", ".yaml")):
        replay["quant"] = absolute(folder, replay["quant"])
    environment = dict(data.get("environment") or {})
    return Run(
        id=str(data["id"]),
        folder=folder,
        source=source,
        group=data.get("group"),
        seed=data.get("seed"),
        git_sha=git.get("sha"),
        git_dirty=git.get("dirty"),
        config=dict(data.get("config") or {}),
        state=status.get("state"),
        # a record left at "running" by a job that died: its folder's last write tells (settle_liveness)
        last_activity=newest_mtime(folder) if status.get("state") == "running" else None,
        exit_code=status.get("exit_code"),
        elapsed_s=status.get("elapsed_s"),
        max_steps=train.get("max_steps"),
        eval=dict(data.get("eval") or {}),
        metrics={str(k): list(v) for k, v in (data.get("metrics") or {}).items()},
        reported=dict(data.get("reported") or {}),
        checkpoint=checkpoint,
        replay=replay,
        environment=environment,
        entry_point=data.get("entry_point"),
        record_path=display,
    )


def record_file(folder: str, names: set[str]) -> str | None:
    for name in RECORD_NAMES:
        if name in names:
            return name
    return None


def read(folder: str, display_folder: str, names: set[str]) -> list[Run]:
    name = record_file(folder, names)
    path, display = os.path.join(folder, name), os.path.join(display_folder, name)
    return [from_record(load_record(path, display), folder, display)]
