"""Hypothesis fuzzing of every parser that reads outside input: only the documented errors, never a hang.

Caller-ID bytes and the telephony detectors are fuzzed in tests/test_dsp_fuzz.py and the serial console in
tests/test_console_fuzz.py; this file adds structured caller-ID messages, DTMF into the call machine, MQTT
command payloads, config text and WAV headers.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.signal  # noqa: F401  (imported here so its slow first import is not timed as an example)
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edge.audio import AudioFileError, read_wav_bytes
from edge.cli import UserError
from edge.config import Config, ConfigError, default_config, parse_config_text
from edge.core import actions as a
from edge.core import events as e
from edge.core.state import Phase
from edge.dsp.callerid import MDMF_CALLER_ID, checksum_ok, parse_message
from edge.telemetry.client import CommandRejected
from edge.telemetry.commands import BaseCommandHandler
from tests.conftest import at
from tests.test_core_properties import MACHINE, TO_CONNECTED, World, run

FUZZ = settings(max_examples=80, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
"""Five seconds per example is a hang on any machine, even two loaded cores."""

# -- caller ID: well-formed MDMF framing around random parameters -----------------------------------


params = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=8)


@FUZZ
@given(params, st.integers(0, 3))
def test_mdmf_with_random_parameters_parses_or_is_refused(fields: list[tuple[int, bytes]], cut: int) -> None:
    body = b"".join(bytes((kind, len(value))) + value for kind, value in fields)[:255]
    message = bytes((MDMF_CALLER_ID, len(body))) + body
    message += bytes(((-sum(message)) & 0xFF,))
    assert checksum_ok(message)
    parsed = parse_message(message[: len(message) - cut] if cut else message)
    if cut:
        assert parsed is None, "a short message is never read as caller ID"
    elif parsed is not None:
        for text in (parsed.number, parsed.name, parsed.datetime, parsed.absence):
            assert text is None or isinstance(text, str)


# -- DTMF sequences into the call machine ---------------------------------------------------------


CODES = (MACHINE.config.staff.dtmf_warn, MACHINE.config.staff.dtmf_cut, MACHINE.config.staff.dtmf_mark)
digit_strings = st.text(alphabet="0123456789*#ABCD", max_size=40) | st.text(alphabet="*#179", max_size=40)


def connected() -> tuple[Any, World, float]:
    state, world, t = run(list(TO_CONNECTED))
    assert state.phase == Phase.CONNECTED
    return state, world, t


@FUZZ
@given(digit_strings)
def test_the_callers_digits_never_act_on_the_call(digits: str) -> None:
    state, world, t = connected()
    for digit in digits:
        t += 0.1
        before = state
        state, actions = MACHINE.step(state, e.DtmfDigit(digit, e.Leg.LINE), at(t))
        world.apply(before, actions)
        world.check(state)
        assert not any(isinstance(act, a.Note) for act in actions), "a caller's DTMF made a policy action"
    assert state.phase == Phase.CONNECTED


@FUZZ
@given(digit_strings, st.lists(st.sampled_from([0.05, 0.3, 1.0, 30.0]), min_size=40, max_size=40))
def test_staff_digits_act_only_on_a_code(digits: str, gaps: list[float]) -> None:
    state, world, t = connected()
    acted = False
    typed = ""
    for digit, gap in zip(digits, gaps, strict=False):
        t += gap
        typed = typed + digit if gap <= MACHINE.config.staff.dtmf_timeout_s else digit
        before = state
        state, actions = MACHINE.step(state, e.DtmfDigit(digit, e.Leg.PHONE), at(t))
        world.apply(before, actions)
        world.check(state)
        notes = [act for act in actions if isinstance(act, a.Note)]
        if not acted:
            code_now = any(typed.endswith(code) for code in CODES)
            assert bool(notes) == code_now, f"typed {typed!r}: actions {notes}"
            acted = code_now
        if state.call is None:
            break


# -- MQTT command payloads ------------------------------------------------------------------------


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
section_names = st.sampled_from(sorted(Config.model_fields)) | st.text(max_size=10)
patches = st.dictionaries(
    section_names, st.dictionaries(st.text(max_size=16), json_values, max_size=3), max_size=3
)
COMMANDS = [
    "config.get",
    "config.patch",
    "calendar.set",
    "messages.set",
    "lists.sync",
    "lists.shared",
    "prompt.upload",
    "model.update",
    "model.rollback",
    "recording.fetch",
    "clips.fetch",
    "reboot",
]


def handler(applied: list[Config]) -> BaseCommandHandler:
    config = [default_config()]

    def apply(new: Config) -> None:
        config[0] = new
        applied.append(new)

    return BaseCommandHandler(
        get_config=lambda: config[0],
        apply_config=apply,
        model_public_key=bytes(32),
        install_model=lambda version, blob: None,
        rollback_model=lambda: "none",
        sync_repeat_callers=lambda version, numbers: None,
        save_prompt=lambda name, wav: None,
        read_recording=lambda call_id: b"",
        reboot=None,
    )


@FUZZ
@given(
    st.sampled_from(COMMANDS) | st.text(max_size=20),
    st.dictionaries(st.text(max_size=12), json_values, max_size=5) | patches.map(lambda p: {"patch": p}),
)
def test_random_command_payloads_are_answered_or_refused(name: str, payload: dict[str, Any]) -> None:
    payload = json.loads(json.dumps(payload))  # exactly what arrives over MQTT
    applied: list[Config] = []
    try:
        reply = handler(applied).handle(name, payload)
    except CommandRejected as refused:
        assert str(refused), "a refusal says why"
        assert not applied, "a refused command changed the config"
        return
    assert isinstance(reply, dict)
    json.dumps(reply, default=str)
    for config in applied:
        Config.model_validate(config.model_dump())  # whatever was applied is a valid config


# -- config files ---------------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value) if value is not None else '""'


toml_scalars = (
    st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["", "\0", "12:00", "Asia/Seoul", "mqtt://x", "-1"])
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
FIELDS = {name: sorted(type(getattr(default_config(), name)).model_fields) for name in Config.model_fields}
known_keys = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda section: st.tuples(
        st.just(section), st.sampled_from(FIELDS[section] or ["x"]) | st.text(max_size=8)
    )
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    tables: dict[str, list[str]] = {}
    for section, key in draw(st.lists(known_keys, max_size=6)):
        tables.setdefault(section, []).append(f"{json.dumps(key)} = {toml_value(draw(toml_values))}")
    text = "\n".join(f"[{section}]\n" + "\n".join(lines) for section, lines in tables.items())
    noise = draw(st.text(max_size=40))
    where = draw(st.integers(0, len(text)))
    return text[:where] + noise + text[where:] if draw(st.booleans()) else text


@FUZZ
@given(config_texts())
def test_random_config_text_validates_or_names_the_problem(text: str) -> None:
    try:
        config = parse_config_text(text, "fuzz.toml")
    except ConfigError as error:
        assert error.problems and all(isinstance(p, str) and p for p in error.problems)
        assert str(error).startswith("fuzz.toml: ")
        return
    assert isinstance(config, Config)


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 5000 + "]" * 5000,
        "a = " + "{b = " * 3000 + "1" + "}" * 3000,
        "[device]\nid = 'a\0b'\n",
        "\0" * 100,
        "[duration]\ncut_s = inf\n",
        "[duration]\nnotice_s = nan\n",
        "# filler\n" * 200_000,
        "[duration]\ncut_s = [1, 2]\n",
        "[[duration]]\ncut_s = 1\n",
    ],
    ids=["deep-array", "deep-table", "nul-in-string", "nul-bytes", "inf", "nan", "huge", "list", "aot"],
)
def test_hostile_config_text_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "hostile.toml")
    assert caught.value.problems


# -- WAV headers ----------------------------------------------------------------------------------


@st.composite
def wav_files(draw: st.DrawFn) -> bytes:
    """A RIFF/WAVE file whose header fields are random and whose sizes may lie."""

    def field(usual: st.SearchStrategy[int], anything: st.SearchStrategy[int]) -> int:
        return draw(st.one_of(usual, usual, usual, anything))  # mostly plausible, so reads get deep

    fmt_tag = field(st.sampled_from([1, 1, 3, 6, 7, 0xFFFE]), st.integers(0, 0xFFFF))
    channels = field(st.integers(1, 2), st.integers(0, 0xFFFF))
    rate = field(st.sampled_from([8000, 16000, 44100, 7999, 11025]), st.integers(0, 2**32 - 1))
    bits = field(st.sampled_from([8, 16, 16, 24, 32]), st.integers(0, 0xFFFF))
    body = draw(st.binary(max_size=4000))
    align = channels * bits // 8 % 2**16
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * align % 2**32, align, bits)
    data_len = field(st.just(len(body)), st.integers(0, 2**32 - 1))
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_len) + body
    riff = b"RIFF" + struct.pack("<I", draw(st.just(4 + len(chunks)) | st.integers(0, 2**32 - 1))) + b"WAVE"
    whole = riff + chunks
    cut = draw(st.integers(0, len(whole)))
    return whole[:cut] if draw(st.booleans()) else whole


wav_inputs = wav_files() | st.binary(max_size=200)


@FUZZ
@given(wav_inputs)
def test_wav_bytes_read_or_refused(data: bytes) -> None:
    try:
        pcm = read_wav_bytes(data)
    except AudioFileError as error:
        assert "not readable audio" in str(error)
        return
    assert pcm.dtype == np.int16


@FUZZ
@given(wav_inputs)
# Found by this fuzzer: one sample at 16 kHz resampled to zero samples at 8 kHz crashed the FFT.
@example(
    data=b"RIFF&\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00"
    b"\x02\x00\x10\x00data\x02\x00\x00\x00\x00\x00"
)
def test_the_command_line_loaders_read_or_refuse_a_wav(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    from edge.cli import read_recording  # what kws, callerid, dtmf and tones read files with

    path = Path(tmp_path_factory.mktemp("wav")) / "in.wav"
    path.write_bytes(data)
    try:
        pcm = read_recording(path)
    except UserError as error:
        assert str(path) in str(error)
    else:
        assert pcm.dtype == np.int16
