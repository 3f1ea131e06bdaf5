"""Writing to the auditor's own SQLite caches: one transaction, and a cache that cannot be written
(locked by another scan, disk full) only makes the next run slower, never fails this one."""

from __future__ import annotations

import sqlite3


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
