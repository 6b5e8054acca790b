"""The fault matrix (docs/faults.md): each fault on the whole appliance; calls keep passing, an alarm is
raised, and the box recovers without a human. Rows covered elsewhere are named in the doc."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import edge.simulate
from edge.config import Config, ConfigError, load_config, load_with_fallback, parse_config
from edge.core.state import Instant
from edge.scenarios import load_scenario, scenario_config, shipped_scenarios
from edge.simulate import SimResult, run_scenario
from edge.store import CallStore
from tests.fs_support import fill, small_tmpfs

NORMAL = load_scenario(next(p for p in shipped_scenarios() if p.name.startswith("01_")))


def normal_config(**sections: dict[str, Any]) -> Config:
    data = scenario_config(NORMAL).model_dump(mode="json", exclude_none=True)
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return parse_config(data)


def alarms(result: SimResult) -> dict[str, str]:
    return {r.data["alarm"]: r.data["detail"] for r in result.timeline if r.type == "alarm"}


def assert_call_passed(result: SimResult, *, on_record: bool = True) -> None:
    types = [r.type for r in result.timeline]
    assert "connected" in types, "caller and staff were put through"
    ended = [r.data["outcome"] for r in result.timeline if r.type == "call_ended"]
    assert ended == ["completed"], f"the caller hung up, nobody cut the call: {ended}"
    if on_record:
        assert result.outcomes() == ["completed"], f"call record: {result.outcomes()}"


@pytest.fixture()
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs made for the test (root only), so the disk can be filled or made read-only."""
    with small_tmpfs(tmp_path / "sd", "3m") as mount:
        yield mount


# -- database -------------------------------------------------------------------------------------


