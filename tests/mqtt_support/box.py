"""A test appliance: real Telemetry + BaseCommandHandler whose callables record what central made them do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from central.receiver import Receiver
from edge.config import Config, default_config
from edge.detect.clips import pack_clips
from edge.telemetry.client import Telemetry
from edge.telemetry.commands import BaseCommandHandler, ModelSlot
from tests.mqtt_support import Broker
from tests.mqtt_support.fixtures import wait_for

CENTRAL_KEY = SigningKey(bytes(range(32)))
MODEL = b"TFL3" + bytes(range(256)) * 4


class Box:
    """A device with a real Telemetry and BaseCommandHandler, recording what its callables saw."""

    def __init__(self, broker: Broker, device: str, data: Path) -> None:
        self.config = default_config()
        self.applied: list[Config] = []
        self.slot = ModelSlot(data / "models")
        self.shared: list[tuple[int, list[str]]] = []
        self.handled: list[str] = []
        self.prompts: list[str] = []
        handler = BaseCommandHandler(
            get_config=lambda: self.config,
            apply_config=self._apply,
            model_public_key=bytes(CENTRAL_KEY.verify_key),
            install_model=lambda version, blob: self.slot.install(version, blob, check=self._check_model),
            rollback_model=self.slot.rollback,
            sync_repeat_callers=lambda version, numbers: self.shared.append((version, numbers)),
            save_prompt=lambda prompt, _wav: self.prompts.append(prompt),
            read_recording=lambda call_id: (data / f"{call_id}.lgrec").read_bytes(),
            read_clips=lambda after, limit: pack_clips(data, after, limit, "central"),
        )
        original = handler.handle

        def handle(name: str, payload: dict[str, Any]) -> dict[str, Any]:
            if name != "lists.shared":  # the retained shared list arrives on its own
                self.handled.append(name)
            return original(name, payload)

        handler.handle = handle  # type: ignore[method-assign]
        self.telemetry = Telemetry(broker.settings(device), device, "site-a", data, handler)
        self.telemetry.start()
        wait_for(lambda: self.telemetry.connected, 10, f"{device} did not connect")

    def _apply(self, config: Config) -> None:
        if config.escalation.warnings_before_cut == 4:
            raise RuntimeError("simulated failure while applying")
        self.config = config
        self.applied.append(config)

    @staticmethod
    def _check_model(path: Path) -> None:
        if not path.read_bytes().startswith(b"TFL3"):
            raise ValueError("not a TFLite flatbuffer")


@pytest.fixture
def box(tmp_path: Path, broker: Broker, receiver: Receiver) -> Iterator[Box]:
    b = Box(broker, "lg-a", tmp_path / "lg-a")
    time.sleep(0.2)  # subscriptions settle
    yield b
    b.telemetry.stop()
