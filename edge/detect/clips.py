"""Alert clips on disk: sealing them on the box, their retention, packing them for central, and opening them
(audited) into the labelled folders that model training reads.

A clip is two files in ``<data>/clips/``: ``<stem>.wav.sealed`` (the caller leg at 8 kHz, a WAV sealed to
central's public key, so the box can never play it back) and ``<stem>.json`` (plain: keyword, category,
tier, score, model version and the staff label, no audio and no number). The stem starts with the UTC time
it was kept, so clips sort by age. An alert's clip is the 2 s before it; a staff-flagged clip (source
``staff``) the 8 s before a staff warning or cut that no detection preceded, names no keyword, and waits in
``unlabelled/`` until a person marks its words (``label_clip``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import tarfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nacl.public import PrivateKey

CLIPS_DIR = "clips"
"""Folder of the data dir that holds the clips."""
SEALED_SUFFIX = ".wav.sealed"
LABEL_SUFFIX = ".json"
NEGATIVE = "negative"
"""Training folder of ordinary speech: clips of alerts that staff did not act on."""
UNLABELLED = "unlabelled"
"""Export folder of staff-flagged clips: abuse the model missed, which training skips until a person labels it."""
LABELLED_KEEP_S = 2.0
"""Seconds before a labelled word's end that ``label_clip`` keeps (an alert clip's length)."""
LABELLED_AFTER_S = 0.16
"""Seconds after a labelled word's end that ``label_clip`` keeps: a positive ends 0.1–0.2 s after its
keyword, as an alert clip ends at its detection (median 0.10 s after the word, 90 % within 0.21 s)."""
HINT_LAG_S = 0.2
"""How long after a word's end its smoothed score peaks: median 0.19 s (10–90 %: 0.00–0.30 s) over the 127
staff-flagged clips of re-voiced callers whose word the hint named (MODEL_CARD.md, "Staff-flagged clips")."""
HINT_MIN_SCORE = 0.1
"""Below this peak score a staff-flagged clip gets no hint, the guess being noise: 126 of the 127 right
hints on the misses above scored at least 0.1. Ordinary speech can score more (about 0.2), so a hint is
something to listen for, never a label."""
EXPORT_INDEX = "clips.jsonl"
"""The export folder's index: one JSON line per WAV written (its path, label, hint or who labelled it)."""
MAX_MEMBER_BYTES = 1 << 20
"""A clip is about 32 kB; a bigger tar member is not one of ours and is not read."""

STEM_PATTERN = r"^(\d{8}T\d{12})-[A-Za-z0-9_.-]{1,60}$"
"""A clip's name: the UTC time it was kept (to the microsecond), then its category."""
_STEM = re.compile(STEM_PATTERN)
_GROUP_ID = re.compile(r"^[a-z0-9_]{1,40}$")


class ClipSourceError(ValueError):
    """A clip source cannot be read at all (not a folder of clips, not a clips archive), or the key opens
    none of its clips."""


@dataclass(frozen=True)
class StoredClip:
    """One sealed clip and its label, wherever it is kept (a folder or a ``clips.fetch`` archive)."""

    stem: str
    sealed: bytes | None
    """The sealed blob; None while only listed from a folder (read on demand by ``blob``)."""
    label: dict[str, Any] | None
    """The plain label beside it; None when missing or unreadable."""
    path: Path | None = None
    """The sealed file, for clips kept in a folder."""

    def blob(self) -> bytes:
        """The sealed bytes (read from disk for a folder clip)."""
        if self.sealed is not None:
            return self.sealed
        assert self.path is not None
        return self.path.read_bytes()

    def kept_at(self) -> dt.datetime | None:
        """When the box kept it (UTC), from the stem."""
        match = _STEM.match(self.stem)
        if match is None:
            return None
        try:
            return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
        except ValueError:
            return None

    @property
    def confirmed(self) -> bool:
        """Staff acted on the call (a warning or a cut): the clip counts as an incident."""
        return (self.label or {}).get("label") == "confirmed"

    def training_folder(self) -> tuple[str | None, str]:
        """Where export puts it: a keyword group id, ``negative``, ``unlabelled``, or None, and why."""
        label = self.label
        if label is None:
            return None, "no label beside the clip"
        verdict = label.get("label")
        if verdict == "unconfirmed":
            return NEGATIVE, "an alert staff did not act on"
        if verdict != "confirmed":
            return None, f"unknown staff label {verdict!r}"
        if label.get("source") == "staff":
            return UNLABELLED, "a staff action with no detection before it: a person labels its words"
        keyword = label.get("keyword")
        if label.get("source", "model") != "model" or not isinstance(keyword, str):
            return None, "a confirmed cue that names no keyword (shouting)"
        if not _GROUP_ID.match(keyword):
            return None, f"keyword {keyword!r} is not a keyword group id"
        return keyword, "an alert staff confirmed"


