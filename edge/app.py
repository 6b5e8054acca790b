"""Composition root: builds the appliance for the chosen backend and runs it as a daemon."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from edge.config import Config, ConfigError, load_config, load_with_fallback
from edge.core import events as e
from edge.core.state import Instant
from edge.mixer import ToneFactory
from edge.ports import FRAME_SECONDS, Hardware
from edge.record.recorder import Recorder
from edge.runtime import Appliance, Clock, EventPublisher
from edge.scenarios import Scenario

log = logging.getLogger("lineguard.app")

RETENTION_EVERY_S = 3600.0
AUDIO_STALL_S = 2.0
"""No audio frame for this long is a fault: the phone goes back on the wall line."""


class WallClock:
    """Real time: the monotonic clock for timers and the configured zone's local time for the calendar."""

    def __init__(self, timezone: str) -> None:
        from zoneinfo import ZoneInfo

        self.zone = ZoneInfo(timezone)

    def now(self) -> Instant:
        """Now."""
        return Instant(time.monotonic(), dt.datetime.now(self.zone).replace(tzinfo=None))


def tone_factory() -> ToneFactory:
    """The call-progress tone generator of the DSP package."""
    from edge.dsp.generate import ToneSource

    factory: ToneFactory = ToneSource
    return factory


def chain_hook(data_dir: Path) -> Any:
    """A store hook that links every stored event into the integrity hash chain."""
    from edge.record.chain import HashChain, chain_path, event_digest

    chain = HashChain(chain_path(data_dir))

    def on_event(event_id: int, row: dict[str, Any]) -> None:
        digest = event_digest(
            event_id, row["call_id"], row["t"], row["wall"], row["type"], row["basis"], row["data"]
        )
        try:
            chain.append("event", str(event_id), digest)
        except OSError as exc:
            # A full disk must not lose the event itself; `lineguard verify` will name the unchained row.
            log.error("event %s not hash-chained: %s", event_id, exc)

    return on_event


def last_chained_event(data_dir: Path) -> int:
    """The newest event id the integrity chain names and retention has not deleted (0 without one); read
    from the file's last 64 KiB only, so a start does not read years of chain."""
    from edge.record.chain import KIND_EVENT, KIND_EVENT_DELETED, chain_path

    path = chain_path(data_dir)
    try:
        with path.open("rb") as chain:
            size = chain.seek(0, os.SEEK_END)
            chain.seek(max(0, size - (1 << 16)))
            tail = chain.read()
    except OSError:
        return 0
    lines = tail.split(b"\n")
    deleted: set[str] = set()
    for line in reversed(lines[1:] if size > len(tail) else lines):  # the first may be a partial line
        try:
            entry = json.loads(line)
            kind, ref = entry.get("kind"), str(entry.get("ref"))
        except (ValueError, AttributeError):
            continue  # the torn last line
        if kind == KIND_EVENT_DELETED:
            deleted.add(ref)
        elif kind == KIND_EVENT and ref not in deleted and ref.isdigit():
            return int(ref)
    return 0


def build_appliance(
    config: Config,
    data_dir: Path,
    hardware: Hardware,
    clock: Clock,
    *,
    threaded: bool,
    publisher: EventPublisher | None = None,
) -> Appliance:
    """The appliance with every part that is built: recorder, detector, integrity chain, telemetry sink."""
    app = Appliance(
        config,
        data_dir,
        hardware,
        clock,
        tone_factory(),
        threaded=threaded,
        publisher=publisher,
        store_hook=chain_hook(data_dir),
        last_chained_event=last_chained_event(data_dir),
    )
    attach_recorder(app)
    attach_detector(app)
    attach_caller_id_out(app, hardware)
    return app


