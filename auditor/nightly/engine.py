"""The nightly, start to end: discover runs, audit what is new or changed (the rest comes from the
state), replay checkpoints, scan the code at every SHA the runs used, re-check comparisons and docs,
then write the reports and remember what was seen.
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import json
import logging
import math
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.config import Config
from auditor.errors import InputError
from auditor.extras import missing_extra, needs_extra
from auditor.findings import Finding, sort_findings
from auditor.nightly import sources, tasks
from auditor.nightly.lock import NightlyLock
from auditor.fingerprint import nightly_fingerprint
from auditor.nightly.state import NightlyState, digest, state_path
from auditor.progress import PhaseTimer, Progress
from auditor.runs.series import Series

log = logging.getLogger("auditor")


DEFAULT_DOCS = ["*.md", "*.markdown", "docs/**/*.md", "docs/**/*.markdown"]


@dataclass
class NightlyOptions:
    results_dir: Path
    out: Path
    repo: str | None = None
    executor: str = "local"
    address: str | None = None
    partition: str | None = None
    time: str | None = None
    gpus: int | None = None
    jobs: int | None = None
    replay: bool = True
    wait_s: float = 0.0
    progress: bool | None = None  # None: only on a terminal
    cluster: str | None = None  # submitit's cluster ("local" in tests); None: Slurm when available
    docs: list[str] | None = None  # Markdown files or folders whose claims are checked (--docs)
    no_repo: bool = False  # --no-repo: auditing without a repository was asked for


@dataclass
class ComparisonReport:
    name: str
    baseline: str
    treatment: str
    metric: str
    summary: dict
    findings: list[Finding]
    derived: str | None = None  # not declared in comparisons.yaml: why it was derived
    groups: list[str] = field(default_factory=list)  # its sides that name run groups (recorded or derived)


@dataclass
class NightlyOutcome:
    findings: list[Finding]
    new: set[str]
    runs: list
    comparisons: list[ComparisonReport] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    repo_root: Path | None = None


def run_blob(run) -> str:
    """Everything discovery read about a run: a change anywhere makes it "changed"."""
    # vars(), not dataclasses.asdict(): no deep copy (10,000 runs a night); JSON walks the nesting itself.
    return json.dumps(vars(run), sort_keys=True, default=_plain)


def _plain(value) -> str:
    """A metric Series by the digest of its points (changed points change it), anything else as text."""
    return value.digest() if isinstance(value, Series) else str(value)


def _checkpoint_stamp(run) -> str:
    return _file_stamp((run.checkpoint or {}).get("path"))


def _code_stamp(run, repo_path: str | None) -> str:
    """The files of the replay's model/evaluate/quant modules (`pkg.mod:fn` -> REPO/pkg/mod.py): an edited
    model or eval function replays again. Best effort: modules those import are not followed. Only for a
    record without a SHA: one with a SHA replays that commit's code, and the SHA is in the record's blob."""
    if run.git_sha:
        return ""
    stamps = []
    for key in ("model", "evaluate", "quant"):
        target = str((run.replay or {}).get(key) or "")
        if ":" in target:
            module = target.split(":", 1)[0].replace(".", os.sep)
            base = os.path.join(repo_path or ".", module)
            candidates = [base + ".py", os.path.join(base, "__init__.py")]
        elif target.endswith(".py"):
            candidates = [target]
        else:
            continue
        stamps += [f"{path}={_file_stamp(path)}" for path in candidates]
    return "\n".join(stamps)


def _file_stamp(path: str | None) -> str:
    try:
        stat = os.stat(path) if path else None
    except OSError:
        stat = None
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}" if stat else "-"


# The fewest runs a task gets per executor. A run's audit costs about 3-7 ms; a Slurm array task about 1-3 s
# before any work (benchmarks/nightly_cluster.py): 5,000 runs keep that near 10% or below. Ray's is milliseconds.
MIN_RUNS_PER_TASK = {"ray": 50, "slurm": 5000}
MAX_TASKS_PER_ARRAY = 1000  # Slurm's default MaxArraySize is 1001
JOB_FOLDERS_KEPT_DAYS = 7  # a failed nightly's job logs stay this long for its rerun's owner to read


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class Nightly:
    def __init__(self, options: NightlyOptions, config: Config):
        self.options = options
        # Workers (Ray, Slurm) resolve nothing themselves: the cache dir is fixed here, in the driver.
        self.config = config.extended({"cache_dir_setting": str(config.cache_dir)})
        self.settings = self.config.nightly
        self.results_dir = Path(options.results_dir).resolve()
        self.timer = PhaseTimer()
        self.stats: dict[str, int] = {}
        self._executor = None
        self.version = nightly_fingerprint(config)
        self.config_fp = config.fingerprint()
        self.repo_path: str | None = None
        self.repo = None
        self._known_shas: dict[str, bool] = {}  # SHA -> whether the repo has it, asked once per SHA

    # -- executors -----------------------------------------------------------------------------
    def executor(self):
        if self._executor is None:  # started only when there is work: an unchanged nightly never pays for it
            from auditor.executors import make_executor

            o = self.options
            self._executor = make_executor(
                o.executor, jobs=self._explicit_jobs(), address=o.address or self.settings.address,
                partition=o.partition or self.settings.partition, time=o.time or self.settings.time,
                gpus=o.gpus if o.gpus is not None else self.settings.gpus, cluster=o.cluster,  # --gpus 0 wins
                folder=self.job_folder, grace_s=self.settings.grace)
        return self._executor

    def _explicit_jobs(self) -> int | None:
        """--jobs or the setting; None on a cluster, whose size is its own (not this login node's cores)."""
        jobs = self.options.jobs or self.settings.jobs
        if jobs or self.options.executor != "local":
            return int(jobs) if jobs else None
        return os.cpu_count() or 1

    def _jobs(self) -> int:
        return int(self.options.jobs or self.settings.jobs or os.cpu_count() or 1)

    def _in_pool(self) -> bool:
        return self.options.executor != "local" or self._jobs() > 1

    def _chunk_size(self, count: int) -> int:
        """Runs per task. On a cluster a task costs about a second or more before it does any work (scheduling,
        interpreter start, imports), so it gets enough runs to make that small; locally, enough tasks to spread."""
        configured = self.settings.chunk_size
        if configured:
            return max(1, int(configured))
        if self.options.executor == "local":
            return max(1, min(200, math.ceil(count / (self._jobs() * 4))))
        size = max(MIN_RUNS_PER_TASK[self.options.executor], math.ceil(count / MAX_TASKS_PER_ARRAY))
        jobs = self._explicit_jobs()
        return max(size, math.ceil(count / (jobs * 4))) if jobs else size

    def _run_tasks(self, label: str, kind: str, fn: Callable, work: list, state: NightlyState,
                   found: dict[str, list[Finding]], count: Callable[[Any], int], gpu: bool = False) -> None:
        """Run tasks on the executor; commit each finished task's rows to the state at once. A task that did not
        finish is remembered (nothing of it is stored) and the nightly goes on with the other phases."""
        if not work:
            return
        from auditor.executors import JobFailed

        total = sum(count(w) for w in work)
        with Progress(label, total, enabled=self.options.progress) as bar:
            def on_result(_index: int, result: tasks.TaskResult) -> None:
                state.store(kind, result.kept())
                for key, _subject, dicts in result.rows:
                    found[key] = [Finding.from_json(d) for d in dicts]
                bar.advance(len(result.rows))

            if len(work) == 1 and self.options.executor == "local":
                on_result(0, fn(work[0]))  # one task: no pool to start
                return
            try:
                self.executor().map(fn, work, on_result=on_result, gpu=gpu, label=label)
            except JobFailed as exc:
                self._failures.extend(f"{label}: {failure}" for failure in exc.failures)

    # -- the phases ------------------------------------------------------------------------------
    def known_shas(self, runs: list) -> dict[str, bool]:
        """Whether the repo has each distinct SHA the runs name: one git call per SHA, not per run."""
        if self.repo is None:
            return {}
        for sha in sorted({str(run.git_sha) for run in runs if run.git_sha} - self._known_shas.keys()):
            self._known_shas[sha] = self.repo.has_commit(sha)
        return self._known_shas

    def audit_runs(self, runs: list, state: NightlyState) -> list[Finding]:
        # A run's audit depends on its record and on whether the repo has its SHA (RA202 goes away once a
        # fetch brings the commit): both are in the key, so nothing stale is served from the state.
        known = self.known_shas(runs)
        keys = {run.id: digest("run", run_blob(run), str(known.get(str(run.git_sha))), self.version, self.config_fp,
                               self.repo_path or "") for run in runs}
        found = state.cached("run", keys.values())
        todo = [(keys[run.id], run) for run in runs if keys[run.id] not in found]
        self.stats.update(runs=len(runs), runs_audited=len(todo), runs_reused=len(runs) - len(todo))
        size = self._chunk_size(len(todo))
        work = [tasks.RunBatch(chunk, self.config, self.repo_path, "run") for chunk in _chunks(todo, size)]
        self._run_tasks("runs", "run", tasks.audit_runs, work, state, found, lambda b: len(b.items))
        self._keep["run"] = set(keys.values())
        return [f for key in sorted(set(keys.values())) for f in found.get(key, [])]

    def replay_runs(self, runs: list, state: NightlyState) -> list[Finding]:
        candidates = [run for run in runs if run.replay and run.checkpoint]
        if not candidates or not self.options.replay or not self.settings.replay:
            self.stats.update(replays=0)
            return []
        try:
            importlib.import_module("auditor.replay.driver")
        except ImportError as exc:
            if missing_extra(exc) is None:
                raise
            log.warning("replays skipped: %s", needs_extra("replaying checkpoints", missing_extra(exc)))
            self.stats.update(replays=0)
            return []
        keys = {run.id: digest("replay", run_blob(run), _checkpoint_stamp(run), _code_stamp(run, self.repo_path),
                               self.version, self.config_fp, self.repo_path or "") for run in candidates}
        found = state.cached("replay", keys.values())
        todo = [(keys[run.id], run) for run in candidates if keys[run.id] not in found]
        self.stats.update(replays=len(candidates), replays_run=len(todo))
        # Replays are heavy (a model per run): one per task spreads them best.
        work = [tasks.RunBatch([item], self.config, self.repo_path, "replay") for item in todo]
        self._run_tasks("replays", "replay", tasks.audit_runs, work, state, found, lambda _batch: 1, gpu=True)
        self._keep["replay"] = set(keys.values())
        return [f for key in sorted(set(keys.values())) for f in found.get(key, [])]

    def scan_code(self, runs: list, state: NightlyState) -> list[Finding]:
        if self.repo is None:
            return []
        runs_by_sha: dict[str, list[str]] = {}
        known = self.known_shas(runs)
        for run in runs:
            if run.git_sha and known.get(str(run.git_sha)):
                runs_by_sha.setdefault(self.repo.resolve_recorded(run.git_sha), []).append(run.id)
        keys = {sha: digest("code", sha, self.version, self.config_fp) for sha in runs_by_sha}
        found = state.cached("code", keys.values())
        todo = sorted(sha for sha in runs_by_sha if keys[sha] not in found)
        self.stats.update(shas=len(runs_by_sha), shas_scanned=len(todo))
        jobs = 1 if self._in_pool() and len(todo) > 1 else None
        work = [tasks.ShaTask(self.repo_path, sha, self.config, keys[sha], jobs) for sha in todo]
        self._run_tasks("code", "code", tasks.scan_sha, work, state, found, lambda _task: 1)
        self._keep["code"] = set(keys.values())
        reach = self._training_paths(runs)
        return merge_code_findings({sha: found.get(keys[sha], []) for sha in runs_by_sha}, runs_by_sha, reach)

    def _training_paths(self, runs: list) -> dict[str, set[str]]:
        """run id -> the files its entry point reaches at its SHA, for runs whose entry point is known there
        (a finding is "used by" a run only if its file is on that run's training path)."""
        from auditor.trainpath import training_path

        reach: dict[str, set[str]] = {}
        by_sha_entry: dict[tuple[str, str], set[str]] = {}
        for run in runs:
            if not (run.git_sha and run.entry_point):
                continue
            try:
                sha = self.repo.resolve(run.git_sha)
            except InputError:
                continue
            if (sha, run.entry_point) not in by_sha_entry:
                files = {path: data for path, _, data in self.repo.python_files_at(sha)}
                by_sha_entry[(sha, run.entry_point)] = training_path(files, run.entry_point)
            if by_sha_entry[(sha, run.entry_point)]:
                reach[run.id] = by_sha_entry[(sha, run.entry_point)]
        return reach

    def check_comparisons(self, runs: list) -> tuple[list[Finding], list[ComparisonReport]]:
        """The comparisons of comparisons.yaml, then those derived from the runs (see auditor/compare/derive.py)."""
        declared = sources.comparisons(self.results_dir) or []
        derived = sources.derived_comparisons(runs, self.config, declared, self.results_dir)
        specs = declared + derived
        groups = sources.group_names(runs, self.config) if specs else set()
        findings, reports = [], []
        for spec in specs:
            try:
                result = sources.check_comparison(spec, runs, self.config, self.repo_path)
                spec_findings, summary = list(result.findings), dict(getattr(result, "summary", None) or {})
            except InputError as exc:
                # One stale comparison (a deleted group, a metric no run logs) must not stop the nightly.
                spec_findings, summary = [self._comparison_unusable(spec, exc)], {}
            findings.extend(spec_findings)
            reports.append(ComparisonReport(
                name=str(getattr(spec, "name", "") or f"{spec.baseline} vs {spec.treatment}"),
                baseline=str(getattr(spec, "baseline", "")), treatment=str(getattr(spec, "treatment", "")),
                metric=str(getattr(spec, "metric", "")), summary=summary,
                findings=sort_findings(spec_findings), derived=getattr(spec, "derived", None),
                groups=sorted({str(side) for side in (spec.baseline, spec.treatment)} & groups)))
        self.stats.update(comparisons=len(reports), comparisons_derived=len(derived))
        return findings, reports

    def _comparison_unusable(self, spec, exc: InputError) -> Finding:
        from auditor.findings import groups_location
        from auditor.meta import input_unreadable

        if getattr(spec, "derived", None):
            where = "derived from the runs"
        else:
            where = f"comparisons.yaml:{spec.line}" if getattr(spec, "line", None) else "comparisons.yaml"
        return input_unreadable(f"comparison {spec.name!r} ({where}) was not checked: {exc.message}",
                                groups_location(str(spec.baseline), str(spec.treatment)),
                                {"comparison": spec.name, "path": where}, config=self.config, anchor=str(spec.name))

    def _no_repo_finding(self) -> Finding:
        """Every report says when no code was checked: an error unless --no-repo asked for exactly that."""
        from auditor.registry import rule_class

        asked = self.options.no_repo
        message = ("no git repository (--no-repo): the code at the runs' SHAs was not scanned and their commits "
                   "were not checked" if asked else
                   "no git repository: the code at the runs' SHAs was not scanned and their commits were not "
                   "checked; pass --repo REPO (or --no-repo to audit the run records only)")
        return rule_class("RA001")().finding(message, {"path": "."}, {"repository": None},
                                             severity="info" if asked else "error", anchor="no-repository")

    def docs_paths(self) -> list[Path]:
        """--docs, else [tool.auditor.nightly] docs, else every Markdown file at the repo's top and under docs/."""
        configured = self.options.docs or self.settings.docs
        base = Path(self.repo_path) if self.repo_path else self.config.root
        patterns = configured if configured is not None else DEFAULT_DOCS
        if isinstance(patterns, str):
            patterns = [patterns]
        paths: set[Path] = set()
        for pattern in patterns:
            full = pattern if os.path.isabs(pattern) else str(base / pattern)
            if self.options.docs and os.path.isdir(pattern):
                full = os.path.join(pattern, "**", "*.md")
            elif self.options.docs and not any(ch in pattern for ch in "*?[") and not os.path.exists(pattern):
                raise InputError("no such docs file or folder", path=pattern)
            elif self.options.docs:
                full = pattern
            paths.update(Path(p) for p in glob.glob(full, recursive=True) if p.endswith((".md", ".markdown")))
        return sorted(paths)

    def check_docs(self, runs: list) -> list[Finding]:
        paths = self.docs_paths()
        self.stats.update(docs=len(paths))
        if not paths:
            return []
        return sources.check_docs(paths, runs, self.results_dir, self.config) or []

    # -- all of it -----------------------------------------------------------------------------
    def run(self) -> NightlyOutcome:
        if not self.results_dir.is_dir():
            raise InputError("results directory not found", path=str(self.options.results_dir))
        self._resolve_repo()
        cache = self.config.cache_dir
        lock = NightlyLock(state_path(cache, self.results_dir).with_suffix(".lock"), self.options.wait_s,
                           what=str(self.options.results_dir))
        with lock, _term_stops_the_nightly():
            self.job_folder = _new_job_folder(state_path(cache, self.results_dir).with_suffix(".jobs"))
            state = NightlyState(state_path(cache, self.results_dir))
            try:
                return self._run(state)
            finally:
                state.close()
                if self._executor is not None:
                    self._executor.close()  # cancels what is still out when the nightly was stopped

    def _resolve_repo(self) -> None:
        path = self.options.repo or self.settings.repo
        if self.options.no_repo:
            self.repo = None
        elif path:
            self.repo = sources.open_repo(path)
        else:  # the current directory, when it is a git repository
            try:
                self.repo = sources.open_repo(".")
            except InputError:
                self.repo = None
        self.repo_path = str(self.repo.root) if self.repo is not None else None

    def _run(self, state: NightlyState) -> NightlyOutcome:
        self._keep: dict[str, set[str]] = {}
        self._failures: list[str] = []
        state.begin()
        with self.timer.phase("discover"):
            runs, problems = sources.discover(self.results_dir, self.config, stats=self.stats,
                                              cache=self.settings.discovery_cache)
        if self.repo is None:
            problems.append(self._no_repo_finding())
        with self.timer.phase("runs"):
            findings = problems + self.audit_runs(runs, state)
        with self.timer.phase("replays"):
            findings += self.replay_runs(runs, state)
        with self.timer.phase("code"):
            findings += self.scan_code(runs, state)
        if self._failures:  # no report from a partial night: the rerun finishes the work and writes them
            from auditor.executors import JobFailed

            raise JobFailed(self._failures, self._executor.name if self._executor else self.options.executor)
        with self.timer.phase("comparisons"):
            compare_findings, comparisons = self.check_comparisons(runs)
            findings += compare_findings
        with self.timer.phase("docs"):
            findings += self.check_docs(runs)
        ordered = sort_findings(findings)
        fingerprints = sorted({f.fingerprint for f in ordered})
        new = set(fingerprints) - state.seen(fingerprints)
        outcome = NightlyOutcome(ordered, new, runs, comparisons, dict(self.stats), self.timer.timings,
                                 Path(self.repo_path) if self.repo_path else None)
        with self.timer.phase("report"):
            from auditor.nightly.reports import write_reports

            write_reports(self.options.out, outcome, self.config, state)
        state.finish(fingerprints, len(ordered))
        for kind, keep in self._keep.items():
            state.prune(kind, keep)
        return outcome


def merge_code_findings(per_sha: dict[str, list[Finding]], runs_by_sha: dict[str, list[str]],
                        reach: dict[str, set[str]] | None = None) -> list[Finding]:
    """One finding per (rule, fingerprint) across SHAs, saying which SHAs have it and which runs used them:
    the runs at those SHAs whose training path (`reach`, when their entry point is known) has the file."""
    reach = reach or {}
    groups: dict[tuple[str, str], list[tuple[str, Finding]]] = {}
    for sha in sorted(per_sha):
        for f in per_sha[sha]:
            groups.setdefault((f.rule, f.fingerprint), []).append((sha, f))
    merged = []
    for _, items in sorted(groups.items()):
        shas = sorted({sha for sha, _ in items})
        first = min((f for _, f in items), key=Finding.sort_key)
        path = first.location.path
        run_ids = sorted({r for sha in shas for r in runs_by_sha.get(sha, []) if r not in reach or path in reach[r]})
        evidence = {**first.evidence, "shas": [s[:12] for s in shas], "runs": run_ids[:20]}
        if len(run_ids) > 20:
            evidence["runs_total"] = len(run_ids)
        merged.append(dataclasses.replace(first, evidence=evidence))
    return merged


@contextmanager
def _term_stops_the_nightly():
    """SIGTERM (a scheduler or service manager stopping the nightly) acts as Ctrl-C: the executor then cancels
    the jobs still out instead of leaving them to run for nobody."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _new_job_folder(parent: Path) -> Path:
    """This nightly's own job folder (submitit names files by job id, and ids repeat after a cluster restart).
    Folders of earlier nightlies are removed once old: a clean nightly removes its own at the end."""
    cutoff = time.time() - JOB_FOLDERS_KEPT_DAYS * 86400
    try:
        old = [p for p in parent.iterdir() if p.is_dir() and p.stat().st_mtime < cutoff]
    except OSError:
        old = []
    for folder in old:
        shutil.rmtree(folder, ignore_errors=True)
    return parent / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def run_nightly(options: NightlyOptions, config: Config) -> NightlyOutcome:
    return Nightly(options, config).run()
