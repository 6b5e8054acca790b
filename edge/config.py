"""Appliance configuration: pydantic models (unknown keys rejected), TOML loading, last-good fallback."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from edge.backends.pi.settings import PiConfig
from edge.console.settings import ConsoleConfig
from edge.detect.settings import DetectionConfig
from edge.dsp.settings import DspConfig
from edge.record.settings import RecordingConfig
from edge.settings import Section, check_phone_numbers
from edge.telemetry.settings import MqttConfig

DEFAULT_CONFIG_PATH = Path("/etc/lineguard/lineguard.toml")
LAST_GOOD_NAME = "config.last-good.toml"

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DTMF_CODE = re.compile(r"^[0-9*#A-D]{2,8}$")

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError("must be a 24-hour time HH:MM, e.g. 09:00")
    return value


def clock_minutes(value: str) -> int:
    """Minutes after midnight of an ``HH:MM`` string."""
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


class DeviceConfig(Section):
    """Who this box is and which hardware backend it runs on."""

    id: str = Field(
        "lg-demo-0001",
        title="Device id",
        description="Unique id of this box; the MQTT topic prefix is lineguard/<site>/<id>/.",
        pattern=r"^[a-z0-9][a-z0-9-]{2,62}$",
    )
    site: str = Field(
        "demo-center",
        title="Site",
        description="The community center this box serves (lower-case, digits, dashes).",
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$",
    )
    backend: Literal["sim", "pi"] = Field(
        "sim", title="Backend", description="Hardware backend: 'pi' for the board, 'sim' for the simulator."
    )
    timezone: str = Field(
        "Asia/Seoul", title="Time zone", description="IANA time zone for the calendar and call records."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Asia/Seoul") from exc
        return value


class CallConfig(Section):
    """Timing of the call flow around ringing, answering and releasing."""

    answer_on_ring: int = Field(
        2,
        ge=1,
        le=10,
        title="Answer on ring",
        description="Answer when this ring begins; 2 leaves room for the caller ID sent after the first ring.",
    )
    ring_gone_s: float = Field(
        8.0,
        ge=4.0,
        le=30.0,
        title="Ring gone after",
        description="Seconds with no ring after which an unanswered incoming call is over (caller gave up).",
    )
    phone_ring_timeout_s: float = Field(
        60.0,
        ge=10.0,
        le=600.0,
        title="Desk phone ring timeout",
        description="Seconds the desk phone rings before the box gives up and releases the line.",
    )
    hold_message_pass_through: bool = Field(
        True,
        title="Pass through after a 'please hold' message",
        description="After a calendar message in 'hold' mode, ring the desk phone instead of hanging up.",
    )


class DurationConfig(Section):
    """Call-length limits (duration.limit)."""

    notice_s: float = Field(
        900.0,
        gt=0,
        title="Notice after",
        description="Seconds after connection when the duration notice plays.",
    )
    cut_s: float = Field(
        1200.0, gt=0, title="Cut after", description="Seconds after connection when the call is ended."
    )
    enabled: bool = Field(True, title="Enabled", description="Enforce the call-length limits at all.")

    @model_validator(mode="after")
    def _notice_before_cut(self) -> DurationConfig:
        if self.notice_s >= self.cut_s:
            raise ValueError(f"notice_s ({self.notice_s:g}) must be smaller than cut_s ({self.cut_s:g})")
        return self


class EscalationConfig(Section):
    """The escalation ladder per abuse category."""

    warnings_before_cut: int = Field(
        1,
        ge=0,
        le=5,
        title="Warnings before cut",
        description="Confident detections answered with a warning before the next one ends the call.",
    )
    alert_tone: bool = Field(
        True,
        title="Staff alert tone",
        description="Play a short tone on the staff leg alone for a possible detection.",
    )
    refractory_s: float = Field(
        3.0,
        ge=0.0,
        le=30.0,
        title="Refractory time",
        description="Seconds after a warning during which further detections are not acted on.",
    )
    staff_confirm_cuts: bool = Field(
        True,
        title="Staff confirmation cuts",
        description="A short press or warn code after the caller was already warned ends the call.",
    )


class StaffConfig(Section):
    """Staff controls: the button and the DTMF codes read on the phone leg."""

    dtmf_warn: str = Field(
        "*1#", title="Warn code", description="DTMF code on the handset that warns the caller."
    )
    dtmf_cut: str = Field(
        "*9#",
        title="Cut code",
        description="DTMF code on the handset that warns the caller and ends the call.",
    )
    dtmf_mark: str = Field(
        "*7#", title="Mark code", description="DTMF code on the handset that marks the caller (a strike)."
    )
    dtmf_timeout_s: float = Field(
        3.0, gt=0, le=10, title="Code timeout", description="Seconds allowed between the digits of one code."
    )
    long_press_s: float = Field(
        1.5, ge=0.5, le=5.0, title="Long press", description="Seconds the button is held for a long press."
    )

    @field_validator("dtmf_warn", "dtmf_cut", "dtmf_mark")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _DTMF_CODE.match(value) or not value.startswith(("*", "#")):
            raise ValueError("must be 2-8 DTMF symbols starting with * or #, e.g. *9#")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> StaffConfig:
        codes = [self.dtmf_warn, self.dtmf_cut, self.dtmf_mark]
        if len(set(codes)) != 3:
            raise ValueError(f"dtmf_warn, dtmf_cut and dtmf_mark must differ, got {codes}")
        for a in codes:
            for b in codes:
                if a != b and b.startswith(a):
                    raise ValueError(f"code {a} is a prefix of {b}, so {b} could never be dialled")
        return self


class ListsConfig(Section):
    """Numbers the box treats specially, and the repeat-caller rule."""

    blocklist: tuple[str, ...] = Field(
        (), title="Blocklist", description="Numbers answered with the block notice and released."
    )
    strikes_to_propose: int = Field(
        3,
        ge=1,
        le=100,
        title="Strikes to propose",
        description="Cuts within the window that propose a block.",
    )
    strike_window_days: int = Field(
        30, ge=1, le=3650, title="Strike window", description="Days over which strikes are counted."
    )
    auto_block: bool = Field(
        False,
        title="Block locally",
        description="Block a number here as soon as it is proposed, instead of waiting for central IT.",
    )

    @field_validator("blocklist")
    @classmethod
    def _numbers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return check_phone_numbers(value)


class WeeklyHours(Section):
    """Office hours on the working days."""

    days: tuple[Weekday, ...] = Field(
        ("mon", "tue", "wed", "thu", "fri"), title="Days", description="Working days."
    )
    open: Annotated[str, Field(title="Opens", description="Opening time HH:MM.")] = "09:00"
    close: Annotated[str, Field(title="Closes", description="Closing time HH:MM.")] = "18:00"

    @field_validator("open", "close")
    @classmethod
    def _clock_format(cls, value: str) -> str:
        return _clock(value)

    @model_validator(mode="after")
    def _order(self) -> WeeklyHours:
        if clock_minutes(self.open) >= clock_minutes(self.close):
            raise ValueError(f"open ({self.open}) must be before close ({self.close})")
        return self


class DailyWindow(Section):
    """A time window every working day, e.g. the lunch hour."""

    start: str = Field("12:00", title="Start", description="Start time HH:MM.")
    end: str = Field("13:00", title="End", description="End time HH:MM.")
    enabled: bool = Field(True, title="Enabled", description="Whether the window applies.")

    @field_validator("start", "end")
    @classmethod
    def _clock_format(cls, value: str) -> str:
        return _clock(value)

    @model_validator(mode="after")
    def _order(self) -> DailyWindow:
        if clock_minutes(self.start) >= clock_minutes(self.end):
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self


class DateRange(Section):
    """Dates (inclusive) during which a message applies, e.g. while the office has moved."""

    first: dt.date = Field(title="First day", description="First day the message applies.")
    last: dt.date = Field(title="Last day", description="Last day the message applies.")
    prompt: str = Field("office_moved", title="Prompt", description="Prompt id played to the caller.")
    hold: bool = Field(
        False,
        title="Please hold",
        description="After the message, pass the call through instead of hanging up.",
    )

    @model_validator(mode="after")
    def _order(self) -> DateRange:
        if self.first > self.last:
            raise ValueError(f"first ({self.first}) must not be after last ({self.last})")
        return self


class CalendarConfig(Section):
    """When the office answers, and which message plays when it does not."""

    enabled: bool = Field(True, title="Enabled", description="Apply the calendar at all.")
    office_hours: WeeklyHours = Field(
        default_factory=WeeklyHours, title="Office hours", description="Open times."
    )
    lunch: DailyWindow = Field(
        default_factory=DailyWindow, title="Lunch hour", description="The lunch break."
    )
    holidays: tuple[dt.date, ...] = Field(
        (), title="Holidays", description="Closed days (public holidays); the after-hours message plays."
    )
    moved: DateRange | None = Field(
        None, title="Office moved", description="A date range with the office-moved message, if any."
    )


class PromptsConfig(Section):
    """Prompt texts and audio; the box ships generated audio and accepts replacement WAV files."""

    directory: Path | None = Field(
        None,
        title="Prompt folder",
        description="Folder of replacement prompts named <id>.wav (mono 16-bit, any rate); shipped audio otherwise.",
    )
    level_dbm0: float = Field(
        -16.0, ge=-30.0, le=-6.0, title="Level", description="Prompt playback level on the line, dBm0."
    )
    texts: dict[str, str] = Field(
        default_factory=dict,
        title="Texts",
        description="Replacement texts per prompt id, synthesized with espeak-ng when no WAV is given.",
    )


class SimConfig(Section):
    """The simulated backend."""

    realtime: bool = Field(
        False,
        title="Real time",
        description="Pace the simulation at wall-clock speed instead of as fast as possible.",
    )
    start: dt.datetime = Field(
        dt.datetime(2026, 11, 23, 10, 0, 0),
        title="Start time",
        description="Local wall-clock time at which a scenario starts, unless the scenario sets its own.",
    )
    echo_return_loss_db: float = Field(
        15.0,
        ge=0.0,
        le=60.0,
        title="Echo",
        description="The simulated line and desk phone send what the box plays to them back on their leg this "
        "many dB down, one frame later, as a DAA's and a SLIC's hybrids do (10-20 dB on a line they are not "
        "matched to); 0: no echo.",
    )


class Config(Section):
    """The whole appliance configuration (one TOML file)."""

    device: DeviceConfig = Field(
        default_factory=DeviceConfig, title="Device", description="Identity, backend."
    )
    call: CallConfig = Field(default_factory=CallConfig, title="Call flow", description="Call-flow timing.")
    duration: DurationConfig = Field(
        default_factory=DurationConfig, title="Duration", description="Call-length limits."
    )
    escalation: EscalationConfig = Field(
        default_factory=EscalationConfig, title="Escalation", description="The abuse ladder."
    )
    staff: StaffConfig = Field(
        default_factory=StaffConfig, title="Staff", description="Button and DTMF codes."
    )
    lists: ListsConfig = Field(
        default_factory=ListsConfig, title="Lists", description="Blocklist and strikes."
    )
    calendar: CalendarConfig = Field(
        default_factory=CalendarConfig, title="Calendar", description="Office hours and messages."
    )
    prompts: PromptsConfig = Field(
        default_factory=PromptsConfig, title="Prompts", description="Prompt audio."
    )
    sim: SimConfig = Field(default_factory=SimConfig, title="Simulator", description="The sim backend.")
    dsp: DspConfig = Field(
        default_factory=DspConfig,
        title="Signal processing",
        description="Caller-ID standards, the line's tone plan and silence detection.",
    )
    pi: PiConfig = Field(
        default_factory=PiConfig,
        title="Raspberry Pi board",
        description="The pi backend: pins, codec, timing.",
    )
    recording: RecordingConfig = Field(
        default_factory=RecordingConfig,
        title="Recording",
        description="Call recording, sealing, retention and the no-record list.",
    )
    mqtt: MqttConfig = Field(
        default_factory=MqttConfig, title="MQTT", description="Reporting to central IT and its commands."
    )
    console: ConsoleConfig = Field(
        default_factory=ConsoleConfig, title="Console", description="The technician serial console."
    )
    detection: DetectionConfig = Field(
        default_factory=DetectionConfig,
        title="Abuse detection",
        description="Keyword spotter, thresholds per tier and class, shouting cue, self-calibration.",
    )


class ConfigError(Exception):
    """A configuration could not be used; ``problems`` names each key, value and rule."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


