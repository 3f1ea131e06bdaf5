"""Second-stage prefilters on Python's `ast` (which the scan builds anyway for the syntax check and the
summary): a rule whose shapes are absent from the ast is not run, so libcst never parses the file.

Each rule's `applies_to_tree` must stay a superset of what its libcst check can flag.
"""

from __future__ import annotations

import ast
from typing import Iterator


def last_name(node: ast.AST) -> str | None:
    """`self.trainer.validate` -> "validate"; `evaluate` -> "evaluate" (auditor.code.patterns.last_identifier)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def nodes(tree: ast.AST, kinds) -> Iterator[ast.AST]:
    return (n for n in ast.walk(tree) if isinstance(n, kinds))


def called_names(node: ast.AST) -> Iterator[str]:
    """Last names of every call under `node` (nested defs included: a superset)."""
    for call in nodes(node, ast.Call):
        name = last_name(call.func)
        if name:
            yield name


def imported_as(tree: ast.AST, names: set[str]) -> set[str]:
    """Local names under which these names are imported (`from torch import save as s` -> "s")."""
    out = set()
    for node in nodes(tree, ast.ImportFrom):
        for alias in node.names:
            if alias.name in names:
                out.add(alias.asname or alias.name)
    return out


def identifiers_outside_calls(node: ast.AST) -> Iterator[str]:
    """Names and attribute names in an expression, not looking into calls or string constants."""
    todo = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, ast.Call):
            continue
        if isinstance(current, ast.Name):
            yield current.id
        elif isinstance(current, ast.Attribute):
            yield current.attr
        elif isinstance(current, ast.arg):
            yield current.arg
        todo.extend(ast.iter_child_nodes(current))


def identifiers(node: ast.AST) -> Iterator[str]:
    """Every Name and attribute name under `node` (auditor.code.patterns.identifiers)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr


def may_test_last_step(test: ast.AST) -> bool:
    """A superset of patterns.is_last_step_test / is_not_last_step_test: a last-step flag name anywhere in
    the condition, or a comparison involving a counter-like name."""
    from auditor.code.patterns import BOUND, COUNTER, LAST_FLAG

    if any(LAST_FLAG.match(name) for name in identifiers(test)):
        return True
    for cmp in nodes(test, ast.Compare):
        names = [name.lower() for name in identifiers(cmp)]
        if any(COUNTER.search(name) for name in names) and (
                any(BOUND.search(name) for name in names)
                or any(isinstance(b.op, ast.Sub) for b in nodes(cmp, ast.BinOp))):
            return True  # a counter against a bound (`len(...)`, `total_*`, `x - 1`)
    return False


def calls_validation(node: ast.AST, configured: list[str]) -> bool:
    from auditor.code.patterns import is_validation_name

    return any(is_validation_name(name, configured) for name in called_names(node))
