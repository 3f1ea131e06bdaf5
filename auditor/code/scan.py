"""The scan pipeline: files -> (cache | needs -> one parse -> module rules + summary) -> project index
-> project rules -> per-path ignores and inline suppressions -> sorted findings.

Incremental scans give exactly what a cold scan gives (tests/code/test_incremental.py):
- a scan of the whole tree stats every file against the record of its last scan and reads only the files
  that changed (tree_record.py); an unchanged tree is answered by that scan's result;
- a changed file whose edit touched only comment and blank lines keeps its previous result, or its
  previous summary with the lines it quotes re-read (analysis.reuse_previous); when the few files that
  changed all keep their findings, suppressions and summaries, the previous tree's result stands
  (`_edits_without_effect`), without loading every file's cached result;
- project rules' findings are cached by the summaries they read (project_cache.py);
- outside a whole-tree scan, files are read only when their stat signature changed (sources.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.code.cache import FileStats, ResultCache, blob_hash
from auditor.code.discover import SKIP_DIRS, Candidate, discover
from auditor.code.facts import ProjectFacts, facts_from, packaging_files_in, read_facts
from auditor.code.imported_files import imported_files, in_a_project
from auditor.code.sources import SourceFile, read_candidates
from auditor.code.tree_record import TreeRecord, read_tree, record_of
from auditor.config import Config
from auditor.errors import InputError
from auditor.fingerprint import code_fingerprint
from auditor.meta import PROJECT_PATH
from auditor.findings import Finding, sort_findings

if TYPE_CHECKING:
    from auditor.code.analysis import FileAnalyzer

MAX_QUICK_EDITS = 8  # changed files checked one by one for an edit that changes nothing (more: the full scan)


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

# -- the whole scan --------------------------------------------------------------------------------------


def scan_files(files: list[SourceFile], config: Config, *, use_cache: bool = True, jobs: int | None = None,
               keep_index: bool = False, facts: ProjectFacts | None = None) -> ScanResult:
    """Scan these files as one project. Findings are sorted; broken files are RA001 findings.

    `keep_index=True` fills `summaries` and `index` of the result (a warm scan of an unchanged tree
    otherwise answers from the project cache without loading them).
    """
    if facts is None:
        facts = read_facts(config.root, SKIP_DIRS) if config.root.is_dir() else ProjectFacts()
    if not use_cache:
        return _scan_uncached(files, config, None, {}, jobs, keep_index, facts, {})
    cache = result_cache(config, facts)
    try:
        return _scan_with_cache(files, config, cache, jobs, keep_index, facts, {})[0]
    finally:
        cache.close()


def result_cache(config: Config, facts: ProjectFacts) -> ResultCache:
    """The result cache, its keys salted by everything that changes results (rules, engine, settings, facts)."""
    return ResultCache(config.cache_dir / "code", f"{code_fingerprint(config)}:{facts.key()}")


def _scan_with_cache(files: list[SourceFile], config: Config, cache: ResultCache, jobs: int | None, keep_index: bool,
                     facts: ProjectFacts, keys: dict[str, str]) -> tuple[ScanResult, str]:
    """(the result, its key). `keys`: the files' result keys known beforehand; the others are added."""
    for f in files:
        if f.path not in keys:
            content = (f.blob or blob_hash(f.data)) if not f.unreadable else f"unreadable:{f.error}"
            keys[f.path] = cache.key(f.path, content)
    project_key = cache.project_key(list(keys.values()))
    hit = None if keep_index else cache.get_many([project_key]).get(project_key)
    if hit is not None:
        return _recorded_result(hit, len(files)), project_key
    edited: dict[str, dict] = {}
    result = None if keep_index else _edits_without_effect(files, config, cache, keys, edited)
    if result is None:
        result = _scan_uncached(files, config, cache, keys, jobs, keep_index, facts, edited)
    if not any(f.raced for f in files):  # a file changed under the scan: its results match no key
        cache.put_many({project_key: {"findings": [f.to_json() for f in result.findings], "lines": result.lines,
                                      "unreadable": result.unreadable}})
    return result, project_key


def _recorded_result(record: dict, files: int) -> ScanResult:
    return ScanResult(findings=[Finding.from_json(x) for x in record["findings"]], files=files, lines=record["lines"],
                      cached=files, unreadable=record["unreadable"])