def attach_caller_id_out(app: Appliance, hardware: Hardware) -> None:
    """A board that rings the desk phone asks for the caller ID FSK in the first ring pause; the mixer plays it."""
    phone = hardware.phone
    if not hasattr(phone, "caller_id_sender"):
        return
    from edge.dsp.generate import callerid_fsk

    dsp = app.config.dsp

    def send(number: str | None, name: str | None) -> None:
        fsk = callerid_fsk(
            number, name, app.clock.now().wall, standard=dsp.callerid_out, fmt=dsp.callerid_out_format
        )
        app.line.mixer.send_to_phone(fsk)

    phone.caller_id_sender = send


def attach_recorder(app: Appliance) -> Recorder:
    """Give the appliance its call recorder (recover cut-short recordings, apply retention once)."""

    def on_alarm(kind: str, detail: str) -> None:
        app.alarm(app.clock.now(), kind, detail)

    recorder = Recorder(app.config.recording, app.data_dir, on_alarm)
    for recovered in recorder.recover():
        app.record(app.clock.now(), "recording_recovered", None, None, {"file": recovered})
    recorder.enforce_retention(time.time())
    app.recorder = recorder
    app.recorder_impl = recorder
    app.should_record = recorder.should_record
    app.closers.append(recorder.close)
    return recorder


def expire_clips(app: Appliance) -> list[str]:
    """Alert clips follow the recordings' retention days (confirmed ones: the incident days)."""
    from edge.detect.clips import expire_clips as expire

    def on_alarm(kind: str, detail: str) -> None:
        app.alarm(app.clock.now(), kind, detail)

    rec = app.config.recording
    return expire(
        app.data_dir, dt.datetime.now(dt.UTC), rec.retention_days, rec.incident_retention_days, on_alarm
    )


def attach_detector(app: Appliance) -> None:
    """Load the abuse detector; a missing or corrupt model leaves the box in safe mode with an alarm."""
    from edge.detect.detector import load_detector

    def on_alarm(kind: str, detail: str) -> None:
        app.alarm(app.clock.now(), kind, detail)

    from edge.detect.clips import SealedClipSink

    clips = SealedClipSink(app.data_dir, app.config.recording.public_key, on_alarm)
    expire_clips(app)
    detector, problem = load_detector(app.config.detection, clips)
    if detector is None:
        app.detector_missing = problem or "the detector did not load"
        app.alarm(app.clock.now(), "detector_safe_mode", app.detector_missing)
        return
    app.detector = detector
    app.closers.append(detector.close)


def build_hardware(
    config: Config, scenario: Scenario | None = None, cache_dir: Path | None = None
) -> tuple[Hardware, Clock, Any]:
    """The backend's ports and the clock that goes with them (and the sim world, for the sim backend).

    On the sim backend, ``scenario`` is what the simulated line plays (from its own or the config's start
    time); the pi backend takes its calls from the wall line and refuses one.
    """
    if config.device.backend == "pi":
        if scenario is not None:
            from edge.cli import UserError

            raise UserError(
                "--scenario plays a simulated line: it needs device.backend = 'sim', and this config sets"
                f" {config.device.backend!r}"
            )
        from edge.backends.pi.hardware import PiHardware

        hardware: Hardware = PiHardware.from_config(config)
        return hardware, WallClock(config.device.timezone), None
    from edge.backends.sim.world import SimWorld
    from edge.simulate import SimClock

    if scenario is None:
        world = SimWorld(
            None,
            WallClock(config.device.timezone).now().wall,
            echo_return_loss_db=config.sim.echo_return_loss_db,
        )
    else:
        world = SimWorld(
            scenario,
            scenario.start or config.sim.start,
            cache_dir=cache_dir,
            echo_return_loss_db=config.sim.echo_return_loss_db,
        )
        world.prepare_audio()  # espeak-ng before the audio loop starts, never inside it
    return world.hardware, SimClock(world), world


