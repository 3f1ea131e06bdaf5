"""Where the nightly's work runs: a local process pool (default), a Ray cluster, or Slurm through submitit.

Every executor has the same shape: `map(fn, items, on_result=None, gpu=False, label="") -> list`, results
in input order (`gpu`: the tasks use GPUs; `label` names the jobs). `fn` must be a module-level (picklable)
function; the same task functions run on all three. `on_result(index, result)` is called in the calling
process as each result arrives, so the caller can commit it at once (a nightly stopped half-way loses
nothing that was finished). A task that did not run to its end raises `JobFailed` from `map` once every
other task has finished. `close()` cancels what is still out (a stopped nightly) and cleans up after a
clean one.
"""

from __future__ import annotations

from pathlib import Path

from auditor.errors import UsageError
from auditor.executors.common import JobFailed, TaskInterrupted
from auditor.executors.local import LocalExecutor
from auditor.executors.ray import RayExecutor
from auditor.executors.slurm import SlurmExecutor, parse_minutes

EXECUTORS = ("local", "ray", "slurm")

__all__ = ["EXECUTORS", "JobFailed", "LocalExecutor", "RayExecutor", "SlurmExecutor", "TaskInterrupted",
           "make_executor", "parse_minutes"]


def make_executor(kind: str = "local", *, jobs: int | None = None, address: str | None = None,
                  partition: str | None = None, time: str | int | None = None, gpus: int | None = None,
                  folder: Path | str | None = None, cluster: str | None = None, grace_s: float | None = None):
    """The executor named by `--executor`."""
    if kind == "local":
        return LocalExecutor(jobs)
    if kind == "ray":
        return RayExecutor(address=address, jobs=jobs)
    if kind == "slurm":
        if folder is None:
            raise UsageError("the slurm executor needs a folder for its job files")
        return SlurmExecutor(Path(folder), partition=partition, time=time, gpus=gpus, cluster=cluster, jobs=jobs,
                             grace_s=grace_s)
    raise UsageError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
