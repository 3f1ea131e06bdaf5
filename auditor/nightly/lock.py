"""One nightly per results directory at a time: an advisory lock file under the cache dir.

flock is released by the kernel when the holder dies (even by SIGKILL), so a crashed nightly never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from auditor.errors import InputError


class Busy(InputError):
    """Another nightly of the same results directory holds the lock."""


class NightlyLock:
    def __init__(self, path: Path, wait_s: float = 0.0, what: str = ""):
        self.path = Path(path)
        self.wait_s = wait_s
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, self.wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise Busy(f"another nightly of {self.what or 'this results directory'} is running"
                               f"{f' (pid {holder})' if holder else ''}; try again later or pass --wait SECONDS",
                               path=str(self.path)) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "NightlyLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode(errors="replace").strip()
    except OSError:
        return ""
