"""The console line editor: keys from real terminals, history, completion, and resync after garbage."""

from __future__ import annotations

from edge.console.lineedit import (
    MAX_LINE,
    EditorEvent,
    EndOfInput,
    Garbled,
    Interrupted,
    LineEditor,
    Submitted,
)


class Harness:
    """An editor that records its echo and events, restarting the prompt after each event like a session."""

    def __init__(self, words: list[str] | None = None, ascii_only: bool = False) -> None:
        self.out: list[str] = []
        self.events: list[EditorEvent] = []
        completer = (lambda before: list(words)) if words is not None else None
        self.editor = LineEditor(self.out.append, self._on_event, completer, ascii_only=ascii_only)
        self.editor.start("> ")

    def _on_event(self, event: EditorEvent) -> None:
        self.events.append(event)
        self.editor.start("> ")

    def feed(self, data: bytes) -> list[EditorEvent]:
        self.events.clear()
        self.editor.feed(data)
        return list(self.events)

    @property
    def echo(self) -> str:
        return "".join(self.out)


def test_enter_as_cr_lf_or_crlf_gives_exactly_one_line_each() -> None:
    h = Harness()
    assert h.feed(b"status\r") == [Submitted("status")]
    assert h.feed(b"calls\r\n") == [Submitted("calls")]
    assert h.feed(b"net\n") == [Submitted("net")]
    assert h.feed(b"\r\n") == [Submitted("")]


def test_backspace_removes_a_whole_hangul_character_and_echo_is_utf8() -> None:
    h = Harness()
    h.feed("경고x".encode())
    h.feed(b"\x7f\x7f")  # DEL (picocom, PuTTY)
    h.feed(b"a\x08")  # BS (some terminals)
    assert h.editor.text == "경"
    assert h.feed(b"\r") == [Submitted("경")]
    assert "경고x" in h.echo


def test_cursor_keys_insert_in_the_middle_in_csi_and_ss3_forms() -> None:
    h = Harness()
    h.feed(b"stts")
    h.feed(b"\x1b[D\x1b[D")  # left twice (CSI)
    h.feed(b"a")
    h.feed(b"\x1bOH")  # Home (SS3, application mode)
    h.feed(b"[")
    h.feed(b"\x1b[4~")  # End (VT220 form)
    h.feed(b"]")
    h.feed(b"\x1b[1~\x1b[3~")  # Home, Delete
    assert h.feed(b"\r") == [Submitted("stats]")]


def test_kill_keys_ctrl_u_ctrl_w_ctrl_k() -> None:
    h = Harness()
    h.feed(b"config set foo\x17")
    assert h.editor.text == "config set "
    h.feed(b"\x15")
    assert h.editor.text == ""
    h.feed(b"status now\x1b[D\x1b[D\x1b[D\x0b")
    assert h.feed(b"\r") == [Submitted("status ")]


def test_history_walks_back_and_restores_the_line_being_typed() -> None:
    h = Harness()
    h.feed(b"status\rcalls 5\r")
    h.feed(b"ev")
    h.feed(b"\x1b[A")
    assert h.editor.text == "calls 5"
    h.feed(b"\x1b[A\x1b[A")  # stops at the oldest
    assert h.editor.text == "status"
    h.feed(b"\x1b[B\x1b[B")
    assert h.editor.text == "ev"
    h.feed(b"\x10")  # Ctrl-P works like Up
    assert h.editor.text == "calls 5"
    assert h.feed(b"\r") == [Submitted("calls 5")]
    assert h.editor.history == ("status", "calls 5")  # no duplicate of the last entry


def test_tab_completes_unique_words_common_prefixes_and_lists_the_rest() -> None:
    h = Harness(words=["status", "config", "calls", "calendar"])
    h.feed(b"st\t")
    assert h.editor.text == "status "
    h.feed(b"\x15ca\t")
    assert h.editor.text == "cal"  # calls / calendar: extended to what they share
    assert "calendar  calls" not in h.echo
    h.feed(b"\t")  # nothing more in common: list them
    assert "calendar  calls" in h.echo
    h.feed(b"en\t")
    assert h.editor.text == "calendar "
    h.feed(b"\x15zz\t")
    assert h.editor.text == "zz"
    assert h.echo.endswith("\a")


