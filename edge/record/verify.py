"""Cross-checking the hash chain against the recordings on disk and the store's events table."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge.record.audit import KIND_AUDIT, audit_digest, audit_path
from edge.record.chain import (
    KIND_DELETED,
    KIND_EVENT,
    KIND_EVENT_DELETED,
    KIND_RECORDING,
    chain_path,
    event_digest,
    file_digest,
    read_chain,
)
from edge.record.lgrec import SUFFIX, RecordingFormatError, scan_frames
from edge.record.recorder import recordings_dir

DB_NAME = "lineguard.db"


@dataclass
class VerifyReport:
    """The outcome of ``verify``: ``problems`` are evidence of loss or tampering, ``notes`` are not."""

    data_dir: str
    ok: bool = True
    chain_head: str = ""
    chain_entries: int = 0
    recordings_checked: int = 0
    events_checked: int = 0
    audit_entries: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _events(db: Path) -> dict[int, str] | None:
    """Digest of every row of ``events``; None when there is no database or no such table."""
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, call_id, t, wall, type, basis, data FROM events ORDER BY id"
        ).fetchall()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return {int(r[0]): event_digest(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows}


def verify(data_dir: Path) -> VerifyReport:
    """Check the chain's own links, every chained recording and event, and what exists unchained."""
    report = VerifyReport(data_dir=str(data_dir))
    chain = read_chain(chain_path(data_dir))
    report.problems.extend(chain.problems)
    report.chain_head = chain.head
    report.chain_entries = len(chain.entries)

    recordings: dict[str, str] = {}
    deleted: set[str] = set()
    events: dict[int, str] = {}
    deleted_events: set[int] = set()
    for entry in chain.entries:
        kind, ref, digest = entry.get("kind"), str(entry.get("ref")), str(entry.get("digest"))
        if kind == KIND_RECORDING:
            recordings[ref] = digest
            deleted.discard(ref)
        elif kind == KIND_DELETED:
            deleted.add(ref)
        elif kind in (KIND_EVENT, KIND_EVENT_DELETED):
            try:
                row_id = int(ref)
            except ValueError:
                report.problems.append(f"chain names event {ref!r}, which is not an event id")
                continue
            if kind == KIND_EVENT:
                events[row_id] = digest
                deleted_events.discard(row_id)
            else:
                deleted_events.add(row_id)

    folder = recordings_dir(data_dir)
    on_disk = {p.name[: -len(SUFFIX)]: p for p in folder.glob("*" + SUFFIX)} if folder.is_dir() else {}
    for call_id, digest in sorted(recordings.items()):
        path = on_disk.get(call_id)
        if call_id in deleted:
            if path is not None:
                report.notes.append(f"recording {call_id} was deleted by retention but its file is back")
            continue
        report.recordings_checked += 1
        if path is None:
            report.problems.append(f"recording {call_id} is missing (deleted outside the retention rule)")
        elif file_digest(path) != digest:
            report.problems.append(f"recording {call_id} was altered (its sha256 differs from the chain)")
    for call_id, path in sorted(on_disk.items()):
        if call_id in recordings:
            continue
        try:
            scan = scan_frames(path)
        except (OSError, RecordingFormatError):
            report.problems.append(f"{path.name} is not in the chain and is not a valid recording")
            continue
        if scan.finished:
            report.problems.append(
                f"recording {call_id} is finished but not in the chain (added or chain cut)"
            )
        else:
            report.notes.append(f"recording {call_id} is still open (in progress, or waiting for recovery)")

    table = _events(data_dir / DB_NAME)
    if table is None:
        report.notes.append("no events table found; recordings checked only")
    else:
        for row_id, digest in sorted(events.items()):
            if row_id in deleted_events:
                if row_id in table:
                    report.problems.append(
                        f"event {row_id} was deleted by retention but is back in the table"
                    )
                continue
            report.events_checked += 1
            if row_id not in table:
                report.problems.append(f"event {row_id} was removed from the events table")
            elif table[row_id] != digest:
                report.problems.append(f"event {row_id} was altered (its content differs from the chain)")
        unchained = sorted(set(table) - set(events))
        if unchained:
            shown = ", ".join(str(i) for i in unchained[:10])
            report.problems.append(f"{len(unchained)} event(s) not in the chain: {shown}")

    audit = read_chain(audit_path(data_dir))
    report.problems.extend(f"audit log: {p}" for p in audit.problems)
    report.audit_entries = len(audit.entries)
    for entry in audit.entries:
        if entry.get("kind") != KIND_AUDIT or audit_digest(entry) != entry.get("digest"):
            report.problems.append(f"audit log entry {entry.get('seq')} was altered")
    report.ok = not report.problems
    return report
