"""What a change brings: the findings of the new code whose fingerprints the base did not have.

One logic (`findings.split_new`) for the pre-commit hook (the index against HEAD), the pre-push hook
(each pushed ref against what the remote already has) and `audit scan --staged` / `--diff BASE`. Both
sides are scanned whole, so a hazard created by deleting lines (a removed seed, a removed `or
is_last_step`) is new even though no changed line carries it. Files are read from git objects only
when the scanner's cache does not know their blob, so an unchanged tree costs one cache lookup.
"""

from __future__ import annotations

import os
from functools import partial
from dataclasses import dataclass, field
from typing import Callable

from auditor.code.facts import ProjectFacts
from auditor.code.scan import SourceFile, scan_files
from auditor.code.sources import line_lookup
from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import Finding, carried, split_new
from auditor.vcs import Repo


@dataclass
class GitFile(SourceFile):
    """A file known by its blob id; its bytes come from git only when the scanner must analyze it."""

    reader: Callable[[str], bytes] | None = None

    def content(self) -> bytes | None:
        if self.data is None and self.error is None and self.reader is not None and self.blob:
            self.data = self.reader(self.blob)
        return self.data


@dataclass
class Change:
    """What one snapshot brings compared with its base."""

    label: str  # "the index against HEAD", "refs/heads/x (3 commits since 1a2b3c4d5e)"
    new: list[Finding] = field(default_factory=list)
    known: list[Finding] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    changed_files: int = 0  # files whose content differs from the base


def _prefix(repo: Repo, config: Config) -> str:
    """The config root inside the repository ("" at its top): findings are named relative to it, as a
    working-tree scan names them, so fingerprints and baselines agree."""
    rel = os.path.relpath(config.root.resolve(), repo.root).replace(os.sep, "/")
    return "" if rel == "." or rel.startswith("..") else rel + "/"  # a config from elsewhere: the whole repo


def git_files(repo: Repo, at: str | None, config: Config, targets: list[str] | None = None) -> list[SourceFile]:
    """The Python files (discover.treated_as_python) of the tree at commit `at`, or of the index when None, that
    a working-tree scan of the config root would see, limited to `targets` (paths relative to the config root)
    when given."""
    from auditor.code.discover import SKIP_DIRS, treated_as_python

    blobs = repo.index_blobs() if at is None else repo.blob_shas_at(at)
    executables = repo.executables(at)
    prefix = _prefix(repo, config)
    skipped: dict[str, bool] = {}  # folder -> skipped: asked once per folder, not per file (the hook's budget)
    files: list[SourceFile] = []
    for path, blob in sorted(blobs.items()):
        if not path.startswith(prefix) or not treated_as_python(
                path.rpartition("/")[2], partial(executables.__contains__, path), partial(repo.blob, blob)):
            continue
        rel = path[len(prefix):]
        folder = rel.rpartition("/")[0]
        if folder not in skipped:
            skipped[folder] = any(p in SKIP_DIRS or p.endswith(".egg-info") for p in folder.split("/") if p)
        if skipped[folder] or (config.exclude and config.is_excluded(rel)):
            continue
        if targets and not any(not t or rel == t or rel.startswith(t + "/") for t in targets):
            continue
        files.append(GitFile(rel, None, blob=blob, full=f"{blob}:{path}", reader=repo.blob))
    return files


def snapshot_facts(repo: Repo, at: str | None, config: Config) -> ProjectFacts:
    """The project's packaging facts (facts.py: the torch floors) as the tree at `at` (None: the index) holds
    them, so that a pyproject.toml change counts on its own side: lowering the floor under a bare torch.load
    makes its finding new."""
    from auditor.code.discover import SKIP_DIRS
    from auditor.code.facts import facts_from, is_packaging_file, packaging_text

    blobs = repo.index_blobs() if at is None else repo.blob_shas_at(at)
    prefix = _prefix(repo, config)
    files = [(path[len(prefix):], blob) for path, blob in blobs.items()
             if path.startswith(prefix) and is_packaging_file(path.rpartition("/")[2])
             and not any(p in SKIP_DIRS for p in path[len(prefix):].split("/")[:-1])]
    return facts_from(files, lambda blob: packaging_text(repo.blob(blob)))


def git_file(repo: Repo, blobs: dict[str, str], config: Config, rel: str) -> SourceFile | None:
    """One file of `blobs` by its path relative to the config root (None when the snapshot has no such file)."""
    path = _prefix(repo, config) + rel
    blob = blobs.get(path)
    return GitFile(rel, None, blob=blob, full=f"{blob}:{path}", reader=repo.blob) if blob else None


