"""A simulated appliance in this process, for ``lineguard console --sim``: a live (simulated) line to try."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from edge.config import Config
from edge.console.appliance_backend import ApplianceBackend
from edge.console.service import ConsoleService
from edge.ports import FRAME_SECONDS


class SimAppliance:
    """The appliance on the sim backend, pumped in real time on its own thread, with a console backend."""

    def __init__(
        self,
        config: Config,
        config_path: Path | None,
        data_dir: Path,
        log_path: Path | None = None,
        device: str | None = None,
    ) -> None:
        from edge.app import build_appliance, build_hardware

        config = config.model_copy(update={"device": config.device.model_copy(update={"backend": "sim"})})
        self.hardware, self.clock, self.world = build_hardware(config)
        self.app = build_appliance(config, data_dir, self.hardware, self.clock, threaded=True)
        # With a device, the console is served the way the daemon serves it (ConsoleService).
        self.service = (
            ConsoleService.start_if_configured(self.app, config_path, log_path=log_path, device=device)
            if device
            else None
        )
        self.backend = (
            self.service.backend
            if self.service
            else ApplianceBackend(self.app, config_path, log_path=log_path)
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sim-audio", daemon=True)
        self.frames = 0

    def start(self) -> None:
        """Start the call machine and the audio loop."""
        self.app.start()
        self._thread.start()

    def _loop(self) -> None:
        world: Any = self.world
        next_at = time.monotonic()
        while not self._stop.is_set():
            world.advance(world.clock.t + FRAME_SECONDS)
            frame = self.hardware.audio.read(0.0)
            self.app.pump(frame)
            self.backend.run_pending(frame)
            self.frames += 1
            next_at += FRAME_SECONDS
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()  # fell behind (a loaded machine): do not try to catch up

    def close(self) -> None:
        """Stop the loop and close the appliance (the relay ends in bypass)."""
        if self.service is not None:
            self.service.stop()
        self._stop.set()
        self._thread.join(5.0)
        self.app.close()
