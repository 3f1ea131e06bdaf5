"""`audit scan --fix`, `--unsafe-fixes`, `--diff-fixes` and `--add-ignore`: lossless edits on libcst trees.

A rule offers a fix with a `fix(finding, source)` method (at the end of its class, with `fixes` examples):
it finds again, in `source` (a FixSource: one file's libcst tree with positions and parents), the node
the finding points at (its line and column, and its evidence) and returns an Edit: the new tree and
whether the change keeps the program's behaviour (safe) or not. It raises CannotFix when it cannot find
that node safely (the finding stays, reported as not fixed), and returns None for a kind of finding it
has no fix for. Comments, formatting and unrelated code come through byte-identical: libcst keeps them.

In a file, fixes run from its last finding up, so a fix never moves the lines of the findings still to
come; modules a fix needs imported are added once, at the end. `--add-ignore` is one more edit of the
same kind: a `# audit: ignore[...]` comment at the end of a finding's line.

Writes are atomic (a temporary file beside the target, then a rename), only into files the user asked
to scan, never through a symlink and never inside a results folder (a run's saved copy of the code).
"""

from __future__ import annotations

import ast
import bisect
import difflib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.code.sources import source_encoding
from auditor.code.suppress import MARKER
from auditor.code.top_level import top_level_spans
from auditor.findings import Finding

if TYPE_CHECKING:
    import libcst as cst

DEFAULT_IGNORE_REASON = "accepted when adopting the auditor: say why"
NO_IGNORE = ("RA001", "RA002", "RA003")  # a file that cannot be read, and the suppressions themselves
# Folders that hold runs (and the copies of the code they saved): never written into.
RUN_FOLDER_NAMES = frozenset({"wandb", "mlruns", "multirun", ".guild"})
RUN_RECORD_FILES = frozenset({"run.json", "wandb-metadata.json", "mlflow.db", ".hydra"})


class CannotFix(Exception):
    """The fixer cannot find what the finding points at, or cannot change it safely; says why."""


@dataclass
class Edit:
    source: FixSource  # the file after the fix
    safe: bool  # True: keeps the program's behaviour (`--fix`); False: only with `--unsafe-fixes`
    imports: tuple[str, ...] = ()  # modules to `import` at the top of the file, added after the last fix


@dataclass
class FileFix:
    """What fixing one file did."""
    path: str
    full: Path
    before: str = ""
    after: str = ""
    encoding: str = "utf-8"  # the file's (sources.source_encoding): written back in it
    fixed: list[Finding] = field(default_factory=list)
    unsafe: list[Finding] = field(default_factory=list)  # fixable with --unsafe-fixes
    failed: list[tuple[Finding, str]] = field(default_factory=list)  # a fix exists but could not be applied
    ignored: list[Finding] = field(default_factory=list)  # an ignore comment was added

    @property
    def changed(self) -> bool:
        return self.after != self.before


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


