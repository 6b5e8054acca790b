"""systemd's notify protocol in a few lines: READY=1, WATCHDOG=1 and STATUS= over $NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send one notify message; False when not run by systemd (no NOTIFY_SOCKET) or the send failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        # An abstract socket: the name starts with a NUL byte.
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError:
        return False
    return True


def ready(status: str = "") -> bool:
    """Tell systemd the service is up (Type=notify)."""
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def watchdog() -> bool:
    """Feed systemd's WatchdogSec; call only while the audio loop is making progress."""
    return notify("WATCHDOG=1")


def status(text: str) -> bool:
    """A one-line status shown by ``systemctl status``."""
    return notify(f"STATUS={text}")


def stopping() -> bool:
    """Tell systemd a clean stop has begun."""
    return notify("STOPPING=1")


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec when systemd asked for watchdog pings to this process, else None."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None
