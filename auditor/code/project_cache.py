"""The project rules over the project index, and the cache that answers them without rebuilding it whenever
the summaries they read are unchanged."""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.code.analysis import code_rules, summary_key
from auditor.code.index import LazySummary, ModuleSummary
from auditor.code.project_index import ProjectIndex
from auditor.code.cache import ResultCache
from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import Finding, code_location
from auditor.meta import PROJECT_PATH, EngineSignal, run_rule

if TYPE_CHECKING:  # pragma: no cover
    from auditor.code.scan import ScanResult

DEPS_VARIANTS = 8  # project-rule results kept per set of summary heads (see _project_findings)


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


def split_summaries(results: dict[str, dict]) -> dict[str, dict]:
    """Per-file results go to the cache without their summary and its head, each stored once under its own
    hash: loading the per-file results of a big project then stays cheap, the heads are loaded only when
    the project index must be rebuilt, and a module's summary only when the index follows a call into it."""
    out: dict[str, dict] = {}
    for key, res in results.items():
        if res.get("summary") is not None:
            res["summary_key"] = res.get("summary_key") or summary_key(res["summary"])
            out[res["summary_key"]] = res["summary"]
            res = {**res, "summary": None}
        if res.get("head") is not None:
            out[res["head_key"]] = res["head"]
            res = {**res, "head": None}
        out[key] = res
    return out


class PreviousSummaries:
    """Summaries of files' previous versions, read from the result cache when first asked for (a cached
    per-file result holds only its summary's key: split_summaries). Open in one process
    only: an SQLite connection does not survive a fork."""

    def __init__(self, config: Config):
        self.folder = config.cache_dir / "code"
        self.cache: ResultCache | None = None

    def get(self, key: str) -> dict | None:
        if self.cache is None:
            self.cache = ResultCache(self.folder, "")  # summaries are stored under their own hash: no salt
        return self.cache.get_many([key]).get(key)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None


def _variants(record) -> list[dict]:
    """The deps record's variants; anything malformed is a miss."""
    try:
        return [v for v in record["variants"] if isinstance(v["read"], dict) and isinstance(v["findings"], list)]
    except (TypeError, KeyError):
        return []


class _CacheMiss(EngineSignal):
    """A summary the cache listed could not be read back."""


def project_findings(result: ScanResult, per_file: dict[str, dict], config: Config,
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
    unheld = any(per_file[p].get("summary") is None for p in with_summary)
    if keep_index or (cache is None and unheld):
        return _eager_project_findings(result, per_file, with_summary, config, cache)
    if cache is None:  # every summary was just made, with its head: bodies are read only where followed
        modules = [LazySummary(per_file[p]["head"], _held(per_file[p]["summary"])) for p in with_summary]
        return _run_project_rules(modules, config, result, keep=False)
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


def _held(summary: dict):
    return lambda: summary


def _eager_project_findings(result: ScanResult, per_file: dict[str, dict], with_summary: list[str], config: Config,
                            cache: ResultCache | None) -> list[Finding] | None:
    """Every summary loaded up front (the caller wants the index and its summaries, or some are not at hand)."""
    missing = [per_file[p]["summary_key"] for p in with_summary if per_file[p].get("summary") is None]
    loaded = cache.get_many(sorted(set(missing))) if cache is not None and missing else {}
    summaries = []
    for path in with_summary:
        data = per_file[path].get("summary") or loaded.get(per_file[path].get("summary_key"))
        if data is None:
            return None
        summaries.append(ModuleSummary.from_json(data))
    result.summaries = dict(zip(with_summary, summaries, strict=False))
    return _run_project_rules(summaries, config, result, keep=True)


def _run_project_rules(summaries: list, config: Config, result: ScanResult, keep: bool,
                       rules: list | None = None) -> list[Finding]:
    index = ProjectIndex(summaries, config)
    if keep:
        result.index = index
    out = []
    for rule in project_rules(config) if rules is None else rules:
        out.extend(run_rule(rule, code_location(PROJECT_PATH, 1), index, config, config=config))
    return out
