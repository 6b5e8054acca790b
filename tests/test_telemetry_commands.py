"""Central's commands end to end over MQTT 5 request/response: config, lists, recordings, shared repeat callers."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from central.receiver import Receiver
from edge.detect.clips import SealedClipSink, source_clips
from edge.record.seal import generate_keypair
from tests.mqtt_support.box import Box
from tests.mqtt_support.box import box as box
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import wait_for


def _cmd(receiver: Receiver, name: str, payload: dict[str, object]) -> dict[str, object]:
    return receiver.command("site-a", "lg-a", name, payload)


def test_config_get_and_patch_apply_validated_changes(box: Box, receiver: Receiver) -> None:
    got = _cmd(receiver, "config.get", {})
    assert got["ok"] is True and got["result"]["config"]["escalation"]["warnings_before_cut"] == 1  # type: ignore[index]

    ok = _cmd(receiver, "config.patch", {"patch": {"escalation": {"warnings_before_cut": 2}}})
    assert ok["ok"] is True and box.config.escalation.warnings_before_cut == 2


def test_bad_patches_are_refused_and_change_nothing(box: Box, receiver: Receiver) -> None:
    before = box.config
    invalid = _cmd(receiver, "config.patch", {"patch": {"escalation": {"warnings_before_cut": 99}}})
    unknown = _cmd(receiver, "config.patch", {"patch": {"escalation": {"nonsense": 1}}})
    identity = _cmd(receiver, "config.patch", {"patch": {"device": {"id": "lg-zzz"}}})
    shape = _cmd(receiver, "config.patch", {"patches": {}})
    assert [r["ok"] for r in (invalid, unknown, identity, shape)] == [False] * 4
    assert "warnings_before_cut" in str(invalid["error"]) and "unknown key" in str(unknown["error"])
    assert "cannot be changed remotely" in str(identity["error"]) and "malformed" in str(shape["error"])
    assert box.config is before and box.applied == []


def test_a_patch_that_fails_while_applying_is_rolled_back(box: Box, receiver: Receiver) -> None:
    before = box.config
    failed = _cmd(receiver, "config.patch", {"patch": {"escalation": {"warnings_before_cut": 4}}})
    assert failed["ok"] is False and "rolled back" in str(failed["error"])
    assert box.config == before and box.applied[-1] == before


def test_lists_sync_is_versioned_and_validated(box: Box, receiver: Receiver) -> None:
    first = _cmd(
        receiver, "lists.sync", {"version": 3, "blocklist": ["0212345678"], "repeat_callers": ["0101"]}
    )
    assert first["ok"] is True and box.config.lists.blocklist == ("0212345678",)
    stale = _cmd(receiver, "lists.sync", {"version": 2, "blocklist": []})
    garbage = _cmd(receiver, "lists.sync", {"version": 4, "blocklist": ["call me"]})
    assert stale["ok"] is False and "stale" in str(stale["error"])
    assert garbage["ok"] is False and box.config.lists.blocklist == ("0212345678",)
    assert box.shared[-1] == (3, ["0101"])


def test_calendar_and_messages_updates(box: Box, receiver: Receiver) -> None:
    cal = _cmd(receiver, "calendar.set", {"holidays": ["2026-12-25"], "lunch": {"enabled": False}})
    msg = _cmd(receiver, "messages.set", {"texts": {"lunch": "점심시간입니다."}})
    assert cal["ok"] is True and msg["ok"] is True
    assert [str(d) for d in box.config.calendar.holidays] == [
        "2026-12-25"
    ] and not box.config.calendar.lunch.enabled
    assert box.config.prompts.texts["lunch"] == "점심시간입니다."


def test_unknown_and_malformed_commands_get_error_replies(box: Box, receiver: Receiver) -> None:
    unknown = _cmd(receiver, "format.disk", {})
    not_wav = _cmd(
        receiver, "prompt.upload", {"prompt": "lunch", "wav_b64": base64.b64encode(b"RIFFjunk").decode()}
    )
    no_confirm = _cmd(receiver, "reboot", {"confirm": False})
    assert "unknown command" in str(unknown["error"]) and "not a WAV" in str(not_wav["error"])
    assert no_confirm["ok"] is False and box.applied == []


def test_prompt_upload_checks_the_wav_and_recording_fetch_uploads_in_chunks(
    box: Box, receiver: Receiver, tmp_path: Path
) -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 8000)
    up = _cmd(
        receiver, "prompt.upload", {"prompt": "lunch", "wav_b64": base64.b64encode(buf.getvalue()).decode()}
    )
    assert up["ok"] is True and up["result"]["seconds"] == 1.0 and box.prompts == ["lunch"]  # type: ignore[index]

    sealed = bytes(range(256)) * 1000  # 256 kB: four 64 kB chunks
    (tmp_path / "lg-a" / "call-42.lgrec").write_bytes(sealed)
    fetched = _cmd(receiver, "recording.fetch", {"call_id": "call-42"})
    assert fetched["ok"] is True, fetched
    result = fetched["result"]
    assert result["chunks"] == 4 and result["sha256"] == hashlib.sha256(sealed).hexdigest()  # type: ignore[index]
    wait_for(lambda: result["transfer"] in receiver.uploads, 5, "upload not assembled")  # type: ignore[index]
    assert receiver.uploads[result["transfer"]].read_bytes() == sealed  # type: ignore[index]
    missing = _cmd(receiver, "recording.fetch", {"call_id": "call-404"})
    assert missing["ok"] is False and "not found" in str(missing["error"])


def test_clips_fetch_uploads_the_sealed_clips_page_by_page(
    box: Box, receiver: Receiver, tmp_path: Path
) -> None:
    pair = generate_keypair(tmp_path / "keys")
    sink = SealedClipSink(tmp_path / "lg-a", str(pair.public_path), lambda *a: None)
    for i in range(3):
        sink.save(
            np.full(16000, i, np.int16), {"keyword": "ssibal", "category": "profanity", "label": "confirmed"}
        )
        time.sleep(0.002)
    first = _cmd(receiver, "clips.fetch", {"limit": 2})
    assert first["ok"] is True, first
    page = first["result"]
    assert page["clips"] == 2 and page["remaining"] == 1  # type: ignore[index]
    wait_for(lambda: page["transfer"] in receiver.uploads, 5, "upload not assembled")  # type: ignore[index]
    got = source_clips(receiver.uploads[page["transfer"]])  # type: ignore[index]
    assert [c.stem for c in got] == [page["first"], page["last"]]  # type: ignore[index]
    assert all(c.label == {"keyword": "ssibal", "category": "profanity", "label": "confirmed"} for c in got)
    second = _cmd(receiver, "clips.fetch", {"after": page["last"]})  # type: ignore[index]
    assert second["result"]["clips"] == 1 and second["result"]["remaining"] == 0  # type: ignore[index]
    done = _cmd(receiver, "clips.fetch", {"after": second["result"]["last"]})  # type: ignore[index]
    assert done["result"] == {"clips": 0, "first": None, "last": second["result"]["last"], "remaining": 0}  # type: ignore[index]
    bad = _cmd(receiver, "clips.fetch", {"after": "../../etc/passwd"})
    assert bad["ok"] is False and box.handled.count("clips.fetch") == 4


def test_a_duplicate_command_is_answered_again_but_run_once(
    box: Box, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies: list[bytes] = []
    correlation = receiver.send_command("site-a", "lg-a", "lists.sync", {"version": 7, "blocklist": ["0299"]})
    receiver._pending.pop(correlation)  # answer collected below instead
    wait_for(lambda: box.telemetry.commands.lists_version == 7, 5, "first run missing")  # type: ignore[attr-defined]
    box.config = box.config.model_copy(
        update={"lists": box.config.lists.model_copy(update={"blocklist": ()})}
    )
    # Same correlation data again, as a QoS 1 redelivery would bring it.
    dispatch = box.telemetry._dispatch
    from paho.mqtt.client import MQTTMessage
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    message = MQTTMessage(topic=b"lineguard/site-a/lg-a/cmd/lists.sync")
    message.payload = json.dumps({"version": 7, "blocklist": ["0299"]}).encode()
    message.properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    message.properties.CorrelationData = correlation
    message.properties.ResponseTopic = "lineguard/site-a/lg-a/reply/dup"
    message.properties.UserProperty = [("sender", "central")]
    monkeypatch.setattr(box.telemetry._client, "publish", lambda topic, body, **_k: replies.append(body))
    dispatch(message)
    assert json.loads(replies[0])["ok"] is True
    assert box.config.lists.blocklist == ()  # not applied a second time


def test_repeat_callers_across_sites_reach_every_box(box: Box, receiver: Receiver) -> None:
    receiver.share_interval_s = 0.2
    now = time.time()
    cut = {"type": "strike", "number": "01012345678", "basis": "abuse.insult", "strikes": 1}
    from central.store import EventRow

    rows = [EventRow("lg-x", "site-x", "e1", 1, now, cut), EventRow("lg-y", "site-y", "e2", 1, now, cut)]
    rows.append(EventRow("lg-y", "site-y", "e2", 2, now, {**cut, "caller": "0299999999"}))
    receiver.store.commit_events(rows, {})
    assert receiver.repeat_callers() == ["01012345678"]
    wait_for(
        lambda: box.shared and box.shared[-1][1] == ["01012345678"],
        10,
        f"shared list not received: {box.shared}",
    )


def test_a_reporting_only_box_refuses_every_command() -> None:
    from edge.telemetry.client import CommandRejected
    from edge.telemetry.commands import NoCommands

    with pytest.raises(CommandRejected, match="takes no commands"):
        NoCommands().handle("reboot", {"confirm": True})


def test_reboot_happens_after_the_reply_and_only_when_confirmed() -> None:
    import threading

    from edge.config import default_config
    from edge.telemetry.client import CommandRejected
    from edge.telemetry.commands import BaseCommandHandler

    rebooted = threading.Event()
    config = default_config()
    handler = BaseCommandHandler(
        get_config=lambda: config, apply_config=lambda c: None, reboot=rebooted.set, reboot_delay_s=0.2
    )
    with pytest.raises(CommandRejected, match="confirm"):
        handler.handle("reboot", {"confirm": False})
    assert handler.handle("reboot", {"confirm": True}) == {"rebooting_in_s": 0.2}
    assert not rebooted.is_set()  # not yet: the reply goes out first
    assert rebooted.wait(2)
