"""The per-file result cache: one SQLite file under `<cache_dir>/code/`.

Per file: (reported path, git blob hash of the content, and the fingerprint of the selected rules, the engine
and the settings: auditor.fingerprint). The blob hash is
what git itself stores, so a file scanned in the working tree and the same file read from a commit
share one entry. SQLite in WAL mode with a busy timeout is safe with concurrent `audit` processes; a
cache that cannot be opened or written is skipped, never fatal.

Per project: the final findings of a whole scan, keyed by every file's key. An unchanged tree is then
answered by one lookup, without loading the per-file summaries or rebuilding the project index.
Also in the same table (see scan.py): module summaries and their heads, each under the hash of its
content; the project rules' findings per set of summaries and per set of heads; the code rules' manifest.
Values are marshal blobs (plain data only, tied to the Python version through the salt). A value that
cannot be read back is a miss.
"""

from __future__ import annotations

import hashlib
import marshal
import sqlite3
from pathlib import Path

from auditor.sqlite_cache import RACY_NS, connect, select_in, write_in_one_transaction

SCHEMA = 4  # values are marshal blobs of plain JSON-able data (fast to load, runs no code); 4: summary heads


def blob_hash(data: bytes) -> str:
    """git's object id for a blob with this content."""
    digest = hashlib.sha1(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


class ResultCache:
    def __init__(self, folder: Path, salt: str):
        self.salt = salt  # rules version + config fingerprint
        self.db: sqlite3.Connection | None = None
        try:
            self.db = connect(folder / f"results-v{SCHEMA}.sqlite", timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
        except (OSError, sqlite3.Error):
            self.db = None

    def key(self, path: str, content_id: str) -> str:
        return hashlib.sha1(f"{self.salt}\0{path}\0{content_id}".encode()).hexdigest()

    def project_key(self, file_keys: list[str], kind: str = "project") -> str:
        joined = "\0".join(sorted(file_keys))
        return f"{kind}:" + hashlib.sha1(f"{kind}\0{self.salt}\0{joined}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        if self.db is None or not keys:
            return {}
        try:
            return {key: marshal.loads(value) for key, value in
                    select_in(self.db, "SELECT key, value FROM results WHERE key IN ({marks})", keys)}
        except (sqlite3.Error, ValueError, EOFError, TypeError):
            return {}

    def put_many(self, items: dict[str, dict]) -> None:
        if self.db is None or not items:
            return
        _write_all(self.db, "INSERT OR REPLACE INTO results (key, value) VALUES (?, ?)",
                   [(k, marshal.dumps(v)) for k, v in items.items()])

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class FileStats:
    """What a file's content hash was when it had this stat signature (size, mtime, ctime, inode):
    an unchanged file of the working tree is then neither read nor hashed. One SQLite file beside the
    results, keyed by absolute path.

    A file written in the same instant as it was hashed could change again without its mtime moving
    (coarse timestamps), so an entry is trusted only when the file's mtime and ctime were at least
    RACY_NS older than the moment it was hashed (git's "racy clean" rule); others are hashed again.
    """

    RACY_NS = RACY_NS

    def __init__(self, folder: Path):
        self.db: sqlite3.Connection | None = None
        try:
            self.db = connect(folder / "stats-v1.sqlite", timeout=30)
            self.db.execute("CREATE TABLE IF NOT EXISTS stats (path TEXT PRIMARY KEY, sig TEXT NOT NULL, "
                            "blob TEXT NOT NULL, seen INTEGER NOT NULL)")
        except (OSError, sqlite3.Error):
            self.db = None

    @staticmethod
    def signature(st) -> str:
        return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}:{st.st_dev}"

    def known(self, paths: list[str]) -> dict[str, tuple[str, str, int]]:
        """path -> (signature, blob, when hashed) for the paths on record."""
        if self.db is None or not paths:
            return {}
        # One range of the primary key (a project's files sit together in path order) instead of thousands of
        # lookups; rows of files in that range that are not asked for are dropped.
        wanted = set(paths)
        try:
            rows = self.db.execute("SELECT path, sig, blob, seen FROM stats WHERE path BETWEEN ? AND ?",
                                   (min(paths), max(paths)))
            return {path: (sig, blob, seen) for path, sig, blob, seen in rows if path in wanted}
        except sqlite3.Error:
            return {}

    def trusted_blob(self, entry: tuple[str, str, int] | None, st) -> str | None:
        """The recorded hash when the file still has the recorded signature and was not racy then."""
        if entry is None or entry[0] != self.signature(st):
            return None
        if max(st.st_mtime_ns, st.st_ctime_ns) + self.RACY_NS > entry[2]:
            return None
        return entry[1]

    def record(self, rows: list[tuple[str, str, str, int]]) -> None:
        """(path, signature, blob, when hashed) rows."""
        if self.db is None or not rows:
            return
        _write_all(self.db, "INSERT OR REPLACE INTO stats (path, sig, blob, seen) VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def _write_all(db: sqlite3.Connection, statement: str, rows: list) -> None:
    """One transaction for all rows; a cache that cannot be written is only a slower next scan."""
    write_in_one_transaction(db, [(statement, rows)])
