"""`[tool.auditor]` in pyproject.toml, or auditor.yaml: selection, severities, project names, key map.

Keys may be spelled with dashes or underscores. Unknown keys are an input error naming the file.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from typing import Any, Callable, Iterable

from auditor.errors import InputError
from auditor.findings import SEVERITIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Which config keys of a user's run config mean what. The first key present wins.
DEFAULT_KEY_MAP: dict[str, list[str]] = {
    "seed": ["seed", "random_seed", "trainer.seed", "training.seed", "train.seed", "args.seed", "data.seed"],
    "max_steps": ["trainer.total_training_steps", "max_steps", "trainer.max_steps", "training.max_steps",
                  "train.max_steps", "total_steps", "num_train_steps", "args.max_steps"],
    "max_epochs": ["trainer.total_epochs", "max_epochs", "trainer.max_epochs", "num_train_epochs", "epochs",
                   "training.epochs", "args.epochs"],
    "eval_interval": ["trainer.test_freq", "eval_interval", "eval_steps", "eval_every", "val_check_interval",
                      "trainer.val_check_interval", "eval_freq", "args.eval_interval"],
    "eval_quant": ["eval.quant", "eval_quant", "quant.eval", "evaluation.quant", "quantization.eval"],
    "train_quant": ["quant", "quant.mode", "quantization", "quantization.mode", "trainer.quant", "train.quant"],
    "eval_dataset": ["eval.dataset", "eval_dataset", "data.val_files", "data.eval_file", "eval_csv", "eval.file"],
    "eval_framework": ["eval.framework", "eval_framework", "evaluation.framework"],
    "batch_size": ["batch_size", "data.train_batch_size", "train_batch_size", "per_device_train_batch_size",
                   "training.batch_size", "args.batch_size"],
}

DEFAULT_SEED_HELPERS = ["set_seed", "seed_everything", "seed_all", "set_random_seed", "fix_seed", "setup_seed",
                        "init_seeds", "enable_full_determinism", "set_seeds", "seed_torch"]
DEFAULT_VALIDATION_FUNCTIONS = ["_validate", "validate", "validation", "evaluate", "run_validation",
                                "run_eval", "eval_model", "evaluate_model", "validation_step", "test"]
DEFAULT_QUANT_HOOKS = ["apply_quant_hooks", "apply_fake_quant", "quantize_model", "prepare_qat", "apply_mxfp4",
                       "apply_nvfp4", "enable_fake_quant", "convert_to_float8_training", "quantize_",
                       "prepare", "replace_linear_with_quant"]



def _snake(key: str) -> str:
    return key.replace("-", "_")


# -- settings: one field of one dataclass per key --------------------------------------------------------
# Adding a key is one line: a field with its type and default; `setting(...)` adds a check on the value
# beyond its type. Loading refuses unknown keys and values of the wrong type, naming the file and the key.

def setting(default: Any = None, check: Callable[[Any], bool] | None = None, expected: str = "", *,
            factory: Callable[[], Any] | None = None):
    """A field whose value must also pass `check` (`expected` says what it must be, for the error)."""
    metadata = {"check": check, "expected": expected} if check else {}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _positive(value) -> bool:
    return value > 0


@dataclass(frozen=True)
class ScanSettings:
    """[tool.auditor.scan]"""
    max_file_bytes: int = setting(2_000_000, _positive, "a positive number of bytes")
    check_syntax: bool = True  # files no rule needs are still parsed to report syntax errors


@dataclass(frozen=True)
class RunsSettings:
    """[tool.auditor.runs]"""
    cache: bool = True  # the discovery cache
    stale_after: int | float | str | None = setting(None, lambda v: not isinstance(v, str) or bool(
        re.fullmatch(r"\s*\d+(\.\d+)?\s*[smhd]?\s*", v.lower())), "seconds or a duration (45s, 30m, 2h, 1d)")
    workers: int | None = setting(None, _positive, "a positive number of processes")
    allow_empty: bool = False  # an empty results folder is fine (exit 0) instead of "no runs found"


@dataclass(frozen=True)
class ReplaySettings:
    """[tool.auditor.replay] (the same keys in a run record's `replay` section win)"""
    tolerance: float | None = setting(None, lambda v: v >= 0, "a number >= 0")
    include: str | list[str] = setting(factory=list)
    exclude: str | list[str] = setting(factory=list)
    module_types: list[str] = setting(factory=lambda: ["Linear"])
    block_size: int | None = setting(None, _positive, "a positive block size")
    scale_mode: str = setting("floor", lambda v: v in ("floor", "rceil", "even"), "floor, rceil or even")
    rounding: str = setting("even", lambda v: v in ("even", "nearest-away"), "even or nearest-away")
    # the replay sandbox (auditor/replay/sandbox.py): limits of the child process, packages a record may name
    timeout_s: float | None = setting(None, _positive, "a positive number of seconds")
    memory_mb: int | None = setting(None, _positive, "a positive number of megabytes")
    cpu_s: int | None = setting(None, _positive, "a positive number of CPU seconds")
    allow: str | list[str] = setting(factory=list)


@dataclass(frozen=True)
class CompareSettings:
    """[tool.auditor.compare]"""
    confidence: float = setting(0.95, lambda v: 0 < v < 1, "between 0 and 1 (e.g. 0.95)")
    ci_method: str = setting("auto", lambda v: v in ("auto", "t", "percentile", "bca"), "auto, t, percentile or bca")
    bootstrap_reps: int = setting(10_000, _positive, "a positive number of resamples")
    bootstrap_seed: int = 0
    dedupe: str = setting("latest", lambda v: v in ("latest", "first", "mean", "error"), "latest, first, mean or error")
    # Comparisons derived from the runs (auditor/compare/derive.py; docs/usage-compare.md, "Derived comparisons"):
    # auto = only when the results folder has no comparisons.yaml, always = besides its declared ones, off = never.
    derive: str = setting("auto", lambda v: v in ("auto", "always", "off"), "auto, always or off")
    baseline: str | None = None  # a run group: every derived comparison has it as the baseline
    treatment_keys: list[str] = setting(factory=list)  # derive only between groups that differ in these keys
    max_treatment_keys: int = setting(1, _positive, "a positive number of config keys")
    min_seeds: int = setting(2, _positive, "a positive number of seeds")
    metrics: list[str] = setting(factory=list)  # the metrics derived comparisons use (default: eval-like ones)
    max_derived: int = setting(50, _positive, "a positive number of comparisons")


@dataclass(frozen=True)
class DocsSettings:
    """[tool.auditor.docs]: nothing to set yet; any key is an error rather than silently ignored."""


def _valid_link_template(value) -> bool:
    """Checked when the configuration is loaded, not when a report is written: an unknown placeholder would
    fail after the night's work."""
    import string

    if not isinstance(value, str) or not value.lower().startswith(("https://", "http://")):
        return False
    try:
        fields = [name for _, name, _spec, _conv in string.Formatter().parse(value) if name is not None]
        value.format(sha="0" * 40, path="a/b.py", line=1)
    except (ValueError, KeyError, IndexError, AttributeError):
        return False
    return all(name in ("sha", "path", "line") for name in fields)


def _executor_name(value) -> bool:
    from auditor.executors import EXECUTORS

    return value in EXECUTORS


@dataclass(frozen=True)
class NightlySettings:
    """[tool.auditor.nightly]"""
    docs: str | list[str] | None = None  # Markdown files/globs (relative to the repo) whose claims are checked
    executor: str | None = setting(None, _executor_name, "local, ray or slurm")
    address: str | None = None
    partition: str | None = None
    time: str | int | None = None  # minutes or HH:MM:SS
    gpus: int | None = setting(None, lambda v: v >= 0, "an integer >= 0")
    jobs: int | None = setting(None, lambda v: v >= 1, "an integer >= 1")
    chunk_size: int | None = setting(None, lambda v: v >= 1, "an integer >= 1")
    max_run_plots: int | None = setting(None, lambda v: v >= 0, "an integer >= 0")
    replay: bool = True
    discovery_cache: bool = True
    link_template: str | None = setting(None, lambda v: _valid_link_template(v),
                                        "an http(s) URL using only {sha}, {path} and {line}")
    repo: str | None = None
    grace: float = setting(60.0, lambda v: v >= 0, "seconds >= 0 (how long a Slurm job may be gone from the queue "
                                                     "before its result shows)")


# [tool.auditor.<name>] -> its settings class and the Config field that holds it
SECTIONS: dict[str, type] = {"scan": ScanSettings, "runs": RunsSettings, "replay": ReplaySettings,
                             "compare": CompareSettings, "docs": DocsSettings, "nightly": NightlySettings}
# Project names that extend the defaults rather than replace them.
_EXTENDED = ("seed_helpers", "validation_functions", "quant_hooks")
# Config fields not read from the file (or read under another key).
_NOT_KEYS = {"root", "source", "rule_params", "cache_dir_setting"}
_RENAMED = {"rules": "rule_params", "cache_dir": "cache_dir_setting"}


@dataclass
class Config:
    root: Path = field(default_factory=Path.cwd)
    source: str | None = None  # the file the configuration came from
    select: list[str] = field(default_factory=lambda: ["RA"])
    ignore: list[str] = field(default_factory=list)
    per_path_ignores: dict[str, list[str]] = field(default_factory=dict)
    severity: dict[str, str] = field(default_factory=dict)
    fail_on: str = "error"
    exclude: list[str] = field(default_factory=list)
    seed_helpers: list[str] = field(default_factory=lambda: list(DEFAULT_SEED_HELPERS))
    validation_functions: list[str] = field(default_factory=lambda: list(DEFAULT_VALIDATION_FUNCTIONS))
    quant_hooks: list[str] = field(default_factory=lambda: list(DEFAULT_QUANT_HOOKS))
    diagnostic_flags: list[str] = field(default_factory=list)  # extra names of debug/diagnostic switches
    entry_points: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)  # results folders (relative to root): --results by default
    plugins: list[str] = field(default_factory=list)
    key_map: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_KEY_MAP.items()})
    rule_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # [tool.auditor.rules.RAxxx]
    cache_dir_setting: str | None = None  # cache-dir
    scan: ScanSettings = field(default_factory=ScanSettings)
    runs: RunsSettings = field(default_factory=RunsSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    compare: CompareSettings = field(default_factory=CompareSettings)
    docs: DocsSettings = field(default_factory=DocsSettings)
    nightly: NightlySettings = field(default_factory=NightlySettings)

    # -- selection -------------------------------------------------------------------------
    def is_selected(self, rule_id: str, path: str | None = None) -> bool:
        def matches(prefixes):
            return any(rule_id.startswith(p.upper()) for p in prefixes)

        if not matches(self.select) or matches(self.ignore):
            return False
        if path is not None:
            for pattern, ids in self.per_path_ignores.items():
                if _path_matches(path, pattern) and matches(ids):
                    return False
        return True

    def is_excluded(self, path: str) -> bool:
        return any(_path_matches(path, pattern) for pattern in self.exclude)

    @property
    def cache_dir(self) -> Path:
        if self.cache_dir_setting:
            path = Path(self.cache_dir_setting).expanduser()
            return path if path.is_absolute() else self.root / path
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return Path(base) / "auditor"

    def extended(self, overrides: dict[str, Any]) -> "Config":
        """A copy with some settings replaced (used by command-line options)."""
        data = dict(vars(self))
        data.update(overrides)
        return Config(**data)

    def fingerprint(self) -> str:
        """A hash of everything that changes code findings: part of the cache key."""
        import hashlib
        import json

        relevant = {k: v for k, v in vars(self).items() if k not in ("root", "source", "cache_dir_setting", "fail_on", "results")}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _path_matches(path: str, pattern: str) -> bool:
    path = path.replace(os.sep, "/")
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, pattern.rstrip("/") + "/*") or (
        pattern.startswith("**/") and fnmatch.fnmatch(path, pattern[3:]))


