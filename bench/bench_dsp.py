"""DSP bench: cost per 20 ms frame of each detector and of the line's echo handling, the music veto's cost per
keyword candidate, caller-ID accuracy grid, DTMF talk-off on an hour of speech.

Run from the repository root (figures go into docs/dsp.md and docs/detect.md by hand):
    .venv/bin/python bench/bench_dsp.py cost
    .venv/bin/python bench/bench_dsp.py echo
    .venv/bin/python bench/bench_dsp.py tonal
    .venv/bin/python bench/bench_dsp.py callerid --trials 10
    .venv/bin/python bench/bench_dsp.py talkoff --minutes 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.audio import read_wav
from edge.detect.settings import DetectionConfig
from edge.dsp import g711
from edge.dsp.callerid import CallerIdDecoder
from edge.dsp.dtmf import DtmfDetector, DtmfLimits
from edge.dsp.echo import LineEcho
from edge.dsp.levels import to_pcm
from edge.dsp.progress import CallProgressDetector
from edge.dsp.tonality import steady_share
from tests.dsp_support import spandsp
from tests.dsp_support.signals import add_noise, amplitude, echo_path, resample_offset, silence
from tests.dsp_support.speech import SENTENCES

ROOT = Path(__file__).resolve().parents[1]
FRAME = 160
EXTRA_SENTENCES = (
    "욕설, 폭언, 성희롱은 법에 따라 처벌받을 수 있으며, 계속될 경우 통화가 종료됩니다.",
    "직원 보호를 위해 통화를 종료합니다.",
    "효율적인 민원 상담과 직원 보호를 위해 잠시 후 통화가 자동 종료됩니다.",
    "지금은 업무 시간이 아닙니다. 평일 오전 9시부터 오후 6시까지 이용해 주십시오.",
    "여권 발급은 사진 한 장과 신분증이 필요하고, 수수료는 오만 삼천 원입니다.",
    "쓰레기 대형 폐기물 스티커는 어디서 사나요? 냉장고 하나를 버리려고 해요.",
    "어제 신청한 등본이 아직 안 나왔는데, 담당자 좀 바꿔 주세요.",
    "네 네, 잠깐만요. 메모할게요. 일 이 삼 사, 오 육 칠 팔, 구 공.",
    "아이고, 정말 감사합니다. 덕분에 잘 해결됐어요. 수고하세요!",
    "우리 동네 가로등이 고장 났어요. 벌써 일주일째 깜깜해요.",
    "기초연금 신청 자격이 어떻게 되는지 자세히 설명해 주시겠어요?",
    "하하하, 그렇군요. 아, 그리고 하나 더 여쭤봐도 될까요?",
)
VOICES = (
    "ko",
    "ko+f1",
    "ko+f2",
    "ko+f3",
    "ko+f4",
    "ko+m1",
    "ko+m3",
    "ko+m5",
    "ko+m7",
    "ko+klatt2",
    "ko+whisper",
)


def cost(seconds: int) -> dict[str, Any]:
    """Process CPU time per 20 ms frame of each detector on a mixed line signal, and all of them together."""
    rng = np.random.default_rng(1)
    speech = _speech(rng, seconds)
    pcm = to_pcm(add_noise(speech, 25.0, rng))
    makers: dict[str, Callable[[], Any]] = {
        "DtmfDetector": DtmfDetector,
        "CallerIdDecoder (FSK + DTMF CID)": CallerIdDecoder,
        "CallerIdDecoder (FSK only)": lambda: CallerIdDecoder(standards=("bell202", "v23")),
        "CallProgressDetector": CallProgressDetector,
    }
    frames = [pcm[i : i + FRAME] for i in range(0, pcm.size - FRAME + 1, FRAME)]
    result: dict[str, Any] = {"audio_s": len(frames) * FRAME / 8000}
    total = 0.0
    for name, make in makers.items():
        detector = make()
        start = time.process_time()
        for frame in frames:
            detector.feed(frame)
        spent = time.process_time() - start
        per_frame_us = spent / len(frames) * 1e6
        result[name] = round(per_frame_us, 1)
        if name != "CallerIdDecoder (FSK only)":
            total += spent
    result["all three, us per frame"] = round(total / len(frames) * 1e6, 1)
    result["real-time factor (all three)"] = round(total / result["audio_s"], 5)
    return result


def echo_cost(seconds: int) -> dict[str, Any]:
    """Process CPU time per 20 ms frame of the line's echo canceller and check (the shipped settings), by what
    the line carries: the staff's echo alone (the canceller learns), the staff's echo under a caller 10 dB
    quieter than the staff (double talk: the shadow filter is tried), and a caller alone (nothing sent)."""
    rng = np.random.default_rng(4)
    staff, caller = _speech(rng, seconds), _speech(rng, seconds)
    echo_of_staff = np.convolve(staff, echo_path())[: staff.size]
    echo_of_staff *= np.sqrt(np.mean(staff**2) / np.mean(echo_of_staff**2)) * 10 ** (-15 / 20)
    cases = {
        "staff's echo alone (learning)": (staff, echo_of_staff),
        "double talk, caller 10 dB under the staff": (staff, echo_of_staff + caller * 10 ** (-10 / 20)),
        "caller alone": (np.zeros_like(staff), caller),
    }
    result: dict[str, Any] = {"audio_s": seconds}
    for name, (sent, line) in cases.items():
        echo = LineEcho(return_loss_db=6.0, window_frames=10, tail_frames=8)
        notice = to_pcm(staff[: 8000 * 6])
        notice_line = to_pcm(echo_of_staff[: 8000 * 6])
        for i in range(0, notice.size - FRAME + 1, FRAME):  # the recording notice: the path is learned
            echo.heard(notice_line[i : i + FRAME], bridged=False)
            echo.sent(notice[i : i + FRAME])
        sent_pcm, line_pcm = to_pcm(sent), to_pcm(line)
        frames = range(0, sent_pcm.size - FRAME + 1, FRAME)
        start = time.process_time()
        for i in frames:
            echo.heard(line_pcm[i : i + FRAME], bridged=True)
            echo.sent(sent_pcm[i : i + FRAME])
        spent = time.process_time() - start
        result[name] = {
            "us per frame": round(spent / len(frames) * 1e6, 1),
            "real-time factor": round(spent / seconds, 5),
            "shadow swaps": echo.swaps,
        }
    return result


def callerid_grid(trials: int) -> list[dict[str, Any]]:
    """Share of messages decoded exactly (number, standard, checksum) over the acceptance grid, from spandsp."""
    rng = np.random.default_rng(2026)
    rows = []
    for snr in (30.0, 20.0, 15.0, 12.0, 9.0, 6.0):
        for standard in ("bell202", "v23"):
            ok = count = 0
            for short in (False, True):
                for level in (-8.0, -20.0, -35.0):
                    for offset in (-1, 0, 1):
                        for _ in range(trials):
                            number = "0" + "".join(rng.choice(list("0123456789"), 9))
                            x = spandsp.caller_id(
                                standard, number, "KIM", when="11231130", short_preamble=short
                            )
                            signal = np.asarray(x, dtype=np.float64)
                            signal *= amplitude(level) / np.sqrt(2 * np.mean(signal**2))
                            if offset:
                                signal = resample_offset(signal, offset)
                            padded = np.concatenate((silence(100), signal, silence(100)))
                            noisy = add_noise(padded, snr, rng, ref_power=amplitude(level) ** 2 / 2)
                            got = CallerIdDecoder().feed(to_pcm(noisy))
                            count += 1
                            ok += [(m.number, m.standard, m.checksum_ok) for m in got] == [
                                (number, standard, True)
                            ]
            rows.append({"snr_db": snr, "standard": standard, "ok": ok, "trials": count})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def _espeak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "s.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        samples, rate = sf.read(out, dtype="float64")
    return np.asarray(resample_poly(samples, 8000, rate), dtype=np.float64)


def _speech(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Korean speech from espeak-ng, varied voice/speed/pitch/level, with pauses, until ``seconds`` long."""
    pool = SENTENCES + EXTRA_SENTENCES
    parts: list[np.ndarray] = []
    have = 0.0
    while have < seconds:
        text = " ".join(rng.choice(pool, size=int(rng.integers(3, 8))))
        voice = str(rng.choice(VOICES))
        chunk = _espeak(text, voice, int(rng.integers(120, 220)), int(rng.integers(20, 90)))
        level = float(rng.uniform(-30.0, -8.0))  # speech level on the line, dBm0
        chunk *= amplitude(level) / np.sqrt(2 * max(np.mean(chunk**2), 1e-12))
        parts += [chunk, silence(float(rng.uniform(200, 1500)))]
        have += (chunk.size / 8000) + 0.8
    return np.concatenate(parts)[: int(seconds * 8000)]


