"""Integrity: the hash chain and ``lineguard verify`` catch a deleted recording, an altered byte, a removed event."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from nacl.public import PrivateKey

from edge.cli import main
from edge.record.audit import AuditLog, audit_path
from edge.record.chain import HashChain, chain_path, event_digest, read_chain
from edge.record.recorder import Recorder
from edge.record.settings import RecordingConfig
from edge.record.verify import verify

SCHEMA = "CREATE TABLE events(id INTEGER PRIMARY KEY, call_id TEXT, t REAL, wall TEXT, type TEXT, basis TEXT, data TEXT)"


def record_call(recorder: Recorder, call_id: str, seconds: float = 1.0) -> None:
    rng = np.random.default_rng(len(call_id))
    recorder.start(call_id, {"number": "0212345678"})
    for _ in range(int(seconds * 50)):
        recorder.write(
            call_id, rng.normal(0, 2000, 160).astype(np.int16), rng.normal(0, 2000, 160).astype(np.int16)
        )
    recorder.stop(call_id)


def add_event(db: Path, chain: HashChain, call_id: str, t: float, type_: str, basis: str | None) -> int:
    """What the store does: insert the row, then chain its digest."""
    conn = sqlite3.connect(db)
    data = json.dumps({"note": "통화 종료"}, ensure_ascii=False)
    wall = "2026-11-23T11:00:00+09:00"
    with conn:
        row_id = conn.execute(
            "INSERT INTO events(call_id, t, wall, type, basis, data) VALUES (?,?,?,?,?,?)",
            (call_id, t, wall, type_, basis, data),
        ).lastrowid
    conn.close()
    assert row_id is not None
    chain.append("event", str(row_id), event_digest(row_id, call_id, t, wall, type_, basis, data))
    return row_id


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    key = PrivateKey.generate()
    settings = RecordingConfig(public_key=base64.b64encode(bytes(key.public_key)).decode(), chunk_seconds=0.5)
    recorder = Recorder(settings, tmp_path, lambda code, message: None)
    for call_id in ("c1", "c2", "c3"):
        record_call(recorder, call_id)
    recorder.close()
    db = tmp_path / "lineguard.db"
    conn = sqlite3.connect(db)
    conn.execute(SCHEMA)
    conn.commit()
    conn.close()
    chain = HashChain(chain_path(tmp_path))
    add_event(db, chain, "c1", 1.25, "warn", "abuse.profanity")
    add_event(db, chain, "c1", 2.5, "cut", "abuse.profanity")
    add_event(db, chain, "c2", 0.1, "release", None)
    AuditLog(audit_path(tmp_path)).append("config-change", "technician", {"key": "recording.retention_days"})
    return tmp_path


def test_intact_data_dir_verifies(data_dir: Path) -> None:
    report = verify(data_dir)
    assert report.problems == []
    assert report.ok
    assert (report.recordings_checked, report.events_checked, report.audit_entries) == (3, 3, 1)
    assert report.chain_entries == 6


def test_deleted_recording_is_reported(data_dir: Path) -> None:
    (data_dir / "recordings" / "c2.lgrec").unlink()
    report = verify(data_dir)
    assert not report.ok
    assert report.problems == ["recording c2 is missing (deleted outside the retention rule)"]


def test_altered_byte_is_reported(data_dir: Path) -> None:
    path = data_dir / "recordings" / "c3.lgrec"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    report = verify(data_dir)
    assert report.problems == ["recording c3 was altered (its sha256 differs from the chain)"]


def test_removed_and_altered_events_are_reported(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "lineguard.db")
    with conn:
        conn.execute("DELETE FROM events WHERE id = 2")
        conn.execute("UPDATE events SET basis = 'staff.request' WHERE id = 1")
    conn.close()
    report = verify(data_dir)
    assert "event 2 was removed from the events table" in report.problems
    assert "event 1 was altered (its content differs from the chain)" in report.problems
    assert len(report.problems) == 2


def test_event_inserted_behind_the_chain_is_reported(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "lineguard.db")
    with conn:
        conn.execute("INSERT INTO events(call_id, t, wall, type) VALUES ('c9', 0, 'x', 'fake')")
    conn.close()
    assert verify(data_dir).problems == ["1 event(s) not in the chain: 4"]


def test_removed_chain_line_breaks_the_chain(data_dir: Path) -> None:
    path = chain_path(data_dir)
    lines = path.read_text().splitlines(keepends=True)
    del lines[3]  # the first event's line
    path.write_text("".join(lines))
    report = verify(data_dir)
    assert any("does not follow the line before" in p for p in report.problems)
    assert any("sequence" in p for p in report.problems)


def test_edited_audit_entry_is_reported(data_dir: Path) -> None:
    path = audit_path(data_dir)
    path.write_text(path.read_text().replace("technician", "nobody"))
    report = verify(data_dir)
    assert any(p.startswith("audit log") for p in report.problems)
    assert "audit log entry 0 was altered" in report.problems


def test_without_events_table_only_recordings_are_checked(data_dir: Path) -> None:
    (data_dir / "lineguard.db").unlink()
    report = verify(data_dir)
    assert report.ok
    assert report.events_checked == 0
    assert "no events table found; recordings checked only" in report.notes


def test_chain_survives_a_torn_last_line(tmp_path: Path) -> None:
    chain = HashChain(tmp_path / "chain.jsonl")
    chain.append("event", "1", "a" * 64)
    with open(tmp_path / "chain.jsonl", "ab") as handle:
        handle.write(b'{"seq":1,"kind":"ev')  # a crash mid-line
    chain.append("event", "2", "b" * 64)
    read = read_chain(tmp_path / "chain.jsonl")
    assert read.problems == []
    assert [e["ref"] for e in read.entries] == ["1", "2"]


def test_verify_command_exit_status_and_json(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--data-dir", str(data_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    (data_dir / "recordings" / "c1.lgrec").unlink()
    assert main(["verify", "--data-dir", str(data_dir)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEMS FOUND" in out and "recording c1 is missing" in out


def test_a_line_written_around_the_audit_chain_is_reported_and_the_chain_goes_on(data_dir: Path) -> None:
    path = audit_path(data_dir)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(
            json.dumps({"wall": "2026-11-23T02:00:00+00:00", "action": "config.apply", "detail": "x"}) + "\n"
        )
    log = AuditLog(path)
    log.append("export", "central", {"call": "c1"})
    report = verify(data_dir)
    assert report.problems == [
        "audit log: audit.jsonl line 2: not a hash-chained entry (written around the chain, or altered)"
    ]
    assert [e["seq"] for e in log.entries()] == [0, 1]
    assert [e["action"] for e in log.entries()] == ["config-change", "export"]


def test_events_deleted_by_the_store_retention_are_expected_gone(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "lineguard.db")
    with conn:
        conn.execute("DELETE FROM events WHERE id IN (1, 2)")
    conn.close()
    chain = HashChain(chain_path(data_dir))
    chain.append("event-deleted", "1", "0" * 64)
    report = verify(data_dir)
    assert report.problems == ["event 2 was removed from the events table"]
    chain.append("event-deleted", "2", "0" * 64)
    assert verify(data_dir).ok
