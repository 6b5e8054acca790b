"""The console on a live appliance (sim backend, pumped in real time): status, tests, diag, config apply."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.config import default_config_text, load_config
from edge.console.auth import AuthStore
from edge.console.session import ConsoleSession
from edge.console.settings import ConsoleConfig
from edge.console.simhost import SimAppliance
from edge.console.testing import PtyTerminal
from edge.core import events as e

PASSWORD = "orange-lantern-42"


class Live:
    """A simulated appliance with a logged-in console session."""

    def __init__(self, tmp_path: Path) -> None:
        self.config_path = tmp_path / "lineguard.toml"
        self.config_path.write_text(default_config_text(), encoding="utf-8")
        data = tmp_path / "data"
        self.sim = SimAppliance(load_config(self.config_path), self.config_path, data)
        self.sim.hardware.audio.keep_output = True
        self.sim.start()
        AuthStore(data).set_password(PASSWORD)
        self.out = bytearray()
        self.session = ConsoleSession(self.sim.backend, AuthStore(data), ConsoleConfig(), self.out.extend)
        self.session.connection_made()
        self.type(PASSWORD + "\r")
        assert self.session.logged_in

    def type(self, text: str) -> str:
        start = len(self.out)
        self.session.data_received(text.encode())
        return self.out[start:].decode()

    def phone_energy(self) -> float:
        return sum(float(np.abs(p.astype(np.float64)).sum()) for p in list(self.sim.hardware.audio.phone_out))

    def wait(self, condition: object, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not callable(condition) or not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One appliance for the module (building one takes seconds); the test that rings the line runs last."""
    box = Live(tmp_path_factory.mktemp("live"))
    yield box
    box.sim.close()


def test_status_shows_the_live_line_relay_and_parts(live: Live) -> None:
    live.wait(lambda: live.sim.frames > 10)
    status = live.type("status\r")
    assert "state=idle" in status and "hook=on" in status and "bypass=no" in status
    assert "model" in status and "recorder" in status
    diag = live.type("diag line\r")
    assert re.search(r"ring_count +0\r\n", diag) and re.search(r"line +-\d+\.\d\r\n", diag)
    assert "caller_id_messages" in diag


def test_relay_ring_tone_and_prompt_tests_reach_the_hardware(live: Live) -> None:
    relays = live.sim.hardware.relays
    live.wait(lambda: live.sim.frames > 5)
    changes = len(relays.history)
    assert "relay switched" in live.type("test relay\r")
    live.wait(lambda: len(relays.history) >= changes + 2)
    assert relays.bypass is False  # back to what the call machine wants
    assert "ringing the desk phone" in live.type("test ring\r")
    phone = live.sim.hardware.phone
    live.wait(lambda: [kind for _, kind in phone.history][-2:] == ["ring", "ring_stop"])
    before = live.phone_energy()
    assert "alert tone" in live.type("test tone\r")
    live.wait(lambda: live.phone_energy() > before)
    before = live.phone_energy()
    assert "playing 'cut'" in live.type("test prompt cut\r")
    live.wait(lambda: live.phone_energy() > before + 1e5)
    assert "not done" in live.type("test prompt no_such_prompt\r")
    tests = [entry["detail"] for entry in live.sim.backend.audit_entries() if entry["action"] == "test"]
    assert len(tests) == 5


def test_config_apply_reaches_the_running_appliance(live: Live) -> None:
    live.wait(lambda: live.sim.frames > 5)
    live.type("config set staff.dtmf_cut *8#\r")
    applied = live.type("config apply\r")
    assert "staff.dtmf_cut: *9# -> *8#" in applied and "only the file changed" not in applied
    assert live.sim.app.config.staff.dtmf_cut == "*8#"
    assert load_config(live.config_path).staff.dtmf_cut == "*8#"
    audits = [r.data for r in list(live.sim.app.timeline) if r.type == "audit"]
    assert {"source": "console", "action": "config.apply", "detail": "staff.dtmf_cut: *9# -> *8#"} in audits
    live.type("config rollback\r")
    live.type("yes\r")
    assert live.sim.app.config.staff.dtmf_cut == "*9#"


def test_tests_are_refused_while_the_line_is_in_use(live: Live) -> None:
    live.sim.app.inject(e.RingStarted())
    live.wait(lambda: live.sim.app.line.state.phase.value != "idle")
    answer = live.type("test relay\r")
    assert "refused: the line is in use (ringing)" in answer


def test_console_service_serves_a_pty_like_the_daemon_would(tmp_path: Path) -> None:
    config_path = tmp_path / "lineguard.toml"
    config_path.write_text(default_config_text(), encoding="utf-8")
    data = tmp_path / "data"
    AuthStore(data).set_password(PASSWORD)
    term = PtyTerminal()
    sim = SimAppliance(load_config(config_path), config_path, data, device=term.device)
    try:
        assert sim.service is not None and sim.service.console.opened.wait(5.0)
        sim.start()
        term.send("\r")
        term.expect("Password: ")
        term.send(PASSWORD + "\r")
        term.expect("lineguard> ")
        term.send("test tone\r")
        term.expect("alert tone")  # carried out on the audio loop through ConsoleService.run_pending
        term.send("status\r")
        term.expect("state=idle")
    finally:
        sim.close()
        term.close()
