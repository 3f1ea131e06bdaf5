"""Discovers rules from the bundled pack (`rules/`, installed as `auditor.rules`) and plugin packs."""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache
from pathlib import Path

from auditor.errors import InputError
from auditor.rule import Rule


def _rule_classes_in(package_name: str) -> list[type[Rule]]:
    package = importlib.import_module(package_name)
    found = []
    for info in pkgutil.walk_packages(package.__path__, package_name + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value.id and value.__module__ == module.__name__:
                found.append(value)
    return found


@lru_cache(maxsize=None)
def all_rule_classes(plugins: tuple[str, ...] = ()) -> dict[str, type[Rule]]:
    rules: dict[str, type[Rule]] = {}
    for package_name in ("auditor.rules", *plugins):
        try:
            classes = _rule_classes_in(package_name)
        except ImportError as exc:
            raise InputError(f"cannot import rule pack {package_name!r}: {exc}") from exc
        for cls in classes:
            if cls.id in rules and rules[cls.id] is not cls:
                raise InputError(f"rule id {cls.id} is defined twice ({rules[cls.id].__module__}, {cls.__module__})")
            rules[cls.id] = cls
    return dict(sorted(rules.items()))


def bundled_rule_files(scopes: tuple[str, ...] | None = None) -> list[tuple[str, str | None, Path]]:
    """(scope, rule id, path) of every module of the bundled pack's scope folders, without importing them:
    `rules/<scope>/raNNN_*.py` is rule RANNN; the id is None for any other module (a helper)."""
    import auditor.rules

    found = []
    for root in auditor.rules.__path__:
        for folder in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("_")):
            if scopes is not None and folder.name not in scopes:
                continue
            for path in sorted(folder.rglob("*.py")):
                match = re.fullmatch(r"ra(\d+)_\w+\.py", path.name)
                found.append((folder.name, f"RA{match.group(1)}" if match else None, path))
    return found


def known_rule_ids(plugins: tuple[str, ...] = ()) -> set[str]:
    """Every rule id: the bundled ones from their file names (no import), the plugin packs' by importing them."""
    known = {rule_id for _, rule_id, _ in bundled_rule_files() if rule_id}
    if plugins:
        known |= set(all_rule_classes(plugins))
    return known


def rule_class(rule_id: str, plugins: tuple[str, ...] = ()) -> type[Rule]:
    rules = all_rule_classes(plugins)
    wanted = rule_id.upper()
    for cls in rules.values():
        if wanted == cls.id or rule_id == cls.name:
            return cls
    raise InputError(f"unknown rule {rule_id!r}; `audit rules` lists them")


def selected_rules(config, scope: str | None = None) -> list[Rule]:
    """Instances of the rules the configuration selects, with their parameters and severities."""
    chosen = []
    for rule_id, cls in all_rule_classes(tuple(config.plugins)).items():
        if scope and cls.scope != scope:
            continue
        if not config.is_selected(rule_id):
            continue
        try:
            chosen.append(cls(config.rule_params.get(rule_id), config.severity.get(rule_id)))
        except ValueError as exc:
            raise InputError(str(exc), path=config.source) from exc
    return chosen


@lru_cache(maxsize=None)
def scope_rule_classes(scopes: tuple[str, ...], plugins: tuple[str, ...] = ()) -> dict[str, type[Rule]]:
    """The rules of some scopes only, importing just `rules/<scope>/` of the bundled pack (plugin packs whole).

    `audit scan` uses it so that a scan never imports the run/compare/replay machinery.
    """
    rules: dict[str, type[Rule]] = {}
    for package_name in (*[f"auditor.rules.{scope}" for scope in scopes], *plugins):
        try:
            classes = _rule_classes_in(package_name)
        except ImportError as exc:
            raise InputError(f"cannot import rule pack {package_name!r}: {exc}") from exc
        for cls in classes:
            if cls.scope in scopes:
                rules[cls.id] = cls
    return dict(sorted(rules.items()))
