"""A small versioned migration runner.

Migrations are the numbered SQL files in ``migrations/`` (``0001_initial.sql``,
...), applied in order, each in its own transaction together with its row in
``schema_migrations``, so a failed migration leaves the previous version
intact. An advisory lock serialises replicas starting at the same time.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every replica.
_LOCK_ID = 0x766F746573  # "votes"
_NAME = re.compile(r"^([0-9]{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available() -> list[Migration]:
    """The migrations shipped with the code, in version order."""
    found = []
    for entry in resources.files("votes.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migration versions must be 1..N without gaps, found {versions}")
    return found


def current_version(conn: psycopg.Connection) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return 0
        cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return cur.fetchone()[0]


def migrate(conninfo: str, target: int | None = None) -> int:
    """Bring the database at ``conninfo`` up to ``target`` (default: the
    newest); return the version it is at afterwards."""
    migrations = available()
    target = len(migrations) if target is None else target
    with psycopg.connect(conninfo, autocommit=True) as conn:
        # Session-level lock: held across the per-migration transactions.
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())")
            version = current_version(conn)
            if version > len(migrations):
                # A newer release already migrated (e.g. during a rolling
                # update): its migrations only add, so this code still works.
                log.warning("database schema version %d is newer than this code's %d",
                            version, len(migrations))
                return version
            for migration in migrations[version:target]:
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (migration.version, migration.name))
                log.info("applied migration %04d_%s", migration.version, migration.name)
                version = migration.version
            return version
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
