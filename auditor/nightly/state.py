"""The nightly's memory: a SQLite file per results directory under the cache dir (never in DIR).

- results: findings per audited subject (a run, a replay, the code at a SHA), keyed by a hash of
  the subject's content + the rules version + the config fingerprint. Every finished task is
  committed at once, so a nightly killed half-way loses nothing it had finished.
- seen: every fingerprint reported by a nightly that ran to the end ("new" = not seen before).
  It is only written when a nightly completes, so a crashed-and-restarted nightly reports the same
  new findings as one that was never interrupted.
- plots: rendered SVG plots keyed by a hash of what they show (an unchanged run is not re-plotted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from auditor.findings import Finding

log = logging.getLogger("auditor")

# SQLite's result codes for a disk that refuses writes: IOERR, READONLY, CANTOPEN, FULL.
_DISK_ERRORS = {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL}

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    kind TEXT NOT NULL, key TEXT NOT NULL, subject TEXT NOT NULL, findings TEXT NOT NULL,
    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS seen (fingerprint TEXT PRIMARY KEY, first_nightly INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nightlies (
    id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL, findings INTEGER);
CREATE TABLE IF NOT EXISTS plots (key TEXT PRIMARY KEY, svg TEXT NOT NULL);
"""


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:40]


def _code(exc: sqlite3.Error) -> int:
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF  # the primary code of an extended one


def _corrupt(exc: sqlite3.DatabaseError) -> bool:
    return _code(exc) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in str(exc) or (
        "not a database" in str(exc))


def state_path(cache_dir: Path, results_dir: Path) -> Path:
    return Path(cache_dir) / "nightly" / f"{digest(str(Path(results_dir).resolve()))[:16]}.sqlite"


class NightlyState:
    """The state file; a corrupt one is moved aside and rebuilt, and one that cannot be written (read-only or
    full disk) gives way to an in-memory state with a warning: the nightly then still writes its reports."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.nightly_id: int | None = None
        self.degraded = False
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as exc:
            if not _corrupt(exc):
                self.db = self._without_file(exc)
            else:
                aside = self._move_aside()
                log.warning("%s: the nightly state is corrupt (%s); moved aside to %s and rebuilt "
                            "(this nightly audits everything again)", self.path, exc, aside.name)
                try:
                    self.db = self._open()
                except sqlite3.DatabaseError as again:
                    self.db = self._without_file(again)
        except OSError as exc:
            self.db = self._without_file(exc)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        try:
            # WAL + NORMAL: a committed row survives the process being killed at any moment.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed: {check}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self) -> Path:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.replace(Path(f"{aside}{suffix}"))
        return aside

    def _without_file(self, exc: BaseException) -> sqlite3.Connection:
        log.warning("%s: the nightly state cannot be used (%s); running without it: everything is audited again "
                    "and every finding counts as new", self.path, exc)
        self.degraded = True
        db = sqlite3.connect(":memory:", isolation_level=None)
        db.executescript(SCHEMA)
        return db

    def _write(self, write) -> None:
        """Run a write; when the disk refuses it (full, read-only), go on in memory with what was read so far."""
        try:
            write()
        except sqlite3.OperationalError as exc:
            if self.degraded or _code(exc) not in _DISK_ERRORS:
                raise
            memory = sqlite3.connect(":memory:", isolation_level=None)
            try:
                self.db.backup(memory)
            except sqlite3.Error:
                memory.executescript(SCHEMA)
            self.db.close()
            log.warning("%s: the nightly state cannot be written (%s); going on without it: this nightly's "
                        "results are not kept for the next one", self.path, exc)
            self.db, self.degraded = memory, True
            write()

    def close(self) -> None:
        self.db.close()

    # -- results -----------------------------------------------------------------------------
    def cached(self, kind: str, keys: Iterable[str]) -> dict[str, list[Finding]]:
        """Findings already stored for these keys (missing keys are simply absent)."""
        keys = list(keys)
        found: dict[str, list[Finding]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT key, findings FROM results WHERE kind=? AND key IN ({marks})",
                                   [kind, *chunk])
            for key, text in rows:
                found[key] = [Finding.from_json(d) for d in json.loads(text)]
        return found

    def store(self, kind: str, entries: Iterable[tuple[str, str, list[dict]]]) -> None:
        """(key, subject, finding dicts) rows, committed together as one task's result."""
        rows = [(kind, key, subject, json.dumps(findings)) for key, subject, findings in entries]

        def write():
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT OR REPLACE INTO results (kind, key, subject, findings) VALUES (?,?,?,?)",
                                    rows)
        self._write(write)

    def count(self, kind: str | None = None) -> int:
        if kind:
            return self.db.execute("SELECT COUNT(*) FROM results WHERE kind=?", (kind,)).fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def prune(self, kind: str, keep: Iterable[str]) -> None:
        """Forget results no longer asked for (runs deleted or changed since)."""
        keep = list(keep)

        def write():
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (key TEXT PRIMARY KEY)")
                self.db.execute("DELETE FROM keep")
                self.db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", ((k,) for k in keep))
                self.db.execute("DELETE FROM results WHERE kind=? AND key NOT IN (SELECT key FROM keep)", (kind,))
        self._write(write)

    # -- nightlies and new findings ------------------------------------------------------------
    def begin(self) -> int:
        def write():
            with self.db:
                self.nightly_id = self.db.execute("INSERT INTO nightlies (started) VALUES (?)", (time.time(),)).lastrowid
        self._write(write)
        return self.nightly_id

    def seen(self, fingerprints: Iterable[str]) -> set[str]:
        fingerprints = list(fingerprints)
        known: set[str] = set()
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start:start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(r[0] for r in self.db.execute(f"SELECT fingerprint FROM seen WHERE fingerprint IN ({marks})", chunk))
        return known

    def finish(self, fingerprints: Iterable[str], findings: int) -> None:
        """The nightly ran to the end: its findings are "known" from now on."""
        fingerprints = list(fingerprints)

        def write():
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.executemany("INSERT OR IGNORE INTO seen (fingerprint, first_nightly) VALUES (?, ?)",
                                    ((fp, self.nightly_id or 0) for fp in fingerprints))
                self.db.execute("UPDATE nightlies SET finished=?, findings=? WHERE id=?",
                                (time.time(), findings, self.nightly_id))
        self._write(write)

    # -- plots ---------------------------------------------------------------------------------
    def plot(self, key: str) -> str | None:
        row = self.db.execute("SELECT svg FROM plots WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def store_plot(self, key: str, svg: str) -> None:
        def write():
            with self.db:
                self.db.execute("INSERT OR REPLACE INTO plots (key, svg) VALUES (?, ?)", (key, svg))
        self._write(write)
