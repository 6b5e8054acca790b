"""Random bytes on the console's serial line never crash or wedge it; it answers ``status`` afterwards."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.config import default_config_text
from edge.console.auth import AuthStore
from edge.console.lineedit import MAX_LINE
from edge.console.local_backend import LocalBackend
from edge.console.serve import SerialConsole
from edge.console.session import ConsoleSession
from edge.console.settings import ConsoleConfig
from edge.console.testing import PtyTerminal

PASSWORD = "orange-lantern-42"

_DIR = Path(tempfile.mkdtemp(prefix="console-fuzz-"))
_CONFIG = _DIR / "lineguard.toml"
_CONFIG.write_text(default_config_text(), encoding="utf-8")
AuthStore(_DIR / "data").set_password(PASSWORD)
_OUT = bytearray()
# High failure limit: random lines before login count as guesses, and this test is about robustness.
_SETTINGS = ConsoleConfig(max_failures=50, failure_delay_s=0.0, lockout_s=1.0)
_BACKEND = LocalBackend(_CONFIG, _DIR / "data")
_SESSION = ConsoleSession(_BACKEND, AuthStore(_DIR / "data", 50, 1.0), _SETTINGS, _OUT.extend)
_SESSION.connection_made()

# Terminal-ish noise: mostly control and escape bytes, line endings, high bytes and letters.
_noise = st.binary(max_size=600) | st.lists(
    st.sampled_from(
        [b"\x1b", b"[", b"O", b"\r", b"\n", b"\x7f", b"\t", b"\x03", b"\x15", b"\xe3\x85", b"\xff", b"1;",
         b"A", b"~", b"config ", b"set ", b"x" * 40, b"\x00", b"\x04", b"yes\r", "경".encode()]
    ),
    max_size=80,
).map(b"".join)  # fmt: skip


def _answers_status() -> bool:
    _OUT.clear()
    _SESSION.data_received(b"\x03")
    if not _SESSION.logged_in:  # the noise may have logged out (Ctrl-D, 'exit'): log in as a person would
        _SESSION.data_received(PASSWORD.encode() + b"\r")
    _OUT.clear()
    _SESSION.data_received(b"status\r")
    text = _OUT.decode("utf-8")  # output is always valid UTF-8, whatever came in
    return "device=lg-demo-0001" in text and text.endswith("lineguard> ")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(_noise, min_size=1, max_size=8))
def test_random_bytes_then_status_still_answers(chunks: list[bytes]) -> None:
    _SESSION.data_received(b"\x03")
    if not _SESSION.logged_in:
        _SESSION.data_received(PASSWORD.encode() + b"\r")
    for chunk in chunks:
        _SESSION.data_received(chunk)
        _SESSION.tick()
        assert len(_SESSION._editor.text) <= MAX_LINE
    assert _answers_status()


def test_a_long_burst_of_random_bytes_over_a_pty_then_status(tmp_path: Path) -> None:
    config_path = tmp_path / "lineguard.toml"
    config_path.write_text(default_config_text(), encoding="utf-8")
    data = tmp_path / "data"
    AuthStore(data).set_password(PASSWORD)
    term = PtyTerminal()
    console = SerialConsole(LocalBackend(config_path, data), _SETTINGS, data, device=term.device)
    console.start()
    assert console.opened.wait(5.0)
    try:
        term.send("\r")
        term.expect("Password: ")
        term.send(PASSWORD + "\r")
        term.expect("lineguard> ")
        rng = random.Random(7)
        for _ in range(64):  # 64 KiB of noise, about 6 s of a 115200-baud line
            term.send(bytes(rng.getrandbits(8) for _ in range(1024)))
        term.send("\x03")
        term.expect(r"\^C\r\n")
        term.drain(0.3)
        if "lineguard login" in term.unread():
            term.send(PASSWORD + "\r")
            term.expect("lineguard> ")
        term.send("status\r")
        term.expect("device=lg-demo-0001")
        term.expect("lineguard> ")
        assert console.last_error is None
    finally:
        console.stop()
        term.close()
