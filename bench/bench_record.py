"""Recorder bench: bytes per hour and CPU per line for sealed Opus recordings (figures for docs/recording.md).

Run: nice -n 10 .venv/bin/python bench/bench_record.py [--seconds 120]
The call is synthetic but speech-like: espeak-ng Korean prompts alternating between the caller and the
staff leg, each leg otherwise carrying faint line noise, as a real two-party call does.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from nacl.public import PrivateKey
from scipy.signal import resample_poly

from edge.record.codec import encode_chunk
from edge.record.decrypt import decrypt_recording
from edge.record.recorder import Recorder
from edge.record.settings import RecordingConfig

RATE = 8000
TEXTS = (
    "보다 나은 상담과 민원 응대 직원 보호를 위해 통화 내용이 녹음됩니다.",
    "네, 주민센터입니다. 무엇을 도와드릴까요?",
    "전입신고를 하려고 하는데요, 필요한 서류가 무엇인지 알고 싶습니다.",
    "신분증과 임대차 계약서를 가지고 오시면 됩니다.",
)


def speech(text: str) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", "ko", "-s", "150", "--stdout", text], capture_output=True, check=True
    )
    audio, rate = sf.read(io.BytesIO(wav.stdout), dtype="float32")
    pcm = resample_poly(audio, RATE, rate) * 0.5
    return np.clip(pcm * 32767, -32768, 32767).astype(np.int16)


def conversation(seconds: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    turns = [speech(t) for t in TEXTS]
    total = int(seconds * RATE)
    caller = rng.normal(0, 30, total)
    staff = rng.normal(0, 30, total)
    position, turn = 0, 0
    while position < total:
        clip = turns[turn % len(turns)]
        leg = caller if turn % 2 == 0 else staff
        end = min(total, position + len(clip))
        leg[position:end] += clip[: end - position]
        position = end + int(0.6 * RATE)
        turn += 1
    return caller.astype(np.int16), staff.astype(np.int16)


def run(
    caller: np.ndarray, staff: np.ndarray, bitrate: int, chunk: float, key: PrivateKey
) -> dict[str, float]:
    public = base64.b64encode(bytes(key.public_key)).decode()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        recorder = Recorder(
            RecordingConfig(public_key=public, bitrate_kbps=bitrate, chunk_seconds=chunk),
            data_dir,
            lambda c, m: None,
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        recorder.start("bench", {"number": "0212345678"})
        for frame, i in enumerate(range(0, len(caller) - 159, 160)):
            recorder.write("bench", caller[i : i + 160], staff[i : i + 160])
            if frame % 250 == 249:
                recorder.flush(timeout=600)  # faster than real time, but never past the queue bound
        recorder.stop("bench")
        recorder.flush(timeout=600)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        recorder.close()
        path = data_dir / "recordings" / "bench.lgrec"
        size = path.stat().st_size
        decoded = decrypt_recording(path, key)
        assert decoded.problems == () and decoded.gaps == ()
        assert len(decoded.audio) == len(caller) // 160 * 160
    seconds = len(caller) / RATE
    return {
        "bitrate": bitrate,
        "chunk": chunk,
        "mb_per_hour": size / seconds * 3600 / 1e6,
        "kbps_on_disk": size * 8 / seconds / 1000,
        "cpu_percent": 100 * cpu / seconds,
        "x_realtime": seconds / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    caller, staff = conversation(args.seconds)
    key = PrivateKey.generate()
    print(
        f"# {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, {args.seconds:.0f} s of audio"
    )
    print(
        "| bitrate kbit/s (both legs) | chunk s | MB/hour | kbit/s on disk | CPU % of one core | x real time |"
    )
    print("|---|---|---|---|---|---|")
    for bitrate, chunk in ((12, 1.0), (16, 0.5), (16, 1.0), (16, 1.5), (16, 2.0), (24, 1.0), (32, 1.0)):
        r = run(caller, staff, bitrate, chunk, key)
        print(
            f"| {bitrate} | {chunk} | {r['mb_per_hour']:.1f} | {r['kbps_on_disk']:.1f} | "
            f"{r['cpu_percent']:.2f} | {r['x_realtime']:.0f} |"
        )
    # The codec alone, to separate Opus from sealing, zlib and fsync.
    n = int(1.0 * RATE)
    cpu0 = time.process_time()
    chunks = 0
    for i in range(0, len(caller) - n, n):
        encode_chunk(caller[i : i + n], staff[i : i + n], 16)
        chunks += 1
    per_chunk = (time.process_time() - cpu0) / chunks
    print(f"\nOpus encode alone (16 kbit/s, 1.0 s chunk, both legs): {per_chunk * 1000:.1f} ms CPU per chunk")
    print(f"Recorder.write() on the audio thread: {write_cost(caller, staff, key)}")


def write_cost(caller: np.ndarray, staff: np.ndarray, key: PrivateKey) -> str:
    """Wall time of one write() call while the writer thread encodes beside it."""
    public = base64.b64encode(bytes(key.public_key)).decode()
    with tempfile.TemporaryDirectory() as tmp:
        recorder = Recorder(RecordingConfig(public_key=public), Path(tmp), lambda c, m: None)
        recorder.start("w", {})
        costs = []
        for frame, i in enumerate(range(0, min(len(caller), 60 * RATE) - 159, 160)):
            t0 = time.perf_counter()
            recorder.write("w", caller[i : i + 160], staff[i : i + 160])
            costs.append(time.perf_counter() - t0)
            if frame % 50 == 49:
                time.sleep(0.05)  # let the writer run, as the real 20 ms pacing does
        recorder.stop("w")
        recorder.close()
    us = np.array(costs) * 1e6
    return f"median {np.median(us):.0f} us, p99 {np.percentile(us, 99):.0f} us, max {us.max():.0f} us per 20 ms frame"


if __name__ == "__main__":
    main()
