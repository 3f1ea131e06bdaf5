"""A small statement walker: every compound statement with its enclosing function, loop and block.

Code rules need "what comes after this statement in its block" and "which loop / function is this in";
libcst's ParentNodeProvider answers node by node and costs a full metadata pass, this one walk is cheaper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import libcst as cst

LOOPS = (cst.For, cst.While)


@dataclass
class Place:
    node: cst.CSTNode  # a statement
    block: Sequence[cst.CSTNode]  # the statements of its block
    index: int  # its position in the block
    function: cst.FunctionDef | None  # innermost enclosing def
    loops: tuple[cst.CSTNode, ...]  # enclosing loops inside that def, outermost first
    loop_blocks: tuple[tuple[Sequence[cst.CSTNode], int], ...]  # for each loop: its own block and index

    @property
    def after(self) -> Sequence[cst.CSTNode]:
        return self.block[self.index + 1:]


def _blocks(node: cst.CSTNode) -> Iterator[Sequence[cst.CSTNode]]:
    """The statement blocks directly owned by a compound statement (body, else, handlers, finally)."""
    body = getattr(node, "body", None)
    if isinstance(body, cst.IndentedBlock):
        yield body.body
    elif isinstance(body, cst.SimpleStatementSuite):
        yield [body]
    for handler in getattr(node, "handlers", ()) or ():
        yield from _blocks(handler)
    for attr in ("orelse", "finalbody"):
        part = getattr(node, attr, None)
        if isinstance(part, cst.If):
            yield [part]  # elif: an If of its own
        elif part is not None:
            yield from _blocks(part)


def statements(module: cst.Module) -> Iterator[Place]:
    """Every statement in the module, depth first, in source order."""
    yield from _walk(module.body, None, (), ())


def _walk(block, function, loops, loop_blocks) -> Iterator[Place]:
    for index, stmt in enumerate(block):
        yield Place(stmt, block, index, function, loops, loop_blocks)
        if isinstance(stmt, cst.FunctionDef):
            for inner in _blocks(stmt):
                yield from _walk(inner, stmt, (), ())
        elif isinstance(stmt, cst.ClassDef):
            for inner in _blocks(stmt):
                yield from _walk(inner, None, (), ())
        elif isinstance(stmt, LOOPS):
            body = stmt.body.body if isinstance(stmt.body, cst.IndentedBlock) else [stmt.body]
            yield from _walk(body, function, loops + (stmt,), loop_blocks + ((block, index),))
            if stmt.orelse is not None:
                yield from _walk(stmt.orelse.body.body if isinstance(stmt.orelse.body, cst.IndentedBlock)
                                 else [stmt.orelse.body], function, loops, loop_blocks)
        elif isinstance(stmt, cst.BaseCompoundStatement):
            for inner in _blocks(stmt):
                yield from _walk(inner, function, loops, loop_blocks)


def small_statements(node: cst.CSTNode) -> Iterator[cst.BaseSmallStatement]:
    """Every small statement (assign, expr, return, break...) under a node, not inside nested defs."""
    if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
        return
    if isinstance(node, cst.BaseSmallStatement):
        yield node
        return
    for child in node.children:
        yield from small_statements(child)


# -- a fast read-only traversal ---------------------------------------------------------------------------
# libcst's CSTVisitor rebuilds every node it passes (its visit machinery is shared with transformers),
# which makes one traversal cost about as much as the parse itself. Reading the dataclass fields
# directly is several times cheaper; whitespace and punctuation nodes are skipped.

_SKIP_TYPES = (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline,
               cst.Comma, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket,
               cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Colon, cst.Dot, cst.Semicolon, cst.Comment,
               cst.BaseUnaryOp, cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseAugOp,
               cst.AssignEqual, cst.ImportStar)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields_of(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        import dataclasses

        names = tuple(f.name for f in dataclasses.fields(cls)
                      if not f.name.startswith(("whitespace", "leading_lines", "lines_after", "header", "footer",
                                                "lpar", "rpar", "comma", "semicolon", "trailing_whitespace")))
        _FIELDS[cls] = names
    return names


_KEEP: dict[type, bool] = {}  # concrete class -> a syntactic node to visit (libcst's bases are ABCs: slow isinstance)


def keep(cls: type) -> bool:
    """Is a value of this class a node `iter_nodes` visits (a CSTNode, not whitespace or punctuation)?"""
    kept = _KEEP.get(cls)
    if kept is None:
        kept = _KEEP[cls] = issubclass(cls, cst.CSTNode) and not issubclass(cls, _SKIP_TYPES)
    return kept


def iter_nodes(root: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every syntactic node under `root` (itself included), depth first (children in field order, which is
    not always source order: sort by position where order matters)."""
    stack = [root]
    pop, push, kept = stack.pop, stack.append, _KEEP.get
    while stack:
        node = pop()
        yield node
        children = []
        cls = node.__class__
        for name in _FIELDS.get(cls) or _fields_of(cls):
            value = getattr(node, name)
            vcls = value.__class__
            if vcls is list or vcls is tuple:
                children.extend(v for v in value if (kept(v.__class__) if v.__class__ in _KEEP else keep(v.__class__)))
            elif kept(vcls) if vcls in _KEEP else keep(vcls):
                children.append(value)
        for child in reversed(children):
            push(child)