class Daemon:
    """``lineguard run``: the audio loop on its own thread, health, retention and systemd on asyncio."""

    def __init__(self, config_path: Path | None, data_dir: Path, scenario: Scenario | None = None) -> None:
        self.config_path = config_path
        self.data_dir = data_dir
        config, problems = load_with_fallback(config_path, data_dir)
        if config.detection.calibration_file is None:
            # The box learns its site's thresholds; keep what it learned across restarts.
            detection = config.detection.model_copy(
                update={"calibration_file": data_dir / "kws-calibration.json"}
            )
            config = config.model_copy(update={"detection": detection})
        self.config = config
        self.hardware, self.clock, self.world = build_hardware(config, scenario, data_dir / "cache")
        self.telemetry: Any = None
        if config.mqtt.enabled:
            self.telemetry = self._telemetry(config)
        self.app = build_appliance(
            config, data_dir, self.hardware, self.clock, threaded=True, publisher=self.telemetry
        )
        self.app.keep_timeline = False  # a box runs for years: the store keeps the events, not memory
        for problem in problems:
            self.app.alarm(self.clock.now(), "config_invalid", problem)
        self._stop = threading.Event()
        self.shared_repeat_callers: tuple[int, list[str]] = (0, [])
        self.console: Any = None
        self._last_frame = time.monotonic()
        self._audio_fault = False

    def _telemetry(self, config: Config) -> Any:
        from edge.detect.clips import pack_clips
        from edge.record.recorder import export_recording
        from edge.telemetry.client import Telemetry
        from edge.telemetry.commands import BaseCommandHandler

        handler = BaseCommandHandler(
            get_config=lambda: self.app.config,
            apply_config=self.apply_config,
            sync_repeat_callers=self.sync_repeat_callers,
            save_prompt=self.save_prompt,
            read_recording=lambda call_id: export_recording(self.data_dir, call_id, "central"),
            read_clips=lambda after, limit: pack_clips(self.data_dir, after, limit, "central"),
            reboot=self.reboot,
        )
        return Telemetry(config.mqtt, config.device.id, config.device.site, self.data_dir, handler)

    def sync_repeat_callers(self, version: int, numbers: list[str]) -> None:
        """Central's shared repeat-caller list: kept for status; blocked here only when auto_block is set."""
        self.shared_repeat_callers = (version, list(numbers))
        if self.app.config.lists.auto_block:
            for number in numbers:
                self.app.inject_block(number)
        self.app.record(
            self.clock.now(), "repeat_callers_synced", None, None, {"version": version, "count": len(numbers)}
        )

    def save_prompt(self, name: str, wav: bytes) -> None:
        """A prompt uploaded by central replaces the shipped one (checked to be readable audio first)."""
        from edge.audio import read_wav_bytes

        read_wav_bytes(wav)
        folder = self.data_dir / "prompts"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{name}.wav.tmp"
        tmp.write_bytes(wav)
        os.replace(tmp, folder / f"{name}.wav")
        prompts = self.app.config.prompts.model_copy(update={"directory": folder})
        self.apply_config(self.app.config.model_copy(update={"prompts": prompts}))

    def reboot(self) -> None:
        """Reboot the board (the relay drops to bypass while it is down); the simulator just stops."""
        self.app.record(self.clock.now(), "reboot", None, None, {"by": "central"})
        if self.config.device.backend == "pi":
            subprocess.run(["systemctl", "reboot"], check=False, timeout=30)
        else:
            self._stop.set()

    def health(self) -> dict[str, Any]:
        """The health sample central receives: system figures, line state, parts, outbox depth."""
        from edge.telemetry.health import system_health

        sample = {**system_health(self.data_dir), **self.app.status()}
        if self.telemetry is not None:
            sample["outbox_depth"] = self.telemetry.outbox_depth()
            sample["last_error"] = self.telemetry.last_error or (
                self.app.writer.errors[-1] if self.app.writer.errors else None
            )
        sample["shared_repeat_callers_version"] = self.shared_repeat_callers[0]
        return sample

    def reload(self) -> None:
        """SIGHUP: read the config file again; a bad one is reported and the running config kept."""
        if self.config_path is None:
            return
        try:
            config = load_config(self.config_path)
        except ConfigError as error:
            detail = f"{error.source}: " + "; ".join(error.problems) + " (keeping the running config)"
            self.app.alarm(self.clock.now(), "config_invalid", detail)
            return
        self.apply_config(config)
        self.app.record(self.clock.now(), "config_reloaded", None, None, {"file": str(self.config_path)})
        load_with_fallback(self.config_path, self.data_dir)  # refreshes the last-good copy

    def apply_config(self, config: Config) -> None:
        """Swap in a validated config (from MQTT or the console) between events."""
        self.app.apply_config(config)

    def audio_loop(self) -> None:
        """Pump frames until stopped; a stalled audio device raises a fault (bypass) and clears it on return."""
        audio = self.hardware.audio
        while not self._stop.is_set():
            if self.world is not None:
                self.world.advance(self.world.clock.t + FRAME_SECONDS)
                time.sleep(FRAME_SECONDS)
            frame = audio.read(0.1)
            now = time.monotonic()
            if frame is not None:
                self._last_frame = now
                if self._audio_fault:
                    self._audio_fault = False
                    self.app.inject(e.FaultCleared("audio"))
            elif now - self._last_frame > AUDIO_STALL_S and not self._audio_fault:
                self._audio_fault = True
                self.app.inject(e.FaultRaised("audio", f"no audio for {AUDIO_STALL_S:.0f} s"))
            self.app.pump(frame)
            if self.console is not None:
                self.console.run_pending(frame)

    def audio_alive(self) -> bool:
        """Whether the audio loop made progress recently (the only condition for the watchdog kick)."""
        return time.monotonic() - self._last_frame < AUDIO_STALL_S

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.app.start()  # first, so the first health report already shows the box in the line
        health_loop = None
        if self.telemetry is not None:
            from edge.telemetry.health import HealthLoop

            self.telemetry.start()
            health_loop = HealthLoop(self.telemetry, self.health, self.config.mqtt.health_interval_s)
            health_loop.start()
        from edge.console.service import ConsoleService

        self.console = ConsoleService.start_if_configured(
            self.app, self.config_path, apply_config=self.apply_config, telemetry=self.telemetry
        )
        audio = threading.Thread(target=self.audio_loop, name="lineguard-audio", daemon=True)
        audio.start()
        tasks = [
            asyncio.create_task(self._notify(), name="systemd-notify"),
            asyncio.create_task(self._retention(), name="retention"),
        ]
        while not self._stop.is_set():
            await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        audio.join(timeout=5)
        if self.console is not None:
            self.console.stop()
        if health_loop is not None:
            health_loop.stop()
        if self.telemetry is not None:
            self.telemetry.stop()
        self.app.close()

    async def _notify(self) -> None:
        from edge.sdnotify import notify

        notify("READY=1")
        while True:
            if self.audio_alive():
                notify("WATCHDOG=1")
            await asyncio.sleep(5.0)

    async def _retention(self) -> None:
        while True:
            recorder = self.app.recorder_impl
            if recorder is not None:
                await asyncio.to_thread(recorder.enforce_retention, time.time())
            await asyncio.to_thread(expire_clips, self.app)
            await asyncio.sleep(RETENTION_EVERY_S)


def run_daemon(config_path: Path | None, data_dir: Path, scenario: Scenario | None = None) -> int:
    """Entry point of ``lineguard run`` (``scenario``: what the sim backend's line plays)."""
    logging.basicConfig(
        level=os.environ.get("LINEGUARD_LOG", "INFO"), format="%(asctime)s %(name)s %(message)s"
    )
    daemon = Daemon(config_path, data_dir, scenario)
    asyncio.run(daemon.run())
    return 0
