"""Whole-pipeline cost per line at real time: CPU seconds per audio second for each stage and in all.

Run: nice -n 10 .venv/bin/python bench/bench_pipeline.py [--seconds 60] [--repeat 3]

One bridged call's worth of audio (espeak-ng Korean on both legs, alternating, over faint line noise) is
pushed through each stage of the appliance on its own, as the runtime calls it for one line: the
telephony detectors (DTMF, caller ID, call progress), the keyword-spotting abuse detector (VAD, log-mel,
TFLite), the recorder (Opus, sealed, its writer thread), the mixer, the call machine's clock tick, and
the event path (SQLite store, hash chain, telemetry outbox) at the event rate the soak measured. Each
stage is timed with process CPU time, so its worker threads count. The best of ``--repeat`` runs is kept
(the machine is shared; the minimum is the least disturbed). Lines per core = 1 / total.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from nacl.public import PrivateKey

from edge.app import chain_hook, tone_factory
from edge.audio import synthesize
from edge.config import default_config
from edge.core import events as e
from edge.core.machine import CallMachine
from edge.core.state import Instant, LineState
from edge.detect.detector import load_detector
from edge.mixer import Mixer
from edge.ports import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, AudioFrame
from edge.record.recorder import Recorder
from edge.runtime import LineSignals
from edge.store import CallStore
from edge.telemetry.outbox import Outbox

EVENTS_PER_CALL_SECOND = 0.32
"""Events the runtime logs per second of line time, averaged over the soak's scenario mix (docs/soak.md)."""
TEXTS = (
    ("caller", "안녕하세요. 주민등록등본을 발급받으려면 무엇을 가져가야 하나요?"),
    ("staff", "신분증만 가지고 오시면 됩니다. 무인 발급기에서도 뽑으실 수 있어요."),
    ("caller", "씨발, 일 똑바로 안 해? 내 서류 왜 아직도 안 나왔어?"),
    ("staff", "고객님, 욕설을 하시면 통화가 종료될 수 있습니다."),
)


def call_audio(seconds: float, cache: Path) -> list[AudioFrame]:
    """A bridged call: each party speaks in turn, the other leg carries faint line noise."""
    rng = np.random.default_rng(7)
    n = int(seconds * SAMPLE_RATE)
    line = rng.normal(0, 32768 * 10 ** (-65 / 20), n)
    phone = rng.normal(0, 32768 * 10 ** (-65 / 20), n)
    pos = 0
    k = 0
    while pos < n:
        who, text = TEXTS[k % len(TEXTS)]
        pcm = synthesize(text, "ko" if who == "caller" else "ko+m3", cache_dir=cache).astype(np.float64)
        end = min(n, pos + len(pcm))
        (line if who == "caller" else phone)[pos:end] += pcm[: end - pos] * 0.5
        pos = end + SAMPLE_RATE // 2
        k += 1
    frames = n // FRAME_SAMPLES
    as16 = [np.clip(x, -32768, 32767).astype(np.int16) for x in (line, phone)]
    return [
        AudioFrame(
            as16[0][i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES],
            as16[1][i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES],
        )
        for i in range(frames)
    ]


def cpu(fn: Callable[[], None]) -> float:
    """Process CPU seconds (all threads) spent in ``fn``."""
    start = time.process_time()
    fn()
    return time.process_time() - start


def stage_dsp(frames: list[AudioFrame], work: Path) -> Callable[[], None]:
    """DTMF on the phone leg, caller ID and call progress on the line leg (line seized)."""
    signals = LineSignals(default_config().dsp)

    def run() -> None:
        for frame in frames:
            signals.hear(frame, True)

    return run


def stage_kws(frames: list[AudioFrame], work: Path) -> Callable[[], None]:
    """The abuse detector, inline (the daemon's worker thread does the same work)."""
    config = default_config().detection.model_copy(
        update={"inline": True, "calibration_file": work / "calibration.json"}
    )
    detector, problem = load_detector(config)
    if detector is None:
        raise SystemExit(f"no detector: {problem}")
    t = 0.0

    def run() -> None:
        nonlocal t
        detector.reset()
        for frame in frames:
            detector.feed(frame.line, t)
            detector.poll()
            t += FRAME_SECONDS

    return run