def describe_error(error: Any) -> str:
    """One line naming the key, the value and the rule a pydantic error broke."""
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{location}: unknown key (not part of the configuration)"
    if error["type"] == "missing":
        return f"{location}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{location} = {error.get('input')!r}: {message}"


MAX_CONFIG_BYTES = 1 << 20
"""A config file larger than this is refused unread (a real one is a few kilobytes)."""


def _non_finite(data: Any, where: str = "") -> list[str]:
    # TOML allows inf and nan; no setting means "forever" by infinity, so they are refused everywhere.
    if isinstance(data, float) and not math.isfinite(data):
        return [f"{where or '(top level)'} = {data!r}: must be a finite number"]
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in _non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in _non_finite(v, f"{where}[{i}]")]
    return []


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate a parsed TOML table; raises ConfigError listing every problem."""
    try:
        non_finite = _non_finite(data)
    except RecursionError:
        raise ConfigError(source, ["nested too deeply to be a configuration"]) from None
    if non_finite:
        raise ConfigError(source, non_finite)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [describe_error(e) for e in exc.errors()]) from None


def parse_config_text(text: str, source: str = "<config>") -> Config:
    """Parse and validate TOML text."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(source, [f"larger than {MAX_CONFIG_BYTES} bytes; not a configuration"])
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    except RecursionError:  # the standard TOML parser recurses once per nested array or inline table
        raise ConfigError(source, ["not valid TOML: nested too deeply"]) from None
    return parse_config(data, source)


