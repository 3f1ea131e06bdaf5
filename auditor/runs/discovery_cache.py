"""The discovery cache: what each run folder of a results directory read as, while its files stay the same.

One SQLite file per results directory under `<cache_dir>/runs/` (never in the results directory). A row per
run folder (its path relative to the results directory) holds the folder's stat signature, when it was read,
and the normalized runs (or the read error) as a marshal blob: plain data only, so loading it runs no code.

The signature covers every file the folder's reader may open, with (size, mtime_ns, ctime_ns, inode) each,
and the folder's listing: for a native record the folder's top-level files (run.yaml/run.json, Sacred's
config.json and metrics.json beside it) and `.hydra/`; for W&B, MLflow, Hydra and Guild folders every file
below the folder (a metric file appended to moves the signature; W&B's debug `logs/` and `tmp/` excepted),
plus MLflow's experiment meta.yaml; for a folder of TensorBoard event files or an mlflow.db, its top-level
files. A row is trusted only when the newest of those files (mtime or ctime) was at least RACY_NS older than
the moment it was read (git's "racy clean" rule: a file rewritten within the same timestamp tick would
otherwise look unchanged).

Not cached: runs still "running" (their state depends on the clock, not only on the files), errors that
came from the operating system rather than from the content (a transient EMFILE must not stick), and runs
whose values marshal cannot hold (a YAML timestamp). The cache is an optimisation only: a cache that cannot
be opened, read or written is skipped, and a corrupt file is replaced.
"""

from __future__ import annotations

import dataclasses

import hashlib
import json
import marshal
import os
import sqlite3
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from auditor.runs.readers.common import ReadError
from auditor.runs.record import Run
from auditor.runs.series import Series
from auditor.sqlite_cache import RACY_NS, connect, source_fingerprint, write_in_one_transaction

SCHEMA = 1
TIMEOUT_S = 10.0  # waiting longer for a locked cache than a full read takes defeats its purpose
TREE_KINDS = {"wandb", "mlflow", "hydra", "guild"}  # readers that open files anywhere below the folder
# W&B's own debug logs: never read, but logs/debug-core.log links to a file every wandb process appends to,
# which would invalidate every W&B run whenever any run is going.
WANDB_UNREAD = frozenset({"logs", "tmp"})


@lru_cache(maxsize=1)
def reader_version() -> str:
    """A hash of the readers' and the run record's source: a changed reader invalidates every row."""
    package = Path(__file__).parent
    paths = sorted(package.glob("*.py")) + sorted((package / "readers").glob("*.py"))
    paths += sorted((package.parent / "schemas").glob("*.json"))
    return source_fingerprint(SCHEMA, [(path.name, path) for path in paths])


# -- signatures ---------------------------------------------------------------------------------------

def _stamp(path: str) -> tuple[str, int]:
    """(size:mtime:ctime:inode, newest of mtime/ctime); follows file symlinks, as the readers do."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing", 0
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}", max(st.st_mtime_ns, st.st_ctime_ns)


def _top_files(path: str, names: set[str], subdirs: set[str] | None, parts: list[str]) -> int:
    newest = 0
    for name in sorted(names):
        full = os.path.join(path, name)
        if name in subdirs if subdirs is not None else os.path.isdir(full):
            parts.append(f"{name}/")
            continue
        stamp, when = _stamp(full)
        parts.append(f"{name}={stamp}")
        newest = max(newest, when)
    return newest


def _tree(root: str, parts: list[str], prefix: str = "", skip: frozenset[str] = frozenset()) -> int:
    """Every file and folder below root, and the newest file time. Folder symlinks are followed (a reader
    opening `files/x` goes through one) only while they stay inside root (one to `/` is never walked), each
    real folder once, so a link loop ends."""
    newest = 0
    stack = [(root, prefix)]
    base = os.path.realpath(root)
    visited = {base}
    while stack:
        path, rel = stack.pop()
        with os.scandir(path) as entries:
            listed = sorted(entries, key=lambda e: e.name)
        subdirs = []
        for entry in listed:
            if path == root and entry.name in skip:
                continue
            if entry.is_dir():  # follows a symlink: listed under the link's name
                real = os.path.realpath(entry.path)
                if not (real == base or real.startswith(base + os.sep)):
                    parts.append(f"{rel}{entry.name}@{os.readlink(entry.path) if entry.is_symlink() else ''}")
                    continue
                parts.append(f"{rel}{entry.name}/" + ("" if real not in visited else "(seen)"))
                if real not in visited:
                    visited.add(real)
                    subdirs.append((entry.path, f"{rel}{entry.name}/"))
            else:
                stamp, when = _stamp(entry.path)
                parts.append(f"{rel}{entry.name}={stamp}")
                newest = max(newest, when)
        stack.extend(reversed(subdirs))
    return newest


def signature(path: str, names: set[str], kind: str, subdirs: set[str] | None = None) -> tuple[str, int] | None:
    """(signature of what the reader of `kind` reads in this folder, newest file time), or None if unsure."""
    parts = [kind]
    try:
        if kind in TREE_KINDS:
            newest = _tree(path, parts, skip=WANDB_UNREAD if kind == "wandb" else frozenset())
            if kind == "mlflow":  # the experiment's name comes from the parent folder's meta.yaml
                stamp, when = _stamp(os.path.join(os.path.dirname(path), "meta.yaml"))
                parts.append(f"../meta.yaml={stamp}")
                newest = max(newest, when)
        else:  # native records and containers read only top-level files (and Hydra's composed config)
            newest = _top_files(path, names, subdirs, parts)
            if ".hydra" in names and os.path.isdir(os.path.join(path, ".hydra")):
                newest = max(newest, _tree(os.path.join(path, ".hydra"), parts, ".hydra/"))
    except OSError:
        return None
    return hashlib.sha1("\n".join(parts).encode("utf-8", "surrogateescape")).hexdigest(), newest


# -- the stored value ---------------------------------------------------------------------------------

def encode(runs: list[Run], error: ReadError | None) -> bytes | None:
    """A folder's outcome as a marshal blob; None when it must not be cached."""
    if any(run.state == "running" for run in runs):
        return None
    plain = [{**vars(run), "metrics": {name: points.to_plain() for name, points in run.metrics.items()}}
             for run in runs]
    value = {"runs": plain, "error": error.as_dict() if error else None}
    try:
        return marshal.dumps(value)
    except ValueError:  # a value marshal cannot hold (datetime, a custom object): read it every time
        return None


