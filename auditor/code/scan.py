"""The scan pipeline: files -> (cache | prefilter -> parse once -> module rules + summary) -> project index
-> project rules -> per-path ignores and inline suppressions -> sorted findings.

Module results are plain JSON (findings, the module's summary for the project index, its suppressions),
so they travel between processes and into the cache unchanged. Project rules see the fresh index: a
helper edited in one file changes findings at entry points in others.

Incremental scans (every shortcut gives exactly what a cold scan gives; tests/code/test_incremental.py):
- a changed file whose previous version (known from the stat cache) had no finding, and whose edit touched
  only comment and blank lines (same `code_skeleton`), is not analyzed again: no libcst, no rule imports;
  its line count, suppressions and summary are redone from Python's own parser;
- project rules' findings are cached by every (path, summary hash); and by every (path, summary head
  hash) together with the summaries the run actually read: an edit in a module no program reaches is
  one lookup;
- otherwise the index is built over the heads (index.LazySummary), loading just the summaries it
  follows, and only the project rules' modules are imported (a cached manifest of the code rules).
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.code.cache import FileStats, ResultCache, blob_hash
from auditor.code.discover import Candidate, discover
from auditor.code.suppress import Suppression, has_suppressions, parse_suppressions
from auditor.config import Config
from auditor.errors import InputError
from auditor.fingerprint import code_fingerprint
from auditor.findings import Finding, code_location, sort_findings
from auditor.meta import EngineSignal, input_unreadable, run_rule

PARALLEL_MIN_FILES = 8  # below this a process pool costs more than it saves
DEPS_VARIANTS = 8  # project-rule results kept per set of summary heads (see _project_findings)


@dataclass
class SourceFile:
    path: str  # as reported: relative, "/" separators
    data: bytes | None  # None when it could not be read (then `error` says why)
    blob: str | None = None  # git blob id when known (read from a commit, or the stat cache): the cache key
    error: str | None = None
    full: str | Path | None = None  # with data None and no error: not read yet (its blob came from the stat cache)
    raced: bool = False  # read later than stat'ed, and its content no longer matched `blob`
    prev_blob: str | None = None  # the content this path had at the last scan (from the stat cache), if changed

    @property
    def unreadable(self) -> bool:
        return self.data is None and (self.error is not None or self.full is None)

    def content(self) -> bytes | None:
        """The bytes; a file known by its stat signature is read only when it has to be analyzed."""
        if self.data is None and self.error is None and self.full is not None:
            try:
                with open(self.full, "rb") as fh:
                    self.data = fh.read()
            except OSError as exc:
                self.error = f"cannot be read: {exc.strerror or type(exc).__name__}"
                self.raced = True
                return None
            if self.blob is not None and blob_hash(self.data) != self.blob:
                self.raced = True  # changed since stat: analyze what is there, but cache nothing
        return self.data


@dataclass
class ScanResult:
    findings: list[Finding]
    files: int = 0
    lines: int = 0
    parsed: int = 0  # files parsed in this scan (cache misses that passed the prefilter)
    cached: int = 0  # files answered by the cache
    unreadable: int = 0
    summaries: dict[str, Any] = field(default_factory=dict)  # path -> ModuleSummary
    index: Any = None  # the ProjectIndex, when the index module is present

    def counts(self) -> dict[str, int]:
        return {"files": self.files, "lines": self.lines, "parsed": self.parsed, "cached": self.cached,
                "unreadable": self.unreadable, "findings": len(self.findings)}


# -- the index module (owned by the project rules) is optional: without it, no summaries ------------

def _index_module():
    try:
        import auditor.code.index as index
    except ModuleNotFoundError as exc:
        if exc.name == "auditor.code.index":
            return None
        raise
    return index


def module_name_for(path: str) -> tuple[str, bool]:
    """"pkg/train.py" -> ("pkg.train", False); "pkg/__init__.py" -> ("pkg", True); a leading src/ is dropped."""
    parts = path.split("/")
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    if not parts or not parts[-1].endswith((".py", ".pyi")):
        return "", False
    stem = parts[-1].rsplit(".", 1)[0]
    if stem == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join([*parts[:-1], stem]), False


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


def project_rules(config: Config, cache: ResultCache | None = None) -> list:
    """Instances of the selected project rules. With a cache, a manifest of the code rules (id -> module,
    class, kind; keyed like every entry by the rules' source hash) lets this import only the project
    rules' modules: not libcst, which the module rules need and an incremental scan often does not."""
    from auditor.code.rule_base import ProjectRule

    if cache is None or config.plugins:
        return [r for r in code_rules(config) if isinstance(r, ProjectRule)]
    import importlib

    key = cache.key("", "rules-manifest")
    manifest = cache.get_many([key]).get(key)
    if not isinstance(manifest, dict):
        from auditor.registry import scope_rule_classes

        manifest = {rid: [cls.__module__, cls.__qualname__, "project" if issubclass(cls, ProjectRule) else "module"]
                    for rid, cls in scope_rule_classes(("code",)).items()}
        cache.put_many({key: manifest})
    chosen = []
    for rule_id, (module, attr, kind) in sorted(manifest.items()):
        if kind == "project" and config.is_selected(rule_id):
            cls = getattr(importlib.import_module(module), attr)
            try:
                chosen.append(cls(config.rule_params.get(rule_id), config.severity.get(rule_id)))
            except ValueError as exc:
                raise InputError(str(exc), path=config.source) from exc
    return chosen


def meta_rule(config: Config, rule_id: str):
    from auditor.registry import scope_rule_classes

    return scope_rule_classes(("meta",))[rule_id](None, config.severity.get(rule_id))


# -- one file ------------------------------------------------------------------------------------------

class FileAnalyzer:
    """Everything done to one file; built once per process (rules instantiated once)."""

    def __init__(self, config: Config):
        from auditor.code.rule_base import ModuleRule

        self.config = config
        selected = code_rules(config)
        self.module_rules = [r for r in selected if isinstance(r, ModuleRule)]
        from auditor.code.rule_base import ProjectRule

        # Summaries feed only the project rules: none selected, no index (and far fewer parses).
        self.index = _index_module() if any(isinstance(r, ProjectRule) for r in selected) else None
        self.max_bytes = config.scan.max_file_bytes
        self.check_syntax = config.scan.check_syntax

    def unreadable(self, path: str, why: str, line: int = 1, col: int = 0) -> dict:
        return unreadable_result(self.config, path, why, line, col)

    def analyze(self, path: str, data: bytes) -> dict:
        source, problem = decode_source(data, self.max_bytes)
        if source is None:
            return self.unreadable(path, *problem)
        result = _base_result(source)
        result["indexing"] = self.index is not None
        rules = [r for r in self.module_rules
                 if self.config.is_selected(r.id, path) and r.applies_to(source, self.config)]
        want_summary = self._wants_summary(source)
        # Python's own parser, 6-13x cheaper than libcst's: it tells a broken file from a clean one and
        # feeds the summary. libcst parses only files a module rule's prefilter lets through.
        module = None
        if want_summary or self.check_syntax:
            module, problem = _ast_parse(source, path)
            if problem is not None and self.check_syntax:
                return self.unreadable(path, *problem)
            if module is not None:
                result["skeleton"] = code_skeleton(source)
        if module is not None:
            rules = [r for r in rules if r.applies_to_tree(module, self.config)]
        if not rules and not want_summary:
            return result
        result["parsed"] = True
        if rules:
            import libcst as cst

            try:
                tree = cst.parse_module(source)
            except cst.ParserSyntaxError as exc:
                return self.unreadable(path, f"does not parse: {exc.message}", exc.raw_line or 1, exc.raw_column or 0)
            except (RecursionError, MemoryError, ValueError) as exc:
                return self.unreadable(path, f"does not parse: {type(exc).__name__}")
            ctx = self._context(path, source, tree)
            for rule in rules:
                found = run_rule(rule, code_location(path, 1), ctx, config=self.config)
                result["findings"].extend(f.to_json() for f in found)
        if want_summary:
            try:
                _add_summary(result, self.index, path, source, module)
            except Exception as exc:
                if os.environ.get("AUDITOR_DEBUG"):
                    raise
                result["findings"].extend(self.unreadable(path, f"internal error while indexing: "
                                                                f"{type(exc).__name__}: {exc}")["findings"])
        return result

    def _wants_summary(self, source: str) -> bool:
        if self.index is None or not hasattr(self.index, "summarize_source"):
            return False
        needs = getattr(self.index, "needs_summary", None)
        return True if needs is None else bool(needs(source))

    def _context(self, path: str, source: str, tree):
        from auditor.code.context import ModuleContext

        module_name, is_package = module_name_for(path)
        return ModuleContext(path=path, source=source, tree=tree, config=self.config, module_name=module_name,
                             is_package=is_package)


def unreadable_result(config: Config, path: str, why: str, line: int = 1, col: int = 0) -> dict:
    """The per-file result of a file that was not analyzed: one RA001 finding."""
    finding = input_unreadable(f"skipped: {why}", code_location(path, line, col), {"reason": why}, config=config,
                               anchor=why)
    return {"findings": [finding.to_json()], "summary": None, "suppressions": [], "lines": 0,
            "parsed": False, "unreadable": True}


def decode_source(data: bytes, max_bytes: int) -> tuple[str | None, tuple[str, int] | None]:
    """(the text, None), or (None, (why it is not Python source, line))."""
    if len(data) > max_bytes:
        return None, (f"file is too large ({len(data)} bytes > {max_bytes}; set [tool.auditor.scan] max-file-bytes)", 1)
    if b"\0" in data:
        return None, ("binary content, not Python source", 1)
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        return None, (f"not UTF-8 (invalid byte at offset {exc.start})", data[: exc.start].count(b"\n") + 1)


def _base_result(source: str) -> dict:
    lines = source.count("\n") + (0 if source.endswith("\n") or not source else 1)
    result = {"findings": [], "summary": None, "suppressions": [], "lines": lines, "parsed": False,
              "unreadable": False}
    if has_suppressions(source):
        result["suppressions"] = [s.to_json() for s in parse_suppressions(source)]
    return result


def _add_summary(result: dict, index, path: str, source: str, module) -> None:
    """The module's summary for the project index, its hash and its head's (hashed here: in the worker)."""
    module_name, is_package = module_name_for(path)
    summary = index.summarize_source(path, source, module_name, is_package, module).to_json()
    head = index.summary_head(summary)
    result.update(summary=summary, summary_key=_summary_key(summary), head=head,
                  head_key="head:" + _summary_key(head).partition(":")[2])


# Comments and string literals, as Python's tokenizer finds them scanning left to right (valid source only:
# the file parsed). Escapes are consumed in pairs, so an escaped quote never ends a string.
_STRING_FORMS = (  # unrolled loops: a long docstring is one quick scan
    r"'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''",
    r'"""[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*"""',
    r"'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*'",
    r'"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"',
)
_COMMENT_OR_STRING = re.compile(r"#[^\n]*|[rRbBuUfF]{0,2}(?:" + "|".join(_STRING_FORMS) + ")")


def code_skeleton(source: str) -> str:
    """A hash of the source without its comment and blank lines: two files with the same skeleton have the
    same tokens but for comments and blank lines. Every other line goes in as it is, and so does every
    line of a string spanning lines (a docstring line that looks like a comment is still code)."""
    import hashlib

    text = source.replace("\r\n", "\n").replace("\r", "\n")
    in_string: set[int] = set()
    line, pos = 0, 0
    for match in _COMMENT_OR_STRING.finditer(text):
        start, end = match.span()
        if text[start] == "#" or text.find("\n", start, end) < 0:
            continue
        line += text.count("\n", pos, start)
        last = line + text.count("\n", start, end)
        in_string.update(range(line, last + 1))
        line, pos = last, end
    kept = [raw for i, raw in enumerate(text.split("\n"))
            if i in in_string or ((stripped := raw.lstrip()) and stripped[0] != "#")]
    return hashlib.sha1("\n".join(kept).encode("utf-8", "surrogatepass")).hexdigest()


def reuse_previous(prev: dict, path: str, data: bytes, config: Config) -> dict | None:
    """The result for a file whose previous version had no finding, when the change touched only comment
    and blank lines: then it still has none (module rules decide on code, never on comments or on how
    far apart lines are; tests/code/test_incremental.py holds every rule to that). Only the cheap parts are
    redone: line count, suppressions, and the summary (its positions may have moved). None: analyze it."""
    if prev.get("findings") or prev.get("unreadable") or not prev.get("skeleton"):
        return None
    source, _ = decode_source(data, config.scan.max_file_bytes)
    if source is None or code_skeleton(source) != prev["skeleton"]:  # the cheap test first: no parse
        return None
    module, problem = _ast_parse(source, path)
    if problem is not None:
        return None
    result = _base_result(source)
    result.update(parsed=True, skeleton=prev["skeleton"], indexing=bool(prev.get("indexing")))
    index = _index_module() if result["indexing"] else None
    if index is not None and index.needs_summary(source):
        try:
            _add_summary(result, index, path, source, module)
        except Exception:  # noqa: BLE001 - the full analysis reports it, as RA001
            return None
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


# -- the process pool ------------------------------------------------------------------------------------

_WORKER: FileAnalyzer | None = None
_RARE_GC = (50_000, 50, 100)  # gc thresholds while parsing: see _init_worker


def _init_worker(config: Config) -> None:
    global _WORKER
    _WORKER = FileAnalyzer(config)
    # Syntax trees and summaries hold no reference cycles, yet building millions of nodes triggers the
    # cyclic collector over and over (20-30% of a cold scan): collect rarely in a worker that only parses.
    gc.freeze()
    gc.set_threshold(*_RARE_GC)


@contextlib.contextmanager
def _rare_collection():
    """In-process analysis with the cyclic collector mostly idle (see _init_worker); the settings come back."""
    before = gc.get_threshold()
    gc.set_threshold(*_RARE_GC)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _analyze_batch(batch: list[tuple[str, bytes]]) -> list[dict]:
    assert _WORKER is not None
    return [_WORKER.analyze(path, data) for path, data in batch]


def _run_analysis(work: list[tuple[str, bytes]], config: Config, analyzer, jobs: int | None) -> list[dict]:
    """`analyzer()` gives the parent's FileAnalyzer (built on first use)."""
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(work) < PARALLEL_MIN_FILES:
        with _rare_collection():
            return [analyzer().analyze(path, data) for path, data in work]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    # Interleaved batches keep the big files spread over the workers.
    size = max(1, min(32, len(work) // (workers * 4)))
    order = sorted(range(len(work)), key=lambda i: -len(work[i][1]))
    batches = [order[i::max(1, len(order) // size)] for i in range(max(1, len(order) // size))]
    results: list[dict | None] = [None] * len(work)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_init_worker,
                             initargs=(config,)) as pool:
        futures = [(batch, pool.submit(_analyze_batch, [work[i] for i in batch])) for batch in batches]
        for batch, future in futures:
            for i, res in zip(batch, future.result()):
                results[i] = res
    return [r for r in results if r is not None]


# -- the whole scan --------------------------------------------------------------------------------------

def scan_files(files: list[SourceFile], config: Config, *, use_cache: bool = True, jobs: int | None = None,
               keep_index: bool = False) -> ScanResult:
    """Scan these files as one project. Findings are sorted; broken files are RA001 findings.

    `keep_index=True` fills `summaries` and `index` of the result (a warm scan of an unchanged tree
    otherwise answers from the project cache without loading them).
    """
    cache = ResultCache(config.cache_dir / "code", code_fingerprint(config)) if use_cache else None
    keys: dict[str, str] = {}
    project_key = None
    if cache is not None:
        for f in files:
            content = (f.blob or blob_hash(f.data)) if not f.unreadable else f"unreadable:{f.error}"
            keys[f.path] = cache.key(f.path, content)
        project_key = cache.project_key(list(keys.values()))
        hit = None if keep_index else cache.get_many([project_key]).get(project_key)
        if hit is not None:
            cache.close()
            return ScanResult(findings=[Finding.from_json(x) for x in hit["findings"]], files=len(files),
                              lines=hit["lines"], cached=len(files), unreadable=hit["unreadable"])
    try:
        result = _scan_uncached(files, config, cache, keys, jobs, keep_index)
        if any(f.raced for f in files):  # a file changed under the scan: its results match no key
            cache.close()
            cache = None
        if cache is not None and project_key is not None:
            cache.put_many({project_key: {"findings": [f.to_json() for f in result.findings], "lines": result.lines,
                                          "unreadable": result.unreadable}})
    finally:
        if cache is not None:
            cache.close()
    return result


def _scan_uncached(files: list[SourceFile], config: Config, cache: ResultCache | None, keys: dict[str, str],
                   jobs: int | None, keep_index: bool = False) -> ScanResult:
    analyzers: list[FileAnalyzer] = []

    def analyzer() -> FileAnalyzer:  # built only when a file must really be analyzed: it imports every rule
        if not analyzers:
            analyzers.append(FileAnalyzer(config))
        return analyzers[0]

    per_file: dict[str, dict] = {}
    for f in files:
        if f.unreadable:
            per_file[f.path] = unreadable_result(config, f.path, f.error or "cannot be read")
    wanted = sorted({keys[f.path] for f in files if not f.unreadable and f.path in keys})
    hits = cache.get_many(wanted) if cache is not None else {}
    misses = []
    for f in files:
        if f.path in per_file:
            continue
        key = keys.get(f.path)
        if key is not None and key in hits:
            per_file[f.path] = hits[key]
        elif f.content() is None:  # vanished or unreadable since it was stat'ed
            per_file[f.path] = unreadable_result(config, f.path, f.error or "cannot be read")
        else:
            misses.append(f)
    # A changed file whose previous version is cached: an edit of comments only is not analyzed again.
    prev_keys = {f.path: cache.key(f.path, f.prev_blob) for f in misses if cache is not None and f.prev_blob}
    previous = cache.get_many(sorted(set(prev_keys.values()))) if prev_keys else {}
    work, reused = [], []
    for f in misses:
        prev = previous.get(prev_keys.get(f.path, ""))
        res = reuse_previous(prev, f.path, f.data, config) if prev is not None else None
        if res is None:
            work.append((f.path, f.data))
        else:
            per_file[f.path] = res
            reused.append((f.path, res))
    fresh = _run_analysis(work, config, analyzer, jobs) if work else []
    done = [*zip([path for path, _ in work], fresh), *reused]
    for path, res in done:
        per_file[path] = res
    if cache is not None and not any(f.raced for f in files):  # content that changed under the scan stays out
        cache.put_many(_split_summaries({keys[path]: res for path, res in done if path in keys}))

    analyzed = {path for path, _ in done}
    result = ScanResult(findings=[], files=len(files), cached=len(files) - len(analyzed) - sum(f.unreadable for f in files))
    findings: list[Finding] = []
    suppressions: dict[str, list[Suppression]] = {}
    for path in sorted(per_file):
        res = per_file[path]
        result.lines += res.get("lines", 0)
        result.parsed += bool(res.get("parsed")) and path in analyzed
        result.unreadable += bool(res.get("unreadable"))
        findings.extend(Finding.from_json(f) for f in res["findings"])
        if res.get("suppressions"):
            suppressions[path] = [Suppression.from_json(s) for s in res["suppressions"]]
    project = _project_findings(result, per_file, config, cache, keep_index)
    if project is None:  # a cached summary could not be read back: summarize those files again
        data = {f.path: f.content() for f in files}
        for path, res in per_file.items():
            if res.get("summary") is None and res.get("summary_key") and data[path] is not None:
                per_file[path] = analyzer().analyze(path, data[path])
        project = _project_findings(result, per_file, config, None, keep_index) or []
    findings.extend(project)
    findings = [f for f in findings if config.is_selected(f.rule, f.location.get("path"))]
    result.findings = sort_findings(apply_suppressions(findings, suppressions, config))
    return result


def _summary_key(summary: dict) -> str:
    import hashlib
    import json

    return "summary:" + hashlib.sha1(json.dumps(summary, separators=(",", ":")).encode()).hexdigest()


def _split_summaries(results: dict[str, dict]) -> dict[str, dict]:
    """Per-file results go to the cache without their summary and its head, each stored once under its own
    hash: loading the per-file results of a big project then stays cheap, the heads are loaded only when
    the project index must be rebuilt, and a module's summary only when the index follows a call into it."""
    out: dict[str, dict] = {}
    for key, res in results.items():
        if res.get("summary") is not None:
            res["summary_key"] = res.get("summary_key") or _summary_key(res["summary"])
            out[res["summary_key"]] = res["summary"]
            res = {**res, "summary": None}
        if res.get("head") is not None:
            out[res["head_key"]] = res["head"]
            res = {**res, "head": None}
        out[key] = res
    return out


def _variants(record) -> list[dict]:
    """The deps record's variants; anything malformed is a miss."""
    try:
        return [v for v in record["variants"] if isinstance(v["read"], dict) and isinstance(v["findings"], list)]
    except (TypeError, KeyError):
        return []


class _CacheMiss(EngineSignal):
    """A summary the cache listed could not be read back."""


def _project_findings(result: ScanResult, per_file: dict[str, dict], config: Config,
                      cache: ResultCache | None, keep_index: bool) -> list[Finding] | None:
    """The project rules' findings, from the cache whenever they cannot have changed:

    - keyed by every (path, summary hash): an edit that leaves all summaries as they were (a comment, a
      file the index does not need) costs one lookup;
    - keyed by every (path, head hash), with the summaries the last run actually read: an edit that
      leaves the heads as they were (positions moved, a function body changed) in a module no program
      reaches costs one lookup too;
    - otherwise the index is built over the heads, loading a module's summary only when it is followed.
    None: a cached summary could not be read (the caller summarizes again)."""
    if not any(res.get("indexing") for res in per_file.values()) and not project_rules(config, cache):
        return []
    with_summary = sorted(p for p, res in per_file.items() if res.get("summary") is not None or res.get("summary_key"))
    if cache is None or keep_index:
        return _eager_project_findings(result, per_file, with_summary, config, cache)
    state_key = cache.project_key([f"{p}\0{per_file[p]['summary_key']}" for p in with_summary], "index")
    hit = cache.get_many([state_key]).get(state_key)
    if hit is not None:
        return [Finding.from_json(x) for x in hit["findings"]]
    if any(not per_file[p].get("head_key") for p in with_summary):
        return _eager_project_findings(result, per_file, with_summary, config, cache)
    deps_key = cache.project_key([f"{p}\0{per_file[p]['head_key']}" for p in with_summary], "deps")
    variants = _variants(cache.get_many([deps_key]).get(deps_key))
    for deps in variants:
        if all(per_file.get(p, {}).get("summary_key") == k for p, k in deps["read"].items()):
            cache.put_many({state_key: {"findings": deps["findings"]}})
            return [Finding.from_json(x) for x in deps["findings"]]
    heads = cache.get_many(sorted({per_file[p]["head_key"] for p in with_summary if per_file[p].get("head") is None}))
    read: dict[str, str] = {}

    def loader(path: str):
        res = per_file[path]

        def load() -> dict:
            if res.get("summary") is None:
                data = cache.get_many([res["summary_key"]]).get(res["summary_key"])
                if data is None:
                    raise _CacheMiss(path)
                return data
            return res["summary"]
        return load

    from auditor.code.index import LazySummary

    modules = []
    for path in with_summary:
        head = per_file[path].get("head") or heads.get(per_file[path]["head_key"])
        if head is None:
            return None
        modules.append(LazySummary(head, loader(path), lambda p: read.setdefault(p, per_file[p]["summary_key"])))
    try:
        out = _run_project_rules(modules, config, result, keep=False, rules=project_rules(config, cache))
    except _CacheMiss:
        return None
    found = [f.to_json() for f in out]
    # a few variants per set of heads: editing a reached module and reverting it both stay one lookup
    variants = [{"read": read, "findings": found}, *variants][:DEPS_VARIANTS]
    cache.put_many({state_key: {"findings": found}, deps_key: {"variants": variants}})
    return out


def _eager_project_findings(result: ScanResult, per_file: dict[str, dict], with_summary: list[str], config: Config,
                            cache: ResultCache | None) -> list[Finding] | None:
    """Every summary loaded up front (no cache, or the caller wants the index and its summaries)."""
    index_module = _index_module()
    if index_module is None:
        return []
    missing = [per_file[p]["summary_key"] for p in with_summary if per_file[p].get("summary") is None]
    loaded = cache.get_many(sorted(set(missing))) if cache is not None and missing else {}
    summaries = []
    for path in with_summary:
        data = per_file[path].get("summary") or loaded.get(per_file[path].get("summary_key"))
        if data is None:
            return None
        summaries.append(index_module.ModuleSummary.from_json(data))
    result.summaries = dict(zip(with_summary, summaries))
    return _run_project_rules(summaries, config, result, keep=True)


def _run_project_rules(summaries: list, config: Config, result: ScanResult, keep: bool,
                       rules: list | None = None) -> list[Finding]:
    from auditor.code.index import build_project_index

    index = build_project_index(summaries, config)
    if keep:
        result.index = index
    out = []
    for rule in project_rules(config) if rules is None else rules:
        out.extend(run_rule(rule, code_location(".", 1), index, config, config=config))
    return out


def apply_suppressions(findings: list[Finding], suppressions: dict[str, list[Suppression]], config: Config) -> list[Finding]:
    """Drop suppressed findings; add RA002 for unused suppressions and RA003 for unknown rule ids."""
    if not suppressions:
        return findings
    from auditor.registry import all_rule_classes, scope_rule_classes

    known = scope_rule_classes(("code", "meta"), tuple(config.plugins))
    written = {w for items in suppressions.values() for s in items for w in s.rules}
    if any(w.upper() not in known and w not in {c.name for c in known.values()} for w in written):
        known = all_rule_classes(tuple(config.plugins))  # every scope, before calling a rule unknown
    by_name = {cls.name: rid for rid, cls in known.items()}
    unused_rule = meta_rule(config, "RA002")
    unknown_rule = meta_rule(config, "RA003")
    kept, extra = [], []
    wanted: dict[tuple[str, int], dict[str, Suppression]] = {}
    for path, items in suppressions.items():
        for s in items:
            for written in s.rules:
                rid = written.upper() if written.upper() in known else by_name.get(written)
                if rid is None:
                    extra.append(unknown_rule.finding(
                        f"suppression names unknown rule {written!r}", code_location(path, s.comment_line, s.col),
                        {"rule": written}, anchor=s.text))
                else:
                    wanted.setdefault((path, s.line), {})[rid] = s
    used: set[tuple[str, int, str]] = set()
    for f in findings:
        key = (f.location.get("path"), f.location.get("line"))
        s = wanted.get(key, {}).get(f.rule) if key[0] is not None else None
        if s is None:
            kept.append(f)
        else:
            used.add((key[0], key[1], f.rule))
    for (path, line), rules in sorted(wanted.items()):
        for rid, s in sorted(rules.items()):
            if (path, line, rid) not in used and config.is_selected(rid, path):
                extra.append(unused_rule.finding(
                    f"suppression of {rid} matches no finding on line {line}; remove it",
                    code_location(path, s.comment_line, s.col), {"rule": rid}, anchor=s.text))
    return kept + [f for f in extra if config.is_selected(f.rule, f.location.get("path"))]


def read_candidates(candidates: list[Candidate], config: Config, stats: FileStats | None = None) -> list[SourceFile]:
    """The candidates as SourceFiles. With `stats`, a file whose stat signature is on record is not read:
    its blob id comes from the record and its bytes are read only if it must be analyzed."""
    max_bytes = config.scan.max_file_bytes
    known = stats.known([str(c.full) for c in candidates]) if stats is not None else {}
    out, rows = [], []
    for cand in candidates:
        f, st = _read_one(cand, max_bytes, stats, known.get(str(cand.full)))
        if stats is not None and st is not None and f.data is not None:
            f.blob = blob_hash(f.data)
            rows.append((str(cand.full), stats.signature(st), f.blob, st.seen))
        out.append(f)
    if stats is not None:
        stats.record(rows)
    return out


class _Stat:
    """os.stat_result plus when it was taken (before the read: a write after it makes the entry racy)."""

    def __init__(self, st: os.stat_result):
        self.st_size, self.st_mtime_ns, self.st_ctime_ns = st.st_size, st.st_mtime_ns, st.st_ctime_ns
        self.st_ino, self.st_dev = st.st_ino, st.st_dev
        self.seen = time.time_ns()


def _read_one(cand: Candidate, max_bytes: int, stats: FileStats | None = None,
              entry: tuple | None = None) -> tuple[SourceFile, _Stat | None]:
    try:
        raw = os.stat(cand.full)  # follows symlinks: a loop raises ELOOP here
        if not stat.S_ISREG(raw.st_mode):
            return SourceFile(cand.path, None, error="not a regular file"), None
        if raw.st_size > max_bytes:
            return SourceFile(cand.path, None, error=f"file is too large ({raw.st_size} bytes > {max_bytes}; "
                                                     "set [tool.auditor.scan] max-file-bytes)"), None
        st = _Stat(raw)
        explicit_other = cand.explicit and not cand.path.endswith((".py", ".pyi"))
        if stats is not None and not explicit_other:
            blob = stats.trusted_blob(entry, st)
            if blob is not None:
                return SourceFile(cand.path, None, blob=blob, full=cand.full), None
        with open(cand.full, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        why = "symlink loop" if exc.errno == 40 else (exc.strerror or type(exc).__name__)
        return SourceFile(cand.path, None, error=f"cannot be read: {why}"), None
    if explicit_other and not _python_shebang(data):
        return SourceFile(cand.path, None, error="not a Python file"), None
    return SourceFile(cand.path, data, prev_blob=entry[1] if entry is not None else None), st


def _python_shebang(data: bytes) -> bool:
    first = data.split(b"\n", 1)[0]
    return first.startswith(b"#!") and b"python" in first


def scan_paths(paths: list[Path], config: Config, *, use_cache: bool = True, jobs: int | None = None,
               keep_index: bool = False) -> ScanResult:
    """Walk these files and folders (skipping VCS, venv, build and excluded trees) and scan them."""
    for given in paths:
        if not os.path.lexists(given):
            raise InputError("no such file or directory", path=str(given))
    candidates = discover([Path(p) for p in paths], config.root, config)
    stats = FileStats(config.cache_dir / "code") if use_cache else None
    try:
        files = read_candidates(candidates, config, stats)
    finally:
        if stats is not None:
            stats.close()
    return scan_files(files, config, use_cache=use_cache, jobs=jobs, keep_index=keep_index)
