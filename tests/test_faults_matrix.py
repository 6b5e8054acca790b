"""The fault matrix (docs/faults.md): each fault on the whole appliance; calls keep passing, an alarm is
raised, and the box recovers without a human. Rows covered elsewhere are named in the doc."""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
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
        t, quiet_since = 0.0, None
        while t < world.last_call_start + 600:
            world.advance(t)
            app.pump(world.hardware.audio.read(0.0))
            act(t, app.timeline)
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


# -- kill -9 at a random point --------------------------------------------------------------------

KILL_POINTS_S = [0.3, 2.5, 6.0, 9.0] if os.environ.get("LINEGUARD_FAULTS_FULL") else [2.5]
"""Seconds into the recorded call; ``make faults`` kills at every point, ``make test`` at one."""

KILLED_RUN = """
import sys
from pathlib import Path
from edge.config import parse_config
from edge.scenarios import load_scenario, scenario_config, shipped_scenarios
from edge.simulate import run_scenario
scenario = load_scenario(next(p for p in shipped_scenarios() if p.name.startswith("01_")))
data = scenario_config(scenario).model_dump(mode="json", exclude_none=True)
data["recording"] = {**data.get("recording", {}), "public_key": sys.argv[2]}
print("running", flush=True)
run_scenario(scenario, parse_config(data), Path(sys.argv[1]), realtime=True)
"""


@pytest.mark.parametrize("kill_at_s", KILL_POINTS_S)
def test_kill_9_mid_call_restart_recovers_the_recording_and_closes_the_record(
    tmp_path: Path, kill_at_s: float
) -> None:
    import base64

    from nacl.public import PrivateKey

    from edge.record.decrypt import decrypt_recording
    from edge.record.verify import verify

    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    data = tmp_path / "data"
    assert_call_passed(run_scenario(NORMAL, normal_config(), data))  # prompts and speech cached: quick start
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(data), public], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "running"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(data.glob("**/*.lgrec*")):
        time.sleep(0.05)  # the call is being recorded
    assert list(data.glob("**/*.lgrec*")), "the killed run got as far as recording"
    recording_since = time.monotonic()
    time.sleep(kill_at_s)
    proc.kill()
    recorded_s = time.monotonic() - recording_since
    proc.wait()
    config = normal_config(recording={"public_key": public})
    after = run_scenario(NORMAL, config, data)
    assert_call_passed(after)
    recovered = [r.data["file"] for r in after.timeline if r.type == "recording_recovered"]
    interrupted = [r.data["calls"] for r in after.timeline if r.type == "calls_interrupted"]
    assert len(recovered) == 1 and len(interrupted) == 1, (recovered, interrupted)
    with sqlite3.connect(data / "lineguard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        open_calls = db.execute("SELECT COUNT(*) FROM calls WHERE ended IS NULL").fetchone()[0]
        killed = db.execute(
            "SELECT outcome, ended_by FROM calls WHERE call_id=?", (interrupted[0][0],)
        ).fetchone()
    assert open_calls == 0 and killed == ("interrupted", "restart")
    recording = next(p for p in data.glob("**/*.lgrec") if interrupted[0][0] in p.name)
    kept_s = len(decrypt_recording(recording, key).audio) / 8000
    # The recorder's bound is 2 s (tests/test_record_crash.py); 1.5 s more for a real-time run on a busy box.
    assert kept_s >= recorded_s - 3.5, (
        f"recorded {recorded_s:.1f} s before the kill, recovered {kept_s:.1f} s"
    )
    report = verify(data)
    assert report.ok, report.problems
