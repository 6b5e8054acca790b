"""The console served by pyserial on a real pseudo-terminal, driven byte by byte as a terminal would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import default_config_text
from edge.console.auth import AuthStore
from edge.console.local_backend import LocalBackend
from edge.console.serve import SerialConsole
from edge.console.settings import ConsoleConfig
from edge.console.testing import PtyTerminal

PASSWORD = "orange-lantern-42"


class Served:
    """A console thread on one end of a pty; ``term`` is the technician's end."""

    def __init__(self, tmp_path: Path, **settings: object) -> None:
        self.data = tmp_path / "data"
        config_path = tmp_path / "lineguard.toml"
        config_path.write_text(default_config_text(), encoding="utf-8")
        self.backend = LocalBackend(config_path, self.data)
        self.settings = ConsoleConfig.model_validate({"failure_delay_s": 0.2, **settings})
        AuthStore(self.data).set_password(PASSWORD)
        self.term = PtyTerminal()
        self.console = SerialConsole(self.backend, self.settings, self.data, device=self.term.device)
        self.console.start()
        assert self.console.opened.wait(5.0), self.console.last_error

    def login(self) -> None:
        self.term.send("\r")
        self.term.expect("Password: ")
        self.term.send(PASSWORD + "\r")
        self.term.expect("lineguard> ")

    def run(self, line: str) -> str:
        self.term.send(line + "\r")
        return self.term.expect("lineguard> ")

    def close(self) -> None:
        self.console.stop()
        self.term.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    box = Served(tmp_path, max_failures=3, lockout_s=30.0)
    yield box
    box.close()


def test_login_status_and_tab_completion_over_a_pty(served: Served) -> None:
    served.term.expect("lineguard login")
    served.login()
    status = served.run("status")
    assert "lg-demo-0001" in status and "disk" in status and "incidents" in status
    served.term.send("conf\t")
    served.term.expect("config ")
    served.term.send("get calendar.lunch.st\t\r")
    served.term.expect(r"\r\ncalendar\.lunch\.start = 12:00\r\n")
    served.term.expect("lineguard> $")
    served.term.send("\x1b[A\x1b[A\r")  # history: two lines back is 'status'
    served.term.expect("lg-demo-0001")


def test_wrong_password_n_times_locks_the_login_and_shows_nothing_of_the_box(served: Served) -> None:
    served.term.send("\r")
    served.term.expect("Password: ")
    for _ in range(2):
        served.term.send("not-the-password\r")
        served.term.expect("Wrong password")
        served.term.expect("Password: ")
    served.term.send("not-the-password\r")
    served.term.expect(r"Login locked\. Try again in 30 s")
    served.term.expect("Password: ")
    served.term.send(PASSWORD + "\r")
    served.term.expect("Login locked")
    everything = served.term.received.decode()
    for secret in ("lg-demo-0001", "demo-center", "lineguard>", "status", "disk"):
        assert secret not in everything
    assert "console.locked" in [e["action"] for e in served.backend.audit_entries()]


def test_noise_at_the_wrong_baud_rate_then_a_clean_line_still_works(served: Served) -> None:
    served.login()
    # What 9600-baud typing looks like to a 115200 receiver: framing junk, high bytes, stray CRs.
    served.term.send(bytes([0x80, 0xF8, 0x00, 0xE0, 0x1E, 0x0D, 0xFE, 0x78, 0x86, 0x0D]) * 20)
    served.term.send("\x03")
    served.term.expect(r"\^C\r\nlineguard> $")
    assert "(input dropped: invalid UTF-8)" in served.term.received.decode("utf-8", "replace")
    assert "lg-demo-0001" in served.run("status")


class _FlakyAudit(LocalBackend):
    """A backend whose audit fails once, as a bug elsewhere in the appliance might."""

    failed = False

    def audit(self, action: str, detail: str) -> None:
        if action == "console.login" and not self.failed:
            self.failed = True
            raise RuntimeError("audit sink broke")
        super().audit(action, detail)


def test_an_internal_error_restarts_the_session_instead_of_killing_the_console(tmp_path: Path) -> None:
    box = Served(tmp_path)
    box.console.stop()
    config_path = tmp_path / "lineguard.toml"
    console = SerialConsole(
        _FlakyAudit(config_path, box.data), box.settings, box.data, device=box.term.device
    )
    console.start()
    assert console.opened.wait(5.0)
    try:
        box.term.send("\r")
        box.term.expect("Password: ")
        box.term.send(PASSWORD + "\r")
        box.term.expect(r"\(internal error; it is in the log\)")
        box.term.expect("lineguard login")
        box.login()
        assert "lg-demo-0001" in box.run("status")
    finally:
        console.stop()
        box.term.close()


def test_a_port_that_appears_later_is_opened_then(tmp_path: Path) -> None:
    """A USB-serial adapter plugged in after boot: the console keeps trying and serves once it exists."""
    config_path = tmp_path / "lineguard.toml"
    config_path.write_text(default_config_text(), encoding="utf-8")
    data = tmp_path / "data"
    AuthStore(data).set_password(PASSWORD)
    link = tmp_path / "ttyUSB0"
    console = SerialConsole(LocalBackend(config_path, data), ConsoleConfig(), data, device=str(link))
    console.start()
    term = PtyTerminal()
    try:
        time.sleep(0.3)
        assert not console.opened.is_set()
        assert console.last_error is not None and "cannot open" in console.last_error
        link.symlink_to(term.device)
        assert console.opened.wait(5.0)
        term.expect("lineguard login")
    finally:
        console.stop()
        term.close()
