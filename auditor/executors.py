"""Where the nightly's work runs: a local process pool (default), a Ray cluster, or Slurm through submitit.

Every executor has the same shape: `map(fn, items, on_result=None) -> list`, results in input order.
`fn` must be a module-level (picklable) function; the same task functions run on all three.
`on_result(index, result)` is called in the calling process as each result arrives, so the caller can
commit it at once (a scan killed half-way loses nothing that was finished).
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Sequence

from auditor.errors import UsageError

EXECUTORS = ("local", "ray", "slurm")
OnResult = Callable[[int, Any], None] | None


class LocalExecutor:
    """A process pool; with one job (or one item) the work runs in this process, which is faster."""

    def __init__(self, jobs: int | None = None):
        self.jobs = max(1, jobs or os.cpu_count() or 1)

    def map(self, fn: Callable, items: Sequence, on_result: OnResult = None) -> list:
        items = list(items)
        results: list = [None] * len(items)
        if self.jobs == 1 or len(items) <= 1:
            for index, item in enumerate(items):
                results[index] = fn(item)
                if on_result:
                    on_result(index, results[index])
            return results
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(items))) as pool:
            pending = {pool.submit(fn, item): index for index, item in enumerate(items)}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    index = pending.pop(future)
                    results[index] = future.result()
                    if on_result:
                        on_result(index, results[index])
        return results

    def close(self) -> None:
        pass


class RayExecutor:
    """Tasks on a Ray cluster: `address` of a running cluster, or a small local one started here."""

    def __init__(self, address: str | None = None, jobs: int | None = None):
        try:
            import ray
        except ImportError as exc:
            raise UsageError("--executor ray needs Ray: pip install 'repro-auditor[ray]'") from exc
        self.ray = ray
        self.started_here = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(num_cpus=jobs or min(2, os.cpu_count() or 1), include_dashboard=False, log_to_driver=False)
            self.started_here = True

    def map(self, fn: Callable, items: Sequence, on_result: OnResult = None) -> list:
        ray = self.ray
        remote = ray.remote(fn)
        refs = [remote.remote(item) for item in items]
        index_of = {ref: index for index, ref in enumerate(refs)}
        results: list = [None] * len(refs)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                index = index_of[ref]
                results[index] = ray.get(ref)
                if on_result:
                    on_result(index, results[index])
        return results

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()


def parse_minutes(value: str | int | None) -> int:
    """Slurm-style time: "90" (minutes), "1:30:00", "2-00:00:00" -> minutes."""
    if value is None or value == "":
        return 60
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", str(value).strip())
    if not match:
        raise UsageError(f"--time {value!r}: expected minutes, HH:MM:SS or D-HH:MM:SS")
    days, first, second, third = match.groups()
    if second is None:  # minutes only
        minutes = int(first)
    elif third is None:  # MM:SS
        minutes = int(first) + (1 if int(second) else 0)
    else:  # HH:MM:SS
        minutes = int(first) * 60 + int(second) + (1 if int(third) else 0)
    return minutes + int(days or 0) * 24 * 60


class SlurmExecutor:
    """Job arrays on Slurm through submitit; `cluster="local"` runs them as local processes (tests)."""

    def __init__(self, folder: Path, partition: str | None = None, time: str | int | None = None,
                 gpus: int | None = None, cluster: str | None = None, jobs: int | None = None):
        try:
            import submitit
        except ImportError as exc:
            raise UsageError("--executor slurm needs submitit: pip install 'repro-auditor[slurm]'") from exc
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        if cluster is None and self.executor.cluster != "slurm":
            # submitit quietly falls back to local processes; --executor slurm asked for Slurm.
            raise UsageError("--executor slurm: Slurm is not available here (no sbatch/srun found); "
                             "run on a Slurm login node, or use --executor local or ray")
        params: dict[str, Any] = {"timeout_min": parse_minutes(time), "name": "audit-nightly"}
        if gpus:
            params["gpus_per_node"] = int(gpus)
        if jobs:
            params["slurm_array_parallelism"] = int(jobs)
        if partition:
            params["slurm_partition"] = partition
        self.executor.update_parameters(**params)

    def map(self, fn: Callable, items: Sequence, on_result: OnResult = None) -> list:
        items = list(items)
        if not items:
            return []
        jobs = self.executor.map_array(fn, items)
        results: list = [None] * len(jobs)
        pending = dict(enumerate(jobs))
        while pending:
            finished = [index for index, job in pending.items() if job.done()]
            if not finished:
                time.sleep(0.2)
                continue
            for index in finished:
                results[index] = pending.pop(index).result()
                if on_result:
                    on_result(index, results[index])
        return results

    def close(self) -> None:
        pass


def make_executor(kind: str = "local", *, jobs: int | None = None, address: str | None = None,
                  partition: str | None = None, time: str | int | None = None, gpus: int | None = None,
                  folder: Path | str | None = None, cluster: str | None = None):
    """The executor named by `--executor`."""
    if kind == "local":
        return LocalExecutor(jobs)
    if kind == "ray":
        return RayExecutor(address=address, jobs=jobs)
    if kind == "slurm":
        if folder is None:
            raise UsageError("the slurm executor needs a folder for its job files")
        return SlurmExecutor(Path(folder), partition=partition, time=time, gpus=gpus, cluster=cluster, jobs=jobs)
    raise UsageError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
