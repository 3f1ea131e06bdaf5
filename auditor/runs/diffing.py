"""What differs between two runs: code (commits, files, hazards), config, environment, eval protocol.

The code half works on git objects only (auditor.vcs): both SHAs and every commit between them
are scanned from their trees, never checked out. The scanner caches findings per blob hash, and
a commit whose Python blobs equal the previous commit's is not scanned again, so walking a long
range costs one parse per distinct file content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.errors import InputError
from auditor.findings import Finding, sort_findings, split_new
from auditor.report.escape import Markdown, md_code, md_text
from auditor.runs.record import Run, flatten
from auditor.trainpath import training_path
from auditor.vcs import Commit, FileChange, Repo, scan_at_sha

_ABSENT = object()

# eval protocol: (label, how to read it from a run)
PROTOCOL = ("eval quant", "eval dataset", "eval framework", "max steps", "eval interval", "reported metric",
            "reported step")


@dataclass
class Hazard:
    finding: Finding  # located at the SHA where it exists (RUN_B's for introduced, RUN_A's for removed)
    commit: Commit | None  # the commit that introduced (or removed) it; None when not found in the range
    on_training_path: bool | None  # None when the training path is unknown


@dataclass
class RunDiff:
    run_a: Run
    run_b: Run
    sha_a: str | None = None
    sha_b: str | None = None
    git_note: str | None = None  # why the code half is missing or what the range means
    entry_point: str | None = None
    training_path_known: bool = False
    commits: list[Commit] = field(default_factory=list)
    files: list[tuple[FileChange, bool | None]] = field(default_factory=list)  # (change, on training path)
    introduced: list[Hazard] = field(default_factory=list)
    removed: list[Hazard] = field(default_factory=list)
    config: list[tuple[str, Any, Any]] = field(default_factory=list)  # (key, a, b); _ABSENT when missing
    environment: list[tuple[str, Any, Any]] = field(default_factory=list)
    config_recorded: bool = True  # False: neither run recorded any (then "same" would say nothing true)
    environment_recorded: bool = True
    protocol: list[tuple[str, Any, Any]] = field(default_factory=list)  # every protocol item, equal or not

    def findings(self) -> list[Finding]:
        """Introduced hazards as findings of their own code rules, located in RUN_B's tree.

        Only hazards on the training path (or all, when it is unknown): the others are listed in the
        diff but did not run.
        """
        out = []
        for hazard in self.introduced:
            if hazard.on_training_path is False:
                continue  # listed in the diff, but not code that ran
            f = hazard.finding
            evidence = dict(f.evidence)
            evidence["sha"] = self.sha_b
            if hazard.commit is not None:
                evidence["introduced_by"] = hazard.commit.sha
                evidence["commit_summary"] = hazard.commit.summary
                message = f"{f.message} [introduced by {hazard.commit.short} \"{hazard.commit.summary}\"]"
            else:
                message = f"{f.message} [introduced between {self.sha_a[:10]} and {self.sha_b[:10]}]"
            evidence["runs"] = [self.run_a.id, self.run_b.id]
            out.append(Finding(rule=f.rule, name=f.name, severity=f.severity, message=message,
                               location=f.location, evidence=evidence, fingerprint=f.fingerprint))
        return sort_findings(out)


def diff_runs(run_a: Run, run_b: Run, repo: Repo | None, config, *, repo_error: str | None = None) -> RunDiff:
    result = RunDiff(run_a=run_a, run_b=run_b)
    result.config_recorded = bool(run_a.config or run_b.config)
    result.config = _dict_diff(flatten(run_a.config or {}), flatten(run_b.config or {}))
    result.environment_recorded = bool(run_a.environment or run_b.environment)
    result.environment = _dict_diff(flatten(run_a.environment or {}), flatten(run_b.environment or {}))
    result.protocol = [(label, _protocol_value(run_a, label, config), _protocol_value(run_b, label, config))
                       for label in PROTOCOL]
    _diff_code(result, repo, config, repo_error)
    return result


# -- code ----------------------------------------------------------------------------------------

def _diff_code(result: RunDiff, repo: Repo | None, config, repo_error: str | None) -> None:
    a, b = result.run_a, result.run_b
    if repo is None:
        result.git_note = repo_error or "no git repository: code not compared"
        return
    missing = [run.id for run in (a, b) if not run.git_sha]
    if missing:
        result.git_note = f"no git SHA recorded for {', '.join(missing)}: code not compared"
        return
    try:
        result.sha_a, result.sha_b = repo.resolve_recorded(a.git_sha), repo.resolve_recorded(b.git_sha)
    except InputError as exc:
        result.git_note = f"code not compared: {exc.message}"
        return
    dirty = [run.id for run in (a, b) if run.git_dirty]
    notes = [repo.range_note(result.sha_a, result.sha_b)]
    if dirty:
        notes.append(f"{', '.join(dirty)} ran with uncommitted changes: the code that ran is not exactly its SHA")
    result.git_note = "; ".join(n for n in notes if n) or None
    if result.sha_a == result.sha_b:
        return

    result.entry_point = b.entry_point or a.entry_point
    path_a, path_b = _training_paths(repo, result, config)
    on_path = path_a | path_b
    result.commits = repo.commits_between(result.sha_a, result.sha_b)
    for change in repo.changed_files(result.sha_a, result.sha_b):
        flag = (change.path in on_path or (change.old_path or "") in on_path) if result.training_path_known else None
        result.files.append((change, flag))

    findings_a, findings_b = scan_at_sha(repo, result.sha_a, config), scan_at_sha(repo, result.sha_b, config)
    before = {f.fingerprint: f for f in findings_a}
    new = {f.fingerprint: f for f in split_new(findings_a, findings_b)[0]}  # the same test as the hooks'
    gone = {f.fingerprint: f for f in split_new(findings_b, findings_a)[0]}
    appeared, vanished = _attribute(repo, result, config, set(new), set(gone), before)
    for fp, f in new.items():
        flag = f.location.path in path_b if result.training_path_known else None
        result.introduced.append(Hazard(f, appeared.get(fp), flag))
    for fp, f in gone.items():
        flag = f.location.path in path_a if result.training_path_known else None
        result.removed.append(Hazard(f, vanished.get(fp), flag))
    order = lambda h: h.finding.sort_key()
    result.introduced.sort(key=order)
    result.removed.sort(key=order)


def _training_paths(repo: Repo, result: RunDiff, config) -> tuple[set[str], set[str]]:
    """Files reachable from the entry point that ran, at each SHA (empty sets when unknown)."""
    entries = [result.entry_point] if result.entry_point else list(config.entry_points or [])
    if not entries:
        return set(), set()
    paths = []
    for sha in (result.sha_a, result.sha_b):
        files = {path: data for path, _, data in repo.python_files_at(sha)}
        reach: set[str] = set()
        for entry in entries:
            reach |= training_path(files, entry)
        paths.append(reach)
    result.training_path_known = bool(paths[0] or paths[1])
    if not result.entry_point and result.training_path_known:
        result.entry_point = ", ".join(entries)
    return paths[0], paths[1]


def _attribute(repo: Repo, result: RunDiff, config, new: set[str], gone: set[str],
               before: dict[str, Finding]) -> tuple[dict[str, Commit], dict[str, Commit]]:
    """For each hazard that appeared (disappeared), the last commit of the range where it did so.

    "Last" because a hazard can come, go and come back: the commit that matters is the one after
    which it stayed until RUN_B's SHA.
    """
    appeared: dict[str, Commit] = {}
    vanished: dict[str, Commit] = {}
    if not (new or gone) or not result.commits:
        return appeared, vanished
    wanted = new | gone
    start = result.sha_a if repo.is_ancestor(result.sha_a, result.sha_b) else repo.merge_base(result.sha_a, result.sha_b)
    present = {fp for fp in (before if start == result.sha_a else
                             {f.fingerprint for f in scan_at_sha(repo, start, config)}) if fp in wanted}
    last_blobs = _python_blobs(repo, start)
    for commit in result.commits:
        blobs = _python_blobs(repo, commit.sha)
        if blobs == last_blobs:
            continue  # no Python file changed: the same findings
        last_blobs = blobs
        now = {f.fingerprint for f in scan_at_sha(repo, commit.sha, config)} & wanted
        for fp in now - present:
            appeared[fp] = commit
        for fp in present - now:
            vanished[fp] = commit
        present = now
    return appeared, vanished


def _python_blobs(repo: Repo, sha: str) -> dict[str, str]:
    return {p: blob for p, blob in repo.blob_shas_at(sha).items() if p.endswith(".py")}


# -- records -------------------------------------------------------------------------------------

def _dict_diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if not _same(va, vb):
            out.append((key, va, vb))
    return out


def _same(x: Any, y: Any) -> bool:
    if x is _ABSENT or y is _ABSENT:
        return x is y
    if isinstance(x, bool) or isinstance(y, bool):
        return x is y
    return x == y


def _protocol_value(run: Run, label: str, config) -> Any:
    key_map = config.key_map
    if label == "eval quant":
        return run.eval.get("quant") or run.config_value("eval_quant", key_map)
    if label == "eval dataset":
        return run.eval.get("dataset") or run.config_value("eval_dataset", key_map)
    if label == "eval framework":
        return run.eval.get("framework") or run.config_value("eval_framework", key_map)
    if label == "max steps":
        return run.max_steps if run.max_steps is not None else run.config_value("max_steps", key_map)
    if label == "eval interval":
        return run.config_value("eval_interval", key_map)
    if label == "reported metric":
        names = sorted(k for k in (run.reported or {}) if k != "step")
        return ", ".join(names) or None
    if label == "reported step":
        return (run.reported or {}).get("step")
    return None


# -- rendering -----------------------------------------------------------------------------------

def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    if value is None:
        return "(not recorded)"
    return repr(value) if isinstance(value, str) and (value == "" or value != value.strip()) else str(value)


def _run_line(run: Run, sha: str | None) -> str:
    bits = [f"group {run.group}" if run.group else "no group",
            f"sha {(sha or run.git_sha or 'none')[:10]}" + (" (dirty)" if run.git_dirty else ""),
            f"state {run.state or 'unknown'}" + (f" (exit {run.exit_code})" if run.exit_code not in (None, 0) else "")]
    reported = {k: v for k, v in (run.reported or {}).items() if k != "step"}
    if reported:
        step = (run.reported or {}).get("step")
        bits.append(", ".join(f"{k}={v}" for k, v in sorted(reported.items())) + (f" at step {step}" if step is not None else ""))
    return f"{run.id}: " + ", ".join(bits)


def render_text(d: RunDiff) -> str:
    out = [f"diff {d.run_a.id} -> {d.run_b.id}", f"  A {_run_line(d.run_a, d.sha_a)}", f"  B {_run_line(d.run_b, d.sha_b)}", ""]
    out += _code_sections(d, markdown=False)
    out += _pairs_section("Config", d.config, "key", markdown=False, recorded=d.config_recorded)
    out += _pairs_section("Environment", d.environment, "entry", markdown=False, recorded=d.environment_recorded)
    out += _protocol_section(d, markdown=False)
    out.append("Findings (hazards introduced on the training path):")
    return "\n".join(out) + "\n"


def render_markdown(d: RunDiff) -> Markdown:
    """Shown as written: every line's text (ids, commit summaries, paths, config values: input) is escaped here."""
    out = [f"{md_code(d.run_a.id)} → {md_code(d.run_b.id)}", "", _item(f"A {_run_line(d.run_a, d.sha_a)}", True),
           _item(f"B {_run_line(d.run_b, d.sha_b)}", True), ""]
    out += _code_sections(d, markdown=True)
    out += _pairs_section("Config", d.config, "key", markdown=True, recorded=d.config_recorded)
    out += _pairs_section("Environment", d.environment, "entry", markdown=True, recorded=d.environment_recorded)
    out += _protocol_section(d, markdown=True)
    return Markdown("\n".join(out) + "\n")


