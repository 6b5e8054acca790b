"""Health samples: the box's own vital signs, and a thread that reports them every N seconds."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


class HealthSink(Protocol):
    """Where samples go (``Telemetry.publish_health``)."""

    def publish_health(self, health: dict[str, Any]) -> None: ...


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def system_health(data_dir: Path, thermal: Path = THERMAL_ZONE) -> dict[str, Any]:
    """Uptime, load, memory, free disk under ``data_dir`` and CPU temperature (None where unknown)."""
    uptime = _read(Path("/proc/uptime"))
    temp = _read(thermal)
    meminfo = _read(Path("/proc/meminfo")) or ""
    available = next(
        (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemAvailable:")), None
    )
    try:
        disk = shutil.disk_usage(data_dir)
        disk_free_mb: float | None = round(disk.free / 2**20, 1)
        disk_used_pct: float | None = round(100 * disk.used / disk.total, 1)
    except OSError:
        disk_free_mb = disk_used_pct = None
    return {
        "uptime_s": round(float(uptime.split()[0]), 1) if uptime else None,
        "load_1m": round(os.getloadavg()[0], 2),
        "mem_available_mb": round(available / 1024, 1) if available is not None else None,
        "disk_free_mb": disk_free_mb,
        "disk_used_pct": disk_used_pct,
        "cpu_temp_c": round(int(temp) / 1000, 1) if temp and temp.lstrip("-").isdigit() else None,
    }


class HealthLoop:
    """Calls ``provider`` every ``interval_s`` and publishes the sample; a failing provider never stops it."""

    def __init__(self, sink: HealthSink, provider: Callable[[], dict[str, Any]], interval_s: float) -> None:
        self.sink = sink
        self.provider = provider
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health", daemon=True)

    def start(self) -> None:
        """Report once now, then every interval."""
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting."""
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                sample = self.provider()
            except Exception as exc:
                log.exception("health provider")
                sample = {"last_error": f"health: {type(exc).__name__}: {exc}"}
            try:
                self.sink.publish_health(sample)
            except Exception:
                log.exception("health publish")
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))
