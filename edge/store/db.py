"""The call-record database: one SQLite file in the data directory, WAL, schema versioned."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

DB_NAME = "lineguard.db"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id    TEXT PRIMARY KEY,
    line       TEXT NOT NULL,
    direction  TEXT NOT NULL,
    number     TEXT,
    name       TEXT,
    absence    TEXT,
    started    TEXT NOT NULL,
    ended      TEXT,
    duration_s REAL,
    outcome    TEXT,
    basis      TEXT,
    ended_by   TEXT,
    marked     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_number ON calls(number);
CREATE INDEX IF NOT EXISTS calls_started ON calls(started);
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,
    call_id TEXT,
    t       REAL NOT NULL,
    wall    TEXT NOT NULL,
    type    TEXT NOT NULL,
    basis   TEXT,
    data    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_call ON events(call_id);
CREATE TABLE IF NOT EXISTS strikes (
    id      INTEGER PRIMARY KEY,
    number  TEXT NOT NULL,
    call_id TEXT NOT NULL,
    wall    TEXT NOT NULL,
    basis   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS strikes_number ON strikes(number, wall);
CREATE TABLE IF NOT EXISTS local_blocks (
    number TEXT PRIMARY KEY,
    wall   TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""

EventHook = Callable[[int, dict[str, Any]], None]
"""Called after each event row is stored, with its id and content (the integrity chain listens here)."""


RETRYABLE_CODES = frozenset({5, 6, 8, 10, 13, 14})
"""SQLite primary result codes a later try can get past: BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN."""


class StoreError(Exception):
    """The database cannot be opened or written; the message says which file and why.

    ``transient`` is true when the cause can go away by itself (disk full, database locked, card
    read-only or failing), so the write is worth keeping and trying again.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient

    @classmethod
    def of(cls, path: Path, exc: sqlite3.Error) -> StoreError:
        """The error for a failed statement on ``path``, transient by SQLite's result code."""
        code = getattr(exc, "sqlite_errorcode", None)
        transient = code is not None and (code & 0xFF) in RETRYABLE_CODES
        return cls(f"call database {path}: {exc}", transient=transient)


