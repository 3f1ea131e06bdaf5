"""Everything done to one file: decode, one `ast` parse, the module rules whose needs the file meets, the
module's summary for the project index, its suppressions. Results are plain JSON (they travel between
processes and into the cache unchanged)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple, Protocol

from auditor.code.discover import UNLISTABLE
from auditor.code.facts import ProjectFacts
from auditor.code.sources import decode_source
from auditor.code.summary_text import needs_summary, whole_text_facts
from auditor.code.suppress import has_suppressions, parse_suppressions
from auditor.code.top_level import COMMENT_OR_STRING, nesting_strings
from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import code_location
from auditor.meta import input_unreadable, run_rule

if TYPE_CHECKING:  # imported where used: an edit that keeps a file's results needs none of them
    from auditor.code.context import ModuleContext
    from auditor.code.index import ModuleSummary


def code_rules(config: Config) -> list:
    """Instances of the selected code rules (only rules/code and rules/meta are imported: no torch, no runs)."""
    from auditor.registry import scope_rule_classes

    chosen = []
    for rule_id, cls in scope_rule_classes(("code",), tuple(config.plugins)).items():
        if config.is_selected(rule_id):
            try:
                chosen.append(cls(config.rule_params.get(rule_id), config.severity.get(rule_id)))
            except ValueError as exc:
                raise InputError(str(exc), path=config.source) from exc
    return chosen


def meta_rule(config: Config, rule_id: str):
    from auditor.registry import scope_rule_classes

    return scope_rule_classes(("meta",))[rule_id](None, config.severity.get(rule_id))


class SummaryStore(Protocol):
    """Where the summaries of files' previous versions are (project_cache.PreviousSummaries)."""

    def get(self, key: str) -> dict | None: ...

# -- one file ------------------------------------------------------------------------------------------


class FileAnalyzer:
    """Everything done to one file; built once per process (rules instantiated once)."""

    def __init__(self, config: Config, facts: ProjectFacts | None = None):
        from auditor.code.rule_base import ModuleRule

        self.config = config
        self.facts = facts or ProjectFacts()
        selected = code_rules(config)
        self.module_rules = [(r, r.needs(config)) for r in selected if isinstance(r, ModuleRule)]
        from auditor.code.rule_base import ProjectRule

        # Summaries feed only the project rules: none selected, no index (and far fewer parses).
        self.indexing = any(isinstance(r, ProjectRule) for r in selected)
        self.max_bytes = config.scan.max_file_bytes
        self.check_syntax = config.scan.check_syntax

    def unreadable(self, path: str, why: str, line: int = 1, col: int = 0) -> dict:
        return unreadable_result(self.config, path, why, line, col)

    def analyze(self, path: str, data: bytes) -> dict:
        source, problem = decode_source(data, self.max_bytes)
        if source is None:
            return self.unreadable(path, *problem)
        result = _base_result(source)
        result["indexing"] = self.indexing
        rules = [(r, needs) for r, needs in self.module_rules
                 if self.config.is_selected(r.id, path) and needs.text_allows(source)]
        want_summary = self._wants_summary(source)
        # One parse, Python's own: it tells a broken file from a clean one, feeds the summary and every
        # module rule. Files no rule can match and that the index does not need are never parsed.
        module = None
        if want_summary or self.check_syntax or rules:
            module, problem = _ast_parse(source, path)
            if problem is not None and self.check_syntax:
                return self.unreadable(path, *problem)
            if module is not None:
                _store_layout(result, code_layout(source))
        if module is None:
            if want_summary:  # it does not parse (syntax checks are off): indexed as a module with nothing in it
                result["parsed"] = True
                from auditor.code.index import ModuleSummary
                from auditor.code.resolve import module_name_for

                _store_summary(result, ModuleSummary(path=path, module_name=module_name_for(path)[0]))
            return result
        if not (rules or want_summary):
            return result
        ctx = module_context(path, source, module, self.config, self.facts)
        rules = [r for r, needs in rules if needs.tree_allows(ctx)]
        if not rules and not want_summary:
            return result
        result["parsed"] = True
        for rule in rules:
            found = run_rule(rule, code_location(path, 1), ctx, config=self.config)
            result["findings"].extend(f.to_json() for f in found)
        if want_summary:
            try:
                _add_summary(result, ctx)
            except Exception as exc:
                if os.environ.get("AUDITOR_DEBUG"):
                    raise
                result["findings"].extend(self.unreadable(path, f"internal error while indexing: "
                                                                f"{type(exc).__name__}: {exc}")["findings"])
        return result

    def _wants_summary(self, source: str) -> bool:
        return self.indexing and needs_summary(source)


