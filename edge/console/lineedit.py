"""A line editor for a serial terminal: bytes in, edited lines out, robust against noise.

It understands what picocom, minicom, screen and PuTTY send (VT100/xterm cursor keys, backspace as DEL or
BS, Ctrl-A/E/U/K/W/C/D/P/N/L, Tab), decodes UTF-8 (or, in ASCII-only mode, takes 7-bit input only), and
treats anything it cannot make sense of as garbage: the rest of that line is dropped, nothing is executed,
and the editor resyncs on the next line ending.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.console.text import char_width

MAX_LINE = 256
"""Characters in one line; longer input is noise (or an accidental paste) and is dropped."""
MAX_ESCAPE = 32
"""Bytes in one escape sequence; longer means we lost sync inside one."""
HISTORY_SIZE = 50
DEFAULT_COLUMNS = 80
"""Assumed terminal width until the terminal answers ``query_width``."""
WIDTH_QUERY = "\x1b7\x1b[999C\x1b[6n\x1b8"
"""Save cursor, go far right, ask where the cursor is, restore: the answer's column is the width."""


@dataclass(frozen=True)
class Submitted:
    """The user pressed Enter on ``text``."""

    text: str


@dataclass(frozen=True)
class Interrupted:
    """Ctrl-C: the line was abandoned."""


@dataclass(frozen=True)
class EndOfInput:
    """Ctrl-D on an empty line."""


@dataclass(frozen=True)
class Garbled:
    """A line was dropped because it held garbage; ``reason`` says what kind."""

    reason: str


EditorEvent = Submitted | Interrupted | EndOfInput | Garbled
Completer = Callable[[str], list[str]]
"""Given the text before the cursor, the candidates for the word being typed (whole words)."""

_IGNORED_CONTROLS = frozenset({0x00, 0x07, 0x11, 0x13})  # NUL (break), BEL, XON, XOFF: harmless noise


