"""The technician password: scrypt-hashed in ``<data>/console-auth.json`` (0600), with failure lockout."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

AUTH_FILE_NAME = "console-auth.json"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128

SCRYPT_N = 2**14
"""scrypt cost: about 50 ms on a desktop core and well under a second on a Pi Zero 2 W."""
SCRYPT_R = 8
SCRYPT_P = 1


class AuthState(Enum):
    """Where the password store stands."""

    READY = "ready"
    FRESH = "fresh"  # no password yet: the first login must set one
    DAMAGED = "damaged"  # unreadable: fail closed, nobody logs in until `lineguard passwd`


class Verdict(Enum):
    """The outcome of one login attempt."""

    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Attempt:
    """One login attempt's result; ``retry_after_s`` is set while locked."""

    verdict: Verdict
    failures: int = 0
    retry_after_s: float = 0.0
    just_locked: bool = False
    must_change: bool = False


class PasswordError(ValueError):
    """A new password was refused; the message says why."""


def check_new_password(password: str) -> None:
    """Refuse passwords a technician should not use on a box that guards a public phone line."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise PasswordError("the password must use at least 4 different characters")
    if password.strip() != password:
        raise PasswordError("the password must not start or end with a space")


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)


class AuthStore:
    """The password file plus failure counting; the file is the truth, kept in memory if the disk fails."""

    def __init__(self, data_dir: Path, max_failures: int = 5, lockout_s: float = 300.0) -> None:
        self.path = data_dir / AUTH_FILE_NAME
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._record: dict[str, Any] | None = None
        self._state = AuthState.FRESH
        self.write_error: str | None = None
        self.reload()

    @property
    def state(self) -> AuthState:
        """Whether a password is set, none is, or the file is unreadable."""
        return self._state

    def reload(self) -> None:
        """Read the file again (``lineguard passwd`` may have changed it from another process)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._record, self._state = None, AuthState.FRESH
            return
        except (OSError, UnicodeDecodeError):
            self._record, self._state = None, AuthState.DAMAGED
            return
        try:
            record = json.loads(raw)
            scrypt = record["scrypt"]
            bytes.fromhex(scrypt["salt"])
            bytes.fromhex(scrypt["hash"])
            for key in ("n", "r", "p"):
                if not isinstance(scrypt[key], int) or scrypt[key] < 1:
                    raise ValueError(key)
        except (ValueError, KeyError, TypeError):
            self._record, self._state = None, AuthState.DAMAGED
            return
        self._record, self._state = record, AuthState.READY

    def set_password(self, password: str, must_change: bool = False) -> None:
        """Store a new password (checked first), clearing failures and any lock."""
        check_new_password(password)
        salt = secrets.token_bytes(16)
        digest = _hash(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        self._record = {
            "version": 1,
            "scrypt": {"n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex(), "hash": digest.hex()},
            "must_change": must_change,
            "failures": 0,
            "locked_until": 0.0,
        }
        self._state = AuthState.READY
        self._save(strict=True)

    def locked_for(self, now: float) -> float:
        """Seconds the login stays locked (0 when open)."""
        if self._record is None:
            return 0.0
        return max(0.0, float(self._record.get("locked_until", 0.0)) - now)

    def attempt(self, password: str, now: float) -> Attempt:
        """Check one password at wall-clock time ``now``; counts failures and locks after too many."""
        record = self._record
        if record is None or self._state is not AuthState.READY:
            return Attempt(Verdict.UNAVAILABLE)
        wait = self.locked_for(now)
        if wait > 0:
            return Attempt(Verdict.LOCKED, int(record.get("failures", 0)), wait)
        scrypt = record["scrypt"]
        digest = _hash(password, bytes.fromhex(scrypt["salt"]), scrypt["n"], scrypt["r"], scrypt["p"])
        if hmac.compare_digest(digest, bytes.fromhex(scrypt["hash"])):
            record["failures"] = 0
            record["locked_until"] = 0.0
            self._save()
            return Attempt(Verdict.OK, must_change=bool(record.get("must_change", False)))
        failures = int(record.get("failures", 0)) + 1
        record["failures"] = failures
        if failures >= self.max_failures:
            record["locked_until"] = now + self.lockout_s
            record["failures"] = 0  # after the lock the technician gets a full set of tries again
            self._save()
            return Attempt(Verdict.LOCKED, failures, self.lockout_s, just_locked=True)
        self._save()
        return Attempt(Verdict.WRONG, failures)

    def _save(self, strict: bool = False) -> None:
        """Write the record atomically with mode 0600; a failed write keeps the state in memory."""
        assert self._record is not None
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self._record, handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)  # an existing tmp file may have been created with other bits
            os.replace(tmp, self.path)
            self.write_error = None
        except OSError as exc:
            self.write_error = f"cannot write {self.path}: {exc.strerror or exc}"
            with contextlib.suppress(OSError):
                tmp.unlink()
            if strict:
                raise