def _read_label(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def clips_folder(source: Path) -> Path:
    """The folder of clips a path names: the folder itself, or a data dir's ``clips/``."""
    if source.is_dir() and not any(source.glob("*" + SEALED_SUFFIX)) and (source / CLIPS_DIR).is_dir():
        return source / CLIPS_DIR
    return source


def is_clip_source(source: Path) -> bool:
    """True for a folder holding sealed clips (or a data dir with them) and for a ``clips.fetch`` archive."""
    if source.is_file():
        return tarfile.is_tarfile(source)
    folder = clips_folder(source)
    return folder.is_dir() and any(folder.glob("*" + SEALED_SUFFIX))


def folder_clips(folder: Path) -> list[StoredClip]:
    """The clips of one folder, oldest first (labels read, sealed blobs left on disk)."""
    if not folder.is_dir():
        return []
    out = []
    for sealed in sorted(folder.glob("*" + SEALED_SUFFIX)):
        stem = sealed.name[: -len(SEALED_SUFFIX)]
        out.append(StoredClip(stem, None, _read_label(folder / f"{stem}{LABEL_SUFFIX}"), sealed))
    return out


def archive_clips(data: bytes) -> list[StoredClip]:
    """The clips of a ``clips.fetch`` archive (a tar of sealed clips and labels), read in memory only."""
    blobs: dict[str, bytes] = {}
    labels: dict[str, dict[str, Any] | None] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
            for member in archive:
                name = member.name
                if not member.isfile() or "/" in name or member.size > MAX_MEMBER_BYTES:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                content = handle.read()
                if name.endswith(SEALED_SUFFIX):
                    blobs[name[: -len(SEALED_SUFFIX)]] = content
                elif name.endswith(LABEL_SUFFIX):
                    try:
                        label = json.loads(content.decode("utf-8"))
                    except (UnicodeDecodeError, ValueError):
                        label = None
                    labels[name[: -len(LABEL_SUFFIX)]] = label if isinstance(label, dict) else None
    except tarfile.TarError as exc:
        raise ClipSourceError(f"not a clips archive: {exc}") from None
    return [StoredClip(stem, blobs[stem], labels.get(stem)) for stem in sorted(blobs)]


def source_clips(source: Path) -> list[StoredClip]:
    """The clips a path holds: a clips folder, a data dir, or an archive from ``clips.fetch``."""
    if source.is_file():
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise ClipSourceError(f"cannot read {source}: {exc.strerror or exc}") from None
        if not tarfile.is_tarfile(io.BytesIO(data)):
            raise ClipSourceError(f"{source} is not a clips archive (a tar from clips.fetch)")
        return archive_clips(data)
    if not source.is_dir():
        raise ClipSourceError(f"{source} does not exist")
    return folder_clips(clips_folder(source))


def summarise(clips: list[StoredClip]) -> dict[str, Any]:
    """Counts by staff label and by training folder, and the oldest and newest stem."""
    labels = Counter(str((c.label or {}).get("label", "none")) for c in clips)
    folders: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for clip in clips:
        folder, why = clip.training_folder()
        if folder is None:
            skipped[why] += 1
        else:
            folders[folder] += 1
    return {
        "clips": len(clips),
        "by_label": dict(sorted(labels.items())),
        "by_training_folder": dict(sorted(folders.items())),
        "not_for_training": dict(sorted(skipped.items())),
        "oldest": clips[0].stem if clips else None,
        "newest": clips[-1].stem if clips else None,
    }


def digest_of(blobs: dict[str, bytes]) -> str:
    """One sha256 over the clips' names and sealed bytes, for the audit log."""
    h = hashlib.sha256()
    for stem in sorted(blobs):
        h.update(stem.encode())
        h.update(hashlib.sha256(blobs[stem]).digest())
    return h.hexdigest()


# -- on the box ---------------------------------------------------------------------------------------


class SealedClipSink:
    """Alert clips, sealed to the central key like recordings; a plain JSON label beside each for counting."""

    def __init__(
        self, data_dir: Path, public_key_spec: str | None, on_alarm: Callable[[str, str], None]
    ) -> None:
        self.directory = data_dir / CLIPS_DIR
        self.on_alarm = on_alarm
        self.sealer: Any = None
        self.saved = 0
        if public_key_spec is not None:
            from edge.record.seal import ClipSealer, KeyFileError, load_public_key

            try:
                self.sealer = ClipSealer(load_public_key(public_key_spec))
            except KeyFileError as exc:
                on_alarm("clips.no_key", str(exc))

    def stored(self) -> int | None:
        """Sealed clips on disk now, waiting for central (None when the folder cannot be read)."""
        try:
            return sum(1 for _ in self.directory.glob("*" + SEALED_SUFFIX)) if self.directory.is_dir() else 0
        except OSError:
            return None

    def save(self, clip: Any, meta: dict[str, Any]) -> None:
        """Seal one clip as WAV bytes; without a key nothing is kept (clips are never stored in the clear)."""
        if self.sealer is None:
            return
        import soundfile

        buffer = io.BytesIO()
        soundfile.write(buffer, clip, 8000, format="WAV", subtype="PCM_16")
        kind = meta.get("category") or meta.get("source") or "clip"  # a staff-flagged clip has no category
        category = re.sub(r"[^A-Za-z0-9_]", "_", str(kind))[:40] or "clip"
        stem = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{category}"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Two clips in one clock tick (a coarse clock) must not overwrite each other.
            base, n = stem, 1
            while (self.directory / f"{stem}{SEALED_SUFFIX}").exists():
                stem, n = f"{base}-{n}", n + 1
            self.sealer.write(self.directory / f"{stem}{SEALED_SUFFIX}", buffer.getvalue())
            label = {k: v for k, v in meta.items() if isinstance(v, str | int | float | bool) or v is None}
            (self.directory / f"{stem}{LABEL_SUFFIX}").write_text(
                json.dumps(label, ensure_ascii=False, default=str)
            )
            self.saved += 1
        except OSError as exc:
            self.on_alarm("clips.error", f"clip not kept: {exc}")


def expire_clips(
    data_dir: Path, now: dt.datetime, days: float, incident_days: float, on_alarm: Callable[[str, str], None]
) -> list[str]:
    """Delete clips older than the recordings' retention (confirmed ones: the incident retention).

    Only the age rule applies: clips are a few kB each, and the disk cap is the recordings' to keep.
    Returns the deleted stems; a clip that cannot be deleted raises an alarm and is tried again next time.
    """
    from edge.record.retention import DiskUsage, RetentionRule, StoredRecording, decide

    directory = data_dir / CLIPS_DIR
    stored = []
    for clip in folder_clips(directory):
        kept = clip.kept_at()
        if kept is not None:
            age = (now - kept).total_seconds() / 86400.0
            stored.append(StoredRecording(clip.stem, age, 0, incident=clip.confirmed))
    decision = decide(stored, RetentionRule(days, incident_days, 100.0), DiskUsage(1, 0))
    deleted = []
    for stem in decision.refs:
        try:
            (directory / f"{stem}{SEALED_SUFFIX}").unlink(missing_ok=True)
            (directory / f"{stem}{LABEL_SUFFIX}").unlink(missing_ok=True)
        except OSError as exc:
            on_alarm("clips.error", f"expired clip {stem} not deleted: {exc.strerror or exc}")
            continue
        deleted.append(stem)
    return deleted


@dataclass(frozen=True)
class ClipPack:
    """A ``clips.fetch`` archive: the tar bytes, which clips it holds, and how many newer ones wait."""

    data: bytes
    stems: tuple[str, ...]
    remaining: int


def pack_clips(data_dir: Path, after: str | None, limit: int, actor: str) -> ClipPack:
    """The oldest ``limit`` clips kept after stem ``after``, as an uncompressed tar (they stay sealed).

    The export is written to the audit log first; ``OSError`` when it cannot be (nothing leaves unlogged).
    With no clip to send nothing is packed or logged.
    """
    from edge.record.audit import AuditLog, audit_path

    clips = [c for c in folder_clips(data_dir / CLIPS_DIR) if after is None or c.stem > after]
    chosen, remaining = clips[:limit], max(0, len(clips) - limit)
    if not chosen:
        return ClipPack(b"", (), 0)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:", format=tarfile.PAX_FORMAT) as archive:
        for clip in chosen:
            members = [(SEALED_SUFFIX, clip.blob())]
            if clip.label is not None:
                members.append((LABEL_SUFFIX, json.dumps(clip.label, ensure_ascii=False).encode()))
            for suffix, content in members:
                info = tarfile.TarInfo(clip.stem + suffix)
                info.size = len(content)
                info.mtime = int((clip.kept_at() or dt.datetime.now(dt.UTC)).timestamp())
                archive.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    AuditLog(audit_path(data_dir)).append(
        "export",
        actor,
        {
            "clips": len(chosen),
            "first": chosen[0].stem if chosen else None,
            "last": chosen[-1].stem if chosen else None,
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    return ClipPack(data, tuple(c.stem for c in chosen), remaining)


# -- centrally: opening clips for training -----------------------------------------------------------


@dataclass(frozen=True)
class OpenedClip:
    """One clip opened with the central key: its WAV bytes, label and training folder."""

    stem: str
    wav: bytes
    label: dict[str, Any]
    folder: str


@dataclass
class OpenResult:
    """What opening a source gave: the clips for training and, per clip, why any other was left out."""

    opened: list[OpenedClip] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    unopened: int = 0
    """Clips the key did not open (altered, or sealed to another key)."""


def open_clips(source: Path, private_key: PrivateKey, audit_dir: Path, actor: str) -> OpenResult:
    """Open every clip of ``source`` that training can use; the opening is audited before any is opened.

    A clip that is altered, sealed to another key, not a WAV inside, or unlabelled is skipped with its
    reason; the others are still opened. ``ClipSourceError`` when the source cannot be read at all or the
    key opens none of its clips, ``OSError`` when the audit log cannot be written (nothing is opened then).
    """
    import soundfile

    from edge.record.audit import AuditLog, audit_path
    from edge.record.seal import open_file_bytes

    clips = source_clips(source)
    result = OpenResult()
    blobs: dict[str, bytes] = {}
    for clip in clips:
        try:
            blobs[clip.stem] = clip.blob()
        except OSError as exc:
            result.skipped[clip.stem] = f"cannot read it: {exc.strerror or exc}"
    AuditLog(audit_path(audit_dir)).append(
        "clips.open",
        actor,
        {"source": str(source.resolve()), "clips": len(blobs), "sha256": digest_of(blobs)},
    )
    for clip in clips:
        if clip.stem not in blobs:
            continue
        folder, why = clip.training_folder()
        if folder is None:
            result.skipped[clip.stem] = why
            continue
        try:
            wav = open_file_bytes(blobs[clip.stem], private_key)
        except ValueError as exc:
            result.skipped[clip.stem] = str(exc)
            result.unopened += 1
            continue
        try:
            soundfile.info(io.BytesIO(wav))
        except (RuntimeError, soundfile.LibsndfileError):
            result.skipped[clip.stem] = "the opened clip is not a WAV"
            continue
        assert clip.label is not None
        result.opened.append(OpenedClip(clip.stem, wav, clip.label, folder))
    if result.unopened and not result.opened:
        raise ClipSourceError(
            f"the key opens none of the {result.unopened} clip(s) of {source}: it must be the central private "
            "key whose public half the box seals to ([recording] public_key)"
        )
    return result


def default_audit_dir(source: Path) -> Path | None:
    """Where opening ``source`` is logged without an explicit data dir: the data dir the clips came from."""
    resolved = source.resolve()
    if resolved.is_dir() and (resolved / CLIPS_DIR).is_dir():
        return resolved
    if resolved.is_dir() and resolved.name == CLIPS_DIR:
        return resolved.parent
    if resolved.is_file():
        return resolved.parent
    return None


@dataclass
class ExportResult:
    """``lineguard clips export``: clips written per training folder, already there, and skipped."""

    written: Counter[str] = field(default_factory=Counter)
    existing: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    hints: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per staff-flagged clip written (``unlabelled/<stem>.wav``): the model's guess at the missed word."""


def write_training_folders(
    opened: list[OpenedClip],
    out: Path,
    result: ExportResult,
    hint: Callable[[bytes], dict[str, Any] | None] | None = None,
) -> None:
    """Write opened clips as ``out/<folder>/<stem>.wav`` with ``out/clips.jsonl`` beside them; each
    staff-flagged clip's record carries ``hint(wav)`` (``missed_word_hint``) when one is given.

    A clip already exported is left as it is, so exporting the same clips twice adds nothing.
    """
    out.mkdir(parents=True, exist_ok=True)
    with open(out / EXPORT_INDEX, "a", encoding="utf-8") as index:
        for clip in opened:
            name = f"{clip.folder}/{clip.stem}.wav"
            if (out / name).exists():
                result.existing += 1
                continue
            record = dict(clip.label)
            guess = hint(clip.wav) if hint is not None and clip.folder == UNLABELLED else None
            if guess is not None:
                record["hint"] = result.hints[name] = guess
            _add_to_export(out, index, name, clip.wav, record)
            result.written[clip.folder] += 1


def _add_to_export(out: Path, index: TextIO, name: str, wav: bytes, record: dict[str, Any]) -> None:
    """Write ``out/name`` whole or not at all, then its line in the export's index."""
    target = out / name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(wav)
    tmp.replace(target)
    index.write(json.dumps({"wav": name, **record}, ensure_ascii=False) + "\n")


def label_clip(
    wav: Path, keyword: str, ends_s: list[float], out: Path, actor: str, keep_s: float = LABELLED_KEEP_S
) -> tuple[list[str], int]:
    """A person's labels of a staff-flagged clip: each word of ``keyword`` ending at ``ends_s`` (seconds into
    ``wav``) becomes ``out/<keyword>/<wav stem>-<end ms>.wav``, the ``keep_s`` before that end and
    ``LABELLED_AFTER_S`` after it (as training reads a positive: it ends 0.1–0.2 s after the keyword, like an
    alert clip); ``out/clips.jsonl`` notes who labelled it.

    Returns the written paths (relative to ``out``) and how many were there already. ``ValueError`` for a
    keyword that is no group id or an end outside the clip; ``OSError`` and ``soundfile`` errors pass on.
    """
    import soundfile

    if not _GROUP_ID.match(keyword):
        raise ValueError(f"{keyword!r} is not a keyword group id (lower-case letters, digits, _)")
    data, rate = soundfile.read(wav, dtype="int16", always_2d=True)
    duration = data.shape[0] / rate
    written, existing = [], 0
    for end in ends_s:
        if not 0.1 <= end <= duration + 1e-6:
            raise ValueError(f"end {end} s is outside {wav.name} ({duration:.2f} s long)")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / EXPORT_INDEX, "a", encoding="utf-8") as index:
        for end in ends_s:
            stop = round(end * rate)
            name = f"{keyword}/{wav.stem}-{round(end * 1000):05d}.wav"
            if (out / name).exists():
                existing += 1
                continue
            piece = io.BytesIO()
            start = max(0, stop - round(keep_s * rate))
            soundfile.write(piece, data[start : stop + round(LABELLED_AFTER_S * rate), 0], rate, format="WAV")
            record = {
                "label": "confirmed",
                "source": "staff",
                "keyword": keyword,
                "from": wav.name,
                "end_s": round(end, 3),
                "after_s": round(min(LABELLED_AFTER_S, duration - end), 3),
                "labelled_by": actor,
            }
            _add_to_export(out, index, name, piece.getvalue(), record)
            written.append(name)
    return written, existing


def missed_word_hint(detector: Any, wav: bytes) -> dict[str, Any] | None:
    """Where a staff-flagged clip's missed word most likely is, to speed up the person labelling it: the
    keyword class whose score peaked highest (below any threshold, or the box would have caught it), that
    score, and ``end_s``, where the word would end (seconds into the clip: the peak less ``HINT_LAG_S``).

    ``detector`` is an inline ``AbuseDetector`` (its thresholds do not matter); None for a clip that is not
    a readable WAV or where no keyword scored ``HINT_MIN_SCORE``.
    """
    import numpy as np
    import soundfile

    from edge.detect.cli import feed

    try:
        data, rate = soundfile.read(io.BytesIO(wav), dtype="int16", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError):
        return None
    if rate != 8000:
        return None  # the box keeps 8 kHz clips; anything else is not one of its clips
    detector.trace = []
    try:
        feed(detector, [data[:, 0]])
        trace = detector.trace
    finally:
        detector.trace = None
    if not trace:
        return None
    scores = np.array([s[1:] for _, s in trace])
    hop, klass = np.unravel_index(int(np.argmax(scores)), scores.shape)
    if scores[hop, klass] < HINT_MIN_SCORE:
        return None
    return {
        "keyword": detector.classes[int(klass)].id,
        "end_s": round(max(0.1, float(trace[int(hop)][0]) - HINT_LAG_S), 2),
        "score": round(float(scores[hop, klass]), 3),
    }
