"""A technician's view: picocom in tmux on one end of a null-modem pair, ``lineguard console --sim`` on the other."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import default_config_text
from edge.console.auth import AuthStore
from edge.console.testing import NullModem

PASSWORD = "orange-lantern-42"

pytestmark = pytest.mark.skipif(
    not (shutil.which("picocom") and shutil.which("tmux")),
    reason="needs picocom and tmux (scripts/apt-packages.txt)",
)


class Technician:
    """picocom running in a detached tmux session; keys go in with send-keys, the screen comes out with capture-pane."""

    def __init__(self, device: str, socket_name: str) -> None:
        self.socket = socket_name
        env = {**os.environ, "TERM": "xterm-256color"}
        self._tmux("new-session", "-d", "-s", "tech", "-x", "100", "-y", "40",
                   f"picocom --quiet --baud 115200 {device}", env=env)  # fmt: skip

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=10,
            env=env,
            check=True,
        )
        return done.stdout

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "tech", *keys)

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", "tech", "-l", text)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "tech")

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen shows:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)


@pytest.fixture
def technician(tmp_path: Path) -> Iterator[tuple[Technician, subprocess.Popen[str], Path]]:
    config_path = tmp_path / "lineguard.toml"
    config_path.write_text(default_config_text(), encoding="utf-8")
    data = tmp_path / "data"
    AuthStore(data).set_password(PASSWORD)
    cable = NullModem()
    console = subprocess.Popen(
        [sys.executable, "-m", "edge", "console", "--serial", cable.device_a,
         "--config", str(config_path), "--data-dir", str(data), "--sim"],
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    tech = Technician(cable.device_b, f"lineguard-console-test-{os.getpid()}")
    try:
        yield tech, console, config_path
    finally:
        tech.close()
        if console.poll() is None:
            console.send_signal(signal.SIGTERM)
            try:
                console.wait(10)
            except subprocess.TimeoutExpired:
                console.kill()
        cable.close()


def test_technician_logs_in_edits_a_line_uses_history_and_completion(
    technician: tuple[Technician, subprocess.Popen[str], Path],
) -> None:
    tech, console, config_path = technician
    tech.keys("Enter")
    screen = tech.wait_for("Password:")
    assert "lineguard login" in screen and "lg-demo-0001" not in screen
    tech.type(PASSWORD)
    tech.keys("Enter")
    tech.wait_for("lineguard>")
    assert PASSWORD not in tech.screen()

    tech.type("sttusxx")  # typos, fixed with the real terminal's Backspace and arrow keys
    tech.keys("BSpace", "BSpace", "Left", "Left", "Left")
    tech.type("a")  # "sttusxx" -> "sttus" -> "st|tus" -> "status"
    tech.keys("Enter")
    screen = tech.wait_for("incidents")
    assert "device=lg-demo-0001" in screen and "state=idle" in screen  # the live (simulated) line
    assert "lineguard> status" in screen

    tech.keys("C-l")
    tech.type("conf")
    tech.keys("Tab")
    tech.type("get calendar.lunch.st")
    tech.keys("Tab", "Enter")
    screen = tech.wait_for("calendar.lunch.start = 12:00")
    assert "lineguard> config get calendar.lunch.start" in screen

    tech.keys("Up", "Up", "Enter")  # history: 'status' again
    deadline = time.monotonic() + 10
    while tech.screen().count("device=lg-demo-0001") < 2:
        assert time.monotonic() < deadline, tech.screen()
        time.sleep(0.1)

    tech.type("config set calendar.lunch.start 12:30")
    tech.keys("Enter")
    tech.wait_for("draft: calendar.lunch.start = 12:30")
    tech.type("config apply")
    tech.keys("Enter")
    tech.wait_for("calendar.lunch.start: 12:00 -> 12:30")
    assert 'start = "12:30"' in config_path.read_text()

    # A line longer than the 100-column pane wraps over two rows; the console learned the width from the
    # terminal's cursor report, so going back to its start and killing it clears both rows.
    tech.type("qz" * 85)
    tech.wait_for("qzqz" * 20)
    tech.keys("Home", "C-k")  # (Ctrl-A is picocom's own escape key)
    tech.type("help status")
    tech.keys("Enter")
    screen = tech.wait_for("usage: status")
    assert "qz" not in screen
    assert "calendar.lunch.start: 12:00 -> 12:30" in screen  # the output above was not overwritten
    assert "\x1b" not in screen and "[K" not in screen  # escape sequences were interpreted, not printed
    tech.type("exit")
    tech.keys("Enter")
    tech.wait_for("Logged out.")
    tech.keys("C-a", "C-x")  # leave picocom the way a technician does
    console.send_signal(signal.SIGTERM)
    assert console.wait(10) == 0
