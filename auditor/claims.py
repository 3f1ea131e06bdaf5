"""Claims in Markdown docs, and what the results say about them (the subjects of RA501 and RA502).

Precision over recall: a number is a claim only when it can be tied to a known run or group (named on
the same line, in the table row, or in the nearest heading above) AND to a known metric (named right
before the number, right after it, or in the table's header). Integers are not claims (steps, seeds,
counts); signed numbers, multipliers (25x) and percentage points (+8pp) are deltas, not results.
A reference is a path in backticks or a link target that names a file (it has a slash and a file
extension, or it is a link); it dangles when it exists neither next to the doc, nor in the repo, nor in
the results directory.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from auditor import safe_read
from auditor.compare.groups import conditions, score, usable
from auditor.config import Config
from auditor.errors import InputError
from auditor.findings import Finding, docs_location
from auditor.runs.record import Run
from auditor.runs.selection import expand_seeds

FILE_EXTENSIONS = {"py", "sh", "txt", "json", "jsonl", "yaml", "yml", "csv", "tsv", "md", "log", "pt", "pth",
                   "safetensors", "ckpt", "bin", "toml", "ipynb", "cfg", "ini", "parquet", "npz", "npy", "html",
                   "png", "pdf", "tex", "bash", "slurm", "sbatch"}
_NUMBER = re.compile(r"(?<![\w./-])([+-]?)(\d+\.\d+|\d+)(\s*%|\s*pp\b|\s*x\b|×)?", re.IGNORECASE)
_APPROX = re.compile(r"(~|≈|\babout\s*$|\bapprox(?:imately|\.)?\s*$|\baround\s*$|\broughly\s*$|\bnearly\s*$)",
                     re.IGNORECASE)
_NOT_A_RESULT_BEFORE = re.compile(
    r"(±|\+/-|\bstd\.?|\bstep|\bepochs?|\bseeds?|\blr|\bcv|\bsigma|[<>]=?|\bby|\bvar\w*|\bchange\w*|"
    r"\bimprov\w*|\bgains?|\bdelta|\bd_\w+|\bdrop\w*|\bincreas\w*|\bdecreas\w*|\bworse|\bbetter|\bregress\w*)"
    r"\s*[:=]?\s*`?\s*$", re.IGNORECASE)
# "~10% accuracy gain", "0.03 lower than": the number is a difference, not a result.
_NOT_A_RESULT_AFTER = re.compile(
    r"^[^.,;:()\d]{0,25}?\b(gains?|improv\w*|increas\w*|decreas\w*|drops?|reductions?|better|worse|higher|lower|"
    r"boost\w*|lift|delta|difference|regress\w*)\b", re.IGNORECASE)
_BACKTICK = re.compile(r"`([^`\n]+)`")
_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*)$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_MAX_GAP = 30  # characters between a metric's name and its number


@dataclass
class Claim:
    path: str  # the doc, as reported
    line: int
    subject: str  # a run id or group name
    kind: str  # "run" | "group"
    metric: str
    value: float  # as written (73.31 for "73.31%")
    text: str  # the number as written ("~0.078", "73.31%")
    percent: bool = False
    approx: bool = False
    decimals: int = 0
    observed: list[tuple[str, float]] = field(default_factory=list)  # (run id, score) of the usable runs
    history: list[float] = field(default_factory=list)  # every logged value of the metric in those runs
    seeds: list[str] | None = None  # "(seeds 0-2)" after the number: only those seeds' runs count
    seed_count: int | None = None  # "(3 seeds)", "over 3 seeds" after the number: how many seeds it claims
    behind: list[str] = field(default_factory=list)  # the distinct seeds of the observed runs ("?id" if unknown)


@dataclass
class Reference:
    path: str
    line: int
    target: str
    tried: list[str] = field(default_factory=list)  # where it was looked for
    exists: bool = True


@dataclass
class Known:
    """What the results dir knows: names to look for in text, and their runs."""

    subjects: dict[str, tuple[str, list[Run]]]  # name -> (kind, runs)
    metrics: dict[str, str]  # lowercase mention -> metric name
    subject_pattern: re.Pattern | None
    metric_pattern: re.Pattern | None


def _alternation(names, ignore_case: bool) -> re.Pattern | None:
    names = sorted(set(names), key=len, reverse=True)
    if not names:
        return None
    return re.compile(r"(?<![\w/.-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w/-])",
                      re.IGNORECASE if ignore_case else 0)


def known_names(runs: list[Run], config: Config) -> Known:
    subjects: dict[str, tuple[str, list[Run]]] = {}
    for name, members in conditions(runs, config).items():
        if not name.startswith("config-"):
            subjects[name] = ("group", members)
    for run in runs:
        subjects.setdefault(run.id, ("run", [run]))
    metric_names = sorted({m for r in runs for m in r.metrics} |
                          {k for r in runs for k, v in (r.reported or {}).items() if k != "step" and isinstance(v, (int, float))})
    mentions = {m.lower(): m for m in metric_names}
    # The last component of "val/acc" names it too, when no other metric ends the same way.
    tails: dict[str, list[str]] = {}
    for m in metric_names:
        tail = re.split(r"[/.]", m)[-1].lower()
        if tail != m.lower() and len(tail) >= 3:
            tails.setdefault(tail, []).append(m)
    for tail, owners in tails.items():
        if len(owners) == 1 and tail not in mentions:
            mentions[tail] = owners[0]
    # Run and group ids are matched as written ("ARC" in prose is not the group "arc"); metric names are
    # not ("NRMSE" is eval/nrmse).
    return Known(subjects, mentions, _alternation(subjects, False), _alternation(mentions, True))


def _lookup(subjects: dict, text: str) -> str | None:
    return text if text in subjects else None


# -- reading a doc ---------------------------------------------------------------------------


def markdown_lines(text: str):
    """(line number, line, in a code fence) for every line."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            fenced = not fenced
            yield number, line, True
            continue
        yield number, line, fenced


