"""The central receiver: stores every box's reports in order, asks boxes for anything missed, shares repeat callers."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.store import EventRow, Store
from edge.telemetry.client import RESEND_COMMAND, RESEND_LIMIT, make_client, user_properties
from edge.telemetry.settings import MqttConfig

HealthRow = tuple[str, str, str, float, dict[str, Any]]
"""A health sample to store: (id, device, site, ts, body)."""
StatusRow = tuple[str, str, str, str | None, int | None]
"""A device status to store: (device, site, state, epoch, last_seq)."""

log = logging.getLogger(__name__)

STRIKE_TYPES = frozenset({"strike"})
"""Event types that count as a strike against the number they carry (the runtime records one per cut or mark)."""
HELD_LIMIT = 100_000


@dataclass
class Stream:
    """Reassembly state of one device's event numbering (one outbox epoch)."""

    device: str
    site: str
    epoch: str
    next_seq: int
    held: dict[int, EventRow] = field(default_factory=dict)
    known_last: int = 0
    progress_at: float = field(default_factory=time.monotonic)
    asked_at: float = 0.0


@dataclass
class Counters:
    """What the receiver has seen, for the dashboard and the tests."""

    events: int = 0
    duplicates: int = 0
    resend_requests: int = 0
    health: int = 0
    malformed: int = 0
    lost: int = 0


@dataclass(frozen=True)
class RepeatRule:
    """A number is a repeat caller with strikes at ``min_sites`` sites, or ``min_strikes`` in all, within the window."""

    min_sites: int = 2
    min_strikes: int = 3
    window_days: float = 30.0