def find_config_file(start: Path, untrusted: Iterable[Path | str] = ()) -> Path | None:
    """The configuration of the repository holding `start`: searched from `start` up to the repository's root
    (the folder with `.git`); outside a repository only `start`'s own folder. Never from a parent that is not
    the repository, nor from an `untrusted` folder (the results directory: others write there)."""
    start = start.resolve()
    folders = [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]
    repo_root = next((index for index, folder in enumerate(folders) if (folder / ".git").exists()), None)
    folders = folders[:1] if repo_root is None else folders[:repo_root + 1]
    refused = [Path(u).resolve() for u in untrusted]
    folders = [f for f in folders if not any(f == bad or f.is_relative_to(bad) for bad in refused)]
    found = _first_config(folders, _read_disk)
    return found[0] if found else None


# A configuration file's bytes by its path, or None when there is none: the disk, or a git snapshot (the index).
Reader = Callable[[Path], "bytes | None"]


def _read_disk(path: Path) -> bytes | None:
    try:
        return path.read_bytes() if path.is_file() else None
    except OSError as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from exc


def _first_config(folders: list[Path], read: Reader, label: str = "") -> tuple[Path, dict] | None:
    """(file, its auditor settings) of the first folder holding auditor.yaml or a pyproject.toml with
    [tool.auditor]; `label` marks where the bytes came from in errors (" (staged)")."""
    for folder in folders:
        for name in ("auditor.yaml", "pyproject.toml"):
            data = read(folder / name)
            if data is None:
                continue
            raw = _settings_of(folder / name, data, f"{folder / name}{label}")
            if raw is not None:
                return folder / name, raw
    return None


