"""Job arrays on Slurm through submitit.

Each nightly submits into its own, new job folder (job ids repeat after a cluster restart, and submitit names
its files by job id). The driver watches its jobs itself: a result file is the answer (checked to be the one
for this task of this nightly); a job that left the queue without one, or that ran past its time limit, is a
failure after a grace period. `squeue` is enough for that, so a cluster without accounting (`sacct`) never
hangs the nightly; `sacct` is asked only once per failed job, to name its state.
"""

from __future__ import annotations

import logging
import pickle
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.executors.common import (
    Envelope,
    JobFailed,
    OnResult,
    check_answer,
    run_envelope,
)

log = logging.getLogger("auditor")

DEFAULT_GRACE_S = 60.0  # a finished job's result file may show up late on a shared filesystem
# squeue states of a job that may still deliver; any other (COMPLETED, TIMEOUT, CANCELLED...) has ended.
_ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
           "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}


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


@dataclass
class _Watch:
    """What `squeue` last said about our jobs, and since when each is running or gone."""
    grace_s: float
    every_s: float
    states: dict[str, str] = field(default_factory=dict)
    running_since: dict[str, float] = field(default_factory=dict)
    gone_since: dict[str, float] = field(default_factory=dict)
    asked: float = 0.0
    unanswered_since: float | None = None
    error: str = ""

    def refresh(self, job_ids: list[str]) -> None:
        now = time.monotonic()
        if now - self.asked < self.every_s:
            return
        self.asked = now
        arrays = sorted({job_id.split("_")[0] for job_id in job_ids})
        try:
            done = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
                                  capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            done, self.error = None, str(exc)
        if done is not None and done.returncode != 0 and "Invalid job id" not in done.stderr:
            done, self.error = None, done.stderr.strip()
        if done is None:  # Slurm does not answer: nothing is concluded from silence, for a while
            self.unanswered_since = self.unanswered_since or now
            return
        self.unanswered_since = None
        self.states = dict(line.split(None, 1) for line in done.stdout.splitlines() if " " in line)
        for job_id in job_ids:
            state = self.states.get(job_id)
            if state not in _ACTIVE:  # gone, or ended (a finished job stays listed for a while)
                self.gone_since.setdefault(job_id, now)
            else:
                self.gone_since.pop(job_id, None)
                if state in ("RUNNING", "COMPLETING"):
                    self.running_since.setdefault(job_id, now)

    def verdict(self, job_id: str, limit_s: float) -> str | None:
        """Why this job (which has no result yet) counts as failed, or None while it may still deliver."""
        now = time.monotonic()
        if self.unanswered_since is not None and now - self.unanswered_since > max(self.grace_s, 300):
            return f"Slurm has not answered for {now - self.unanswered_since:.0f} s ({self.error})"
        gone = self.gone_since.get(job_id)
        if gone is not None and now - gone > self.grace_s:
            state = self.states.get(job_id)
            return (f"ended ({state}) without a result" if state else
                    "left the Slurm queue without a result (cancelled, timed out, preempted, or its node failed)")
        running = self.running_since.get(job_id)
        if running is not None and now - running > limit_s + self.grace_s:
            return f"still running {now - running:.0f} s after it started, past its time limit"
        return None