def _edits_without_effect(files: list[SourceFile], config: Config, cache: ResultCache, keys: dict[str, str],
                          edited: dict[str, dict]) -> ScanResult | None:
    """The result of a scan in which a few files changed since the last scan of this tree in ways that change
    nothing it reports (a comment appended, a blank line at the end): the previous scan's findings, without
    loading every file's cached result. None: scan.

    The previous tree is this one with each changed file's previous content (`prev_blob`: from the tree
    record, or the stat cache). When
    its scan is on record and every changed file's new result (analysis.reuse_previous, no parse when its
    code lines stand where they were) has the same findings, suppressions and summary as before, nothing the
    project rules or the suppressions read has changed either. The new results are kept in `edited` for the
    full scan when they do change something."""
    read = [f for f in files if f.data is not None and not f.unreadable]
    changed = [f for f in read if f.prev_blob != f.blob]
    if not changed or len(changed) > MAX_QUICK_EDITS or any(f.prev_blob is None for f in changed):
        return None
    old_keys = {**keys, **{f.path: cache.key(f.path, f.prev_blob) for f in changed}}
    old_project = cache.project_key(list(old_keys.values()))
    found = cache.get_many(sorted({old_project, *(old_keys[f.path] for f in changed)}))
    record = found.get(old_project)
    if record is None or any(old_keys[f.path] not in found for f in changed):
        return None
    from auditor.code.analysis import reuse_previous
    from auditor.code.project_cache import PreviousSummaries, split_summaries

    lines = record["lines"]
    summaries = PreviousSummaries(config)
    try:
        for f in changed:
            prev = found[old_keys[f.path]]
            res = reuse_previous(prev, f.path, f.data, config, summaries)
            if res is None:
                return None
            edited[f.path] = res
            if any(res.get(k) != prev.get(k) for k in ("findings", "suppressions", "summary_key", "indexing")):
                return None
            lines += res["lines"] - prev["lines"]
    finally:
        summaries.close()

    cache.put_many(split_summaries({keys[f.path]: edited[f.path] for f in changed}))
    result = _recorded_result({**record, "lines": lines}, len(files))
    result.parsed = sum(bool(edited[f.path].get("parsed")) for f in changed)
    result.cached = len(files) - len(changed) - record["unreadable"]
    return result


def _scan_uncached(files: list[SourceFile], config: Config, cache: ResultCache | None, keys: dict[str, str],
                   jobs: int | None, keep_index: bool, facts: ProjectFacts, edited: dict[str, dict]) -> ScanResult:
    # Imported here: a warm scan answered by the project cache (the pre-commit hook) never loads the analysis.
    from auditor.code.analysis import FileAnalyzer, unreadable_result
    from auditor.code.pool import run_analysis
    from auditor.code.project_cache import project_findings, split_summaries
    from auditor.code.suppress import Suppression, apply_suppressions

    analyzers: list[FileAnalyzer] = []

    def analyzer() -> FileAnalyzer:  # built only when a file must really be analyzed: it imports every rule
        if not analyzers:
            analyzers.append(FileAnalyzer(config, facts))
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
    # A changed file whose previous version is cached: an edit of comments only is not analyzed again
    # (decided where the file is analyzed: in the pool).
    prev_keys = {f.path: cache.key(f.path, f.prev_blob) for f in misses if cache is not None and f.prev_blob}
    previous = cache.get_many(sorted(set(prev_keys.values()))) if prev_keys else {}
    work = [(f.path, f.data, previous.get(prev_keys.get(f.path, ""))) for f in misses if f.path not in edited]
    fresh = run_analysis(work, config, analyzer, jobs, facts) if work else []
    done = list(zip([path for path, _, _ in work], fresh, strict=True))
    done += [(f.path, edited[f.path]) for f in misses if f.path in edited]
    for path, res in done:
        per_file[path] = res
    if cache is not None and not any(f.raced for f in files):  # content that changed under the scan stays out
        cache.put_many(split_summaries({keys[path]: res for path, res in done if path in keys}))

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
    project = project_findings(result, per_file, config, cache, keep_index)
    if project is None:  # a cached summary could not be read back: summarize those files again
        data = {f.path: f.content() for f in files}
        for path, res in per_file.items():
            if res.get("summary") is None and res.get("summary_key") and data[path] is not None:
                per_file[path] = analyzer().analyze(path, data[path])
        project = project_findings(result, per_file, config, None, keep_index) or []
    findings.extend(project)
    findings = [f for f in findings if config.is_selected(f.rule, f.location.path)]
    result.findings = sort_findings(apply_suppressions(findings, suppressions, config))
    return result