def source_lookup(files: dict[str, SourceFile]) -> Callable[[str, int], str | None]:
    """(path, line) -> that line's text in `files` (path -> file), each file split once when first asked."""
    return line_lookup(lambda path: files[path].content() if path in files else None)


def renamed_by(repo: Repo, config: Config, detect: Callable[[], dict[str, str]]) -> Callable[[set[str]], dict[str, str]]:
    """gone paths -> {old: new} of those the other side renamed (relative to the config root), from git's rename
    detection (`detect`: repository paths), which runs only when a base file is gone."""
    def renamed(gone: set[str]) -> dict[str, str]:
        if not gone:
            return {}
        prefix = _prefix(repo, config)
        return {old[len(prefix):]: new[len(prefix):] for old, new in detect().items()
                if old.startswith(prefix) and new.startswith(prefix) and old[len(prefix):] in gone}

    return renamed


def known_at_new_paths(findings: list[Finding], base: list[SourceFile], moved: dict[str, str]) -> list[Finding]:
    """The base's findings, those of renamed files carried to the new paths (findings.carried)."""
    if not moved:
        return findings
    return carried(findings, moved, source_lookup({f.path: f for f in base if f.path in moved}))


def compare(base: list[SourceFile], head: list[SourceFile], config: Config, label: str,
            facts: tuple[ProjectFacts, ProjectFacts], renamed: Callable[[set[str]], dict[str, str]] | None = None,
            *, also_known: list[Finding] = (), use_cache: bool = True, jobs: int | None = None) -> Change:
    """Scan both snapshots, each with its own packaging `facts` (snapshot_facts); the head's findings split into
    new and known by fingerprint. `renamed` (git's rename detection between the snapshots, see renamed_by)
    carries the base's findings of a moved file to its new path; `also_known` are known too (those of the
    main line a merge brings in)."""
    before = scan_files(base, config, use_cache=use_cache, jobs=jobs, facts=facts[0]).findings if base else []
    if renamed is not None and before:
        before = known_at_new_paths(before, base, renamed({f.path for f in base} - {f.path for f in head}))
    before = [*before, *also_known]
    result = scan_files(head, config, use_cache=use_cache, jobs=jobs, facts=facts[1])
    new, known = split_new(before, result.findings)
    base_blobs = {f.path: f.blob for f in base}
    changed = sum(1 for f in head if f.blob is None or base_blobs.get(f.path) != f.blob)
    return Change(label, new, known, result.files, result.lines, changed)


def staged_change(repo: Repo, config: Config, targets: list[str] | None = None, *, use_cache: bool = True,
                  jobs: int | None = None) -> Change:
    """The index (what `git commit` will record) against HEAD; everything is new before the first commit."""
    try:
        head_sha = repo.head_sha()
    except InputError:
        head_sha = None
    base = git_files(repo, head_sha, config, targets) if head_sha else []
    head = git_files(repo, None, config, targets)
    label = "the staged changes against HEAD" if head_sha else "the staged files (first commit)"
    renamed = renamed_by(repo, config, lambda: repo.renames(head_sha, staged=True))
    facts = (snapshot_facts(repo, head_sha, config) if head_sha else ProjectFacts(), snapshot_facts(repo, None, config))
    heads = repo.merge_heads()
    tips = repo.mainline_tips() if heads else []
    merged = [sha for sha in heads if any(repo.is_ancestor(sha, tip) for tip in tips)]
    return compare(base, head, config, label, facts, renamed, use_cache=use_cache, jobs=jobs,
                   also_known=findings_at(repo, merged, config, targets, use_cache=use_cache, jobs=jobs))


def findings_at(repo: Repo, shas: list[str], config: Config, targets: list[str] | None = None, *,
                use_cache: bool = True, jobs: int | None = None) -> list[Finding]:
    """The findings of the trees at these commits: the main line's, which a merge that brings it in (`git
    merge main` on a feature branch) does not introduce, though they are new to the branch."""
    return [f for sha in shas for f in _scan_at(repo, sha, config, targets, use_cache=use_cache, jobs=jobs)[1]]


def _scan_at(repo: Repo, sha: str, config: Config, targets: list[str] | None = None, *, use_cache: bool = True,
             jobs: int | None = None) -> tuple[list[SourceFile], list[Finding]]:
    """The files of the tree at `sha` and their findings, scanned with that tree's own packaging facts."""
    files = git_files(repo, sha, config, targets)
    if not files:
        return files, []
    facts = snapshot_facts(repo, sha, config)  # the commit's pyproject, not the working tree's
    return files, scan_files(files, config, use_cache=use_cache, jobs=jobs, facts=facts).findings


