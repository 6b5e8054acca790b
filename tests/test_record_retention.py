"""Retention: a pure policy decided from a table of cases, then one run on disk through the Recorder."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.public import PrivateKey

from edge.record.recorder import Recorder
from edge.record.retention import DiskUsage, RetentionRule, StoredRecording, decide
from edge.record.settings import RecordingConfig
from edge.record.verify import verify

R = StoredRecording
RULE = RetentionRule(days=60, incident_days=1095, cap_percent=70)
ROOMY = DiskUsage(total=1000, used=100)

CASES = [
    # (name, recordings, rule, usage, expected deletions as (ref, reason), expected alarm codes)
    ("nothing old, room to spare", [R("a", 10, 5), R("b", 59.9, 5)], RULE, ROOMY, [], []),
    ("ordinary past 60 days goes", [R("a", 61, 5), R("b", 30, 5)], RULE, ROOMY, [("a", "age")], []),
    ("incident past 60 days stays", [R("a", 400, 5, True), R("b", 61, 5)], RULE, ROOMY, [("b", "age")], []),
    ("incident past 3 years goes", [R("a", 1096, 5, True)], RULE, ROOMY, [("a", "incident-age")], []),
    (
        "over the cap: oldest ordinary first, until under",
        [R("new", 1, 100), R("old", 20, 100), R("mid", 10, 100)],
        RULE,
        DiskUsage(1000, 850),
        [("old", "cap"), ("mid", "cap")],
        [],
    ),
    (
        "cap spares incidents while ordinary ones remain",
        [R("inc", 50, 100, True), R("ord", 5, 100)],
        RULE,
        DiskUsage(1000, 780),
        [("ord", "cap")],
        [],
    ),
    (
        "cap forces an incident out, with an alarm",
        [R("inc-old", 50, 100, True), R("inc-new", 5, 100, True), R("ord", 1, 50)],
        RULE,
        DiskUsage(1000, 800),
        [("ord", "cap"), ("inc-old", "cap-incident")],
        ["retention.incident_evicted"],
    ),
    (
        "age deletions count towards the cap",
        [R("old", 90, 200), R("new", 1, 100)],
        RULE,
        DiskUsage(1000, 850),
        [("old", "age")],
        [],
    ),
    (
        "cap unreachable: everything goes and an alarm says so",
        [R("a", 1, 10)],
        RULE,
        DiskUsage(1000, 900),
        [("a", "cap")],
        ["retention.cap_unreachable"],
    ),
    (
        "shorter local rule (30 days)",
        [R("a", 31, 5), R("b", 29, 5)],
        RetentionRule(days=30, incident_days=180, cap_percent=70),
        ROOMY,
        [("a", "age")],
        [],
    ),
    ("exactly at the limit stays", [R("a", 60, 5)], RULE, ROOMY, [], []),
    (
        "ties in age broken by name",
        [R("b", 10, 100), R("a", 10, 100)],
        RULE,
        DiskUsage(1000, 750),
        [("a", "cap")],
        [],
    ),
]


@pytest.mark.parametrize(
    ("name", "recordings", "rule", "usage", "deletions", "alarms"), CASES, ids=[c[0] for c in CASES]
)
def test_policy(
    name: str,
    recordings: list[StoredRecording],
    rule: RetentionRule,
    usage: DiskUsage,
    deletions: list[tuple[str, str]],
    alarms: list[str],
) -> None:
    decision = decide(recordings, rule, usage)
    assert [(d.ref, d.reason) for d in decision.deletions] == deletions
    assert [code for code, _ in decision.alarms] == alarms
    freed = sum(r.size for r in recordings if r.ref in decision.refs)
    assert decision.usage_after.used == usage.used - freed


def test_on_disk_ages_incidents_cap_and_alarm_before_delete(tmp_path: Path) -> None:
    key = PrivateKey.generate()
    public = base64.b64encode(bytes(key.public_key)).decode()
    folder = tmp_path / "recordings"
    seen: list[tuple[str, str, bool]] = []

    def on_alarm(code: str, message: str) -> None:
        # Record whether the incident recording still exists when the alarm is raised.
        seen.append((code, message, (folder / "inc.lgrec").exists()))

    config = RecordingConfig(public_key=public, chunk_seconds=0.5)
    recorder = Recorder(config, tmp_path, on_alarm)
    rng = np.random.default_rng(1)
    for call_id in ("ord", "inc", "live"):
        recorder.start(call_id, {})
        for _ in range(25):
            recorder.write(
                call_id, rng.normal(0, 3000, 160).astype(np.int16), rng.normal(0, 3000, 160).astype(np.int16)
            )
        if call_id != "live":
            recorder.stop(call_id)
    recorder.mark_incident("inc", "abuse.threat")
    assert recorder.flush()

    now = time.time()
    assert recorder.enforce_retention(now) == []
    assert recorder.enforce_retention(now + 61 * 86400) == ["ord"]
    assert not (folder / "ord.lgrec").exists() and not (folder / "ord.json").exists()
    assert (folder / "inc.lgrec").exists() and (folder / "live.lgrec").exists()
    assert recorder.enforce_retention(now + 400 * 86400) == []
    assert seen == []
    recorder.close()

    # A cap below what the disk already holds forces the incident out, and the alarm comes first.
    tight = Recorder(RecordingConfig(public_key=public, disk_cap_percent=0.001), tmp_path, on_alarm)
    deleted = tight.enforce_retention(now)
    assert "inc" in deleted and "live" in deleted
    codes = [code for code, _, _ in seen]
    assert codes[0] == "retention.incident_evicted"
    assert seen[0][2] is True, "alarm must be raised while the incident recording still exists"
    assert "retention.cap_unreachable" in codes
    tight.close()

    report = verify(tmp_path)
    assert report.problems == []
    assert report.recordings_checked == 0


recordings_strategy = st.lists(
    st.builds(
        StoredRecording,
        ref=st.uuids().map(str),
        age_days=st.floats(0, 2000),
        size=st.integers(1, 500),
        incident=st.booleans(),
    ),
    max_size=30,
    unique_by=lambda r: r.ref,
)


@settings(max_examples=300, deadline=None)
@given(
    recordings=recordings_strategy,
    days=st.floats(1, 400),
    extra_days=st.floats(0, 1500),
    cap=st.floats(1, 98),
    other_bytes=st.integers(0, 5000),
)
def test_policy_invariants(
    recordings: list[StoredRecording], days: float, extra_days: float, cap: float, other_bytes: int
) -> None:
    rule = RetentionRule(days=days, incident_days=days + extra_days, cap_percent=cap)
    used = other_bytes + sum(r.size for r in recordings)
    usage = DiskUsage(total=max(used, 1) * 2, used=used)
    decision = decide(recordings, rule, usage)
    gone = set(decision.refs)
    kept = [r for r in recordings if r.ref not in gone]
    codes = [code for code, _ in decision.alarms]
    assert len(gone) == len(decision.refs)  # nothing deleted twice
    for r in kept:  # nothing kept past its limit
        assert r.age_days <= (rule.incident_days if r.incident else rule.days)
    cap_bytes = usage.total * cap / 100
    if decision.usage_after.used > cap_bytes:  # over the cap only when nothing is left to delete
        assert kept == [] and "retention.cap_unreachable" in codes
    cap_victims = [d for d in decision.deletions if d.reason in ("cap", "cap-incident")]
    if any(d.reason == "cap-incident" for d in cap_victims):  # incidents go only after every ordinary one
        assert not any(not r.incident for r in kept)
        assert "retention.incident_evicted" in codes
    # Cap deletions go oldest first within each class.
    for reason in ("cap", "cap-incident"):
        ages = [
            next(r.age_days for r in recordings if r.ref == d.ref) for d in cap_victims if d.reason == reason
        ]
        assert ages == sorted(ages, reverse=True)
    # The cap never deletes more than it needs: keeping the last cap victim would break the cap.
    if cap_victims:
        last = next(r for r in recordings if r.ref == cap_victims[-1].ref)
        assert decision.usage_after.used + last.size > cap_bytes
