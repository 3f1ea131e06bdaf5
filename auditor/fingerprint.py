"""One fingerprint of what decides a command's findings, for every cache of findings (the code cache, the
nightly state): the source of the selected rules (plugin packs included), the source of the engine that
runs them, and the settings that change results. Edit a rule, bundled or plugin, and its cached verdicts
are gone without `--no-cache`.

Bundled rules are found by file name (auditor.registry.bundled_rule_files), so a warm scan does not import
rule modules (nor libcst) just to know what it would have run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterable

from auditor.sqlite_cache import source_fingerprint

SCHEMA = 1
# The engine every scope shares: findings, rule bases, the crash wrapper, the scope registry, the config.
COMMON = ("findings.py", "rule.py", "meta.py", "scopes.py", "config.py", "registry.py", "fingerprint.py")


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _package_folders(name: str) -> list[Path]:
    """The folders of an importable package, without running it; [] when it cannot be found."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(p) for p in spec.submodule_search_locations]
    return [Path(spec.origin).parent] if spec.origin else []


def _bundled_rule_files(scopes: Iterable[str], config) -> list[tuple[str, Path]]:
    from auditor.registry import bundled_rule_files

    return [(f"rules/{scope}/{path.name}", path) for scope, rule_id, path in bundled_rule_files(tuple(scopes))
            if rule_id is None or config.is_selected(rule_id)]  # helpers always count


_MEMO: dict[tuple, str] = {}  # a process reads the sources once (the nightly scans many SHAs)


def results_fingerprint(config, scopes: Iterable[str], engine: Iterable[str]) -> str:
    """`scopes`: the rule scopes whose findings are cached; `engine`: the parts of the auditor package (folders
    or files, relative to it; "" is all of it) that run them."""
    key = (tuple(sorted(scopes)), tuple(sorted(engine)), config.fingerprint())
    if key not in _MEMO:
        _MEMO[key] = _fingerprint(config, *key[:2])
    return _MEMO[key]


def _fingerprint(config, scopes: tuple[str, ...], engine: tuple[str, ...]) -> str:
    package = Path(__file__).parent
    files = [(name, package / name) for name in COMMON]
    for part in engine:
        target = package / part
        paths = _python_files(target) if target.is_dir() else [target]
        files += [(str(p.relative_to(package)), p) for p in paths]
    files += _bundled_rule_files(scopes, config)
    for plugin in sorted(config.plugins):  # a plugin pack whole: its rules and the helpers they import
        for folder in _package_folders(plugin):
            files += [(f"{plugin}/{p.relative_to(folder)}", p) for p in _python_files(folder)]
    return f"{source_fingerprint(SCHEMA, files)}:{config.fingerprint()}"


def code_fingerprint(config) -> str:
    """For the code cache: the code and meta rules and the scanner."""
    return results_fingerprint(config, ("code", "meta"), ("code",))


def nightly_fingerprint(config) -> str:
    """For the nightly state: every scope's rules and the whole auditor (readers, statistics, replay)."""
    from auditor.scopes import SCOPES

    return results_fingerprint(config, tuple(SCOPES), ("",))
