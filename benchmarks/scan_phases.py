"""Where a cold scan's CPU goes: `python benchmarks/scan_phases.py [FOLDER]`.

Analyzes every .py file of FOLDER (default: the corpus of scan_corpus.py, which must have been fetched once)
in this one process, as a worker of the scan's pool does, and prints the seconds spent in each part of the
per-file analysis: the parse, the code layout, the shared node walk, the name resolver, the summary for the
project index and each module rule. The parts are timed by wrapping the engine's functions, so the figures
sum to slightly more than the analysis alone; what they tell is the share of each part (see
docs/performance.md, "Where issue 9's speed goals stand").
"""

from __future__ import annotations

import collections
import functools
import sys
import time
from pathlib import Path

from scan_corpus import BENCH
from timing import load

import auditor.code.analysis as analysis
import auditor.code.node_index as node_index
import auditor.code.resolve as resolve
from auditor.code.facts import ProjectFacts
from auditor.code.pool import rare_collection
from auditor.config import load_config

SECONDS: collections.Counter = collections.Counter()
CALLS: collections.Counter = collections.Counter()


def timing(label, func):
    @functools.wraps(func)
    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            SECONDS[label] += time.process_time() - start
            CALLS[label] += 1
    return timed


def instrument() -> None:
    analysis._ast_parse = timing("ast.parse", analysis._ast_parse)
    analysis.code_layout = timing("code layout", analysis.code_layout)
    analysis._add_summary = timing("summary (with its JSON and hashes)", analysis._add_summary)
    analysis.run_rule = timing_rules(analysis.run_rule)
    node_index.NodeIndex.of = classmethod(timing("node walk", node_index.NodeIndex.of.__func__))
    resolve.Resolver.__init__ = timing("name resolver", resolve.Resolver.__init__)


def timing_rules(run_rule):
    @functools.wraps(run_rule)
    def timed(rule, *args, **kwargs):
        return timing(f"rule {rule.id} (with what it builds first)", run_rule)(rule, *args, **kwargs)
    return timed


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else BENCH / "corpus").resolve()
    files = sorted(root.rglob("*.py"))
    if not files:
        raise SystemExit(f"no .py files under {root} (run benchmarks/scan_corpus.py once to fetch the corpus)")
    instrument()
    analyzer = analysis.FileAnalyzer(load_config(root), ProjectFacts())
    print(f"{root}: {len(files)} files; {load()}")
    start = time.process_time()
    with rare_collection():
        for path in files:
            analyzer.analyze(str(path.relative_to(root)), path.read_bytes())
    total = time.process_time() - start
    print(f"{'per-file analysis, one process':45s} {total:7.2f} s cpu")
    for label, seconds in SECONDS.most_common():
        print(f"  {label:43s} {seconds:7.2f} s  {CALLS[label]:6d} calls  {seconds / total:5.1%}")


if __name__ == "__main__":
    main()
