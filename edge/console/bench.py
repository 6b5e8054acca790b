"""Console timings for docs/console.md: ``python -m edge.console.bench`` (figures depend on the machine)."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from edge.config import default_config_text
from edge.console.auth import AuthStore
from edge.console.lineedit import LineEditor
from edge.console.local_backend import LocalBackend
from edge.console.session import ConsoleSession
from edge.console.settings import ConsoleConfig

LINE_BYTES_PER_S = 115200 / 10
"""What a 115200 8N1 line can carry at most."""


def editor_rate(size: int = 1_000_000) -> float:
    """Bytes of random noise per second the line editor digests."""
    noise = random.Random(1).randbytes(size)
    editor = LineEditor(lambda text: None, lambda event: None)
    start = time.perf_counter()
    editor.feed(noise)
    return size / (time.perf_counter() - start)


def typing_rate(size: int = 200_000) -> float:
    """Bytes per second of ordinary typing (letters, spaces, Enter) through a logged-in session."""
    data = Path(tempfile.mkdtemp(prefix="console-bench-"))
    config = data / "lineguard.toml"
    config.write_text(default_config_text(), encoding="utf-8")
    auth = AuthStore(data)
    auth.set_password("bench-password-1")
    session = ConsoleSession(LocalBackend(config, data), auth, ConsoleConfig(), lambda b: None)
    session.connection_made()
    session.data_received(b"bench-password-1\r")
    text = (b"calls 1\x15" * (size // 8))[:size]  # typed then erased with Ctrl-U: editing cost only
    start = time.perf_counter()
    session.data_received(text)
    return size / (time.perf_counter() - start)


def login_seconds(rounds: int = 5) -> float:
    """Seconds one password check takes (scrypt n=2**14, r=8)."""
    store = AuthStore(Path(tempfile.mkdtemp(prefix="console-bench-")), max_failures=1000)
    store.set_password("bench-password-1")
    start = time.perf_counter()
    for _ in range(rounds):
        store.attempt("bench-password-1", time.time())
    return (time.perf_counter() - start) / rounds


def status_seconds(rounds: int = 20) -> float:
    """Seconds from Enter to the whole ``status`` screen with the file backend."""
    data = Path(tempfile.mkdtemp(prefix="console-bench-"))
    config = data / "lineguard.toml"
    config.write_text(default_config_text(), encoding="utf-8")
    auth = AuthStore(data)
    auth.set_password("bench-password-1")
    session = ConsoleSession(LocalBackend(config, data), auth, ConsoleConfig(), lambda b: None)
    session.connection_made()
    session.data_received(b"bench-password-1\r")
    start = time.perf_counter()
    for _ in range(rounds):
        session.data_received(b"status\r")
    return (time.perf_counter() - start) / rounds


def main() -> None:
    """Print each figure once."""
    noise = editor_rate()
    typing = typing_rate()
    print(
        f"line editor, random noise : {noise / 1e6:.2f} MB/s ({noise / LINE_BYTES_PER_S:.0f}x a 115200 line)"
    )
    print(
        f"session, typing + Ctrl-U  : {typing / 1e6:.2f} MB/s ({typing / LINE_BYTES_PER_S:.0f}x a 115200 line)"
    )
    print(f"password check (scrypt)   : {login_seconds() * 1000:.0f} ms")
    print(f"status screen (files)     : {status_seconds() * 1000:.1f} ms")


if __name__ == "__main__":
    main()
