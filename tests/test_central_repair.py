"""Central asks boxes again for events the broker acknowledged but never passed on, and records real losses."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.client import MQTTMessage

from central.receiver import Receiver
from central.store import Store
from edge.telemetry.client import Telemetry
from tests.mqtt_support import Broker
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import wait_for


class _Quiet:
    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}


@pytest.mark.parametrize("keep_sent", [1000, 0], ids=["kept", "pruned"])
def test_events_sent_while_central_had_no_session_are_recovered_or_recorded_lost(
    tmp_path: Path, broker: Broker, keep_sent: int
) -> None:
    tele = Telemetry(
        broker.settings("lg-a", outbox_keep_sent=keep_sent), "lg-a", "site-a", tmp_path / "box", _Quiet()
    )
    tele.start()
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    receiver = Receiver(broker.settings("central"), store, stall_s=0.3)
    try:
        wait_for(lambda: tele.connected, 10, "box did not connect")
        for n in range(1, 6):
            tele.publish_event({"type": "test", "n": n})
        wait_for(lambda: tele.outbox_depth() == 0, 10, "broker did not acknowledge")
        tele.outbox.prune()
        # Central was not subscribed: the broker acknowledged five events nobody received.
        receiver.start()
        wait_for(lambda: receiver.connected, 10, "central did not connect")
        # Reconnecting makes the box announce last_seq=5 in its retained status.
        tele._client.reconnect()
        if keep_sent:
            wait_for(lambda: receiver.counters.events == 5, 10, "missed events not resent")
            assert receiver.counters.resend_requests >= 1 and receiver.counters.lost == 0
        else:
            wait_for(lambda: receiver.counters.lost == 5, 10, "loss not recorded")
            assert store.query("SELECT first_seq, last_seq FROM losses") == [(1, 5)]
        tele.publish_event({"type": "test", "n": 6})
        wait_for(
            lambda: store.query("SELECT max(seq) FROM events")[0][0] == 6, 10, "stream stuck after repair"
        )
        time.sleep(0.2)
    finally:
        tele.stop()
        receiver.stop()
    seqs = [r[0] for r in store.query("SELECT seq FROM events ORDER BY rowid")]
    assert seqs == ([1, 2, 3, 4, 5, 6] if keep_sent else [6])
    store.close()


def test_events_central_could_not_store_are_asked_for_again(
    tmp_path: Path, broker: Broker, receiver: Receiver
) -> None:
    tele = Telemetry(broker.settings("lg-a"), "lg-a", "site-a", tmp_path / "box", _Quiet())
    tele.start()
    try:
        wait_for(lambda: tele.connected, 10, "box did not connect")
        tele.publish_event({"n": 1})
        wait_for(lambda: receiver.counters.events == 1, 10, "first event not stored")
        with receiver.store._lock:  # the receiver's worker uses the same connection
            receiver.store._db.execute("PRAGMA query_only=1")  # refuses writes, as on a full disk
        for n in range(2, 6):
            tele.publish_event({"n": n})
        assert tele.flush(10)
        time.sleep(0.5)
        assert receiver.counters.events == 1
        with receiver.store._lock:
            receiver.store._db.execute("PRAGMA query_only=0")
        wait_for(lambda: receiver.counters.events == 5, 10, "events not asked for again")
    finally:
        tele.stop()
    assert [r[0] for r in receiver.store.query("SELECT seq FROM events ORDER BY rowid")] == [1, 2, 3, 4, 5]


def _message(topic: str, body: dict[str, Any]) -> MQTTMessage:
    message = MQTTMessage(topic=topic.encode())
    message.payload = json.dumps(body).encode()
    return message


def test_a_write_that_fails_after_events_were_taken_leaves_them_to_be_asked_for_again(
    tmp_path: Path, broker: Broker
) -> None:
    # The box's retained status can arrive in the same batch as events; when central's disk refuses the
    # status write, the events taken before it in that batch were not stored either and must stay wanted.
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    receiver = Receiver(broker.settings("central"), store, stall_s=0.5)
    base = f"{receiver.prefix}/site-a/lg-a"
    event = {"epoch": "e1", "seq": 1, "ts": 1.0, "event": {"type": "test"}}
    status = {"state": "online", "epoch": "e1", "last_seq": 2}
    with store._lock:
        store._db.execute("PRAGMA query_only=1")
    with pytest.raises(sqlite3.OperationalError):
        receiver._process([_message(f"{base}/event", event), _message(f"{base}/status", status)])
    stream = receiver.streams[("lg-a", "e1")]
    assert stream.next_seq == 1 and not stream.held
    assert stream.known_last >= 1  # so the repair asks for it even if no status arrives again
    with store._lock:
        store._db.execute("PRAGMA query_only=0")
    receiver._process([_message(f"{base}/event", event), _message(f"{base}/status", status)])
    assert receiver.counters.events == 1
    assert store.query("SELECT seq FROM events") == [(1,)]
    assert store.query("SELECT state, last_seq FROM devices") == [("online", 2)]
    store.close()