class CallStore:
    """Thread-safe access to the call-record database (one connection, serialised by a lock)."""

    def __init__(self, data_dir: Path, on_event: EventHook | None = None, *, fallback: bool = False) -> None:
        """Open (or create) the database; with ``fallback`` a database that cannot be used never raises:
        a corrupt file is kept aside and a fresh one started, else events are kept in memory, and
        ``problem`` says which (the appliance raises it as an alarm, so calls keep flowing)."""
        self.path = data_dir / DB_NAME
        self.on_event = on_event
        self.problem: str | None = None
        self._lock = threading.Lock()
        self._next_event_id: int | None = None
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._db = self._open(self.path)
        except (sqlite3.Error, OSError) as exc:
            if not fallback:
                raise StoreError(f"cannot open the call database {self.path}: {exc}") from None
            self._db = self._fall_back(exc)
        self._db.row_factory = sqlite3.Row

    @staticmethod
    def _open(path: Path | str) -> sqlite3.Connection:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _fall_back(self, exc: Exception) -> sqlite3.Connection:
        # OperationalError is locked/read-only/unopenable: the file may be fine, so it is left alone.
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            aside = self.path.with_name(f"{DB_NAME}.corrupt-{dt.datetime.now():%Y%m%dT%H%M%S}")
            try:
                for suffix in ("", "-wal", "-shm"):
                    part = self.path.with_name(DB_NAME + suffix)
                    if part.exists():
                        os.replace(part, aside.with_name(aside.name + suffix))
                db = self._open(self.path)
                self.problem = f"the call database {self.path} was corrupt ({exc}); kept as {aside.name}, a fresh one started"
                return db
            except (sqlite3.Error, OSError) as again:
                exc = again
        self.problem = (
            f"cannot open the call database {self.path} ({exc}); events are kept in memory until it can be"
        )
        self.on_event = None  # the integrity chain names rows of the file; memory rows must not enter it
        return self._open(":memory:")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                # When even the rollback fails SQLite has rolled back itself; the first error is the one to report.
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise StoreError.of(self.path, exc) from None

    # -- writes -----------------------------------------------------------------------------------

    def open_call(
        self,
        call_id: str,
        line: str,
        direction: str,
        started: dt.datetime,
        number: str | None,
        name: str | None,
        absence: str | None,
    ) -> None:
        """Insert a call record (idempotent)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO calls(call_id, line, direction, number, name, absence, started) "
                "VALUES (?,?,?,?,?,?,?)",
                (call_id, line, direction, number, name, absence, started.isoformat()),
            )

    def close_call(
        self,
        call_id: str,
        ended: dt.datetime,
        outcome: str,
        basis: str | None,
        ended_by: str,
        dialed: str | None = None,
    ) -> None:
        """Close a call record with its outcome; the duration is computed from the stored start."""
        with self._tx() as db:
            row = db.execute("SELECT started FROM calls WHERE call_id=?", (call_id,)).fetchone()
            duration = None
            if row is not None:
                duration = (ended - dt.datetime.fromisoformat(row[0])).total_seconds()
            db.execute(
                "UPDATE calls SET ended=?, duration_s=?, outcome=?, basis=?, ended_by=?, "
                "number=COALESCE(?, number) WHERE call_id=?",
                (ended.isoformat(), duration, outcome, basis, ended_by, dialed, call_id),
            )

    def close_interrupted(self) -> list[str]:
        """Close the records a crash or power cut left open (outcome ``interrupted``, ended at their last
        stored event), so that every record is closed; returns their ids."""
        with self._tx() as db:
            rows = db.execute("SELECT call_id, started FROM calls WHERE ended IS NULL").fetchall()
            for call_id, started in rows:
                last = db.execute("SELECT MAX(wall) FROM events WHERE call_id=?", (call_id,)).fetchone()[0]
                ended = last or started
                duration = (
                    dt.datetime.fromisoformat(ended) - dt.datetime.fromisoformat(started)
                ).total_seconds()
                db.execute(
                    "UPDATE calls SET ended=?, duration_s=?, outcome='interrupted', ended_by='restart' "
                    "WHERE call_id=?",
                    (ended, max(duration, 0.0), call_id),
                )
        return [str(row[0]) for row in rows]

    def continue_event_ids_after(self, last_id: int) -> list[int]:
        """Make the next event id follow ``last_id`` (the newest id the integrity chain names) when the
        table ends below it; returns the ids the table lost.

        A power cut can lose the WAL's last commits while the chain, fsynced per line, keeps their links.
        SQLite would hand those ids out again and the chain's later links would hide the loss from
        ``verify``; skipping them keeps each id for one row only, and ``verify`` names the lost rows.
        """
        newest = int(self._query("SELECT COALESCE(MAX(id), 0) AS n FROM events")[0]["n"])
        if last_id <= newest:
            return []
        self._next_event_id = last_id + 1
        return list(range(newest + 1, last_id + 1))

    def mark_call(self, call_id: str) -> None:
        """Flag a call as marked by staff (an incident)."""
        with self._tx() as db:
            db.execute("UPDATE calls SET marked=1 WHERE call_id=?", (call_id,))

    def add_event(
        self,
        call_id: str | None,
        t: float,
        wall: dt.datetime,
        kind: str,
        basis: str | None,
        data: dict[str, Any],
    ) -> int:
        """Append one event to the log; returns its id."""
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO events(id, call_id, t, wall, type, basis, data) VALUES (?,?,?,?,?,?,?)",
                (self._next_event_id, call_id, t, wall.isoformat(), kind, basis, text),
            )
            event_id = int(cursor.lastrowid or 0)
        self._next_event_id = None  # stored: SQLite's own numbering follows from here
        if self.on_event is not None:
            self.on_event(
                event_id,
                {
                    "call_id": call_id,
                    "t": t,
                    "wall": wall.isoformat(),
                    "type": kind,
                    "basis": basis,
                    "data": text,
                },
            )
        return event_id

    def add_strike(self, number: str, call_id: str, wall: dt.datetime, basis: str, window_days: int) -> int:
        """Count a strike against a number; returns the strikes inside the window, this one included."""
        since = (wall - dt.timedelta(days=window_days)).isoformat()
        with self._tx() as db:
            db.execute(
                "INSERT INTO strikes(number, call_id, wall, basis) VALUES (?,?,?,?)",
                (number, call_id, wall.isoformat(), basis),
            )
            row = db.execute(
                "SELECT COUNT(*) FROM strikes WHERE number=? AND wall>=?", (number, since)
            ).fetchone()
        return int(row[0])

    def block_locally(self, number: str, wall: dt.datetime, reason: str) -> None:
        """Add a number to the local blocklist."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO local_blocks(number, wall, reason) VALUES (?,?,?)",
                (number, wall.isoformat(), reason),
            )

    # -- reads ------------------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                return [dict(row) for row in self._db.execute(sql, args).fetchall()]
            except sqlite3.Error as exc:
                raise StoreError(f"call database {self.path}: {exc}") from None

    def local_blocks(self) -> list[str]:
        """Numbers blocked on this box."""
        return [row["number"] for row in self._query("SELECT number FROM local_blocks ORDER BY number")]

    def recent_calls(self, limit: int = 20, number: str | None = None) -> list[dict[str, Any]]:
        """The latest calls (of one number, if given), newest first."""
        if number is not None:
            return self._query(
                "SELECT * FROM calls WHERE number=? ORDER BY started DESC, call_id DESC LIMIT ?",
                (number, limit),
            )
        return self._query("SELECT * FROM calls ORDER BY started DESC, call_id DESC LIMIT ?", (limit,))

    def calls_by_id(self, call_ids: list[str]) -> list[dict[str, Any]]:
        """These calls, in start order."""
        marks = ",".join("?" for _ in call_ids)
        return self._query(
            f"SELECT * FROM calls WHERE call_id IN ({marks}) ORDER BY started, call_id", tuple(call_ids)
        )

    def events(self, call_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Events of one call (or the latest of all), oldest first, with ``data`` decoded."""
        if call_id is None:
            rows = self._query(
                "SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT ?) ORDER BY id", (limit,)
            )
        else:
            rows = self._query("SELECT * FROM events WHERE call_id=? ORDER BY id LIMIT ?", (call_id, limit))
        for row in rows:
            row["data"] = json.loads(row["data"])
        return rows

    def caller_history(self, number: str) -> dict[str, Any]:
        """Calls, cuts and strikes of one number."""
        calls = self._query("SELECT COUNT(*) AS n FROM calls WHERE number=?", (number,))[0]["n"]
        strikes = self._query(
            "SELECT wall, basis, call_id FROM strikes WHERE number=? ORDER BY wall", (number,)
        )
        return {"number": number, "calls": calls, "strikes": strikes}

    def next_seq(self, line: str, day: dt.date) -> int:
        """The call counter to continue from for a line on a day (call ids are LINE-YYYYMMDD-NNNNN)."""
        prefix = f"{line}-{day:%Y%m%d}-"
        rows = self._query(
            "SELECT call_id FROM calls WHERE call_id LIKE ? ORDER BY call_id DESC LIMIT 1", (prefix + "%",)
        )
        return int(rows[0]["call_id"].rsplit("-", 1)[1]) if rows else 0