def _heading(title: str, markdown: bool) -> str:
    return f"### {md_text(title)}" if markdown else f"{title}:"


def _item(text: str, markdown: bool) -> str:
    return f"- {md_text(text)}" if markdown else f"  {text}"


def _code_sections(d: RunDiff, markdown: bool) -> list[str]:
    out: list[str] = []
    if d.git_note:
        out += [_heading("Code", markdown), _item(d.git_note, markdown), ""]
    if d.sha_a is None or d.sha_b is None:
        return out
    if d.sha_a == d.sha_b:
        return out + [_heading("Code", markdown), _item(f"both runs at {d.sha_a[:10]}: same code", markdown), ""]
    out.append(_heading(f"Commits {d.sha_a[:10]}..{d.sha_b[:10]} ({len(d.commits)})", markdown))
    out += [_item(f"{c.short} {c.date[:10]} {c.author}: {c.summary}", markdown) for c in d.commits] or [_item("none", markdown)]
    out.append("")
    def file_line(change: FileChange) -> str:
        name = f"{change.old_path} -> {change.path}" if change.old_path else change.path
        return _item(f"{change.status} {name} +{change.added} -{change.removed}", markdown)
    if d.training_path_known:
        on = [c for c, flag in d.files if flag]
        off = [c for c, flag in d.files if not flag]
        out.append(_heading(f"Changed files on the training path of {d.entry_point} ({len(on)})", markdown))
        out += [file_line(c) for c in on] or [_item("none", markdown)]
        out += ["", _heading(f"Other changed files ({len(off)})", markdown)]
        out += [file_line(c) for c in off] or [_item("none", markdown)]
    else:
        why = f"entry point {d.entry_point} not found" if d.entry_point else "no entry point recorded"
        out.append(_heading(f"Changed files ({len(d.files)}; training path unknown: {why})", markdown))
        out += [file_line(c) for c, _ in d.files] or [_item("none", markdown)]
    out.append("")
    for title, hazards, verb in (("Hazards introduced", d.introduced, "introduced by"),
                                 ("Hazards removed", d.removed, "removed by")):
        out.append(_heading(f"{title} ({len(hazards)})", markdown))
        for h in hazards:
            loc = h.finding.location
            where = f"{loc.path}:{loc.line}"
            who = f"{verb} {h.commit.short} \"{h.commit.summary}\"" if h.commit else "commit not found in the range"
            path_note = {True: "", False: " (not on the training path)", None: ""}[h.on_training_path]
            out.append(_item(f"{h.finding.rule} {h.finding.name} {where}{path_note}: {who}", markdown))
        if not hazards:
            out.append(_item("none", markdown))
        out.append("")
    return out


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"  # entries, keys
    return f"{n} {noun} differs" if n == 1 else f"{n} {plural} differ"


