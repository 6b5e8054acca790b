"""Scenario files: TOML scripts of calls for the sim backend (who calls, what they say, what staff do)."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from edge.config import Config, ConfigError, default_config, describe_error, parse_config
from edge.core.events import Category, Tier
from edge.settings import Section

Anchor = Literal["ring", "answer", "connected"]


class Detection(Section):
    """An abuse detection injected by the scenario (stands in for the detector when asked to)."""

    category: Category = Field(title="Category", description="profanity, threat or sexual.")
    tier: Tier = Field(
        Tier.WARN, title="Tier", description="'warn' (caller warning) or 'alert' (staff only)."
    )
    keyword: str = Field("", title="Keyword", description="What was heard, for the log.")
    score: float = Field(0.99, ge=0.0, le=1.0, title="Score", description="Detector score to report.")


class Step(Section):
    """One thing that happens in a call, at a time relative to an anchor of that call."""

    at: float = Field(ge=0.0, title="At", description="Seconds after the anchor.")
    anchor: Anchor = Field(
        "connected",
        alias="from",
        title="Anchor",
        description="'ring' (first ring / off-hook for outgoing), 'answer' (box answers) or 'connected' (staff on).",
    )
    say: str | None = Field(
        None, title="Caller says", description="Korean text the caller speaks (espeak-ng)."
    )
    wav: Path | None = Field(
        None,
        title="Caller audio",
        description="A WAV file the caller plays (relative paths: scenario folder).",
    )
    staff_say: str | None = Field(
        None, title="Staff says", description="Korean text the staff member speaks."
    )
    hangup: Literal["caller", "staff"] | None = Field(None, title="Hang up", description="Who hangs up.")
    press: Literal["short", "long"] | None = Field(None, title="Button", description="Staff button press.")
    dtmf: str | None = Field(
        None, pattern=r"^[0-9*#A-D]{1,32}$", title="Keypad", description="Digits staff key on the handset."
    )
    detect: Detection | None = Field(None, title="Injected detection", description="A detection to inject.")
    voice: str | None = Field(
        None,
        title="Voice",
        description="espeak-ng voice for 'say' or 'staff_say' (e.g. ko, ko+f2); default ko for the caller, "
        "ko+m3 for the staff.",
    )

    model_config = Section.model_config | {"populate_by_name": True}

    @model_validator(mode="after")
    def _one_thing(self) -> Step:
        things = [self.say, self.wav, self.staff_say, self.hangup, self.press, self.dtmf, self.detect]
        if sum(x is not None for x in things) != 1:
            raise ValueError(
                "each step does exactly one of: say, wav, staff_say, hangup, press, dtmf, detect"
            )
        return self


class CallScript(Section):
    """One call in a scenario."""

    at: float = Field(0.0, ge=0.0, title="Starts at", description="Seconds after the scenario starts.")
    direction: Literal["in", "out"] = Field("in", title="Direction", description="Incoming or outgoing.")
    number: str | None = Field(
        None, title="Number", description="Caller's number (incoming) or the dialled one."
    )
    name: str | None = Field(None, title="Name", description="Caller ID name, if the exchange sends one.")
    withheld: Literal["O", "P"] | None = Field(
        None, title="Withheld", description="Number withheld: 'O' out of area, 'P' private."
    )
    pickup_after: float | None = Field(
        3.0,
        ge=0.0,
        title="Staff pick up after",
        description="Seconds the desk phone rings before staff lift it; leave out for nobody.",
    )
    far_end_answers_after: float = Field(
        4.0,
        ge=0.0,
        title="Far end answers after",
        description="Outgoing calls: seconds until the far end answers.",
    )
    hangup_signal: Literal["loop_drop", "busy_tone"] = Field(
        "loop_drop",
        title="Hang-up signal",
        description="How the exchange tells the box the caller hung up: loop-current drop, or only a busy tone.",
    )
    gives_up_after_rings: int = Field(
        12, ge=1, le=50, title="Gives up after", description="Rings the caller waits if nobody answers."
    )
    steps: list[Step] = Field(default_factory=list, title="Steps", description="What happens, in any order.")


class Expect(Section):
    """What the scenario should produce; `lineguard simulate` checks and reports it."""

    outcomes: list[str] | None = Field(None, title="Outcomes", description="Each call's outcome, in order.")
    bases: list[str] | None = Field(
        None, title="Legal bases", description="The legal-basis codes of the policy actions, in order."
    )


class Scenario(Section):
    """A whole scenario file."""

    name: str = Field(title="Name", description="Short title.")
    description: str = Field("", title="Description", description="What the scenario shows.")
    start: dt.datetime | None = Field(
        None,
        title="Start",
        description="Local wall time the scenario starts (default: the config's sim.start).",
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        title="Config overrides",
        description="Config tables merged over the base config.",
    )
    calls: list[CallScript] = Field(title="Calls", description="The calls, by start time.", min_length=1)
    expect: Expect = Field(default_factory=Expect, title="Expected", description="Expected outcomes.")


class ScenarioError(Exception):
    """A scenario file could not be used; ``problems`` lists what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def shipped_scenario_dir() -> Path:
    """The folder of scenarios shipped in the package."""
    return Path(str(resources.files("edge").joinpath("scenarios")))


def shipped_scenarios() -> list[Path]:
    """Every shipped scenario, in demo order (file names start with a number)."""
    return sorted(shipped_scenario_dir().glob("*.toml"))


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; relative WAV paths are resolved against its folder."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), [f"cannot be read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(str(path), [f"not valid TOML: {exc}"]) from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(str(path), [describe_error(err) for err in exc.errors()]) from None
    for call in scenario.calls:
        for step in call.steps:
            if step.wav is not None and not step.wav.is_absolute():
                object.__setattr__(step, "wav", path.parent / step.wav)
    return scenario


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def scenario_config(scenario: Scenario, base: Config | None = None, source: str = "scenario") -> Config:
    """The base config with the scenario's overrides applied (the sim backend and an inline detector forced)."""
    base = base or default_config()
    data = _merge(base.model_dump(mode="json", exclude_none=True), scenario.config)
    # Simulations run the detector inline, so a scenario gives the same detections on every run.
    data = _merge(data, {"device": {"backend": "sim"}, "detection": {"inline": True}})
    try:
        return parse_config(data, f"{source} [config]")
    except ConfigError as error:
        raise ScenarioError(source, error.problems) from None
