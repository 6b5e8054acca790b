"""The ``.lgrec`` file: a magic line, then length-prefixed sealed records appended with fsync.

Layout: ``MAGIC`` then records ``[u32 length][u8 kind][sealed box of length bytes]``. The kind byte is
plain so the device (which cannot open anything) can find a torn tail and a missing end after a crash;
everything else, including the sequence number and a per-file id that bind each record to its place, is
inside the sealed box.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey

from edge.record.seal import SEAL_OVERHEAD, seal, unseal

MAGIC = b"LGREC1\n\x00"
SUFFIX = ".lgrec"
KIND_HEADER = b"H"
KIND_AUDIO = b"A"
KIND_END = b"E"
KINDS = (KIND_HEADER, KIND_AUDIO, KIND_END)
MAX_RECORD = 4 << 20
"""A record longer than this is taken as garbage (a 2 s chunk is a few kB)."""

_FRAME = struct.Struct(">IB")
_INNER = struct.Struct(">16sIc")
_AUDIO = struct.Struct(">QI")


class RecordingFormatError(ValueError):
    """A file is not a ``.lgrec`` recording or cannot be read as one."""


@dataclass(frozen=True)
class FrameScan:
    """What the device can see of a recording without any key."""

    kinds: tuple[bytes, ...]
    good_size: int
    """Bytes up to the end of the last complete record; anything after is a torn tail."""
    file_size: int

    @property
    def torn(self) -> bool:
        """Whether the file ends in a partly written record."""
        return self.file_size > self.good_size

    @property
    def finished(self) -> bool:
        """Whether the recording was closed with an end record."""
        return bool(self.kinds) and self.kinds[-1] == KIND_END

    @property
    def audio_records(self) -> int:
        """Number of sealed audio chunks."""
        return sum(1 for kind in self.kinds if kind == KIND_AUDIO)


def scan_frames(path: Path) -> FrameScan:
    """Walk the record framing of ``path`` (no decryption)."""
    with open(path, "rb") as handle:
        data = handle.read()
    if not data.startswith(MAGIC):
        raise RecordingFormatError(f"{path} is not a lineguard recording (bad header)")
    offset = len(MAGIC)
    kinds: list[bytes] = []
    while offset + _FRAME.size <= len(data):
        length, kind_byte = _FRAME.unpack_from(data, offset)
        kind = bytes([kind_byte])
        end = offset + _FRAME.size + length
        if kind not in KINDS or length > MAX_RECORD or length < SEAL_OVERHEAD or end > len(data):
            break
        kinds.append(kind)
        offset = end
    return FrameScan(tuple(kinds), offset, len(data))


def _frame(kind: bytes, sealed: bytes) -> bytes:
    return _FRAME.pack(len(sealed), kind[0]) + sealed


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class RecordingWriter:
    """Appends sealed records to one ``.lgrec`` file; each append is whole-or-nothing and fsynced."""

    def __init__(self, path: Path, public_key: PublicKey) -> None:
        self.path = path
        self._public_key = public_key
        self._file_id = secrets.token_bytes(16)
        self._seq = 0
        self._fd: int | None = None
        self.size = 0

    def create(self, header: dict[str, Any]) -> None:
        """Create the file (never over an existing one) and write the sealed header."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._fd = fd
        try:
            self._write_all(MAGIC)
            self._append(KIND_HEADER, json.dumps(header, ensure_ascii=False).encode("utf-8"))
        except OSError:
            self._abandon()
            raise
        _fsync_dir(self.path.parent)

    def _abandon(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.unlink(missing_ok=True)

    def _write_all(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        self.size += len(data)

    def _append(self, kind: bytes, body: bytes) -> None:
        if self._fd is None:
            raise RecordingFormatError(f"{self.path} is not open")
        plain = _INNER.pack(self._file_id, self._seq, kind) + body
        record = _frame(kind, seal(plain, self._public_key))
        before = self.size
        try:
            self._write_all(record)
        except OSError:
            # A torn record would hide every later one: cut it off so the file stays valid.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            self.size = before
            raise
        self._seq += 1

    def append_audio(self, first_sample: int, n_samples: int, opus: bytes) -> None:
        """Append one encoded chunk that starts ``first_sample`` samples after the recording began."""
        self._append(KIND_AUDIO, _AUDIO.pack(first_sample, n_samples) + zlib.compress(opus, 6))

    def finish(self, info: dict[str, Any]) -> None:
        """Append the end record and close the file."""
        try:
            self._append(KIND_END, json.dumps(info, ensure_ascii=False).encode("utf-8"))
        finally:
            self.close()

    def close(self) -> None:
        """Close without an end record (the next start's recovery adds one)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def close_cut_short(path: Path, public_key: PublicKey, info: dict[str, Any]) -> FrameScan:
    """Recovery: drop a torn tail and append an end record to a recording that a crash left open."""
    scan = scan_frames(path)
    if scan.finished and not scan.torn:
        return scan
    fd = os.open(path, os.O_WRONLY)
    try:
        if scan.torn:
            os.ftruncate(fd, scan.good_size)
        if not scan.finished:
            # The end record carries a fresh file id: the holder sees it was written by recovery.
            plain = _INNER.pack(b"\x00" * 16, len(scan.kinds), KIND_END)
            plain += json.dumps(info, ensure_ascii=False).encode("utf-8")
            os.lseek(fd, scan.good_size, os.SEEK_SET)
            os.write(fd, _frame(KIND_END, seal(plain, public_key)))
        os.fsync(fd)
    finally:
        os.close(fd)
    return scan_frames(path)


@dataclass(frozen=True)
class AudioChunk:
    """One decrypted chunk: where it starts, how long it is, its Opus stream."""

    first_sample: int
    n_samples: int
    opus: bytes


@dataclass
class OpenedRecording:
    """A recording opened with the private key, with every irregularity found on the way."""

    header: dict[str, Any]
    chunks: list[AudioChunk] = field(default_factory=list)
    end: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


def _records(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    offset = len(MAGIC)
    while offset + _FRAME.size <= len(data):
        length, kind_byte = _FRAME.unpack_from(data, offset)
        end = offset + _FRAME.size + length
        if length > MAX_RECORD or end > len(data):
            return
        yield bytes([kind_byte]), data[offset + _FRAME.size : end]
        offset = end


def open_recording(path: Path, private_key: PrivateKey) -> OpenedRecording:
    """Decrypt every record of ``path``; raises ``RecordingFormatError`` if the header cannot be opened."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise RecordingFormatError(f"{path} is not a lineguard recording (bad header)")
    scan = scan_frames(path)
    opened: OpenedRecording | None = None
    file_id = b""
    expected_seq = 0
    for index, (kind, sealed) in enumerate(_records(data)):
        try:
            plain = unseal(sealed, private_key)
        except CryptoError:
            if index == 0:
                raise RecordingFormatError(
                    f"{path}: the key does not open this recording, or its header was altered"
                ) from None
            assert opened is not None
            opened.problems.append(f"record {index} was altered and cannot be opened; skipped")
            expected_seq += 1
            continue
        rec_id, seq, inner_kind = _INNER.unpack_from(plain)
        body = plain[_INNER.size :]
        if index == 0:
            if inner_kind != KIND_HEADER:
                raise RecordingFormatError(f"{path}: the first record is not a header")
            opened = OpenedRecording(header=json.loads(body))
            if kind != KIND_HEADER:
                opened.problems.append("record 0: kind byte was changed")
            file_id = rec_id
            expected_seq = 1
            continue
        assert opened is not None
        if inner_kind != kind:
            opened.problems.append(f"record {index}: kind byte was changed")
        is_recovery_end = inner_kind == KIND_END and rec_id == b"\x00" * 16
        if rec_id != file_id and not is_recovery_end:
            opened.problems.append(f"record {index} belongs to another recording; skipped")
            continue
        if seq != expected_seq:
            opened.problems.append(
                f"record {index}: sequence {seq}, expected {expected_seq} (records missing)"
            )
        expected_seq = seq + 1
        if inner_kind == KIND_AUDIO:
            first, count = _AUDIO.unpack_from(body)
            opened.chunks.append(AudioChunk(first, count, zlib.decompress(body[_AUDIO.size :])))
        elif inner_kind == KIND_END:
            opened.end = json.loads(body)
    if opened is None:
        raise RecordingFormatError(f"{path} holds no complete record")
    if scan.torn:
        opened.problems.append(f"{scan.file_size - scan.good_size} bytes of a torn last record ignored")
    if opened.end is None:
        opened.problems.append("no end record: the recording was cut short and not yet recovered")
    return opened