def talkoff(minutes: float) -> dict[str, Any]:
    """False DTMF digits, caller-ID messages and progress tones per hour of noisy G.711 Korean speech."""
    rng = np.random.default_rng(7)
    speech = _speech(rng, minutes * 60)
    noisy = add_noise(speech, 20.0, rng, ref_power=float(np.mean(speech[speech != 0] ** 2)))
    pcm = g711.roundtrip(to_pcm(noisy), "ulaw")
    dtmf, cid, progress = DtmfDetector(), CallerIdDecoder(), CallProgressDetector()
    # The same detector with no duration rule: how often speech passes every spectral check even briefly.
    blips = DtmfDetector(limits=DtmfLimits(min_duration_s=0.0))
    digits, messages, events, blip_hits = [], [], [], []
    for i in range(0, pcm.size, 8000):
        chunk = pcm[i : i + 8000]
        digits += dtmf.feed(chunk)
        blip_hits += blips.feed(chunk)
        messages += cid.feed(chunk)
        events += progress.feed(chunk)
    digits += dtmf.flush()
    hours = pcm.size / 8000 / 3600
    return {
        "speech_hours": round(hours, 3),
        "false_dtmf_digits": len(digits),
        "false_dtmf_per_hour": round(len(digits) / hours, 2),
        "false_digits": [(h.digit, round(h.start_s, 2)) for h in digits][:20],
        "spectral_blips_per_hour_without_duration_rule": round(len(blip_hits) / hours, 2),
        "false_callerid_messages": len(messages),
        "false_progress_events": [(e.kind, round(e.at_s, 1)) for e in events][:20],
    }


