"""Health samples: real system figures, a periodic loop that survives a failing provider."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edge.telemetry.client import Telemetry
from edge.telemetry.health import HealthLoop, system_health
from edge.telemetry.settings import MqttConfig


class _Quiet:
    def handle(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {}


def test_system_health_reads_the_machine(tmp_path: Path) -> None:
    zone = tmp_path / "temp"
    zone.write_text("48750\n")
    sample = system_health(tmp_path, thermal=zone)
    assert sample["cpu_temp_c"] == 48.8 and sample["uptime_s"] > 0 and sample["disk_free_mb"] > 0
    assert system_health(tmp_path / "missing", thermal=tmp_path / "none")["cpu_temp_c"] is None


def test_health_loop_reports_every_interval_into_the_outbox(tmp_path: Path) -> None:
    tele = Telemetry(MqttConfig(enabled=True, tls=False), "lg-a", "site-a", tmp_path, _Quiet())
    calls = iter(range(100))

    def provider() -> dict[str, Any]:
        n = next(calls)
        if n == 1:
            raise RuntimeError("sensor gone")
        return {"n": n, "bypass": False}

    loop = HealthLoop(tele, provider, interval_s=0.1)
    loop.start()
    time.sleep(0.45)
    loop.stop()
    rows = [json.loads(r.body) for r in tele.outbox.pending(0, 100) if r.kind == "health"]
    tele.outbox.close()
    assert 4 <= len(rows) <= 6
    assert rows[0]["n"] == 0 and rows[0]["outbox_depth"] == 0 and rows[0]["connected"] is False
    assert "sensor gone" in rows[1]["last_error"] and rows[2]["n"] == 2
