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
    """The nodes of these kinds under `tree`, in the order of `ast.walk`."""
    if isinstance(tree, ast.Module) and all(issubclass(k, ast.stmt) for k in (kinds if isinstance(kinds, tuple)
                                                                               else (kinds,))):
        return (n for n in statements(tree) if isinstance(n, kinds))  # the same order, far fewer nodes
    return (n for n in ast.walk(tree) if isinstance(n, kinds))


_BLOCK_FIELDS = ("body", "handlers", "orelse", "finalbody", "cases")  # in the order of every node's _fields
# The nodes that hold statements, and their fields that do (every item of such a field is statement-level).
_BLOCKS = {cls: tuple(f for f in _BLOCK_FIELDS if f in cls._fields) for cls in (
    ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While, ast.If,
    ast.With, ast.AsyncWith, ast.Match, ast.Try, getattr(ast, "TryStar", ast.Try), ast.ExceptHandler, ast.match_case)}
_LAST: list = [None, []]  # the last tree asked about, and its statements


def statements(tree: ast.AST) -> list[ast.AST]:
    """The statement-level nodes under `tree` (itself included), in the order of `ast.walk` (breadth first),
    without entering expressions, which hold no statements and are most of a module's nodes. The list of
    the last tree is kept: the tree prefilters of several rules and the summary's import table share it."""
    if _LAST[0] is tree:
        return _LAST[1]
    found, i, blocks = [tree], 0, _BLOCKS.get
    while i < len(found):
        node = found[i]
        i += 1
        fields = blocks(node.__class__)
        if fields:
            for name in fields:
                found.extend(getattr(node, name))
    _LAST[0], _LAST[1] = tree, found
    return found


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


# -- the last-step recognizers of auditor/code/patterns.py, on the ast ---------------------------------------

def last_identifier(node: ast.AST) -> str | None:
    """patterns.last_identifier: `self.cfg.freq` -> "freq"; `len(x)` -> "len"; `xs[0]` -> "xs"."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return node.attr
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            return None


def _is_int(node: ast.AST, value: int | None = None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and (value is None or node.value == value)


def _strip_offset(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)) and _is_int(node.right):
        node = node.left
    return node


def _is_counter(node: ast.AST) -> bool:
    from auditor.code.patterns import BOUND, COUNTER

    name = last_identifier(_strip_offset(node))
    return bool(name) and COUNTER.search(name.lower()) is not None and not BOUND.search(name.lower())


def _is_bound(node: ast.AST) -> bool:
    from auditor.code.patterns import BOUND

    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub) and _is_int(node.right, 1) \
            and isinstance(node.left, (ast.Name, ast.Attribute, ast.Call)):
        return True
    node = _strip_offset(node)
    if isinstance(node, ast.Call) and last_identifier(node.func) == "len":
        return True
    return any(BOUND.search(name.lower()) for name in identifiers(node))


def is_last_step_test(node: ast.AST) -> bool:
    """patterns.is_last_step_test on the ast."""
    from auditor.code.patterns import LAST_FLAG

    if isinstance(node, ast.BoolOp):
        return isinstance(node.op, ast.And) and any(is_last_step_test(v) for v in node.values)
    if isinstance(node, ast.Compare):
        if len(node.ops) != 1:
            return False
        op, left, right = node.ops[0], node.left, node.comparators[0]
        if isinstance(op, (ast.Eq, ast.GtE)):
            return _is_counter(left) and _is_bound(right)
        if isinstance(op, ast.LtE):
            return _is_bound(left) and _is_counter(right)
        if isinstance(op, ast.Gt):
            return _is_counter(left) and _is_bound(right) and isinstance(right, ast.BinOp)
        return False
    name = last_identifier(node) if isinstance(node, (ast.Name, ast.Attribute, ast.Call)) else None
    return bool(name) and LAST_FLAG.match(name) is not None


def is_not_last_step_test(node: ast.AST) -> bool:
    """patterns.is_not_last_step_test on the ast."""
    if isinstance(node, ast.BoolOp):
        return isinstance(node.op, ast.And) and any(is_not_last_step_test(v) for v in node.values)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.Not) and is_last_step_test(node.operand)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op, left, right = node.ops[0], node.left, node.comparators[0]
        if isinstance(op, ast.NotEq):
            return (_is_counter(left) and _is_bound(right)) or (_is_bound(left) and _is_counter(right))
        if isinstance(op, ast.Lt) and isinstance(right, ast.BinOp):
            return _is_counter(left) and _is_bound(right)
    return False
