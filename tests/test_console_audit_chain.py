"""Console audit lines join the evidence hash chain, so `lineguard verify` accepts them and catches edits."""

from __future__ import annotations

from pathlib import Path

from edge.console.local_backend import LocalBackend
from edge.record.verify import verify


def test_console_audits_are_chained_and_verified(tmp_path: Path) -> None:
    backend = LocalBackend(tmp_path / "lineguard.toml", tmp_path / "data")
    backend.audit("config.apply", "staff.dtmf_cut: *9# -> *8#")
    backend.audit("test", "relay")
    assert [e["action"] for e in backend.audit_entries()] == ["config.apply", "test"]
    report = verify(tmp_path / "data")
    assert report.ok, report.problems
    path = tmp_path / "data" / "audit.jsonl"
    path.write_text(path.read_text().replace("*8#", "*7#"))
    assert not verify(tmp_path / "data").ok
