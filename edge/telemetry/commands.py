"""Central's commands, validated and dispatched to callables the runtime passes in."""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import threading
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.config import Config, ConfigError, parse_config
from edge.detect.clips import STEM_PATTERN, ClipPack
from edge.settings import PHONE_NUMBER
from edge.telemetry.client import CommandRejected

Uploader = Callable[[str, bytes], dict[str, Any]]
"""Publishes a blob in chunks and returns the transfer record (``Telemetry.upload``)."""

_PROMPT_ID = re.compile(r"^[a-z0-9_]{1,40}$")
_VERSION = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
PROTECTED_SECTIONS = frozenset({"device", "mqtt"})
"""Sections a remote patch may not touch: a typo there would cut the box off from central for good."""
MAX_PROMPT_S = 60.0


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConfigPatch(_Payload):
    """``cmd/config.patch``: a partial config merged into the running one."""

    patch: dict[str, Any] = Field(title="Patch", description="Nested keys to change.")


class ListsSync(_Payload):
    """``cmd/lists.sync`` and the retained ``shared/repeat-callers``: versioned number lists."""

    version: int = Field(
        ge=1, title="Version", description="Increases with every change; older ones are refused."
    )
    blocklist: tuple[str, ...] | None = Field(None, title="Blocklist", description="Numbers to block.")
    repeat_callers: tuple[str, ...] | None = Field(
        None, title="Repeat callers", description="Numbers with strikes at several sites."
    )


class PromptUpload(_Payload):
    """``cmd/prompt.upload``: a replacement prompt as a WAV file."""

    prompt: str = Field(title="Prompt id", description="Which prompt it replaces.")
    wav_b64: str = Field(title="WAV", description="Mono 16-bit WAV, base64.")


class ModelUpdate(_Payload):
    """``cmd/model.update``: a keyword-spotter model signed with central's ed25519 key."""

    version: str = Field(title="Version", description="Model version name.")
    model_b64: str = Field(title="Model", description="The .tflite file, base64.")
    signature_b64: str = Field(title="Signature", description="ed25519 signature of the file, base64.")


class RecordingFetch(_Payload):
    """``cmd/recording.fetch``: upload one sealed recording."""

    call_id: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,80}$", title="Call id", description="The call record id."
    )


class ClipsFetch(_Payload):
    """``cmd/clips.fetch``: upload the sealed alert clips kept after ``after``, oldest first, as one tar."""

    after: str | None = Field(
        None,
        pattern=STEM_PATTERN,
        title="After",
        description="The last clip central already has (the previous reply's `last`); none: from the oldest.",
    )
    limit: int = Field(
        200, ge=1, le=1000, title="Limit", description="Most clips in one upload (about 32 kB each)."
    )


class Reboot(_Payload):
    """``cmd/reboot``: restart the box after the reply has gone out."""

    confirm: bool = Field(title="Confirm", description="Must be true.")


def _parse(model: type[_Payload], payload: dict[str, Any]) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(payload)'}: {e['msg']}" for e in exc.errors()
        )
        raise CommandRejected(f"malformed: {problems}") from None


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CommandRejected(f"malformed: {what} is not base64") from None


def _merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _numbers(numbers: tuple[str, ...] | None, what: str) -> list[str] | None:
    if numbers is None:
        return None
    bad = [n for n in numbers if not PHONE_NUMBER.match(n)]
    if bad:
        raise CommandRejected(f"malformed: {what} holds non-numbers {bad[:3]}")
    return sorted(set(numbers))


def verify_signature(public_key: bytes, data: bytes, signature: bytes) -> None:
    """Raise CommandRejected unless ``signature`` is central's ed25519 signature of ``data``."""
    try:
        VerifyKey(public_key).verify(data, signature)
    except (BadSignatureError, ValueError, TypeError) as exc:
        raise CommandRejected(f"refused: model signature does not verify ({type(exc).__name__})") from None


class ModelSlot:
    """Model files in one folder with an atomically swapped ``current`` pointer and one step of rollback."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def current(self) -> str | None:
        """The version in use, or None before the first install."""
        return self._read("current")

    def path(self, version: str) -> Path:
        """Where a version's file lives."""
        return self.directory / f"{version}.tflite"

    def install(self, version: str, data: bytes, check: Callable[[Path], None]) -> str | None:
        """Write, ``check`` (e.g. load it), then swap; returns the previous version. A failing check swaps nothing."""
        target = self.path(version)
        tmp = target.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            check(tmp)
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise CommandRejected(f"refused: model {version} does not load: {exc}") from exc
        os.replace(tmp, target)
        previous = self.current()
        if previous and previous != version:
            self._write("previous", previous)
        self._write("current", version)
        return previous

    def rollback(self) -> str:
        """Go back to the previous version; returns it."""
        previous = self._read("previous")
        if not previous or not self.path(previous).exists():
            raise CommandRejected("refused: there is no previous model to roll back to")
        current = self.current()
        self._write("current", previous)
        if current:
            self._write("previous", current)
        return previous

    def _read(self, name: str) -> str | None:
        try:
            return (self.directory / name).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _write(self, name: str, value: str) -> None:
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "w") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / name)


