"""Start positions of every node, computed in one code-generation pass.

Same numbers as libcst's PositionProvider (syntactic start: line 1-based, column 0-based), at about a
third of its cost: PositionProvider builds CodePosition/CodeRange objects and runs a regex split on
every token, and the metadata wrapper adds its own pass. Code rules and the project summary ask for
many positions per file, so this is on the hot path of a cold scan.
"""

from __future__ import annotations

import re

import libcst as cst

_NEWLINE = re.compile(r"\r\n?|\n")


class _Recorder:
    __slots__ = ("state", "node", "start_node", "start")

    def __init__(self, state: "_PositionState", node, start_node):
        self.state, self.node, self.start_node = state, node, start_node

    def __enter__(self):
        self.start = (self.state.line, self.state.column)

    def __exit__(self, *exc):
        computed = self.state.computed
        computed[self.node] = computed[self.start_node] if self.start_node is not None else self.start
        return False


class _PositionState:
    """Duck-types libcst's CodegenState: tracks line/column instead of collecting the code."""

    __slots__ = ("default_indent", "default_newline", "provider", "indent_tokens", "tokens", "code", "indented", "line", "column",
                 "computed", "_stack", "_indent_width")

    def __init__(self, module: cst.Module):
        self.default_indent = module.default_indent
        self.default_newline = module.default_newline
        self.provider = None
        self.indent_tokens: list[str] = []
        self.tokens: list[str] = []  # unused (Module's codegen looks at it): kept empty, as it always was
        self.code: list[str] | None = None  # the code, when asked for (see node_start)
        self.indented = False  # indentation was added (never inside a single-line expression)
        self.line, self.column = 1, 0
        self.computed: dict[cst.CSTNode, tuple[int, int]] = {}
        self._stack: list[tuple[int, int]] = []
        self._indent_width = 0

    def increase_indent(self, value: str) -> None:
        self.indent_tokens.append(value)
        self._indent_width += len(value)

    def decrease_indent(self) -> None:
        self._indent_width -= len(self.indent_tokens.pop())

    def add_indent_tokens(self) -> None:
        self.indented = True
        self.column += self._indent_width

    def add_token(self, value: str) -> None:
        if self.code is not None:
            self.code.append(value)
        if "\n" in value or "\r" in value:
            segments = _NEWLINE.split(value)
            self.line += len(segments) - 1
            self.column = len(segments[-1])
        else:
            self.column += len(value)

    def before_codegen(self, node) -> None:
        self._stack.append((self.line, self.column))

    def after_codegen(self, node) -> None:
        start = self._stack.pop()
        if node not in self.computed:
            self.computed[node] = start

    def pop_trailing_newline(self) -> None:
        pass  # only changes the text, never a node's start

    def record_syntactic_position(self, node, *, start_node=None, end_node=None) -> _Recorder:
        return _Recorder(self, node, start_node)


def start_positions(module: cst.Module) -> dict[cst.CSTNode, tuple[int, int]]:
    state = _PositionState(module)
    module._codegen(state)
    return state.computed


def node_start(module: cst.Module, source: str, node: cst.CSTNode) -> tuple[int, int] | None:
    """The start of one expression without a pass over the whole module, or None when that cannot be
    told for sure (then use start_positions).

    The node's own code is generated (with its start relative to that code) and looked up in the source:
    a single-line expression is written the same in the module as on its own (indentation is only added
    after a newline), so when its code occurs exactly once in the source, that occurrence is the node.
    """
    if not isinstance(node, cst.BaseExpression) or "\r" in source:
        return None
    state = _PositionState(module)
    state.code = []
    node._codegen(state)
    code = "".join(state.code)
    if not code or "\n" in code or state.indented:
        return None
    offset = source.find(code)
    if offset < 0 or source.find(code, offset + 1) >= 0:
        return None
    line_start = source.rfind("\n", 0, offset) + 1
    _, column = state.computed[node]  # on the node's first (only) line
    return source.count("\n", 0, offset) + 1, offset - line_start + column
