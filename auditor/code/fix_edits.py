"""Edits the rules' fixes share: statements inserted at the top of an entry point, RNG seeding, and the
statement surgery of the validation rules (splice, hoist an `else:`, drop a condition). Each works on a
FixSource (auditor/code/fix.py) and returns the edited FixSource, or raises CannotFix."""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from auditor.code.fix import CannotFix, Edit, FixSource, dotted_name


def statements_code(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code).body)


def insert_at_top(source: FixSource, line: int, code: str, after: str | None = None) -> FixSource:
    """The statements in `code` inserted at the top of the entry point on this line: a function's body
    (after its docstring), an `if __name__ == "__main__":` block, or before a script's first statement;
    with `after`, right after the statement of that body that binds the name (`args = parser.parse_args()`)."""
    new = statements_code(code)
    functions = _functions_at(source, line)
    guards = [n for n in source.at(line, cst.If) if _is_main_guard(n.test)]
    owner = functions[0] if functions else guards[0] if guards else None
    if owner is not None:
        if not isinstance(owner.body, cst.IndentedBlock):
            raise CannotFix("the entry point's body is on one line")
        body = list(owner.body.body)
        start = 1 if isinstance(owner, cst.FunctionDef) and body and _is_docstring(body[0]) else 0
        binding = next((i for i, stmt in enumerate(body) if after in _bound_at_top(stmt)), None) if after else None
        start = start if binding is None else binding + 1
        block = owner.body.with_changes(body=(*body[:start], *new, *body[start:]))
        return source.replace(owner.body, block)
    tops = [s for s in source.at(line, cst.BaseStatement) if isinstance(source.parent(s), cst.Module)]
    if not tops:
        raise CannotFix("no entry point starts on this line")
    module = source.parent(tops[0])
    body = list(module.body)
    index = next(i for i, s in enumerate(body) if s is tops[0])
    first = body[index]
    new[0] = new[0].with_changes(leading_lines=first.leading_lines)  # comments above stay above
    body[index] = first.with_changes(leading_lines=())
    return source.replace(module, module.with_changes(body=(*body[:index], *new, *body[index:])))


def _is_main_guard(test) -> bool:
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    sides = [test.left, test.comparisons[0].comparator]
    names = [s.value for s in sides if isinstance(s, cst.Name)]
    strings = [s.evaluated_value for s in sides if isinstance(s, cst.SimpleString)]
    return isinstance(test.comparisons[0].operator, cst.Equal) and names == ["__name__"] and strings == ["__main__"]


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))


# -- shared by the seed rules (RA110, RA111) ----------------------------------------------------------------

def seed_entry_point(source: FixSource, line: int, rngs: Iterable[str], default_seed) -> Edit:
    """Seed these RNGs ("python", "numpy", "torch", "cuda") at the top of the entry point on this line, with
    its seed argument (a `seed` parameter, or a `cfg.seed`-like setting of a parameter) or the default. An
    `if __name__ == "__main__":` block that calls a function of the module taking a seed argument is seeded
    in that function, where the argument is."""
    rngs = set(rngs)
    line, seed, after = _seed_target(source, line)
    seed = seed or repr(default_seed)
    code, imports = [], []
    for module, rng, call in (("random", "python", "{}.seed"), ("numpy", "numpy", "{}.random.seed"),
                              ("torch", "torch", "{}.manual_seed"), ("torch", "cuda", "{}.cuda.manual_seed_all")):
        if rng not in rngs or (rng == "cuda" and "torch" in rngs):  # torch.manual_seed seeds CUDA too
            continue
        name, needed = source.name_for(module)
        code.append(f"{call.format(name)}({seed})\n")
        imports.extend(needed)
    if not code:
        raise CannotFix("no RNG to seed")
    return Edit(insert_at_top(source, line, "".join(code), after), safe=False, imports=tuple(imports))


