"""`audit config check`: validate the configuration and print the effective one (every key, defaults filled in)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from auditor.cli_common import config_option, get_config
from auditor.config import SECTIONS, Config
from auditor.errors import InputError


@click.group("config")
def config() -> None:
    """Check the configuration."""


@config.command("check")
@click.argument("path", required=False, type=click.Path(), default=None)
@config_option
def check(path, config_path) -> None:
    """Validate the configuration found from PATH (default: the current directory) and print it in effect."""
    settings = get_config(Path(path) if path else Path.cwd(), config_path)
    _check_rule_params(settings)
    where = settings.source or "no configuration file: the defaults"
    click.echo(f"# {where}\n{effective_toml(settings)}", nl=False)


def _check_rule_params(settings: Config) -> None:
    """Each [tool.auditor.rules.RAxxx] table must only set the parameters that rule has."""
    from auditor.registry import all_rule_classes

    rules = all_rule_classes(tuple(settings.plugins))
    for rule_id, params in sorted(settings.rule_params.items()):
        try:
            rules[rule_id](params)
        except ValueError as exc:
            raise InputError(str(exc), path=settings.source, field=f"rules.{rule_id}") from exc


def effective_toml(settings: Config) -> str:
    """The configuration in effect as a `[tool.auditor]` TOML table (unset optional keys as comments)."""
    top, tables = [], []
    for spec in dataclasses.fields(Config):
        value = getattr(settings, spec.name)
        if spec.name in ("root", "source") or spec.name in SECTIONS:
            continue
        if spec.name == "rule_params":
            tables += [(f"rules.{rid}", params) for rid, params in sorted(value.items())]
        elif isinstance(value, dict):
            tables.append((_key(spec.name), value))
        else:
            top.append(_line("cache-dir" if spec.name == "cache_dir_setting" else _key(spec.name), value))
    for name in SECTIONS:
        tables.append((name, {_key(k): v for k, v in dataclasses.asdict(getattr(settings, name)).items()}))
    out = ["[tool.auditor]", *top, ""]
    for name, table in tables:
        out += [f"[tool.auditor.{name}]", *[_line(str(k), v) for k, v in sorted(table.items())], ""]
    return "\n".join(out)


def _key(name: str) -> str:
    return name.replace("_", "-")


def _line(key: str, value: Any) -> str:
    quoted = key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)
    if value is None:
        return f"# {quoted} = (not set)"
    return f"{quoted} = {_toml(value)}"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in sorted(value.items())) + "}"
    return json.dumps(str(value))