class FixSource:
    """One file, for fixes to find the node a finding points at and edit it with libcst.

    Only the top-level statement holding a line is parsed with libcst (its own small module: comments and
    blank lines above a statement belong to it, as in libcst), on demand: a fix in a 2,000-line file then
    costs a parse of the function it is in. The file's text tells where its top-level statements are
    (auditor/code/top_level.py; Python's `ast` when it cannot), and `ast` answers module-wide questions
    (what is imported, where a function is defined). Edits return a new FixSource."""

    def __init__(self, text: str):
        self.text = text
        self._tree: ast.Module | None = None  # parsed when first needed: the last edit's result is only text
        self._starts: list[int] | None = None
        self._parsed: dict[int, _Chunk] = {}
        self._owner: dict[int, int] = {}  # id(node) -> its chunk, for nodes found through `at`

    def _split(self) -> None:
        """The file cut into chunks (the first line of each, 1-based): from its text when top_level can tell,
        else from Python's parse of it."""
        if self._starts is None:
            self._lines = _LINE.findall(self.text)
            spans = top_level_spans(self.text)
            if spans is None:
                spans = [(_first_line(stmt), stmt.end_lineno or stmt.lineno) for stmt in self.tree.body]
            self._starts = _chunk_starts(spans, len(self._lines))

    @property
    def tree(self) -> ast.Module:
        """Python's parse of the file, for module-wide questions."""
        if self._tree is None:
            self._tree = ast.parse(self.text)
        return self._tree

    # -- chunks -------------------------------------------------------------------------------------------
    def _chunk_index(self, line: int) -> int:
        self._split()
        return max(0, bisect.bisect_right(self._starts, line) - 1)

    def _chunk(self, index: int) -> _Chunk:
        if index not in self._parsed:
            first = self._starts[index]
            last = self._starts[index + 1] - 1 if index + 1 < len(self._starts) else len(self._lines)
            module = _libcst().parse_module("".join(self._lines[first - 1:last]))
            chunk = _Chunk(index, first - 1, module)
            self._parsed[index] = chunk
            for node in chunk.positions:
                self._owner[id(node)] = index
            self._owner[id(module)] = index
        return self._parsed[index]

    def module_of(self, node: cst.CSTNode) -> cst.Module:
        """The libcst module (one top-level statement and the comments above it) holding this node."""
        return self._parsed[self._owner[id(node)]].module

    # -- finding nodes --------------------------------------------------------------------------------------
    def at(self, line: int, kind: type | tuple[type, ...] | None = None, col: int | None = None) -> list:
        """Nodes of this kind (default: any) starting on this line, in source order; those starting at `col`
        when any do."""
        kind = kind or _libcst().CSTNode
        chunk = self._chunk(self._chunk_index(line))
        hits = [(pos.start.column, node) for node, pos in chunk.positions.items()
                if pos.start.line + chunk.offset == line and isinstance(node, kind)]
        hits.sort(key=lambda item: item[0])
        exact = [node for column, node in hits if column == col]
        return exact or [node for _, node in hits]

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self._parsed[self._owner[id(node)]].parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterable[cst.CSTNode]:
        parent = self.parent(node)
        while parent is not None:
            yield parent
            parent = self.parent(parent)

    def enclosing(self, node: cst.CSTNode, kind: type | tuple[type, ...]) -> cst.CSTNode | None:
        return next((a for a in self.ancestors(node) if isinstance(a, kind)), None)

    def code(self, node: cst.CSTNode) -> str:
        """The node's code with its whitespace normalized (how findings quote conditions)."""
        return " ".join(_libcst().Module(body=()).code_for_node(node).split())

    # -- editing --------------------------------------------------------------------------------------------
    def replace(self, old: cst.CSTNode, new) -> FixSource:
        """The file with `old` replaced by `new` (a node, cst.RemoveFromParent() or a cst.FlattenSentinel; `old`
        may be the module `module_of` gave)."""
        chunk = self._parsed[self._owner[id(old)]]
        module = new if old is chunk.module else chunk.module.deep_replace(old, new)
        return self._with_chunk(chunk.index, module.code)

    def _with_chunk(self, index: int, code: str) -> FixSource:
        first = self._starts[index]
        last = self._starts[index + 1] - 1 if index + 1 < len(self._starts) else len(self._lines)
        return FixSource("".join(self._lines[:first - 1]) + code + "".join(self._lines[last:]))

    def with_imports(self, names: Iterable[str]) -> FixSource:
        """`import name` for each, after the module's leading imports (LibCST's AddImportsVisitor, run on the
        part of the file up to its last leading import only)."""
        wanted = sorted(set(names))
        if not wanted:
            return self
        from libcst.codemod import CodemodContext
        from libcst.codemod.visitors import AddImportsVisitor

        self._split()
        count = 0
        for stmt in self.tree.body:
            if not (isinstance(stmt, (ast.Import, ast.ImportFrom)) or (count == 0 and _is_ast_docstring(stmt))):
                break
            count += 1
        last = self._chunk_index(self.tree.body[count - 1].lineno) if count else 0
        end = self._starts[last + 1] - 1 if last + 1 < len(self._starts) else len(self._lines)
        head = _libcst().parse_module("".join(self._lines[:end]))
        context = CodemodContext()
        for name in wanted:
            AddImportsVisitor.add_needed_import(context, name)
        head = AddImportsVisitor(context).transform_module(head)
        return FixSource(head.code + "".join(self._lines[end:]))

    def binding(self, module_name: str) -> str | None:
        """The name a module-level `import module_name` (or `import module_name as x`) binds, if any."""
        for stmt in self.tree.body:
            for alias in stmt.names if isinstance(stmt, ast.Import) else ():
                if alias.asname is not None and alias.name == module_name:
                    return alias.asname
                if alias.asname is None and alias.name.split(".")[0] == module_name:
                    return module_name
        return None

    def name_for(self, module_name: str) -> tuple[str, tuple[str, ...]]:
        """How to refer to a module here, and the imports that needs (none when it is imported already)."""
        bound = self.binding(module_name)
        return (bound, ()) if bound else (module_name, (module_name,))

    def function_line(self, name: str) -> int | None:
        """The `def` line of a module-level function."""
        return next((s.lineno for s in self.tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and s.name == name), None)

    def count_names(self, name: str) -> int:
        """How often this name occurs in the whole file (loads and stores)."""
        return sum(1 for n in ast.walk(self.tree) if isinstance(n, ast.Name) and n.id == name)


