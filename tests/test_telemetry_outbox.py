"""The durable outbox: numbering, acknowledgement, disk limits (health goes first, events never), disk full."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from central.receiver import Receiver
from edge.telemetry.client import Telemetry
from edge.telemetry.outbox import Outbox, OutboxError
from edge.telemetry.settings import MqttConfig
from tests.mqtt_support import Broker
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import wait_for


class _Quiet:
    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}


def test_events_are_numbered_in_order_and_the_numbering_survives_a_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", synchronous="normal")
    seqs = [box.add("event", "t/event", {"n": n}).seq for n in range(3)]
    health = box.add("health", "t/health", {"cpu": 1})
    epoch = box.epoch
    box.close()
    again = Outbox(tmp_path / "outbox.db", synchronous="normal")
    assert seqs == [1, 2, 3] and health.seq is None
    assert again.epoch == epoch and again.add("event", "t/event", {}).seq == 4
    rows = again.pending(0, 10)
    assert [r.kind for r in rows] == ["event", "event", "event", "health", "event"]
    envelope = json.loads(rows[0].envelope(epoch, "lg-a", "site-a"))
    assert envelope["id"] == f"{epoch}:1" and envelope["seq"] == 1 and envelope["event"] == {"n": 0}
    assert json.loads(rows[3].envelope(epoch, "lg-a", "site-a"))["health"] == {"cpu": 1}


def test_acknowledged_health_leaves_and_acknowledged_events_stay_for_resends(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", synchronous="normal", keep_sent=2)
    rows = [box.add("event", "t/event", {"n": n}) for n in range(5)]
    h = box.add("health", "t/health", {})
    box.settle([r.id for r in rows[:4]] + [h.id], refused=[(rows[4].id, "Not authorized")])
    assert box.depth() == 0 and box.refused_count() == 1
    assert [r.seq for r in box.events(1, 10, 10)] == [1, 2, 3, 4, 5]
    box.prune()
    assert [r.seq for r in box.events(1, 10, 10)] == [3, 4, 5]  # two delivered kept, the refused one too
    assert box.first_seq() == 3 and box.last_seq() == 5


def test_over_the_disk_budget_old_health_goes_first_and_events_never(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db", synchronous="normal", max_bytes=1_000_000)
    blob = "x" * 2000
    for n in range(150):
        box.add("health", "t/health", {"n": n, "pad": blob})
        box.add("event", "t/event", {"n": n, "pad": blob})
    box.prune()
    rows = box.pending(0, 10_000)
    events = [json.loads(r.body)["n"] for r in rows if r.kind == "event"]
    health = [json.loads(r.body)["n"] for r in rows if r.kind == "health"]
    assert events == list(range(150))  # every event kept, even past the budget
    assert health == sorted(health) and 0 < len(health) < 150 and health[-1] == 149  # newest samples kept


def test_a_full_disk_keeps_reports_in_memory_and_loses_nothing(tmp_path: Path) -> None:
    tele = Telemetry(Broker(tmp_path / "nb").settings("lg-a"), "lg-a", "site-a", tmp_path / "box", _Quiet())
    db = tele.outbox._db
    tele.publish_event({"n": 0})
    pages = int(db.execute("PRAGMA page_count").fetchone()[0])
    db.execute(f"PRAGMA max_page_count={pages}")
    for n in range(1, 200):
        tele.publish_event({"n": n, "pad": "y" * 500})
    assert tele.last_error and "full" in tele.last_error
    assert tele.outbox_depth() == 200
    db.execute("PRAGMA max_page_count=1000000")
    tele.publish_event({"n": 200})
    rows = tele.outbox.pending(0, 1000)
    assert [json.loads(r.body)["n"] for r in rows] == list(range(201))
    with pytest.raises(OutboxError):
        db.execute("PRAGMA max_page_count=1")
        db.execute(f"PRAGMA max_page_count={int(db.execute('PRAGMA page_count').fetchone()[0])}")
        tele.outbox.add("event", "t", {"pad": "z" * 100_000})
    tele.outbox.close()


def test_publishing_never_waits_for_the_broker_and_the_backlog_drains_when_it_comes(
    tmp_path: Path, broker: Broker, receiver: Receiver
) -> None:
    broker.stop()
    tele = Telemetry(broker.settings("lg-a"), "lg-a", "site-a", tmp_path / "box", _Quiet())
    tele.start()
    try:
        t0 = time.monotonic()
        for n in range(300):
            tele.publish_event({"type": "test", "n": n})
        tele.publish_health({"uptime_s": 1})
        elapsed = time.monotonic() - t0
        assert not tele.connected and tele.outbox_depth() == 301
        assert elapsed < 5.0  # 301 durable writes, no network wait (fsync per event on this disk)
        assert tele.flush(timeout=0.2) is False
        broker.start()
        assert tele.flush(timeout=20), "backlog did not drain"
        wait_for(
            lambda: receiver.counters.events == 300 and receiver.counters.health == 1, 10, "not received"
        )
    finally:
        tele.stop()
    rows = receiver.store.query("SELECT seq, body FROM events ORDER BY rowid")
    assert [r[0] for r in rows] == list(range(1, 301))


def test_a_corrupt_outbox_is_kept_aside_and_reporting_goes_on(tmp_path: Path) -> None:
    garbage = b"this is not an SQLite file" * 100
    (tmp_path / "outbox.db").write_bytes(garbage)
    tele = Telemetry(MqttConfig(enabled=True, tls=False), "lg-a", "site-a", tmp_path, _Quiet())
    tele.publish_event({"n": 1})
    assert tele.outbox.set_aside is not None and tele.outbox.set_aside.read_bytes() == garbage
    assert tele.last_error and "kept aside" in tele.last_error
    assert [r.seq for r in tele.outbox.pending(0, 10)] == [1]
    tele.outbox.close()


def test_unusable_certificate_files_are_a_clear_error(tmp_path: Path) -> None:
    settings = MqttConfig(
        enabled=True, ca_file=tmp_path / "ca.pem", cert_file=tmp_path / "c.pem", key_file=tmp_path / "k"
    )
    with pytest.raises(ValueError, match="TLS files cannot be used"):
        Telemetry(settings, "lg-a", "site-a", tmp_path, _Quiet())


def test_events_after_stop_are_held_not_raised(tmp_path: Path) -> None:
    tele = Telemetry(MqttConfig(enabled=True, tls=False), "lg-a", "site-a", tmp_path, _Quiet())
    tele.stop()
    tele.publish_event({"n": 1})  # e.g. the last event of a call racing the shutdown
    assert tele.outbox_depth() == 1 and tele.last_error and "closed" in tele.last_error
