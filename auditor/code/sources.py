"""Where the scanned source comes from: files on disk (with the stat cache that skips unchanged ones) or
blobs of a commit, read with their size checked first; bytes decoded to text or an RA001 reason."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from auditor.code.cache import FileStats, blob_hash
from auditor.code.discover import Candidate, python_shebang
from auditor.config import Config



@dataclass
class SourceFile:
    path: str  # as reported: relative, "/" separators
    data: bytes | None  # None when it could not be read (then `error` says why)
    blob: str | None = None  # git blob id when known (read from a commit, or the stat cache): the cache key
    error: str | None = None
    full: str | Path | None = None  # with data None and no error: not read yet (its blob came from the stat cache)
    raced: bool = False  # read later than stat'ed, and its content no longer matched `blob`
    prev_blob: str | None = None  # the content this path had at the last scan (from the stat cache), if changed

    @property
    def unreadable(self) -> bool:
        return self.data is None and (self.error is not None or self.full is None)

    def content(self) -> bytes | None:
        """The bytes; a file known by its stat signature is read only when it has to be analyzed."""
        if self.data is None and self.error is None and self.full is not None:
            try:
                with open(self.full, "rb") as fh:
                    self.data = fh.read()
            except OSError as exc:
                self.error = f"cannot be read: {exc.strerror or type(exc).__name__}"
                self.raced = True
                return None
            if self.blob is not None and blob_hash(self.data) != self.blob:
                self.raced = True  # changed since stat: analyze what is there, but cache nothing
        return self.data


def decode_source(data: bytes, max_bytes: int) -> tuple[str | None, tuple[str, int] | None]:
    """(the text, None), or (None, (why it is not Python source, line))."""
    if len(data) > max_bytes:
        return None, (f"file is too large ({len(data)} bytes > {max_bytes}; set [tool.auditor.scan] max-file-bytes)", 1)
    if b"\0" in data:
        return None, ("binary content, not Python source", 1)
    try:
        encoding = source_encoding(data)
    except SyntaxError as exc:  # no encoding Python knows declared, or the first lines are not UTF-8
        encoding, declared = "utf-8-sig", str(exc)
    else:
        declared = None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        shown = "UTF-8" if encoding.startswith("utf-8") else encoding
        return None, (f"not {shown} (invalid byte at offset {exc.start})", data[: exc.start].count(b"\n") + 1)
    except LookupError:  # `# coding: rot13`, hex, zlib: codecs of bytes, not of text
        return None, (f"its encoding declaration names {encoding!r}, which is not a text encoding", 1)
    if declared is not None:
        return None, (f"its encoding declaration is not one Python reads ({declared})", 1)
    return text, None


def source_lines(data: bytes | None) -> list[str]:
    """A file's lines as the scan reads them (in its declared encoding), for excerpts and for carrying
    fingerprints; undecodable bytes shown as U+FFFD rather than dropping the file."""
    if not data:
        return []
    text, _ = decode_source(data, len(data))
    return (text if text is not None else data.decode("utf-8", errors="replace")).splitlines()


def line_lookup(read: Callable[[str], bytes | None]) -> Callable[[str, int], str | None]:
    """(path, line) -> that line's text, each file read (by `read`: None when it has none) and split once."""
    split: dict[str, list[str]] = {}

    def lookup(path: str, line: int) -> str | None:
        if path not in split:
            split[path] = source_lines(read(path))
        lines = split[path]
        return lines[line - 1] if 0 < line <= len(lines) else None

    return lookup


def source_encoding(data: bytes) -> str:
    """How Python reads these bytes (PEP 263): UTF-8 ("utf-8-sig" with its byte order mark) unless a coding
    declaration in the first two lines names another (`# -*- coding: latin-1 -*-`). SyntaxError when that
    declaration names no codec Python has, or the first lines are not UTF-8 and declare nothing."""
    import io
    import tokenize

    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]


def read_candidates(candidates: list[Candidate], config: Config, stats: FileStats | None = None) -> list[SourceFile]:
    """The candidates as SourceFiles. With `stats`, a file whose stat signature is on record is not read:
    its blob id comes from the record and its bytes are read only if it must be analyzed."""
    max_bytes = config.scan.max_file_bytes
    known = stats.known([str(c.full) for c in candidates]) if stats is not None else {}
    out, rows = [], []
    for cand in candidates:
        f, st = read_one(cand, max_bytes, stats, known.get(str(cand.full)))
        if stats is not None and st is not None and f.data is not None:
            f.blob = blob_hash(f.data)
            rows.append((str(cand.full), stats.signature(st), f.blob, st.seen))
        out.append(f)
    if stats is not None:
        stats.record(rows)
    return out


class _Stat:
    """os.stat_result plus when it was taken (before the read: a write after it makes the entry racy)."""

    def __init__(self, st: os.stat_result, seen: int | None = None):
        self.st_size, self.st_mtime_ns, self.st_ctime_ns = st.st_size, st.st_mtime_ns, st.st_ctime_ns
        self.st_ino, self.st_dev = st.st_ino, st.st_dev
        self.seen = time.time_ns() if seen is None else seen


def read_one(cand: Candidate, max_bytes: int, stats: FileStats | None = None, entry: tuple | None = None,
             taken: os.stat_result | None = None, seen: int | None = None) -> tuple[SourceFile, _Stat | None]:
    """`taken`: the file's stat, taken at `seen` (else it is stat'ed here, before it is read)."""
    if cand.refused:  # auditor.code.discover: an unlistable folder, a link out of the tree
        return SourceFile(cand.path, None, error=cand.refused), None
    try:
        raw = taken or os.stat(cand.full)  # follows symlinks: a loop raises ELOOP here
        if not stat.S_ISREG(raw.st_mode):
            return SourceFile(cand.path, None, error="not a regular file"), None
        if raw.st_size > max_bytes:
            return SourceFile(cand.path, None, error=f"file is too large ({raw.st_size} bytes > {max_bytes}; "
                                                     "set [tool.auditor.scan] max-file-bytes)"), None
        told_by_content = explicit_other(cand)
        if stats is not None and entry is not None and not told_by_content:
            blob = stats.trusted_blob(entry, raw)
            if blob is not None:
                return SourceFile(cand.path, None, blob=blob, full=cand.full), None
        st = _Stat(raw, seen if taken else None)  # taken before the read: a write after it makes the entry racy
        with open(cand.full, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        why = "symlink loop" if exc.errno == 40 else (exc.strerror or type(exc).__name__)
        return SourceFile(cand.path, None, error=f"cannot be read: {why}"), None
    if told_by_content and not python_shebang(data):
        return SourceFile(cand.path, None, error="not a Python file"), None
    return SourceFile(cand.path, data, prev_blob=entry[1] if entry is not None else None), st


def explicit_other(cand: Candidate) -> bool:
    """A file named on the command line without a Python suffix: whether it is Python is read from it."""
    return cand.explicit and not cand.path.endswith((".py", ".pyi"))

