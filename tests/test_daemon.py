"""`lineguard run` on the sim backend: systemd notify, clean stop on SIGTERM, a bad config never stops calls."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.cli_support import one_line


def start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], socket.socket]:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(20.0)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "LINEGUARD_LOG": "WARNING"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--data-dir", str(tmp_path / "data"), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, sock


def messages_until(sock: socket.socket, wanted: str) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen.append(sock.recv(4096).decode())
        if wanted in seen[-1]:
            return seen
    raise AssertionError(f"no {wanted} in {seen}")


def stop_cleanly(proc: subprocess.Popen[str], sock: socket.socket) -> None:
    """SIGTERM the daemon and check it exits 0 without a traceback; the process and socket are always closed."""
    try:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        proc.kill()
        sock.close()


def event_types(data: Path) -> list[str]:
    with sqlite3.connect(data / "lineguard.db") as db:
        return [row[0] for row in db.execute("SELECT type FROM events ORDER BY id")]


def test_ready_watchdog_and_clean_stop(tmp_path: Path) -> None:
    proc, sock = start(tmp_path)
    try:
        before_ready = messages_until(sock, "READY=1")
        assert not any("WATCHDOG=1" in m for m in before_ready), "READY comes first"
        messages_until(sock, "WATCHDOG=1")
    finally:
        stop_cleanly(proc, sock)
    types = event_types(tmp_path / "data")
    assert "bypass_off" in types, "the box stepped into the line once running"


def test_a_bad_config_still_runs_and_raises_an_alarm(tmp_path: Path) -> None:
    config = tmp_path / "lineguard.toml"
    config.write_text("[duration]\nnotice_s = 'soon'\n")
    proc, sock = start(tmp_path, "--config", str(config))
    try:
        messages_until(sock, "READY=1")
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
        sock.close()
    with sqlite3.connect(tmp_path / "data" / "lineguard.db") as db:
        alarms = [row[0] for row in db.execute("SELECT data FROM events WHERE type='alarm'")]
    assert any("config_invalid" in a and "notice_s" in a for a in alarms)


def test_sighup_reload_keeps_the_running_config_when_the_new_one_is_bad(tmp_path: Path) -> None:
    config = tmp_path / "lineguard.toml"
    config.write_text("[duration]\ncut_s = 1800.0\n")
    proc, sock = start(tmp_path, "--config", str(config))
    try:
        messages_until(sock, "READY=1")
        config.write_text("[duration]\ncut_s = 'never'\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        config.write_text("[duration]\ncut_s = 2400.0\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
        sock.close()
    assert event_types(tmp_path / "data").count("config_reloaded") == 1
    with sqlite3.connect(tmp_path / "data" / "lineguard.db") as db:
        alarms = [row[0] for row in db.execute("SELECT data FROM events WHERE type='alarm'")]
    assert any("cut_s" in a and "keeping the running config" in a for a in alarms)
    last_good = (tmp_path / "data" / "config.last-good.toml").read_text()
    assert "2400.0" in last_good


def test_the_daemon_serves_the_console_with_live_status(tmp_path: Path) -> None:
    from edge.console.testing import PtyTerminal

    data = tmp_path / "data"
    subprocess.run(
        [sys.executable, "-m", "edge", "passwd", "--data-dir", str(data)],
        input="s3cret-tech\n",
        text=True,
        check=True,
        timeout=60,
    )
    terminal = PtyTerminal()
    config = tmp_path / "lineguard.toml"
    config.write_text(f'[console]\nserial_device = "{terminal.device}"\n')
    proc, sock = start(tmp_path, "--config", str(config))
    try:
        messages_until(sock, "READY=1")
        terminal.send("\r")
        terminal.expect("login", 15)
        terminal.send("s3cret-tech\r")
        terminal.expect(">", 15)
        terminal.send("status\r")
        screen = terminal.expect("state=idle", 15)
        assert "backend=sim" in screen, "live status from the running appliance, not only the files"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        sock.close()
        terminal.close()


def test_run_scenario_is_for_the_sim_backend_and_a_known_scenario_only(tmp_path: Path) -> None:
    config = tmp_path / "lineguard.toml"
    config.write_text("[device]\nbackend = 'pi'\n")
    base = [sys.executable, "-m", "edge", "run", "--data-dir", str(tmp_path / "data")]
    for extra, wanted in [
        (["--config", str(config), "--scenario", "01_normal_call"], "needs device.backend = 'sim'"),
        (["--scenario", "no_such_scenario"], "no scenario file 'no_such_scenario'"),
    ]:
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=60)
        assert done.returncode != 0 and wanted in one_line(done.stderr), done.stderr
        assert "Traceback" not in done.stderr


def test_the_live_daemon_warns_and_cuts_an_abusive_caller_through_the_threaded_detector(
    tmp_path: Path,
) -> None:
    """The box's own path: wall-clock audio loop, inference on the detector's worker thread (simulations run
    it inline), call edges queued to it; the shipped model hears the synthesized words."""
    scenario = tmp_path / "abusive.toml"
    scenario.write_text(
        'name = "short abusive call"\ndescription = "two swear words, at wall-clock pace"\n'
        '[[calls]]\nnumber = "01066665555"\nsteps = [\n'
        '  { at = 1.0, say = "씨발, 일 똑바로 안 해?" },\n'
        '  { at = 12.0, say = "개새끼들, 다 죽여버린다." },\n'
        '  { at = 60.0, hangup = "caller" },\n]\n',
        encoding="utf-8",
    )
    proc, sock = start(tmp_path, "--scenario", str(scenario))
    data = tmp_path / "data"
    try:
        messages_until(sock, "READY=1")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "call_ended" not in event_types(data):
            time.sleep(0.5)
    finally:
        stop_cleanly(proc, sock)
    with sqlite3.connect(data / "lineguard.db") as db:
        rows = db.execute(
            "SELECT type, basis, data FROM events WHERE type IN ('warning', 'cut', 'call_ended')"
        )
        actions = [(kind, basis, json.loads(payload)) for kind, basis, payload in rows]
    assert [(kind, basis) for kind, basis, _ in actions] == [
        ("warning", "abuse.profanity"),
        ("cut", "abuse.profanity"),
        ("call_ended", "abuse.profanity"),
    ]
    assert [d["keyword"] for _, _, d in actions[:2]] == ["ssibal", "gaesaekki"]
    assert all(d["source"] == "model" and d["tier"] == "warn" for _, _, d in actions[:2])
    assert actions[2][2]["outcome"] == "cut"
