"""Serving a console session on a serial port through pyserial, on a thread of its own."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import serial

from edge.console.auth import AuthStore
from edge.console.backend import ConsoleBackend
from edge.console.session import ConsoleSession
from edge.console.settings import ConsoleConfig

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.1
"""How often the loop wakes without input, to end the password delay and check the idle logout."""
WRITE_TIMEOUT_S = 1.0
"""Output nobody reads (a pty without a terminal, a stuck USB adapter) is dropped after this long."""
REOPEN_DELAY_S = 1.0


class SerialLike(Protocol):
    """The part of ``serial.Serial`` the console uses."""

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` bytes, waiting at most the port's timeout."""

    def write(self, data: bytes, /) -> int | None:
        """Send bytes (may raise ``serial.SerialTimeoutException``)."""

    def close(self) -> None:
        """Release the port."""


def open_serial(device: str, baud: int) -> serial.Serial:
    """Open ``device`` at ``baud`` 8N1, no flow control, with the console's timeouts."""
    return serial.Serial(
        device,
        baudrate=baud,
        bytesize=serial.EIGHTBITS,
        parity=serial.PARITY_NONE,
        stopbits=serial.STOPBITS_ONE,
        timeout=READ_TIMEOUT_S,
        write_timeout=WRITE_TIMEOUT_S,
        xonxoff=False,
        rtscts=False,
    )


def run_session(port: SerialLike, make_session: Callable[[Callable[[bytes], None]], ConsoleSession],
                stop: threading.Event) -> None:  # fmt: skip
    """Serve one session on an open port until ``stop`` is set or the port fails (SerialException)."""
    dropped = 0

    def send(data: bytes) -> None:
        nonlocal dropped
        try:
            port.write(data)
        except serial.SerialTimeoutException:
            dropped += len(data)  # nobody is reading: losing echo is better than blocking the console

    session = make_session(send)
    session.connection_made()
    while not stop.is_set():
        data = port.read(max(1, min(port.in_waiting, 4096)))
        try:
            if data:
                session.data_received(data)
            session.tick()
        except Exception:  # a bug in one command must not take the only way in with it
            log.exception("console: internal error")
            send(b"\r\n(internal error; it is in the log)\r\n")
            session = make_session(send)  # start clean: logged out, nothing half-done
            session.connection_made()
    if dropped:
        log.info("console: %d bytes of output dropped (no reader)", dropped)


class SerialConsole:
    """The console on one serial device, reopened after errors (an unplugged USB adapter), until stopped."""

    def __init__(
        self,
        backend: ConsoleBackend,
        settings: ConsoleConfig,
        data_dir: Path,
        device: str | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.device = device or settings.serial_device
        if not self.device:
            raise ValueError("no serial device: set [console] serial_device or pass one")
        self.auth = AuthStore(data_dir, settings.max_failures, settings.lockout_s)
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.opened = threading.Event()

    def _make_session(self, send: Callable[[bytes], None]) -> ConsoleSession:
        return ConsoleSession(self.backend, self.auth, self.settings, send, self._now)

    def serve_forever(self) -> None:
        """Serve until ``stop()``; a failing port is closed and reopened, and a new session starts."""
        assert self.device is not None
        while not self._stop.is_set():
            try:
                port = open_serial(self.device, self.settings.baud)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._report(f"cannot open {self.device}: {exc}")
                self._stop.wait(REOPEN_DELAY_S)
                continue
            with contextlib.suppress(serial.SerialException, OSError):
                # Bytes typed before we listened were seen by a cooked tty (maybe echoed): stale, drop them.
                port.reset_input_buffer()
            self.opened.set()
            try:
                run_session(port, self._make_session, self._stop)
            except (serial.SerialException, OSError) as exc:
                self._report(f"{self.device} failed: {exc}")
                self._stop.wait(REOPEN_DELAY_S)
            finally:
                with contextlib.suppress(serial.SerialException, OSError):
                    port.close()

    def _report(self, message: str) -> None:
        if message != self.last_error:
            log.warning("console: %s", message)
        self.last_error = message

    def start(self) -> None:
        """Serve on a daemon thread (the appliance's audio never waits on the console)."""
        self._thread = threading.Thread(target=self.serve_forever, name="console", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
