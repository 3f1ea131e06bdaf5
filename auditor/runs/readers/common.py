"""What the readers share: the read error, tolerant file loading, value coercion."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from typing import Any

import yaml

from auditor import bounded, safe_read

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ReadError(Exception):
    """One run's record is unusable: discovery turns it into RA001, find_run into an InputError."""

    def __init__(self, message: str, path: str, line: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message, self.path, self.line, self.field = message, str(path), line, field

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message, "path": self.path}
        if self.line:
            out["line"] = self.line
        if self.field:
            out["field"] = self.field
        return out

    def __str__(self) -> str:
        where = self.path + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"


def read_bytes(path: str) -> bytes:
    """Through auditor.safe_read: no symlink out of the results directory, no FIFO or device, size first."""
    try:
        return safe_read.read_bytes(path)
    except safe_read.UnsafeFile as exc:
        raise ReadError(exc.reason, path) from exc
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}", path) from exc


def read_text(path: str) -> str:
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError(f"not UTF-8 text (byte {exc.start})", path) from exc


def iter_lines(path: str, display: str | None = None):
    """The lines of a text file, one at a time: a 3M-line metric file is never held whole in memory.
    Errors name `display` (the path as the user gave it), else `path`."""
    shown = display or path
    try:
        with safe_read.open_binary(path, max_bytes=None) as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ReadError(f"not UTF-8 text (byte {exc.start} of the line)", shown, line=number) from exc
    except safe_read.UnsafeFile as exc:
        raise ReadError(exc.reason, shown) from exc
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}", shown) from exc


def load_yaml(path: str, text: str | None = None) -> Any:
    text = read_text(path) if text is None else text
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            problem = bounded.yaml_problem(node) if node is not None else None
            if problem:  # measured before anything is built: an alias bomb costs nothing
                raise ReadError(problem, path, line=node.start_mark.line + 1)
            return loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ReadError(f"invalid YAML: {problem}", path, line=mark.line + 1 if mark else None) from exc


def load_json(path: str, text: str | None = None) -> Any:
    text = read_text(path) if text is None else text
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReadError(f"invalid JSON: {exc.msg} (column {exc.colno})", path, line=exc.lineno) from exc
    except RecursionError as exc:
        raise ReadError(f"nested more than {bounded.MAX_DEPTH} levels deep: not read", path) from exc
    problem = bounded.depth_problem(data)
    if problem:  # a later json.dumps or pickle of it would overflow the stack
        raise ReadError(problem, path)
    return data


_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = FLOAT_TEXT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def typed(text: Any) -> Any:
    """A string parameter as the value it obviously is: "3" -> 3, "3e-4" -> 0.0003, "true" -> True."""
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    if _INT.match(stripped):
        return int(stripped)
    if _FLOAT.match(stripped):
        return float(stripped)
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    if lowered in ("nan", "inf", "-inf", "+inf"):
        return float(lowered)
    if stripped[:1] in "[{":
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text


def to_float(value: Any) -> float | None:
    """A metric value as a float ("nan"/"inf" strings included); None when it is not a number."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def to_step(value: Any) -> float | int | None:
    """A step as an int when it is integral ("50.0" -> 50), else a float; None if not a number."""
    number = to_float(value)
    if number is None or not math.isfinite(number):
        return None
    return int(number) if number == int(number) else number


def to_int(value: Any) -> int | None:
    step = to_step(value)
    return step if isinstance(step, int) else None


def parse_requirements(text: str) -> dict[str, str]:
    """`pip freeze` lines -> {name: version}; editable and URL requirements keep their spec."""
    packages = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "==" in line:
            name, version = line.split("==", 1)
        elif " @ " in line:
            name, version = line.split(" @ ", 1)
        else:
            continue
        packages[name.strip().lower().replace("_", "-")] = version.strip()
    return dict(sorted(packages.items()))


def packages_from_list(items: list[Any]) -> dict[str, str]:
    """["numpy==1.26", "sacred==0.8.7"] -> {name: version}."""
    return parse_requirements("\n".join(str(item) for item in items or []))


def environment(python: str | None = None, packages: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    """The environment dict every reader fills: python, torch, cuda, packages (where recorded)."""
    env: dict[str, Any] = {}
    if python:
        env["python"] = str(python).replace("CPython ", "").strip()
    packages = packages or {}
    if packages.get("torch"):
        env["torch"] = packages["torch"]
    for key, value in extra.items():
        if value not in (None, "", {}, []):
            env[key] = value
    if packages:
        env["packages"] = packages
    return env


def absolute(folder: str, path: str | None) -> str | None:
    if not path:
        return path
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(folder, path))


def nested_set(target: dict, keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    target[keys[-1]] = value


def nested_pop(target: dict, keys: list[str]) -> None:
    for key in keys[:-1]:
        target = target.get(key)
        if not isinstance(target, dict):
            return
    target.pop(keys[-1], None)


def newest_mtime(root: str) -> float | None:
    """The newest modification time of any file under root (a run with no end record: when it last wrote).

    Symlinks are skipped: wandb links logs/debug-core.log to a log every wandb process shares."""
    newest = None
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            try:
                info = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                newest = info.st_mtime if newest is None else max(newest, info.st_mtime)
    return newest
