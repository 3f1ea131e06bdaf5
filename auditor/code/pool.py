"""Per-file work in parallel: a process pool whose workers each build their state once (a FileAnalyzer for
the scan, the fixers for `--fix`) and then take batches of files."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Sequence

from auditor.code.analysis import FileAnalyzer, reuse_previous
from auditor.code.facts import ProjectFacts
from auditor.code.project_cache import PreviousSummaries
from auditor.config import Config

PARALLEL_MIN_FILES = 8  # below this a process pool costs more than it saves


_WORKER: FileAnalyzer | None = None
_RARE_GC = (50_000, 50, 100)  # gc thresholds while parsing: see quiet_gc


def quiet_gc() -> None:
    # Syntax trees and summaries hold no reference cycles, yet building millions of nodes triggers the
    # cyclic collector over and over (20-30% of a cold scan): collect rarely in a worker that only parses.
    gc.freeze()
    gc.set_threshold(*_RARE_GC)


def _init_worker(config: Config, facts: ProjectFacts) -> None:
    global _WORKER
    _WORKER = FileAnalyzer(config, facts)
    quiet_gc()


@contextlib.contextmanager
def rare_collection():
    """In-process work with the cyclic collector mostly idle (see quiet_gc); the settings come back."""
    before = gc.get_threshold()
    gc.set_threshold(*_RARE_GC)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def workers_for(jobs: int | None, count: int) -> int:
    """How many processes to run `count` files in (1: in this process)."""
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    return 1 if count < PARALLEL_MIN_FILES else max(1, min(workers, count))


def parallel_map(func: Callable, items: Sequence, weights: Sequence[int], workers: int,
                 initializer: Callable, initargs: tuple) -> list:
    """[func(batch of items)...] flattened back into the items' order, run in `workers` processes that each
    ran `initializer(*initargs)` first. Interleaved batches, heaviest first, keep big files spread over the
    workers."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    size = max(1, min(32, len(items) // (workers * 4)))
    order = sorted(range(len(items)), key=lambda i: -weights[i])
    step = max(1, len(order) // size)
    batches = [order[i::step] for i in range(step)]
    results: list = [None] * len(items)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=initializer,
                             initargs=initargs) as pool:
        futures = [(batch, pool.submit(func, [items[i] for i in batch])) for batch in batches]
        for batch, future in futures:
            for i, res in zip(batch, future.result(), strict=True):
                results[i] = res
    return results


def analyze_all(analyzer: Callable[[], FileAnalyzer], config: Config,
                work: Sequence[tuple[str, bytes, dict | None]]) -> list[dict]:
    """Each file's result: its previous version's result carried over when the change cannot alter it (only
    comments and blank lines changed: analysis.reuse_previous), else a full analysis by `analyzer()`
    (built on first use: a reused result needs no rule imported)."""
    summaries = PreviousSummaries(config)
    try:
        out = []
        for path, data, prev in work:
            res = reuse_previous(prev, path, data, config, summaries) if prev is not None else None
            out.append(res if res is not None else analyzer().analyze(path, data))
        return out
    finally:
        summaries.close()


def _worker() -> FileAnalyzer:
    assert _WORKER is not None
    return _WORKER


def _analyze_batch(batch: list[tuple[str, bytes, dict | None]]) -> list[dict]:
    return analyze_all(_worker, _worker().config, batch)


def run_analysis(work: list[tuple[str, bytes, dict | None]], config: Config, analyzer, jobs: int | None,
                 facts: ProjectFacts) -> list[dict]:
    """Each (path, content, previous version's result or None) analyzed; `analyzer()` gives the parent's
    FileAnalyzer (built on first use)."""
    workers = workers_for(jobs, len(work))
    if workers <= 1:
        with rare_collection():
            return analyze_all(analyzer, config, work)
    return parallel_map(_analyze_batch, work, [len(data) for _, data, _ in work], workers, _init_worker,
                        (config, facts))
