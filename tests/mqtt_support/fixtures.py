"""Pytest fixtures (import with ``from tests.mqtt_support.fixtures import *``) around a real Mosquitto: a session PKI, a TLS+ACL broker per test, a central receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from central.receiver import Receiver
from central.store import Store
from tests.mqtt_support import Broker, Pki, have_mosquitto, make_pki

__all__ = ["DEVICES", "broker", "pki", "receiver", "start_producer", "wait_for"]

REPO = Path(__file__).resolve().parents[2]
DEVICES = ["lg-a", "lg-b", "lg-c"]

needs_mosquitto = pytest.mark.skipif(not have_mosquitto(), reason="mosquitto is not installed (make setup)")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), ["central", *DEVICES])


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    if not have_mosquitto():
        pytest.skip("mosquitto is not installed (make setup)")
    b = Broker(tmp_path / "broker", pki).start()
    yield b
    b.stop()


@pytest.fixture
def receiver(tmp_path: Path, broker: Broker) -> Iterator[Receiver]:
    store = Store(f"sqlite:///{tmp_path / 'central.db'}")
    receiver = Receiver(broker.settings("central"), store, files_dir=tmp_path / "files", stall_s=0.5)
    receiver.start()
    wait_for(lambda: receiver.connected, 10, "central did not connect")
    yield receiver
    receiver.stop()
    store.close()


def wait_for(condition: Callable[[], object], timeout: float, message: str) -> None:
    """Poll ``condition`` until true or fail with ``message``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(message)


def device_url(broker: Broker, device: str, sync: str = "normal") -> str:
    """The ``mqtts://`` URL a producer process uses to connect as ``device``."""
    assert broker.pki is not None
    p = broker.pki
    return f"mqtts://127.0.0.1:{broker.port}?ca={p.ca}&cert={p.cert(device)}&key={p.key(device)}&sync={sync}"


def start_producer(
    broker: Broker, device: str, data: Path, total: int, rate: float = 0.0
) -> subprocess.Popen[bytes]:
    """The stand-in appliance as a separate process (so it can be killed -9)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "tests.mqtt_support.producer", "--url", device_url(broker, device)]
    cmd += ["--data", str(data), "--device", device, "--total", str(total), "--rate", str(rate)]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
