"""The recorder: frames in from the audio loop (never blocking), sealed Opus chunks out to disk.

One writer thread owns every open file. The audio loop only copies a frame into a bounded queue; when the
queue is full the frame is dropped and counted (a gap in the timeline, never a stall). A chunk that cannot
be written (disk full) is dropped, an alarm is raised, and the next chunk tries again, so recording resumes
by itself when space returns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from nacl.public import PublicKey

from edge.ports import SAMPLE_RATE, Pcm
from edge.record.chain import KIND_DELETED, KIND_RECORDING, HashChain, chain_path, file_digest, read_chain
from edge.record.codec import CHANNELS, encode_chunk
from edge.record.lgrec import SUFFIX, RecordingFormatError, RecordingWriter, close_cut_short, scan_frames
from edge.record.retention import DiskUsage, RetentionRule, StoredRecording, decide
from edge.record.seal import KeyFileError, load_public_key
from edge.record.settings import RecordingConfig

AlarmSink = Callable[[str, str], None]
"""``on_alarm(code, message)``; codes: recording.no_key, recording.disk_full, recording.resumed,
recording.dropped, recording.error, retention.incident_evicted, retention.cap_unreachable."""

RECORDINGS_DIR = "recordings"
QUEUE_SECONDS = 10.0
"""Audio the writer may fall behind by before frames are dropped."""
_CALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DAY = 86400.0
UNCHAINED = "unchained"
"""Sidecar state of a finished recording whose hash-chain line could not be written yet."""
CLOSED_STATES = ("finished", "recovered", UNCHAINED)


def recordings_dir(data_dir: Path) -> Path:
    """Where recordings live in a data dir."""
    return data_dir / RECORDINGS_DIR


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass
class _Call:
    call_id: str
    path: Path
    meta: dict[str, Any]
    started: float
    writer: RecordingWriter | None = None
    header_written: bool = False
    buffer: list[tuple[Pcm, Pcm]] = field(default_factory=list)
    buffer_start: int = 0
    buffer_len: int = 0
    next_sample: int = 0
    chunks: int = 0
    lost_samples: int = 0
    incidents: list[str] = field(default_factory=list)
    refused: bool = False


class Recorder:
    """Records calls as sealed ``.lgrec`` files under ``<data_dir>/recordings``."""

    def __init__(self, settings: RecordingConfig, data_dir: Path, on_alarm: AlarmSink) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.directory = recordings_dir(data_dir)
        self.chain = HashChain(chain_path(data_dir))
        self._on_alarm = on_alarm
        self._chunk_samples = max(160, round(settings.chunk_seconds * SAMPLE_RATE))
        self._max_pending = int(QUEUE_SECONDS * SAMPLE_RATE)
        self._public_key: PublicKey | None = None
        self._key_problem: str | None = None
        if settings.public_key is None:
            self._key_problem = "no central public key is configured ([recording] public_key)"
        else:
            try:
                self._public_key = load_public_key(settings.public_key)
            except KeyFileError as exc:
                self._key_problem = str(exc)
        # Audio-thread side: which calls take frames, and the next sample position of each.
        self._positions: dict[str, int] = {}
        self._dropped_frames = 0
        self._bad_frames = 0
        # Shared queue; audio items are counted so that only they are ever refused.
        self._queue: deque[tuple[Any, ...]] = deque()
        self._pending_samples = 0
        self._cond = threading.Condition()
        self._files_lock = threading.Lock()
        # Writer-thread side.
        self._calls: dict[str, _Call] = {}
        self._disk_full = False
        self._reported_drops = 0
        self._unclosed: list[tuple[Path, str]] = []
        self._unchained: list[tuple[str, Path, str]] = []
        self._bytes_written = 0
        self._chunks_written = 0
        self._last_error: str | None = None
        self._alarmed_no_key = False
        self._closed = False
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._last_error = f"cannot create {self.directory}: {exc}"
            self._alarm("recording.error", self._last_error)
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        if settings.enabled and self._key_problem:
            self._alarm_no_key()

    # ----- audio-loop side -------------------------------------------------------------------------

    def should_record(self, number: str | None) -> bool:
        """Whether a call with this number (None: unknown) is recorded: enabled and not on the no-record list."""
        if not self.settings.enabled:
            return False
        return number is None or number not in self.settings.no_record

    def start(self, call_id: str, meta: dict[str, Any]) -> None:
        """Begin recording ``call_id``; ``meta`` (number, direction...) is sealed into the header.

        A call id that cannot be a file name (1-100 letters, digits, '.', '_', '-') is not recorded and
        raises the alarm ``recording.error``; the call itself goes on.
        """
        if not _CALL_ID.match(call_id):
            self._alarm("recording.error", f"call id {call_id!r} cannot name a recording file; not recorded")
            return
        if not self.settings.enabled or self._closed:
            return
        if self._public_key is None:
            self._alarm_no_key()
            return
        if call_id in self._positions:
            return
        self._positions[call_id] = 0
        self._put(("start", call_id, dict(meta), time.time()))

    def write(self, call_id: str, caller: Pcm, staff: Pcm) -> None:
        """Hand over one frame of both legs; never blocks (drops and counts when the writer is behind)."""
        position = self._positions.get(call_id)
        if position is None:
            return
        n = len(caller)
        if n != len(staff) or n == 0:
            self._bad_frames += 1
            return
        self._positions[call_id] = position + n
        with self._cond:
            if self._pending_samples + n > self._max_pending:
                self._dropped_frames += 1
                return
            self._pending_samples += n
            self._queue.append(
                ("audio", call_id, position, np.array(caller, np.int16), np.array(staff, np.int16))
            )
            self._cond.notify()

    def stop(self, call_id: str) -> None:
        """End the recording of ``call_id`` (flushes, seals the end record, chains the file)."""
        final = self._positions.pop(call_id, None)
        if final is None:
            return
        self._put(("stop", call_id, time.time(), final))

    def mark_incident(self, call_id: str, basis: str) -> None:
        """Tie ``call_id`` to an incident (e.g. ``abuse.threat``): kept for the incident retention."""
        self._put(("incident", call_id, basis))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the writer has handled everything queued so far (for tests and shutdown)."""
        done = threading.Event()
        self._put(("barrier", done))
        return done.wait(timeout)

    def close(self) -> None:
        """Finish open recordings and stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._put(("close",))
        self._thread.join(timeout=30)

    # ----- maintenance (any thread) ------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Close recordings a crash left open (torn tail cut, end record added, file chained).

        Call once at start, before the first call; returns the recovered call ids.
        """
        recovered: list[str] = []
        if not self.directory.is_dir():
            return recovered
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        open_now = set(self._positions)
        chained = {
            str(e.get("ref")) for e in read_chain(self.chain.path).entries if e.get("kind") == KIND_RECORDING
        }
        for path in sorted(self.directory.glob("*" + SUFFIX)):
            call_id = path.name[: -len(SUFFIX)]
            if call_id in open_now:
                continue
            try:
                scan = scan_frames(path)
            except (OSError, RecordingFormatError) as exc:
                self._alarm("recording.error", f"recording {path.name} cannot be read for recovery: {exc}")
                continue
            side = self._read_sidecar(call_id)
            if not scan.kinds and call_id not in chained and side.get("state") not in CLOSED_STATES:
                # Cut (a power cut, kill -9) before its header record was whole: it holds no audio, and
                # closed as it is no key could ever open it.
                path.unlink(missing_ok=True)
                self._sidecar_path(call_id).unlink(missing_ok=True)
                self._alarm(
                    "recording.error",
                    f"recording {path.name} was cut before its header was written; it held no audio and was removed",
                )
                continue
            if scan.finished and not scan.torn:
                if side.get("state") in ("recording", UNCHAINED):
                    self._close_out(call_id, path, side, "finished")
                    self._unchained = [u for u in self._unchained if u[0] != call_id]
                continue
            if call_id in chained or side.get("state") in CLOSED_STATES:
                # It was closed once, so this is damage or tampering, not a crash: keep it as evidence.
                self._alarm(
                    "recording.error",
                    f"recording {path.name} was closed but now looks cut or altered; left untouched for verify",
                )
                continue
            if self._public_key is None:
                self._alarm_no_key()
                return recovered
            info = {"reason": "recovered", "recovered_wall": _now_iso(), "audio_records": scan.audio_records}
            try:
                close_cut_short(path, self._public_key, info)
            except OSError as exc:
                self._alarm("recording.error", f"could not recover {path.name}: {exc}")
                continue
            side.setdefault("started", path.stat().st_mtime)
            side["ended"] = path.stat().st_mtime
            self._close_out(call_id, path, side, "recovered")
            recovered.append(call_id)
        return recovered

    def enforce_retention(self, now: float) -> list[str]:
        """Apply the retention rule at wall time ``now`` (epoch s); returns the deleted call ids.

        Alarms (an incident recording forced out by the cap) are raised before anything is deleted.
        """
        rule = RetentionRule(
            self.settings.retention_days,
            self.settings.incident_retention_days,
            self.settings.disk_cap_percent,
        )
        with self._files_lock:
            stored = self._stored(now)
            usage = self.disk_usage()
            decision = decide(stored, rule, usage)
            for code, message in decision.alarms:
                self._alarm(code, message)
            deleted: list[str] = []
            for deletion in decision.deletions:
                if self._delete(deletion.ref, deletion.reason):
                    deleted.append(deletion.ref)
            return deleted

    def disk_usage(self) -> DiskUsage:
        """Total and used bytes of the partition holding the data dir."""
        st = os.statvfs(self.data_dir)
        return DiskUsage(st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize)

    def health(self) -> dict[str, Any]:
        """Counters for telemetry and the console."""
        files = list(self.directory.glob("*" + SUFFIX)) if self.directory.is_dir() else []
        try:
            disk_percent = round(self.disk_usage().percent, 1)
        except OSError:
            disk_percent = None
        return {
            "enabled": self.settings.enabled,
            "key_loaded": self._public_key is not None,
            "key_problem": self._key_problem,
            "recording": sorted(self._positions),
            "paused_disk_full": self._disk_full,
            "queue_seconds": round(self._pending_samples / SAMPLE_RATE, 2),
            "dropped_frames": self._dropped_frames,
            "bad_frames": self._bad_frames,
            "chunks_written": self._chunks_written,
            "bytes_written": self._bytes_written,
            "recordings": len(files),
            "recordings_bytes": sum(_size(p) for p in files),
            "disk_percent": disk_percent,
            "last_error": self._last_error,
        }

    # ----- writer thread -------------------------------------------------------------------------------

    def _put(self, item: tuple[Any, ...]) -> None:
        with self._cond:
            self._queue.append(item)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait(timeout=1.0)
                    if not self._queue:
                        self._report_drops()
                item = self._queue.popleft()
                if item[0] == "audio":
                    self._pending_samples -= len(item[3])
            try:
                if self._handle(item):
                    return
            except Exception as exc:  # noqa: BLE001 - the writer must outlive any one bad item
                self._last_error = f"{type(exc).__name__}: {exc}"
                self._alarm("recording.error", f"recorder failed on {item[0]}: {self._last_error}")

    def _handle(self, item: tuple[Any, ...]) -> bool:
        kind = item[0]
        if kind == "audio":
            self._on_audio(item[1], item[2], item[3], item[4])
            self._report_drops()
        elif kind == "start":
            self._on_start(item[1], item[2], item[3])
        elif kind == "stop":
            self._on_stop(item[1], item[2], "stopped", item[3])
        elif kind == "incident":
            self._on_incident(item[1], item[2])
        elif kind == "barrier":
            item[1].set()
        elif kind == "close":
            for call_id in list(self._calls):
                self._on_stop(call_id, time.time(), "shutdown", 0)
            self._retry_unclosed()
            return True
        return False

    def _on_start(self, call_id: str, meta: dict[str, Any], started: float) -> None:
        path = self.directory / f"{call_id}{SUFFIX}"
        call = _Call(call_id, path, meta, started)
        self._calls[call_id] = call
        if path.exists():
            # Never append to, or relabel, another call's evidence.
            call.refused = True
            self._alarm("recording.error", f"{path.name} already exists; call {call_id} is not recorded")
            return
        self._write_sidecar(call_id, {"call_id": call_id, "started": started, "state": "recording"})
        self._open_file(call)

    def _open_file(self, call: _Call) -> bool:
        assert self._public_key is not None
        if call.writer is not None:
            return True
        if call.refused:
            return False
        header = {
            "call_id": call.call_id,
            "meta": json.loads(json.dumps(call.meta, default=str)),
            "started_wall": dt.datetime.fromtimestamp(call.started, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "sample_rate": SAMPLE_RATE,
            "channels": list(CHANNELS),
            "codec": "opus-ogg-chunks",
            "bitrate_kbps": self.settings.bitrate_kbps,
            "chunk_seconds": self.settings.chunk_seconds,
        }
        writer = RecordingWriter(call.path, self._public_key)
        try:
            writer.create(header)
        except FileExistsError:
            call.refused = True
            self._alarm(
                "recording.error", f"{call.path.name} already exists; call {call.call_id} is not recorded"
            )
            return False
        except OSError as exc:
            self._write_failed(exc, call.call_id)
            return False
        call.writer = writer
        self._bytes_written += writer.size
        return True

    def _on_audio(self, call_id: str, first: int, caller: Pcm, staff: Pcm) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        if call.buffer and first != call.buffer_start + call.buffer_len:
            self._flush(call)
        if not call.buffer:
            call.buffer_start = first
        call.buffer.append((caller, staff))
        call.buffer_len += len(caller)
        call.next_sample = first + len(caller)
        if call.buffer_len >= self._chunk_samples:
            self._flush(call)

    def _flush(self, call: _Call) -> None:
        if not call.buffer:
            return
        caller = np.concatenate([c for c, _ in call.buffer])
        staff = np.concatenate([s for _, s in call.buffer])
        first, count = call.buffer_start, call.buffer_len
        call.buffer, call.buffer_len = [], 0
        opus = encode_chunk(caller, staff, self.settings.bitrate_kbps)
        if not self._open_file(call):
            call.lost_samples += count
            return
        assert call.writer is not None
        before = call.writer.size
        try:
            call.writer.append_audio(first, count, opus)
        except OSError as exc:
            call.lost_samples += count
            self._write_failed(exc, call.call_id)
            return
        call.chunks += 1
        self._chunks_written += 1
        self._bytes_written += call.writer.size - before
        if self._disk_full:
            self._disk_full = False
            self._alarm("recording.resumed", f"disk space is back; recording {call.call_id} resumed")
            self._retry_unclosed()

    def _write_failed(self, exc: OSError, call_id: str) -> None:
        self._last_error = f"{call_id}: {exc}"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            if not self._disk_full:
                self._disk_full = True
                self._alarm(
                    "recording.disk_full",
                    f"the data partition is full; recording of {call_id} paused, the call goes on",
                )
        else:
            self._alarm("recording.error", f"cannot write recording {call_id}: {exc}")

    def _on_stop(self, call_id: str, ended: float, reason: str, final_sample: int) -> None:
        call = self._calls.get(call_id)
        if call is None:
            return
        try:
            self._finish(call, ended, reason, final_sample)
        finally:
            # Only now may retention see the file: it is closed and chained.
            self._calls.pop(call_id, None)

    def _finish(self, call: _Call, ended: float, reason: str, final_sample: int) -> None:
        call_id = call.call_id
        self._flush(call)
        side = {"call_id": call_id, "started": call.started, "ended": ended, "incident": call.incidents}
        if call.writer is None:
            if not call.refused:
                self._sidecar_path(call_id).unlink(missing_ok=True)  # nothing of this call reached the disk
            return
        info = {
            "reason": reason,
            "ended_wall": dt.datetime.fromtimestamp(ended, dt.UTC).isoformat(timespec="milliseconds"),
            # Frames dropped at the very end still count: the timeline is what the audio loop saw.
            "samples": max(call.next_sample, final_sample),
            "chunks": call.chunks,
            "lost_samples": call.lost_samples,
        }
        try:
            call.writer.finish(info)
        except OSError as exc:
            self._write_failed(exc, call_id)
            self._unclosed.append((call.path, call_id))
            self._write_sidecar(call_id, {**side, "state": "recording"})
            return
        self._close_out(call_id, call.path, side, "finished")

    def _retry_unclosed(self) -> None:
        assert self._public_key is not None or not self._unclosed
        still: list[tuple[Path, str]] = []
        for path, call_id in self._unclosed:
            assert self._public_key is not None
            try:
                close_cut_short(path, self._public_key, {"reason": "closed-late", "closed_wall": _now_iso()})
            except OSError:
                still.append((path, call_id))
                continue
            self._close_out(call_id, path, self._read_sidecar(call_id), "finished")
        self._unclosed = still
        self._retry_unchained()

    def _close_out(self, call_id: str, path: Path, side: dict[str, Any], state: str) -> None:
        """Chain the finished file and record its state beside it."""
        digest = file_digest(path)
        try:
            self.chain.append(KIND_RECORDING, call_id, digest)
        except OSError as exc:
            # Retried when space returns, at close and by the next start's recovery.
            self._alarm("recording.error", f"could not add {call_id} to the hash chain: {exc}")
            self._unchained.append((call_id, path, state))
            state = UNCHAINED
        self._write_sidecar(call_id, {**side, "state": state, "size": _size(path), "sha256": digest})

    def _retry_unchained(self) -> None:
        pending, self._unchained = self._unchained, []
        for call_id, path, state in pending:
            if path.exists():
                self._close_out(call_id, path, self._read_sidecar(call_id), state)

    def _on_incident(self, call_id: str, basis: str) -> None:
        call = self._calls.get(call_id)
        if call is not None:
            if basis not in call.incidents:
                call.incidents.append(basis)
            return
        with self._files_lock:
            side = self._read_sidecar(call_id)
            if not side:
                return
            incidents = list(side.get("incident", []))
            if basis not in incidents:
                incidents.append(basis)
            self._write_sidecar(call_id, {**side, "incident": incidents})

    def _report_drops(self) -> None:
        dropped = self._dropped_frames
        if dropped != self._reported_drops:
            self._reported_drops = dropped
            self._alarm(
                "recording.dropped",
                f"the recorder fell behind: {dropped} frames dropped so far (gaps in recordings)",
            )

    # ----- files --------------------------------------------------------------------------------------

    def _sidecar_path(self, call_id: str) -> Path:
        return self.directory / f"{call_id}.json"

    def _read_sidecar(self, call_id: str) -> dict[str, Any]:
        try:
            data = json.loads(self._sidecar_path(call_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_sidecar(self, call_id: str, data: dict[str, Any]) -> None:
        path = self._sidecar_path(call_id)
        tmp = path.with_name(path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self._last_error = f"sidecar {path.name}: {exc}"

    def _stored(self, now: float) -> list[StoredRecording]:
        active = set(self._positions) | set(self._calls)
        stored: list[StoredRecording] = []
        for path in self.directory.glob("*" + SUFFIX):
            call_id = path.name[: -len(SUFFIX)]
            if call_id in active:
                continue
            side = self._read_sidecar(call_id)
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            ended = float(side.get("ended") or mtime)
            stored.append(
                StoredRecording(call_id, (now - ended) / _DAY, _size(path), bool(side.get("incident")))
            )
        return stored

    def _delete(self, call_id: str, reason: str) -> bool:
        path = self.directory / f"{call_id}{SUFFIX}"
        try:
            digest = file_digest(path)
        except OSError:
            return False
        chained = self._chain_deletion(call_id, digest, reason)
        try:
            path.unlink()
        except OSError as exc:
            self._alarm("recording.error", f"retention could not delete {path.name}: {exc}")
            return False
        self._sidecar_path(call_id).unlink(missing_ok=True)
        if not chained:
            # On a full disk the chain line may only fit once the recording is gone.
            self._chain_deletion(call_id, digest, reason)
        return True

    def _chain_deletion(self, call_id: str, digest: str, reason: str) -> bool:
        try:
            self.chain.append(KIND_DELETED, call_id, digest, extra={"reason": reason})
        except OSError:
            return False
        return True

    def _alarm(self, code: str, message: str) -> None:
        # A failing alarm sink must not stop recording.
        with contextlib.suppress(Exception):
            self._on_alarm(code, message)

    def _alarm_no_key(self) -> None:
        if not self._alarmed_no_key:
            self._alarmed_no_key = True
            self._alarm("recording.no_key", f"calls are not recorded: {self._key_problem}")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def export_recording(data_dir: Path, call_id: str, actor: str) -> bytes:
    """The sealed bytes of one finished recording, for upload; the export is audited first.

    Raises ``FileNotFoundError`` for an unknown (or malformed) call id, ``OSError`` when the audit log
    cannot be written (nothing leaves the box unlogged).
    """
    from edge.record.audit import AuditLog, audit_path

    path = recordings_dir(data_dir) / f"{call_id}{SUFFIX}"
    if not _CALL_ID.match(call_id) or not path.is_file():
        raise FileNotFoundError(f"no recording for call {call_id!r}")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    AuditLog(audit_path(data_dir)).append(
        "export", actor, {"call_id": call_id, "sha256": digest, "bytes": len(data)}
    )
    return data
