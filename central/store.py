"""Central's database: SQLite by default, PostgreSQL through a postgresql:// URL when psycopg is installed."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        device TEXT NOT NULL, epoch TEXT NOT NULL, seq BIGINT NOT NULL, site TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL, received DOUBLE PRECISION NOT NULL, type TEXT, body TEXT NOT NULL,
        PRIMARY KEY (device, epoch, seq))""",
    """CREATE TABLE IF NOT EXISTS health (
        id TEXT PRIMARY KEY, device TEXT NOT NULL, site TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
        body TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS streams (
        device TEXT NOT NULL, epoch TEXT NOT NULL, next_seq BIGINT NOT NULL, PRIMARY KEY (device, epoch))""",
    """CREATE TABLE IF NOT EXISTS devices (
        device TEXT PRIMARY KEY, site TEXT NOT NULL, state TEXT NOT NULL, since DOUBLE PRECISION NOT NULL,
        epoch TEXT, last_seq BIGINT)""",
    """CREATE TABLE IF NOT EXISTS losses (
        device TEXT NOT NULL, epoch TEXT NOT NULL, first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL,
        noted DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
    "CREATE INDEX IF NOT EXISTS health_device ON health (device, ts)",
)


@dataclass(frozen=True)
class EventRow:
    """One event as received: ``body`` is the device's event dict."""

    device: str
    site: str
    epoch: str
    seq: int
    ts: float
    body: dict[str, Any]


class Store:
    """Thread-safe access to the tables above; every write is one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._pg = url.startswith(("postgresql://", "postgres://"))
        if self._pg:
            try:
                import psycopg  # type: ignore[import-not-found,unused-ignore]
            except ImportError as exc:
                raise ValueError(
                    "a PostgreSQL URL needs the psycopg package (pip install 'psycopg[binary]')"
                ) from exc
            self._db: Any = psycopg.connect(url, autocommit=False)
        elif url.startswith("sqlite:///"):
            path = Path(url.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        else:
            raise ValueError(f"database URL {url!r} must be sqlite:///path or postgresql://...")
        with self._lock:
            for statement in SCHEMA:
                self._db.execute(statement)
            self._db.commit()

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self._pg else text

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def query(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only query."""
        with self._lock:
            cur = self._db.execute(self._sql(text), tuple(params))
            rows = list(cur.fetchall())
            if self._pg:
                self._db.rollback()
            return rows

    def next_seqs(self) -> dict[tuple[str, str], int]:
        """The next expected event number of every (device, epoch) stream."""
        return {(d, e): int(n) for d, e, n in self.query("SELECT device, epoch, next_seq FROM streams")}

    def commit_events(self, events: Iterable[EventRow], advances: dict[tuple[str, str], int]) -> int:
        """Insert events (duplicates ignored) and move the streams' next numbers, in one transaction."""
        now = time.time()
        rows = [
            (
                e.device,
                e.epoch,
                e.seq,
                e.site,
                e.ts,
                now,
                str(e.body.get("type", "")),
                json.dumps(e.body, ensure_ascii=False),
            )
            for e in events
        ]
        with self._lock:
            try:
                cur = self._db.cursor()
                cur.executemany(
                    self._sql(
                        "INSERT INTO events (device, epoch, seq, site, ts, received, type, body) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
                    ),
                    rows,
                )
                cur.executemany(
                    self._sql(
                        "INSERT INTO streams (device, epoch, next_seq) VALUES (?, ?, ?) "
                        "ON CONFLICT (device, epoch) DO UPDATE SET next_seq = excluded.next_seq"
                    ),
                    [(d, e, n) for (d, e), n in advances.items()],
                )
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
        return len(rows)

    def add_health(self, rows: Iterable[tuple[str, str, str, float, dict[str, Any]]]) -> None:
        """Store health samples ``(id, device, site, ts, body)``; duplicates ignored."""
        data = [(i, d, s, t, json.dumps(b, ensure_ascii=False)) for i, d, s, t, b in rows]
        self._write(
            "INSERT INTO health (id, device, site, ts, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            data,
        )

    def set_status(self, device: str, site: str, state: str, epoch: str | None, last_seq: int | None) -> None:
        """Record a device's retained status."""
        self._write(
            "INSERT INTO devices (device, site, state, since, epoch, last_seq) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (device) DO UPDATE SET site=excluded.site, state=excluded.state, since=excluded.since, "
            "epoch=COALESCE(excluded.epoch, devices.epoch), last_seq=COALESCE(excluded.last_seq, devices.last_seq)",
            [(device, site, state, time.time(), epoch, last_seq)],
        )

    def note_loss(self, device: str, epoch: str, first: int, last: int) -> None:
        """Record events a device no longer holds (pruned before central asked for them)."""
        self._write(
            "INSERT INTO losses (device, epoch, first_seq, last_seq, noted) VALUES (?, ?, ?, ?, ?)",
            [(device, epoch, first, last, time.time())],
        )

    def _write(self, text: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                self._db.cursor().executemany(self._sql(text), rows)
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise
