"""Shared by the benchmark scripts: a child process timed by wall clock and by CPU, the environment the
auditor runs in as an installed package, and the machine's load. Not a benchmark itself.

Wall time grows with the load of a shared machine; CPU time (user + system of the child and of the
workers it waited for, from getrusage) does not, so every figure is printed with both."""

from __future__ import annotations

import os
import resource
import subprocess
import time
from dataclasses import dataclass


@dataclass
class Timed:
    wall: float
    cpu: float
    proc: subprocess.CompletedProcess

    def figures(self) -> str:
        return f"{self.wall:6.2f} s  cpu {self.cpu:6.2f} s"


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], **kwargs) -> Timed:
    """Run `argv` to its end (output captured as text): its wall and CPU seconds."""
    cpu, start = child_cpu(), time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    return Timed(time.perf_counter() - start, child_cpu() - cpu, proc)


def installed_env(**extra: str) -> dict[str, str]:
    """This environment as the auditor sees it once installed: Python's bytecode cache on. pip compiles the
    .pyc files at install time, while a shell with PYTHONDONTWRITEBYTECODE set makes every run compile the
    auditor's modules again (about 0.5 s of CPU per start on 2 shared cores)."""
    env = {**os.environ, **extra}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
