"""Alert clips from the box to training: sealed by the real detector, listed, fetched, opened (audited) and read
by the training pipeline as labelled real clips; retention; wrong keys, altered and unlabelled clips."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from edge.cli import main
from edge.core.events import Tier
from edge.detect.clips import (
    LABEL_SUFFIX,
    SEALED_SUFFIX,
    SealedClipSink,
    expire_clips,
    pack_clips,
    source_clips,
)
from edge.detect.detector import load_detector
from edge.detect.settings import DetectionConfig
from edge.record.audit import audit_path
from edge.record.chain import read_chain
from edge.record.seal import generate_keypair
from tests.cli_support import one_line

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "kws"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
POSITIVE = next(n for n, e in EXPECTED.items() if e is not None)


def fixture_of(category: str) -> str:
    """The fixture WAV of one category's keyword (which word it is follows the shipped thresholds)."""
    return next(n for n, e in EXPECTED.items() if e is not None and e["category"] == category)


class KeptClips(SealedClipSink):
    """The box's sink, also remembering the plain clips so the test can compare what comes out."""

    def __init__(self, data_dir: Path, public: str) -> None:
        super().__init__(data_dir, public, self._alarm)
        self.plain: list[tuple[np.ndarray, dict[str, Any]]] = []
        self.alarms: list[tuple[str, str]] = []

    def _alarm(self, kind: str, detail: str) -> None:
        self.alarms.append((kind, detail))

    def save(self, clip: Any, meta: dict[str, Any]) -> None:
        self.plain.append((np.asarray(clip).copy(), meta))
        super().save(clip, meta)


def run_call(sink: KeptClips, staff_acted: bool) -> None:
    """One call through the shipped detector: the positive fixture on the caller leg."""
    detector, error = load_detector(
        DetectionConfig(shouting_enabled=False, calibration_enabled=False, inline=True), sink
    )
    assert detector is not None, error
    try:
        detector.reset()
        pcm = np.concatenate([sf.read(FIXTURES / POSITIVE, dtype="int16")[0], np.zeros(8000, np.int16)])
        for i in range(0, pcm.size, 160):
            detector.feed(pcm[i : i + 160], i / 8000)
        assert any(d.event.tier is Tier.WARN for d in detector.detections)
        detector.end_call(staff_acted=staff_acted, caller_speech_s=detector.speech_s)
    finally:
        detector.close()
    time.sleep(0.002)  # clip names carry the microsecond they were kept


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path, KeptClips]:
    """A data dir with clips of two confirmed calls and one unconfirmed call, and the central key."""
    pair = generate_keypair(tmp_path / "central")
    data = tmp_path / "data"
    sink = KeptClips(data, str(pair.public_path))
    for staff_acted in (True, False, True):
        run_call(sink, staff_acted)
    return data, pair.private_path, sink


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, json.loads(out.out) if out.out.startswith("{") else out.out, one_line(out.err)