def test_invalid_utf8_drops_the_line_and_resyncs_on_the_next_line_ending() -> None:
    h = Harness()
    assert h.feed(b"sta\xff\xfetus\r") == [Garbled("invalid UTF-8")]
    assert h.feed(b"status\r") == [Submitted("status")]


def test_binary_noise_with_control_characters_never_executes_a_half_line() -> None:
    h = Harness()
    events = h.feed(b"reboot\x1b\x01\x02\x1b[\x80\r")
    assert events and all(isinstance(e, Garbled) for e in events)
    assert h.feed(b"status\r") == [Submitted("status")]


def test_runaway_escape_sequence_is_garbage() -> None:
    h = Harness()
    assert h.feed(b"x\x1b[" + b"1;" * 40 + b"\r") == [Garbled("runaway escape sequence")]
    assert h.feed(b"ok\r") == [Submitted("ok")]


def test_unknown_but_well_formed_sequences_are_ignored_not_garbage() -> None:
    h = Harness()
    assert h.feed(b"st\x1b[15~\x1b[1;5Pat\x1bxus\r") == [Submitted("status")]  # F5, Ctrl-F1, Alt-x


def test_overlong_line_is_dropped_whole() -> None:
    h = Harness()
    assert h.feed(b"a" * (MAX_LINE + 10) + b"\r") == [Garbled("line too long")]
    assert h.feed(b"help\r") == [Submitted("help")]


def test_ctrl_c_abandons_the_line_even_inside_garbage() -> None:
    h = Harness()
    assert h.feed(b"conf\xff\x03") == [Interrupted()]
    assert h.feed(b"help\r") == [Submitted("help")]


def test_ctrl_d_on_an_empty_line_is_end_of_input_and_deletes_otherwise() -> None:
    h = Harness()
    h.feed(b"ab\x1b[D\x04")
    assert h.editor.text == "a"
    assert h.feed(b"\x15\x04") == [EndOfInput()]


def test_secret_lines_are_neither_echoed_nor_remembered() -> None:
    h = Harness()
    h.editor.start("Password: ", secret=True)
    h.out.clear()
    h.editor.feed(b"hunter22\t\x1b[A")
    assert "hunter" not in h.echo
    assert not h.events
    h.editor.feed(b"\r")
    assert h.events[-1] == Submitted("hunter22")
    assert "hunter" not in h.echo
    assert h.editor.history == ()


def test_ascii_only_mode_treats_8_bit_input_as_garbage() -> None:
    h = Harness(ascii_only=True)
    assert h.feed("상태\r".encode()) == [Garbled("8-bit byte in ASCII-only mode")]
    assert h.feed(b"status\r") == [Submitted("status")]


def test_break_nul_and_flow_control_bytes_are_harmless() -> None:
    h = Harness()
    assert h.feed(b"\x00st\x11at\x13us\x07\r") == [Submitted("status")]


