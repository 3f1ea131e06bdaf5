"""One nightly per results directory at a time: an advisory lock file under the cache dir.

The lock is a POSIX record lock (`lockf`), which belongs to the process that took it: the kernel releases it
when that process dies (even by SIGKILL), and the pool workers it forked do not hold it (an `flock` would be
shared with them through the inherited descriptor, and stay held while an orphaned worker lives). The
descriptor is also close-on-exec, so nothing the nightly starts inherits it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import time
from pathlib import Path

from auditor.errors import InputError

log = logging.getLogger("auditor")


_HELD: set[str] = set()


class Busy(InputError):
    """Another nightly of the same results directory holds the lock."""


class NightlyLock:
    def __init__(self, path: Path, wait_s: float = 0.0, what: str = ""):
        self.path = Path(path)
        self.wait_s = wait_s
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if str(self.path) not in _HELD:  # (closing a descriptor of a file this process locks would unlock it)
                os.close(os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644))
        except OSError as exc:  # a read-only or broken cache dir: the lock still has to work
            fallback = Path(tempfile.gettempdir()) / f"auditor-nightly-{self.path.name}"
            log.warning("%s: cannot write the nightly lock there (%s); using %s", self.path, exc.strerror or exc,
                        fallback)
            self.path = fallback
        deadline = time.monotonic() + max(0.0, self.wait_s)
        while True:
            fd = self._try_lock()
            if fd is not None:
                break
            if time.monotonic() >= deadline:
                holder = str(os.getpid()) if str(self.path) in _HELD else _read_holder(self.path)
                raise Busy(f"another nightly of {self.what or 'this results directory'} is running"
                           f"{f' (pid {holder})' if holder else ''}; try again later or pass --wait SECONDS",
                           path=str(self.path)) from None
            time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        _HELD.add(str(self.path))

    def _try_lock(self) -> int | None:
        # Record locks are per process, and closing *any* descriptor of the file drops them: a second lock
        # of the same file in this process must not even open it.
        if str(self.path) in _HELD:
            return None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EAGAIN/EACCES: held by another process
            os.close(fd)
            return None
        return fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
            _HELD.discard(str(self.path))

    def __enter__(self) -> NightlyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[:32].strip()
    except OSError:
        return ""
