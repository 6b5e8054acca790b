"""Plain-text rendering of backend answers for an 80-column terminal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from edge.console.text import clip, text_width

WIDTH = 79
CELL = 24


def fmt(value: Any) -> str:
    """One value as a technician wants to read it."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bytes | bytearray):
        return value.hex(" ") if value else "(none)"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, Mapping):
        return " ".join(f"{k}={fmt(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value) if value else "(none)"
    return str(value).replace("\r", " ").replace("\n", " ")


def pad(text: str, width: int) -> str:
    """``text`` padded to ``width`` columns (wide characters counted twice)."""
    return text + " " * max(0, width - text_width(text))


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> list[str]:
    """Rows as aligned columns under a header; cells are clipped so a row fits the screen."""
    if not rows:
        return ["(none)"]
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            for key in row:
                seen.setdefault(key, None)
        columns = list(seen)
    cells = [[clip(fmt(row.get(c)), CELL) for c in columns] for row in rows]
    widths = [max(text_width(c), *(text_width(r[i]) for r in cells)) for i, c in enumerate(columns)]
    widths = [min(w, CELL) for w in widths]
    # Too wide for the screen: narrow the widest column step by step, so every column stays readable.
    while sum(widths) + 2 * (len(widths) - 1) > WIDTH and max(widths) > 6:
        widths[widths.index(max(widths))] -= 1
    cells = [[clip(cell, w) for cell, w in zip(row, widths, strict=True)] for row in cells]

    def line(values: Sequence[str]) -> str:
        return clip("  ".join(pad(v, w) for v, w in zip(values, widths, strict=True)).rstrip(), WIDTH)

    return [line(list(columns)), *(line(r) for r in cells)]


def mapping(data: Mapping[str, Any], indent: int = 0) -> list[str]:
    """A nested mapping as ``key  value`` lines, sub-mappings indented, lists of rows as tables."""
    out: list[str] = []
    keys = [str(k) for k in data]
    key_width = min(20, max((len(k) for k in keys), default=0))
    prefix = " " * indent
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            out.append(f"{prefix}{key}:")
            out.extend(mapping(value, indent + 2))
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            out.append(f"{prefix}{key}:")
            out.extend(prefix + "  " + row for row in table(value))
        else:
            out.append(clip(f"{prefix}{pad(str(key), key_width)}  {fmt(value)}", WIDTH))
    return out


def summary(data: Mapping[str, Any], rows_per_list: int = 3) -> list[str]:
    """One screen: each section on one line, lists of rows as a short table."""
    out: list[str] = []
    for key, value in data.items():
        if isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            out.append(f"{key}:")
            out.extend("  " + row for row in table(list(value)[:rows_per_list]))
        else:
            out.append(clip(f"{pad(str(key), 10)} {fmt(value)}", WIDTH))
    return out
