"""The console password store: scrypt hash in a 0600 file, lockout that survives a restart, fail closed."""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.console.auth import AUTH_FILE_NAME, AuthState, AuthStore, PasswordError, Verdict
from tests.cli_support import one_line

PASSWORD = "orange-lantern-42"


def test_password_is_stored_salted_and_hashed_in_a_private_file(tmp_path: Path) -> None:
    store = AuthStore(tmp_path)
    assert store.state is AuthState.FRESH
    store.set_password(PASSWORD)
    path = tmp_path / AUTH_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert PASSWORD not in text
    record = json.loads(text)
    assert len(bytes.fromhex(record["scrypt"]["salt"])) == 16
    other = tmp_path / "other"
    AuthStore(other).set_password(PASSWORD)
    assert json.loads((other / AUTH_FILE_NAME).read_text())["scrypt"]["hash"] != record["scrypt"]["hash"]
    assert store.attempt(PASSWORD, now=0.0).verdict is Verdict.OK
    assert store.attempt(PASSWORD + "x", now=0.0).verdict is Verdict.WRONG


def test_lockout_after_max_failures_blocks_even_the_right_password_and_survives_restart(
    tmp_path: Path,
) -> None:
    store = AuthStore(tmp_path, max_failures=3, lockout_s=60.0)
    store.set_password(PASSWORD)
    assert [store.attempt("wrong-one", 100.0).verdict for _ in range(2)] == [Verdict.WRONG] * 2
    third = store.attempt("wrong-one", 100.0)
    assert third.verdict is Verdict.LOCKED and third.just_locked
    restarted = AuthStore(tmp_path, max_failures=3, lockout_s=60.0)
    locked = restarted.attempt(PASSWORD, 130.0)
    assert locked.verdict is Verdict.LOCKED
    assert locked.retry_after_s == pytest.approx(30.0)
    assert restarted.attempt(PASSWORD, 161.0).verdict is Verdict.OK


def test_success_resets_the_failure_count(tmp_path: Path) -> None:
    store = AuthStore(tmp_path, max_failures=3)
    store.set_password(PASSWORD)
    store.attempt("nope-nope", 0.0)
    store.attempt("nope-nope", 0.0)
    assert store.attempt(PASSWORD, 0.0).verdict is Verdict.OK
    assert store.attempt("nope-nope", 0.0).verdict is Verdict.WRONG  # not locked: count started over


def test_damaged_file_fails_closed(tmp_path: Path) -> None:
    (tmp_path / AUTH_FILE_NAME).write_text('{"scrypt": {"salt": "zz"}}')
    store = AuthStore(tmp_path)
    assert store.state is AuthState.DAMAGED
    assert store.attempt("", 0.0).verdict is Verdict.UNAVAILABLE
    assert store.attempt(PASSWORD, 0.0).verdict is Verdict.UNAVAILABLE


@pytest.mark.parametrize("weak", ["short1", "aaaaaaaaaaaa", " padded-pass", "x" * 200])
def test_weak_passwords_are_refused(tmp_path: Path, weak: str) -> None:
    with pytest.raises(PasswordError):
        AuthStore(tmp_path).set_password(weak)
    assert not (tmp_path / AUTH_FILE_NAME).exists()


def test_unwritable_data_dir_keeps_counting_in_memory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = AuthStore(data, max_failures=2, lockout_s=60.0)
    store.set_password(PASSWORD)
    (data / AUTH_FILE_NAME).unlink()
    data.rmdir()
    data.write_text("not a directory any more")  # every write now fails, even as root
    store.attempt("bad-guess", 0.0)
    assert store.write_error is not None
    assert store.attempt("bad-guess", 0.0).verdict is Verdict.LOCKED


def _passwd(tmp_path: Path, stdin: str, *extra: str) -> int:
    """``lineguard passwd`` through the real CLI entry point (in process: a fresh interpreter is slow)."""
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return main(["passwd", "--data-dir", str(tmp_path), *extra])
    except SystemExit as exit_:
        return int(exit_.code or 0)
    finally:
        sys.stdin = old


def test_passwd_command_reads_the_new_password_from_stdin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _passwd(tmp_path, PASSWORD + "\n", "--expire") == 0
    store = AuthStore(tmp_path)
    result = store.attempt(PASSWORD, 0.0)
    assert result.verdict is Verdict.OK and result.must_change
    audit = (tmp_path / "audit.jsonl").read_text()
    actions = [json.loads(line)["action"] for line in audit.splitlines()]
    assert actions == ["console.passwd"] and PASSWORD not in audit
    capsys.readouterr()
    assert _passwd(tmp_path, "short\n") == 2
    err = one_line(capsys.readouterr().err)
    assert "at least 8 characters" in err and "Traceback" not in err
    assert AuthStore(tmp_path).attempt(PASSWORD, 0.0).verdict is Verdict.OK  # unchanged