def test_clips_go_from_the_detector_to_labelled_training_folders(
    box: tuple[Path, Path, KeptClips], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, key, sink = box
    assert sink.stored() == len(sink.plain) == sink.saved
    detector, _ = load_detector(DetectionConfig(inline=True), sink)
    assert detector is not None and detector.health()["clips"]["stored"] == len(sink.plain)
    detector.close()
    keyword = EXPECTED[POSITIVE]["keyword"]
    confirmed = [c for c, m in sink.plain if m["label"] == "confirmed"]
    unconfirmed = [c for c, m in sink.plain if m["label"] == "unconfirmed"]
    assert confirmed and unconfirmed and not sink.alarms
    # Nothing readable is left on the box: the audio is sealed, the label holds no audio.
    for sealed in (data / "clips").glob("*" + SEALED_SUFFIX):
        assert not sealed.read_bytes()[8:].startswith(b"RIFF")

    code, listed, _ = cli(["clips", "list", "--data-dir", str(data), "--json"], capsys)
    assert code == 0
    assert listed["clips"] == len(sink.plain)
    assert listed["by_label"] == {"confirmed": len(confirmed), "unconfirmed": len(unconfirmed)}
    assert listed["by_training_folder"] == {keyword: len(confirmed), "negative": len(unconfirmed)}

    out = tmp_path / "train"
    code, exported, _ = cli(
        ["clips", "export", "--data-dir", str(data), "--key", str(key), "--out", str(out), "--json"], capsys
    )
    assert code == 0 and exported["written"] == {keyword: len(confirmed), "negative": len(unconfirmed)}
    got = sorted((p.parent.name, sf.read(p, dtype="int16")[0].tobytes()) for p in out.glob("*/*.wav"))
    want = sorted((keyword if m["label"] == "confirmed" else "negative", c.tobytes()) for c, m in sink.plain)
    assert got == want  # sample for sample what the detector kept
    index = [json.loads(line) for line in (out / "clips.jsonl").read_text(encoding="utf-8").splitlines()]
    assert sorted(r["wav"] for r in index) == sorted(str(p.relative_to(out)) for p in out.glob("*/*.wav"))
    # Every opening is in the box's audit log, chained.
    entries = [e for e in read_chain(audit_path(data)).entries if e.get("action") == "clips.open"]
    assert len(entries) == 1 and entries[0]["detail"]["clips"] == len(sink.plain)

    # Exporting again adds nothing and is audited again.
    code, again, _ = cli(
        ["clips", "export", "--data-dir", str(data), "--key", str(key), "--out", str(out), "--json"], capsys
    )
    assert code == 0 and again["written"] == {} and again["already_exported"] == len(sink.plain)
    assert sum(e.get("action") == "clips.open" for e in read_chain(audit_path(data)).entries) == 2

    # The training pipeline reads the exported folder and the sealed clips alike, with the same labels.
    sys.path.insert(0, str(ROOT / "models"))
    from pipeline import build, text

    groups, _ = text.load_keywords()
    label = 1 + [g.id for g in groups].index(keyword)
    from_folder = build.load_extra(out, groups)
    from_sealed = build.load_extra(data, groups, key)
    assert sorted((lab, pcm.tobytes()) for pcm, lab in from_folder) == sorted(
        (lab, pcm.tobytes()) for pcm, lab in from_sealed
    )
    assert sorted(lab for _, lab in from_sealed) == sorted([0] * len(unconfirmed) + [label] * len(confirmed))
    with pytest.raises(SystemExit, match="--extra-key"):
        build.load_extra(data, groups)


def test_wrong_key_altered_and_unlabelled_clips_are_reported_and_the_rest_exported(
    box: tuple[Path, Path, KeptClips], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, key, sink = box
    other = generate_keypair(tmp_path / "other").private_path
    code, _, err = cli(
        ["clips", "export", "--data-dir", str(data), "--key", str(other), "--out", str(tmp_path / "x")],
        capsys,
    )
    assert code != 0 and "opens none of the" in err and not (tmp_path / "x").exists()

    stems = sorted(c.stem for c in source_clips(data))
    altered, unlabelled = stems[0], stems[1]
    blob = (data / "clips" / f"{altered}{SEALED_SUFFIX}").read_bytes()
    (data / "clips" / f"{altered}{SEALED_SUFFIX}").write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    (data / "clips" / f"{unlabelled}{LABEL_SUFFIX}").unlink()
    (data / "clips" / "notes.txt").write_text("not a clip")
    (data / "clips" / f"20200101T000000000000-odd{SEALED_SUFFIX}").mkdir()  # named like a clip, not one
    out = tmp_path / "train"
    code, exported, _ = cli(
        ["clips", "export", "--data-dir", str(data), "--key", str(key), "--out", str(out), "--json"], capsys
    )
    assert code == 0
    assert "altered" in exported["skipped"][altered] and "no label" in exported["skipped"][unlabelled]
    assert "cannot read it" in exported["skipped"]["20200101T000000000000-odd"]
    assert sum(exported["written"].values()) == len(sink.plain) - 2

    code, _, err = cli(["clips", "export", "--key", str(key), str(tmp_path / "nowhere")], capsys)
    assert code != 0 and "--out" in err
    code, _, err = cli(
        ["clips", "export", "--key", str(key), "--out", str(out), str(tmp_path / "nowhere")], capsys
    )
    assert code != 0 and "does not exist" in err
    code, _, err = cli(["clips", "list", str(tmp_path / "nowhere")], capsys)
    assert code != 0 and "does not exist" in err
    (tmp_path / "junk.tar").write_bytes(b"\x00garbage" * 100)
    code, _, err = cli(["clips", "list", str(tmp_path / "junk.tar")], capsys)
    assert code != 0 and "not a clips archive" in err


def test_a_fetch_archive_pages_through_the_clips_and_opens_centrally(
    box: tuple[Path, Path, KeptClips], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, key, sink = box
    n = len(sink.plain)
    first = pack_clips(data, None, n - 1, "central")
    assert len(first.stems) == n - 1 and first.remaining == 1
    rest = pack_clips(data, first.stems[-1], 50, "central")
    assert len(rest.stems) == 1 and rest.remaining == 0
    assert pack_clips(data, rest.stems[-1], 50, "central").stems == ()
    exports = [e for e in read_chain(audit_path(data)).entries if e.get("action") == "export"]
    assert [e["detail"]["clips"] for e in exports] == [n - 1, 1]  # nothing sent, nothing logged

    archive = tmp_path / "central" / "clips.tar"
    archive.write_bytes(first.data)
    assert [c.stem for c in source_clips(archive)] == list(first.stems)
    out = tmp_path / "train"
    code, exported, _ = cli(
        ["clips", "export", str(archive), "--key", str(key), "--out", str(out), "--json"], capsys
    )
    assert code == 0 and sum(exported["written"].values()) == n - 1
    # Logged beside the archive, where central keeps what the box sent.
    assert any(e.get("action") == "clips.open" for e in read_chain(audit_path(archive.parent)).entries)


def test_clips_expire_with_the_recordings_retention(box: tuple[Path, Path, KeptClips]) -> None:
    data, _key, _sink = box
    confirmed = {c.stem for c in source_clips(data) if c.confirmed}
    alarms: list[tuple[str, str]] = []
    now = dt.datetime.now(dt.UTC)
    assert expire_clips(data, now + dt.timedelta(days=59), 60, 1095, lambda *a: alarms.append(a)) == []
    gone = expire_clips(data, now + dt.timedelta(days=61), 60, 1095, lambda *a: alarms.append(a))
    assert gone and confirmed.isdisjoint(gone)
    assert {c.stem for c in source_clips(data)} == confirmed
    assert not any((data / "clips").glob(f"{gone[0]}*"))  # the label goes with the audio
    assert sorted(
        expire_clips(data, now + dt.timedelta(days=1096), 60, 1095, lambda *a: alarms.append(a))
    ) == sorted(confirmed)
    assert source_clips(data) == [] and alarms == []


def test_clips_kept_in_one_clock_tick_do_not_overwrite_each_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = generate_keypair(tmp_path / "central")
    sink = SealedClipSink(tmp_path / "data", str(pair.public_path), lambda *a: None)
    frozen = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)

    class StoppedClock(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> StoppedClock:  # type: ignore[override]
            return frozen  # type: ignore[return-value]

    monkeypatch.setattr("edge.detect.clips.dt.datetime", StoppedClock)
    for i in range(3):
        sink.save(np.full(800, i, np.int16), {"category": "threat", "label": "unconfirmed"})
    stems = [c.stem for c in source_clips(tmp_path / "data")]
    assert len(set(stems)) == 3 == sink.stored()
    assert all(re.match(r"^20261206T090000000000-threat(-\d)?$", s) for s in stems)


def test_without_a_key_no_clip_is_kept(tmp_path: Path) -> None:
    alarms: list[tuple[str, str]] = []
    sink = SealedClipSink(tmp_path, None, lambda *a: alarms.append(a))
    sink.save(np.zeros(16000, np.int16), {"keyword": "ssibal", "label": "confirmed"})
    assert not (tmp_path / "clips").exists()
    SealedClipSink(tmp_path, "not-a-key", lambda *a: alarms.append(a))
    assert alarms and alarms[0][0] == "clips.no_key"


def test_archive_members_that_are_not_clips_are_ignored() -> None:
    import tarfile

    from edge.detect.clips import archive_clips

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:") as archive:
        for name, content in [
            ("../evil.wav.sealed", b"x"),
            ("a" + LABEL_SUFFIX, b"{not json"),
            ("a" + SEALED_SUFFIX, b"blob"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    clips = archive_clips(buffer.getvalue())
    assert [(c.stem, c.sealed, c.label) for c in clips] == [("a", b"blob", None)]
    assert clips[0].training_folder() == (None, "no label beside the clip")
