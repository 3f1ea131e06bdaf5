"""The auditor's own SQLite caches (scan results, file stats, run discovery): opening one, reading many keys,
writing in one transaction, and the fingerprint of the source that produced what they store.

A cache is an optimisation only: one that cannot be opened or written (locked by another scan, disk full)
makes the next run slower and never fails this one."""

from __future__ import annotations

import hashlib
import marshal
import sqlite3
import sys
from collections.abc import Iterable
from pathlib import Path

# git's "racy clean" rule: a file written within this long of being read may change again without its
# mtime moving (coarse timestamps), so what was read from it is not trusted later.
RACY_NS = 2_000_000_000
_CHUNK = 500  # SQLite's limit on bound parameters is 999 in older builds


def connect(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection in autocommit mode with a write-ahead log (readers never wait for a writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        db.close()
        raise
    return db


def select_in(db: sqlite3.Connection, query: str, keys: list) -> list[tuple]:
    """The rows of `query` (with one `IN ({marks})` placeholder) for all keys, asked in chunks."""
    rows: list[tuple] = []
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        rows.extend(db.execute(query.format(marks=",".join("?" * len(chunk))), chunk))
    return rows


def write_in_one_transaction(db: sqlite3.Connection, statements: list[tuple[str, list]]) -> bool:
    """Each (statement, rows): executemany over rows, or execute once when rows is empty and the statement
    takes no parameters. True when committed."""
    try:
        db.execute("BEGIN IMMEDIATE")
        for statement, rows in statements:
            if rows:
                db.executemany(statement, rows)
            elif "?" not in statement:
                db.execute(statement)
        db.execute("COMMIT")
        return True
    except sqlite3.Error:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        return False


def source_fingerprint(schema: int, files: Iterable[tuple[str, Path]]) -> str:
    """A hash of the cache's schema, the Python and marshal versions, and these (name, file) sources: a change
    to the code that produced the stored values invalidates them."""
    digest = hashlib.sha256(f"{schema}:{sys.version_info[:2]}:{marshal.version}".encode())
    for name, path in files:
        digest.update(name.encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            pass
    return digest.hexdigest()[:16]