def _settings_of(path: Path, data: bytes, where: str) -> dict | None:
    """The auditor's settings in a file's bytes: [tool.auditor] of a pyproject.toml (None when it has none),
    the whole auditor.yaml (or its `auditor:` key)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"cannot read: {exc}", path=where) from exc
    if path.name.endswith(".toml"):
        try:
            return tomllib.loads(text).get("tool", {}).get("auditor")
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"invalid TOML: {exc}", path=where) from exc
    import yaml  # only for an auditor.yaml: the pre-commit hook's start-up does not pay for it

    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError(f"invalid YAML: {exc}", path=where, line=line + 1 if line is not None else None) from exc
    return raw.get("auditor", raw) if isinstance(raw, dict) else raw


def load_config(start: Path | str | None = None, explicit: Path | str | None = None,
                untrusted: Iterable[Path | str] = ()) -> Config:
    """The configuration for a scan rooted at `start` (or the file named by `--config`)."""
    start = Path(start or Path.cwd())
    path = Path(explicit) if explicit else find_config_file(start, untrusted)
    if path is None:
        return Config(root=start.resolve() if start.is_dir() else start.resolve().parent)
    if not path.is_file():
        raise InputError("configuration file not found", path=str(path))
    raw = _settings_of(path, _read_disk(path) or b"", str(path))
    return parse_config(raw if raw is not None else {}, path)


def load_snapshot_config(start: Path, repo_root: Path, read: Reader, label: str) -> Config:
    """The configuration a git snapshot (the index, a commit) holds for `start`: the same search as on disk,
    from `start` up to `repo_root`, reading each file through `read`. Errors name the file with `label`."""
    start, repo_root = start.resolve(), repo_root.resolve()
    folder = start if start.is_dir() else start.parent
    folders = [folder, *[p for p in folder.parents if p.is_relative_to(repo_root)]] \
        if folder.is_relative_to(repo_root) else [repo_root]
    found = _first_config(folders, read, label)
    if found is None:
        return Config(root=folder)
    path, raw = found
    return parse_config(raw, path, where=f"{path}{label}")


def parse_config(raw: Any, path: Path, where: str | None = None) -> Config:
    where = where or str(path)
    if not isinstance(raw, dict):
        raise InputError("the auditor configuration must be a table/mapping", path=where)
    config = Config(root=path.resolve().parent, source=where)
    fields = {f.name: f for f in dataclasses.fields(Config) if f.name not in _NOT_KEYS}
    types = typing.get_type_hints(Config)
    for key, value in raw.items():
        name = _RENAMED.get(_snake(key), _snake(key))
        if name not in fields and name not in _RENAMED.values():
            raise InputError(f"unknown setting {key!r}", path=where, field=f"tool.auditor.{key}")
        if name in SECTIONS:
            setattr(config, name, _section(SECTIONS[name], value, where, key))
        elif name in _SPECIAL:
            _SPECIAL[name](config, value, where, key)
        else:
            _check_value(value, types[name], fields[name], where, key)
            if name in _EXTENDED:
                value = sorted(set(getattr(config, name)) | set(value))
            setattr(config, name, list(value) if isinstance(value, list) else value)
    _check_rule_ids(config, raw)
    return config


def _section(cls: type, value: Any, where: str, key: str):
    """One [tool.auditor.<key>] table as its settings dataclass; unknown keys and wrong types are errors."""
    if not isinstance(value, dict):
        raise InputError("must be a table", path=where, field=key)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    types = typing.get_type_hints(cls)
    values = {}
    for item, item_value in value.items():
        name = _snake(str(item))
        if name not in fields:
            known = ", ".join(sorted(k.replace("_", "-") for k in fields)) or "none"
            raise InputError(f"unknown setting; known: {known}", path=where, field=f"{key}.{item}")
        _check_value(item_value, types[name], fields[name], where, f"{key}.{item}")
        values[name] = item_value
    return cls(**values)


def _check_value(value: Any, annotation: Any, spec: dataclasses.Field, where: str, key: str) -> None:
    if not _has_type(value, annotation):
        raise InputError(f"must be {_type_text(annotation)}, got {value!r}", path=where, field=key)
    check = spec.metadata.get("check")
    if check is not None and value is not None and not check(value):
        raise InputError(f"must be {spec.metadata['expected']}, got {value!r}", path=where, field=key)


def _has_type(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, arm) for arm in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is list:
        (item,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_has_type(v, item) for v in value)
    return True


def _type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_text(arm) for arm in typing.get_args(annotation) if arm is not type(None))
    if origin is list:
        return f"a list of {_type_text(typing.get_args(annotation)[0]).removeprefix('a ')}s"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(annotation, str(annotation))


def _set_per_path_ignores(config: Config, value: Any, where: str, key: str) -> None:
    config.per_path_ignores = _mapping_of_lists(value, where, key)


def _set_key_map(config: Config, value: Any, where: str, key: str) -> None:
    for meaning, keys in _mapping_of_lists(value, where, key).items():
        config.key_map[meaning] = keys


def _set_severity(config: Config, value: Any, where: str, key: str) -> None:
    if not isinstance(value, dict):
        raise InputError("must be a table of RULE = severity", path=where, field=key)
    for rule_id, level in value.items():
        if level not in SEVERITIES:
            raise InputError(f"severity must be one of {', '.join(SEVERITIES)}", path=where, field=f"{key}.{rule_id}")
        config.severity[str(rule_id).upper()] = level


def _set_fail_on(config: Config, value: Any, where: str, key: str) -> None:
    if value not in SEVERITIES:
        raise InputError(f"must be one of {', '.join(SEVERITIES)}", path=where, field=key)
    config.fail_on = value


def _set_rules(config: Config, value: Any, where: str, key: str) -> None:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise InputError("must be a table of RULE = {param = value}", path=where, field=key)
    for rid, params in value.items():  # a rule's `*_severity` parameter is a severity like [severity]'s
        for name, level in params.items():
            if str(name).endswith("severity") and level not in SEVERITIES:
                raise InputError(f"must be one of {', '.join(SEVERITIES)}", path=where, field=f"{key}.{rid}.{name}")
    config.rule_params = {str(rid).upper(): dict(params) for rid, params in value.items()}


def _set_cache_dir(config: Config, value: Any, where: str, key: str) -> None:
    if not isinstance(value, str):
        raise InputError("must be a path", path=where, field=key)
    config.cache_dir_setting = value


# Keys whose value is more than a checked type: their own parser.
_SPECIAL = {"per_path_ignores": _set_per_path_ignores, "key_map": _set_key_map, "severity": _set_severity,
            "fail_on": _set_fail_on, "rule_params": _set_rules, "cache_dir_setting": _set_cache_dir}


def _check_rule_ids(config: Config, raw: dict) -> None:
    """Every rule id the configuration names must exist (bundled, or in the configured plugin packs): the keys of
    [severity] and [rules] exactly; the entries of select, ignore and per-path-ignores as an id or the start of
    one (`RA1` selects RA1xx). A typo (`RA17O`) would otherwise select or silence nothing, silently."""
    exact, prefixes = [], []  # (field, the id as written)
    for raw_key, value in raw.items():
        key = _snake(raw_key)
        if key in ("severity", "rules") and isinstance(value, dict):
            exact += [(f"{raw_key}.{rid}", str(rid)) for rid in value]
        elif key in ("select", "ignore") and isinstance(value, list):
            prefixes += [(raw_key, str(rid)) for rid in value]
        elif key == "per_path_ignores" and isinstance(value, dict):
            prefixes += [(f"{raw_key}.{pattern}", str(rid)) for pattern, ids in value.items()
                         for rid in ([ids] if isinstance(ids, str) else ids if isinstance(ids, list) else [])]
    if not exact and not prefixes:
        return
    from auditor.registry import known_rule_ids

    known = known_rule_ids(tuple(config.plugins))
    for where, rule_id in exact:
        if rule_id.upper() not in known:
            raise InputError(f"unknown rule id {rule_id!r}; `audit rules` lists them", path=config.source,
                             field=where)
    for where, rule_id in prefixes:
        if not any(k.startswith(rule_id.upper()) for k in known):
            raise InputError(f"{rule_id!r} is not a rule id nor the start of one (RA1 means RA1xx); `audit rules` "
                             "lists them", path=config.source, field=where)


def _mapping_of_lists(value: Any, where: str, key: str) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise InputError("must be a table of name = [..]", path=where, field=key)
    out = {}
    for name, items in value.items():
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise InputError("must be a list of strings", path=where, field=f"{key}.{name}")
        out[name] = list(items)
    return out