def _seed_target(source: FixSource, line: int) -> tuple[int, str | None, str | None]:
    """Where to seed (the line of an entry point), with what when the program has a seed argument, and the
    name whose binding the seeding must follow (`cfg = parser.parse_args()` before `cfg.seed` is read)."""
    function = next(iter(_functions_at(source, line)), None)
    if function is not None:
        return (line, *_seed_argument(function))
    guard = next((n for n in source.at(line, cst.If) if _is_main_guard(n.test)), None)
    if guard is not None:
        seed, after = _seed_argument(guard)
        if seed:
            return line, seed, after
        for stmt in guard.body.body if isinstance(guard.body, cst.IndentedBlock) else ():
            for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ():
                call = getattr(small, "value", None)
                where = source.function_line(call.func.value) if isinstance(call, cst.Call) and \
                    isinstance(call.func, cst.Name) else None
                called = next(iter(_functions_at(source, where)), None) if where else None
                seed, after = _seed_argument(called) if called is not None else (None, None)
                if seed:
                    return where, seed, after
    return line, None, None


def _seed_argument(owner: cst.FunctionDef | cst.If) -> tuple[str | None, str | None]:
    """(the seed, the name it is read from when the body binds that name first): a `seed` parameter; a
    setting of a parameter (`cfg.seed`, `args.train.seed`) or of a name bound at the top of the body
    (`args = parser.parse_args()` ... `args.seed`)."""
    params = [p.name.value for p in (*owner.params.posonly_params, *owner.params.params,
                                     *owner.params.kwonly_params)] if isinstance(owner, cst.FunctionDef) else []
    for wanted in ("seed", "random_seed"):
        if wanted in params:
            return wanted, None
    block = owner.body.body if isinstance(owner.body, cst.IndentedBlock) else ()
    bound = {name for stmt in block for name in _bound_at_top(stmt)}
    stack = [owner.body]
    while stack:  # read somewhere in the body
        node = stack.pop(0)
        if isinstance(node, cst.Attribute) and node.attr.value in ("seed", "random_seed"):
            dotted = dotted_name(node)
            head = dotted.split(".")[0] if dotted else None
            if head in params:
                return dotted, None
            if head in bound:
                return dotted, head
        stack.extend(node.children)
    return None, None


def _bound_at_top(stmt: cst.CSTNode) -> set[str]:
    """The plain names a statement of a block binds by assignment (`args = ...`, `cfg: Config = ...`)."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return set()
    targets = [t.target for small in stmt.body if isinstance(small, cst.Assign) for t in small.targets]
    targets += [small.target for small in stmt.body if isinstance(small, cst.AnnAssign) and small.value is not None]
    return {t.value for t in targets if isinstance(t, cst.Name)}


def _functions_at(source: FixSource, line: int) -> list[cst.FunctionDef]:
    """The functions whose `def` (their name) is on this line."""
    return [source.parent(n) for n in source.at(line, cst.Name)
            if isinstance(source.parent(n), cst.FunctionDef) and source.parent(n).name is n]


# -- statement surgery shared by the validation rules (RA101, RA102) ---------------------------------------

def own_comments(node) -> tuple:
    """Comment lines that belong to a compound statement's header: above it and at the end of its line."""
    lines = tuple(getattr(node, "leading_lines", ()))
    header = getattr(getattr(node, "body", None), "header", None)
    if header is not None and header.comment is not None:
        lines += (cst.EmptyLine(comment=header.comment),)
    return lines


def splice(source: FixSource, stmt, replacement: list, carried: tuple = ()) -> FixSource:
    """The statement replaced, in its block, by these statements (none: removed). `carried` comment lines are
    kept: above the first replacement, else above the next statement, else at the end of the block."""
    holder = source.parent(stmt)
    if not isinstance(holder, (cst.IndentedBlock, cst.Module)):
        raise CannotFix("the statement is not in a block of statements")
    body = list(holder.body)
    index = next(i for i, s in enumerate(body) if s is stmt)
    footer = tuple(holder.footer)
    replacement = list(replacement)
    if replacement:
        replacement[0] = replacement[0].with_changes(leading_lines=(*carried, *replacement[0].leading_lines))
    elif index + 1 < len(body):
        body[index + 1] = body[index + 1].with_changes(leading_lines=(*carried, *body[index + 1].leading_lines))
    else:
        footer = (*carried, *footer)
    body[index:index + 1] = replacement
    if not body:
        raise CannotFix("the block would be left empty")
    return source.replace(holder, holder.with_changes(body=tuple(body), footer=footer))


