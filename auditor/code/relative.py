"""Relative imports resolved against the importing module's dotted name (no libcst: the summary uses it)."""

from __future__ import annotations


def resolve_relative(module_name: str, is_package: bool, level: int, target: str | None) -> str:
    """`from ..a import b` inside pkg.sub.mod -> pkg.a (level counts the dots)."""
    parts = module_name.split(".") if module_name else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base