def load_config(path: Path) -> Config:
    """Read and validate a TOML config file."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(str(path), [f"larger than {MAX_CONFIG_BYTES} bytes; not a configuration"])
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc}"]) from None
    return parse_config_text(text, str(path))


def default_config_text() -> str:
    """The packaged default configuration, used by the demo and as a template."""
    return resources.files("edge").joinpath("defaults/lineguard.toml").read_text(encoding="utf-8")


def default_config() -> Config:
    """The packaged default configuration, validated."""
    return parse_config_text(default_config_text(), "packaged default")


def resolve_config_path(explicit: str | None) -> Path | None:
    """``--config``, else ``LINEGUARD_CONFIG``, else the device path if it exists, else None (packaged)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("LINEGUARD_CONFIG")
    if env:
        return Path(env)
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None


def load_with_fallback(path: Path | None, data_dir: Path) -> tuple[Config, list[str]]:
    """The config to run with, and any problems: a bad file falls back to the last good one, then defaults.

    A good file is copied to ``<data_dir>/config.last-good.toml`` so that a later bad edit cannot stop calls.
    """
    if path is None:
        return default_config(), []
    last_good = data_dir / LAST_GOOD_NAME
    try:
        config = load_config(path)
    except ConfigError as error:
        problems = [f"{error.source}: {p}" for p in error.problems]
        if last_good.exists():
            try:
                return load_config(last_good), [*problems, f"running on the last good config {last_good}"]
            except ConfigError:
                pass
        return default_config(), [*problems, "running on the packaged default config"]
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = last_good.with_suffix(".tmp")
        tmp.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
        os.replace(tmp, last_good)
    except OSError as exc:
        return config, [f"could not keep a last-good copy in {data_dir}: {exc}"]
    return config, []