def hoist_else(source: FixSource, node: cst.If, body: list | None = None, carried: tuple = ()) -> FixSource:
    """`if c: A else: B` -> `if c: A` followed by B (B now runs every time); with `body`, A replaced by it,
    and the `if` left out when that is empty."""
    orelse = node.orelse
    if not isinstance(orelse, cst.Else) or not isinstance(orelse.body, cst.IndentedBlock) or orelse.body.footer:
        raise CannotFix("its `if` has no plain `else:` block to keep")
    if not isinstance(node.body, cst.IndentedBlock):
        raise CannotFix("its `if` is on one line")
    hoisted = list(orelse.body.body)
    hoisted[0] = hoisted[0].with_changes(leading_lines=(*own_comments(orelse), *hoisted[0].leading_lines))
    kept = list(node.body.body) if body is None else body
    if kept:
        kept_if = node.with_changes(body=node.body.with_changes(body=tuple(kept)), orelse=None)
        hoisted[0] = hoisted[0].with_changes(leading_lines=(*carried, *hoisted[0].leading_lines))
        return splice(source, node, [kept_if, *hoisted])
    return splice(source, node, hoisted, carried=(*own_comments(node), *carried))


def remove_from_if(source: FixSource, node: cst.If, small) -> FixSource:
    """One small statement taken out of the `if` block it is in; an `if` left with nothing to do goes, and its
    `else:` block then runs every time."""
    line = source.parent(small)
    if not isinstance(node.body, cst.IndentedBlock) or not any(s is line for s in node.body.body):
        raise CannotFix("the statement is not directly in its `if` block")
    kept, carried = [], ()
    for stmt in node.body.body:
        if stmt is not line:
            kept.append(stmt.with_changes(leading_lines=(*carried, *stmt.leading_lines)) if carried else stmt)
            carried = ()
        elif len(line.body) > 1:
            smalls = [s for s in line.body if s is not small]
            smalls[-1] = smalls[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            kept.append(line.with_changes(body=tuple(smalls)))
        else:
            carried = tuple(line.leading_lines)
    if isinstance(node.orelse, cst.Else):
        return hoist_else(source, node, kept, carried)
    if node.orelse is not None:
        raise CannotFix("its `if` has an `elif`")
    if kept:
        return source.replace(node.body, node.body.with_changes(body=tuple(kept), footer=(*carried, *node.body.footer)))
    return splice(source, node, [], carried=(*own_comments(node), *carried, *node.body.footer))


def move_to_end(source: FixSource, node) -> FixSource:
    """The statement moved to the end of its block."""
    holder = source.parent(node)
    if not isinstance(holder, cst.IndentedBlock) or holder.body[-1] is node:
        raise CannotFix("the statement is already last in its block")
    body = [s for s in holder.body if s is not node]
    return source.replace(holder, holder.with_changes(body=(*body, node)))


def drop_condition(source: FixSource, node: cst.If, part: str) -> FixSource:
    """`if a and <part>:` -> `if a:`; `if <part>:` -> its block, unconditionally."""
    if source.code(node.test) == part:
        if node.orelse is not None or not isinstance(node.body, cst.IndentedBlock) or node.body.footer:
            raise CannotFix("its `if` has an else branch or is on one line")
        return splice(source, node, list(node.body.body), carried=own_comments(node))
    test = _without(source, node.test, part)
    if test is None:
        raise CannotFix(f"`{part}` is not one of the conditions joined by `and`")
    changes = {"test": test}
    if not node.whitespace_before_test.value and not test.lpar:  # `if(a and b):` -> `if a:`
        changes["whitespace_before_test"] = cst.SimpleWhitespace(" ")
    return source.replace(node, node.with_changes(**changes))


def _without(source: FixSource, expr, part: str):
    if not (isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.And)):
        return None
    for keep, drop in ((expr.left, expr.right), (expr.right, expr.left)):
        if source.code(drop) == part:
            return keep.with_changes(lpar=expr.lpar, rpar=expr.rpar) if expr.lpar and not keep.lpar else keep
    for side in ("left", "right"):
        inner = _without(source, getattr(expr, side), part)
        if inner is not None:
            return expr.with_changes(**{side: inner})
    return None
