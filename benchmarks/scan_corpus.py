"""Scan speed and precision on real ML code: `python benchmarks/scan_corpus.py`.

Downloads (once, with `pip download --no-deps`) transformers, trl, lightning, accelerate, verl and
deepspeed into ~/.cache/auditor-bench, unpacks their .py files, then times, in the same run:
  - `audit scan` cold (empty cache), warm (unchanged corpus) and after a one-file change;
  - ruff (default rules) as the floor; semgrep with equivalent pattern rules (torch.load without
    weights_only, pickle loads, cudnn.benchmark);
and prints wall and CPU seconds (CPU: the scan and its workers, unaffected by other load on the machine),
files/s, lines/s, the ratios, the load average, and the findings per rule (the findings go to
~/.cache/auditor-bench/findings.json for reading).

The warm and one-file scans are each run --repeat times (default 5) and the median shown, with the range.
The one-file change is timed twice: a comment appended (line numbers and the project index's summaries
stay as they were) and a line inserted at the top (every position in the file shifts, so its summary
changes; the project rules' findings are reused only if no program reaches that module, else the index is
rebuilt over the cached summary heads). The audit runs keep Python's bytecode cache on: PYTHONDONTWRITEBYTECODE
is removed from their environment (timing.installed_env), as an installed package has its .pyc files.

Options: --packages a,b  --jobs N  --semgrep PATH (default: semgrep on PATH, or the venv in the cache dir)
         --victim PATH (corpus-relative file for the one-file scans)  --audit-only (skip ruff and semgrep)
         --repeat N (runs of each warm and one-file scan).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from timing import Timed, installed_env, load, timed

PACKAGES = ["transformers", "trl", "lightning", "accelerate", "verl", "deepspeed"]
VICTIM = "verl/verl/trainer/ppo/ray_trainer.py"  # 1,500 lines with findings: the edit issue 9 times
BENCH = Path(os.environ.get("AUDITOR_BENCH_DIR", Path.home() / ".cache" / "auditor-bench"))

SEMGREP_RULES = """
rules:
  - id: torch-load-without-weights-only
    languages: [python]
    severity: WARNING
    message: torch.load without weights_only=True
    patterns:
      - pattern: torch.load(...)
      - pattern-not: torch.load(..., weights_only=True, ...)
  - id: pickle-load
    languages: [python]
    severity: WARNING
    message: pickle-family load
    pattern-either:
      - pattern: pickle.load(...)
      - pattern: pickle.loads(...)
      - pattern: joblib.load(...)
      - pattern: dill.load(...)
      - pattern: cloudpickle.load(...)
  - id: cudnn-benchmark
    languages: [python]
    severity: WARNING
    message: cudnn.benchmark enabled
    pattern: torch.backends.cudnn.benchmark = True