def scan_paths(paths: list[Path], config: Config, *, use_cache: bool = True, jobs: int | None = None,
               keep_index: bool = False) -> ScanResult:
    """Walk these files and folders (skipping VCS, venv, build and excluded trees) and scan them.

    A scan of part of a project (`audit scan train.py`) still sees the whole project: its helpers in other
    files seed, validate and quantize for it. The index is built from every file under the project root, and
    only findings in the files asked for are reported."""
    for given in paths:
        if not os.path.lexists(given):
            raise InputError("no such file or directory", path=str(given))
    packaging: list[tuple[str, str]] = []  # met by a walk of the whole root: the project's facts come from it
    candidates = discover([Path(p) for p in paths], config.root, config, packaging)
    wanted = None
    inside = not any(map(os.path.isabs, [c.path for c in candidates]))  # paths outside the root are not the project's
    covers = _covers(paths, config.root)
    if config.root.is_dir() and inside and not covers:
        wanted = {c.path for c in candidates}
        if in_a_project(config):
            context = {c.path: c for c in discover([config.root], config.root, config, packaging)}
            context.update({c.path: c for c in candidates})
            candidates = [context[p] for p in sorted(context)]
            covers = True
        else:  # the folder may be a home or /tmp: its tree is not the program's, what the files import is
            imported = imported_files(candidates, config.root, config.scan.max_file_bytes)
            candidates = sorted([*candidates, *imported], key=lambda c: c.path)
            # facts_from keeps the packaging files among them (an __init__.py, a setup.py)
            packaging = [(c.path, str(c.full)) for c in candidates] + packaging_files_in(config.root)
            return _only(*_scan_read(candidates, config, use_cache, jobs, keep_index, facts_from(packaging)), wanted)
    facts = facts_from(packaging) if covers and config.root.is_dir() else None
    if use_cache and facts is not None:
        result, files = _scan_tree(candidates, config, facts, jobs, keep_index)
        return result if wanted is None else _only(result, files, wanted)
    result, files = _scan_read(candidates, config, use_cache, jobs, keep_index, facts)
    return result if wanted is None else _only(result, files, wanted)


def _scan_read(candidates: list[Candidate], config: Config, use_cache: bool, jobs: int | None, keep_index: bool,
               facts: ProjectFacts | None) -> tuple[ScanResult, list[SourceFile]]:
    """Files read through the stat cache (not a whole-tree scan), then scanned."""
    stats = FileStats(config.cache_dir / "code") if use_cache else None
    try:
        files = read_candidates(candidates, config, stats)
    finally:
        if stats is not None:
            stats.close()
    return scan_files(files, config, use_cache=use_cache, jobs=jobs, keep_index=keep_index, facts=facts), files


def _scan_tree(candidates: list[Candidate], config: Config, facts: ProjectFacts, jobs: int | None,
               keep_index: bool) -> tuple[ScanResult, list[SourceFile]]:
    """A scan of the whole project tree, read against the record of its last scan (tree_record.py): an
    unchanged tree costs one stat per file and two lookups, and only the files that changed are read."""
    cache = result_cache(config, facts)
    try:
        record = TreeRecord.load(cache, config.root)
        read = read_tree(candidates, record, config.scan.max_file_bytes)
        if read.unchanged and record is not None and not keep_index:
            hit = cache.get_many([record.project]).get(record.project)
            if hit is not None:
                return _recorded_result(hit, len(read.files)), read.files
        keys = dict(read.keys)
        result, project_key = _scan_with_cache(read.files, config, cache, jobs, keep_index, facts, keys)
        if not any(f.raced for f in read.files) and read.worth_recording(record):
            record_of(read, keys, project_key).save(cache, config.root)
        return result, read.files
    finally:
        cache.close()


def _covers(paths: list[Path], root: Path) -> bool:
    """Does the scan include the project root itself?"""
    return any(Path(p).is_dir() and Path(p).resolve() == root.resolve() for p in paths)


def _only(result: ScanResult, files: list[SourceFile], wanted: set[str]) -> ScanResult:
    """The result restricted to the files asked for (the index saw them all)."""
    result.findings = [f for f in result.findings if f.location.path in wanted or
                       f.location.path == PROJECT_PATH]
    asked = [f for f in files if f.path in wanted]
    result.files = len(asked)
    result.lines = sum(_line_count(f.content()) for f in asked)
    result.unreadable = sum(f.unreadable for f in asked)
    return result


def _line_count(data: bytes | None) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
