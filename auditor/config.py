"""`[tool.auditor]` in pyproject.toml, or auditor.yaml: selection, severities, project names, key map.

Keys may be spelled with dashes or underscores. Unknown keys are an input error naming the file.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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

_LIST_KEYS = ("select", "ignore", "exclude", "seed_helpers", "validation_functions", "quant_hooks",
              "entry_points", "plugins", "diagnostic_flags", "results")
_KNOWN_KEYS = set(_LIST_KEYS) | {"per_path_ignores", "severity", "fail_on", "key_map", "rules", "cache_dir",
                                 "compare", "replay", "docs", "runs", "nightly", "scan"}


def _snake(key: str) -> str:
    return key.replace("-", "_")


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
    rule_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # compare/replay/docs/runs/nightly/scan
    cache_dir_setting: str | None = None

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

    def section(self, name: str) -> dict[str, Any]:
        return self.sections.get(name, {})

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


def find_config_file(start: Path) -> Path | None:
    start = start.resolve()
    for folder in [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]:
        yaml_file = folder / "auditor.yaml"
        if yaml_file.is_file():
            return yaml_file
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _pyproject_section(pyproject) is not None:
            return pyproject
        if (folder / ".git").exists():
            break
    return None


def _pyproject_section(path: Path) -> dict | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", path=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"invalid TOML: {exc}", path=str(path)) from exc
    return data.get("tool", {}).get("auditor")


def load_config(start: Path | str | None = None, explicit: Path | str | None = None) -> Config:
    """The configuration for a scan rooted at `start` (or the file named by `--config`)."""
    start = Path(start or Path.cwd())
    path = Path(explicit) if explicit else find_config_file(start)
    if path is None:
        return Config(root=start.resolve() if start.is_dir() else start.resolve().parent)
    if not path.is_file():
        raise InputError("configuration file not found", path=str(path))
    if path.name.endswith(".toml"):
        raw = _pyproject_section(path) or {}
    else:
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            line = getattr(getattr(exc, "problem_mark", None), "line", None)
            raise InputError(f"invalid YAML: {exc}", path=str(path), line=line + 1 if line is not None else None) from exc
        raw = raw.get("auditor", raw) if isinstance(raw, dict) else raw
    return parse_config(raw, path)


def parse_config(raw: Any, path: Path) -> Config:
    where = str(path)
    if not isinstance(raw, dict):
        raise InputError("the auditor configuration must be a table/mapping", path=where)
    config = Config(root=path.resolve().parent, source=where)
    for key, value in raw.items():
        name = _snake(key)
        if name not in _KNOWN_KEYS:
            raise InputError(f"unknown setting {key!r}", path=where, field=f"tool.auditor.{key}")
        if name in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError("must be a list of strings", path=where, field=key)
            default = getattr(config, name)
            # The project's own names extend the defaults; selection lists replace them.
            extend = name in ("seed_helpers", "validation_functions", "quant_hooks")
            setattr(config, name, sorted(set(default) | set(value)) if extend else list(value))
        elif name == "per_path_ignores":
            config.per_path_ignores = _mapping_of_lists(value, where, key)
        elif name == "key_map":
            for meaning, keys in _mapping_of_lists(value, where, key).items():
                config.key_map[meaning] = keys
        elif name == "severity":
            if not isinstance(value, dict):
                raise InputError("must be a table of RULE = severity", path=where, field=key)
            for rule_id, level in value.items():
                if level not in SEVERITIES:
                    raise InputError(f"severity must be one of {', '.join(SEVERITIES)}", path=where, field=f"{key}.{rule_id}")
                config.severity[rule_id.upper()] = level
        elif name == "fail_on":
            if value not in SEVERITIES:
                raise InputError(f"must be one of {', '.join(SEVERITIES)}", path=where, field=key)
            config.fail_on = value
        elif name == "rules":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise InputError("must be a table of RULE = {param = value}", path=where, field=key)
            config.rule_params = {rid.upper(): dict(params) for rid, params in value.items()}
        elif name == "cache_dir":
            config.cache_dir_setting = str(value)
        else:
            if not isinstance(value, dict):
                raise InputError("must be a table", path=where, field=key)
            config.sections[name] = {_snake(k): v for k, v in value.items()}
    return config


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
