"""Text for terminals: ASCII transliteration (Korean romanized) and display widths."""

from __future__ import annotations

import unicodedata

_INITIALS = (
    "g",
    "kk",
    "n",
    "d",
    "tt",
    "r",
    "m",
    "b",
    "pp",
    "s",
    "ss",
    "",
    "j",
    "jj",
    "ch",
    "k",
    "t",
    "p",
    "h",
)
_MEDIALS = (
    "a", "ae", "ya", "yae", "eo", "e", "yeo", "ye", "o", "wa", "wae",
    "oe", "yo", "u", "wo", "we", "wi", "yu", "eu", "ui", "i",
)  # fmt: skip
_FINALS = (
    "", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l",
    "p", "l", "m", "p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t",
)  # fmt: skip
_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3

_SYMBOLS = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u00b7": ".", "\u2022": "*",
    "\u00b0": "deg", "\u00b1": "+/-", "\u00b5": "u", "\u00d7": "x", "\u2192": "->", "\u2190": "<-",
    "\u2191": "^", "\u2193": "v", "\u2714": "ok", "\u2716": "x", "\u00a0": " ", "\u3000": " ",
}  # fmt: skip


def romanize_syllable(char: str) -> str | None:
    """One precomposed Hangul syllable in Revised Romanization (letter by letter), else None."""
    code = ord(char)
    if not _HANGUL_FIRST <= code <= _HANGUL_LAST:
        return None
    index = code - _HANGUL_FIRST
    initial, rest = divmod(index, 21 * 28)
    medial, final = divmod(rest, 28)
    return _INITIALS[initial] + _MEDIALS[medial] + _FINALS[final]


def to_ascii(text: str) -> str:
    """Text a terminal without UTF-8 can show: Hangul romanized, accents dropped, the rest as '?'."""
    out: list[str] = []
    for char in text:
        if char.isascii():
            out.append(char)
            continue
        roman = romanize_syllable(char)
        if roman is not None:
            out.append(roman)
            continue
        if char in _SYMBOLS:
            out.append(_SYMBOLS[char])
            continue
        if "\u2500" <= char <= "\u257f":  # box drawing: keep tables readable
            out.append("|" if char in "\u2502\u2503\u2551" else "-")
            continue
        decomposed = unicodedata.normalize("NFKD", char)
        kept = "".join(c for c in decomposed if c.isascii() and not unicodedata.combining(c))
        if kept:
            out.append(kept)
        elif not unicodedata.combining(char):
            out.append("?")
    return "".join(out)


def char_width(char: str) -> int:
    """Columns a character takes on a terminal: 2 for wide (Hangul, CJK), 0 for combining marks."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_width(text: str) -> int:
    """Columns a string takes on a terminal."""
    return sum(char_width(c) for c in text)


def clip(text: str, width: int, ellipsis: str = "~") -> str:
    """``text`` cut to at most ``width`` columns, marking the cut."""
    if text_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    limit = max(0, width - len(ellipsis))
    for char in text:
        w = char_width(char)
        if used + w > limit:
            break
        out.append(char)
        used += w
    return "".join(out) + ellipsis