class LineEditor:
    """Turns terminal bytes into edit operations and ``EditorEvent``s; writes its echo through ``write``."""

    def __init__(
        self,
        write: Callable[[str], None],
        on_event: Callable[[EditorEvent], None],
        completer: Completer | None = None,
        ascii_only: bool = False,
    ) -> None:
        self._write = write
        self._on_event = on_event
        self._completer = completer
        self.ascii_only = ascii_only
        self._prompt = ""
        self._secret = False
        self._buf: list[str] = []
        self._cursor = 0
        self._history: list[str] = []
        self._hist_pos = 0
        self._draft: list[str] = []
        self._escape: bytearray | None = None
        self._utf8 = bytearray()
        self._utf8_need = 0
        self._discarding: str | None = None
        self._after_cr = False
        self.columns = DEFAULT_COLUMNS
        self.keystrokes = 0
        """Bytes taken as typing (garbage and line noise not counted): what keeps a session awake."""
        self._cursor_row = 0  # the terminal cursor's row, counted from the prompt's row

    # -- public -------------------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """The line being edited."""
        return "".join(self._buf)

    @property
    def history(self) -> tuple[str, ...]:
        """Submitted lines, oldest first (secret lines are never kept)."""
        return tuple(self._history)

    def start(self, prompt: str, secret: bool = False) -> None:
        """Begin a new line: show ``prompt``; with ``secret`` nothing typed is echoed or remembered."""
        self._prompt = prompt
        self._secret = secret
        self._buf = []
        self._cursor = 0
        self._hist_pos = len(self._history)
        self._cursor_row = _layout(prompt, [], self.columns)[0]
        self._write(prompt)

    def query_width(self) -> str:
        """The escape sequence that asks the terminal for its width; its answer is taken by ``feed``."""
        return WIDTH_QUERY

    def clear_history(self) -> None:
        """Forget every remembered line (at logout, so the next person cannot page through them)."""
        self._history.clear()
        self._hist_pos = 0

    def feed(self, data: bytes) -> None:
        """Process bytes from the terminal, in order; events are delivered as they complete."""
        for byte in data:
            self._byte(byte)
            if self._discarding is None and byte not in _IGNORED_CONTROLS:
                self.keystrokes += 1

    # -- byte level ----------------------------------------------------------------------------------

    def _byte(self, byte: int) -> None:
        after_cr, self._after_cr = self._after_cr, False
        if byte in (0x0D, 0x0A):
            if byte == 0x0A and after_cr:
                return  # CR LF from terminals that send both
            self._after_cr = byte == 0x0D
            self._reset_decoders()
            self._line_end()
            return
        if byte == 0x03:  # Ctrl-C always gets the technician out, garbage or not
            self._reset_decoders()
            self._discarding = None
            self._write(self._to_end() + "^C\r\n")
            self._reset_line()
            self._on_event(Interrupted())
            return
        if self._discarding is not None:
            return
        if self._escape is not None:
            self._escape_byte(byte)
            return
        if self._utf8_need:
            self._utf8_byte(byte)
            return
        if byte == 0x1B:
            self._escape = bytearray()
            return
        if byte >= 0x80:
            if self.ascii_only:
                self._garbage("8-bit byte in ASCII-only mode")
                return
            self._utf8_start(byte)
            return
        if byte < 0x20 or byte == 0x7F:
            self._control(byte)
            return
        self._insert(chr(byte))

    def _reset_decoders(self) -> None:
        self._escape = None
        self._utf8.clear()
        self._utf8_need = 0

    def _utf8_start(self, byte: int) -> None:
        if 0xC2 <= byte <= 0xDF:
            need = 1
        elif 0xE0 <= byte <= 0xEF:
            need = 2
        elif 0xF0 <= byte <= 0xF4:
            need = 3
        else:
            self._garbage("invalid UTF-8")
            return
        self._utf8 = bytearray([byte])
        self._utf8_need = need

    def _utf8_byte(self, byte: int) -> None:
        if not 0x80 <= byte <= 0xBF:
            self._reset_decoders()
            self._garbage("invalid UTF-8")
            return
        self._utf8.append(byte)
        self._utf8_need -= 1
        if self._utf8_need:
            return
        raw = bytes(self._utf8)
        self._utf8.clear()
        try:
            char = raw.decode("utf-8")  # rejects overlong forms and surrogates
        except UnicodeDecodeError:
            self._garbage("invalid UTF-8")
            return
        if not char.isprintable() and char != "\u3000":
            self._garbage("non-printing character")
            return
        self._insert(char)

    def _escape_byte(self, byte: int) -> None:
        seq = self._escape
        assert seq is not None
        seq.append(byte)
        if len(seq) > MAX_ESCAPE:
            self._escape = None
            self._garbage("runaway escape sequence")
            return
        first = seq[0]
        if len(seq) == 1:
            if first in (0x5B, 0x4F):  # '[' CSI or 'O' SS3: wait for the rest
                return
            self._escape = None
            if first == 0x1B:
                self._escape = bytearray()  # ESC ESC: the second one starts a sequence
            elif 0x20 <= first < 0x7F:
                return  # Alt-<key>: nothing bound, ignore quietly
            else:
                self._garbage("broken escape sequence")
            return
        if first == 0x4F:  # SS3: exactly one final byte
            self._escape = None
            if 0x40 <= byte <= 0x7E:
                self._key(bytes(seq))
            else:
                self._garbage("broken escape sequence")
            return
        if 0x20 <= byte <= 0x3F:  # CSI parameter or intermediate bytes
            return
        self._escape = None
        if 0x40 <= byte <= 0x7E:
            self._key(bytes(seq))
        else:
            self._garbage("broken escape sequence")

    # -- keys ------------------------------------------------------------------------------------------

    def _key(self, seq: bytes) -> None:
        final = seq[-1:]
        params = seq[1:-1]
        if final == b"R" and seq[:1] == b"[":
            self._width_report(params)
        elif final == b"A":
            self._history_step(-1)
        elif final == b"B":
            self._history_step(+1)
        elif final == b"C":
            self._move(self._cursor + 1)
        elif final == b"D":
            self._move(self._cursor - 1)
        elif final == b"H" or (final == b"~" and params in (b"1", b"7")):
            self._move(0)
        elif final == b"F" or (final == b"~" and params in (b"4", b"8")):
            self._move(len(self._buf))
        elif final == b"~" and params == b"3":
            self._delete_at_cursor()
        # every other well-formed sequence (function keys, focus, mouse) is deliberately ignored

    def _control(self, byte: int) -> None:
        if byte in (0x7F, 0x08):
            if self._cursor > 0:
                del self._buf[self._cursor - 1]
                self._cursor -= 1
                self._refresh()
        elif byte == 0x09:
            self._complete()
        elif byte == 0x01:
            self._move(0)
        elif byte == 0x05:
            self._move(len(self._buf))
        elif byte == 0x02:
            self._move(self._cursor - 1)
        elif byte == 0x06:
            self._move(self._cursor + 1)
        elif byte == 0x15:  # Ctrl-U: kill to the start of the line
            del self._buf[: self._cursor]
            self._cursor = 0
            self._refresh()
        elif byte == 0x0B:  # Ctrl-K: kill to the end
            del self._buf[self._cursor :]
            self._refresh()
        elif byte == 0x17:  # Ctrl-W: kill the word before the cursor
            start = self._cursor
            while start > 0 and self._buf[start - 1] == " ":
                start -= 1
            while start > 0 and self._buf[start - 1] != " ":
                start -= 1
            del self._buf[start : self._cursor]
            self._cursor = start
            self._refresh()
        elif byte == 0x0C:  # Ctrl-L: redraw
            self._write(self._to_end() + "\r\n")
            self._cursor_row = 0
            self._refresh()
        elif byte == 0x10:
            self._history_step(-1)
        elif byte == 0x0E:
            self._history_step(+1)
        elif byte == 0x04:
            if self._buf:
                self._delete_at_cursor()
            else:
                self._write(self._to_end() + "\r\n")
                self._on_event(EndOfInput())
        elif byte in _IGNORED_CONTROLS:
            return
        else:
            self._garbage("control character")

    # -- editing ---------------------------------------------------------------------------------------

    def _insert(self, char: str) -> None:
        if len(self._buf) >= MAX_LINE:
            self._garbage("line too long")
            return
        self._buf.insert(self._cursor, char)
        self._cursor += 1
        if self._secret:
            return
        if self._cursor == len(self._buf):
            # Short lines cannot reach the edge (no character is wider than 2): skip the layout walk.
            short = 2 * (len(self._prompt) + len(self._buf)) < self.columns
            _, col = (0, 0) if short else _layout(self._prompt, self._buf[:-1], self.columns)
            if short or col + char_width(char) < self.columns:
                self._write(char)  # the common case: typing at the end costs one character on the wire
                return
        self._refresh()

    def _delete_at_cursor(self) -> None:
        if self._cursor < len(self._buf):
            del self._buf[self._cursor]
            self._refresh()

    def _move(self, position: int) -> None:
        position = max(0, min(len(self._buf), position))
        if position != self._cursor:
            self._cursor = position
            self._refresh()

    def _history_step(self, step: int) -> None:
        if self._secret or not self._history:
            return
        target = max(0, min(len(self._history), self._hist_pos + step))
        if target == self._hist_pos:
            return
        if self._hist_pos == len(self._history):
            self._draft = list(self._buf)
        self._hist_pos = target
        self._buf = list(self._draft if target == len(self._history) else self._history[target])
        self._cursor = len(self._buf)
        self._refresh()

    def _complete(self) -> None:
        if self._secret or self._completer is None:
            return
        before = "".join(self._buf[: self._cursor])
        word = before.rsplit(" ", 1)[-1]
        candidates = sorted({c for c in self._completer(before) if c.startswith(word)})
        if not candidates:
            self._write("\a")
            return
        if len(candidates) == 1:
            addition = candidates[0][len(word) :] + " "
        else:
            common = candidates[0]
            for other in candidates[1:]:
                while not other.startswith(common):
                    common = common[:-1]
            addition = common[len(word) :]
            if not addition:
                self._write(self._to_end() + "\r\n" + "  ".join(candidates) + "\r\n")
                self._cursor_row = 0
                self._refresh()
                return
        for char in addition:
            if len(self._buf) < MAX_LINE:
                self._buf.insert(self._cursor, char)
                self._cursor += 1
        self._refresh()

    def _refresh(self) -> None:
        """Redraw prompt and line, over as many terminal rows as they take, and put the cursor back."""
        if self._secret:
            return
        cols = self.columns
        up = f"\x1b[{self._cursor_row}A" if self._cursor_row else ""
        end_row, end_col = _layout(self._prompt, self._buf, cols)
        wrap = ""
        if end_col >= cols:  # the terminal waits to wrap; make it wrap so rows are where we think
            wrap = "\r\n"
            end_row, end_col = end_row + 1, 0
        row, col = _layout(self._prompt, self._buf[: self._cursor], cols)
        if col >= cols:
            row, col = row + 1, 0
        back = f"\x1b[{end_row - row}A" if end_row > row else ""
        right = f"\x1b[{col}C" if col else ""
        text = "".join(self._buf)
        self._write(f"{up}\r{self._prompt}{text}{wrap}\x1b[J{back}\r{right}")
        self._cursor_row = row

    def _to_end(self) -> str:
        """Cursor movement from where the cursor is to the last row of the line being edited."""
        if self._secret:
            return ""
        end_row, end_col = _layout(self._prompt, self._buf, self.columns)
        if end_col >= self.columns:
            end_row += 1  # refresh left the cursor on the next row after an exact fit
        down = end_row - self._cursor_row
        self._cursor_row = end_row
        return f"\x1b[{down}B" if down > 0 else ""

    def _width_report(self, params: bytes) -> None:
        try:
            _, col = (int(x) for x in params.split(b";"))
        except ValueError:
            return
        if 20 <= col <= 1000:  # else it is a key that happens to end in R (Shift-F3 is ESC [1;2R)
            self.columns = col

    # -- line level ------------------------------------------------------------------------------------

    def _garbage(self, reason: str) -> None:
        if self._discarding is None:
            self._discarding = reason

    def _reset_line(self) -> None:
        self._buf = []
        self._cursor = 0
        self._hist_pos = len(self._history)

    def _line_end(self) -> None:
        self._write(self._to_end() + "\r\n")
        if self._discarding is not None:
            reason, self._discarding = self._discarding, None
            self._reset_line()
            self._on_event(Garbled(reason))
            return
        text = "".join(self._buf)
        if not self._secret and text.strip() and (not self._history or self._history[-1] != text):
            self._history.append(text)
            del self._history[:-HISTORY_SIZE]
        self._reset_line()
        self._on_event(Submitted(text))


def _layout(prompt: str, chars: list[str], columns: int) -> tuple[int, int]:
    """Row and column after writing ``prompt`` then ``chars`` from column 0, wrapping as xterm does.

    A column equal to ``columns`` means the terminal is waiting to wrap (the next character goes to the
    next row); a wide character that does not fit at the end of a row moves to the next row whole.
    """
    row = col = 0
    for char in (*prompt, *chars):
        width = char_width(char)
        if col + width > columns:
            row, col = row + 1, 0
        col += width
    return row, col