def unreadable_result(config: Config, path: str, why: str, line: int = 1, col: int = 0) -> dict:
    """The per-file result of a file that was not analyzed: one RA001 finding. A folder that could not be
    listed is an error whatever RA001's configured severity: none of its files were audited, which must never
    pass."""
    severity = "error" if why.startswith(UNLISTABLE) else None
    finding = input_unreadable(f"skipped: {why}", code_location(path, line, col), {"reason": why}, config=config,
                               anchor=why, severity=severity)
    return {"findings": [finding.to_json()], "summary": None, "suppressions": [], "lines": 0,
            "parsed": False, "unreadable": True}


def _base_result(source: str) -> dict:
    lines = source.count("\n") + (0 if source.endswith("\n") or not source else 1)
    result = {"findings": [], "summary": None, "suppressions": [], "lines": lines, "parsed": False,
              "unreadable": False}
    if has_suppressions(source):
        result["suppressions"] = [s.to_json() for s in parse_suppressions(source)]
    return result


def module_context(path: str, source: str, module, config: Config, facts: ProjectFacts | None = None) -> ModuleContext:
    """The one view of a parsed module that its rules and its summary share (one resolver, one node walk)."""
    from auditor.code.context import ModuleContext
    from auditor.code.resolve import module_name_for

    module_name, is_package = module_name_for(path)
    return ModuleContext(path=path, source=source, tree=module, config=config, module_name=module_name,
                         is_package=is_package, facts=facts or ProjectFacts())


def _add_summary(result: dict, ctx: ModuleContext) -> None:
    """The module's summary for the project index, its hash and its head's (hashed here: in the worker)."""
    from auditor.code.summarize import summarize_module

    _store_summary(result, summarize_module(ctx, ctx.resolver))


def _store_layout(result: dict, layout: Layout) -> None:
    result.update(skeleton=layout.skeleton, code_prefix=layout.prefix, code_lines=layout.lines)


def _store_summary(result: dict, module_summary: ModuleSummary) -> None:
    from auditor.code.index import summary_head

    summary = module_summary.to_json()
    head = summary_head(summary)
    result.update(summary=summary, summary_key=summary_key(summary), head=head,
                  head_key="head:" + summary_key(head).partition(":")[2])

def code_skeleton(source: str) -> str:
    """A hash of the source without its comments and blank lines: two files with the same skeleton have the
    same tokens but for comments and blank lines. Every other line goes in as it is (less a trailing comment
    and the spaces before it), and so does every line of a string spanning lines (a docstring line that
    looks like a comment is still code)."""
    return code_layout(source).skeleton


class Layout(NamedTuple):
    """Hashes of a source that tell what kind of edit separates two versions of a file."""
    skeleton: str  # code_skeleton
    prefix: str  # the source up to and including its last line of code
    lines: str | None  # every line's code (less its comment) at its line number, and what the summary reads
    # of the whole text: two sources with the same `lines` differ only in comments that leave every line of
    # code where it was (None: its comments cannot be told for sure)


@lru_cache(maxsize=1)  # a changed file's layout: reuse_previous computes it, then analyze when it must
def code_layout(source: str) -> Layout:
    """The source's Layout. Two files with the same prefix differ only in comment and blank lines after
    their code: every line of code is the same text at the same line number (a trailing comment included:
    it is in a finding's anchor)."""
    import hashlib

    text = source.replace("\r\n", "\n").replace("\r", "\n")
    in_string: set[int] = set()
    bare: list[str] = []  # the text without its comments (a comment never holds a line break)
    line, pos, copied = 0, 0, 0
    for match in COMMENT_OR_STRING.finditer(text):
        start, end = match.span()
        if text[start] == "#":
            bare.append(text[copied:start])
            copied = end
            continue
        if text.find("\n", start, end) < 0:
            continue
        line += text.count("\n", pos, start)
        last = line + text.count("\n", start, end)
        in_string.update(range(line, last + 1))
        line, pos = last, end
    bare.append(text[copied:])
    raw_lines = "".join(bare).split("\n")
    code_lines = list(map(str.rstrip, raw_lines))
    for i in in_string:  # a string's lines are kept whole, trailing spaces included
        code_lines[i] = raw_lines[i]
    skeleton = "\n".join([code for i, code in enumerate(code_lines) if code or i in in_string] if in_string
                         else filter(None, code_lines))
    prefix = _code_prefix(text, code_lines, in_string)
    lines = None if nesting_strings(text) else "\n".join(code_lines) + "\0" + whole_text_facts(source)

    def digest(part: str) -> str:
        return hashlib.sha1(part.encode("utf-8", "surrogatepass")).hexdigest()
    return Layout(digest(skeleton), digest(prefix), None if lines is None else digest(lines))


