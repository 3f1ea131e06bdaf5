"""Small inputs must not cost without bound: YAML aliases (a 740-byte "billion laughs" expands to billions of
nodes) and nesting so deep that any later json.dumps, pickle or recursive walk of the value overflows.

Both are measured without recursion, before the value is built (YAML) or right after it is parsed (JSON),
so a hostile record is one clear read error instead of minutes of CPU, gigabytes, or a crash far later.
"""

from __future__ import annotations

from typing import Any

MAX_ALIAS_NODES = 2_000_000  # values that aliases may add beyond those written out (a large record is fine)
MAX_DEPTH = 100  # far deeper than any real config (Hydra's deepest are ~10), far below Python's recursion limit


def yaml_problem(root, max_alias_nodes: int = MAX_ALIAS_NODES, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a composed YAML node graph is refused (aliases expanding to too many more values than written,
    too deep, an alias that contains itself), or None. Linear in the number of distinct nodes."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > max_alias_nodes + len(size):
                return f"YAML aliases expand to more than {max_alias_nodes} extra values (an alias bomb?): not read"
            if depth[key] > max_depth:
                return f"nested more than {max_depth} levels deep: not read"
            continue
        if key in size:
            continue
        if key in on_path:
            return "a YAML alias that contains itself: not read"
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in size)
        if len(on_path) > max_depth:
            return f"nested more than {max_depth} levels deep: not read"
    return None


def _children(node) -> list:
    value = getattr(node, "value", None)
    if not isinstance(value, list):
        return []  # a scalar
    if value and isinstance(value[0], tuple):  # a mapping: (key, value) pairs
        return [part for pair in value for part in pair]
    return value


def depth_problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """Why a parsed value (JSON) is refused for its nesting, or None."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > max_depth:
            return f"nested more than {max_depth} levels deep: not read"
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return None
