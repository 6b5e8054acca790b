"""Pseudo-terminals for driving the console as a technician's terminal would (tests, demos, bench)."""

from __future__ import annotations

import contextlib
import os
import re
import select
import threading
import time


class PtyTerminal:
    """A pty pair: the console opens ``device`` (the slave) with pyserial; this object is the terminal."""

    def __init__(self) -> None:
        self.master, self._slave = os.openpty()
        self.device = os.ttyname(self._slave)
        self.received = bytearray()
        self._mark = 0

    def send(self, data: bytes | str) -> None:
        """Type ``data`` (str is sent as UTF-8)."""
        raw = data.encode("utf-8") if isinstance(data, str) else data
        view = memoryview(raw)
        while view:
            _, ready, _ = select.select([], [self.master], [], 5.0)
            if not ready:
                raise TimeoutError("the console stopped reading its serial port")
            written = os.write(self.master, view[:1024])
            view = view[written:]
            self.drain(0.0)  # keep its output flowing so neither side blocks

    def drain(self, timeout: float) -> bytes:
        """Read whatever arrives within ``timeout`` seconds; returns those bytes."""
        got = bytearray()
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break  # EIO: no process has the slave open right now
            if not chunk:
                break
            got += chunk
            if time.monotonic() >= deadline:
                break
        self.received += got
        return bytes(got)

    def expect(self, pattern: str, timeout: float = 5.0) -> str:
        """Wait for the regular expression ``pattern`` in output not yet consumed; returns the text up to it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.received[self._mark :].decode("utf-8", "replace")
            match = regex.search(text)
            if match:
                consumed = text[: match.end()]
                self._mark += len(consumed.encode("utf-8"))
                return consumed
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {pattern!r} in console output; last received: {text[-600:]!r}")
            self.drain(min(left, 0.05))

    def unread(self) -> str:
        """Output not yet consumed by ``expect`` (after reading what is pending)."""
        self.drain(0.05)
        text = self.received[self._mark :].decode("utf-8", "replace")
        self._mark = len(self.received)
        return text

    def close(self) -> None:
        """Close both ends."""
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class NullModem:
    """Two pty devices wired back to back, like a null-modem cable: what one side writes the other reads."""

    def __init__(self) -> None:
        self._ends = [os.openpty(), os.openpty()]
        self.device_a = os.ttyname(self._ends[0][1])
        self.device_b = os.ttyname(self._ends[1][1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, name="null-modem", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        a, b = self._ends[0][0], self._ends[1][0]
        peer = {a: b, b: a}
        while not self._stop.is_set():
            ready, _, _ = select.select([a, b], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    time.sleep(0.02)  # EIO until a program opens that side
                    continue
                with contextlib.suppress(OSError):
                    os.write(peer[fd], data)

    def close(self) -> None:
        """Stop copying and close every end."""
        self._stop.set()
        self._thread.join(1.0)
        for master, slave in self._ends:
            for fd in (master, slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
