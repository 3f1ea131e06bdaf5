"""`audit scan [PATHS...] [--rev SHA] [--diff BASE]`: the static scan from the command line.

Imports stay light: git is imported only for --rev/--diff, torch never.
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
              help="Report only what changed since merge-base(BASE, HEAD), working tree included.")
@click.option("--all-lines", is_flag=True, help="With --diff: keep findings anywhere in changed files, not only on changed lines.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False), default=None,
              help="Leave out findings accepted in this baseline file (`audit baseline create`).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes (default: one per core).")
@click.option("--no-cache", is_flag=True, help="Ignore and do not update the result cache.")
@report_options
@config_option
def scan(paths, rev, diff_base, all_lines, baseline_file, jobs, no_cache, fmt, output, fail_on, config_path):
    """Static scan of Python code for reproducibility hazards (RA1xx)."""
    from auditor.code.scan import scan_files, scan_paths
    from auditor.report import file_source_lookup

    if rev and diff_base:
        raise click.UsageError("--rev and --diff cannot be combined: --diff compares the working tree with BASE")
    if all_lines and not diff_base:
        raise click.UsageError("--all-lines only makes sense with --diff")
    targets = [Path(p) for p in paths] or [Path(".")]
    for target in targets:
        if not os.path.lexists(target):
            raise InputError("no such file or directory", path=str(target))
    start = targets[0] if targets[0].is_dir() else targets[0].parent
    config = get_config(start, config_path)
    use_cache = not no_cache

    if rev:
        files, lookup, root = _files_at_rev(start, rev, targets, config)
        config = config.extended({"root": root})
        result = scan_files(files, config, use_cache=use_cache, jobs=jobs)
    else:
        result = scan_paths(targets, config, use_cache=use_cache, jobs=jobs)
        lookup = file_source_lookup(config.root)
    findings = result.findings
    if diff_base:
        findings = _only_changed(findings, start, diff_base, config.root, all_lines)
    if baseline_file:
        from auditor.baseline import filter_new

        findings = filter_new(findings, baseline_file)
    where = f" at {rev}" if rev else f" (changed since {diff_base})" if diff_base else ""
    preamble = f"Scanned {result.files} file(s), {result.lines} line(s){where}.\n"
    finish(findings, fmt=fmt, output=output, fail_on=fail_on, config=config, source_lookup=lookup,
           title="audit scan", preamble=preamble)


def _files_at_rev(start: Path, rev: str, targets: list[Path], config):
    """The .py files of the commit, as SourceFiles keyed by their blob ids, limited to the given paths."""
    from auditor.code.discover import SKIP_DIRS
    from auditor.code.sources import SourceFile
    from auditor.vcs import Repo

    repo = Repo(start)
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
    return files, _blob_lookup(texts), repo.root


def _blob_lookup(texts: dict[str, bytes]):
    split: dict[str, list[str]] = {}

    def lookup(path: str, line: int) -> str | None:
        if path not in split:
            data = texts.get(path)
            split[path] = data.decode("utf-8", errors="replace").splitlines() if data is not None else []
        lines = split[path]
        return lines[line - 1] if 0 < line <= len(lines) else None

    return lookup


def _only_changed(findings, start: Path, base: str, root: Path, all_lines: bool):
    """Findings in files changed since BASE, on changed lines unless --all-lines."""
    from auditor.vcs import Repo

    repo = Repo(start)
    changed = repo.changed_lines_since(base)
    kept = []
    for f in findings:
        path = f.location.get("path")
        if path is None:
            continue
        full = Path(path) if Path(path).is_absolute() else root / path
        rel = os.path.relpath(os.path.abspath(full), repo.root).replace(os.sep, "/")
        if rel not in changed:
            continue
        lines = changed[rel]
        if all_lines or lines is None or f.location.get("line") in lines or f.rule == "RA001":
            kept.append(f)
    return kept