def commit_change(repo: Repo, base_sha: str | None, sha: str, config: Config, label: str, *,
                  also_known: list[Finding] = (), use_cache: bool = True, jobs: int | None = None) -> Change:
    """The tree at `sha` against the tree at `base_sha` (None: an empty tree, all is new)."""
    base = git_files(repo, base_sha, config) if base_sha else []
    head = git_files(repo, sha, config)
    renamed = renamed_by(repo, config, lambda: repo.renames(base_sha, sha)) if base_sha else None
    facts = (snapshot_facts(repo, base_sha, config) if base_sha else ProjectFacts(), snapshot_facts(repo, sha, config))
    return compare(base, head, config, label, facts, renamed, also_known=also_known, use_cache=use_cache, jobs=jobs)


def base_findings(repo: Repo, base_sha: str, config: Config, targets: list[str] | None = None, *,
                  use_cache: bool = True, jobs: int | None = None) -> list[Finding]:
    """The findings of the tree at `base_sha` (for `audit scan --diff BASE` against the working tree); those of
    files the working tree has moved (untracked ones too) at their new paths."""
    files, findings = _scan_at(repo, base_sha, config, targets, use_cache=use_cache, jobs=jobs)
    gone = {f.path for f in files if not os.path.lexists(config.root / f.path)}
    return known_at_new_paths(findings, files, renamed_by(repo, config, lambda: repo.renames(base_sha))(gone))


ZERO_SHA = "0" * 40


@dataclass(frozen=True)
class PushedRef:
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str


def parse_push_lines(text: str) -> list[PushedRef]:
    """git's pre-push stdin: "<local ref> <local sha> <remote ref> <remote sha>" per line."""
    refs = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise InputError(f"line {number} of the pre-push input is not '<local ref> <local sha> <remote ref> "
                             f"<remote sha>': {line!r}")
        refs.append(PushedRef(*parts))
    return refs


def push_base(repo: Repo, ref: PushedRef, remote: str | None = None) -> tuple[str | None, bool]:
    """(base SHA or None for an empty tree, whether anything needs checking) for one pushed ref: what
    `remote` already has where the pushed line leaves it (Repo.unpublished_base). Not the remote's old tip of
    the ref: after a rebase onto the remote's main and `git push -f`, main's findings are known, not new."""
    if ref.local_sha == ZERO_SHA:
        return None, False  # a deleted branch: nothing is pushed
    there = (ref.remote_sha,) if ref.remote_sha != ZERO_SHA and repo.has_commit(ref.remote_sha) else ()
    base = repo.unpublished_base(ref.local_sha, remote, there)
    if base is False:
        return None, False
    return base, True


def push_changes(repo: Repo, refs: list[PushedRef], config: Config, remote: str | None = None, *,
                 use_cache: bool = True, jobs: int | None = None) -> list[Change]:
    changes = []
    for ref in refs:
        base, needed = push_base(repo, ref, remote)
        if not needed:
            continue
        commits = len(repo.commits_between(base, ref.local_sha)) if base else None
        since = f"{commits} commit(s) since {base[:10]}" if base else "every commit: nothing of it is on a remote"
        label = f"{ref.local_ref} -> {ref.remote_ref} ({since})"
        mainline = _merged_mainline(repo, base, ref.local_sha, remote)
        merged = findings_at(repo, mainline, config, use_cache=use_cache, jobs=jobs)
        changes.append(commit_change(repo, base, ref.local_sha, config, label, also_known=merged,
                                     use_cache=use_cache, jobs=jobs))
    return changes


def _merged_mainline(repo: Repo, base: str | None, sha: str, remote: str | None) -> list[str]:
    """Where the pushed line took in the remote's main line beyond its base (`git merge origin/main` on a
    feature branch): those commits' findings are the main line's, not the push's. Pushing main itself after
    merging a side branch takes in nothing of it: the side branch's findings stay new."""
    out = []
    for tip in repo.mainline_tips(remote, local=False):
        try:
            joined = repo.merge_base(sha, tip)
        except InputError:
            continue  # no shared history with it
        if joined not in out and (base is None or not repo.is_ancestor(joined, base)):
            out.append(joined)
    return out


def known_summary(changes: list[Change], limit: int = 10) -> str:
    """The preamble of a hook's report: what was checked, and the pre-existing findings (not blocking)."""
    lines = []
    for change in changes:
        lines.append(f"Checked {change.label}: {change.files} file(s), {change.changed_files} changed; "
                     f"{len(change.new)} new finding(s), {len(change.known)} known (already in the base, not blocking).")
        for f in change.known[:limit]:
            lines.append(f"  known: {f.location.display()} {f.rule} {f.message}")
        if len(change.known) > limit:
            lines.append(f"  ... and {len(change.known) - limit} more known finding(s) (`audit scan` lists them)")
    return "\n".join(lines) + "\n\n" if lines else ""

