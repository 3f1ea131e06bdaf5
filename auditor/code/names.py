"""Name resolution and node lookup shared by the module rules.

`call_name` resolves a call through the module's own import table (`import torch as T; T.load` ->
"torch.load") and only when the root name is bound by an import or a definition: a parameter that
happens to be called `pickle` is not the pickle module, and `torchvision.load` is never `torch.load`.

`nodes_of` walks the tree once per module (shared by all rules through ctx.extras) and hands out the
nodes of the wanted types: one traversal, not one per rule.
"""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from auditor.code.walk import iter_nodes


def _bucket(tree: cst.CSTNode) -> dict[type, list[cst.CSTNode]]:
    by_type: dict[type, list[cst.CSTNode]] = {}
    for node in iter_nodes(tree):
        by_type.setdefault(type(node), []).append(node)
    return by_type


def nodes_of(ctx, *types: type) -> list[cst.CSTNode]:
    buckets = ctx.extras.get("_node_buckets")
    if buckets is None:
        buckets = ctx.extras["_node_buckets"] = _bucket(ctx.tree)
    if len(types) == 1:
        return buckets.get(types[0], [])
    found = [n for t in types for n in buckets.get(t, [])]
    return found


def walk_calls(tree_or_ctx) -> Iterator[cst.Call]:
    """Every call in the module (through the shared buckets when given a ModuleContext)."""
    if hasattr(tree_or_ctx, "extras"):
        yield from nodes_of(tree_or_ctx, cst.Call)
        return
    yield from _bucket(tree_or_ctx).get(cst.Call, [])


def _root(node: cst.BaseExpression) -> str | None:
    while isinstance(node, (cst.Attribute, cst.Call)):
        node = node.value if isinstance(node, cst.Attribute) else node.func
    return node.value if isinstance(node, cst.Name) else None


def call_name(ctx, call: cst.Call) -> str | None:
    """The qualified name of what is called, when its root is imported or defined in the module."""
    root = _root(call.func)
    if root is None or root not in ctx.aliases:
        return None
    return ctx.qualified_name(call.func)


def keyword(call: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


def is_literal(node: cst.BaseExpression | None, value: str) -> bool:
    """`True`, `False`, `None` as written."""
    return isinstance(node, cst.Name) and node.value == value
