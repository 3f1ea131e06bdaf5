"""Precision and recall on real ML code: `python benchmarks/realcode.py`.

Scans every folder of the development set (`../shared/realcode`, or $AUDITOR_REALCODE), each as its own
project (`audit scan <folder> --no-cache --format json`, two folders at a time), and judges each warning
and error finding by the labels: the set's own `labels.jsonl`, then this project's
`benchmarks/realcode_labels.jsonl` for findings the set has no verdict on (info findings are not judged).
Prints, per rule: findings, tp, fp, debatable, unlabelled, precision tp/(tp+fp) and findings per 100k lines;
then the labelled true positives no longer reported and the unlabelled findings (to be judged).

Matching: a label judges a finding when repo, path, line and rule are equal; nothing else. The sources in
the set are exactly the labelled commits, so a line can only move when a rule changes where it points;
such a finding shows up as unlabelled (and its label as lost) until it is judged again.

Recall: `benchmarks/realcode_plants.yaml` lists hazards planted into temporary copies of the folders
(never into the set itself): each plant replaces exact text by new text (the anchor must occur exactly
once, else the benchmark stops), and names the rule and the line (in the edited file) where it must be
reported. A plant counts as caught only when that rule reports that file at that line.

$REALCODE_AUDIT, if set, is the command that runs the auditor (default: this interpreter's `-m auditor.cli`).

Options: --folders a,b (only these folders; default all)  --no-plants  --jobs N (folders at a time)
         --list unlabelled|fp|tp|debatable|all (print the findings of that verdict).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
REALCODE = Path(os.environ.get("AUDITOR_REALCODE", REPO.parent / "shared" / "realcode"))
PROJECT_LABELS = REPO / "benchmarks" / "realcode_labels.jsonl"
PLANTS = REPO / "benchmarks" / "realcode_plants.yaml"
MOVES = REPO / "benchmarks" / "realcode_moved.txt"
JUDGED = ("warning", "error")
VERDICTS = ("tp", "fp", "debatable")


@dataclass(frozen=True)
class Finding:
    repo: str
    path: str
    line: int
    rule: str
    severity: str
    message: str

    @property
    def key(self) -> tuple[str, str, int, str]:
        return self.repo, self.path, self.line, self.rule


@dataclass(frozen=True)
class Label:
    repo: str
    path: str
    line: int
    rule: str
    verdict: str
    why: str
    source: str  # which file it came from

    @property
    def key(self) -> tuple[str, str, int, str]:
        return self.repo, self.path, self.line, self.rule


@dataclass
class Edit:
    file: str
    old: str
    new: str


@dataclass
class Plant:
    id: str
    folder: str
    file: str
    rule: str
    line: int
    at: str  # text that must be on `line` of the edited file
    shape: str
    edits: list[Edit] = field(default_factory=list)


# -- the set ------------------------------------------------------------------------------------------------
def repo_of(folder: str) -> str:
    return folder.replace("+", "/", 1)


def folders(root: Path = REALCODE) -> list[str]:
    if not root.is_dir():
        raise SystemExit(f"realcode: no development set at {root} (set AUDITOR_REALCODE)")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and "+" in p.name)


def count_lines(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*.py"):
        with open(path, "rb") as fh:
            total += sum(1 for _ in fh)
    return total


def load_labels(paths=(REALCODE / "labels.jsonl", PROJECT_LABELS)) -> dict[tuple, Label]:
    """Every label by its key; a project label may not judge a finding the set already judges."""
    labels: dict[tuple, Label] = {}
    for path in paths:
        if not Path(path).exists():
            continue
        for n, text in enumerate(Path(path).read_text().splitlines(), 1):
            if not text.strip():
                continue
            try:
                raw = json.loads(text)
                label = Label(raw["repo"], raw["path"], int(raw["line"]), raw["rule"], raw["verdict"],
                              raw.get("why", ""), Path(path).name)
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{n}: not a label ({exc})") from exc
            if label.verdict not in VERDICTS:
                raise SystemExit(f"{path}:{n}: verdict {label.verdict!r} is not one of {VERDICTS}")
            if not label.why.strip():
                raise SystemExit(f"{path}:{n}: a label needs its why")
            if label.key in labels:
                first = labels[label.key]
                raise SystemExit(f"{path}:{n}: {label.key} is already judged in {first.source}")
            labels[label.key] = label
    return labels


# -- scanning -----------------------------------------------------------------------------------------------
def audit_command() -> list[str]:
    """`python -m auditor.cli`, or the command in $REALCODE_AUDIT (to measure another build of the auditor)."""
    custom = os.environ.get("REALCODE_AUDIT")
    return shlex.split(custom) if custom else [sys.executable, "-m", "auditor.cli"]


def scan_folder(folder: Path, repo: str, jobs: int = 1, extra: list[str] | None = None) -> list[Finding]:
    """`audit scan <folder> --no-cache --format json`, the judged findings (paths relative to the folder)."""
    cmd = [*audit_command(), "scan", str(folder), "--no-cache", "--format", "json", "--jobs", str(jobs),
           *(extra or [])]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=folder, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"audit scan {folder} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    out = []
    for f in json.loads(proc.stdout)["findings"]:
        loc = f.get("location", {})
        if "path" not in loc:
            continue
        path = loc["path"]
        if os.path.isabs(path):
            path = os.path.relpath(path, folder)
        out.append(Finding(repo, path.replace(os.sep, "/"), int(loc.get("line", 0)), f["rule"], f["severity"],
                           f["message"]))
    return out


def scan_all(names: list[str], root: Path, jobs: int) -> dict[str, list[Finding]]:
    """Folder name -> findings; the biggest folders start first so the two lanes end together."""
    order = sorted(names, key=lambda n: -sum(1 for _ in (root / n).rglob("*.py")))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = dict(zip(order, pool.map(lambda n: scan_folder(root / n, repo_of(n)), order), strict=False))
    return {n: results[n] for n in names}


# -- plants -------------------------------------------------------------------------------------------------
def load_plants(path: Path = PLANTS) -> list[Plant]:
    raw = yaml.safe_load(path.read_text()) or []
    plants = []
    for item in raw:
        edits = [Edit(e.get("file", item["file"]), e["old"], e["new"]) for e in item["edits"]]
        plants.append(Plant(item["id"], item["folder"], item["file"], item["rule"], int(item["line"]),
                            item["at"], item.get("shape", ""), edits))
    ids = Counter(p.id for p in plants)
    if dupes := [i for i, n in ids.items() if n > 1]:
        raise SystemExit(f"{path}: plant ids used twice: {dupes}")
    return plants


def plant_copy(folder: str, plants: list[Plant], dest: Path, root: Path = REALCODE) -> Path:
    """A copy of the folder with every plant's edits applied, in order; each plant's line checked."""
    copy = dest / folder
    shutil.copytree(root / folder, copy)
    for plant in plants:
        for edit in plant.edits:
            target = copy / edit.file
            if not target.is_file():
                raise SystemExit(f"plant {plant.id}: no file {folder}/{edit.file}")
            text = target.read_text()
            found = text.count(edit.old)
            if found != 1:
                raise SystemExit(f"plant {plant.id}: the anchor text occurs {found} times in {folder}/{edit.file} "
                                 f"(must be exactly once):\n{edit.old}")
            target.write_text(text.replace(edit.old, edit.new))
    for plant in plants:
        lines = (copy / plant.file).read_text().splitlines()
        actual = lines[plant.line - 1] if 0 < plant.line <= len(lines) else ""
        if plant.at not in actual:
            where = [i for i, text in enumerate(lines, 1) if plant.at in text]
            raise SystemExit(f"plant {plant.id}: line {plant.line} of {folder}/{plant.file} does not hold "
                             f"{plant.at!r} (found on lines {where})")
    return copy


def check_plants(plants: list[Plant], jobs: int, root: Path = REALCODE) -> dict[str, bool]:
    """Plant id -> caught (its rule reported at its file and line in the planted copy)."""
    by_folder: dict[str, list[Plant]] = {}
    for plant in plants:
        by_folder.setdefault(plant.folder, []).append(plant)
    caught: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="realcode-plants-") as tmp:
        copies = {name: plant_copy(name, group, Path(tmp), root) for name, group in sorted(by_folder.items())}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            found = dict(zip(copies, pool.map(lambda n: scan_folder(copies[n], repo_of(n)), copies), strict=False))
        for name, group in by_folder.items():
            keys = {(f.path, f.line, f.rule) for f in found[name]}
            for plant in group:
                caught[plant.id] = (plant.file, plant.line, plant.rule) in keys
    return caught


# -- the table ----------------------------------------------------------------------------------------------
@dataclass
class Judged:
    finding: Finding
    label: Label | None

    @property
    def verdict(self) -> str:
        return self.label.verdict if self.label else "unlabelled"


def judge(findings: list[Finding], labels: dict[tuple, Label]) -> list[Judged]:
    return [Judged(f, labels.get(f.key)) for f in findings if f.severity in JUDGED]


def load_moves(path: Path = MOVES) -> dict[tuple[str, str, int, str], str]:
    """Labelled true positives now reported under another rule id at the same line (the same hazard, named
    more exactly): (repo, path, line, old rule) -> new rule. `OLD>NEW repo path:line  # why`."""
    out = {}
    for text in path.read_text().splitlines() if path.exists() else []:
        text = text.split("#", 1)[0].strip()
        if text:
            rules, repo, where = text.split()
            old, _, new = rules.partition(">")
            file, _, line = where.rpartition(":")
            out[(repo, file, int(line), old)] = new
    return out


def still_reported(label: Label, reported: set[tuple[str, str, int, str]], moves: dict) -> bool:
    moved = moves.get(label.key)
    return label.key in reported or (moved is not None and (label.repo, label.path, label.line, moved) in reported)


def lost_true_positives(judged: list[Judged], labels: dict[tuple, Label], repos: set[str]) -> list[Label]:
    reported = {j.finding.key for j in judged}
    moves = load_moves()
    return sorted((lb for lb in labels.values() if lb.verdict == "tp" and lb.repo in repos
                   and not still_reported(lb, reported, moves)), key=lambda lb: lb.key)


def precision(tp: int, fp: int) -> str:
    return f"{tp / (tp + fp):.2f}" if tp + fp else "-"


def table(judged: list[Judged], lines: int) -> str:
    rules = sorted({j.finding.rule for j in judged})
    rows = [("rule", "findings", "tp", "fp", "debatable", "unlabelled", "precision", "per100k")]
    total = Counter()
    for rule in [*rules, "all"]:
        mine = [j for j in judged if rule == "all" or j.finding.rule == rule]
        c = Counter(j.verdict for j in mine)
        rows.append((rule, str(len(mine)), str(c["tp"]), str(c["fp"]), str(c["debatable"]), str(c["unlabelled"]),
                     precision(c["tp"], c["fp"]), f"{len(mine) * 100_000 / max(lines, 1):.1f}"))
        if rule != "all":
            total.update(c)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=False)))
                     for row in rows)


def plant_table(plants: list[Plant], caught: dict[str, bool]) -> str:
    out = []
    for plant in plants:
        mark = "caught" if caught[plant.id] else "MISSED"
        out.append(f"  {mark:6}  {plant.id:5} {plant.rule}  {plant.folder}/{plant.file}:{plant.line}  {plant.shape}")
    by_rule: dict[str, list[bool]] = {}
    for plant in plants:
        by_rule.setdefault(plant.rule, []).append(caught[plant.id])
    per_rule = "  ".join(f"{r} {sum(v)}/{len(v)}" for r, v in sorted(by_rule.items()))
    hits = sum(caught.values())
    out.append(f"plant recall {hits}/{len(plants)} = {hits / max(len(plants), 1):.2f}   ({per_rule})")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folders", default="", help="comma-separated folder names (default: all)")
    ap.add_argument("--no-plants", action="store_true")
    ap.add_argument("--plants-only", action="store_true", help="only the planted copies (no table)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--list", default="unlabelled", choices=("unlabelled", "fp", "tp", "debatable", "all", "none"))
    args = ap.parse_args(argv)
    names = folders()
    if args.folders:
        wanted = args.folders.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise SystemExit(f"unknown folders: {unknown}")
        names = [n for n in names if n in wanted]
    if args.plants_only:
        return report_plants(names, args.jobs)
    labels = load_labels()
    lines = sum(count_lines(REALCODE / n) for n in names)
    found = scan_all(names, REALCODE, args.jobs)
    judged = judge([f for n in names for f in found[n]], labels)
    print(f"realcode: {len(names)} folder(s), {lines} lines of Python, {len(judged)} warning/error findings\n")
    print(table(judged, lines))
    lost = lost_true_positives(judged, labels, {repo_of(n) for n in names})
    if lost:
        print(f"\nlabelled tp no longer reported ({len(lost)}):")
        for lb in lost:
            print(f"  {lb.rule} {lb.repo}/{lb.path}:{lb.line}  ({lb.why[:90]})")
    if args.list != "none":
        shown = [j for j in judged if args.list == "all" or j.verdict == args.list]
        if shown:
            print(f"\n{args.list} findings ({len(shown)}):")
            for j in sorted(shown, key=lambda j: j.finding.key):
                f = j.finding
                print(f"  {f.rule} {f.repo}/{f.path}:{f.line} [{j.verdict}] {f.message[:160]}")
    if not args.no_plants:
        report_plants(names, args.jobs)
    return 0


def report_plants(names: list[str], jobs: int) -> int:
    plants = [p for p in load_plants() if p.folder in names] if PLANTS.exists() else []
    if plants:
        print(f"\nplants ({len(plants)}):")
        print(plant_table(plants, check_plants(plants, jobs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