def _pairs_section(title: str, pairs: list, noun: str, markdown: bool, recorded: bool = True) -> list[str]:
    if not pairs:
        return [_heading(title, markdown), _item("same" if recorded else "neither run recorded any", markdown), ""]
    out = [_heading(f"{title} ({_count(len(pairs), noun)})", markdown)]
    out += [_item(f"{k}: {_show(a)} -> {_show(b)}", markdown) for k, a, b in pairs]
    return out + [""]


def _protocol_section(d: RunDiff, markdown: bool) -> list[str]:
    differing = [(k, a, b) for k, a, b in d.protocol if a != b]
    same = [f"{k}={_show(a)}" for k, a, b in d.protocol if a == b and a is not None]
    out = [_heading(f"Eval protocol ({_count(len(differing), 'item')})", markdown)]
    out += [_item(f"{k}: {_show(a)} -> {_show(b)}", markdown) for k, a, b in differing]
    if same:
        out.append(_item("same: " + ", ".join(same), markdown))
    return out + [""]


def to_json(d: RunDiff) -> dict:
    def pair(k, a, b):
        item: dict[str, Any] = {"key": k}
        if a is not _ABSENT:
            item["a"] = a
        if b is not _ABSENT:
            item["b"] = b
        return item

    def hazard(h: Hazard) -> dict:
        item = {"rule": h.finding.rule, "name": h.finding.name, "severity": h.finding.severity,
                "location": h.finding.location.to_json(), "fingerprint": h.finding.fingerprint,
                "commit": h.commit.sha if h.commit else None,
                "commit_summary": h.commit.summary if h.commit else None}
        if h.on_training_path is not None:
            item["on_training_path"] = h.on_training_path
        return item

    return {
        "runs": [d.run_a.id, d.run_b.id],
        "git": {
            "sha_a": d.sha_a, "sha_b": d.sha_b, "note": d.git_note,
            "entry_point": d.entry_point if d.training_path_known else None,
            "commits": [{"sha": c.sha, "short": c.short, "summary": c.summary, "author": c.author, "date": c.date}
                        for c in d.commits],
            "files": [{"path": c.path, "status": c.status, "added": c.added, "removed": c.removed,
                       "old_path": c.old_path, "on_training_path": flag} for c, flag in d.files],
            "hazards_introduced": [hazard(h) for h in d.introduced],
            "hazards_removed": [hazard(h) for h in d.removed],
        },
        "config": [pair(*p) for p in d.config],
        "environment": [pair(*p) for p in d.environment],
        "eval_protocol": [{"key": k, "a": a, "b": b, "same": a == b} for k, a, b in d.protocol],
    }
