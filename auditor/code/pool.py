"""Files analyzed in parallel: a process pool whose workers each build one FileAnalyzer."""

from __future__ import annotations

import contextlib
import gc
import os

from auditor.code.analysis import FileAnalyzer
from auditor.code.facts import ProjectFacts
from auditor.config import Config

PARALLEL_MIN_FILES = 8  # below this a process pool costs more than it saves


_WORKER: FileAnalyzer | None = None
_RARE_GC = (50_000, 50, 100)  # gc thresholds while parsing: see _init_worker


def _init_worker(config: Config, facts: ProjectFacts) -> None:
    global _WORKER
    _WORKER = FileAnalyzer(config, facts)
    # Syntax trees and summaries hold no reference cycles, yet building millions of nodes triggers the
    # cyclic collector over and over (20-30% of a cold scan): collect rarely in a worker that only parses.
    gc.freeze()
    gc.set_threshold(*_RARE_GC)


@contextlib.contextmanager
def _rare_collection():
    """In-process analysis with the cyclic collector mostly idle (see _init_worker); the settings come back."""
    before = gc.get_threshold()
    gc.set_threshold(*_RARE_GC)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _analyze_batch(batch: list[tuple[str, bytes]]) -> list[dict]:
    assert _WORKER is not None
    return [_WORKER.analyze(path, data) for path, data in batch]


def run_analysis(work: list[tuple[str, bytes]], config: Config, analyzer, jobs: int | None,
                  facts: ProjectFacts) -> list[dict]:
    """`analyzer()` gives the parent's FileAnalyzer (built on first use)."""
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(work) < PARALLEL_MIN_FILES:
        with _rare_collection():
            return [analyzer().analyze(path, data) for path, data in work]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    # Interleaved batches keep the big files spread over the workers.
    size = max(1, min(32, len(work) // (workers * 4)))
    order = sorted(range(len(work)), key=lambda i: -len(work[i][1]))
    batches = [order[i::max(1, len(order) // size)] for i in range(max(1, len(order) // size))]
    results: list[dict | None] = [None] * len(work)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method), initializer=_init_worker,
                             initargs=(config, facts)) as pool:
        futures = [(batch, pool.submit(_analyze_batch, [work[i] for i in batch])) for batch in batches]
        for batch, future in futures:
            for i, res in zip(batch, future.result(), strict=False):
                results[i] = res
    return [r for r in results if r is not None]
