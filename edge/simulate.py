"""Run a scenario through the whole appliance on the sim backend, faster than real time or in real time."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.app import build_appliance
from edge.backends.sim.world import SimWorld
from edge.config import Config
from edge.core.state import Instant
from edge.ports import FRAME_SECONDS
from edge.runtime import POLICY_TYPES, Appliance, EventPublisher, Record
from edge.scenarios import Scenario

SETTLE_S = 5.0
"""Seconds the simulation runs on after the last scripted thing, so every call record closes."""
MAX_CALL_S = 3 * 3600.0
FLUSH_EVERY_FRAMES = 250


class SimClock:
    """The runtime's clock read from the simulated world."""

    def __init__(self, world: SimWorld) -> None:
        self.world = world

    def now(self) -> Instant:
        """Virtual monotonic seconds and the matching local wall time."""
        return Instant(self.world.clock.t, self.world.clock.wall())


@dataclass
class SimResult:
    """What a scenario run produced."""

    scenario: Scenario
    calls: list[dict[str, Any]]
    timeline: list[Record]
    appliance: Appliance
    world: SimWorld
    sim_seconds: float
    wall_seconds: float

    def policy_bases(self) -> list[str]:
        """Legal-basis codes of the policy actions, in order."""
        return [r.basis for r in self.timeline if r.type in POLICY_TYPES and r.basis]

    def outcomes(self) -> list[str]:
        """Each call's outcome, in call order."""
        return [str(c["outcome"]) for c in self.calls]

    def expectation_failures(self) -> list[str]:
        """Where the run differs from the scenario's [expect] table."""
        problems = []
        expect = self.scenario.expect
        if expect.outcomes is not None and expect.outcomes != self.outcomes():
            problems.append(f"outcomes {self.outcomes()} differ from expected {expect.outcomes}")
        if expect.bases is not None and expect.bases != self.policy_bases():
            problems.append(f"legal bases {self.policy_bases()} differ from expected {expect.bases}")
        return problems

    def as_json(self) -> dict[str, Any]:
        """The ``simulate --json`` object."""
        return {
            "scenario": self.scenario.name,
            "calls": self.calls,
            "events": [r.as_dict() for r in self.timeline],
            "expectations": self.expectation_failures(),
            "sim_seconds": round(self.sim_seconds, 2),
            "wall_seconds": round(self.wall_seconds, 3),
        }


def run_scenario(
    scenario: Scenario,
    config: Config,
    data_dir: Path,
    *,
    realtime: bool = False,
    publisher: EventPublisher | None = None,
    settle_s: float = SETTLE_S,
) -> SimResult:
    """Play ``scenario`` against a fresh appliance whose state lives in ``data_dir``."""
    start = scenario.start or config.sim.start
    world = SimWorld(
        scenario, start, cache_dir=data_dir / "cache", echo_return_loss_db=config.sim.echo_return_loss_db
    )
    world.prepare_audio()
    clock = SimClock(world)
    app = build_appliance(config, data_dir, world.hardware, clock, threaded=False, publisher=publisher)
    wall_start = time.monotonic()
    try:
        app.start()
        t = 0.0
        limit = world.last_call_start + MAX_CALL_S
        quiet_since: float | None = None
        frames = 0
        recorder = app.recorder_impl
        while t < limit:
            world.advance(t)
            app.pump(world.hardware.audio.read(0.0))
            idle = not world.pending and app.line.state.call is None
            quiet_since = (quiet_since if quiet_since is not None else t) if idle else None
            if quiet_since is not None and t - quiet_since >= settle_s:
                break
            t += FRAME_SECONDS
            frames += 1
            if not realtime and recorder is not None and frames % FLUSH_EVERY_FRAMES == 0:
                recorder.flush()  # virtual time waits for the disk, so nothing is dropped at 100x speed
            if realtime:
                lag = (wall_start + t) - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
        app.writer.close()
        calls = app.store.calls_by_id(app.call_ids) if app.call_ids else []
        return SimResult(scenario, calls, app.timeline, app, world, t, time.monotonic() - wall_start)
    finally:
        app.close()


def format_timeline(result: SimResult) -> str:
    """A readable timeline: one line per event, with the legal basis where there is one."""
    quiet = {"tone_started", "prompt_finished", "bridged", "unbridged", "line_seized", "line_released"}
    lines = (
        [f"== {result.scenario.name} ==", result.scenario.description.strip()]
        if result.scenario.description
        else [f"== {result.scenario.name} =="]
    )
    for r in result.timeline:
        if r.type in quiet:
            continue
        stamp = _clock(r.t)
        detail = " ".join(f"{k}={v}" for k, v in r.data.items() if v not in (None, ""))
        basis = f" [{r.basis}]" if r.basis else ""
        lines.append(f"  {stamp}  {r.type:<20}{basis} {detail}".rstrip())
    for call in result.calls:
        duration = call.get("duration_s")
        lines.append(
            f"  call {call['call_id']}: {call['direction']} {call.get('number') or '-'} -> {call.get('outcome')}"
            f" ({call.get('basis') or 'no basis'}), {duration:.1f} s"
            if duration is not None
            else ""
        )
    for problem in result.expectation_failures():
        lines.append(f"  !! {problem}")
    lines.append(
        f"  ({result.sim_seconds:.0f} s simulated in {result.wall_seconds:.2f} s, "
        f"{result.sim_seconds / max(result.wall_seconds, 1e-6):.0f}x real time)"
    )
    return "\n".join(lines)


def _clock(t: float) -> str:
    minutes, seconds = divmod(t, 60.0)
    return f"{int(minutes):02d}:{seconds:06.3f}"


def local_now(config: Config) -> dt.datetime:
    """The current local wall time in the configured time zone (naive, as the calendar expects)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo(config.device.timezone)).replace(tzinfo=None)
