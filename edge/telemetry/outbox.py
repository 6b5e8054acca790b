"""Durable SQLite outbox: every report is written here before it is published, and leaves only on PUBACK."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

PENDING, SENT, REFUSED = 0, 1, 2

Kind = Literal["event", "health"]
"""The two kinds of report: events are never dropped, health samples may be."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('event', 'health')),
    seq INTEGER,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, id);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_seq ON outbox (seq) WHERE seq IS NOT NULL;
"""


class OutboxError(Exception):
    """The outbox could not store a report (disk full, file unreadable)."""


@dataclass(frozen=True)
class Row:
    """One stored report: ``seq`` numbers events 1, 2, 3... per outbox epoch; health rows have none."""

    id: int
    kind: Literal["event", "health"]
    seq: int | None
    topic: str
    body: str
    created: float

    def envelope(self, epoch: str, device: str, site: str) -> bytes:
        """The JSON published for this row; ``id`` lets the receiver drop duplicates."""
        key = f"{epoch}:{self.seq}" if self.seq is not None else f"{epoch}:h{self.id}"
        head: dict[str, Any] = {"id": key, "epoch": epoch, "device": device, "site": site}
        if self.seq is not None:
            head["seq"] = self.seq
        head["ts"] = round(self.created, 6)
        text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
        # The body is already JSON; splice it in instead of parsing it again on every send.
        return f'{text[:-1]},"{self.kind}":{self.body}}}'.encode()


class Outbox:
    """The outbox file ``<data>/outbox.db`` (WAL); safe to share between threads."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        keep_sent: int = 20000,
        synchronous: Literal["full", "normal"] = "full",
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep_sent = keep_sent
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.set_aside: Path | None = None
        """Where an unreadable outbox file was moved (kept for inspection), if that happened."""
        try:
            self._open(path, synchronous)
        except sqlite3.DatabaseError as exc:
            # A corrupt file must not stop reporting: keep it aside untouched and start a new epoch.
            self.set_aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            try:
                os.replace(path, self.set_aside)
                for suffix in ("-wal", "-shm"):
                    side = path.with_name(path.name + suffix)
                    if side.exists():
                        os.replace(side, self.set_aside.with_name(self.set_aside.name + suffix))
                self._open(path, synchronous)
            except (OSError, sqlite3.DatabaseError) as again:
                raise OutboxError(f"outbox {path} cannot be opened ({exc}) nor replaced ({again})") from again
        self._page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        self._adds_since_check = 0

    def _open(self, path: Path, synchronous: str) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.executescript(_SCHEMA)
            self.epoch = self._meta_epoch()
        except sqlite3.DatabaseError:
            self._db.close()
            raise

    def _meta_epoch(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key='epoch'").fetchone()
        if row:
            return str(row[0])
        # A fresh file starts a new numbering; the epoch tells the receiver seq 1 is not a duplicate.
        epoch = uuid.uuid4().hex[:12]
        self._db.execute("INSERT INTO meta VALUES ('epoch', ?), ('next_seq', '1')", (epoch,))
        return epoch

    def close(self) -> None:
        """Close the file (a checkpoint folds the WAL back in)."""
        with self._lock:
            self._db.close()

    def add(self, kind: Kind, topic: str, body: dict[str, Any]) -> Row:
        """Store one report durably and return it; raises OutboxError when even pruning leaves no room."""
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)
        now = time.time()
        with self._lock:
            for attempt in range(2):
                try:
                    return self._insert(kind, topic, text, now)
                except sqlite3.OperationalError as exc:
                    if attempt or "full" not in str(exc).lower():
                        raise OutboxError(f"outbox {self.path}: {exc}") from exc
                    self._prune_locked(force=True)
                except (sqlite3.ProgrammingError, sqlite3.DatabaseError) as exc:
                    raise OutboxError(f"outbox {self.path}: {exc}") from exc
        raise AssertionError("unreachable")

    def _insert(self, kind: str, topic: str, text: str, now: float) -> Row:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            seq: int | None = None
            if kind == "event":
                (value,) = db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='next_seq' RETURNING value"
                ).fetchone()
                seq = int(value) - 1
            cur = db.execute(
                "INSERT INTO outbox (kind, seq, topic, body, created) VALUES (?, ?, ?, ?, ?)",
                (kind, seq, topic, text, now),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        row_id = cur.lastrowid
        assert row_id is not None
        self._adds_since_check += 1
        if self._adds_since_check >= 200:
            self._adds_since_check = 0
            self._prune_locked(force=False)
        return Row(row_id, "event" if kind == "event" else "health", seq, topic, text, now)

    def pending(self, after_id: int, limit: int) -> list[Row]:
        """Undelivered rows after ``after_id``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, seq, topic, body, created FROM outbox WHERE state=0 AND id>? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [Row(*r) for r in rows]

    def events(self, first_seq: int, last_seq: int, limit: int) -> list[Row]:
        """Retained events (delivered or not) with seq in ``[first_seq, last_seq]``, for a resend."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, kind, seq, topic, body, created FROM outbox WHERE seq BETWEEN ? AND ? "
                "ORDER BY seq LIMIT ?",
                (first_seq, last_seq, limit),
            ).fetchall()
        return [Row(*r) for r in rows]

    def first_seq(self) -> int:
        """The oldest event number still kept (the next one to come when none is kept)."""
        with self._lock:
            row = self._db.execute("SELECT min(seq) FROM outbox WHERE seq IS NOT NULL").fetchone()
            if row[0] is not None:
                return int(row[0])
            return int(self._db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0])

    def last_seq(self) -> int:
        """The number of the newest event ever stored (0 before the first)."""
        with self._lock:
            return int(self._db.execute("SELECT value FROM meta WHERE key='next_seq'").fetchone()[0]) - 1

    def settle(self, sent: Sequence[int], refused: Iterable[tuple[int, str]] = ()) -> None:
        """Record broker acknowledgements: sent health rows go, sent events stay for resends until pruned."""
        refused = list(refused)
        if not sent and not refused:
            return
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("DELETE FROM outbox WHERE id=? AND kind='health'", [(i,) for i in sent])
                db.executemany("UPDATE outbox SET state=1 WHERE id=?", [(i,) for i in sent])
                db.executemany("UPDATE outbox SET state=2, error=? WHERE id=?", [(e, i) for i, e in refused])
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def depth(self) -> int:
        """Rows not yet acknowledged by the broker."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox WHERE state=0").fetchone()[0])

    def refused_count(self) -> int:
        """Rows the broker refused (kept for inspection, never retried)."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM outbox WHERE state=2").fetchone()[0])

    def used_bytes(self) -> int:
        """Bytes of the file in use (free pages excluded)."""
        with self._lock:
            return self._used_locked()

    def _used_locked(self) -> int:
        pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
        free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * self._page_size

    def prune(self) -> None:
        """Apply the limits now (normally done every few hundred writes)."""
        with self._lock:
            self._prune_locked(force=False)

    def _prune_locked(self, force: bool) -> None:
        db = self._db
        # Delivered events beyond the resend reserve are history.
        db.execute(
            "DELETE FROM outbox WHERE state=1 AND id <= (SELECT id FROM outbox WHERE state=1 "
            "ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self.keep_sent,),
        )
        # Over the disk budget: delivered and refused rows first, then the oldest health; events never.
        for victims in (
            "SELECT id FROM outbox WHERE state<>0 ORDER BY id LIMIT 50",
            "SELECT id FROM outbox WHERE state=0 AND kind='health' ORDER BY id LIMIT 50",
        ):
            while force or self._used_locked() > self.max_bytes:
                gone = db.execute(f"DELETE FROM outbox WHERE id IN ({victims})").rowcount
                force = False
                if gone == 0:
                    break
