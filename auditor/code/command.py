"""`audit scan [PATHS...] [--rev SHA] [--diff BASE] [--fix ...]`: the static scan from the command line.

Imports stay light: git is imported only for --rev/--diff, libcst only to fix, torch never.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from auditor.cli_common import config_option, finish, get_config, report_options
from auditor.errors import InputError


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--rev", default=None, metavar="SHA", help="Scan the tree at this commit (read from git, nothing checked out).")
@click.option("--diff", "diff_base", default=None, metavar="BASE",
              help="Report only findings the working tree brings since merge-base(BASE, HEAD): new by "
                   "fingerprint, so a hazard made by deleting lines counts too.")
@click.option("--staged", is_flag=True,
              help="Scan the index (what the next commit records) and report the findings new against HEAD.")
@click.option("--all-lines", is_flag=True, help="With --diff: keep every finding in changed files, not only the new ones.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False), default=None,
              help="Leave out findings accepted in this baseline file (`audit baseline create`).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per core).")
@click.option("--no-cache", is_flag=True, help="Ignore and do not update the result cache.")
@click.option("--fix", is_flag=True, help="Apply the safe fixes (they keep the program's behaviour), then scan again.")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply the fixes that change behaviour (implies --fix).")
@click.option("--diff-fixes", is_flag=True, help="Print the fixes as a patch instead of writing them (implies --fix).")
@click.option("--add-ignore", is_flag=True,
              help="Add `# audit: ignore[RULE] <reason>` on the line of every finding left (after --fix, if given).")
@click.option("--ignore-reason", default=None, metavar="TEXT",
              help="The reason --add-ignore writes (default: a placeholder asking why, to fill in).")
@report_options
@config_option
def scan(paths, rev, diff_base, staged, all_lines, baseline_file, jobs, no_cache, fix, unsafe_fixes, diff_fixes,
         add_ignore, ignore_reason, fmt, output, fail_on, config_path):
    """Static scan of Python code for reproducibility hazards (RA1xx)."""
    from auditor.code.scan import scan_files, scan_paths
    from auditor.report import file_source_lookup

    if sum(map(bool, (rev, diff_base, staged))) > 1:
        raise click.UsageError("--rev, --diff and --staged cannot be combined: each names what is scanned")
    if all_lines and not diff_base:
        raise click.UsageError("--all-lines only makes sense with --diff")
    fix = fix or unsafe_fixes or diff_fixes
    if (rev or staged) and (fix or add_ignore):
        raise click.UsageError("--fix and --add-ignore edit the working tree: they cannot be combined with --rev "
                               "or --staged")
    if ignore_reason is not None and not add_ignore:
        raise click.UsageError("--ignore-reason only makes sense with --add-ignore")
    targets = [Path(p) for p in paths] or [Path(".")]
    for target in targets:
        if not os.path.lexists(target):
            raise InputError("no such file or directory", path=str(target))
    start = targets[0] if targets[0].is_dir() else targets[0].parent
    use_cache = not no_cache
    if staged:  # the index, with the configuration staged in it
        from auditor.hooks import check_staged

        check_staged(start, targets, config_path, baseline_file=baseline_file, fmt=fmt, output=output,
                     fail_on=fail_on, use_cache=use_cache, jobs=jobs)
    config = get_config(start, config_path)
    notes = {"where": ""}

    def reported(result):
        findings = result.findings
        if diff_base:
            findings, notes["where"] = _new_since(findings, start, diff_base, targets, config, all_lines, use_cache,
                                                  jobs)
        if baseline_file:
            from auditor.baseline import filter_new

            findings = filter_new(findings, baseline_file)
        return findings

    if rev:
        files, lookup, root, facts = _files_at_rev(start, rev, targets, config)
        config = config.extended({"root": root})
        result = scan_files(files, config, use_cache=use_cache, jobs=jobs, facts=facts)
    else:
        result = scan_paths(targets, config, use_cache=use_cache, jobs=jobs)
        lookup = file_source_lookup(config.root)
    findings = reported(result)
    fixed = ""
    if fix or add_ignore:
        def rescan():
            again = scan_paths(targets, config, use_cache=use_cache, jobs=jobs)
            return again, reported(again)

        result, findings, fixed = _edit(targets, config, result, findings, rescan, fix=fix, unsafe=unsafe_fixes,
                                        show_only=diff_fixes, add_ignore=add_ignore, ignore_reason=ignore_reason,
                                        jobs=jobs)
    where = f" at {rev}" if rev else notes["where"]
    preamble = f"{fixed}Scanned {result.files} file(s), {result.lines} line(s){where}.\n"
    if fixed and fmt not in ("text", "markdown"):
        click.echo(fixed, err=True, nl=False)
    finish(findings, fmt=fmt, output=output, fail_on=fail_on, config=config, source_lookup=lookup,
           title="audit scan", preamble=preamble)


def _edit(targets: list[Path], config, result, findings, rescan, *, fix: bool, unsafe: bool, show_only: bool,
          add_ignore: bool, ignore_reason: str | None, jobs: int | None):
    """--fix / --unsafe-fixes / --add-ignore: edit the scanned files, scan again until nothing changes, and
    return the fresh result, its findings and what was done. --diff-fixes prints the patch and exits."""
    from auditor.code import fix as fixing
    from auditor.code.discover import discover

    files = {c.path: Path(c.full) for c in discover(targets, config.root, config)}
    reason = ((ignore_reason or "").strip() or fixing.DEFAULT_IGNORE_REASON) if add_ignore else None
    if show_only:
        plans = fixing.plan(findings, files, config.root, config, fix=fix, unsafe=unsafe, ignore_reason=reason,
                            jobs=jobs)
        click.echo(fixing.unified_diff(plans), nl=False)
        click.echo(fixing.summary([plans], applied=False), err=True, nl=False)
        raise SystemExit(1 if any(p.changed for p in plans) else 0)
    outcome = fixing.fix_until_stable(findings, files, config, rescan, fix=fix, unsafe=unsafe, ignore_reason=reason,
                                      jobs=jobs)
    return outcome.result or result, outcome.findings, fixing.summary(outcome.rounds)


def _files_at_rev(start: Path, rev: str, targets: list[Path], config):
    """The .py files of the commit, as SourceFiles keyed by their blob ids, limited to the given paths; the
    line lookup, the repository's root and the commit's packaging facts."""
    from auditor.code.discover import SKIP_DIRS
    from auditor.code.sources import SourceFile
    from auditor.vcs import Repo, scan_hint

    repo = Repo(start, scan_hint("--rev SHA"))
    sha = repo.resolve(rev)
    prefixes = []
    for target in targets:
        rel = os.path.relpath(target.resolve(), repo.root).replace(os.sep, "/")
        if rel.startswith(".."):
            raise InputError("not inside the repository", path=str(target))
        prefixes.append("" if rel == "." else rel)
    files, texts = [], {}
    for path, blob, data in repo.python_files_at(sha):
        if prefixes and not any(not p or path == p or path.startswith(p + "/") for p in prefixes):
            continue
        if any(part in SKIP_DIRS for part in path.split("/")[:-1]) or config.is_excluded(path):
            continue
        files.append(SourceFile(path, data, blob))
        texts[path] = data
    from auditor.gate import snapshot_facts  # the commit's pyproject, not the working tree's

    return files, _blob_lookup(texts), repo.root, snapshot_facts(repo, sha, config.extended({"root": repo.root}))


def _blob_lookup(texts: dict[str, bytes]):
    from auditor.code.sources import line_lookup

    return line_lookup(texts.get)


def _new_since(findings, start: Path, base: str, targets: list[Path], config, all_lines: bool, use_cache: bool,
               jobs: int | None):
    """The findings whose fingerprints the tree at merge-base(BASE, HEAD) lacks (with --all-lines: also the
    rest of the changed files' findings); and the preamble's note saying so."""
    from auditor.findings import split_new
    from auditor.gate import base_findings
    from auditor.vcs import Repo, scan_hint

    repo = Repo(start, scan_hint("--diff BASE"))
    merge_base = repo.merge_base(base, repo.head_sha())
    rel = [os.path.relpath(t.resolve(), config.root.resolve()).replace(os.sep, "/") for t in targets]
    before = base_findings(repo, merge_base, config, [("" if r == "." else r) for r in rel],
                           use_cache=use_cache, jobs=jobs)
    new, _ = split_new(before, findings)
    if all_lines:
        new = _only_changed(findings, start, base, config.root, True)
        return new, f"; {len(new)} finding(s) in the files changed since {base} (merge-base {merge_base[:10]})"
    return new, (f"; {len(new)} finding(s) new since {base} (merge-base {merge_base[:10]}), "
                 f"{len(findings) - len(new)} already there not shown")


def _only_changed(findings, start: Path, base: str, root: Path, all_lines: bool):
    """Findings in files changed since BASE, on changed lines unless --all-lines."""
    from auditor.vcs import Repo, scan_hint

    repo = Repo(start, scan_hint("--diff BASE"))
    changed = repo.changed_lines_since(base)
    kept = []
    for f in findings:
        path = f.location.path
        if path is None:
            continue
        full = Path(path) if Path(path).is_absolute() else root / path
        rel = os.path.relpath(os.path.abspath(full), repo.root).replace(os.sep, "/")
        if rel not in changed:
            continue
        lines = changed[rel]
        if all_lines or lines is None or f.location.line in lines or f.rule == "RA001":
            kept.append(f)
    return kept
