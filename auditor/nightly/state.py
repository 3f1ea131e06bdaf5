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
import sqlite3
import time
from pathlib import Path
from typing import Iterable

from auditor.findings import Finding

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


def state_path(cache_dir: Path, results_dir: Path) -> Path:
    return Path(cache_dir) / "nightly" / f"{digest(str(Path(results_dir).resolve()))[:16]}.sqlite"


class NightlyState:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
        # WAL + NORMAL: a committed row survives the process being killed at any moment.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.nightly_id: int | None = None

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
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO results (kind, key, subject, findings) VALUES (?,?,?,?)", rows)

    def count(self, kind: str | None = None) -> int:
        if kind:
            return self.db.execute("SELECT COUNT(*) FROM results WHERE kind=?", (kind,)).fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def prune(self, kind: str, keep: Iterable[str]) -> None:
        """Forget results no longer asked for (runs deleted or changed since)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS keep (key TEXT PRIMARY KEY)")
            self.db.execute("DELETE FROM keep")
            self.db.executemany("INSERT OR IGNORE INTO keep VALUES (?)", ((k,) for k in keep))
            self.db.execute("DELETE FROM results WHERE kind=? AND key NOT IN (SELECT key FROM keep)", (kind,))

    # -- nightlies and new findings ------------------------------------------------------------
    def begin(self) -> int:
        with self.db:
            cursor = self.db.execute("INSERT INTO nightlies (started) VALUES (?)", (time.time(),))
        self.nightly_id = cursor.lastrowid
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
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR IGNORE INTO seen (fingerprint, first_nightly) VALUES (?, ?)",
                                ((fp, self.nightly_id or 0) for fp in fingerprints))
            self.db.execute("UPDATE nightlies SET finished=?, findings=? WHERE id=?",
                            (time.time(), findings, self.nightly_id))

    # -- plots ---------------------------------------------------------------------------------
    def plot(self, key: str) -> str | None:
        row = self.db.execute("SELECT svg FROM plots WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def store_plot(self, key: str, svg: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO plots (key, svg) VALUES (?, ?)", (key, svg))
