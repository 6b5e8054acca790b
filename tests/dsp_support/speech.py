"""Synthetic Korean speech from espeak-ng at 8 kHz, for talk-off and false-alarm checks."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile as sf

SENTENCES = (
    "보다 나은 상담과 민원 응대 직원 보호를 위해 통화 내용이 녹음됩니다.",
    "안녕하세요, 주민센터입니다. 무엇을 도와드릴까요?",
    "전입 신고를 하려면 신분증을 가지고 오셔야 합니다.",
    "지금은 점심시간입니다. 오후 1시 이후에 다시 걸어 주십시오.",
    "제 번호는 공일공 일이삼사 오육칠팔 입니다. 확인 부탁드립니다.",
    "아니 그게 말이 됩니까? 벌써 세 번째 전화하는 거예요!",
    "주차 요금 감면 신청서는 어디에서 받을 수 있나요?",
    "네, 알겠습니다. 서류를 다시 준비해서 내일 방문하겠습니다.",
)


def available() -> bool:
    """Whether espeak-ng is installed."""
    return shutil.which("espeak-ng") is not None


def korean(text: str, voice: str = "ko", speed: int = 160, pitch: int = 50) -> npt.NDArray[np.float64]:
    """``text`` spoken by espeak-ng, resampled to 8 kHz, peak about -6 dBFS."""
    from scipy.signal import resample_poly

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
            check=True,
            capture_output=True,
        )
        samples, rate = sf.read(out, dtype="float64")
    speech = np.asarray(resample_poly(samples, 8000, rate), dtype=np.float64)
    peak = float(np.max(np.abs(speech))) or 1.0
    return speech * (16000.0 / peak)
