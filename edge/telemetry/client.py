"""The device's MQTT client: outbox sender, retained status with last will, commands with correlated replies."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import sqlite3
import ssl
import threading
import time
import uuid
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge import __version__
from edge.telemetry.outbox import Kind, Outbox, OutboxError, Row
from edge.telemetry.settings import MqttConfig

log = logging.getLogger(__name__)

RESEND_COMMAND = "outbox.resend"
"""Internal command: central asks for events it missed (``{"first": n, "last": m}``)."""
RESEND_LIMIT = 2000
UPLOAD_CHUNK = 64 * 1024
_OVERFLOW_LIMIT = 10000


class CommandRejected(Exception):  # noqa: N818 (the name the runtime API promises)
    """A command refused on purpose; its message goes back to central in the error reply."""


class CommandHandler(Protocol):
    """What executes central's commands; returns the reply's ``result``."""

    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]: ...


def topic_base(prefix: str, site: str, device: str) -> str:
    """``<prefix>/<site>/<device>``: every topic of one box starts with it."""
    return f"{prefix}/{site}/{device}"


def make_client(settings: MqttConfig, client_id: str) -> mqtt.Client:
    """A paho MQTT 5 client with the TLS identity and credentials of ``settings``."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        reconnect_on_failure=True,
    )
    if settings.tls:
        try:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"the MQTT TLS files cannot be used ({settings.cert_file}, {settings.ca_file}): {exc}"
            ) from None
    if settings.username:
        client.username_pw_set(settings.username, settings.password)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    return client


def user_properties(props: Properties | None) -> dict[str, str]:
    """MQTT 5 user properties as a dict (last one wins)."""
    pairs = getattr(props, "UserProperty", None) or []
    return {str(k): str(v) for k, v in pairs}


