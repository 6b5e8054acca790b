"""The console as one service of the daemon: start it when ``[console] serial_device`` is set."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.config import Config
from edge.console.appliance_backend import ApplianceBackend
from edge.console.serve import SerialConsole
from edge.ports import AudioFrame

if TYPE_CHECKING:
    from edge.runtime import Appliance


class ConsoleService:
    """The serial console on a running appliance; the daemon calls ``run_pending`` from its audio loop."""

    def __init__(self, backend: ApplianceBackend, console: SerialConsole) -> None:
        self.backend = backend
        self.console = console

    @classmethod
    def start_if_configured(
        cls,
        app: Appliance,
        config_path: Path | None,
        *,
        apply_config: Callable[[Config], None] | None = None,
        telemetry: Any = None,
        log_path: Path | None = None,
        device: str | None = None,
    ) -> ConsoleService | None:
        """Start serving on ``device`` or ``[console] serial_device``; None when neither is set."""
        settings = app.config.console
        device = device or settings.serial_device
        if not device:
            return None
        backend = ApplianceBackend(
            app, config_path, apply_config=apply_config, telemetry=telemetry, log_path=log_path
        )
        console = SerialConsole(backend, settings, app.data_dir, device=device)
        console.start()
        return cls(backend, console)

    def run_pending(self, frame: AudioFrame | None) -> None:
        """Call on the audio thread after each ``app.pump(frame)``."""
        self.backend.run_pending(frame)

    def stop(self) -> None:
        """Stop serving (the port is closed)."""
        self.console.stop()