def extract(path: str, text: str, known: Known) -> tuple[list[Claim], list[tuple[int, str]]]:
    """The claims of one doc and its (line, target) references."""
    claims: list[Claim] = []
    references: list[tuple[int, str]] = []
    heading_subject: str | None = None
    header: list[str] | None = None  # the current table's header cells
    for number, line, fenced in markdown_lines(text):
        if fenced:
            header = None
            continue
        references += [(number, t) for t in _references(line)]
        heading = _HEADING.match(line)
        if heading:
            found = known.subject_pattern.findall(heading.group(2)) if known.subject_pattern else []
            heading_subject = _lookup(known.subjects, found[0]) if len(set(f.lower() for f in found)) == 1 else None
            header = None
            continue
        if line.lstrip().startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
                claims += _table_claims(path, number, header, cells, known)
            continue
        header = None
        claims += _sentence_claims(path, number, line, known, heading_subject)
    return claims, references


def _table_claims(path, number, header, cells, known) -> list[Claim]:
    if not cells or not known.subject_pattern:
        return []
    subject = _lookup(known.subjects, re.sub(r"[*_`]", "", cells[0]).strip())
    if subject is None:  # the run or group may sit in another cell of the row ("| wide | wide-lr3 | 1.83 |")
        named = {m.group(1) for cell in cells for m in known.subject_pattern.finditer(re.sub(r"[*_`]", "", cell))}
        if len(named) != 1:
            return []
        subject = next(iter(named))
    out = []
    for head, cell in zip(header[1:], cells[1:], strict=False):
        metric = known.metrics.get(re.sub(r"[*_`]", "", head).strip().lower())
        if metric is None:
            continue
        numbers = list(_numbers(re.sub(r"[*_`]", "", cell)))
        if len(numbers) == 1:
            out.append(_claim(path, number, subject, known, metric, numbers[0]))
    return [c for c in out if c]


