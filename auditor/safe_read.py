"""Reading a file of an audited tree that someone else can write: the one place that opens such files.

The audited tree (a results directory, or the repository of `audit scan`) is the boundary:
- a symlink whose target resolves outside it is not read (a link to `~/.netrc` or a token file would
  otherwise put the secret into every report);
- only regular files are opened: a FIFO, a device (`/dev/zero`) or a socket never is (a FIFO blocks an
  open for ever, a device never ends);
- the size is checked before reading, and no more than the limit is read even if the file grows.
A refusal is an `UnsafeFile` (an OSError) whose message names the path and the reason, never the content.

The boundary is set per call (`root=`) or for a block of work (`with boundary(root):`); without one,
special files and sizes are still refused, symlinks are not checked.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import os
import stat

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: far above any record; a cap on what one file can make us hold

_ROOT: contextvars.ContextVar[str | None] = contextvars.ContextVar("audited_root", default=None)


class UnsafeFile(OSError):
    """A file of the audited tree that is not read: outside the tree, not a regular file, or too large."""

    def __init__(self, path: str, reason: str):
        super().__init__(errno.EPERM, reason, str(path))
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.filename}: {self.reason}"


@contextlib.contextmanager
def boundary(root: str | os.PathLike | None):
    """Within this block, files are only read when they resolve inside `root`."""
    token = _ROOT.set(os.path.realpath(root) if root is not None else None)
    try:
        yield
    finally:
        _ROOT.reset(token)


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def check(path: str | os.PathLike, root: str | os.PathLike | None = None,
          max_bytes: int | None = DEFAULT_MAX_BYTES) -> os.stat_result:
    """The file's stat if it may be read (UnsafeFile otherwise); opens nothing."""
    root = root if root is not None else _ROOT.get()
    path = os.fspath(path)
    info = os.lstat(path)  # OSError (missing, no permission) goes to the caller as it is
    if root is not None and not inside(path, root):
        raise UnsafeFile(path, "a symlink to a file outside the audited folder: not read")
    if stat.S_ISLNK(info.st_mode):
        info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFile(path, f"{_kind(info.st_mode)}, not a regular file: not read")
    if max_bytes is not None and info.st_size > max_bytes:
        raise UnsafeFile(path, f"too large ({info.st_size} bytes, limit {max_bytes}): not read")
    return info


def read_bytes(path: str | os.PathLike, root: str | os.PathLike | None = None,
               max_bytes: int | None = DEFAULT_MAX_BYTES) -> bytes:
    """The file's bytes, after `check`; opened non-blocking so a FIFO swapped in after the check cannot hang us."""
    check(path, root, max_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):  # replaced between the check and the open
            raise UnsafeFile(os.fspath(path), f"{_kind(info.st_mode)}, not a regular file: not read")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(max_bytes + 1) if max_bytes is not None else handle.read()
    finally:
        os.close(fd)
    if max_bytes is not None and len(data) > max_bytes:
        raise UnsafeFile(os.fspath(path), f"too large (over {max_bytes} bytes while read): not read")
    return data


def _open_checked(path: str | os.PathLike, root, max_bytes: int | None) -> int:
    check(path, root, max_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile(os.fspath(path), "not a regular file: not read")
    return fd


def open_binary(path: str | os.PathLike, root: str | os.PathLike | None = None,
                max_bytes: int | None = DEFAULT_MAX_BYTES):
    """A binary handle for streaming a large file line by line, after the same checks (the size check is on
    the file as it is now; a reader that streams stops at what it needs)."""
    return os.fdopen(_open_checked(path, root, max_bytes), "rb")
