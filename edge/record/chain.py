"""An append-only hash chain (JSON lines) over recordings, events and audit entries.

Each line names what it covers (``kind``, ``ref``, the sha256 ``digest`` of its canonical content) and
carries the hash of the line before it, so a removed, altered or reordered line breaks the chain.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHAIN_NAME = "chain.jsonl"
GENESIS = "0" * 64
KIND_EVENT = "event"
KIND_RECORDING = "recording"
KIND_DELETED = "recording-deleted"
"""A recording removed by the retention rule: verify then expects its file to be gone."""
KIND_EVENT_DELETED = "event-deleted"
"""An event row removed by the store's own retention: verify then expects the row to be gone."""


RESERVED = frozenset({"seq", "wall", "kind", "ref", "digest", "prev", "hash"})


def chain_path(data_dir: Path) -> Path:
    """Where the appliance's hash chain lives in a data dir."""
    return data_dir / CHAIN_NAME


def canonical(value: Any) -> bytes:
    """The one byte string a JSON value hashes as (sorted keys, no spaces, UTF-8)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def event_digest(
    row_id: int, call_id: str | None, t: float, wall: str, type: str, basis: str | None, data: str | None
) -> str:
    """The digest of one row of the store's ``events`` table, as ``verify`` recomputes it."""
    return sha256_hex(canonical([row_id, call_id, t, wall, type, basis, data]))


def entry_hash(entry: Mapping[str, Any]) -> str:
    """The hash of a chain line: sha256 over every field but ``hash`` itself."""
    return sha256_hex(canonical({k: v for k, v in entry.items() if k != "hash"}))


class HashChain:
    """Appends lines to one chain file; safe across threads and processes (flock), fsync per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def append(self, kind: str, ref: str, digest: str, extra: Mapping[str, Any] | None = None) -> str:
        """Add one line covering ``ref`` of ``kind`` with content ``digest``; returns the new head hash.

        ``extra`` fields are stored in the line beside the chain fields (and covered by its hash).
        Raises ``OSError`` (e.g. disk full) with the file left as it was.
        """
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = self._drop_torn_tail(fd)
                seq, prev = _last_link(fd, size)
                entry: dict[str, Any] = {
                    "seq": seq,
                    "wall": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                    "kind": kind,
                    "ref": ref,
                    "digest": digest,
                    "prev": prev,
                }
                for key, value in (extra or {}).items():
                    if key in RESERVED:
                        raise ValueError(f"{key!r} is a chain field and cannot be an extra field")
                    entry[key] = value
                entry["hash"] = entry_hash(entry)
                line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
                try:
                    written = os.write(fd, line)
                    if written != len(line):
                        raise OSError(28, "short write to the hash chain")
                    os.fsync(fd)
                except OSError:
                    os.ftruncate(fd, size)
                    raise
                return str(entry["hash"])
            finally:
                os.close(fd)

    @staticmethod
    def _drop_torn_tail(fd: int) -> int:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        tail = os.pread(fd, min(size, 1 << 16), max(0, size - (1 << 16)))
        if tail.endswith(b"\n"):
            return size
        # A line without its newline was cut by a crash before it was committed.
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= len(tail) else size)
        os.ftruncate(fd, keep)
        return keep


def _last_link(fd: int, size: int) -> tuple[int, str]:
    if size == 0:
        return 0, GENESIS
    tail = os.pread(fd, min(size, 1 << 16), max(0, size - (1 << 16)))
    lines = tail.rstrip(b"\n").split(b"\n")
    last = lines[-1]
    own = _chain_fields(last)
    if own is not None:
        return own[0] + 1, own[1]
    # A line that is not a chain entry (written around the chain, or altered) is chained over, never
    # dropped: the next line links to its bytes, and verify reports it.
    seq = next((f[0] + 1 for f in map(_chain_fields, reversed(lines)) if f is not None), 0)
    return seq, sha256_hex(last)


def _chain_fields(line: bytes) -> tuple[int, str] | None:
    try:
        entry = json.loads(line)
        return int(entry["seq"]), str(entry["hash"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class ChainRead:
    """The lines of a chain file and every break found in it."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def head(self) -> str:
        """The hash of the last line (what a central copy of the head should match)."""
        return str(self.entries[-1]["hash"]) if self.entries else GENESIS


def read_chain(path: Path) -> ChainRead:
    """Read and check a chain file: every line parses, hashes to itself and links to the one before."""
    result = ChainRead()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return result
    prev = GENESIS
    expected_seq = 0
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        result.problems.append(f"{path.name}: last line is incomplete (torn write)")
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            seq, link, own = int(entry["seq"]), str(entry["prev"]), str(entry["hash"])
        except (ValueError, KeyError, TypeError):
            result.problems.append(
                f"{path.name} line {number}: not a hash-chained entry (written around the chain, or altered)"
            )
            prev = sha256_hex(line)
            continue
        if own != entry_hash(entry):
            result.problems.append(f"{path.name} line {number}: content altered (hash does not match)")
        if link != prev:
            result.problems.append(
                f"{path.name} line {number}: does not follow the line before (a line was removed or altered)"
            )
        if seq != expected_seq:
            result.problems.append(f"{path.name} line {number}: sequence {seq}, expected {expected_seq}")
        expected_seq = seq + 1
        prev = own
        result.entries.append(entry)
    return result