def _code_prefix(text: str, code_lines: list[str], in_string: set[int]) -> str:
    """The text up to the end of its last line holding code ("" when none). The lines after it are few (blank
    and comment lines), so they are counted off from the end."""
    last = len(code_lines) - 1
    while last >= 0 and not code_lines[last] and last not in in_string:
        last -= 1
    if last < 0:
        return ""
    end = len(text)
    for _ in range(len(code_lines) - 1 - last):
        end = text.rfind("\n", 0, end)
    return text[:end]


def reuse_previous(prev: dict, path: str, data: bytes, config: Config,
                   summaries: SummaryStore | None = None) -> dict | None:
    """The result for a file whose change touched only comment and blank lines, when that cannot change it
    (module rules decide on code, never on comments or on how far apart lines are;
    tests/code/test_incremental.py holds every rule to that). None: analyze it.

    - the previous version had no finding: it still has none. When every line of code is where it was, its
      summary stands but for the lines it quotes, re-read (from `summaries`: the cache keeps it apart);
      otherwise the summary is redone (its positions moved). The line count and the suppressions are redone;
    - it had findings, and only lines after its last line of code changed: every line of code is where it
      was, so its findings and summary stand; the line count and the suppressions are redone."""
    if prev.get("unreadable") or not prev.get("skeleton"):
        return None
    source, _ = decode_source(data, config.scan.max_file_bytes)
    if source is None:
        return None
    layout = code_layout(source)  # the cheap test first: no parse
    if layout.skeleton != prev["skeleton"]:
        return None
    if prev.get("findings"):
        return _same_code(prev, source, layout)
    if layout.lines is not None and layout.lines == prev.get("code_lines"):
        kept = _same_lines(prev, source, layout, summaries)
        if kept is not None:
            return kept
    module, problem = _ast_parse(source, path)
    if problem is not None:
        return None
    result = _reused(prev, source, layout)
    if result["indexing"] and needs_summary(source):
        try:
            _add_summary(result, module_context(path, source, module, config))
        except Exception:  # noqa: BLE001 - the full analysis reports it, as RA001
            return None
    return result


def _reused(prev: dict, source: str, layout: Layout) -> dict:
    """A result for a file without findings, its summary still to add."""
    result = _base_result(source)
    result.update(parsed=True, indexing=bool(prev.get("indexing")))
    _store_layout(result, layout)
    return result


def _same_lines(prev: dict, source: str, layout: Layout, summaries: SummaryStore | None) -> dict | None:
    """The result of a file without findings whose lines of code are all where they were: no parse, the
    previous summary with the lines it quotes re-read (None: that summary cannot be had, or a comment
    changed more than a text)."""
    result = _reused(prev, source, layout)
    key = prev.get("summary_key")
    if prev.get("summary") is None and not key:
        return result  # no summary before, and none now: the same whole_text_facts
    data = prev.get("summary") or (summaries.get(key) if summaries is not None else None)
    if data is None:
        return None
    from auditor.code.index import ModuleSummary
    from auditor.code.summarize import retext

    summary = ModuleSummary.from_json(data)
    if not retext(summary, source):
        return None
    _store_summary(result, summary)
    return result


def _same_code(prev: dict, source: str, layout: Layout) -> dict | None:
    """The previous result for a file whose code lines are all as they were (None: analyze it). A comment
    that makes the summary's text prefilter answer otherwise is analyzed, as a cold scan would be."""
    if layout.prefix != prev.get("code_prefix"):
        return None
    summarized = bool(prev.get("summary") is not None or prev.get("summary_key"))
    if prev.get("indexing") and needs_summary(source) != summarized:
        return None
    result = _base_result(source)
    kept = ("findings", "parsed", "indexing", "summary", "summary_key", "head", "head_key")
    result.update({key: prev[key] for key in kept if key in prev})
    _store_layout(result, layout)
    return result


def _ast_parse(source: str, path: str):
    """(ast.Module or None, None or (why, line, col))."""
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. are not our business
            return ast.parse(source, path), None
    except SyntaxError as exc:
        return None, (f"does not parse: {exc.msg}", exc.lineno or 1, max((exc.offset or 1) - 1, 0))
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, (f"does not parse: {type(exc).__name__}", 1, 0)


def summary_key(summary: dict) -> str:
    import hashlib
    import json

    return "summary:" + hashlib.sha1(json.dumps(summary, separators=(",", ":")).encode()).hexdigest()
