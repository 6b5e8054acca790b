"""Soak: the whole appliance on the sim backend through many calls, resources sampled as the calls go by.

Run: nice -n 10 .venv/bin/python bench/soak.py --calls 300 [--every 25] [--json-out soak.json]
     nice -n 10 .venv/bin/python bench/soak.py --realtime 3600      (an hour paced to the wall clock)

SIGINT or SIGTERM ends the run early and honestly: no new calls are waited for, the call on the line is
played to its end (at most 120 s of wall clock, then it is reported open), and the checks and figures are
written for the calls placed so far. Every sample is also appended to ``<json-out>.progress.jsonl`` and
the JSON summary is rewritten (``"partial": true``) at each sample, so even a killed run leaves its figures.

Every shipped scenario is played once first (warm-up: espeak-ng cache, model load, and each scenario's
length and outcome). Then one long Scenario is built from them, cycled, each call with its own caller
number so strikes do not turn later callers into blocked ones; the call-waiting scenario puts a second
call on the line during a conversation. The 25-minute duration-cut call is included every
``--long-every`` cycles only, so it does not eat the whole run. One appliance (one store, one recorder,
one detector) lives through all of it, as the daemon does. Every ``--every`` closed calls it samples RSS,
open fds, threads, database and data-dir size; at the end it checks that every call record is closed,
that every event the runtime logged is stored exactly once, and that each call's outcome is the one its
scenario expects (calls rung in the lunch hour are expected to get the calendar message instead).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.app import build_appliance
from edge.backends.sim.world import RING_PERIOD_S, SimWorld
from edge.config import Config, default_config
from edge.core.calendar import calendar_message
from edge.ports import FRAME_SECONDS
from edge.scenarios import CallScript, Scenario, Step, load_scenario, scenario_config, shipped_scenarios
from edge.simulate import SETTLE_S, SimClock, run_scenario

START = dt.datetime(2026, 11, 23, 11, 0, 0)
"""A Monday morning: the first hour of calls runs into the lunch hour, so the calendar path is soaked too."""
GAP_S = 8.0
"""Quiet line between two scripted calls (more than the machine's ring-gone time)."""
LONG_SCENARIO = "04_duration_cut"
CALENDAR_SCENARIO = "02_lunch_hour"


@dataclass(frozen=True)
class Template:
    """One shipped scenario as measured in the warm-up."""

    name: str
    scenario: Scenario
    length_s: float
    outcomes: tuple[str, ...]


@dataclass(frozen=True)
class Planned:
    """One call placed in the soak scenario."""

    template: str
    at: float
    expected: str | None
    """The outcome the call should get; None for a call-waiting ring-in (it opens no record)."""
    number: str | None = None
    lunch_ring_in: bool = False
    """A ring-in whose first call rang in the lunch hour: that call may be released before the ring-in
    arrives, and then the ring-in is an ordinary call that gets the calendar message."""


@dataclass
class Sample:
    """Resources after some calls."""

    calls: int
    sim_s: float
    wall_s: float
    rss_kb: int
    fds: int
    threads_py: int
    threads_os: int
    db_bytes: int
    wal_bytes: int
    chain_bytes: int
    recordings_bytes: int
    data_dir_bytes: int
    call_ids_kept: int

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


@dataclass
class SoakResult:
    """What the soak measured and checked."""

    planned: list[Planned]
    samples: list[Sample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    """Outcomes other than the scenario's own (not a failure: the detector adapts and line noise differs)."""
    outcomes: Counter[str] = field(default_factory=Counter)
    calls: int = 0
    events: int = 0
    delivered: int | None = None
    """Events central committed (with --mqtt)."""
    sim_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    stopped_early: bool = False
    """A signal ended the run before the last planned call."""
    placed: int = 0
    """Planned calls (not ring-ins) that rang before the run ended."""


def soak_config(base: Config | None = None) -> Config:
    """The shipped defaults, open every day, so a long virtual run is not mostly after-hours messages."""
    base = base or default_config()
    if base.recording.public_key is None:
        # A deployed box has the central key; without one nothing is recorded and the recorder is not soaked.
        import base64

        from nacl.public import PrivateKey

        key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode("ascii")
        base = base.model_copy(update={"recording": base.recording.model_copy(update={"public_key": key})})
    calendar = base.calendar
    hours = calendar.office_hours.model_copy(
        update={"days": ("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "open": "00:00", "close": "23:59"}
    )
    return base.model_copy(update={"calendar": calendar.model_copy(update={"office_hours": hours})})


def measure_templates(names: list[str] | None, work: Path, base: Config) -> list[Template]:
    """Play each shipped scenario once on a throwaway data dir: warm-up, length and expected outcomes."""
    templates = []
    for path in shipped_scenarios():
        if names is not None and path.stem not in names:
            continue
        scenario = load_scenario(path)
        config = scenario_config(scenario, base, str(path))
        result = run_scenario(scenario, config, work / f"warm-{path.stem}")
        length = max(result.sim_seconds - SETTLE_S, 1.0)
        templates.append(Template(path.stem, scenario, length, tuple(result.outcomes())))
    return templates


def _numbered(number: str | None, serial: int) -> str | None:
    # A fresh caller per placed call: five strikes from "the same" abusive caller would block it for good.
    if number is None:
        return None
    return number[:-4] + f"{serial % 10000:04d}"


def _released_by_calendar(config: Config, wall: dt.datetime) -> bool:
    """Whether a call answered at ``wall`` gets a calendar message and is released (the box's own rule:
    the lunch hour, and the minute 23:59 that the soak's 00:00-23:59 office hours leave closed)."""
    message = calendar_message(config.calendar, wall)
    return message is not None and not (message.hold and config.call.hold_message_pass_through)


def build_soak(
    templates: list[Template],
    config: Config,
    *,
    calls: int | None = None,
    until_s: float | None = None,
    long_every: int = 5,
    start: dt.datetime = START,
) -> tuple[Scenario, list[Planned]]:
    """One long scenario cycling through the templates until ``calls`` calls or ``until_s`` seconds."""
    scripts: list[CallScript] = []
    planned: list[Planned] = []
    cursor = 0.0
    cycle = 0
    serial = 0
    blocklist = set(config.lists.blocklist)
    # The box reads the calendar when it answers (the answer_on_ring-th ring), not at the first.
    answer_after_s = (config.call.answer_on_ring - 1) * RING_PERIOD_S

    def done() -> bool:
        placed = sum(p.expected is not None for p in planned)
        if calls is not None and placed >= calls:
            return True
        return until_s is not None and cursor >= until_s

    while not done():
        placed_before = len(planned)
        for template in templates:
            if done():
                break
            if template.name == LONG_SCENARIO and cycle % long_every != long_every - 1:
                continue
            if until_s is not None and cursor + template.length_s > until_s and cursor > 0:
                continue  # too long for the time left; a shorter scenario may still fit
            for i, script in enumerate(template.scenario.calls):
                serial += 1
                number = script.number
                if number is not None and number not in blocklist:
                    number = _numbered(number, serial)
                steps = list(script.steps)
                if template.name == CALENDAR_SCENARIO:
                    # Outside the lunch hour this caller is put through; without a hang-up it would sit
                    # on the line until the 20-minute cut.
                    steps.append(Step.model_validate({"at": 30.0, "from": "answer", "hangup": "caller"}))
                scripts.append(
                    script.model_copy(update={"at": cursor + script.at, "number": number, "steps": steps})
                )
                answer_wall = start + dt.timedelta(seconds=cursor + script.at + answer_after_s)
                expected: str | None
                lunch_ring_in = False
                if i >= len(template.outcomes):
                    expected = None  # a ring-in while the line is busy: logged, never answered
                    first_answer = start + dt.timedelta(
                        seconds=cursor + template.scenario.calls[0].at + answer_after_s
                    )
                    lunch_ring_in = _released_by_calendar(config, first_answer)
                elif template.name == CALENDAR_SCENARIO:
                    expected = "calendar" if _released_by_calendar(config, answer_wall) else "completed"
                elif (
                    script.direction == "in"
                    and _released_by_calendar(config, answer_wall)
                    and number not in blocklist
                ):
                    expected = "calendar"
                else:
                    expected = template.outcomes[i]
                planned.append(Planned(template.name, cursor + script.at, expected, number, lunch_ring_in))
            cursor += template.length_s + GAP_S
        cycle += 1
        if len(planned) == placed_before:
            break  # not even the shortest scenario fits in the time left
    scenario = Scenario.model_validate(
        {"name": "soak", "description": "every shipped scenario, cycled", "calls": [{"at": 0.0}]}
    )
    scenario = scenario.model_copy(update={"calls": scripts, "start": start})
    return scenario, planned


def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):  # a file retention removed between listing and stat
                total += os.stat(os.path.join(root, name)).st_size
    return total


def _proc_status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sample(calls: int, sim_s: float, wall_s: float, data_dir: Path, call_ids_kept: int) -> Sample:
    """Resources of this process and the data dir now."""
    gc.collect()
    db = data_dir / "lineguard.db"
    wal = data_dir / "lineguard.db-wal"
    chain = data_dir / "chain.jsonl"
    return Sample(
        calls=calls,
        sim_s=round(sim_s, 1),
        wall_s=round(wall_s, 2),
        rss_kb=_proc_status("VmRSS"),
        fds=len(os.listdir("/proc/self/fd")),
        threads_py=threading.active_count(),
        threads_os=_proc_status("Threads"),
        db_bytes=db.stat().st_size if db.exists() else 0,
        wal_bytes=wal.stat().st_size if wal.exists() else 0,
        chain_bytes=chain.stat().st_size if chain.exists() else 0,
        recordings_bytes=_dir_bytes(data_dir / "recordings"),
        data_dir_bytes=_dir_bytes(data_dir),
        call_ids_kept=call_ids_kept,
    )


def run_soak(
    scenario: Scenario,
    planned: list[Planned],
    config: Config,
    data_dir: Path,
    *,
    every: int = 25,
    realtime: bool = False,
    on_sample: Callable[[Sample], None] | None = None,
    publisher: Any = None,
    delivered: Callable[[], list[int]] | None = None,
    stop: threading.Event | None = None,
    stop_grace_s: float = 120.0,
) -> SoakResult:
    """Play the soak scenario against one appliance, sampling every ``every`` closed calls, then check.

    When ``stop`` is set the run ends at the next quiet line (or after ``stop_grace_s`` of wall clock) and
    the checks cover the calls that rang until then.
    """
    result = SoakResult(planned)
    config = scenario_config(scenario, config, "soak")
    world = SimWorld(scenario, scenario.start or START, cache_dir=data_dir / "cache")
    world.prepare_audio()
    app = build_appliance(
        config, data_dir, world.hardware, SimClock(world), threaded=False, publisher=publisher
    )
    app.keep_timeline = False  # as in the daemon: the soak must not measure a list the daemon never keeps
    # The inline writer has stored what build_appliance logged (start-up alarms); the count starts there.
    # The logged-vs-stored comparison is settled at every sample and the counter emptied, so the soak's own
    # bookkeeping does not grow with the calls (it used to be most of the RSS growth it measured).
    logged: Counter[tuple[str, str | None]] = Counter()
    checked = _Checked()
    checked.settle(app.store, logged, result)
    closed = 0
    record = app.record

    def counting_record(now: Any, kind: str, call_id: str | None, basis: Any = None, data: Any = None) -> Any:
        nonlocal closed
        logged[(kind, call_id)] += 1
        if kind == "call_ended":
            closed += 1
        return record(now, kind, call_id, basis, data)

    app.record = counting_record  # type: ignore[method-assign]
    wall0 = time.monotonic()
    cpu0 = time.process_time()
    next_sample = 0
    t = 0.0
    frames = 0
    stopping_since: float | None = None
    try:
        app.start()
        limit = world.last_call_start + 3 * 3600.0
        quiet_since: float | None = None
        recorder = app.recorder_impl
        while t < limit:
            world.advance(t)
            app.pump(world.hardware.audio.read(0.0))
            if closed >= next_sample:
                if recorder is not None:
                    recorder.flush()
                checked.settle(app.store, logged, result)
                s = sample(closed, t, time.monotonic() - wall0, data_dir, len(app.call_ids))
                result.samples.append(s)
                if on_sample is not None:
                    on_sample(s)
                next_sample = closed + every
            if stop is not None and stop.is_set() and stopping_since is None:
                stopping_since = time.monotonic()
                result.stopped_early = True
            line_free = app.line.state.call is None
            idle = line_free and (stopping_since is not None or not world.pending)
            quiet_since = (quiet_since if quiet_since is not None else t) if idle else None
            if quiet_since is not None and t - quiet_since >= SETTLE_S:
                break
            if stopping_since is not None and time.monotonic() - stopping_since > stop_grace_s:
                break
            t += FRAME_SECONDS
            frames += 1
            if not realtime and recorder is not None and frames % 250 == 0:
                recorder.flush()
            if realtime:
                lag = (wall0 + t) - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
        app.writer.close()
        if recorder is not None:
            recorder.flush()
        # Calls whose ring began before the line went quiet were placed; later ones never rang.
        cutoff = t if quiet_since is None or not result.stopped_early else quiet_since
        if result.stopped_early:
            planned = [p for p in planned if p.at < cutoff]
            result.planned = planned
        result.placed = sum(p.expected is not None for p in planned)
        checked.settle(app.store, logged, result)
        result.samples.append(sample(closed, t, time.monotonic() - wall0, data_dir, len(app.call_ids)))
        if on_sample is not None:
            on_sample(result.samples[-1])
        result.sim_s = t
        result.wall_s = time.monotonic() - wall0
        result.cpu_s = time.process_time() - cpu0
        _check(app, planned, result, still_open_ok=result.stopped_early and quiet_since is None)
        if publisher is not None and delivered is not None:
            _check_delivery(app, publisher, delivered, result)
    finally:
        app.close()
    return result


@dataclass
class _Checked:
    """How far the logged events have been matched against the stored rows."""

    last_id: int = 0
    primed: bool = False
    """The first settle takes what build_appliance stored before the count began (start-up alarms)."""

    def settle(self, store: Any, logged: Counter[tuple[str, str | None]], result: SoakResult) -> None:
        """Compare the events logged since the last settle with the rows stored since; empty the counter.

        The soak's writer is inline, so every logged event is stored (or lost) by the time this runs.
        """
        rows = store._query("SELECT id, type, call_id FROM events WHERE id > ? ORDER BY id", (self.last_id,))
        stored: Counter[tuple[str, str | None]] = Counter((r["type"], r["call_id"]) for r in rows)
        if rows:
            self.last_id = int(rows[-1]["id"])
        if self.primed and stored != logged:
            missing = logged - stored
            extra = stored - logged
            result.problems.append(
                f"events logged {sum(logged.values())}, stored {sum(stored.values())} (up to event id "
                f"{self.last_id}); missing {list(missing.items())[:5]}, extra {list(extra.items())[:5]}"
            )
        self.primed = True
        result.events += sum(stored.values())
        logged.clear()


def _check(app: Any, planned: list[Planned], result: SoakResult, *, still_open_ok: bool = False) -> None:
    store = app.store
    rows = store._query("SELECT call_id, number, ended, outcome FROM calls ORDER BY started, call_id")
    result.calls = len(rows)
    open_calls = [r["call_id"] for r in rows if r["ended"] is None or r["outcome"] is None]
    if still_open_ok and len(open_calls) == 1:
        result.differences.append(f"{open_calls[0]} was still on the line when the run was stopped")
        rows = [r for r in rows if r["call_id"] != open_calls[0]]
    elif open_calls:
        result.problems.append(f"{len(open_calls)} call records never closed: {open_calls[:5]}")
    # Each placed call has its own number (the blocked number repeats: those are matched in order).
    by_number: dict[str | None, list[Planned]] = {}
    for plan in planned:
        by_number.setdefault(plan.number, []).append(plan)
    mismatched = 0
    for row in rows:
        candidates = by_number.get(row["number"], [])
        plan = candidates.pop(0) if candidates else None
        if plan is None:
            result.problems.append(f"{row['call_id']} from {row['number']} was never placed")
            continue
        result.outcomes[f"{plan.template}:{row['outcome']}"] += 1
        want = plan.expected
        if want is None:
            if plan.lunch_ring_in:
                want = "calendar"  # the first call was released before this one rang: an ordinary call
            else:
                result.problems.append(f"{row['call_id']}: a call-waiting ring-in was answered")
                continue
        if row["outcome"] != want:
            mismatched += 1
            if mismatched <= 5:
                result.differences.append(
                    f"{row['call_id']} ({plan.template}) ended {row['outcome']}, expected {want}"
                )
    if mismatched > 5:
        result.differences.append(f"... {mismatched} outcomes differ in all")
    unanswered = [p for plans in by_number.values() for p in plans if p.expected is not None]
    if unanswered:
        result.problems.append(
            f"{len(unanswered)} placed calls have no call record, e.g. {[p.number for p in unanswered[:5]]}"
        )


def _check_delivery(app: Any, publisher: Any, delivered: Callable[[], list[int]], result: SoakResult) -> None:
    """Every stored event reached central exactly once (by the box's event id)."""
    if not publisher.flush(timeout=120):
        result.problems.append(f"the outbox still holds {publisher.outbox_depth()} reports after 120 s")
    stored = [int(r["id"]) for r in app.store._query("SELECT id FROM events")]
    deadline = time.monotonic() + 60
    ids = delivered()
    while len(ids) < len(stored) and time.monotonic() < deadline:
        time.sleep(0.2)
        ids = delivered()
    result.delivered = len(ids)
    counts = Counter(ids)
    twice = [i for i, n in counts.items() if n > 1]
    missing = sorted(set(stored) - set(counts))
    if twice:
        result.problems.append(f"{len(twice)} events delivered more than once, e.g. {twice[:5]}")
    if missing:
        result.problems.append(f"{len(missing)} stored events never reached central, e.g. {missing[:5]}")


def slope_per_100(samples: list[Sample], key: str, skip: int = 1) -> float:
    """Least-squares growth of one resource per 100 calls, after the first ``skip`` samples (warm-up)."""
    points = [(s.calls, float(getattr(s, key))) for s in samples[skip:]]
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return 100.0 * sum((x - mx) * (y - my) for x, y in points) / var


RESOURCES = (
    "rss_kb",
    "fds",
    "threads_py",
    "threads_os",
    "db_bytes",
    "wal_bytes",
    "chain_bytes",
    "recordings_bytes",
    "data_dir_bytes",
    "call_ids_kept",
)


@contextlib.contextmanager
def _central(work: Path, config: Config, data_dir: Path, wanted: bool) -> Iterator[tuple[Any, Any]]:
    """With ``wanted``: a local Mosquitto (the test suite's helper), the central receiver, and the box's telemetry."""
    if not wanted:
        yield None, None
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from central.receiver import Receiver
    from central.store import Store
    from edge.telemetry.client import Telemetry
    from tests.mqtt_support import Broker

    broker = Broker(work / "broker").start()
    store = Store(f"sqlite:///{work / 'central.db'}")
    receiver = Receiver(broker.settings("central"), store, files_dir=work / "central-files", stall_s=0.5)
    receiver.start()
    telemetry = Telemetry.from_url(broker.url(), config.device.id, config.device.site, data_dir)
    telemetry.start()

    def delivered() -> list[int]:
        rows = store.query("SELECT body FROM events WHERE device=?", (config.device.id,))
        return [int(json.loads(body)["id"]) for (body,) in rows]

    try:
        yield telemetry, delivered
    finally:
        telemetry.close(timeout=10)
        receiver.stop()
        store.close()
        broker.stop()


def main(argv: list[str] | None = None) -> int:
    """Command line: run the soak, print samples as JSON lines and a summary; exit 1 on any failed check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls to place (default 300)")
    parser.add_argument(
        "--realtime",
        type=float,
        metavar="SECONDS",
        default=None,
        help="run paced to the wall clock this long",
    )
    parser.add_argument("--every", type=int, default=25, help="sample every N closed calls (default 25)")
    parser.add_argument("--long-every", type=int, default=5, help="the 25-minute call every N cycles")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the data here (default: a temp dir)"
    )
    parser.add_argument("--json-out", type=Path, default=None, help="write samples and summary here")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=None,
        metavar="STEM",
        help="only these shipped scenarios (file stems)",
    )
    parser.add_argument(
        "--mqtt",
        action="store_true",
        help="also report every event through a local Mosquitto to a central receiver and check delivery",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt  # a second signal: stop now
        print(json.dumps({"stopping": signal.Signals(signum).name}), flush=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with tempfile.TemporaryDirectory(prefix="lineguard-soak-") as tmp:
        work = Path(tmp)
        data_dir = args.data_dir or work / "data"
        config = soak_config()
        t0 = time.monotonic()
        templates = measure_templates(args.scenarios, work, config)
        print(
            json.dumps(
                {
                    "warmup_s": round(time.monotonic() - t0, 1),
                    "templates": {t.name: [round(t.length_s, 1), list(t.outcomes)] for t in templates},
                }
            ),
            flush=True,
        )
        if args.realtime is not None:
            scenario, planned = build_soak(
                templates, config, until_s=args.realtime, long_every=args.long_every
            )
        else:
            scenario, planned = build_soak(templates, config, calls=args.calls, long_every=args.long_every)
        samples: list[Sample] = []
        progress = None
        if args.json_out is not None:
            progress = args.json_out.with_name(args.json_out.name + ".progress.jsonl")
            progress.write_text("")

        def on_sample(s: Sample) -> None:
            # Written as the run goes, so a run that is killed or runs out of time still leaves its figures.
            print(json.dumps(s.as_dict()), flush=True)
            samples.append(s)
            if progress is not None and args.json_out is not None:
                with progress.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(s.as_dict()) + "\n")
                _write_json(args.json_out, {"partial": True, **_figures(samples)}, samples)

        with _central(work, config, data_dir, args.mqtt) as (publisher, delivered):
            result = run_soak(
                scenario,
                planned,
                config,
                data_dir,
                every=args.every,
                realtime=args.realtime is not None,
                on_sample=on_sample,
                publisher=publisher,
                delivered=delivered,
                stop=stop,
            )
    summary = {
        "stopped_early": result.stopped_early,
        "placed": result.placed,
        "calls": result.calls,
        "ring_ins_while_busy": sum(p.expected is None for p in result.planned),
        "events": result.events,
        "delivered_to_central": result.delivered,
        "sim_s": round(result.sim_s, 1),
        "wall_s": round(result.wall_s, 1),
        "cpu_s": round(result.cpu_s, 1),
        "speed": round(result.sim_s / max(result.wall_s, 1e-9), 1),
        **_figures(result.samples),
        "outcomes": dict(sorted(result.outcomes.items())),
        "outcome_differences": result.differences,
        "problems": result.problems,
    }
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    if args.json_out is not None:
        _write_json(args.json_out, summary, result.samples)
    return 1 if result.problems else 0


def _figures(samples: list[Sample]) -> dict[str, Any]:
    return {
        "slope_per_100_calls": {k: round(slope_per_100(samples, k), 1) for k in RESOURCES},
        "first": samples[1].as_dict() if len(samples) > 1 else None,
        "last": samples[-1].as_dict() if samples else None,
    }


def _write_json(path: Path, summary: dict[str, Any], samples: list[Sample]) -> None:
    # Written aside and renamed, so a reader (or a kill) never sees half a file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(
            {"summary": summary, "samples": [s.as_dict() for s in samples]}, ensure_ascii=False, indent=1
        )
    )
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
