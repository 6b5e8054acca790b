"""Prompt audio: replacement WAVs from the config folder, else shipped audio, else espeak-ng from the text."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from edge.audio import AudioFileError, SynthesisError, read_wav, synthesize, to_int16
from edge.config import PromptsConfig
from edge.ports import Pcm

PROMPT_TEXTS: dict[str, str] = {
    "recording_notice": "보다 나은 상담과 민원 응대 직원 보호를 위해 통화 내용이 녹음됩니다.",
    "warning": "욕설, 폭언, 성희롱은 법에 따라 처벌받을 수 있으며, 계속될 경우 통화가 종료됩니다.",
    "cut": "직원 보호를 위해 통화를 종료합니다.",
    "duration_notice": "효율적인 민원 상담과 직원 보호를 위해 잠시 후 통화가 자동 종료됩니다.",
    "duration_cut": "상담 시간이 초과되어 통화를 종료합니다.",
    "lunch": "지금은 점심시간입니다. 오후 1시 이후에 다시 걸어 주십시오.",
    "after_hours": "지금은 업무 시간이 아닙니다. 평일 오전 9시부터 오후 6시까지 이용해 주십시오.",
    "blocked": "이 번호로는 연결할 수 없습니다.",
    "office_moved": "사무실이 이전하였습니다. 잠시만 기다려 주시면 연결해 드리겠습니다.",
}
"""The shipped prompt texts (DESIGN.md §7); ``office_moved`` is a template that sites replace."""


class PromptError(Exception):
    """A prompt has no audio and cannot be synthesized."""


def shipped_prompt_path(prompt: str) -> Path:
    """Where the packaged audio of a shipped prompt lives."""
    return Path(str(resources.files("edge").joinpath(f"prompts/{prompt}.wav")))


def dbm0_gain(pcm: Pcm, level_dbm0: float) -> float:
    """The gain that brings the speech in ``pcm`` to ``level_dbm0`` (0 dBm0 = 3.14 dBov, G.711 µ-law)."""
    x = pcm.astype(np.float64) / 32768.0
    active = x[np.abs(x) > 10 ** (-40 / 20)]
    if active.size == 0:
        return 1.0
    rms_dbov = 20 * np.log10(np.sqrt(np.mean(active**2)))
    return float(10 ** ((level_dbm0 - 3.14 - rms_dbov) / 20))


class PromptLibrary:
    """Loads each prompt once, at the configured line level, and keeps it in memory."""

    def __init__(self, config: PromptsConfig, cache_dir: Path | None = None) -> None:
        self.config = config
        self.cache_dir = cache_dir
        self._loaded: dict[str, Pcm] = {}

    def source(self, prompt: str) -> str:
        """Where a prompt's audio comes from: 'site', 'text', 'shipped' or 'synthesized'."""
        if self.config.directory and (self.config.directory / f"{prompt}.wav").exists():
            return "site"
        if prompt in self.config.texts:
            return "text"
        return "shipped" if shipped_prompt_path(prompt).exists() else "synthesized"

    def get(self, prompt: str) -> Pcm:
        """The prompt's samples at 8 kHz and the configured level."""
        if prompt not in self._loaded:
            raw = self._raw(prompt)
            gain = dbm0_gain(raw, self.config.level_dbm0)
            self._loaded[prompt] = to_int16(raw.astype(np.float64) * gain / 32768.0)
        return self._loaded[prompt]

    def _raw(self, prompt: str) -> Pcm:
        source = self.source(prompt)
        try:
            if source == "site" and self.config.directory:
                return read_wav(self.config.directory / f"{prompt}.wav")
            if source == "shipped":
                return read_wav(shipped_prompt_path(prompt))
            text = self.config.texts.get(prompt) or PROMPT_TEXTS.get(prompt)
            if text is None:
                raise PromptError(f"prompt {prompt!r} has no audio, no text and is not a shipped prompt")
            return synthesize(text, cache_dir=self.cache_dir)
        except (AudioFileError, SynthesisError) as exc:
            raise PromptError(f"prompt {prompt!r}: {exc}") from None


def generate_shipped_prompts(directory: Path) -> list[Path]:
    """(Re)make the shipped prompt WAVs from the texts with espeak-ng (used when building a release)."""
    from edge.audio import write_wav

    written = []
    for prompt, text in PROMPT_TEXTS.items():
        path = directory / f"{prompt}.wav"
        write_wav(path, synthesize(text, speed=150))
        written.append(path)
    return written