class Receiver:
    """Subscribes to every box, commits events in order per device, and publishes the shared repeat-caller list."""

    def __init__(
        self,
        settings: MqttConfig,
        store: Store,
        *,
        client_id: str = "central",
        files_dir: Path | None = None,
        stall_s: float = 1.0,
        share_interval_s: float = 5.0,
        rule: RepeatRule = RepeatRule(),
        persistent: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.prefix = settings.topic_prefix
        self.identity = settings.central_identity
        self.files_dir = files_dir
        self.stall_s = stall_s
        self.share_interval_s = share_interval_s
        self.rule = rule
        self.persistent = persistent
        self.counters = Counters()
        self.streams: dict[tuple[str, str], Stream] = {}
        self._saved = store.next_seqs()
        self._inbox: queue.SimpleQueue[mqtt.MQTTMessage] = queue.SimpleQueue()
        self._pending: dict[bytes, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._resends: dict[bytes, float] = {}
        self._uploads: dict[str, dict[int, bytes]] = defaultdict(dict)
        self.uploads: dict[str, Path] = {}
        self._sites: dict[str, str] = {}
        self._shared: tuple[str, ...] = ()
        self.shared_version = 0
        self._shared_at = 0.0
        self._stopping = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = make_client(settings, client_id)
        self._client.max_inflight_messages_set(1000)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *_a: self._connected.clear()
        self._client.on_message = lambda _c, _u, m: self._inbox.put(m)

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._connected.is_set()

    def start(self) -> None:
        """Connect (keeping the broker session across restarts) and start the worker."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        # A persistent session lets the broker queue reports while the receiver restarts.
        props.SessionExpiryInterval = 7 * 24 * 3600 if self.persistent else 0
        self._client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=not self.persistent,
            properties=props,
        )
        self._client.loop_start()
        self._thread = threading.Thread(target=self._work, name="central-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the queued messages and disconnect."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)
        self._client.disconnect()
        self._client.loop_stop()

    # -- commands to devices ------------------------------------------------------------------

    def send_command(
        self, site: str, device: str, name: str, payload: dict[str, Any], *, wait: bool = True
    ) -> bytes:
        """Publish ``cmd/<name>`` with a response topic and correlation data; returns the correlation id."""
        correlation = uuid.uuid4().hex.encode()
        if wait:
            self._pending[correlation] = (threading.Event(), [])
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.ResponseTopic = f"{self.prefix}/{site}/{device}/reply/{correlation.decode()}"
        props.CorrelationData = correlation
        props.UserProperty = [("sender", self.identity)]
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._client.publish(f"{self.prefix}/{site}/{device}/cmd/{name}", body, qos=1, properties=props)
        return correlation

    def command(
        self, site: str, device: str, name: str, payload: dict[str, Any], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Send a command and wait for the device's reply; raises TimeoutError without one."""
        correlation = self.send_command(site, device, name, payload)
        done, box = self._pending[correlation]
        if not done.wait(timeout):
            self._pending.pop(correlation, None)
            raise TimeoutError(f"{device} did not answer {name} within {timeout:g} s")
        self._pending.pop(correlation, None)
        return box[0]

    # -- paho thread --------------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("broker refused central: %s", reason)
            return
        for suffix in ("event", "health", "status", "reply/+", "upload/+"):
            client.subscribe(f"{self.prefix}/+/+/{suffix}", qos=1)
        self._connected.set()
        self._shared_at = 0.0

    # -- worker -------------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            batch = self._take_batch()
            if not batch and self._stopping.is_set():
                return
            try:
                self._process(batch)
                self._repair()
                self._share()
            except Exception:
                log.exception("central worker")
                time.sleep(0.2)

    def _take_batch(self) -> list[mqtt.MQTTMessage]:
        batch: list[mqtt.MQTTMessage] = []
        try:
            batch.append(self._inbox.get(timeout=0.1))
            while len(batch) < 5000:
                batch.append(self._inbox.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _process(self, batch: list[mqtt.MQTTMessage]) -> None:
        accepted: list[EventRow] = []
        try:
            health, statuses = self._read(batch, accepted)
            if accepted:
                touched = {(row.device, row.epoch) for row in accepted}
                self.store.commit_events(accepted, {key: self.streams[key].next_seq for key in touched})
        except Exception:
            # Whatever failed (central's disk full, a reply's write), the events taken from this batch were
            # not stored: forget we saw them, so they are asked for again.
            self._rewind(accepted)
            raise
        self.counters.events += len(accepted)
        for status in statuses:
            self.store.set_status(*status)
        if health:
            self.store.add_health(health)
            self.counters.health += len(health)

    def _read(
        self, batch: list[mqtt.MQTTMessage], accepted: list[EventRow]
    ) -> tuple[list[HealthRow], list[StatusRow]]:
        """Take a batch's events into ``accepted``; its health samples and statuses, to store after them."""
        health: list[HealthRow] = []
        statuses: list[StatusRow] = []
        for message in batch:
            parts = message.topic.split("/")
            if len(parts) < 4 or parts[0] != self.prefix:
                continue
            site, device, kind = parts[1], parts[2], parts[3]
            if kind == "upload":
                self._upload_chunk(device, parts, message)
                continue
            try:
                data = json.loads(message.payload)
                if not isinstance(data, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.counters.malformed += 1
                continue
            if kind == "event":
                self._event(site, device, data, accepted)
            elif kind == "health":
                self._sites[device] = site
                body = data.get("health")
                if isinstance(body, dict) and isinstance(data.get("id"), str):
                    health.append((data["id"], device, site, float(data.get("ts", time.time())), body))
                    self._note_last(device, site, body.get("epoch"), body.get("last_seq"))
            elif kind == "status":
                self._sites[device] = site
                state = str(data.get("state", "unknown"))
                epoch, last = data.get("epoch"), data.get("last_seq")
                epoch = epoch if isinstance(epoch, str) else None
                last = last if isinstance(last, int) else None
                statuses.append((device, site, state, epoch, last))
                self._note_last(device, site, epoch, last)
            elif kind == "reply":
                self._reply(device, message, data)
        return health, statuses

    def _rewind(self, accepted: list[EventRow]) -> None:
        """Events taken but not stored: each stream back to its first such event, as if never received."""
        first: dict[tuple[str, str], int] = {}
        for row in accepted:
            key = (row.device, row.epoch)
            first[key] = min(first.get(key, row.seq), row.seq)
        for key, seq in first.items():
            stream = self.streams[key]
            stream.known_last = max(stream.known_last, stream.next_seq - 1)
            stream.next_seq = seq
            stream.held.clear()
            stream.progress_at = 0.0

    def _stream(self, device: str, site: str, epoch: str) -> Stream:
        key = (device, epoch)
        stream = self.streams.get(key)
        if stream is None:
            stream = Stream(device, site, epoch, self._saved.get(key, 1))
            self.streams[key] = stream
        return stream

    def _event(
        self,
        site: str,
        device: str,
        data: dict[str, Any],
        accepted: list[EventRow],
    ) -> None:
        epoch, seq, body = data.get("epoch"), data.get("seq"), data.get("event")
        if not isinstance(epoch, str) or not isinstance(seq, int) or not isinstance(body, dict):
            self.counters.malformed += 1
            return
        self._sites[device] = site
        stream = self._stream(device, site, epoch)
        if seq < stream.next_seq or seq in stream.held:
            self.counters.duplicates += 1
            return
        row = EventRow(device, site, epoch, seq, float(data.get("ts", 0.0)), body)
        if seq > stream.next_seq:
            if len(stream.held) < HELD_LIMIT:
                stream.held[seq] = row
            return
        accepted.append(row)
        stream.next_seq += 1
        while stream.next_seq in stream.held:
            accepted.append(stream.held.pop(stream.next_seq))
            stream.next_seq += 1
        stream.progress_at = time.monotonic()

    def _note_last(self, device: str, site: str, epoch: Any, last: Any) -> None:
        if isinstance(epoch, str) and isinstance(last, int):
            stream = self._stream(device, site, epoch)
            stream.known_last = max(stream.known_last, last)

    def _repair(self) -> None:
        """Ask a device again for events when its stream has been stuck behind a gap for ``stall_s``."""
        if not self.connected:
            return
        now = time.monotonic()
        for correlation, asked in list(self._resends.items()):
            if now - asked > 60:  # the box never answered (offline); a new request will follow
                del self._resends[correlation]
        for stream in self.streams.values():
            wanted_to = min(stream.held) - 1 if stream.held else stream.known_last
            if wanted_to < stream.next_seq:
                continue
            if now - stream.progress_at < self.stall_s or now - stream.asked_at < self.stall_s:
                continue
            last = min(wanted_to, stream.next_seq + RESEND_LIMIT - 1)
            payload = {"epoch": stream.epoch, "first": stream.next_seq, "last": last}
            correlation = self.send_command(stream.site, stream.device, RESEND_COMMAND, payload, wait=False)
            self._resends[correlation] = now
            stream.asked_at = now
            self.counters.resend_requests += 1

    def _reply(self, device: str, message: mqtt.MQTTMessage, data: dict[str, Any]) -> None:
        correlation = bytes(getattr(message.properties, "CorrelationData", None) or b"")
        if self._resends.pop(correlation, None) is not None:
            result = data.get("result")
            if isinstance(result, dict):
                self._after_resend(device, result)
            return
        entry = self._pending.get(correlation)
        if entry is not None:
            done, box = entry
            box.append(data)
            done.set()

    def _after_resend(self, device: str, result: dict[str, Any]) -> None:
        epoch, first = result.get("epoch"), result.get("first_available")
        if not isinstance(epoch, str) or not isinstance(first, int):
            return
        stream = self.streams.get((device, epoch))
        if stream is not None and first > stream.next_seq:
            # The box pruned these before we asked: record the loss instead of waiting forever.
            self.store.note_loss(device, epoch, stream.next_seq, first - 1)
            self.counters.lost += first - stream.next_seq
            stream.next_seq = first
            for seq in sorted(s for s in stream.held if s < first):
                del stream.held[seq]
            self.store.commit_events([], {(device, epoch): first})

    def _upload_chunk(self, device: str, parts: list[str], message: mqtt.MQTTMessage) -> None:
        if len(parts) != 5:
            return
        transfer = parts[4]
        props = user_properties(message.properties)
        try:
            index, total, name = int(props["chunk"]), int(props["chunks"]), Path(props["name"]).name
        except (KeyError, ValueError):
            self.counters.malformed += 1
            return
        chunks = self._uploads[transfer]
        chunks[index] = bytes(message.payload)
        if len(chunks) == total and self.files_dir is not None:
            target = self.files_dir / device / f"{transfer}-{name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"".join(chunks[i] for i in range(total)))
            self.uploads[transfer] = target
            del self._uploads[transfer]

    # -- repeat callers -----------------------------------------------------------------------

    def repeat_callers(self) -> list[str]:
        """Numbers that meet the repeat rule across all sites."""
        since = time.time() - self.rule.window_days * 86400
        marks = ",".join("?" * len(STRIKE_TYPES))
        rows = self.store.query(
            f"SELECT site, body FROM events WHERE ts >= ? AND type IN ({marks})",
            [since, *sorted(STRIKE_TYPES)],
        )
        sites: dict[str, set[str]] = defaultdict(set)
        strikes: dict[str, int] = defaultdict(int)
        for site, body in rows:
            event = json.loads(body)
            number = event.get("caller") or event.get("number")
            if isinstance(number, str) and number:
                sites[number].add(site)
                strikes[number] += 1
        return sorted(
            n for n in strikes if len(sites[n]) >= self.rule.min_sites or strikes[n] >= self.rule.min_strikes
        )

    def _share(self) -> None:
        now = time.monotonic()
        if not self.connected or now - self._shared_at < self.share_interval_s:
            return
        self._shared_at = now
        numbers = tuple(self.repeat_callers())
        if numbers == self._shared and self.shared_version:
            return
        self._shared = numbers
        self.shared_version = max(self.shared_version + 1, int(time.time() * 1000))
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.UserProperty = [("sender", self.identity)]
        body = json.dumps({"version": self.shared_version, "repeat_callers": list(numbers)}).encode()
        self._client.publish(
            f"{self.prefix}/shared/repeat-callers", body, qos=1, retain=True, properties=props
        )