def _sentence_claims(path, number, line, known, heading_subject) -> list[Claim]:
    if not known.metric_pattern:
        return []
    metrics = [(m.start(), m.end(), known.metrics[m.group(1).lower()]) for m in known.metric_pattern.finditer(line)]
    if not metrics:
        return []
    subjects = [(m.start(), _lookup(known.subjects, m.group(1))) for m in known.subject_pattern.finditer(line)] \
        if known.subject_pattern else []
    out = []
    for num in _numbers(line):
        start = num["start"]
        before = [(s, e, m) for s, e, m in metrics if e <= start and start - e <= _MAX_GAP
                  and not _NUMBER.search(line[e:num["prefix_start"]])]
        after = [(s, e, m) for s, e, m in metrics if 0 <= s - num["end"] <= 3]
        chosen = before[-1] if before else (after[0] if after else None)
        if chosen is None:
            continue
        scope = _scope_after(line[num["end"]:], known)
        if scope is None:
            continue  # "0.00977 (q103 avg)": attributed to something else about q103: not guessed
        scoped_subject, seeds, seed_count = scope
        preceding = [name for pos, name in subjects if pos < start]
        named = sorted({name for _, name in subjects if name})
        if scoped_subject:
            subject = scoped_subject  # "92.1% (run r3-s0)"
        elif preceding:
            subject = preceding[-1]
        elif len(named) == 1:
            subject = named[0]  # "a loss of 1.83 for the wide model (group wide-lr3)"
        elif not subjects and heading_subject:
            subject = heading_subject
        else:
            continue  # no subject, or several: not guessed
        claim = _claim(path, number, subject, known, chosen[2], num, seeds, seed_count)
        if claim:
            out.append(claim)
    return out


_SPREAD = r"(?:(?:±|\+/-)\s*\d+(?:\.\d+)?\s*%?\s*)?"  # "0.91 ± 0.01 (run X)": the spread is passed over
_PAREN = re.compile(r"^\s*" + _SPREAD + r"\(([^()]*)\)")
_SEEDS = re.compile(r"^seeds?\s+([\d][\d,\s-]*)$", re.IGNORECASE)
_NAMED = re.compile(r"^(?:run|group)\s+(\S+)$", re.IGNORECASE)
# "(3 seeds)", "(mean over 3 seeds)", "(n = 3 seeds)"
_SEED_COUNT = re.compile(r"^(?:(?:mean|average|avg|median)\s+(?:over|of|across)\s+|n\s*=\s*)?(\d+)\s+seeds?$",
                         re.IGNORECASE)
# "0.91 over 5 seeds", "0.91 (run X) averaged across 3 seeds": the count said in the words after the number
_SEED_COUNT_AFTER = re.compile(r"^\s*" + _SPREAD + r"(?:\([^()]*\))?\s*,?\s*(?:(?:mean|averaged?|median)\s+)?"
                               r"(?:over|across|from)\s+(\d+)\s+(?:random\s+|different\s+)?seeds?\b", re.IGNORECASE)


def _scope_after(rest: str, known: Known) -> tuple[str | None, list[str] | None, int | None] | None:
    """What follows a number says about it: a parenthesis "(run X)", "(group X)", "(X)", "(seeds 0-2)",
    "(N seeds)" (several of them separated by commas), and "over N seeds". None when the parenthesis names
    a run or group together with other words ("(q103 avg)"): the number describes something else about it."""
    said = _SEED_COUNT_AFTER.match(rest)
    seed_count = int(said.group(1)) if said else None
    match = _PAREN.match(rest)
    if not match:
        return "", None, seed_count
    subject, seeds = "", None
    for part in (p.strip() for p in re.split(r"[;,](?!\s*\d[\d\s-]*(?:[;,]|$))", match.group(1)) if p.strip()):
        named = _NAMED.match(part)
        candidate = named.group(1) if named else part
        if candidate in known.subjects:
            subject = candidate
        elif _SEEDS.match(part):
            seeds = expand_seeds([i.strip() for i in _SEEDS.match(part).group(1).split(",") if i.strip()])
        elif _SEED_COUNT.match(part):
            seed_count = int(_SEED_COUNT.match(part).group(1))  # checked against the seeds behind the number
        elif known.subject_pattern and known.subject_pattern.search(part):
            return None
    return subject, seeds, seed_count