class BaseCommandHandler:
    """Validates each command and calls the runtime's callables; anything refused changes nothing.

    ``apply_config`` must apply a validated Config atomically; if it raises, the old one is re-applied.
    ``install_model(version, data)`` is called only after the ed25519 signature checked out.
    """

    def __init__(
        self,
        *,
        get_config: Callable[[], Config],
        apply_config: Callable[[Config], None],
        model_public_key: bytes | None = None,
        install_model: Callable[[str, bytes], object] | None = None,
        rollback_model: Callable[[], str] | None = None,
        sync_repeat_callers: Callable[[int, list[str]], None] | None = None,
        save_prompt: Callable[[str, bytes], None] | None = None,
        read_recording: Callable[[str], bytes] | None = None,
        read_clips: Callable[[str | None, int], ClipPack] | None = None,
        reboot: Callable[[], None] | None = None,
        reboot_delay_s: float = 2.0,
    ) -> None:
        self.get_config = get_config
        self.apply_config = apply_config
        self.model_public_key = model_public_key
        self.install_model = install_model
        self.rollback_model = rollback_model
        self.sync_repeat_callers = sync_repeat_callers
        self.save_prompt = save_prompt
        self.read_recording = read_recording
        self.read_clips = read_clips
        self.reboot = reboot
        self.reboot_delay_s = reboot_delay_s
        self.uploader: Uploader | None = None
        self.lists_version = 0
        self.shared_version = 0
        self._lock = threading.Lock()
        self._table: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "config.get": self._config_get,
            "config.patch": self._config_patch,
            "calendar.set": self._calendar_set,
            "messages.set": self._messages_set,
            "lists.sync": self._lists_sync,
            "lists.shared": self._lists_shared,
            "prompt.upload": self._prompt_upload,
            "model.update": self._model_update,
            "model.rollback": self._model_rollback,
            "recording.fetch": self._recording_fetch,
            "clips.fetch": self._clips_fetch,
            "reboot": self._reboot,
        }

    def attach_uploader(self, uploader: Uploader) -> None:
        """Telemetry hands itself in here so recordings can be uploaded in chunks."""
        self.uploader = uploader

    def names(self) -> list[str]:
        """Command names understood."""
        return sorted(self._table)

    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Run one command; raises CommandRejected for anything refused."""
        action = self._table.get(name)
        if action is None:
            raise CommandRejected(f"unknown command {name!r}; known: {', '.join(self.names())}")
        with self._lock:
            return action(payload)

    # -- config -------------------------------------------------------------------------------

    def _config_get(self, payload: dict[str, Any]) -> dict[str, Any]:
        if payload:
            raise CommandRejected("malformed: config.get takes an empty object")
        return {"config": self.get_config().model_dump(mode="json")}

    def _patch(self, patch: dict[str, Any]) -> dict[str, Any]:
        touched = sorted(set(patch) & PROTECTED_SECTIONS)
        if touched:
            raise CommandRejected(f"refused: sections {touched} cannot be changed remotely")
        old = self.get_config()
        try:
            new = parse_config(_merge(old.model_dump(mode="json"), patch), "config.patch")
        except ConfigError as exc:
            raise CommandRejected("invalid: " + "; ".join(exc.problems)) from None
        try:
            self.apply_config(new)
        except Exception as exc:
            self.apply_config(old)
            raise CommandRejected(f"failed and rolled back: {type(exc).__name__}: {exc}") from exc
        return {"applied": True, "sections": sorted(patch)}

    def _config_patch(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._patch(_parse(ConfigPatch, payload).patch)

    def _calendar_set(self, payload: dict[str, Any]) -> dict[str, Any]:
        return self._patch({"calendar": payload})

    def _messages_set(self, payload: dict[str, Any]) -> dict[str, Any]:
        texts = payload.get("texts")
        if set(payload) != {"texts"} or not isinstance(texts, dict):
            raise CommandRejected("malformed: messages.set takes {'texts': {prompt_id: text}}")
        merged = {**self.get_config().prompts.texts, **texts}
        return self._patch({"prompts": {"texts": merged}})

    # -- lists --------------------------------------------------------------------------------

    def _lists_sync(self, payload: dict[str, Any]) -> dict[str, Any]:
        update: ListsSync = _parse(ListsSync, payload)
        if update.version <= self.lists_version:
            raise CommandRejected(f"stale: version {update.version} is not newer than {self.lists_version}")
        blocklist = _numbers(update.blocklist, "blocklist")
        repeat = _numbers(update.repeat_callers, "repeat_callers")
        if repeat is not None and self.sync_repeat_callers is None:
            raise CommandRejected("unsupported: this box keeps no repeat-caller list")
        if blocklist is not None:
            self._patch({"lists": {"blocklist": blocklist}})
        if repeat is not None and self.sync_repeat_callers is not None:
            self.sync_repeat_callers(update.version, repeat)
        self.lists_version = update.version
        return {
            "version": update.version,
            "blocklist": len(blocklist or []),
            "repeat_callers": len(repeat or []),
        }

    def _lists_shared(self, payload: dict[str, Any]) -> dict[str, Any]:
        update: ListsSync = _parse(ListsSync, payload)
        if update.version <= self.shared_version:
            return {"version": self.shared_version, "unchanged": True}
        repeat = _numbers(update.repeat_callers, "repeat_callers") or []
        if self.sync_repeat_callers is not None:
            self.sync_repeat_callers(update.version, repeat)
        self.shared_version = update.version
        return {"version": update.version, "repeat_callers": len(repeat)}

    # -- prompts, model, recordings, reboot ---------------------------------------------------

    def _prompt_upload(self, payload: dict[str, Any]) -> dict[str, Any]:
        upload: PromptUpload = _parse(PromptUpload, payload)
        if self.save_prompt is None:
            raise CommandRejected("unsupported: prompt upload is not wired on this box")
        if not _PROMPT_ID.match(upload.prompt):
            raise CommandRejected(f"malformed: prompt id {upload.prompt!r} (lower-case letters, digits, _)")
        data = _b64(upload.wav_b64, "wav_b64")
        try:
            with wave.open(io.BytesIO(data)) as w:
                channels, width, rate, frames = (
                    w.getnchannels(),
                    w.getsampwidth(),
                    w.getframerate(),
                    w.getnframes(),
                )
        except (wave.Error, EOFError) as exc:
            raise CommandRejected(f"malformed: not a WAV file ({exc})") from None
        if channels != 1 or width != 2:
            raise CommandRejected(
                f"malformed: prompt must be mono 16-bit, got {channels} ch x {8 * width} bit"
            )
        seconds = frames / rate if rate else 0.0
        if not 0 < seconds <= MAX_PROMPT_S:
            raise CommandRejected(f"malformed: prompt lasts {seconds:.1f} s; 0-{MAX_PROMPT_S:g} s allowed")
        self.save_prompt(upload.prompt, data)
        return {"prompt": upload.prompt, "seconds": round(seconds, 2), "rate": rate}

    def _model_update(self, payload: dict[str, Any]) -> dict[str, Any]:
        update: ModelUpdate = _parse(ModelUpdate, payload)
        if not _VERSION.match(update.version):
            raise CommandRejected(f"malformed: model version {update.version!r}")
        if self.install_model is None or self.model_public_key is None:
            raise CommandRejected("unsupported: no model key or installer on this box")
        data = _b64(update.model_b64, "model_b64")
        signature = _b64(update.signature_b64, "signature_b64")
        verify_signature(self.model_public_key, data, signature)
        self.install_model(update.version, data)
        return {"version": update.version, "bytes": len(data)}

    def _model_rollback(self, payload: dict[str, Any]) -> dict[str, Any]:
        if self.rollback_model is None:
            raise CommandRejected("unsupported: model rollback is not wired on this box")
        return {"version": self.rollback_model()}

    def _recording_fetch(self, payload: dict[str, Any]) -> dict[str, Any]:
        fetch: RecordingFetch = _parse(RecordingFetch, payload)
        if self.read_recording is None or self.uploader is None:
            raise CommandRejected("unsupported: recording fetch is not wired on this box")
        try:
            data = self.read_recording(fetch.call_id)
        except (FileNotFoundError, KeyError):
            raise CommandRejected(f"not found: no recording for call {fetch.call_id}") from None
        return self.uploader(f"{fetch.call_id}.sealed", data)

    def _clips_fetch(self, payload: dict[str, Any]) -> dict[str, Any]:
        fetch: ClipsFetch = _parse(ClipsFetch, payload)
        if self.read_clips is None or self.uploader is None:
            raise CommandRejected("unsupported: clip fetch is not wired on this box")
        try:
            pack = self.read_clips(fetch.after, fetch.limit)
        except OSError as exc:
            raise CommandRejected(f"clips not read: {exc.strerror or exc}") from None
        summary: dict[str, Any] = {
            "clips": len(pack.stems),
            "first": pack.stems[0] if pack.stems else None,
            "last": pack.stems[-1] if pack.stems else fetch.after,
            "remaining": pack.remaining,
        }
        if not pack.stems:
            return summary
        return {**self.uploader(f"clips-{pack.stems[-1]}.tar", pack.data), **summary}

    def _reboot(self, payload: dict[str, Any]) -> dict[str, Any]:
        request: Reboot = _parse(Reboot, payload)
        if not request.confirm:
            raise CommandRejected("refused: reboot needs confirm=true")
        if self.reboot is None:
            raise CommandRejected("unsupported: reboot is not wired on this box")
        # Later, so that the reply is on its way before the box goes down.
        timer = threading.Timer(self.reboot_delay_s, self.reboot)
        timer.daemon = True
        timer.start()
        return {"rebooting_in_s": self.reboot_delay_s}


class NoCommands:
    """A handler that refuses every command, for a box that only reports (``simulate --mqtt``)."""

    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Refuse, saying why."""
        raise CommandRejected(f"refused: {name} - this box only reports and takes no commands")


def describe(payload: dict[str, Any]) -> str:
    """A short log line for a command payload (no blobs)."""
    return json.dumps({k: (v if len(str(v)) < 80 else "...") for k, v in payload.items()}, ensure_ascii=False)
