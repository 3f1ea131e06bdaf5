"""The default executor: a process pool on this machine."""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from auditor.executors.common import JobFailed, OnResult

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Pool worker initializer: a worker whose nightly was killed (kill -9, OOM killer) dies too, instead of
    waiting for ever on a queue nobody feeds (Linux; elsewhere best effort)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class LocalExecutor:
    """A process pool; with one job (or one item) the work runs in this process, which is faster."""

    name = "the local process pool"

    def __init__(self, jobs: int | None = None):
        self.jobs = max(1, jobs or os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def map(self, fn: Callable, items: Sequence, on_result: OnResult = None, gpu: bool = False,  # noqa: ARG002
            label: str = "") -> list:  # noqa: ARG002 - gpu and label matter to Slurm only (same signature)
        items = list(items)
        results: list = [None] * len(items)
        if self.jobs == 1 or len(items) <= 1:
            for index, item in enumerate(items):
                results[index] = fn(item)
                if on_result:
                    on_result(index, results[index])
            return results
        failures: list[str] = []
        self._pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(items)), initializer=_die_with_parent)
        try:
            pending = {self._pool.submit(fn, item): index for index, item in enumerate(items)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    try:
                        results[index] = future.result()
                    except BrokenProcessPool:
                        failures.append(f"task {index}: its worker process died (killed, or out of memory)")
                        continue
                    if on_result:
                        on_result(index, results[index])
        except BaseException:  # interrupted (TERM/INT) or a bug: stop the workers too
            self.close()
            raise
        self._pool.shutdown(wait=True)
        self._pool = None
        if failures:
            raise JobFailed(failures, self.name)
        return results

    def close(self) -> None:
        """Stop the pool; on an interruption, its running workers too (they would finish work nobody keeps)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