def _numbers(text: str):
    """Candidate result numbers with their position: decimals or percentages, unsigned, not a delta."""
    for m in _NUMBER.finditer(text):
        sign, digits, suffix = m.group(1), m.group(2), (m.group(3) or "").strip().lower()
        if sign == "+" or suffix in ("pp", "x", "×"):
            continue
        percent = suffix == "%"
        if "." not in digits and not percent:
            continue
        prefix = text[:m.start()]
        if _NOT_A_RESULT_BEFORE.search(prefix) or _NOT_A_RESULT_AFTER.match(text[m.end():]):
            continue
        approx = bool(_APPROX.search(prefix[-12:]))
        prefix_start = m.start()
        while prefix_start > 0 and text[prefix_start - 1] in "~≈ ":
            prefix_start -= 1
        value = float(sign + digits)
        yield {"start": m.start(), "end": m.end(), "prefix_start": prefix_start, "value": value,
               "text": ("~" if approx else "") + m.group(0).strip(), "percent": percent, "approx": approx,
               "decimals": len(digits.split(".")[1]) if "." in digits else 0}


def _claim(path, number, subject, known, metric, num, seeds: list[str] | None = None,
           seed_count: int | None = None) -> Claim | None:
    kind, runs = known.subjects[subject]
    if seeds is not None:
        runs = [run for run in runs if run.seed is not None and str(run.seed) in seeds]
    scored = []
    history = []
    behind: set[str] = set()
    for run in runs:
        value, _ = score(run, metric)
        if usable(run) and value is not None and math.isfinite(value):
            scored.append((run.id, value))
            history += [v for _, v in run.metrics.get(metric, []) if v is not None and math.isfinite(v)]
            behind.add(str(run.seed) if run.seed is not None else f"?{run.id}")  # a re-run of a seed is one seed
    if not scored:
        return None  # the runs say nothing about this metric: not a checkable claim
    return Claim(path=path, line=number, subject=subject, kind=kind, metric=metric, value=num["value"],
                 text=num["text"], percent=num["percent"], approx=num["approx"], decimals=num["decimals"],
                 observed=scored, history=history, seeds=seeds, seed_count=seed_count,
                 behind=sorted(behind, key=_seed_order))


def _seed_order(seed: str) -> tuple:
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def _references(line: str) -> list[str]:
    out = []
    for target in _BACKTICK.findall(line):
        target = target.strip()
        if _looks_like_path(target, linked=False):
            out.append(target)
    for target in _LINK.findall(line):
        target = target.split("#", 1)[0]
        if target and _looks_like_path(target, linked=True):
            out.append(target)
    return out


def _looks_like_path(text: str, linked: bool) -> bool:
    if re.match(r"^[a-z][a-z0-9+.-]*:", text, re.IGNORECASE) or text.startswith(("-", "$", "~", "<")):
        return False  # URLs, mailto:, flags, shell variables, home paths
    if any(c in text for c in " =*?{}<>|,;()[]\"'") or text.endswith("/"):
        return False
    name = text.rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].lower() if "." in name.strip(".") else ""
    if extension not in FILE_EXTENSIONS:
        return False
    return linked or "/" in text


# -- checking -------------------------------------------------------------------------------


def markdown_files(paths: list[str]) -> list[Path]:
    files = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__",
                                                                                          "site-packages", "venv"))
                files += [Path(folder) / n for n in sorted(names) if n.lower().endswith((".md", ".markdown"))]
        else:
            files.append(path)
    return files