def decode(blob: bytes) -> tuple[list[Run], ReadError | None]:
    value = marshal.loads(blob)
    runs = [Run(**{**fields, "metrics": {name: Series.from_plain(points) for name, points in fields["metrics"].items()}})
            for fields in value["runs"]]
    error = value["error"]
    if error is not None:
        error = ReadError(error["message"], error["path"], line=error.get("line"), field=error.get("field"))
    return runs, error


# -- the database --------------------------------------------------------------------------------------

class DiscoveryCache:
    """Rows of one results directory as it was named (paths in runs and errors keep the name given).

    The database is open only while rows are loaded and while new ones are saved, never while folders are
    read (that may fork a process pool, and an SQLite connection must not cross a fork)."""

    def __init__(self, cache_dir: Path, results_dir: Path | str, salt: str):
        absolute = os.path.abspath(results_dir)
        # One file per results directory and the name it was given (stored paths keep that name).
        scope = json.dumps([os.path.realpath(absolute), absolute, str(results_dir)])
        name = hashlib.sha256(scope.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.path = Path(cache_dir) / "runs" / f"discovery-v{SCHEMA}-{name}.sqlite"
        self.salt = hashlib.sha256(f"{reader_version()}\0{salt}".encode("utf-8", "surrogateescape")).hexdigest()
        self.rows: dict[str, tuple[str, int, bytes]] = {}
        self.usable = False
        self.hits = self.misses = 0
        try:
            self.rows, self.usable = self._load(), True
        except sqlite3.OperationalError:  # locked by another process, unwritable: read everything this time
            pass
        except sqlite3.DatabaseError:  # not a database any more (truncated, overwritten): start afresh
            try:
                self.path.unlink()
                self.rows, self.usable = self._load(), True
            except (OSError, sqlite3.Error):
                pass
        except OSError:
            pass

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, TIMEOUT_S)

    def _load(self) -> dict[str, tuple[str, int, bytes]]:
        db = self._connect()
        try:
            db.execute("CREATE TABLE IF NOT EXISTS folders (rel TEXT PRIMARY KEY, sig TEXT NOT NULL, "
                       "seen INTEGER NOT NULL, value BLOB NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            row = db.execute("SELECT value FROM meta WHERE key='salt'").fetchone()
            if row is None or row[0] != self.salt:  # other readers or settings: nothing stored is valid
                write_in_one_transaction(db, [("DELETE FROM folders", []),
                            ("INSERT OR REPLACE INTO meta (key, value) VALUES ('salt', ?)", [(self.salt,)])])
            return {rel: (sig, seen, value) for rel, sig, seen, value in
                    db.execute("SELECT rel, sig, seen, value FROM folders")}
        finally:
            db.close()

    def lookup(self, rel: str, sig: tuple[str, int] | None) -> tuple[list[Run], ReadError | None] | None:
        """The stored outcome when the folder still has the stored signature and was not racy then."""
        row = self.rows.get(rel)
        if row is None or sig is None or row[0] != sig[0] or sig[1] + RACY_NS > row[1]:
            self.misses += 1
            return None
        try:
            outcome = decode(row[2])
        except Exception:  # a damaged row is only a miss
            self.misses += 1
            return None
        self.hits += 1
        return outcome

    def save(self, fresh: dict[str, tuple[str, int, bytes]], present: set[str]) -> None:
        """Store the folders read now ({rel: (sig, seen, blob)}) and forget folders that are gone."""
        gone = [(rel,) for rel in self.rows if rel not in present]
        if not self.usable or (not fresh and not gone):
            return
        try:
            db = self._connect()
        except (OSError, sqlite3.Error):
            return
        try:
            write_in_one_transaction(db, [("DELETE FROM folders WHERE rel=?", gone),
                        ("INSERT OR REPLACE INTO folders (rel, sig, seen, value) VALUES (?, ?, ?, ?)",
                         [(rel, sig, seen, blob) for rel, (sig, seen, blob) in fresh.items()])])
        finally:
            db.close()


def now_ns() -> int:
    """The clock a row's read time comes from (tests move it forward)."""
    return time.time_ns()


def settings_salt(config: Any) -> str:
    """What else shapes a read run: the key map (seed, max steps, eval fields) and the runs settings."""
    runs = {k: v for k, v in dataclasses.asdict(config.runs).items() if k != "workers"}
    return json.dumps([config.key_map, runs], sort_keys=True, default=str)
