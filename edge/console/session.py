"""One console session as a protocol object: bytes in, text out, login first, commands after.

Nothing is shown before login but the word ``lineguard login`` and the password prompt; input is
ignored for a moment after a wrong password, the login locks after too many, and an idle session logs out.
The session never blocks on I/O of its own: the transport calls ``data_received`` and ``tick``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

from edge.console.auth import AuthState, AuthStore, PasswordError, Verdict, check_new_password
from edge.console.backend import ConsoleBackend
from edge.console.commands import ConsoleCommands, Reply
from edge.console.lineedit import EditorEvent, EndOfInput, Garbled, Interrupted, LineEditor, Submitted
from edge.console.settings import ConsoleConfig
from edge.console.text import to_ascii

BANNER = "lineguard login"
PROMPT = "lineguard> "


class Mode(Enum):
    """What the next line typed means."""

    PASSWORD = "password"
    WAITING = "waiting"  # after a wrong password: input is ignored until the delay is over
    NEW_PASSWORD = "new password"
    REPEAT_PASSWORD = "repeat password"
    SHELL = "shell"
    CONFIRM = "confirm"


class ConsoleSession:
    """The technician console over any byte transport (``send`` writes bytes to the terminal)."""

    def __init__(
        self,
        backend: ConsoleBackend,
        auth: AuthStore,
        settings: ConsoleConfig,
        send: Callable[[bytes], None],
        now: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._auth = auth
        self._settings = settings
        self._send = send
        self._now = now
        self.ascii_only = settings.ascii_only
        self._editor = LineEditor(self._write, self._event, self._complete, ascii_only=self.ascii_only)
        self._commands: ConsoleCommands | None = None
        self._mode = Mode.PASSWORD
        self._wait_until = 0.0
        self._new_password = ""
        self._confirm: Callable[[], Reply] | None = None
        self._last_input = now()
        self._forced_change = False
        self._fresh_setup = False  # choosing the first password without logging in (no password yet)

    @property
    def logged_in(self) -> bool:
        """Whether a technician is logged in."""
        return self._commands is not None

    def connection_made(self) -> None:
        """Show the login banner (call once when the port opens)."""
        self._login_prompt(banner=True)

    def data_received(self, data: bytes) -> None:
        """Bytes from the terminal."""
        if self._mode is Mode.WAITING:
            if self._now() < self._wait_until:
                return  # rate limit: keys typed during the delay are dropped, not queued
            self._login_prompt(banner=False)
        typed = self._editor.keystrokes
        self._editor.feed(data)
        if self._editor.keystrokes != typed:
            self._last_input = self._now()  # noise on the line does not keep a forgotten session open

    def tick(self) -> None:
        """Call a few times a second: ends the wrong-password delay and logs out idle sessions."""
        now = self._now()
        if self._mode is Mode.WAITING and now >= self._wait_until:
            self._login_prompt(banner=False)
        elif self.logged_in and now - self._last_input > self._settings.idle_logout_s:
            self._write(f"\r\nidle for {self._settings.idle_logout_s:g} s: logged out\r\n")
            self._logout("idle")

    # -- output ---------------------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        if self.ascii_only:
            self._send(to_ascii(text).encode("ascii", "replace"))
        else:
            self._send(text.encode("utf-8"))

    def _lines(self, lines: list[str]) -> None:
        if lines:
            self._write("".join(f"{line}\r\n" for line in lines))

    # -- login ------------------------------------------------------------------------------------------

    def _login_prompt(self, banner: bool) -> None:
        self._auth.reload()
        self._fresh_setup = False
        if banner:
            self._write(f"\r\n{BANNER}\r\n")
        if self._auth.state is AuthState.FRESH:
            self._mode = Mode.NEW_PASSWORD
            self._forced_change = True
            self._fresh_setup = True
            self._write("No technician password is set. Choose one (at least 8 characters).\r\n")
            self._editor.start("New password: ", secret=True)
            return
        self._mode = Mode.PASSWORD
        self._editor.start("Password: ", secret=True)

    def _password(self, text: str) -> None:
        if not text:
            self._login_prompt(banner=True)  # Enter to wake the console is not a failed attempt
            return
        if self._auth.state is AuthState.DAMAGED:
            self._write(
                "Login unavailable: the password file is damaged; run 'lineguard passwd' on the box.\r\n"
            )
            self._login_prompt(banner=False)
            return
        now = self._now()
        result = self._auth.attempt(text, now)
        if result.verdict is Verdict.OK:
            self._backend.audit("console.login", "technician logged in on the serial console")
            if result.must_change:
                self._forced_change = True
                self._write("This password must be changed now.\r\n")
                self._start_new_password()
                return
            self._enter_shell()
            return
        if result.verdict is Verdict.LOCKED:
            if result.just_locked:
                self._backend.audit("console.locked", f"{result.failures} wrong passwords in a row")
            self._write(f"Login locked. Try again in {int(result.retry_after_s + 0.999)} s.\r\n")
            self._mode = Mode.WAITING
            self._wait_until = now + max(self._settings.failure_delay_s, 1.0)
            return
        if result.verdict is Verdict.UNAVAILABLE:
            self._write("Login unavailable.\r\n")
            self._login_prompt(banner=False)
            return
        self._backend.audit("console.login_failed", f"wrong password ({result.failures} in a row)")
        self._write("Wrong password.\r\n")
        self._mode = Mode.WAITING
        self._wait_until = now + self._settings.failure_delay_s
        if self._settings.failure_delay_s <= 0:
            self._login_prompt(banner=False)

    def _start_new_password(self) -> None:
        self._fresh_setup = self._fresh_setup and not self.logged_in
        self._mode = Mode.NEW_PASSWORD
        self._editor.start("New password: ", secret=True)

    def _new_password_line(self, text: str) -> None:
        try:
            check_new_password(text)
        except PasswordError as exc:
            self._write(f"Refused: {exc}.\r\n")
            self._editor.start("New password: ", secret=True)
            return
        self._new_password = text
        self._mode = Mode.REPEAT_PASSWORD
        self._editor.start("Repeat new password: ", secret=True)

    def _repeat_password_line(self, text: str) -> None:
        password, self._new_password = self._new_password, ""
        if text != password:
            self._write("The passwords differ; try again.\r\n")
            self._start_new_password()
            return
        if self._fresh_setup:
            self._fresh_setup = False
            self._auth.reload()
            if self._auth.state is not AuthState.FRESH:  # 'lineguard passwd' was quicker: that one counts
                self._write("A password was set on the box meanwhile; log in with it.\r\n")
                self._login_prompt(banner=False)
                return
        try:
            self._auth.set_password(password)
        except OSError as exc:
            self._write(f"Could not store the password: {exc}.\r\n")
            self._start_new_password()
            return
        self._backend.audit("console.passwd", "technician password changed on the serial console")
        self._write("Password changed.\r\n")
        if self._forced_change or not self.logged_in:
            self._forced_change = False
            self._enter_shell()
        else:
            self._shell_prompt()

    # -- shell ------------------------------------------------------------------------------------------

    def _enter_shell(self) -> None:
        self._forced_change = False
        self._commands = ConsoleCommands(self._backend)
        self._write(self._editor.query_width())  # long lines wrap right on wide terminals too
        self._write("Logged in. Type 'help' for the commands, Tab to complete.\r\n")
        self._shell_prompt()

    def _shell_prompt(self) -> None:
        self._mode = Mode.SHELL
        self._editor.start(PROMPT)

    def _logout(self, why: str) -> None:
        self._backend.audit("console.logout", why)
        self._commands = None
        self._confirm = None
        self._editor.clear_history()
        self._login_prompt(banner=True)

    def _command(self, text: str) -> None:
        assert self._commands is not None
        reply = self._commands.run(text)
        self._lines(reply.lines)
        if reply.confirm is not None:
            question, self._confirm = reply.confirm
            self._mode = Mode.CONFIRM
            self._editor.start(f"{question} Type yes: ")
            return
        if reply.session == "logout":
            self._write("Logged out.\r\n")
            self._logout("logout")
            return
        if reply.session == "passwd":
            self._start_new_password()
            return
        if reply.session in ("ascii on", "ascii off"):
            self.ascii_only = reply.session == "ascii on"
            self._editor.ascii_only = self.ascii_only
            self._write(f"ASCII-only output {'on' if self.ascii_only else 'off'}.\r\n")
        self._shell_prompt()

    def _confirmed(self, text: str) -> None:
        action, self._confirm = self._confirm, None
        if text.strip().lower() == "yes" and action is not None:
            self._lines(action().lines)
        else:
            self._write("Cancelled.\r\n")
        self._shell_prompt()

    # -- editor events ----------------------------------------------------------------------------------

    def _complete(self, before: str) -> list[str]:
        if self._mode is Mode.SHELL and self._commands is not None:
            return self._commands.complete(before)
        return []

    def _event(self, event: EditorEvent) -> None:
        if isinstance(event, Submitted):
            self._line(event.text)
        elif isinstance(event, Interrupted | Garbled):
            self._cancel_line(event)
        elif isinstance(event, EndOfInput):
            if self.logged_in and self._mode is Mode.SHELL:
                self._write("Logged out.\r\n")
                self._logout("Ctrl-D")
            else:
                self._cancel_line(event)

    def _line(self, text: str) -> None:
        mode = self._mode
        if mode is Mode.PASSWORD:
            self._password(text)
        elif mode is Mode.NEW_PASSWORD:
            self._new_password_line(text)
        elif mode is Mode.REPEAT_PASSWORD:
            self._repeat_password_line(text)
        elif mode is Mode.CONFIRM:
            self._confirmed(text)
        elif mode is Mode.SHELL:
            self._command(text)
        # Mode.WAITING: keys during the delay never reach here (data_received drops them)

    def _cancel_line(self, event: EditorEvent) -> None:
        if isinstance(event, Garbled) and self.logged_in:
            self._write(f"(input dropped: {event.reason})\r\n")
        if self._mode is Mode.CONFIRM:
            self._confirm = None
            self._write("Cancelled.\r\n")
            self._shell_prompt()
        elif self._mode is Mode.SHELL:
            self._shell_prompt()
        elif (
            self._mode in (Mode.NEW_PASSWORD, Mode.REPEAT_PASSWORD)
            and self.logged_in
            and not self._forced_change
        ):
            self._write("Password not changed.\r\n")
            self._shell_prompt()
        elif self._mode is not Mode.WAITING:
            self._login_prompt(banner=False)
