"""The ``[detection]`` config section: model, thresholds per tier and class, VAD, shouting cue, calibration."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from edge.settings import Section

CATEGORIES = ("profanity", "threat", "sexual")


def _check_thresholds(value: dict[str, float]) -> dict[str, float]:
    for key, threshold in value.items():
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold for {key!r} must be in (0, 1], got {threshold}")
    return value


class DetectionConfig(Section):
    """Abuse detection on the caller leg (keyword spotter, shouting cue, self-calibration)."""

    enabled: bool = Field(True, title="Enabled", description="Listen to the caller leg for abuse at all.")
    model_path: Path | None = Field(
        None,
        title="Model file",
        description="The int8 .tflite keyword spotter; its metadata <name>.json lies beside it. "
        "Default: the shipped models/kws.tflite (installed copy or the repository's).",
    )
    model_sha256: str | None = Field(
        None,
        title="Pinned model checksum",
        description="If set, the model file must have this sha256 (besides the one in its metadata).",
        pattern=r"^[0-9a-f]{64}$",
    )
    alert_thresholds: dict[str, float] = Field(
        default_factory=dict,
        title="Staff-alert thresholds",
        description="Overrides per keyword group id or category (profanity, threat, sexual); "
        "unset ones use the model's measured operating point for the staff-alert tier.",
    )
    warn_thresholds: dict[str, float] = Field(
        default_factory=dict,
        title="Caller-warning thresholds",
        description="Overrides per keyword group id or category; unset ones use the model's measured "
        "operating point for the caller-warning tier.",
    )
    smoothing_hops: int = Field(
        2,
        ge=1,
        le=10,
        title="Smoothing",
        description="Posteriors averaged over this many consecutive inferences before thresholds apply.",
    )
    hop_frames: int = Field(
        5,
        ge=1,
        le=25,
        title="Inference hop",
        description="Run the model every this many 20 ms frames (5 = every 100 ms).",
    )
    alert_hold_hops: int = Field(
        2,
        ge=0,
        le=10,
        title="Staff-alert hold",
        description=(
            "A keyword that crosses only the staff-alert tier is reported this many inferences later, unless"
            " it reaches the caller-warning tier meanwhile: then only the warning is reported, not an alert"
            " followed by a warning for the same word (0 = report alerts at once)."
        ),
    )
    refractory_s: float = Field(
        2.0,
        ge=0.0,
        le=30.0,
        title="Refractory time",
        description="Seconds after a detection of a keyword group during which the same group and tier is not reported again.",
    )
    tonal_veto: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        title="Music veto",
        description="A keyword candidate is dropped (no alert, no warning, nothing calibrated), and so is the "
        "shouting cue, when this share or more of the spectral peaks' energy in the last tonal_window_s holds "
        "its frequency for 200 ms: notes of music and tones do, speech's gliding harmonics do not (hold "
        "music's bells sounded like a keyword to the model, loud music like a shout); 0 turns it off.",
    )
    tonal_window_s: float = Field(
        1.5,
        ge=0.5,
        le=4.0,
        title="Music veto window",
        description="Seconds of caller audio, ending at the candidate, that the music veto measures.",
    )
    vad_mode: int = Field(
        2,
        ge=0,
        le=3,
        title="VAD mode",
        description="webrtcvad aggressiveness 0-3; 3 drops the most non-speech.",
    )
    vad_min_speech_frames: int = Field(
        8,
        ge=0,
        le=64,
        title="Speech needed",
        description="Voiced 20 ms frames needed in the model's 1.28 s window before it runs.",
    )
    echo_return_loss_db: float = Field(
        6.0,
        ge=0.0,
        le=40.0,
        title="Echo return loss",
        description="The line's echo of what the box sends is taken to be at least this far (dB) below it; a "
        "caller-leg frame quieter than that under the loudest frame just sent is the staff's own voice coming "
        "back, and the detector does not hear it (G.168 assumes 6 dB; 0 turns the check off).",
    )
    echo_canceller_ms: int = Field(
        160,
        ge=0,
        le=500,
        multiple_of=20,
        title="Echo canceller tail",
        description="How far back the line's echo of the box's output may reach (its buffers, the codec, the DAA, "
        "the line); the canceller subtracts it from what the detector hears, learning on each call's "
        "recording notice and while only the staff speak (0: no canceller, the echo check alone).",
    )
    echo_window_ms: int = Field(
        200,
        ge=20,
        le=1000,
        title="Echo window",
        description="How long the box's own output can take to come back on the line leg (its buffers, the "
        "codec and the DAA): the echo check compares each frame with what was sent this far back.",
    )
    shouting_enabled: bool = Field(
        True,
        title="Shouting cue",
        description="Alert staff (never warn or cut) when the caller shouts for a while.",
    )
    shouting_dbfs: float = Field(
        -12.0,
        ge=-30.0,
        le=0.0,
        title="Shouting level",
        description="Voiced-frame RMS level (dBFS) that counts as shouting.",
    )
    shouting_over_median_db: float = Field(
        9.0,
        ge=0.0,
        le=30.0,
        title="Shouting over usual",
        description="Shouting must also be this many dB above the caller's median voiced level in this call.",
    )
    shouting_min_s: float = Field(
        0.8,
        ge=0.2,
        le=10.0,
        title="Shouting duration",
        description="Seconds of loud voiced frames within 2 s.",
    )
    shouting_category: str = Field(
        "profanity",
        title="Shouting category",
        description="Category the shouting alert is filed under.",
    )
    calibration_enabled: bool = Field(
        True,
        title="Self-calibration",
        description="Raise a class's thresholds when ordinary calls (no staff action) would exceed the target rates.",
    )
    alert_target_per_hour: float = Field(
        0.1,
        gt=0.0,
        le=10.0,
        title="Staff-alert target",
        description="Most staff alerts per hour of ordinary caller speech (0.1 = one per 10 h).",
    )
    warn_target_per_hour: float = Field(
        0.01,
        gt=0.0,
        le=10.0,
        title="Caller-warning target",
        description="Most caller warnings per hour of ordinary caller speech (0.01 = one per 100 h).",
    )
    warn_calibration_tail: float = Field(
        0.4,
        ge=0.0,
        le=2.0,
        title="Caller-warning calibration tail",
        description="How steeply ordinary speech's peaks are assumed to thin out above the highest one heard (log-odds "
        "per e-fold). While the box has heard less than the warning target's period (100 h at 0.01/h), a peak within "
        "(period / hours heard) ** tail, at most 8, in odds below a warning threshold counts as a warning: a class the "
        "site's speech comes close to is raised before it warns a citizen. 0 counts only warnings given.",
    )
    threshold_ceiling: float = Field(
        0.99995,
        gt=0.0,
        le=1.0,
        title="Threshold ceiling",
        description="Calibration never raises a threshold above this; it never lowers one below the shipped value.",
    )
    calibration_file: Path | None = Field(
        None,
        title="Calibration state file",
        description="JSON file keeping the calibration (scores and speech hours only, never audio) across restarts.",
    )
    clip_s: float = Field(
        2.0, ge=0.5, le=10.0, title="Clip length", description="Seconds of audio kept per alert."
    )
    clips_per_call: int = Field(
        6, ge=0, le=50, title="Clips per call", description="Most alert clips kept from one call."
    )
    staff_clip_s: float = Field(
        8.0,
        ge=0.0,
        le=20.0,
        title="Staff-flagged clip length",
        description="Seconds of caller audio kept before a staff warning or cut that no detection preceded in "
        "that time (a word the model missed), for a person to label centrally; 0 keeps none.",
    )
    balance_prior_frames: int | None = Field(
        None,
        ge=0,
        le=100_000,
        title="Spectral balance prior",
        description="Voiced 20 ms frames of a call after which half of the caller's telephone colouring (its "
        "long-term spectral balance against the model's training speech) is corrected; 0 turns the "
        "correction off. Unset (the default): the model's own setting (front_end.balance_prior_frames in its "
        "JSON), the one its thresholds were priced with; set it only to measure.",
    )
    balance_dead_zone: float | None = Field(
        None,
        ge=0.0,
        le=20.0,
        title="Spectral balance dead zone",
        description="Length (log-mel units, over the 32 bands, level removed) of the call's spectral offset "
        "that the balance leaves alone, as ordinary speech reaches it by what is said; 0: none. Unset (the "
        "default): the model's own (front_end.balance_dead_zone in its JSON), priced with its thresholds; "
        "set it only to measure.",
    )
    queue_frames: int = Field(
        250,
        ge=10,
        le=5000,
        title="Queue length",
        description="20 ms frames buffered for the inference thread; beyond it frames are dropped, never waited for.",
    )
    inline: bool = Field(
        False,
        title="Inline inference",
        description="Run inference in the caller of feed() (deterministic simulation) instead of a worker thread.",
    )

    @field_validator("alert_thresholds", "warn_thresholds")
    @classmethod
    def _range(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_thresholds(value)

    @field_validator("shouting_category")
    @classmethod
    def _category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"must be one of {', '.join(CATEGORIES)}")
        return value
