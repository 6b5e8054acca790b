"""What the console needs from the appliance: one small protocol, met by the running appliance or a file view."""

from __future__ import annotations

from typing import Any, Protocol

TEST_ACTIONS: tuple[str, ...] = ("relay", "ring", "prompt", "tone")
"""Names accepted by ``ConsoleBackend.test_action``; only ``prompt`` takes an argument (the prompt id)."""


class ConsoleBackend(Protocol):
    """Everything a console command reads or changes. Methods must not block for long (the console waits).

    Dicts are rendered generically (nested dicts as sections, lists as rows), so an adapter can add keys
    freely. ``status()`` is expected to hold, where known: ``line`` (state, hook, rings), ``phone`` (state,
    hook), ``relay`` (bypass, watchdog), ``mqtt`` (connected, broker, outbox), ``disk`` (free, used),
    ``model`` (name, loaded), ``calls`` (recent call rows), ``incidents`` (recent incident rows).
    """

    def status(self) -> dict[str, Any]:
        """A one-screen summary of the box."""

    def calls(self, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` call records, newest first."""

    def events(self, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` call events and incidents, newest first."""

    def config_text(self) -> str:
        """The running configuration as TOML text."""

    def apply_config_text(self, text: str) -> list[str]:
        """Validate and atomically switch to ``text``; returns problems (empty list: applied)."""

    def rollback_config(self) -> str:
        """Go back to the configuration before the last apply; returns what happened, in one sentence."""

    def test_action(self, name: str, arg: str | None) -> str:
        """Run one of ``TEST_ACTIONS``; returns what was done, in one sentence."""

    def diag_line(self) -> dict[str, Any]:
        """Line diagnostics: ring count, last caller ID raw bytes, levels."""

    def net(self) -> dict[str, Any]:
        """Network interfaces and addresses."""

    def mqtt(self) -> dict[str, Any]:
        """MQTT connection, broker, outbox depth."""

    def model(self) -> dict[str, Any]:
        """The keyword-spotting model: file, version, whether it loaded."""

    def log_tail(self, n: int) -> list[str]:
        """The last ``n`` log lines."""

    def reboot(self) -> str:
        """Restart the box (or say why not); returns what happened, in one sentence."""

    def audit(self, action: str, detail: str) -> None:
        """Record who changed what (the console calls this for every login, change and test)."""
