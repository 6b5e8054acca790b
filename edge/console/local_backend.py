"""The console's view of a box from its files: config file, call database, audit log, disk, network.

It is what ``ApplianceBackend`` builds on, and what a console runs on when no appliance is attached
(then live parts such as the line state say so instead of guessing).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge.config import Config, ConfigError, default_config_text, parse_config_text
from edge.record.audit import AuditLog, audit_path

PREVIOUS_CONFIG_NAME = "config.previous.toml"
DB_FILE_NAME = "lineguard.db"
NOT_ATTACHED = "unknown: the appliance is not attached to this console"

_SHORT_START = "replace(substr(started, 6, 11), 'T', ' ') AS started"
"""``MM-DD HH:MM``: enough to find a call on an 80-column screen."""

_SECRET_WORDS = ("password", "secret", "token", "private")


def mask_secrets(data: Any) -> Any:
    """A copy of ``data`` with values under password-like keys replaced by ``***``."""
    if isinstance(data, dict):
        return {
            k: ("***" if v and any(w in str(k).lower() for w in _SECRET_WORDS) else mask_secrets(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    return data


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with ``text`` so that a power cut leaves the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class LocalBackend:
    """A ``ConsoleBackend`` over the box's files; ``on_apply`` hands a newly applied config to the runtime."""

    def __init__(
        self,
        config_path: Path | None,
        data_dir: Path,
        log_path: Path | None = None,
        on_apply: Callable[[Config], None] | None = None,
        reboot_command: tuple[str, ...] = ("systemctl", "reboot"),
    ) -> None:
        self.config_path = config_path
        self.data_dir = data_dir
        self.log_path = log_path
        self.on_apply = on_apply
        self.applies_live = on_apply is not None
        """Whether an applied config reaches a running appliance now (else only the file changes)."""
        self.reboot_command = reboot_command
        self._audit_lock = threading.Lock()
        self._unwritten_audit: list[str] = []

    # -- config ---------------------------------------------------------------------------------------

    def config_text(self) -> str:
        """The config file's text (the packaged default when the box runs without a file)."""
        if self.config_path is None:
            return default_config_text()
        try:
            return self.config_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""  # no file yet: every key takes its default, and 'config apply' creates it

    def running_config(self) -> Config:
        """The configuration in force, validated (the packaged default if the file is broken)."""
        try:
            return parse_config_text(self.config_text(), "running config")
        except (ConfigError, OSError):
            return parse_config_text(default_config_text(), "packaged default")

    def apply_config_text(self, text: str) -> list[str]:
        """Validate, keep the current file for rollback, then switch files atomically and tell the runtime."""
        try:
            config = parse_config_text(text, "new config")
        except ConfigError as error:
            return error.problems
        if self.config_path is None:
            return ["the box runs on the packaged default; start it with --config FILE to change settings"]
        try:
            current = self.config_text()
        except OSError:
            current = None
        previous = self.data_dir / PREVIOUS_CONFIG_NAME
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            if current is not None:
                write_atomically(previous, current, 0o600)
        except OSError as exc:
            return [f"cannot keep the current config for rollback in {previous}: {exc.strerror or exc}; "
                    "nothing was changed"]  # fmt: skip
        try:
            write_atomically(self.config_path, text)
        except OSError as exc:
            return [f"cannot write {self.config_path}: {exc.strerror or exc}; nothing was changed"]
        return self._hand_over(config, current)

    def _hand_over(self, config: Config, previous_text: str | None) -> list[str]:
        if self.on_apply is None:
            return []
        try:
            self.on_apply(config)
        except Exception as exc:  # noqa: BLE001 - the runtime refused: put the old file back
            if previous_text is not None and self.config_path is not None:
                with contextlib.suppress(OSError):
                    write_atomically(self.config_path, previous_text)
            return [f"the running appliance refused it ({type(exc).__name__}: {exc}); the old file is back"]
        return []

    def rollback_config(self) -> str:
        """Swap in the config saved by the last apply (the current one becomes the saved one)."""
        previous = self.data_dir / PREVIOUS_CONFIG_NAME
        if self.config_path is None:
            return "nothing to roll back: the box runs on the packaged default"
        try:
            old_text = previous.read_text(encoding="utf-8")
        except FileNotFoundError:
            return "nothing to roll back to: no configuration was applied from the console yet"
        except OSError as exc:
            return f"cannot read {previous}: {exc.strerror or exc}; nothing changed"
        try:
            config = parse_config_text(old_text, str(previous))
        except ConfigError as error:
            return f"the saved configuration is not valid ({'; '.join(error.problems)}); nothing changed"
        try:
            current = self.config_text()
            write_atomically(previous, current, 0o600)
            write_atomically(self.config_path, old_text)
        except OSError as exc:
            return f"cannot write the configuration: {exc.strerror or exc}; nothing changed"
        problems = self._hand_over(config, current)
        if problems:
            return problems[0]
        return "rolled back to the configuration before the last apply ('config rollback' again undoes this)"

    # -- records --------------------------------------------------------------------------------------

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        path = self.data_dir / DB_FILE_NAME
        if not path.exists():
            return []
        # read-only: the console must never lock or change the call records
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=2.0)
        try:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, args).fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        finally:
            db.close()

    def calls(self, limit: int) -> list[dict[str, Any]]:
        """The latest calls, newest first."""
        return self._query(
            f"SELECT call_id, number, {_SHORT_START}, CAST(round(duration_s) AS INTEGER) AS secs, outcome, basis "
            "FROM calls ORDER BY calls.started DESC, call_id DESC LIMIT ?",
            (limit,),
        )

    def incidents(self, limit: int) -> list[dict[str, Any]]:
        """Calls that ended with a legal basis or were marked by staff, newest first."""
        return self._query(
            f"SELECT call_id, number, {_SHORT_START}, outcome, basis FROM calls "
            "WHERE basis IS NOT NULL OR marked=1 ORDER BY calls.started DESC LIMIT ?",
            (limit,),
        )

    def events(self, limit: int) -> list[dict[str, Any]]:
        """The latest events, newest first."""
        return self._query(
            "SELECT id, call_id, replace(substr(wall, 6, 14), 'T', ' ') AS time, type, basis, data "
            "FROM events ORDER BY id DESC LIMIT ?",
            (limit,),
        )

    # -- status ----------------------------------------------------------------------------------------

    def disk(self) -> dict[str, Any]:
        """Free space where recordings and records are kept."""
        try:
            usage = shutil.disk_usage(self.data_dir)
        except OSError as exc:
            return {"error": exc.strerror or str(exc)}
        return {
            "free_mb": usage.free // 2**20,
            "used_pct": round(100 * usage.used / usage.total, 1) if usage.total else None,
        }

    def status(self) -> dict[str, Any]:
        """Box, disk, config and records; live parts say they are unknown without an appliance."""
        config = self.running_config()
        return {
            "box": {"device": config.device.id, "site": config.device.site, "backend": config.device.backend},
            "line": NOT_ATTACHED,
            "relay": NOT_ATTACHED,
            "mqtt": NOT_ATTACHED,
            "disk": self.disk(),
            "model": self.model().get("file", "-"),
            "calls": self.calls(3),
            "incidents": self.incidents(3),
        }

    def diag_line(self) -> dict[str, Any]:
        """Without an appliance there is no line to look at."""
        return {"line": NOT_ATTACHED}

    def net(self) -> dict[str, Any]:
        """Host name and each interface's addresses (from ``ip -j addr``, else the interface names)."""
        info: dict[str, Any] = {"hostname": socket.gethostname()}
        try:
            out = subprocess.run(
                ["ip", "-j", "addr", "show"], capture_output=True, text=True, timeout=2.0, check=True
            ).stdout
            for iface in json.loads(out):
                addrs = [f"{a['local']}/{a['prefixlen']}" for a in iface.get("addr_info", []) if "local" in a]
                info[iface.get("ifname", "?")] = f"{iface.get('operstate', '?').lower()} {' '.join(addrs)}"
        except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError):
            for _, name in socket.if_nameindex():
                info[name] = "(addresses unknown: 'ip' not available)"
        return info

    def mqtt(self) -> dict[str, Any]:
        """The MQTT settings in force (secrets masked); the connection state needs the appliance."""
        dump = mask_secrets(self.running_config().model_dump(mode="json"))
        settings = dump.get("mqtt") or dump.get("telemetry") or {}
        return {"connected": NOT_ATTACHED, **settings}

    def model(self) -> dict[str, Any]:
        """The detector's model file as configured (whether it exists and its size)."""
        dump = self.running_config().model_dump(mode="json")
        section = dump.get("detect") or dump.get("detector") or {}
        info: dict[str, Any] = {"loaded": NOT_ATTACHED}
        for key, value in section.items():
            if isinstance(value, str) and value.endswith(".tflite"):
                path = Path(value)
                info["file"] = value
                info["size_kb"] = path.stat().st_size // 1024 if path.exists() else "missing"
            elif not isinstance(value, dict | list):
                info[key] = value
        return info

    def log_tail(self, n: int) -> list[str]:
        """The last ``n`` lines of the log file, else of the systemd journal."""
        if self.log_path is not None:
            try:
                with self.log_path.open("rb") as handle:
                    handle.seek(0, os.SEEK_END)
                    size = handle.tell()
                    handle.seek(max(0, size - 256 * n))  # lines are short; no need to read a big log
                    lines = handle.read().decode("utf-8", "replace").splitlines()
                return lines[-n:]
            except OSError as exc:
                return [f"cannot read {self.log_path}: {exc.strerror or exc}"]
        try:
            out = subprocess.run(
                ["journalctl", "-u", "lineguard", "-n", str(n), "--no-pager", "-o", "short-iso"],
                capture_output=True,
                text=True,
                timeout=5.0,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return [f"no log file given and the journal cannot be read: {exc}"]
        return out.stdout.splitlines()[-n:] or [out.stderr.strip() or "(journal is empty)"]

    # -- actions ---------------------------------------------------------------------------------------

    def test_action(self, name: str, arg: str | None) -> str:
        """Tests need the hardware, which only the appliance holds."""
        return f"not done: 'test {name}' needs the running appliance, which is not attached to this console"

    def reboot(self) -> str:
        """Reboot a Pi through systemd; the sim backend has nothing to restart."""
        if self.running_config().device.backend != "pi":
            return "not rebooting: this box runs the sim backend, there is no board to restart"
        try:
            subprocess.Popen(self.reboot_command, stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            return f"reboot failed: {exc.strerror or exc}"
        return "rebooting now; the relay holds the phone on the wall line meanwhile"

    def audit(self, action: str, detail: str) -> None:
        """Append to the hash-chained audit log ``<data>/audit.jsonl``; lines that cannot be written are retried."""
        with self._audit_lock:
            self._unwritten_audit.append(json.dumps({"action": action, "detail": detail}, ensure_ascii=False))
            audit_log = AuditLog(audit_path(self.data_dir))
            try:
                while self._unwritten_audit:
                    entry = json.loads(self._unwritten_audit[0])
                    audit_log.append(entry["action"], "console", entry["detail"])
                    self._unwritten_audit.pop(0)
            except OSError:
                del self._unwritten_audit[:-1000]  # bounded: a dead disk must not eat the memory

    def audit_entries(self) -> list[dict[str, Any]]:
        """Every audit entry written so far (for tests and the lead's MQTT forwarding)."""
        return AuditLog(audit_path(self.data_dir)).entries()
