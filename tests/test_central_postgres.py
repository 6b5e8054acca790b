"""Central's store on a real PostgreSQL server: same behaviour as on SQLite (dedup, order, summary)."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.receiver import Receiver
from central.store import EventRow, Store
from central.web import render, summary
from edge.telemetry.client import Telemetry
from tests.mqtt_support import Broker
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import wait_for
from tests.mqtt_support.pg import pg_bin, postgres

pytestmark = [
    pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed (apt-get install postgresql)"),
    pytest.mark.skipif(importlib.util.find_spec("psycopg") is None, reason="psycopg is not installed"),
]


class _Quiet:
    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres() as url:
        yield url


def test_store_on_postgresql_drops_duplicates_and_summarises(pg_url: str) -> None:
    store = Store(pg_url)
    now = time.time()
    rows = [
        EventRow(
            "lg-p", "site-p", "e1", 1, now, {"type": "warning", "category": "insult", "basis": "abuse.insult"}
        ),
        EventRow("lg-p", "site-p", "e1", 2, now, {"type": "cut", "basis": "staff.request"}),
        EventRow(
            "lg-p",
            "site-p",
            "e1",
            3,
            now,
            {"type": "strike", "number": "0212345678", "basis": "staff.request"},
        ),
    ]
    store.commit_events(rows[:2], {("lg-p", "e1"): 3})
    store.commit_events(rows, {("lg-p", "e1"): 4})  # 1 and 2 again: ignored
    store.add_health([("e1:h1", "lg-p", "site-p", now, {"outbox_depth": 0})] * 2)
    store.set_status("lg-p", "site-p", "online", "e1", 3)
    store.note_loss("lg-p", "e0", 1, 9)
    data = summary(store)
    assert [r[0] for r in store.query("SELECT seq FROM events ORDER BY seq")] == [1, 2, 3]
    assert store.next_seqs() == {("lg-p", "e1"): 4} and data["events_total"] == 3 and data["events_lost"] == 9
    assert data["online"] == 1 and data["devices"][0]["health"] == {"outbox_depth": 0}
    assert (
        data["incidents_per_site"] == {"site-p": {"insult": 1, "staff": 1}}
        and sum(data["cuts_per_day"].values()) == 1
    )
    assert "1 of 1 boxes online" in render(data)
    store.close()


def test_receiver_streams_into_postgresql(pg_url: str, tmp_path: Path, broker: Broker) -> None:
    store = Store(pg_url)
    receiver = Receiver(broker.settings("central"), store, client_id="central-pg", persistent=False)
    receiver.start()
    tele = Telemetry(broker.settings("lg-b"), "lg-b", "site-b", tmp_path / "box", _Quiet())
    tele.start()
    try:
        wait_for(lambda: receiver.connected, 10, "central did not connect")
        for n in range(200):
            tele.publish_event({"type": "strike", "number": "01099990000", "n": n})
        wait_for(lambda: receiver.counters.events == 200, 20, "events did not arrive")
        assert receiver.repeat_callers() == ["01099990000"]  # 200 strikes at one site
    finally:
        tele.stop()
        receiver.stop()
    seqs = [
        r[0] for r in store.query("SELECT seq FROM events WHERE device = ? ORDER BY received, seq", ["lg-b"])
    ]
    assert seqs == list(range(1, 201))
    store.close()
