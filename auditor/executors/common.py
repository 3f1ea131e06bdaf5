"""What every executor shares: the envelope a task travels in, the failure a dead job becomes, and the guard
that turns a scheduler's "stop now" signal inside a task into that failure.

A task's result is only ever taken as a finding when the task ran to its end: a job killed at its time
limit, preempted, cancelled or lost with its node or worker is a `JobFailed`, never a result, so nothing of
it is stored in the nightly's state and the next nightly runs it again.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from auditor.errors import InputError

OnResult = Callable[[int, Any], None] | None

# Signals a scheduler sends a task before it stops it: Slurm's time-limit/preemption warning that submitit
# arms (USR2, or what SUBMITIT_PREEMPT_SIGNAL names), USR1 for the same purpose elsewhere, and TERM.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGUSR1", "SIGUSR2", "SIGTERM") if hasattr(signal, name))


class JobFailed(InputError):
    """One or more tasks did not run to their end (time limit, preemption, cancel, node or worker death, lost
    cluster). What finished is committed; a rerun redoes the rest."""

    def __init__(self, failures: list[str], executor: str):
        lines = "\n".join(f"  {failure}" for failure in failures)
        super().__init__(f"{len(failures)} task(s) did not finish on {executor}; what finished is kept, and the next "
                         f"nightly redoes only the rest:\n{lines}")
        self.failures = failures


class TaskInterrupted(RuntimeError):
    """Raised after a task that was told to stop while it ran, whatever its own code made of the signal: the
    job then ends as failed, with this message in its log, and the driver keeps nothing of it."""


@dataclass
class Envelope:
    """A task as sent: `token` names the nightly, `index` the task, so a result that comes back is checked to
    be the answer to this very task (not a stale file of an earlier job that had the same job id)."""
    token: str
    index: int
    fn: Callable
    item: Any


@dataclass
class Answer:
    token: str
    index: int
    result: Any


def run_envelope(envelope: Envelope) -> Answer:
    """In the worker: run the task under the stop-signal guard and label the answer."""
    with stop_signal_guard() as stopped:
        result = envelope.fn(envelope.item)
    if stopped:
        # A task's own code (a replay's `except Exception`) may have swallowed the scheduler's interruption and
        # returned a "could not run" finding: that is not a result of this task.
        raise TaskInterrupted(f"stopped by signal {stopped[0]} while it ran (time limit or preemption)")
    return Answer(envelope.token, envelope.index, result)


def check_answer(answer: Any, token: str, index: int, where: str) -> Any:
    if not isinstance(answer, Answer) or answer.token != token or answer.index != index:
        got = f"task {answer.index} of nightly {answer.token}" if isinstance(answer, Answer) else type(answer).__name__
        why = (f"{where}: returned the result of another task ({got}, expected task {index} of nightly {token}): "
               "a job folder shared with another nightly or an earlier cluster?")
        raise JobFailed([why], "this executor")
    return answer.result


@contextmanager
def stop_signal_guard() -> Iterator[list[int]]:
    """Record any stop signal that arrives while the block runs, and still call the handler installed before
    (submitit's, which raises in the task). Only where a Python handler is installed: a default handler
    kills the process, which the driver sees as a dead job anyway."""
    stopped: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    previous: dict[int, Any] = {}
    for signum in _STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if callable(handler):
            previous[signum] = handler
            signal.signal(signum, _recording(handler, stopped))
    try:
        yield stopped
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _recording(handler: Callable, stopped: list[int]) -> Callable:
    def record(signum, frame):
        stopped.append(signum)
        return handler(signum, frame)
    return record