"""


def download(packages: list[str]) -> Path:
    dl = BENCH / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    for name in packages:
        if any(p.name.lower().startswith(name.replace("-", "_")) or p.name.lower().startswith(name)
               for p in dl.iterdir()):
            continue
        print(f"downloading {name} ...", flush=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(dl), name],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"  could not download {name}: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
    return dl


def unpack(dl: Path) -> Path:
    corpus = BENCH / "corpus"
    if corpus.exists():
        return corpus
    tmp = Path(tempfile.mkdtemp(dir=BENCH, prefix="corpus-"))
    for archive in sorted(dl.iterdir()):
        target = tmp / archive.name.split("-")[0].lower()
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    if member.endswith(".py") and ".." not in member:
                        zf.extract(member, target)
        elif archive.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(archive) as tf:
                members = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(".py") and ".." not in m.name]
                tf.extractall(target, members=members, filter="data")
    tmp.rename(corpus)
    return corpus


def corpus_size(corpus: Path) -> tuple[int, int]:
    files = lines = 0
    for path in corpus.rglob("*.py"):
        files += 1
        with open(path, "rb") as fh:
            lines += fh.read().count(b"\n")
    return files, lines


def audit(corpus: Path, cache: Path, out: Path, jobs: int | None) -> tuple[Timed, dict]:
    argv = [sys.executable, "-m", "auditor", "scan", str(corpus), "--format", "json", "--output", str(out)]
    if jobs:
        argv += ["--jobs", str(jobs)]
    run = timed(argv, env=installed_env(XDG_CACHE_HOME=str(cache)))
    if run.proc.returncode not in (0, 1):
        raise SystemExit(f"audit scan failed ({run.proc.returncode}): {run.proc.stderr}")
    return run, json.loads(out.read_text())


def rate(files: int, lines: int, run: Timed) -> str:
    return f"{run.figures()}  {files / run.wall:9.0f} files/s  {lines / run.wall:11.0f} lines/s"


def median(runs: list[Timed]) -> Timed:
    """The run of median wall time (a shared 2-core machine varies by a few hundredths of a second)."""
    return sorted(runs, key=lambda r: r.wall)[len(runs) // 2]


def spread(runs: list[Timed]) -> str:
    walls = sorted(r.wall for r in runs)
    return f"(median of {len(runs)}: {walls[0]:.2f}-{walls[-1]:.2f} s)"


def find_semgrep(given: str | None) -> str | None:
    for candidate in (given, shutil.which("semgrep"), str(BENCH / "semgrep-venv" / "bin" / "semgrep")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", default=",".join(PACKAGES))
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--semgrep", default=None)
    parser.add_argument("--victim", default=VICTIM, help="the file edited for the one-file scans (corpus-relative)")
    parser.add_argument("--audit-only", action="store_true", help="time only audit scan (no ruff, no semgrep)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each warm and one-file scan (the median is shown)")
    args = parser.parse_args()
    corpus = unpack(download(args.packages.split(",")))
    files, lines = corpus_size(corpus)
    print(f"\ncorpus: {corpus}  {files} files, {lines} lines; cpus={os.cpu_count()}; {load()}\n", flush=True)

    work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    cache = work / "cache"
    results: dict[str, Timed] = {}
    results["audit cold"], report = audit(corpus, cache, work / "cold.json", args.jobs)
    print(f"audit scan, cold    {rate(files, lines, results['audit cold'])}", flush=True)
    warm_runs = []
    for _ in range(args.repeat):
        run, warm = audit(corpus, cache, work / "warm.json", args.jobs)
        assert warm == report, "a warm scan must report exactly what the cold one did"
        warm_runs.append(run)
    results["audit warm"] = median(warm_runs)
    print(f"audit scan, warm    {rate(files, lines, results['audit warm'])}  {spread(warm_runs)}", flush=True)
    victim = corpus / args.victim
    if not victim.is_file():
        victim = sorted(corpus.rglob("*.py"))[0]
    original = victim.read_bytes()
    one_runs, shift_runs = [], []
    try:
        for n in range(args.repeat):  # each edit new to the cache; the victim put back (and scanned) between
            victim.write_bytes(original + b"\n# touched by the benchmark %d\n" % n)
            run, one = audit(corpus, cache, work / "one.json", args.jobs)
            assert one == report, "a comment after the code changes no finding"
            one_runs.append(run)
            victim.write_bytes(original)
            audit(corpus, cache, work / "back.json", args.jobs)
        for n in range(args.repeat):
            victim.write_bytes(b"# a line inserted by the benchmark %d\n" % n + original)
            shift_runs.append(audit(corpus, cache, work / "shift.json", args.jobs)[0])
            victim.write_bytes(original)
            audit(corpus, cache, work / "back.json", args.jobs)
    finally:
        victim.write_bytes(original)
    results["audit one-file"], results["audit one-file shift"] = median(one_runs), median(shift_runs)
    print(f"audit scan, 1 file  {rate(files, lines, results['audit one-file'])}  {spread(one_runs)}  "
          f"({victim.relative_to(corpus)})", flush=True)
    print(f"  lines shifted     {rate(files, lines, results['audit one-file shift'])}  {spread(shift_runs)}", flush=True)
    tiny = work / "tiny.py"
    tiny.write_text("print('hello')\n")
    startup = timed([sys.executable, "-m", "auditor", "scan", str(tiny), "--no-cache"],
                    env=installed_env(XDG_CACHE_HOME=str(cache)))
    print(f"audit scan 1 tiny file (startup) {startup.figures()}", flush=True)

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if args.audit_only:
        pass
    elif Path(ruff).exists():
        argv = [ruff, "check", "--no-cache", "--exit-zero", "--quiet", str(corpus)]
        results["ruff"] = timed(argv)
        print(f"ruff (default)      {rate(files, lines, results['ruff'])}", flush=True)
        results["ruff 1 thread"] = timed(argv, env={**os.environ, "RAYON_NUM_THREADS": "1"})
        print(f"ruff (1 thread)     {rate(files, lines, results['ruff 1 thread'])}", flush=True)
    else:
        print("ruff: not installed (pip install ruff)")
    semgrep = None if args.audit_only else find_semgrep(args.semgrep)
    if args.audit_only:
        pass
    elif semgrep:
        rules = work / "semgrep.yaml"
        rules.write_text(SEMGREP_RULES)
        results["semgrep"] = timed([semgrep, "scan", "--config", str(rules), "--metrics=off", "--json", "--quiet",
                                    "--disable-version-check", "-j", str(os.cpu_count() or 1), str(corpus)],
                                   env={**os.environ, "SEMGREP_SEND_METRICS": "off"})
        try:
            hits = collections.Counter(r["check_id"].rsplit(".", 1)[-1]
                                       for r in json.loads(results["semgrep"].proc.stdout)["results"])
        except (ValueError, KeyError):
            hits = {"(no JSON output)": 0}
        print(f"semgrep (3 rules)   {rate(files, lines, results['semgrep'])}  {dict(sorted(hits.items()))}", flush=True)
    else:
        print("semgrep: not installed (python -m venv ~/.cache/auditor-bench/semgrep-venv && .../pip install semgrep)")

    print(f"\nratios (goals: cold within 6x ruff, warm and the one-file change under 0.3 s); {load()}")
    cold = results["audit cold"]
    for other in ("ruff", "ruff 1 thread", "semgrep"):
        if other in results:
            print(f"  audit cold / {other:14s} {cold.wall / results[other].wall:6.2f}x wall  "
                  f"{cold.cpu / results[other].cpu:6.2f}x cpu")
    print(f"  warm {results['audit warm'].wall:.2f} s, one-file change {results['audit one-file'].wall:.2f} s "
          f"({results['audit one-file shift'].wall:.2f} s when its lines shift)")

    findings = report["findings"]
    per_rule = collections.Counter(f"{f['rule']} {f['name']}" for f in findings)
    print("\nfindings per rule")
    for rule, count in sorted(per_rule.items()):
        print(f"  {rule:45s} {count:6d}")
    (BENCH / "findings.json").write_text(json.dumps(report, indent=1))
    print(f"\nfindings written to {BENCH / 'findings.json'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
