"""A console session end to end in process: login rules, commands, config changes on a real file, audit."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from edge.config import default_config_text, load_config
from edge.console.auth import AuthStore
from edge.console.local_backend import PREVIOUS_CONFIG_NAME, LocalBackend
from edge.console.session import ConsoleSession
from edge.console.settings import ConsoleConfig
from edge.store import CallStore

PASSWORD = "orange-lantern-42"
SECRETS_OF_THE_BOX = ("lg-demo-0001", "demo-center", "sim", "disk", "calls", "mqtt", "0.1.0")


class Box:
    """A data dir, a real config file and a console session with a hand-moved clock."""

    def __init__(self, tmp_path: Path, password: str | None = PASSWORD, **settings: object) -> None:
        self.data = tmp_path / "data"
        self.config_path = tmp_path / "lineguard.toml"
        self.config_path.write_text(default_config_text(), encoding="utf-8")
        self.clock = 1_000_000.0
        self.out = bytearray()
        self.settings = ConsoleConfig.model_validate({"failure_delay_s": 0.0, **settings})
        self.auth = AuthStore(self.data, self.settings.max_failures, self.settings.lockout_s)
        if password:
            self.auth.set_password(password)
        self.backend = LocalBackend(self.config_path, self.data)
        self.session = ConsoleSession(
            self.backend, self.auth, self.settings, self.out.extend, lambda: self.clock
        )
        self.session.connection_made()

    def type(self, text: str | bytes) -> str:
        """Type and return everything the console printed in answer."""
        start = len(self.out)
        self.session.data_received(text.encode() if isinstance(text, str) else text)
        return self.out[start:].decode("utf-8", "replace")

    def login(self) -> None:
        assert "Logged in" in self.type(PASSWORD + "\r")

    def actions(self) -> list[str]:
        return [entry["action"] for entry in self.backend.audit_entries()]


def test_nothing_about_the_box_is_shown_before_login(tmp_path: Path) -> None:
    box = Box(tmp_path)
    before = box.out.decode() + box.type("\r") + box.type("status\r") + box.type("help\r\x03")
    assert "lineguard login" in before
    for secret in SECRETS_OF_THE_BOX:
        assert secret not in before.replace("lineguard login", ""), secret
    assert "status" not in before and "help" not in before  # password characters are not echoed
    box.login()
    assert "lg-demo-0001" in box.type("status\r")


def test_fresh_box_forces_a_new_password_at_first_login(tmp_path: Path) -> None:
    box = Box(tmp_path, password=None)
    assert "Choose one" in box.out.decode()
    assert "at least 8" in box.type("short\r")
    assert "differ" in box.type("orange-lantern-42\rorange-lantern-43\r")
    answer = box.type("orange-lantern-42\rorange-lantern-42\r")
    assert "Logged in" in answer and box.session.logged_in
    assert AuthStore(box.data).attempt(PASSWORD, 0.0).verdict.value == "ok"
    assert box.actions()[:1] == ["console.passwd"]


def test_expired_password_must_be_changed_before_any_command(tmp_path: Path) -> None:
    box = Box(tmp_path, password=None)
    box.auth.set_password(PASSWORD, must_change=True)
    box.type("\x03")
    answer = box.type(PASSWORD + "\r")
    assert "must be changed" in answer and not box.session.logged_in
    box.type("\x03")  # cancelling the change does not let anyone in
    assert not box.session.logged_in
    box.type(PASSWORD + "\rgreen-lantern-77\rgreen-lantern-77\r")
    assert box.session.logged_in
    assert not AuthStore(box.data).attempt(PASSWORD, 0.0).must_change


def test_wrong_passwords_lock_the_login(tmp_path: Path) -> None:
    box = Box(tmp_path, max_failures=3, lockout_s=120.0)
    for _ in range(2):
        assert "Wrong password" in box.type("guess-guess\r")
    assert "Login locked. Try again in 120 s" in box.type("guess-guess\r")
    box.clock += 2
    box.session.tick()
    assert "Login locked" in box.type(PASSWORD + "\r")
    assert not box.session.logged_in
    box.clock += 120
    box.session.tick()
    box.login()
    assert box.actions().count("console.login_failed") == 2
    assert "console.locked" in box.actions()


def test_keys_typed_during_the_wrong_password_delay_are_dropped(tmp_path: Path) -> None:
    box = Box(tmp_path, failure_delay_s=2.0)
    box.type("guess-guess\r")
    assert box.type(PASSWORD + "\r") == ""  # ignored, not even counted
    box.clock += 2.5
    box.session.tick()
    assert box.out.decode().endswith("Password: ")
    box.login()
    assert box.actions().count("console.login_failed") == 1


def test_idle_session_is_logged_out(tmp_path: Path) -> None:
    box = Box(tmp_path, idle_logout_s=60.0)
    box.login()
    box.clock += 59
    box.session.tick()
    assert box.session.logged_in
    box.clock += 2
    box.session.tick()
    assert not box.session.logged_in
    assert box.out.decode().endswith("idle for 60 s: logged out\r\n\r\nlineguard login\r\nPassword: ")
    assert "unknown command" not in box.type("status\r")  # taken as a password now
    assert "console.logout" in box.actions()


def test_help_lists_every_command_and_each_command_answers(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.login()
    help_text = box.type("help\r")
    commands = [
        "status",
        "calls",
        "events",
        "config",
        "test",
        "diag",
        "net",
        "mqtt",
        "model",
        "log",
        "reboot",
    ]
    for name in commands:
        assert f"\n  {name} " in help_text.replace("\r", ""), name
    for line in ("calls 5", "events 5", "diag line", "net", "mqtt", "model", "log tail 5", "config show"):
        answer = box.type(line + "\r")
        assert "error" not in answer and "unknown command" not in answer, (line, answer)
    assert "usage: calls [N]" in box.type("calls many\r")
    assert "Did you mean 'status'" in box.type("stauts\r")


def test_config_set_diff_apply_rollback_on_a_real_file_with_audit(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.login()
    original = box.config_path.read_text()
    assert "draft: calendar.lunch.start = 12:30" in box.type("config set calendar.lunch.start 12:30\r")
    assert box.config_path.read_text() == original  # a draft until applied
    diff = box.type("config diff\r")
    assert '-start = "12:00"' in diff and '+start = "12:30"' in diff
    applied = box.type("config apply\r")
    assert "calendar.lunch.start: 12:00 -> 12:30" in applied
    assert "only the file changed" in applied  # no appliance in this process: say so
    assert load_config(box.config_path).calendar.lunch.start == "12:30"
    assert "# lineguard configuration" in box.config_path.read_text()  # comments kept
    assert (box.data / PREVIOUS_CONFIG_NAME).read_text() == original
    assert "12:30" in box.type("config get calendar.lunch.start\r")
    box.type("config rollback\r")
    assert "rolled back" in box.type("yes\r")
    assert box.config_path.read_text() == original
    actions = box.actions()
    assert actions.count("config.set") == 1 and "config.apply" in actions and "config.rollback" in actions
    applied = next(e for e in box.backend.audit_entries() if e["action"] == "config.apply")
    assert "12:00 -> 12:30" in applied["detail"]


def test_invalid_values_are_refused_and_nothing_reaches_the_file(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.login()
    original = box.config_path.read_text()
    assert "refused: call.answer_on_ring = 99" in box.type("config set call.answer_on_ring 99\r")
    assert "no configuration key 'call.answer_on_rng'; did you mean call.answer_on_ring" in box.type(
        "config set call.answer_on_rng 3\r"
    )
    answer = box.type("config set duration.notice_s 5000\r")
    assert "not yet valid" in answer  # a cross-field rule: the draft may still be fixed
    assert "not applied" in box.type("config apply\r")
    assert box.config_path.read_text() == original
    box.type("config set duration.cut_s 6000\r")
    assert "applied" in box.type("config apply\r")
    config = load_config(box.config_path)
    assert (config.duration.notice_s, config.duration.cut_s) == (5000, 6000)


def test_korean_prompt_text_and_ascii_only_terminals(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.login()
    box.type("config set prompts.texts.cut 직원 보호를 위해 통화를 종료합니다.\r")
    box.type("config apply\r")
    assert (
        tomllib.loads(box.config_path.read_text())["prompts"]["texts"]["cut"]
        == "직원 보호를 위해 통화를 종료합니다."
    )
    box.type("ascii on\r")
    answer = box.out[len(box.out) :]
    start = len(box.out)
    box.type("config get prompts.texts.cut\r")
    answer = bytes(box.out[start:])
    assert answer.isascii()
    assert b"jikwon bohoreul wihae" in answer


def test_calls_and_events_come_from_the_call_database(tmp_path: Path) -> None:
    box = Box(tmp_path)
    store = CallStore(box.data)
    t0 = dt.datetime(2026, 11, 23, 10, 0, 0)
    store.open_call("L1-20261123-00001", "L1", "in", t0, "0212345678", None, None)
    store.close_call("L1-20261123-00001", t0 + dt.timedelta(seconds=95), "cut", "abuse.profanity", "box")
    store.add_event("L1-20261123-00001", 12.0, t0, "warning", "abuse.profanity", {"word": "x"})
    store.close()
    box.login()
    calls = box.type("calls\r")
    assert "0212345678" in calls and "abuse.profanity" in calls
    assert "warning" in box.type("events\r")
    status = box.type("status\r")
    assert "incidents:" in status and "L1-20261123-00001" in status


def test_reboot_and_logout(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.login()
    box.type("reboot\r")
    assert "Cancelled" in box.type("no\r")
    assert "reboot" not in box.actions()
    box.type("reboot\r")
    assert "sim backend" in box.type("yes\r")
    assert "reboot" in box.actions()
    assert "Logged out" in box.type("exit\r")
    assert not box.session.logged_in


@pytest.mark.parametrize("garbage", [b"\xff\xfe\r", b"\x1b[" + b"9" * 40 + b"\r", b"x" * 400 + b"\r"])
def test_garbage_before_login_is_not_a_failed_attempt(tmp_path: Path, garbage: bytes) -> None:
    box = Box(tmp_path, max_failures=1)
    answer = box.type(garbage)
    assert "Wrong" not in answer and answer.endswith("Password: ")
    box.login()


def test_secrets_are_never_printed_or_audited(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.login()
    answer = box.type("config set mqtt.password s3cret-broker-pw\r")
    assert "draft: mqtt.password = ***" in answer
    box.type("config set mqtt.username box-7\r")
    diff = box.type("config diff\r")
    assert '+username = "box-7"' in diff and '+password = "***"' in diff
    assert "mqtt.password: changed (secret)" in box.type("config apply\r")
    assert "s3cret-broker-pw" in box.config_path.read_text()  # the file has it: the runtime needs it
    shown = (
        box.type("config show\r") + box.type("config show mqtt\r") + box.type("config get mqtt.password\r")
    )
    shown += box.type("mqtt\r")
    assert "s3cret" not in shown and "***" in shown
    assert "s3cret" not in (box.data / "audit.jsonl").read_text()


def test_ascii_only_setting_keeps_every_byte_7_bit(tmp_path: Path) -> None:
    box = Box(tmp_path, ascii_only=True)
    with box.config_path.open("a", encoding="utf-8") as handle:
        handle.write('\n[prompts.texts]\nlunch = "지금은 점심시간입니다."\n')
    box.login()
    shown = box.type("config show\r") + box.type("status\r") + box.type("config get prompts.texts.lunch\r")
    assert bytes(box.out).isascii()
    assert "jigeumeun jeomsimsiganipnida." in shown


def test_line_noise_does_not_keep_a_forgotten_session_open(tmp_path: Path) -> None:
    box = Box(tmp_path, idle_logout_s=60.0)
    box.login()
    for _ in range(7):
        box.clock += 10
        box.type(b"\xff\xfe\x00\x80")  # noise, every 10 s
        box.session.tick()
    assert not box.session.logged_in
    box.type("\r")  # the noise left a garbled line: Enter ends it
    box.login()
    for _ in range(7):
        box.clock += 10
        box.type("x")  # a person typing keeps it open
        box.session.tick()
    assert box.session.logged_in


def test_a_failing_disk_or_a_corrupt_database_gives_a_clear_answer_and_changes_nothing(
    tmp_path: Path,
) -> None:
    box = Box(tmp_path)
    box.login()
    original = box.config_path.read_text()
    (box.data / "lineguard.db").write_bytes(b"this is not an SQLite database" * 100)
    answer = box.type("calls\r")
    assert answer.startswith("calls\r\nerror: calls failed: DatabaseError")
    box.type("config set calendar.lunch.start 12:30\r")
    box.backend.data_dir = tmp_path / "full"
    (tmp_path / "full").write_text("a file where the data directory should be")
    answer = box.type("config apply\r")
    assert "not applied" in answer and "nothing was changed" in answer
    assert box.config_path.read_text() == original
    assert "lg-demo-0001" in box.type("status\r")  # and the console goes on


def test_first_password_cannot_overwrite_one_set_meanwhile(tmp_path: Path) -> None:
    box = Box(tmp_path, password=None)
    box.type("green-lantern-77\r")
    AuthStore(box.data).set_password(PASSWORD)  # `lineguard passwd` on the box, at the same moment
    answer = box.type("green-lantern-77\r")
    assert "set on the box meanwhile" in answer and not box.session.logged_in
    assert AuthStore(box.data).attempt(PASSWORD, 0.0).verdict.value == "ok"
    box.login()


def test_help_fits_an_80_column_terminal(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.login()
    pages = box.type("help\r") + "".join(box.type(f"help {name}\r") for name in ("config", "test", "log"))
    assert max(len(line) for line in pages.split("\r\n")) <= 80


def test_a_missing_config_file_is_created_by_the_first_apply(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.config_path.unlink()
    box.login()
    assert "(empty: every key takes its default)" in box.type("config show\r")
    assert "calendar.lunch.start = 12:00" in box.type("config get calendar.lunch.start\r")
    box.type("config set calendar.lunch.start 11:30\r")
    assert "calendar.lunch.start: 12:00 -> 11:30" in box.type("config apply\r")
    assert load_config(box.config_path).calendar.lunch.start == "11:30"
