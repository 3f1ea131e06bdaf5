"""The scan pipeline: files -> (cache | needs -> one parse -> module rules + summary) -> project index
-> project rules -> per-path ignores and inline suppressions -> sorted findings.

Incremental scans give exactly what a cold scan gives (tests/code/test_incremental.py):
- a changed file whose previous version had no finding, and whose edit touched only comment and blank lines
  (same `code_skeleton`), is not analyzed again (analysis.reuse_previous);
- project rules' findings are cached by the summaries they read (project_cache.py);
- files are read only when their stat signature changed (sources.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

from auditor.code.cache import FileStats, ResultCache, blob_hash
from auditor.code.discover import SKIP_DIRS, discover
from auditor.code.facts import ProjectFacts, facts_from, read_facts
from auditor.code.sources import SourceFile, read_candidates
from auditor.config import Config
from auditor.errors import InputError
from auditor.fingerprint import code_fingerprint
from auditor.meta import PROJECT_PATH
from auditor.findings import Finding, sort_findings

if TYPE_CHECKING:
    from auditor.code.analysis import FileAnalyzer


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
    version = f"{code_fingerprint(config)}:{facts.key()}"
    cache = ResultCache(config.cache_dir / "code", version) if use_cache else None
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
        result = _scan_uncached(files, config, cache, keys, jobs, keep_index, facts)
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
                   jobs: int | None, keep_index: bool, facts: ProjectFacts) -> ScanResult:
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
    work = [(f.path, f.data, previous.get(prev_keys.get(f.path, ""))) for f in misses]
    fresh = run_analysis(work, config, analyzer, jobs, facts) if work else []
    done = list(zip([path for path, _, _ in work], fresh, strict=True))
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
    inside = all(not os.path.isabs(c.path) for c in candidates)  # paths outside the root are not the project's
    covers = _covers(paths, config.root)
    if config.root.is_dir() and inside and not covers:
        wanted = {c.path for c in candidates}
        context = {c.path: c for c in discover([config.root], config.root, config, packaging)}
        context.update({c.path: c for c in candidates})
        candidates = [context[p] for p in sorted(context)]
        covers = True
    facts = facts_from(packaging) if covers and config.root.is_dir() else None
    stats = FileStats(config.cache_dir / "code") if use_cache else None
    try:
        files = read_candidates(candidates, config, stats)
    finally:
        if stats is not None:
            stats.close()
    result = scan_files(files, config, use_cache=use_cache, jobs=jobs, keep_index=keep_index, facts=facts)
    return result if wanted is None else _only(result, files, wanted)


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