class Screen:
    """Just enough of a VT100/xterm to check redraws: wide characters, pending wrap, CR, LF, CSI A-D, J, K."""

    def __init__(self, columns: int, rows: int = 12) -> None:
        self.columns = columns
        self.cells = [[" "] * columns for _ in range(rows)]
        self.row = self.col = 0
        self.saved = (0, 0)

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            ch = text[i]
            if ch == "\x1b":
                if text[i + 1] in "78":
                    if text[i + 1] == "7":
                        self.saved = (self.row, self.col)
                    else:
                        self.row, self.col = self.saved
                    i += 2
                    continue
                j = i + 2
                while not text[j].isalpha():
                    j += 1
                self._csi(text[i + 2 : j], text[j])
                i = j + 1
                continue
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self.row += 1
            elif ch == "\a":
                pass
            else:
                width = 2 if ord(ch) >= 0x1100 else 1
                if self.col + width > self.columns:
                    self.row, self.col = self.row + 1, 0
                self.cells[self.row][self.col] = ch
                if width == 2:
                    self.cells[self.row][self.col + 1] = ""
                self.col += width
            i += 1

    def _csi(self, params: str, final: str) -> None:
        n = int(params) if params.isdigit() else 1
        col = min(self.col, self.columns - 1)
        if final == "A":
            self.row, self.col = self.row - n, col
        elif final == "B":
            self.row, self.col = self.row + n, col
        elif final == "C":
            self.col = min(self.columns - 1, col + n)
        elif final == "D":
            self.col = max(0, col - n)
        elif final == "K":
            self.cells[self.row][col:] = [" "] * (self.columns - col)
        elif final == "J":
            self.cells[self.row][col:] = [" "] * (self.columns - col)
            for row in self.cells[self.row + 1 :]:
                row[:] = [" "] * self.columns

    def lines(self) -> list[str]:
        return ["".join(row).rstrip() for row in self.cells if "".join(row).strip()]


def _editor_on_screen(columns: int) -> tuple[LineEditor, Screen]:
    screen = Screen(columns)
    editor = LineEditor(screen.feed, lambda event: None)
    editor.columns = columns
    editor.start("> ")
    return editor, screen


def test_long_lines_wrap_and_edits_in_the_middle_redraw_every_row() -> None:
    editor, screen = _editor_on_screen(20)
    text = "config set prompts.texts.cut abcdefghij"  # 2 + 39 columns: three rows of 20
    editor.feed(text.encode())
    assert screen.lines() == ["> config set prompts", ".texts.cut abcdefghi", "j"]
    editor.feed(b"\x01" + b"\x1b[C" * 7 + b"XY")  # Home, 7 x Right, insert on the first row
    assert "".join(screen.lines()) == "> config XYset prompts.texts.cut abcdefghij"
    assert (screen.row, screen.col) == (0, 11)  # the cursor sits after the insertion
    editor.feed(b"\x0b")  # Ctrl-K: every row after the cursor is cleared
    assert screen.lines() == ["> config XY"]
    editor.feed(b"\r")
    assert screen.row == 1 and screen.col == 0


def test_wide_hangul_lines_wrap_whole_characters_and_backspace_cleanly() -> None:
    editor, screen = _editor_on_screen(10)
    editor.feed("가나다라마바".encode())  # 2 + 12 columns: wraps inside the word
    assert screen.lines() == ["> 가나다라", "마바"]
    editor.feed(b"\x1b[D" * 3 + b"\x7f")  # back to after 다, delete it
    assert screen.lines() == ["> 가나라마", "바"]
    editor.feed(b"x")
    assert screen.lines() == ["> 가나x라", "마바"]  # 라 no longer fits the row, so it moves whole
    assert (screen.row, screen.col) == (0, 7)


def test_exact_fit_and_history_recall_across_rows() -> None:
    editor, screen = _editor_on_screen(10)
    editor.feed(b"abcdefgh\r")  # prompt + 8 = exactly one row
    editor.start("> ")
    editor.feed(b"x")
    editor.feed(b"\x1b[A")  # recall the exact-fit line over the short one
    assert screen.lines()[-2:] == ["> abcdefgh", "> abcdefgh"]
    editor.feed(b"Z")
    assert screen.lines()[-2:] == ["> abcdefgh", "Z"]


def test_terminal_width_answer_sets_the_columns_and_function_keys_do_not() -> None:
    h = Harness()
    h.feed(b"\x1b[1;2R")  # Shift-F3 on xterm: not a width
    assert h.editor.columns == 80
    h.feed(b"\x1b[24;132R")
    assert h.editor.columns == 132
    assert h.feed(b"status\r") == [Submitted("status")]