def stage_recorder(frames: list[AudioFrame], work: Path) -> Callable[[], None]:
    """One call recorded: Opus per leg, sealed to the central key, on the recorder's writer thread."""
    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode("ascii")
    settings = default_config().recording.model_copy(update={"public_key": key})
    alarms: list[str] = []
    recorder = Recorder(settings, work / "rec", lambda kind, detail: alarms.append(kind))
    count = 0

    def run() -> None:
        nonlocal count
        count += 1
        call_id = f"L1-20261123-{count:05d}"
        recorder.start(call_id, {"line": "L1", "number": "01012345678", "started": "2026-11-23T10:00:00"})
        for i, frame in enumerate(frames):
            recorder.write(call_id, frame.line, frame.phone)
            if i % 50 == 49:
                recorder.flush(timeout=60)  # faster than real time: wait for the writer, as simulations do
        recorder.stop(call_id)
        recorder.flush(timeout=120)
        if alarms:
            raise SystemExit(f"recorder alarms: {alarms}")

    return run


def stage_mixer(frames: list[AudioFrame], work: Path) -> Callable[[], None]:
    """The bridge: each leg hears the other."""
    mixer = Mixer(tone_factory())
    mixer.bridged = True

    def run() -> None:
        for frame in frames:
            mixer.mix(frame)

    return run


def stage_machine(frames: list[AudioFrame], work: Path) -> Callable[[], None]:
    """The call machine's clock tick, once per frame, in a connected call."""
    machine = CallMachine(default_config())
    start = dt.datetime(2026, 11, 23, 10, 0, 0)
    state = LineState(line="L1", seq=0)
    t = 0.0
    events = [e.FaultCleared("startup"), e.RingStarted(), e.RingStopped(), e.RingStarted()]
    for event in events:
        state, _ = machine.step(state, event, Instant(t, start))
        t += 1.0

    def run() -> None:
        nonlocal state, t
        for _ in frames:
            state, _actions = machine.step(state, e.Tick(), Instant(t, start + dt.timedelta(seconds=t)))
            t += FRAME_SECONDS

    return run


def stage_events(frames: list[AudioFrame], work: Path) -> Callable[[], None]:
    """Events at the soak's rate: SQLite store, hash chain, and the telemetry outbox (durable, fsync)."""
    store = CallStore(work / "data", on_event=chain_hook(work / "data"))
    outbox = Outbox(work / "data" / "outbox.db")
    n = max(1, round(len(frames) * FRAME_SECONDS * EVENTS_PER_CALL_SECOND))
    wall = dt.datetime(2026, 11, 23, 10, 0, 0)

    def run() -> None:
        for i in range(n):
            data = {"prompt": "recording_notice", "leg": "line"}
            event_id = store.add_event("L1-20261123-00001", float(i), wall, "prompt", None, data)
            outbox.add("event", "lineguard/box/event", {"id": event_id, "type": "prompt", **data})

    return run


STAGES: dict[str, Callable[[list[AudioFrame], Path], Callable[[], None]]] = {
    "telephony detectors (DTMF, caller ID, progress)": stage_dsp,
    "abuse detector (VAD, log-mel, TFLite KWS)": stage_kws,
    "recorder (Opus, sealed, writer thread)": stage_recorder,
    "mixer": stage_mixer,
    "call machine tick": stage_machine,
    "events (store, hash chain, outbox)": stage_events,
}


def main(argv: list[str] | None = None) -> int:
    """Time each stage; print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="call audio per run (default 60)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage; the best is kept")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="lineguard-pipeline-") as tmp:
        work = Path(tmp)
        frames = call_audio(args.seconds, work / "cache")
        audio_s = len(frames) * FRAME_SECONDS
        results: dict[str, float] = {}
        for name, make in STAGES.items():
            run = make(frames, work)
            run()  # warm-up: imports, model load, first-call allocations
            best = min(cpu(run) for _ in range(args.repeat))
            results[name] = best / audio_s
            print(f"{name:<50} {results[name] * 1000:8.2f} ms CPU per audio second", flush=True)
    total = sum(results.values())
    print(f"{'total per line':<50} {total * 1000:8.2f} ms CPU per audio second")
    print(f"{'lines per core at real time':<50} {1 / total:8.1f}")
    report: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "audio_s": audio_s,
        "cpu_s_per_audio_s": {k: round(v, 5) for k, v in results.items()},
        "total": round(total, 5),
        "lines_per_core": round(1 / total, 1),
    }
    print(json.dumps(report, ensure_ascii=False))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
