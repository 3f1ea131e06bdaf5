"""Tasks on a Ray cluster: the one `--address` names, else the one this machine already runs (`RAY_ADDRESS`,
or a head started with `ray start --head`), else a small private one started here for the nightly."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence

from auditor.errors import UsageError
from auditor.executors.common import (
    Envelope,
    JobFailed,
    OnResult,
    check_answer,
    run_envelope,
)

log = logging.getLogger("auditor")

_RAY_CLUSTER_FILE = "/tmp/ray/ray_current_cluster"  # where `ray start --head` records a running cluster


def running_cluster() -> bool:
    """Whether `ray.init()` with no address would connect to an existing cluster rather than start one."""
    return bool(os.environ.get("RAY_ADDRESS")) or os.path.exists(_RAY_CLUSTER_FILE)


class RayExecutor:
    def __init__(self, address: str | None = None, jobs: int | None = None):
        try:
            import ray
        except ImportError as exc:
            raise UsageError("--executor ray needs Ray: pip install 'repro-auditor[ray]'") from exc
        self.ray = ray
        self.token = uuid.uuid4().hex
        self.started_here = False
        self.name = "Ray"
        self._pending: list = []
        if not ray.is_initialized():
            self._connect(address, jobs)
            self.started_here = True

    def _connect(self, address: str | None, jobs: int | None) -> None:
        ray = self.ray
        options = {"include_dashboard": False, "log_to_driver": False}
        if address or running_cluster():
            # A cluster exists: join it. Ray refuses num_cpus when it connects, and the cluster's size is its own.
            try:
                ray.init(address=address or None, **options)
                self.name = f"the Ray cluster at {address or os.environ.get('RAY_ADDRESS') or 'this machine'}"
                return
            except ConnectionError as exc:
                if address or os.environ.get("RAY_ADDRESS"):
                    raise UsageError(f"--executor ray: cannot connect to the Ray cluster "
                                     f"{address or os.environ['RAY_ADDRESS']}: {exc}") from None
                log.warning("no Ray cluster answers at the one this machine recorded (%s); starting a local one",
                            _RAY_CLUSTER_FILE)
        ray.init(address="local", num_cpus=jobs or os.cpu_count() or 1, **options)
        self.name = "a local Ray"

    def map(self, fn: Callable, items: Sequence, on_result: OnResult = None, gpu: bool = False,  # noqa: ARG002
            label: str = "") -> list:  # noqa: ARG002 - gpu and label matter to Slurm only (same signature)
        ray = self.ray
        remote = ray.remote(run_envelope)
        refs = [remote.remote(Envelope(self.token, index, fn, item)) for index, item in enumerate(items)]
        index_of = {ref: index for index, ref in enumerate(refs)}
        results: list = [None] * len(refs)
        failures: list[str] = []
        self._pending = list(refs)
        while self._pending:
            done, self._pending = ray.wait(self._pending, num_returns=1)
            for ref in done:
                index = index_of[ref]
                try:
                    answer = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    failures.append(f"task {index}: {_describe(exc)}")
                    continue
                results[index] = check_answer(answer, self.token, index, f"Ray task {index}")
                if on_result:
                    on_result(index, results[index])
        if failures:
            raise JobFailed(failures, self.name)
        return results

    def close(self) -> None:
        """Cancel what is still running (an interrupted nightly), then leave a cluster we joined running."""
        pending, self._pending = self._pending, []
        for ref in pending:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001, S110 - already finished or the cluster is gone: nothing to cancel
                pass
        if self.started_here:
            self.ray.shutdown()


def _describe(exc: Exception) -> str:
    cause = getattr(exc, "cause", None)
    if isinstance(cause, ModuleNotFoundError) and str(cause.name or "").startswith("auditor"):
        return ("the Ray workers cannot import the auditor: start the cluster (`ray start`) from the environment "
                "the auditor is installed in")
    text = str(cause if cause is not None else exc).strip().splitlines()
    return f"{type(cause or exc).__name__}: {text[-1] if text else ''}"