class Telemetry:
    """Publishes events and health through the durable outbox and answers central's commands.

    Raises ValueError for unusable TLS files and OutboxError when no outbox file can be opened at all.
    Nothing here blocks the caller on the network: ``publish_event`` returns once the row is in the
    outbox file; a sender thread hands rows to paho in order and marks them sent on PUBACK.
    """

    def __init__(
        self,
        settings: MqttConfig,
        device_id: str,
        site: str,
        data_dir: Path,
        commands: CommandHandler,
    ) -> None:
        self.settings = settings
        self.device_id = device_id
        self.site = site
        self.base = topic_base(settings.topic_prefix, site, device_id)
        self.commands = commands
        self.outbox = Outbox(
            data_dir / "outbox.db",
            max_bytes=int(settings.outbox_max_mb * 1024 * 1024),
            keep_sent=settings.outbox_keep_sent,
            synchronous=settings.outbox_synchronous,
        )
        self.last_error: str | None = (
            f"outbox was unreadable; kept aside as {self.outbox.set_aside}" if self.outbox.set_aside else None
        )
        self.dropped_events = 0
        """Events lost because the disk was unusable and the memory reserve ran over (should stay 0)."""
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._acks: queue.SimpleQueue[tuple[int, int, str]] = queue.SimpleQueue()
        self._inflight: dict[int, int] = {}
        self._cursor = 0
        self._overflow: deque[tuple[Kind, str, dict[str, Any]]] = deque()
        self._overflow_lock = threading.Lock()
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(maxsize=64)
        self._replies: OrderedDict[bytes, bytes] = OrderedDict()
        self._threads: list[threading.Thread] = []
        self._client = make_client(settings, device_id)
        self._client.max_inflight_messages_set(settings.inflight_window)
        self._client.will_set(self.base + "/status", self._status("offline"), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        attach = getattr(commands, "attach_uploader", None)
        if callable(attach):
            attach(self.upload)

    # -- public API ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up right now."""
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background (retrying forever) and start the sender and command threads."""
        self._client.connect_async(
            self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s
        )
        self._client.loop_start()
        for name, target in (("mqtt-sender", self._send_loop), ("mqtt-commands", self._command_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline, disconnect and stop the threads; undelivered rows stay in the outbox."""
        self._stopping.set()
        self._wake.set()
        with contextlib.suppress(queue.Full):
            self._inbox.put_nowait(None)
        for thread in self._threads:
            thread.join(timeout)
        if self.connected:
            info = self._client.publish(self.base + "/status", self._status("offline"), qos=1, retain=True)
            deadline = time.monotonic() + timeout
            while not info.is_published() and self.connected and time.monotonic() < deadline:
                time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()
        self._settle()
        self.outbox.close()

    def publish_event(self, event: dict[str, Any]) -> None:
        """Store one event durably; it is published in order as soon as the broker can take it."""
        self._store("event", self.base + "/event", event)

    def publish_health(self, health: dict[str, Any]) -> None:
        """Store one health sample (the outbox drops the oldest samples first when disk runs short)."""
        sample = {
            "outbox_depth": self.outbox_depth(),
            "connected": self.connected,
            "epoch": self.outbox.epoch,
            "last_seq": self._last_seq(),
            "last_error": self.last_error,
            **health,
        }
        self._store("health", self.base + "/health", sample)

    @classmethod
    def from_url(
        cls, url: str, device_id: str, site: str, data_dir: Path, commands: CommandHandler | None = None
    ) -> Telemetry:
        """A Telemetry for ``mqtt://`` / ``mqtts://...?ca=&cert=&key=`` (``simulate --mqtt``); refuses commands
        unless a handler is given. Raises ValueError for a bad URL or unusable TLS files."""
        from edge.telemetry.commands import NoCommands

        return cls(MqttConfig.from_url(url), device_id, site, data_dir, commands or NoCommands())

    def close(self, timeout: float = 10.0) -> bool:
        """Wait up to ``timeout`` for the broker to take everything, then stop; False if some is left over."""
        drained = self.flush(timeout) if self._threads else False
        self.stop()
        return drained

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the broker has acknowledged everything stored (e.g. before a simulation exits)."""
        deadline = time.monotonic() + timeout
        while self.outbox_depth():
            if time.monotonic() > deadline:
                return False
            self._wake.set()
            time.sleep(0.02)
        return True

    def outbox_depth(self) -> int:
        """Reports written but not yet acknowledged by the broker (including any held in memory)."""
        try:
            stored = self.outbox.depth()
        except sqlite3.Error:  # closed or broken file: what is in memory is all we can count
            stored = 0
        return stored + len(self._overflow)

    def _last_seq(self) -> int | None:
        try:
            return self.outbox.last_seq()
        except sqlite3.Error:
            return None

    def upload(self, name: str, data: bytes, timeout: float = 120.0) -> dict[str, Any]:
        """Publish ``data`` in QoS 1 chunks on ``<base>/upload/<transfer>``; returns the transfer record."""
        transfer = uuid.uuid4().hex[:16]
        topic = f"{self.base}/upload/{transfer}"
        chunks = max(1, -(-len(data) // UPLOAD_CHUNK))
        deadline = time.monotonic() + timeout
        for index in range(chunks):
            props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            props.UserProperty = [("name", name), ("chunk", str(index)), ("chunks", str(chunks))]
            part = data[index * UPLOAD_CHUNK : (index + 1) * UPLOAD_CHUNK]
            info = self._client.publish(topic, part, qos=1, properties=props)
            # One chunk in flight at a time keeps memory flat and the order obvious on the receiving side.
            while not info.is_published():
                if time.monotonic() > deadline or self._stopping.is_set():
                    raise CommandRejected(f"upload of {name} timed out after chunk {index} of {chunks}")
                time.sleep(0.005)
        return {
            "transfer": transfer,
            "topic": topic,
            "name": name,
            "size": len(data),
            "chunks": chunks,
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    # -- storing --------------------------------------------------------------------------------

    def _store(self, kind: Kind, topic: str, body: dict[str, Any]) -> None:
        with self._overflow_lock:
            self._drain_overflow_locked()
            if not self._overflow:
                try:
                    self.outbox.add(kind, topic, body)
                except OutboxError as exc:
                    # Disk full or broken: hold reports in memory (bounded) so calls go on; retried later.
                    self.last_error = f"outbox unavailable, holding reports in memory: {exc}"
                    log.error("%s", self.last_error)
                else:
                    self._wake.set()
                    return
            if len(self._overflow) >= _OVERFLOW_LIMIT:
                victim = next((i for i, item in enumerate(self._overflow) if item[0] == "health"), 0)
                if self._overflow[victim][0] == "event":
                    self.dropped_events += 1
                del self._overflow[victim]
            self._overflow.append((kind, topic, body))

    def _drain_overflow_locked(self) -> None:
        while self._overflow:
            kind, topic, body = self._overflow[0]
            try:
                self.outbox.add(kind, topic, body)
            except OutboxError:
                return
            self._overflow.popleft()
        self._wake.set()

    # -- sending --------------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                self._settle()
                if self._overflow:
                    with self._overflow_lock:
                        self._drain_overflow_locked()
                self._fill_window()
            except Exception as exc:
                self.last_error = f"sender: {type(exc).__name__}: {exc}"
                log.exception("telemetry sender")
                time.sleep(0.5)

    def _fill_window(self) -> None:
        room = self.settings.inflight_window - len(self._inflight)
        if room <= 0 or not self.connected:
            return
        for row in self.outbox.pending(self._cursor, room):
            info = self._client.publish(row.topic, self._envelope(row), qos=1)
            self._inflight[info.mid] = row.id
            self._cursor = row.id

    def _envelope(self, row: Row) -> bytes:
        return row.envelope(self.outbox.epoch, self.device_id, self.site)

    def _settle(self) -> None:
        sent: list[int] = []
        refused: list[tuple[int, str]] = []
        while True:
            try:
                mid, code, reason = self._acks.get_nowait()
            except queue.Empty:
                break
            row_id = self._inflight.pop(mid, None)
            if row_id is None:
                continue
            if code >= 0x80:
                refused.append((row_id, reason))
                self.last_error = f"broker refused a report: {reason}"
            else:
                sent.append(row_id)
        self.outbox.settle(sent, refused)

    # -- paho callbacks (network thread: hand work over, never block) ---------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.last_error = f"broker refused the connection: {reason}"
            return
        client.publish(self.base + "/status", self._status("online"), qos=1, retain=True)
        client.subscribe(self.base + "/cmd/+", qos=1)
        client.subscribe(f"{self.settings.topic_prefix}/shared/+", qos=1)
        self._connected.set()
        self._wake.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            self.last_error = f"broker connection lost: {reason}"

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        self._acks.put((mid, int(getattr(reason, "value", 0)), str(reason)))
        self._wake.set()

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._inbox.put_nowait(message)
        except queue.Full:
            self._reply(message, {"ok": False, "error": "busy: too many commands waiting, try again"})

    # -- commands -------------------------------------------------------------------------------

    def _command_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if message is None:  # stop() wants us out now
                return
            try:
                self._dispatch(message)
            except Exception as exc:
                self.last_error = f"command: {type(exc).__name__}: {exc}"
                log.exception("telemetry command")

    def _dispatch(self, message: mqtt.MQTTMessage) -> None:
        sender = user_properties(message.properties).get("sender")
        if message.topic.startswith(f"{self.settings.topic_prefix}/shared/"):
            if sender != self.settings.central_identity:
                self.last_error = f"ignored {message.topic} from {sender!r}"
                return
            try:
                payload = json.loads(message.payload)
                if isinstance(payload, dict):
                    self.commands.handle("lists.shared", payload)
            except (ValueError, CommandRejected) as exc:
                self.last_error = f"shared list refused: {exc}"
            return
        name = message.topic.rsplit("/", 1)[-1]
        correlation = getattr(message.properties, "CorrelationData", None) or b""
        if correlation and correlation in self._replies:
            # A QoS 1 duplicate: answer again without doing the work twice.
            self._reply(message, self._replies[correlation], encoded=True)
            return
        reply = self._execute(name, sender, bytes(message.payload))
        encoded = json.dumps(reply, ensure_ascii=False, default=str).encode()
        if correlation:
            self._replies[correlation] = encoded
            while len(self._replies) > 256:
                self._replies.popitem(last=False)
        self._reply(message, encoded, encoded=True)

    def _execute(self, name: str, sender: str | None, raw: bytes) -> dict[str, Any]:
        if sender != self.settings.central_identity:
            return {
                "ok": False,
                "command": name,
                "error": f"unauthorised: commands come only from central, not {sender!r}",
            }
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return {"ok": False, "command": name, "error": "malformed: payload is not JSON"}
        if not isinstance(payload, dict):
            return {"ok": False, "command": name, "error": "malformed: payload must be a JSON object"}
        try:
            result = self._resend(payload) if name == RESEND_COMMAND else self.commands.handle(name, payload)
        except CommandRejected as exc:
            return {"ok": False, "command": name, "error": str(exc)}
        except Exception as exc:
            log.exception("command %s", name)
            return {"ok": False, "command": name, "error": f"internal error: {type(exc).__name__}: {exc}"}
        return {"ok": True, "command": name, "result": result}

    def _resend(self, payload: dict[str, Any]) -> dict[str, Any]:
        first, last = payload.get("first"), payload.get("last")
        if not isinstance(first, int) or not isinstance(last, int) or first < 1 or last < first:
            raise CommandRejected("malformed: first and last must be whole numbers with 1 <= first <= last")
        if payload.get("epoch") not in (None, self.outbox.epoch):
            raise CommandRejected(
                f"epoch {payload.get('epoch')!r} is not this outbox's ({self.outbox.epoch})"
            )
        rows = self.outbox.events(first, last, RESEND_LIMIT)
        for row in rows:
            self._client.publish(row.topic, self._envelope(row), qos=1)
        return {
            "epoch": self.outbox.epoch,
            "resent": len(rows),
            "first_available": self.outbox.first_seq(),
            "last_seq": self._last_seq(),
        }

    def _reply(self, message: mqtt.MQTTMessage, reply: dict[str, Any] | bytes, encoded: bool = False) -> None:
        topic = getattr(message.properties, "ResponseTopic", None)
        if not topic or not str(topic).startswith(self.base + "/reply/"):
            # The ACL would refuse a reply anywhere else; say so locally instead.
            self.last_error = f"command on {message.topic} had no usable response topic ({topic!r})"
            return
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        correlation = getattr(message.properties, "CorrelationData", None)
        if correlation:
            props.CorrelationData = correlation
        props.UserProperty = [("sender", self.device_id)]
        body = (
            reply if encoded and isinstance(reply, bytes) else json.dumps(reply, ensure_ascii=False).encode()
        )
        self._client.publish(str(topic), body, qos=1, properties=props)

    def _status(self, state: str) -> bytes:
        status: dict[str, Any] = {
            "state": state,
            "device": self.device_id,
            "site": self.site,
            "ts": time.time(),
            "version": __version__,
        }
        if state == "online":
            # Lets central notice events it never got even when no later event arrives to show the gap.
            status.update(epoch=self.outbox.epoch, last_seq=self._last_seq())
        return json.dumps(status).encode()
