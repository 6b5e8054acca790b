"""Acceptance: 10,000 events arrive exactly once and in order through broker restarts and an appliance kill -9."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from central.receiver import Receiver
from tests.mqtt_support import Broker
from tests.mqtt_support.fixtures import *  # noqa: F403 (fixtures)
from tests.mqtt_support.fixtures import start_producer, wait_for

TOTAL = 10_000


def _count(receiver: Receiver, device: str) -> int:
    return int(receiver.store.query("SELECT count(*) FROM events WHERE device=?", [device])[0][0])


def _assert_exactly_in_order(receiver: Receiver, device: str) -> None:
    rows = receiver.store.query("SELECT seq, body FROM events WHERE device=? ORDER BY rowid", [device])
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, TOTAL + 1)), (
        f"got {len(seqs)} events, first misordered at {_first_bad(seqs)}"
    )
    assert '"n":1' in rows[0][1].replace(" ", "") and f'"n":{TOTAL}' in rows[-1][1].replace(" ", "")


def _first_bad(seqs: list[int]) -> int | None:
    return next((i for i, s in enumerate(seqs) if s != i + 1), None)


def _stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.kill()
    out = proc.communicate(timeout=10)[0]
    return out.decode(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_broker_restart_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, broker: Broker, receiver: Receiver, sig: signal.Signals
) -> None:
    producer = start_producer(broker, "lg-a", tmp_path / "box", TOTAL)
    try:
        wait_for(lambda: _count(receiver, "lg-a") >= 2500, 30, "stream did not start")
        broker.stop(sig)
        time.sleep(0.3)
        broker.start()
        wait_for(lambda: _count(receiver, "lg-a") >= TOTAL, 90, f"only {_count(receiver, 'lg-a')} arrived")
        time.sleep(0.3)  # anything late would now be a duplicate: it must be dropped
    finally:
        log = _stop(producer)
    assert "resuming at 1" in log
    _assert_exactly_in_order(receiver, "lg-a")
    assert receiver.counters.events == TOTAL


def test_appliance_kill_9_mid_stream_resumes_from_the_outbox(
    tmp_path: Path, broker: Broker, receiver: Receiver
) -> None:
    box = tmp_path / "box"
    first = start_producer(broker, "lg-b", box, TOTAL)
    try:
        wait_for(lambda: _count(receiver, "lg-b") >= 3000, 30, "stream did not start")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        log_first = _stop(first)
    second = start_producer(broker, "lg-b", box, TOTAL)
    try:
        wait_for(lambda: _count(receiver, "lg-b") >= TOTAL, 90, f"only {_count(receiver, 'lg-b')} arrived")
        time.sleep(0.3)
    finally:
        log_second = _stop(second)
    resumed = int(log_second.split("resuming at ")[1].split()[0])
    assert "resuming at 1" in log_first and 3000 < resumed <= TOTAL + 1, log_second
    _assert_exactly_in_order(receiver, "lg-b")
