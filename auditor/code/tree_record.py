"""The last scan of a whole project tree, kept as one cache entry: every file's stat identity, content hash
and result key, and the key of the scan's result.

A scan of the whole project stats every file once, before reading any, and compares with the record: a file
whose identity is unchanged is neither read nor hashed, its key comes from the record, and when no file
changed the record's result is the answer. An identity is recorded only for a file that was already
RACY_NS old when the stats began (git's racy-clean rule, as FileStats applies it): a file written in the
same instant as it was stat'ed could change again without its stat changing. Scans of part of a tree keep
using FileStats.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from auditor.code.cache import FileStats, ResultCache, blob_hash
from auditor.code.discover import Candidate
from auditor.code.sources import SourceFile, explicit_other, read_one

Identity = tuple[int, int, int, int, int, int]  # a file's size, mtime, ctime, inode, device and mode
UNREADABLE = "!"  # a recorded "blob" starting with it is why the file could not be read


@dataclass
class TreeRecord:
    files: dict[str, tuple[Identity | None, str, str]]  # path -> (identity when settled, blob, result key)
    project: str  # the key of the scan's result

    @staticmethod
    def key(cache: ResultCache, root: Path) -> str:
        return cache.key(str(root), "tree-record")

    @classmethod
    def load(cls, cache: ResultCache, root: Path) -> TreeRecord | None:
        key = cls.key(cache, root)
        data = cache.get_many([key]).get(key)
        try:
            files = {path: (tuple(ident) if ident else None, blob, k) for path, (ident, blob, k)
                     in data["files"].items()}
            record = cls(files, data["project"])
        except (TypeError, KeyError, ValueError):
            return None
        well_formed = isinstance(record.project, str) and all(
            isinstance(blob, str) and blob and isinstance(k, str) for _, blob, k in files.values())
        return record if well_formed else None

    def save(self, cache: ResultCache, root: Path) -> None:
        cache.put_many({self.key(cache, root): {"files": self.files, "project": self.project}})


@dataclass
class TreeRead:
    """The candidates as SourceFiles, read against the record."""

    files: list[SourceFile]
    keys: dict[str, str]  # result keys known from the record (unchanged files)
    identities: dict[str, Identity | None]  # path -> identity to record (None: racy or not stat'ed)
    unchanged: bool  # the tree is exactly the recorded one

    def worth_recording(self, old: TreeRecord | None) -> bool:
        """Would a later scan read fewer files with a record of this scan than with `old`? (Writing a
        project's record costs about as much as reading it: a file changed seconds ago, recorded without its
        stat, is not worth it; the old record tells that file changed just as well.)"""
        if old is None or old.files.keys() != self.identities.keys():
            return True
        return any(ident is not None and path not in self.keys for path, ident in self.identities.items())


def read_tree(candidates: list[Candidate], record: TreeRecord | None, max_bytes: int) -> TreeRead:
    # One tight loop: it runs for every file of the project on every scan, cached or not.
    taken = time.time_ns()
    settled_before = taken - FileStats.RACY_NS
    recorded = record.files if record is not None else {}
    stat = os.stat
    files: list[SourceFile] = []
    keys: dict[str, str] = {}
    identities: dict[str, Identity | None] = {}
    complete = record is not None  # every file is as recorded (so far)
    for cand in candidates:
        path = cand.path
        try:
            st = None if cand.refused or explicit_other(cand) else stat(cand.full)
        except OSError:
            st = None
        if st is None:  # refused by the walk, it cannot be stat'ed, or it must be told from its content
            files.append(read_one(cand, max_bytes)[0])
            complete = complete and bool(cand.refused)  # a refusal is the walk's, the same every time
            continue
        ident = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev, st.st_mode)
        identities[path] = ident if st.st_mtime_ns <= settled_before and st.st_ctime_ns <= settled_before else None
        entry = recorded.get(path)
        if entry is not None and entry[0] == ident:
            blob = entry[1]
            files.append(SourceFile(path, None, blob=blob, full=cand.full) if blob[0] != UNREADABLE else
                         SourceFile(path, None, error=blob[1:]))
            keys[path] = entry[2]
            continue
        f = read_one(cand, max_bytes, taken=st, seen=taken)[0]
        if f.data is not None:
            f.blob = blob_hash(f.data)
            f.prev_blob = entry[1] if entry is not None and entry[1][0] != UNREADABLE else None
        files.append(f)
    return TreeRead(files, keys, identities, complete and len(keys) == len(recorded) == len(identities))


def record_of(read: TreeRead, keys: dict[str, str], project: str) -> TreeRecord:
    """The record of this scan: every file that was stat'ed, with its identity only if it was settled."""
    files = {}
    for f in read.files:
        if f.path in read.identities and not f.raced:
            files[f.path] = (read.identities[f.path], f.blob or UNREADABLE + (f.error or ""), keys[f.path])
    return TreeRecord(files, project)