def tonal_cost(calls: int) -> dict[str, Any]:
    """Process CPU time of one music-veto measure (edge.dsp.tonality on the detector's 1.5 s window), on the
    tests' hold-music fixture and on speech, and the real-time factor if every 100 ms hop were a candidate."""
    window = round(DetectionConfig().tonal_window_s * 8000)
    music = read_wav(ROOT / "tests" / "fixtures" / "music" / "hold_bells.wav").astype(np.float64)
    speech = _speech(np.random.default_rng(5), 30.0)
    result: dict[str, Any] = {"calls": calls, "window_s": window / 8000}
    for name, audio in (("hold music", music), ("speech", speech)):
        spent = []
        for k in range(calls):
            start_at = (k * 800) % (audio.size - window)
            start = time.process_time()
            steady_share(audio[start_at : start_at + window])
            spent.append(time.process_time() - start)
        result[name] = {
            "ms per candidate, median": round(1000 * float(np.median(spent)), 2),
            "ms per candidate, max": round(1000 * max(spent), 2),
            "real-time factor, every hop a candidate": round(float(np.median(spent)) * 10, 4),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("cost")
    p.add_argument("--seconds", type=int, default=60)
    p = sub.add_parser("echo")
    p.add_argument("--seconds", type=int, default=60)
    p = sub.add_parser("tonal")
    p.add_argument("--calls", type=int, default=200)
    p = sub.add_parser("callerid")
    p.add_argument("--trials", type=int, default=10)
    p = sub.add_parser("talkoff")
    p.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    if args.what == "cost":
        print(json.dumps(cost(args.seconds), indent=1))
    elif args.what == "echo":
        print(json.dumps(echo_cost(args.seconds), indent=1))
    elif args.what == "tonal":
        print(json.dumps(tonal_cost(args.calls), indent=1))
    elif args.what == "callerid":
        print(json.dumps(callerid_grid(args.trials)))
    else:
        print(json.dumps(talkoff(args.minutes), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
