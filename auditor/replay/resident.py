"""The resident memory of a replay process and its descendants, read from /proc (Linux).

Used where an address-space limit cannot be: CUDA reserves far more virtual memory than a replay ever
uses, so RLIMIT_AS would stop it at start. The parent polls this instead and stops the replay past its
limit. Where /proc is missing (not Linux) it reads 0: no limit is enforced, the timeout still is.
"""

from __future__ import annotations

import os

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in _read(f"/proc/{pid}/task/{task}/children").split()]
        except (OSError, ValueError):
            continue
    return found


def tree_resident_mb(pid: int) -> int:
    """Resident MB of `pid` and every process under it (what a fork of the project's code holds counts too).
    A cheap walk (a few files per process), not a scan of /proc: it runs a few times a second."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            total += int(_read(f"/proc/{current}/statm").split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue  # gone already
        todo += _children(current)
    return total // (1024 * 1024)