def test_corrupt_database_is_kept_aside_and_calls_go_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "lineguard.db").write_bytes(b"not sqlite at all " * 500)
    result = run_scenario(NORMAL, normal_config(), data)
    assert_call_passed(result)
    assert "corrupt" in alarms(result)["store_unavailable"]
    aside = list(data.glob("lineguard.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"not sqlite"), "the damaged file is kept"
    with sqlite3.connect(data / "lineguard.db") as db:
        assert db.execute("SELECT outcome FROM calls").fetchall() == [("completed",)]


def test_locked_database_at_start_keeps_events_in_memory_and_calls_go_on(tmp_path: Path) -> None:
    data = tmp_path / "data"
    CallStore(data).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys,time\n"
            "db=sqlite3.connect(sys.argv[1],isolation_level=None)\n"
            "db.execute('PRAGMA locking_mode=EXCLUSIVE'); db.execute('BEGIN EXCLUSIVE')\n"
            "db.execute('CREATE TABLE IF NOT EXISTS held(x)'); print('held',flush=True); time.sleep(60)",
            str(data / "lineguard.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_scenario(NORMAL, normal_config(), data)
    finally:
        holder.kill()
        holder.wait()
    assert_call_passed(result)
    assert "kept in memory" in alarms(result)["store_unavailable"]
    assert result.calls and result.calls[0]["outcome"] == "completed", "the call record exists (in memory)"
    after = run_scenario(NORMAL, normal_config(), data)
    assert "store_unavailable" not in alarms(after), "the next start uses the file again by itself"
    with sqlite3.connect(data / "lineguard.db") as db:
        assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1


def test_database_locked_while_running_loses_nothing_and_stores_in_order_when_it_goes(tmp_path: Path) -> None:
    from edge.runtime import Writer

    data = tmp_path / "data"
    store = CallStore(data)
    failing: list[str] = []
    resumed: list[dict[str, Any]] = []
    writer = Writer(threaded=True, on_failing=failing.append, on_resumed=resumed.append)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3,sys,time\n"
            "db=sqlite3.connect(sys.argv[1],isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE'); db.execute('CREATE TABLE IF NOT EXISTS held(x)')\n"
            "print('held',flush=True); time.sleep(6.5); db.execute('COMMIT')",
            str(data / "lineguard.db"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    wall = dt.datetime(2026, 3, 2, 10, 0)
    slowest = 0.0
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        for i in range(80):  # 8 s of events, 10 a second, from the audio thread's side
            started = time.monotonic()
            writer.submit(lambda i=i: store.add_event(None, float(i), wall, "probe", None, {"i": i}))
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.1)
        holder.wait(30)
    finally:
        holder.kill()
        writer.close()
    stored = [row["data"]["i"] for row in store.events(limit=1000)]
    store.close()
    assert slowest < 0.1, f"the audio side waited {slowest:.3f} s on a locked database"
    assert writer.errors and all("locked" in error for error in writer.errors), list(writer.errors)
    assert stored == list(range(80)), f"every event stored once, in order: {stored}"
    assert len(failing) == 1 and "locked" in failing[0], f"one alarm when storing stopped: {failing}"
    assert len(resumed) == 1 and resumed[0]["stored_late"] >= 1 and resumed[0]["lost"] == 0, resumed
    health = writer.health()
    assert health["backlog"] == 0 and health["overflow"] == 0 and health["dropped"] == 0, health
    assert health["failing_s"] is None and health["stored_late"] == resumed[0]["stored_late"]


def test_a_full_backlog_counts_what_it_loses_and_keeps_the_rest_in_order(tmpfs: Path) -> None:
    from edge.runtime import Writer

    store = CallStore(tmpfs / "data")
    wall = dt.datetime(2026, 3, 2, 10, 0)
    clock = [0.0]
    overflowed: list[int] = []
    resumed: list[dict[str, Any]] = []
    writer = Writer(
        threaded=False,
        backlog_cap=30,
        clock=lambda: clock[0],
        on_overflow=overflowed.append,
        on_resumed=resumed.append,
    )

    def probe(i: int) -> None:
        writer.submit(lambda: store.add_event(None, float(i), wall, "probe", "x" * 2000, {"i": i}))
        clock[0] += 0.1

    filler = tmpfs / "filler"
    fill(filler)
    for i in range(200):  # some fit in the WAL's free pages; then the card is full
        probe(i)
    assert writer.failing_since is not None and writer.backlog == 30, writer.health()
    assert writer.overflow >= 1 and overflowed == [30], "one alarm when the backlog first overflows"
    filler.unlink()
    filler.with_suffix(".tail").unlink()
    clock[0] += writer.retry_s  # room came back a while ago: the next write finds the retry due
    for i in range(200, 210):
        probe(i)
    writer.close()
    stored = [row["data"]["i"] for row in store.events(limit=1000)]
    store.close()
    lost = writer.overflow
    assert len(resumed) == 1 and resumed[0]["stored_late"] >= 30 and resumed[0]["lost"] == lost, resumed
    assert len(stored) == 210 - lost and stored == sorted(stored), "only the overflow is lost; in order"
    assert stored[-10:] == list(range(200, 210)), "new writes go straight through again"
    assert writer.health()["backlog"] == 0 and writer.failing_since is None


def test_torn_wal_after_a_power_cut_opens_with_every_committed_row_but_the_torn_one(tmp_path: Path) -> None:
    live = tmp_path / "live"
    store = CallStore(live)
    wall = dt.datetime(2026, 3, 2, 10, 0)
    for i in range(200):
        store.add_event(None, float(i), wall, "probe", None, {"i": i})
    # The card as the power cut left it: main file and WAL copied while the writer still had them open.
    cut = tmp_path / "cut"
    cut.mkdir()
    for name in ("lineguard.db", "lineguard.db-wal"):
        shutil.copy(live / name, cut / name)
    store.close()
    wal = cut / "lineguard.db-wal"
    size = wal.stat().st_size
    assert size > 4096, "the rows are still in the WAL"
    with wal.open("r+b") as f:
        f.truncate(size - 1000)  # the last frame is torn
    reopened = CallStore(cut, fallback=True)
    assert reopened.problem is None
    ids = [row["data"]["i"] for row in reopened.events(limit=1000)]
    reopened.close()
    assert ids == list(range(len(ids))), "a prefix survives, in order, nothing invented"
    assert len(ids) >= 190, f"only the torn tail may be lost, kept {len(ids)} of 200"
    with sqlite3.connect(cut / "lineguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# -- disk -----------------------------------------------------------------------------------------


def run_acting(
    config: Config, data: Path, act: Any, settle_s: float = 5.0
) -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
    """``run_scenario``'s loop on the normal call, with ``act(t, timeline)`` called after every frame:
    the timeline, the writer's status and the call records (read before the store closes)."""
    from edge.app import build_appliance
    from edge.backends.sim.world import SimWorld
    from edge.ports import FRAME_SECONDS
    from edge.simulate import SimClock

    world = SimWorld(NORMAL, NORMAL.start or config.sim.start, cache_dir=data / "cache")
    world.prepare_audio()
    app = build_appliance(config, data, world.hardware, SimClock(world), threaded=False)
    try:
        app.start()
        t, quiet_since, frames = 0.0, None, 0
        while t < world.last_call_start + 600:
            world.advance(t)
            app.pump(world.hardware.audio.read(0.0))
            act(t, app.timeline)
            frames += 1
            if app.recorder_impl is not None and frames % 250 == 0:
                app.recorder_impl.flush()  # as run_scenario: virtual time waits for the recorder's disk
            idle = not world.pending and app.line.state.call is None
            quiet_since = (quiet_since if quiet_since is not None else t) if idle else None
            if quiet_since is not None and t - quiet_since >= settle_s:
                break
            t += FRAME_SECONDS
        app.writer.close()
        return list(app.timeline), app.status()["writer"], app.store.recent_calls()
    finally:
        app.close()


def test_disk_full_mid_call_keeps_every_event_and_stores_it_when_room_comes_back(tmpfs: Path) -> None:
    from collections import Counter

    from edge.record.verify import verify

    data = tmpfs / "data"
    filler = tmpfs / "filler"
    full: dict[str, float] = {}  # a fresh data dir: its WAL has no room of an earlier run to reuse

    def act(t: float, timeline: list[Any]) -> None:
        # Full from the moment the call is put through until 1 s after it ended: the hang-up, the close
        # of the record and the events around them are written while the card is full.
        if "filled" not in full and any(r.type == "connected" for r in timeline):
            fill(filler)
            full["filled"] = t
        ended = [r.t for r in timeline if r.type == "call_ended"]
        if "freed" not in full and ended and t >= ended[0] + 1.0:
            filler.unlink()
            filler.with_suffix(".tail").unlink()
            full["freed"] = t

    timeline, writer, calls = run_acting(normal_config(), data, act)
    assert "freed" in full, "the card was full until after the call ended"
    types = [r.type for r in timeline]
    assert "connected" in types and [r.data["outcome"] for r in timeline if r.type == "call_ended"] == [
        "completed"
    ], "the call passed"
    failing = [r.data["detail"] for r in timeline if r.type == "alarm" and r.data["alarm"] == "store_failing"]
    assert len(failing) == 1 and "full" in failing[0], f"one alarm when storing stopped: {failing}"
    resumed = [r.data for r in timeline if r.type == "store_resumed"]
    assert len(resumed) == 1 and resumed[0]["stored_late"] >= 2 and resumed[0]["lost"] == 0, resumed
    assert writer["backlog"] == 0 and writer["overflow"] == 0 and writer["lost_at_stop"] == 0, writer
    assert any("full" in error for error in writer["errors"]), "the failure is in status and health"
    assert calls[0]["outcome"] == "completed", "the call record was opened and closed"
    with sqlite3.connect(data / "lineguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT id, type, call_id FROM events WHERE call_id=?", (calls[0]["call_id"],))
        stored = [(kind, call_id) for _id, kind, call_id in rows.fetchall()]
    logged = [(r.type, r.call_id) for r in timeline if r.call_id == calls[0]["call_id"]]
    assert Counter(stored) == Counter(logged), "every event of the call stored exactly once"
    assert stored == logged, "and in the order they happened"
    report = verify(data)
    assert report.ok and not report.problems, report.problems


def test_disk_full_at_start_keeps_the_box_in_the_line_and_the_file_comes_back(tmpfs: Path) -> None:
    from edge.record.verify import verify

    data = tmpfs / "data"
    filler = tmpfs / "filler"
    assert_call_passed(run_scenario(NORMAL, normal_config(), data))
    fill(filler)
    at_start = run_scenario(NORMAL, normal_config(), data)  # booted onto a full card
    assert_call_passed(at_start)
    assert "store_unavailable" in alarms(at_start)
    assert at_start.appliance.status()["line"]["bypass"] is False, "the box stayed in the line"
    filler.unlink()
    filler.with_suffix(".tail").unlink()
    again = run_scenario(NORMAL, normal_config(), data)
    assert_call_passed(again)
    assert "store_unavailable" not in alarms(again), "space back: the file is used again by itself"
    with sqlite3.connect(data / "lineguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT call_id, outcome FROM calls ORDER BY call_id").fetchall()
    assert [outcome for _id, outcome in rows] == ["completed", "completed"], rows
    report = verify(data)
    assert report.ok and not report.problems, report.problems


def test_read_only_sd_card_calls_pass_with_an_alarm(tmpfs: Path) -> None:
    data = tmpfs / "data"
    assert_call_passed(run_scenario(NORMAL, normal_config(), data))
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    try:
        result = run_scenario(NORMAL, normal_config(), data)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert_call_passed(result)
    assert "store_unavailable" in alarms(result)
    after = run_scenario(NORMAL, normal_config(), data)
    assert_call_passed(after)
    assert "store_unavailable" not in alarms(after), "writable again: back on the file without a human"


# -- clock, model, config -------------------------------------------------------------------------


@pytest.mark.parametrize("jump_h", [1, -1])
def test_wall_clock_jump_mid_call_does_not_cut_the_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, jump_h: int
) -> None:
    class JumpingClock(edge.simulate.SimClock):
        def now(self) -> Instant:
            t = self.world.clock.t
            wall = self.world.clock.wall()
            return Instant(t, wall + dt.timedelta(hours=jump_h) if t > 8.0 else wall)

    monkeypatch.setattr(edge.simulate, "SimClock", JumpingClock)
    # 60 s limits: a machine that timed the call by the wall clock would cut it at the +1 h jump.
    config = normal_config(duration={"notice_s": 50.0, "cut_s": 60.0})
    result = run_scenario(NORMAL, config, tmp_path / "data")
    assert_call_passed(result)
    types = [r.type for r in result.timeline]
    assert "duration_notice" not in types and "cut" not in types
    walls = [r.wall for r in result.timeline]
    assert abs((walls[-1] - walls[0]).total_seconds() - 3600 * jump_h) < 60, "the wall clock did jump"


def test_corrupt_model_runs_in_safe_mode_and_calls_pass(tmp_path: Path) -> None:
    model = tmp_path / "kws.tflite"
    model.write_bytes(random.Random(4).randbytes(4096))
    result = run_scenario(NORMAL, normal_config(detection={"model_path": str(model)}), tmp_path / "data")
    assert_call_passed(result)
    assert "detector_safe_mode" in alarms(result)
    assert result.appliance.status()["detector"]["state"] == "not available"


HOSTILE = {
    "huge": "# padding\n" * 150_000,
    "deep": "a = " + "[" * 3000 + "]" * 3000,
    "wrong-types": "[duration]\ncut_s = 'never'\n[device]\nid = 12\n",
    "nul": "[device]\nid = 'box\0one'\n",
    "binary": random.Random(9).randbytes(2000).decode("latin-1"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_config_keeps_the_last_good_one(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "lineguard.toml"
    data = tmp_path / "data"
    path.write_text("[duration]\ncut_s = 2400.0\n")
    good, problems = load_with_fallback(path, data)
    assert not problems and good.duration.cut_s == 2400.0
    path.write_text(HOSTILE[kind], encoding="utf-8", errors="surrogateescape")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert error.value.problems
    config, problems = load_with_fallback(path, data)
    assert config.duration.cut_s == 2400.0, "the box keeps running on the last good config"
    assert any("last good" in p for p in problems), problems


# -- broker ---------------------------------------------------------------------------------------


def test_broker_gone_calls_pass_and_the_outbox_grows(tmp_path: Path) -> None:
    from edge.telemetry.client import Telemetry
    from edge.telemetry.commands import BaseCommandHandler
    from edge.telemetry.settings import MqttConfig
    from tests.mqtt_support import free_port

    config = normal_config()
    mqtt = MqttConfig(enabled=True, host="127.0.0.1", port=free_port(), tls=False)  # nobody listens
    handler = BaseCommandHandler(get_config=lambda: config, apply_config=lambda c: None)
    telemetry = Telemetry(mqtt, "box-1", "site-a", tmp_path / "data", handler)
    telemetry.start()
    try:
        started = time.monotonic()
        result = run_scenario(NORMAL, config, tmp_path / "data", publisher=telemetry)
        assert_call_passed(result)
        assert result.wall_seconds < 60 and time.monotonic() - started < 90, "no waiting on the broker"
        depth = telemetry.outbox_depth()
        assert depth >= len([r for r in result.timeline]) - 5, f"every event waits in the outbox ({depth})"
        assert not telemetry.connected
    finally:
        telemetry.stop()


def test_daemon_with_a_dead_broker_is_ready_kicks_the_watchdog_and_queues(tmp_path: Path) -> None:
    from tests.mqtt_support import free_port
    from tests.test_daemon import messages_until, start, stop_cleanly

    config = tmp_path / "lineguard.toml"
    config.write_text(f"[mqtt]\nenabled = true\nhost = '127.0.0.1'\nport = {free_port()}\ntls = false\n")
    proc, sock = start(tmp_path, "--config", str(config))
    try:
        messages_until(sock, "READY=1")
        messages_until(sock, "WATCHDOG=1")  # the audio loop runs on; nothing waits on the broker
    finally:
        stop_cleanly(proc, sock)
    with sqlite3.connect(tmp_path / "data" / "outbox.db") as db:
        queued = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert queued >= 1, "the box's events wait in the outbox for the broker"


# -- audio device ---------------------------------------------------------------------------------


def test_audio_device_lost_goes_to_bypass_and_comes_back(tmp_path: Path) -> None:
    from edge.app import AUDIO_STALL_S, Daemon

    daemon = Daemon(None, tmp_path / "data")
    audio = daemon.hardware.audio
    real_read = audio.read
    lost = threading.Event()

    def read(timeout: float) -> Any:
        if lost.is_set():
            time.sleep(min(timeout, 0.02))
            return None
        return real_read(timeout)

    audio.read = read  # type: ignore[method-assign]
    daemon.app.start()
    loop = threading.Thread(target=daemon.audio_loop, daemon=True)
    loop.start()
    try:
        wait_for(lambda: daemon.app.status()["line"]["bypass"] is False, 10, "box in the line at start")
        lost.set()
        t_lost = time.monotonic()
        wait_for(lambda: daemon.app.status()["line"]["bypass"] is True, 10, "bypass after the stall")
        assert time.monotonic() - t_lost >= AUDIO_STALL_S * 0.9
        assert not daemon.audio_alive(), "the watchdog is no longer kicked"
        lost.clear()
        wait_for(lambda: daemon.app.status()["line"]["bypass"] is False, 10, "back in the line by itself")
        assert daemon.audio_alive()
    finally:
        daemon._stop.set()
        loop.join(5)
        daemon.app.close()
    events = CallStore(tmp_path / "data").events(limit=100)
    reasons = [(row["type"], row["data"].get("reason")) for row in events if row["type"].startswith("bypass")]
    assert ("bypass_on", "audio") in reasons, reasons
    assert reasons[-1][0] == "bypass_off"


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {what}")


# -- kill -9 at random points ---------------------------------------------------------------------

FULL = bool(os.environ.get("LINEGUARD_FAULTS_FULL"))
_KILLS = random.Random(9)
KILL_AFTER_CALL_S = [round(_KILLS.uniform(0.0, 26.0), 2) for _ in range(8 if FULL else 2)]
"""Seconds after the call record appears, drawn from a seeded RNG: the normal call lasts about 26 s from
there (ringing, notice, desk phone, conversation, hang-up), so the kills land anywhere in it.
``make faults`` (LINEGUARD_FAULTS_FULL=1) kills at 8 points, ``make test`` at 2."""
DAEMON_KILL_S = [round(_KILLS.uniform(0.0, 3.0), 2) for _ in range(4 if FULL else 1)]
"""Seconds after ``lineguard run`` was started: start-up (schema, alarms, chain) and the first seconds."""
DAEMON_MID_CALL_KILL_S = [round(_KILLS.uniform(0.0, 26.0), 2) for _ in range(4 if FULL else 1)]
"""Seconds after the daemon's call record appears (``lineguard run --scenario 01_normal_call``)."""
RECORDING_SLACK_S = 3.5
"""The recorder's bound is 2 s (tests/test_record_crash.py); 1.5 s more for a real-time run on a busy box."""


def recording_key() -> tuple[Any, str]:
    import base64

    from nacl.public import PrivateKey

    key = PrivateKey.generate()
    return key, base64.b64encode(bytes(key.public_key)).decode()


def stored_calls(data: Path) -> list[tuple[str, str | None]]:
    """The call records a reader sees now (the writer may be mid-transaction: WAL readers never block it)."""
    try:
        with sqlite3.connect(f"file:{data / 'lineguard.db'}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT call_id, outcome FROM calls ORDER BY call_id").fetchall()
    except sqlite3.Error:
        return []


def assert_verify_clean_but_for_the_last_unchained_event(data: Path, last_id_before: int) -> None:
    """``lineguard verify`` is clean, except that a kill between the database commit and the chain append
    leaves that one event unchained (verify names it; the bound in docs/faults.md)."""
    from edge.record.verify import verify

    report = verify(data)
    assert report.problems in ([], [f"1 event(s) not in the chain: {last_id_before}"]), report.problems


def max_event_id(data: Path) -> int:
    with sqlite3.connect(data / "lineguard.db") as db:
        return int(db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0])


@dataclass(frozen=True)
class KilledCall:
    """The call a process was killed in, when its recording file first appeared, and when the kill came."""

    call_id: str
    recording_since: float | None
    killed_at: float


def kill_9_mid_call(
    proc: subprocess.Popen[Any], data: Path, before: set[str], kill_after_s: float, output: Callable[[], str]
) -> KilledCall:
    """Wait for a new call record, then kill -9 ``proc`` ``kill_after_s`` later (``output``: for the message
    if it ended on its own first)."""
    deadline = time.monotonic() + 60
    while not (new := [c for c in stored_calls(data) if c[0] not in before]):
        assert time.monotonic() < deadline and proc.poll() is None, f"the call record appeared: {output()}"
        time.sleep(0.02)
    call_id = new[0][0]
    kill_at = time.monotonic() + kill_after_s
    recording_since = None
    while time.monotonic() < kill_at:
        if recording_since is None and list(data.glob(f"recordings/**/{call_id}.lgrec*")):
            recording_since = time.monotonic()
        time.sleep(0.02)
    assert proc.poll() is None, f"still running at the kill point: {output()}"
    proc.kill()
    return KilledCall(call_id, recording_since, time.monotonic())


def assert_the_killed_call_is_closed_and_recovered(
    data: Path, killed: KilledCall, interrupted: list[str], recovered: int, key: Any, last_id: int
) -> None:
    """After the restart: the database is whole, no record is open, the killed call is closed
    ``interrupted`` (or kept its own outcome if the kill came after the hang-up), its recording is recovered
    within the recorder's bound, and ``verify`` is clean but for the one event the kill may have unchained."""
    from edge.record.decrypt import decrypt_recording

    with sqlite3.connect(data / "lineguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM calls WHERE ended IS NULL").fetchone()[0] == 0
        outcome = db.execute(
            "SELECT outcome, ended_by FROM calls WHERE call_id=?", (killed.call_id,)
        ).fetchone()
    if interrupted:
        assert interrupted == [killed.call_id] and outcome == ("interrupted", "restart"), (
            interrupted,
            outcome,
        )
    else:
        assert outcome[0] == "completed", f"killed after the call ended: its own outcome stays, {outcome}"
    recordings = list(data.glob(f"recordings/**/{killed.call_id}.lgrec"))
    if killed.recording_since is not None and interrupted:
        assert recovered == 1 and len(recordings) == 1, (recovered, recordings)
        kept_s = len(decrypt_recording(recordings[0], key).audio) / 8000
        recorded_s = killed.killed_at - killed.recording_since
        assert kept_s >= recorded_s - RECORDING_SLACK_S, (
            f"recorded {recorded_s:.1f} s before the kill, recovered {kept_s:.1f} s"
        )
    assert_verify_clean_but_for_the_last_unchained_event(data, last_id)


@pytest.mark.parametrize("kill_after_s", KILL_AFTER_CALL_S)
def test_kill_9_at_a_random_moment_of_a_call_restart_recovers_everything(
    tmp_path: Path, kill_after_s: float
) -> None:
    key, public = recording_key()
    data = tmp_path / "data"
    assert_call_passed(run_scenario(NORMAL, normal_config(), data))  # prompts and speech cached: quick start
    config_file = tmp_path / "lineguard.toml"
    config_file.write_text(f'[recording]\npublic_key = "{public}"\n')
    before = {call_id for call_id, _ in stored_calls(data)}
    command = [sys.executable, "-m", "edge", "simulate", "01_normal_call", "--realtime"]
    command += ["--data-dir", str(data), "--config", str(config_file)]
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:  # a file, not a pipe: a full pipe would stall the killed run
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err)
    try:
        killed = kill_9_mid_call(proc, data, before, kill_after_s, lambda: stderr.read_text()[-2000:])
    finally:
        proc.kill()
        proc.wait()
    last_id = max_event_id(data)
    after = run_scenario(NORMAL, normal_config(recording={"public_key": public}), data)
    assert_call_passed(after)  # restarted, no human: the next call passes
    interrupted = [c for r in after.timeline if r.type == "calls_interrupted" for c in r.data["calls"]]
    recovered = sum(r.type == "recording_recovered" for r in after.timeline)
    assert_the_killed_call_is_closed_and_recovered(data, killed, interrupted, recovered, key, last_id)


@pytest.mark.parametrize("kill_after_s", DAEMON_KILL_S)
def test_kill_9_of_the_daemon_at_a_random_moment_then_it_starts_clean(
    tmp_path: Path, kill_after_s: float
) -> None:
    from tests.test_daemon import messages_until, start, stop_cleanly

    proc, sock = start(tmp_path)
    time.sleep(kill_after_s)
    proc.kill()
    proc.wait()
    sock.close()
    (tmp_path / "notify.sock").unlink()
    data = tmp_path / "data"
    last_id = max_event_id(data) if (data / "lineguard.db").exists() else 0
    proc, sock = start(tmp_path)
    try:
        messages_until(sock, "READY=1")
        messages_until(sock, "WATCHDOG=1")
    finally:
        stop_cleanly(proc, sock)
    with sqlite3.connect(data / "lineguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        alarms_seen = [row[0] for row in db.execute("SELECT data FROM events WHERE type='alarm'")]
    assert not any("store_unavailable" in a for a in alarms_seen), alarms_seen
    assert_verify_clean_but_for_the_last_unchained_event(data, last_id)


@pytest.mark.parametrize("kill_after_s", DAEMON_MID_CALL_KILL_S)
def test_kill_9_of_the_daemon_mid_call_then_it_starts_clean_and_closes_the_call(
    tmp_path: Path, kill_after_s: float
) -> None:
    """The systemd service itself (not the simulate command) killed during a call: the restarted daemon
    closes the call as interrupted, recovers its recording up to the recorder's bound and verifies clean."""
    from tests.test_daemon import messages_until, start, stop_cleanly

    key, public = recording_key()
    data = tmp_path / "data"
    # Speech cached first: the daemon starts quickly.
    assert_call_passed(run_scenario(NORMAL, normal_config(), data))
    config_file = tmp_path / "lineguard.toml"
    config_file.write_text(f'[recording]\npublic_key = "{public}"\n')
    before = {call_id for call_id, _ in stored_calls(data)}
    proc, sock = start(tmp_path, "--config", str(config_file), "--scenario", "01_normal_call")
    try:
        messages_until(sock, "READY=1")
        killed = kill_9_mid_call(proc, data, before, kill_after_s, lambda: "the daemon exited")
    finally:
        proc.kill()
        proc.wait()
        sock.close()
        (tmp_path / "notify.sock").unlink()
    last_id = max_event_id(data)
    proc, sock = start(tmp_path, "--config", str(config_file))
    try:
        messages_until(sock, "READY=1")
        messages_until(sock, "WATCHDOG=1")
    finally:
        stop_cleanly(proc, sock)
    with sqlite3.connect(data / "lineguard.db") as db:
        rows = db.execute(
            "SELECT type, data FROM events WHERE id > ? AND type IN ('calls_interrupted', 'recording_recovered')",
            (last_id,),
        ).fetchall()
    interrupted = [
        c for kind, event in rows if kind == "calls_interrupted" for c in json.loads(event)["calls"]
    ]
    recovered = sum(kind == "recording_recovered" for kind, _ in rows)
    assert_the_killed_call_is_closed_and_recovered(data, killed, interrupted, recovered, key, last_id)


# -- power cut mid-write (simulated) --------------------------------------------------------------

_CUTS = random.Random(17)
POWER_CUTS = [(round(_CUTS.uniform(2.0, 30.0), 2), _CUTS.randrange(1 << 30)) for _ in range(6 if FULL else 2)]
"""(seconds into the normal call's run, seed of the torn bytes), from a seeded RNG."""


def tear_like_a_power_cut(data: Path, rng: random.Random) -> dict[str, int]:
    """Cut what a power cut can lose, each at a random byte: the WAL's tail (commits are not fsynced,
    synchronous=NORMAL), the chain line being written, and the recording record being appended (both
    fsync every line/record, so only the one being written can be torn). Returns bytes cut per file."""
    from edge.record.lgrec import scan_frames

    cut: dict[str, int] = {}
    wal = data / "lineguard.db-wal"
    if wal.exists() and wal.stat().st_size > 32:
        size = wal.stat().st_size
        cut[wal.name] = size - rng.randint(max(32, size - 3 * (24 + 4096)), size - 1)
    chain = data / "chain.jsonl"
    if chain.exists() and chain.stat().st_size > 1:
        raw = chain.read_bytes()
        last = raw.rfind(b"\n", 0, len(raw) - 1) + 1
        cut[chain.name] = len(raw) - rng.randint(last + 1, len(raw) - 1)
    for recording in data.glob("recordings/**/*.lgrec"):
        scan = scan_frames(recording)
        if scan.finished or not scan.kinds:
            continue  # sealed and fsynced before the power cut: nothing of it can be lost
        probe = recording.with_suffix(".probe")
        probe.write_bytes(recording.read_bytes()[:-1])
        last_start = scan_frames(probe).good_size
        probe.unlink()
        cut[recording.name] = scan.file_size - rng.randint(last_start + 1, scan.file_size - 1)
    for name, n in cut.items():
        path = next(p for p in [wal, chain, *data.glob(f"recordings/**/{name}")] if p.name == name)
        with path.open("r+b") as f:
            f.truncate(path.stat().st_size - n)
    return cut


@pytest.mark.parametrize(("cut_at_s", "seed"), POWER_CUTS)
def test_power_cut_mid_write_tears_the_files_and_the_box_recovers_by_itself(
    tmp_path: Path, cut_at_s: float, seed: int
) -> None:
    import re

    from edge.record.decrypt import decrypt_recording
    from edge.record.verify import verify

    key, public = recording_key()
    config = normal_config(recording={"public_key": public})
    snap = snapshot_mid_call(tmp_path, cut_at_s, config)
    cut = tear_like_a_power_cut(snap, random.Random(seed))
    probe = tmp_path / "probe"
    shutil.copytree(snap, probe)
    with sqlite3.connect(probe / "lineguard.db") as db:
        surviving_max = db.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        open_before = [r[0] for r in db.execute("SELECT call_id FROM calls WHERE ended IS NULL")]
    after = run_scenario(NORMAL, config, snap)
    assert_call_passed(after)  # no human: the next call passes
    assert "store_unavailable" not in alarms(after), f"a torn WAL tail is not a corrupt database ({cut})"
    interrupted = [c for r in after.timeline if r.type == "calls_interrupted" for c in r.data["calls"]]
    assert interrupted == open_before, "every record the cut left open is closed at the start"
    with sqlite3.connect(snap / "lineguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM calls WHERE ended IS NULL").fetchone()[0] == 0
    for recording in snap.glob("recordings/**/*.lgrec"):
        decrypt_recording(recording, key)  # every recording opens, the torn one cut back to its last record
    if any(name.endswith(".lgrec") for name in cut):
        assert [r for r in after.timeline if r.type == "recording_recovered"], "the torn recording recovered"
    # What verify may still name is the loss itself: rows of the torn WAL tail the fsynced chain had
    # already linked. Nothing of the restart's own events, nothing else.
    report = verify(snap)
    removed_ids = set()
    for problem in report.problems:
        removed = re.fullmatch(r"event (\d+) was removed from the events table", problem)
        unchained = re.fullmatch(r"\d+ event\(s\) not in the chain: ([\d, ]+)", problem)
        assert removed or unchained, f"only the torn tail may show ({cut}): {problem}"
        if removed:
            assert int(removed[1]) > surviving_max, problem
            removed_ids.add(int(removed[1]))
        if unchained:
            assert all(int(i) <= surviving_max for i in unchained[1].split(", ")), problem
    assert removed_ids == lost_event_ids(after), "the start named the same lost rows as verify does"


def lost_event_ids(result: SimResult) -> set[int]:
    """The ids of the ``events_lost`` alarm (``events 37-38`` or ``events 37``)."""
    import re

    detail = alarms(result).get("events_lost", "")
    found = re.search(r"events (\d+)(?:-(\d+))?", detail)
    if found is None:
        return set()
    return set(range(int(found[1]), int(found[2] or found[1]) + 1))


def snapshot_mid_call(tmp_path: Path, at_s: float, config: Config) -> Path:
    """The data dir as a power cut ``at_s`` into a normal call leaves it (files copied while open)."""
    live, snap = tmp_path / "live", tmp_path / "snap"
    assert_call_passed(run_scenario(NORMAL, normal_config(), live))

    def act(t: float, _timeline: list[Any]) -> None:
        if t >= at_s and not snap.exists():
            shutil.copytree(live, snap, ignore=shutil.ignore_patterns("*-shm"))

    run_acting(config, live, act)
    return snap


def test_power_cut_losing_the_wal_tail_never_reuses_an_event_id_and_verify_names_the_loss(
    tmp_path: Path,
) -> None:
    import json
    from collections import Counter

    from edge.record.verify import verify

    snap = snapshot_mid_call(tmp_path, 20.0, normal_config())
    wal = snap / "lineguard.db-wal"
    with wal.open("r+b") as f:
        f.truncate(wal.stat().st_size - 2 * (24 + 4096) - 100)  # the last commits never reached the card
    after = run_scenario(NORMAL, normal_config(), snap)
    assert_call_passed(after)
    lost = lost_event_ids(after)
    assert lost, f"the start saw the chain name rows the database lost: {alarms(after)}"
    refs = Counter(
        json.loads(line)["ref"]
        for line in (snap / "chain.jsonl").read_text().splitlines()
        if json.loads(line)["kind"] == "event"
    )
    assert [ref for ref, n in refs.items() if n > 1] == [], "no event id was given to a second row"
    report = verify(snap)
    assert report.problems == [f"event {i} was removed from the events table" for i in sorted(lost)]


@pytest.mark.parametrize("keep", ["magic", "half_header"])
def test_power_cut_while_a_recording_is_created_leaves_no_unreadable_file(tmp_path: Path, keep: str) -> None:
    from edge.record.lgrec import MAGIC, scan_frames
    from edge.record.verify import verify

    _key, public = recording_key()
    config = normal_config(recording={"public_key": public})
    data = tmp_path / "data"
    first = run_scenario(NORMAL, config, data)
    assert_call_passed(first)
    sealed = next(data.glob("recordings/**/*.lgrec"))
    raw = sealed.read_bytes()
    torn = sealed.with_name("L1-20990101-00001.lgrec")  # a later call's file, cut while it was created
    probe = tmp_path / "probe.lgrec"
    probe.write_bytes(raw[: len(MAGIC) + 40])
    assert not scan_frames(probe).kinds, "40 bytes are less than a header record"
    torn.write_bytes(raw[: len(MAGIC)] if keep == "magic" else raw[: len(MAGIC) + 40])
    after = run_scenario(NORMAL, config, data)
    assert_call_passed(after)
    assert not torn.exists(), "the empty file is gone"
    assert "held no audio" in alarms(after).get("recording.error", ""), alarms(after)
    report = verify(data)
    assert report.ok, report.problems