@dataclass
class _Chunk:
    index: int
    offset: int  # lines before it in the file
    module: cst.Module
    positions: dict = field(init=False)
    parents: dict = field(init=False)

    def __post_init__(self):
        from libcst.metadata import MetadataWrapper, PositionProvider

        self.positions = MetadataWrapper(self.module, unsafe_skip_copy=True).resolve(PositionProvider)
        self.parents = {}  # a walk over `children`: 3x cheaper than libcst's ParentNodeProvider
        stack = [self.module]
        while stack:
            node = stack.pop()
            for child in node.children:
                self.parents[child] = node
                stack.append(child)


def _first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])


def _chunk_starts(spans: list[tuple[int, int]], line_count: int) -> list[int]:
    """The first line of each top-level statement's chunk, from the statements' (first, last) lines: the line
    after the previous statement ends (statements sharing a line share a chunk)."""
    starts, end = [1], 0
    for first, last in spans:
        if end and first > end:
            starts.append(end + 1)
        end = max(end, last)
    return [s for s in starts if s <= max(line_count, 1)]


def _is_ast_docstring(stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _libcst():
    """libcst, imported on first use: a scan that has nothing to fix never loads it (about 0.3 s)."""
    import libcst

    return libcst


def dotted_name(node) -> str | None:
    cst = _libcst()
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def last_name(node) -> str | None:
    """`load` of `torch.load`, `T.load` and `load`."""
    cst = _libcst()
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


# -- --add-ignore -------------------------------------------------------------------------------------------

def add_ignore(source: FixSource, line: int, rule_ids: list[str], reason: str) -> FixSource | None:
    """`# audit: ignore[IDS] reason` at the end of this line, merged into a suppression already there; None
    when the line cannot end in a comment (inside a string, a backslash continuation)."""
    cst = _libcst()
    ends = source.at(line, cst.TrailingWhitespace)
    if not ends:
        return None
    end = ends[0]
    ids = sorted(set(rule_ids))
    if end.comment is None:
        new = end.with_changes(whitespace=cst.SimpleWhitespace("  "),
                               comment=cst.Comment(f"# audit: ignore[{','.join(ids)}] {reason}"))
        return source.replace(end, new)
    text = end.comment.value
    match = MARKER.search(text)
    if match:
        written = [w.strip() for w in match.group(1).split(",") if w.strip()]
        merged = written + [i for i in ids if i not in written]
        text = f"{text[:match.start(1)]}{','.join(merged)}{text[match.end(1):]}"
    else:
        text = f"{text}  # audit: ignore[{','.join(ids)}] {reason}"
    return source.replace(end.comment, cst.Comment(text))


# -- one file ---------------------------------------------------------------------------------------------

def fix_file(path: str, full: Path, findings: list[Finding], fixers: dict, *, fix: bool, unsafe: bool,
             ignore_reason: str | None) -> FileFix:
    """Apply the fixes (and ignore comments) for one file's findings, in memory."""
    result = FileFix(path, full)
    data = full.read_bytes()
    result.encoding = source_encoding(data)  # the scan read it: its encoding is one Python knows
    result.before = data.decode(result.encoding)
    try:
        source = FixSource(result.before)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        why = f"does not parse: {getattr(exc, 'msg', None) or type(exc).__name__}"
        result.failed = [(f, why) for f in findings if fix and f.rule in fixers]
        result.after = result.before
        return result
    imports: list[str] = []
    by_line: dict[int, list[Finding]] = {}
    for f in findings:
        by_line.setdefault(f.location.line or 0, []).append(f)
    for line in sorted(by_line, reverse=True):
        left = []
        for f in sorted(by_line[line], key=lambda f: (-(f.location.col or 0), f.rule, f.message)):
            edit = _try_fix(f, fixers, source, result) if fix else None
            if edit is None:
                left.append(f)
            elif not edit.safe and not unsafe:
                result.unsafe.append(f)
                left.append(f)
            else:
                source = edit.source
                imports.extend(edit.imports)
                result.fixed.append(f)
        wanted = [f for f in left if f.rule not in NO_IGNORE]
        if ignore_reason is not None and wanted and line > 0:
            ignored = add_ignore(source, line, [f.rule for f in wanted], ignore_reason)
            if ignored is None:
                result.failed.extend((f, "no place for a comment at the end of its line") for f in wanted)
            else:
                source = ignored
                result.ignored.extend(wanted)
    result.after = source.with_imports(imports).text
    try:
        result.after.encode(result.encoding)
    except UnicodeEncodeError:  # an ignore comment's reason the file's encoding (latin-1...) cannot hold
        why = f"the fixed text cannot be written in the file's encoding ({result.encoding})"
        result.failed += [(f, why) for f in result.fixed + result.ignored]
        result.fixed, result.ignored, result.after = [], [], result.before
    return result


def _try_fix(finding: Finding, fixers: dict, source: FixSource, result: FileFix) -> Edit | None:
    rule = fixers.get(finding.rule)
    if rule is None:
        return None
    try:
        edit = rule.fix(finding, source)
    except CannotFix as exc:
        result.failed.append((finding, str(exc)))
        return None
    except _libcst().ParserSyntaxError as exc:  # the part of the file holding it does not parse alone
        result.failed.append((finding, f"its statement does not parse: {exc.message}"))
        return None
    except Exception as exc:  # a fixer's bug leaves the finding, and the other fixes still run
        if os.environ.get("AUDITOR_DEBUG"):
            raise
        result.failed.append((finding, f"internal error in the fix: {type(exc).__name__}: {exc}"))
        return None
    if edit is not None and edit.source.text == source.text and not edit.imports:
        result.failed.append((finding, "the fix changed nothing"))
        return None
    return edit


# -- many files -------------------------------------------------------------------------------------------

def fixers_for(config, only: set[str] | None = None) -> dict:
    """The selected rules (code and meta) that offer fixes, by id (only these ids, when given)."""
    from auditor.code.analysis import code_rules, meta_rule
    from auditor.registry import scope_rule_classes

    rules = {r.id: r for r in code_rules(config)}
    for rule_id in scope_rule_classes(("meta",), tuple(config.plugins)):
        if config.is_selected(rule_id):
            rules[rule_id] = meta_rule(config, rule_id)
    return {rid: r for rid, r in rules.items() if callable(getattr(r, "fix", None)) and (only is None or rid in only)}


def plan(findings: list[Finding], files: dict[str, Path], root: Path, config, *, fix: bool = True,
         unsafe: bool = False, ignore_reason: str | None = None, only: set[str] | None = None,
         jobs: int | None = None) -> list[FileFix]:
    """Every file's fixes, in memory (many files: in worker processes). `files` maps the scanned files' reported
    paths to where they are: findings anywhere else are left alone."""
    from auditor.code.pool import parallel_map, rare_collection, workers_for

    fixers = fixers_for(config, only) if fix else {}
    per_path: dict[str, list[Finding]] = {}
    for f in findings:
        path = f.location.path
        if path in files and (f.rule in fixers or (ignore_reason is not None and f.rule not in NO_IGNORE)):
            per_path.setdefault(path, []).append(f)
    out: dict[str, FileFix] = {}
    todo: list[tuple[str, Path, list[Finding]]] = []
    for path in sorted(per_path):
        full = Path(files[path])
        refused = refuse_write(full, root)
        if refused:
            out[path] = FileFix(path, full, failed=[(f, refused) for f in per_path[path]])
        else:
            todo.append((path, full, per_path[path]))
    options = _FixOptions(fix, unsafe, ignore_reason)
    workers = workers_for(jobs, len(todo))
    if workers > 1:
        _libcst()  # imported once here, not in every worker
        weights = [_size(full) for _, full, _ in todo]
        done = parallel_map(_fix_batch, todo, weights, workers, _init_fix_worker, (config, only, options))
    else:
        with rare_collection():
            done = [options.fix_file(path, full, found, fixers) for path, full, found in todo]
    out.update((item.path, item) for item in done)
    return [out[path] for path in sorted(out)]


@dataclass(frozen=True)
class _FixOptions:
    fix: bool
    unsafe: bool
    ignore_reason: str | None

    def fix_file(self, path: str, full: Path, findings: list[Finding], fixers: dict) -> FileFix:
        return fix_file(path, full, findings, fixers, fix=self.fix, unsafe=self.unsafe, ignore_reason=self.ignore_reason)


_FIX_WORKER: tuple[dict, _FixOptions] | None = None


def _init_fix_worker(config, only: set[str] | None, options: _FixOptions) -> None:
    global _FIX_WORKER
    from auditor.code.pool import quiet_gc

    _FIX_WORKER = (fixers_for(config, only) if options.fix else {}, options)
    quiet_gc()


def _fix_batch(batch: list[tuple[str, Path, list[Finding]]]) -> list[FileFix]:
    assert _FIX_WORKER is not None
    fixers, options = _FIX_WORKER
    return [options.fix_file(path, full, found, fixers) for path, full, found in batch]


def _size(full: Path) -> int:
    try:
        return os.stat(full).st_size
    except OSError:
        return 0


MAX_ROUNDS = 4  # a fix can bring out another finding (seeding brings out RA120): fix again, as ruff does


@dataclass
class Outcome:
    rounds: list[list[FileFix]]
    result: object  # the last scan's ScanResult (None when nothing was written)
    findings: list[Finding]


def fix_until_stable(findings: list[Finding], files: dict[str, Path], config, rescan, *, fix: bool = True,
                     unsafe: bool = False, ignore_reason: str | None = None, only: set[str] | None = None,
                     jobs: int | None = None) -> Outcome:
    """Fix, write, scan again (`rescan()` -> (ScanResult, findings)), until a round changes nothing."""
    outcome = Outcome([], None, findings)
    done: set[tuple[str, str]] = set()  # (path, rule) fixed in an earlier round: a fix is never applied twice
    for _ in range(MAX_ROUNDS):
        todo = [f for f in outcome.findings if (f.location.path, f.rule) not in done]
        plans = plan(todo, files, config.root, config, fix=fix, unsafe=unsafe, ignore_reason=ignore_reason, only=only,
                     jobs=jobs)
        done.update((p.path, f.rule) for p in plans for f in p.fixed)
        write(plans)
        outcome.rounds.append(plans)
        if not any(p.changed for p in plans):
            break
        outcome.result, outcome.findings = rescan()
    return outcome


def refuse_write(full: Path, root: Path) -> str | None:
    """Why this file must not be written, or None. The folders from the file's up to (not including) the scan
    root are checked for run records (for a file named outside the root: its own folder)."""
    absolute = Path(os.path.abspath(full))
    if os.path.islink(absolute):
        return "not written: the file is a symlink"
    base, inside = Path(os.path.abspath(root)), True
    try:
        rel = absolute.relative_to(base)
    except ValueError:
        base, rel, inside = absolute.parent, Path(absolute.name), False
    if os.path.realpath(absolute) != os.path.join(os.path.realpath(base), str(rel)):
        return "not written: a folder on its path is a symlink"
    # a file named outside the root: no folder between it and where the user stands may be a link either
    stop = base if inside else Path(os.path.commonpath([absolute, Path(os.path.abspath(os.getcwd()))]))
    for folder in absolute.parents:
        if folder == stop or folder == folder.parent:
            break
        if os.path.islink(folder):
            return "not written: a folder on its path is a symlink"
    folder, cwd = absolute.parent, Path(os.path.abspath(os.getcwd()))
    while True:
        if folder.name in RUN_FOLDER_NAMES or ((folder != base or not inside) and _holds_run_record(folder)):
            return f"not written: {folder} holds runs (a results folder)"
        if folder == folder.parent or (folder == base and not _below(base, cwd)):
            return None
        folder = folder.parent
        if folder == cwd:  # where the user stands: a results folder between it and the file counts too
            return None


def _below(folder: Path, cwd: Path) -> bool:
    """Is `folder` strictly inside the current directory (then the folders up to it are checked too)?"""
    try:
        return folder != cwd and folder.is_relative_to(cwd)
    except ValueError:
        return False


def _holds_run_record(folder: Path) -> bool:
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(name in RUN_RECORD_FILES or name.startswith("events.out.tfevents") for name in names) or \
        {"meta.yaml", "metrics"} <= set(names)  # an MLflow run


def write(fixes: list[FileFix]) -> None:
    """Each changed file replaced atomically, keeping its mode and its encoding (a UTF-8 byte order mark too)."""
    for item in fixes:
        if not item.changed:
            continue
        mode = os.stat(item.full).st_mode & 0o7777
        fd, tmp = tempfile.mkstemp(prefix=f".{item.full.name}.", suffix=".audit-fix", dir=item.full.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(item.after.encode(item.encoding))
            os.chmod(tmp, mode)
            os.replace(tmp, item.full)
        except BaseException:
            with _ignore_oserror():
                os.unlink(tmp)
            raise


class _ignore_oserror:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is not None and issubclass(kind, OSError)


def unified_diff(fixes: list[FileFix]) -> str:
    parts = []
    for item in fixes:
        if item.changed:
            parts.extend(difflib.unified_diff(item.before.splitlines(keepends=True), item.after.splitlines(keepends=True),
                                              fromfile=f"a/{item.path}", tofile=f"b/{item.path}"))
    return "".join(p if p.endswith("\n") else p + "\n\\ No newline at end of file\n" for p in parts)


def summary(rounds: list[list[FileFix]], *, applied: bool = True) -> str:
    """What was fixed (over every round), and from the last round: what needs --unsafe-fixes and each
    finding that could not be fixed, with why."""
    done = [item for plans in rounds for item in plans]
    last = rounds[-1] if rounds else []
    fixed = sum(len(f.fixed) for f in done)
    files = len({f.path for f in done if f.changed})
    ignored = sum(len(f.ignored) for f in done)
    unsafe = sum(len(f.unsafe) for f in last)
    lines = []
    if fixed or not ignored:
        lines.append(f"{'Fixed' if applied else 'Would fix'} {fixed} finding(s) in {files} file(s).")
    if ignored:
        lines.append(f"{'Added' if applied else 'Would add'} ignore comments for {ignored} finding(s).")
    if unsafe:
        lines.append(f"{unsafe} more fixable with --unsafe-fixes (those fixes change behaviour).")
    for item in last:
        for f, why in item.failed:
            lines.append(f"not fixed: {item.path}:{f.location.line} {f.rule}: {why}")
    return "\n".join(lines) + "\n"