class SlurmExecutor:
    """`cluster="local"` runs the arrays as local processes through submitit (tests without Slurm)."""

    def __init__(self, folder: Path, partition: str | None = None, time: str | int | None = None,
                 gpus: int | None = None, cluster: str | None = None, jobs: int | None = None,
                 grace_s: float | None = None):
        try:
            import submitit
        except ImportError as exc:
            raise UsageError("--executor slurm needs submitit: pip install 'repro-auditor[slurm]'") from exc
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.executor = submitit.AutoExecutor(folder=str(self.folder), cluster=cluster)
        self.on_slurm = self.executor.cluster == "slurm"
        if cluster is None and not self.on_slurm:
            shutil.rmtree(self.folder, ignore_errors=True)
            # submitit quietly falls back to local processes; --executor slurm asked for Slurm.
            raise UsageError("--executor slurm: Slurm is not available here (no sbatch/srun found); "
                             "run on a Slurm login node, or use --executor local or ray")
        self.token = uuid.uuid4().hex
        self.name = "Slurm" if self.on_slurm else "submitit's local executor"
        self.gpus = int(gpus or 0)
        self.limit_s = parse_minutes(time) * 60.0
        self.grace_s = DEFAULT_GRACE_S if grace_s is None else float(grace_s)
        params: dict[str, Any] = {"timeout_min": parse_minutes(time), "name": "audit-nightly"}
        if self.on_slurm:
            # submitit warns a task 90 s before its limit by default: with a short --time that is at its start.
            params["slurm_signal_delay_s"] = int(min(90, max(10, self.limit_s // 4)))
        if jobs:  # only when asked: the cluster's size is not this login node's core count
            params["slurm_array_parallelism"] = int(jobs)
        if partition:
            params["slurm_partition"] = partition
        self.executor.update_parameters(**params)
        self._outstanding: dict[str, Any] = {}  # job id -> job, submitted and not yet answered
        self._failed = False

    def map(self, fn: Callable, items: Sequence, on_result: OnResult = None, gpu: bool = False,
            label: str = "") -> list:
        items = list(items)
        if not items:
            return []
        # GPUs only for the arrays that use them (replays): a CPU-only cluster rejects a GPU request.
        self.executor.update_parameters(gpus_per_node=self.gpus if gpu and self.gpus else 0,
                                        name=f"audit-nightly-{label}" if label else "audit-nightly")
        envelopes = [Envelope(self.token, index, fn, item) for index, item in enumerate(items)]
        try:
            jobs = self.executor.map_array(run_envelope, envelopes)
        except Exception as exc:  # noqa: BLE001 - sbatch said no (a partition, a GPU request the cluster lacks)
            raise UsageError(f"--executor slurm: the job array was refused: {_last_line(exc)}") from None
        self._outstanding.update((job.job_id, job) for job in jobs)
        results: list = [None] * len(jobs)
        failures: list[str] = []
        pending = dict(enumerate(jobs))
        watch = _Watch(self.grace_s, every_s=min(5.0, max(0.5, self.grace_s / 3)))
        while pending:
            if self.on_slurm:
                watch.refresh([job.job_id for job in pending.values()])
            progressed = False
            for index, job in list(pending.items()):
                failure, answer = self._outcome(job, watch)
                if failure is None and answer is None:
                    continue
                progressed = True
                del pending[index]
                self._outstanding.pop(job.job_id, None)
                if failure is not None:
                    failures.append(failure)
                    continue
                results[index] = check_answer(answer, self.token, index, f"job {job.job_id}")
                if on_result:
                    on_result(index, results[index])
            if not progressed:
                time.sleep(0.25)
        if failures:
            self._failed = True
            raise JobFailed(failures, self.name)
        return results

    def _outcome(self, job, watch: _Watch) -> tuple[str | None, Any]:
        """(why it failed, None), (None, its answer), or (None, None) while it may still deliver."""
        if job.paths.result_pickle.exists() or (not self.on_slurm and job.done()):
            try:
                return None, job.result()
            except (EOFError, pickle.UnpicklingError):
                if _age(job.paths.result_pickle) < 30:  # submitit writes it in place: still being written
                    return None, None
                return self._failure(job, "its result file is truncated"), None
            except Exception as exc:  # noqa: BLE001 - the task raised, was interrupted, or left no output
                return self._failure(job, _last_line(exc)), None
        if not self.on_slurm:
            return None, None
        why = watch.verdict(job.job_id, self.limit_s)
        if why is None:
            return None, None
        if "past its time limit" in why:
            _scancel([job.job_id])
        return self._failure(job, why + _accounting_state(job.job_id)), None

    def _failure(self, job, why: str) -> str:
        return f"job {job.job_id}: {why}; log: {job.paths.stderr}"

    def close(self) -> None:
        """Cancel the jobs still out (the nightly was stopped); after a clean night, remove the job folder."""
        outstanding, self._outstanding = list(self._outstanding), {}
        if outstanding and self.on_slurm:
            _scancel(outstanding)
            log.warning("cancelled %d Slurm job(s) of this nightly", len(outstanding))
        elif outstanding:
            for job_id in outstanding:
                try:
                    self._job(job_id).cancel(check=False)
                except Exception:  # noqa: BLE001, S110 - already gone
                    pass
        if not outstanding and not self._failed:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _job(self, job_id: str):
        return self.executor.job_class(folder=self.folder, job_id=job_id)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _last_line(exc: Exception) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1].strip() if lines else ''}"


def _scancel(job_ids: list[str]) -> None:
    try:
        subprocess.run(["scancel", *job_ids], capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _accounting_state(job_id: str) -> str:
    """" (Slurm: TIMEOUT)" when accounting knows the job's end; "" without sacct (asked once, no warning)."""
    try:
        done = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    states = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    return f" (Slurm: {states[0]})" if done.returncode == 0 and states else ""