def repo_root_of(path: Path) -> Path | None:
    for folder in [path.resolve().parent, *path.resolve().parent.parents]:
        if (folder / ".git").exists():
            return folder
    return None


def resolve_reference(target: str, doc: Path, roots: list[Path]) -> Reference:
    bases = [doc.parent, *roots]
    tried = []
    for base in bases:
        candidate = Path(target) if Path(target).is_absolute() else base / target
        tried.append(str(candidate))
        if candidate.exists():
            return Reference(str(doc), 0, target, tried, True)
    return Reference(str(doc), 0, target, tried, False)


def read_doc(path: Path) -> str:
    """A doc's text; InputError (with the line of the first bad byte) when it is unreadable or binary."""
    try:
        data = safe_read.read_bytes(path)  # no FIFO, device or unbounded file
    except safe_read.UnsafeFile as exc:
        raise InputError(exc.reason, path=str(path)) from exc
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc
    if b"\x00" in data:
        raise InputError("a binary file, not Markdown text", path=str(path),
                         line=data[:data.index(b"\x00")].count(b"\n") + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})", path=str(path),
                         line=data[:exc.start].count(b"\n") + 1) from exc


def check_docs(paths: list[str], runs: list[Run], results_dir: str | Path, config: Config,
               repo: str | Path | None = None, rules: list | None = None) -> list[Finding]:
    """RA501/RA502 findings (and RA001 for unreadable docs) over the Markdown files under `paths`; `rules`:
    these rules instead of the docs rules the configuration selects."""
    from auditor.meta import input_unreadable, run_rule
    from auditor.registry import selected_rules

    rules = selected_rules(config, "docs") if rules is None else rules
    claim_rules = [r for r in rules if getattr(r, "subject", "") == "claim"]
    reference_rules = [r for r in rules if getattr(r, "subject", "") == "reference"]
    known = known_names(runs, config)
    findings: list[Finding] = []
    named = {str(Path(p)) for p in paths if not Path(p).is_dir()}
    for doc in markdown_files(paths):
        shown = str(doc)
        try:
            text = read_doc(doc)
        except InputError as exc:
            if shown in named:  # the file asked for on the command line: exit 2
                raise
            where = f" (line {exc.line})" if exc.line else ""  # no excerpt: the line may be binary
            findings.append(input_unreadable(f"cannot read the doc, skipped: {exc.message}{where}",
                                             {"path": shown}, config=config))
            continue
        claims, references = extract(shown, text, known)
        for claim in claims:
            for rule in claim_rules:
                findings += run_rule(rule, docs_location(claim.path, claim.line), claim, config=config)
        roots = [Path(p) for p in (repo, repo_root_of(doc), Path(results_dir), config.root) if p]
        for line, target in references:
            reference = resolve_reference(target, doc, roots)
            reference.path, reference.line = shown, line
            for rule in reference_rules:
                findings += run_rule(rule, docs_location(reference.path, reference.line), reference, config=config)
    return findings


def findings_for_example(cls, example: dict, folder: Path, plugins: tuple[str, ...] = ()) -> list[Finding]:
    """The example adapter of the docs scope (auditor/scopes.py). An example is {"doc": Markdown text,
    "runs": native run records, "files": paths that exist in the repository}, written as a real lab."""
    import git
    import yaml

    from auditor.compare.runsource import load_runs

    repo, results = folder / "repo", folder / "results"
    (repo / "docs").mkdir(parents=True)
    git.Repo.init(repo).close()
    results.mkdir()
    for record in example.get("runs", []):
        (results / record["id"]).mkdir(parents=True)
        (results / record["id"] / "run.yaml").write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
    for name in example.get("files", []):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("placeholder\n", encoding="utf-8")
    doc = repo / "docs" / "RESULTS.md"
    doc.write_text(example["doc"], encoding="utf-8")
    config = Config(root=repo, plugins=list(plugins))
    runs, problems = load_runs(results, config)
    return [*problems, *check_docs([str(doc)], runs, results, config, repo=repo, rules=[cls()])]
