"""The console's backend inside the running appliance: live line state, and tests run on the audio thread.

Wiring (the daemon's audio loop): after each ``app.pump(frame)`` call ``backend.run_pending(frame)``.
Console requests that touch the line (tests, config apply) are queued and carried out there, between
frames, so the console thread never races the call machine; the console waits a few seconds at most.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.config import Config
from edge.console.local_backend import LocalBackend
from edge.core.events import Leg
from edge.core.state import Phase
from edge.ports import FRAME_SECONDS, AudioFrame

if TYPE_CHECKING:
    from edge.runtime import Appliance

log = logging.getLogger(__name__)

RELAY_CLICK_S = 0.5
RING_TEST_S = 2.0
PUMP_STALE_S = 1.0
"""No ``run_pending`` for this long means the audio loop is not running (jobs then run on the caller)."""
LEVEL_WINDOW_FRAMES = 50
"""Levels are the mean power of the last second of each leg."""


class _Job:
    def __init__(self, work: Callable[[], str]) -> None:
        self.work = work
        self.result = "not done: the audio loop did not pick the request up in time"
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.result = self.work()
        except Exception as exc:  # noqa: BLE001 - a failing test must not stop the audio loop
            self.result = f"failed: {type(exc).__name__}: {exc}"
        finally:
            self.done.set()


def _dbfs(power: float) -> float:
    return round(10 * math.log10(power / 32768.0**2), 1) if power > 0 else -120.0


class ApplianceBackend(LocalBackend):
    """A ``ConsoleBackend`` on a live ``Appliance`` (files, records and audit as ``LocalBackend`` does)."""

    def __init__(
        self,
        app: Appliance,
        config_path: Path | None,
        *,
        apply_config: Callable[[Config], None] | None = None,
        telemetry: Any = None,
        log_path: Path | None = None,
        reboot_command: tuple[str, ...] = ("systemctl", "reboot"),
        wait_s: float = 3.0,
    ) -> None:
        super().__init__(
            config_path, app.data_dir, log_path=log_path, on_apply=self._apply, reboot_command=reboot_command
        )
        self.app = app
        self.telemetry = telemetry
        self.wait_s = wait_s
        self._apply_config = apply_config or app.apply_config
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._timers: list[tuple[float, Callable[[], None]]] = []  # audio thread only
        self._last_pump = -1e9
        self._power: dict[str, list[float]] = {"line": [], "phone": []}

    # -- the audio thread's side ----------------------------------------------------------------------

    def run_pending(self, frame: AudioFrame | None = None) -> None:
        """Carry out queued console requests and due timers; call on the audio thread after each pump."""
        now = time.monotonic()
        self._last_pump = now
        if frame is not None:
            for leg, pcm in (("line", frame.line), ("phone", frame.phone)):
                samples = pcm.astype(np.float64)
                window = self._power[leg]
                window.append(float(np.dot(samples, samples)) / max(1, len(samples)))
                del window[:-LEVEL_WINDOW_FRAMES]
        if self._timers:
            due = [t for t in self._timers if t[0] <= now]
            self._timers = [t for t in self._timers if t[0] > now]
            for _, action in due:
                action()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            job.run()

    def _later(self, delay_s: float, action: Callable[[], None]) -> None:
        self._timers.append((time.monotonic() + delay_s, action))

    def _pumping(self) -> bool:
        return time.monotonic() - self._last_pump < PUMP_STALE_S

    def _on_audio_thread(self, work: Callable[[], str]) -> str:
        if not self._pumping():
            return "not done: the audio loop is not running"
        job = _Job(work)
        self._jobs.put(job)
        job.done.wait(self.wait_s)
        return job.result

    # -- config ---------------------------------------------------------------------------------------

    def running_config(self) -> Config:
        """The configuration the appliance runs with right now (it may differ from a broken file)."""
        return self.app.config

    def _apply(self, config: Config) -> None:
        if not self._pumping():
            self._apply_config(config)  # nothing runs the machine now, so no race
            return
        failure: list[BaseException] = []

        def work() -> str:
            try:
                self._apply_config(config)
            except Exception as exc:  # noqa: BLE001 - reported back to the console thread below
                failure.append(exc)
            return "applied"

        if self._on_audio_thread(work) != "applied":
            raise TimeoutError("the audio loop did not take the new configuration in time")
        if failure:
            raise failure[0]

    # -- live state -----------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """One screen from the appliance's own status plus disk, MQTT and the latest records."""
        live = self.app.status()
        line = live.get("line", {})
        alarms = live.get("alarms") or []
        config = self.app.config
        return {
            "box": {"device": config.device.id, "site": config.device.site, "backend": config.device.backend},
            "line": {
                "state": line.get("phase"),
                "call": line.get("call_id"),
                "number": line.get("number"),
                "rings": self.app.line.state.ring_count,
            },
            "phone": {"hook": "off" if line.get("phone_off_hook") else "on"},
            "relay": {"bypass": line.get("bypass"), "faults": line.get("faults") or "none"},
            "mqtt": self._mqtt_summary(),
            "disk": self.disk(),
            "model": _part(live.get("detector")),
            "recorder": _part(live.get("recorder")),
            "alarms": f"{len(alarms)} recent, last: {alarms[-1].get('alarm')}" if alarms else "none",
            "calls": self.calls(3),
            "incidents": self.incidents(3),
        }

    def _mqtt_summary(self) -> dict[str, Any]:
        if self.telemetry is None:
            return {"enabled": self.app.config.mqtt.enabled, "connected": False}
        return {"connected": bool(self.telemetry.connected), "outbox": self.telemetry.outbox_depth()}

    def mqtt(self) -> dict[str, Any]:
        """Connection and outbox from the telemetry client, then the settings (secrets masked)."""
        settings = super().mqtt()
        settings.pop("connected", None)
        return {**self._mqtt_summary(), **settings}

    def model(self) -> dict[str, Any]:
        """The detector's own health report, or why it is not running."""
        info = super().model()
        info.pop("loaded", None)
        return {**info, **self.app.status().get("detector", {})}

    def diag_line(self) -> dict[str, Any]:
        """Line state, ring count, the last caller ID as stored, and the last second's levels."""
        state = self.app.line.state
        last_cid = self._query(
            "SELECT call_id, wall, data FROM events WHERE type='callerid' ORDER BY id DESC LIMIT 1", ()
        )
        windows = {
            leg: list(window) for leg, window in self._power.items()
        }  # a copy: the audio thread appends
        levels = {leg: _dbfs(sum(p) / len(p)) if p else None for leg, p in windows.items()}
        return {
            "phase": state.phase.value,
            "ring_count": state.ring_count,
            "ringing_now": state.ringing_now,
            "phone_off_hook": state.phone_off_hook,
            "bypass": state.bypass,
            "faults": sorted(state.faults) or "none",
            "caller_id": last_cid[0] if last_cid else "none received yet",
            "caller_id_messages": self._decoded_messages() or "none decoded yet",
            "level_dbfs": levels,
            "level_window_s": LEVEL_WINDOW_FRAMES * FRAME_SECONDS,
        }

    def _decoded_messages(self) -> list[dict[str, Any]]:
        # Every decoded message, checksum failures included, where the runtime keeps them (newest last).
        signals = getattr(self.app.line, "signals", None)
        recent = getattr(signals, "caller_id_raw", None)
        return [dict(m) for m in list(recent or [])[-3:] if isinstance(m, dict)]

    # -- audit ----------------------------------------------------------------------------------------

    def audit(self, action: str, detail: str) -> None:
        """The audit file, and an ``audit`` event in the call database (and so on MQTT to central IT)."""
        super().audit(action, detail)
        try:
            self.app.record(self.app.clock.now(), "audit", None, None,
                            {"source": "console", "action": action, "detail": detail})  # fmt: skip
        except Exception:  # the audit file has it; the console must go on
            log.exception("console: audit event not recorded")

    # -- tests ----------------------------------------------------------------------------------------

    def test_action(self, name: str, arg: str | None) -> str:
        """Click the relay, ring the desk phone, or play a prompt or tone to it; only while the line is idle."""
        return self._on_audio_thread(lambda: self._test(name, arg))

    def _test(self, name: str, arg: str | None) -> str:
        app = self.app
        line = app.line
        state = line.state
        if state.phase is not Phase.IDLE or state.call is not None:
            return f"refused: the line is in use ({state.phase.value}); tests run only while it is idle"
        hw = line.hw
        now = app.clock.now()
        if name == "relay":
            if state.faults:
                return f"refused: the box is in bypass for a fault ({', '.join(sorted(state.faults))})"
            hw.relays.set_bypass(not state.bypass)
            self._later(RELAY_CLICK_S, lambda: hw.relays.set_bypass(line.state.bypass))
            result = f"relay switched for {RELAY_CLICK_S:g} s and back (listen for two clicks)"
        elif name == "ring":
            hw.phone.start_ringing(None, "lineguard test")

            def stop() -> None:
                if line.state.phase is Phase.IDLE:  # a real call that began meanwhile keeps its ringing
                    hw.phone.stop_ringing()

            self._later(RING_TEST_S, stop)
            result = f"ringing the desk phone for {RING_TEST_S:g} s"
        elif name == "prompt":
            from edge.prompts import PromptError

            try:
                pcm = app.prompts.get(arg or "")
            except PromptError as exc:
                return f"not done: {exc}"
            line.mixer.play_prompt(arg or "", pcm, Leg.PHONE)
            result = (
                f"playing '{arg}' ({len(pcm) / 8000:.1f} s) to the desk phone; lift the handset to hear it"
            )
        elif name == "tone":
            line.mixer.play_tone("alert", Leg.PHONE)
            result = "playing the staff alert tone to the desk phone; lift the handset to hear it"
        else:
            return f"not done: no test called '{name}'"
        app.record(now, "console_test", None, None, {"test": name, "arg": arg})
        return result


def _part(report: Any) -> str:
    if not isinstance(report, dict):
        return "-"
    return " ".join(f"{k}={v}" for k, v in report.items() if not isinstance(v, dict | list))[:120] or "-"
