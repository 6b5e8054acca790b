"""The training pipeline's pieces that need no TensorFlow: keyword file, text, espeak-ng, line chain."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "models"))

from pipeline import audio, build, text  # noqa: E402

from edge.detect.features import N_MELS, WINDOW_FRAMES  # noqa: E402


def test_keyword_file_covers_the_required_words_and_categories() -> None:
    groups, near = text.load_keywords()
    spoken = {w for g in groups for w in g.say}
    for word in [
        "씨발",
        "시발",
        "씨팔",
        "개새끼",
        "병신",
        "미친놈",
        "미친년",
        "좆",
        "꺼져",
        "죽여버린다",
        "죽여버릴거야",
        "죽인다",
    ]:
        assert word in spoken, word
    assert {g.category for g in groups} == {"profanity", "threat", "sexual"}
    assert {
        "시발점",
        "십팔번",
        "개발자",
        "개미",
        "병실",
        "시바견",
        "미친 듯이",
        "맛이 죽인다",
        "병신년",
    } <= set(near)
    assert not spoken & set(near)


def test_train_and_test_text_and_voices_are_disjoint() -> None:
    assert not set(text.split(text.TEMPLATES, True)) & set(text.split(text.TEMPLATES, False))
    assert not set(text.split(text.CARRIERS, True)) & set(text.split(text.CARRIERS, False))
    assert not set(audio.voices(True)) & set(audio.voices(False))
    rng = random.Random(3)
    assert all("{" not in text.ordinary_sentence(rng, True) for _ in range(50))


def test_fresh_sentences_are_heard_by_no_training_and_no_threshold_choice() -> None:
    rng = random.Random(11)
    train = {text.ordinary_sentence(rng, False) for _ in range(3000)}
    held = {text.ordinary_sentence(rng, True) for _ in range(3000)}
    fresh = {text.fresh_sentence(rng) for _ in range(3000)}
    assert not fresh & (train | held)
    # Training hears the new even half; the dev/test streams keep only TEMPLATES' held-out quarter.
    assert "주말에도 문 여나요" in train and "주말에도 문 여나요" not in held
    assert "카드 결제도 되나요" in fresh and "카드 결제도 되나요" not in train
    vocabulary = random.Random(12)
    fresh_words = {w for _ in range(20000) for w in text.fresh_sentence(vocabulary).split()}
    shuffled_words = {w for _ in range(200) for w in text.shuffled(rng, True, "fresh").split()}
    assert "결제도" in shuffled_words and shuffled_words <= fresh_words


def test_everyday_and_unheard_sentences_stay_apart_from_training_and_each_other() -> None:
    from pipeline import build, pool

    rng = random.Random(13)
    train = {text.everyday_sentence(rng, False) for _ in range(5000)}
    held = {text.everyday_sentence(rng, True) for _ in range(5000)}
    earlier = {text.ordinary_sentence(rng, t) for t in (False, True) for _ in range(3000)}
    earlier |= {text.fresh_sentence(rng) for _ in range(3000)}
    assert train and held and not held & train and not (held | train) & earlier
    assert "주말 아침부터 드릴 소리가 나요" in train and "위임장 양식은 어디서 받아요" in held
    # Only the pools' everyday mix says them: the template mix and every earlier held-out set are as before.
    assert "everyday" not in pool.NEGATIVE_MIXES["templates"]
    mix = pool.NEGATIVE_MIXES["everyday"]
    assert abs(sum(mix.values()) - 1) < 1e-9 and mix["everyday"] > 0
    assert build.STREAM_SETS["everyday"][1] == ("everyday", "everyday_shuffled")
    held_words = {w for _ in range(20000) for w in text.everyday_sentence(rng, True).split()}
    mixed = [text.shuffled(rng, True, "everyday").split() for _ in range(200)]
    assert all(4 <= len(ws) <= 10 and set(ws) <= held_words for ws in mixed)
    # The unheard stream's sentence types are said by no other set, and only the stage-16 pool mix trains on them.
    unheard = {text.unheard_sentence(rng) for _ in range(3000)}
    assert unheard and not unheard & (train | held | earlier)
    assert build.STREAM_SETS["unheard"][1] == ("unheard", "unheard_shuffled")
    saying = {name for name, mix in pool.NEGATIVE_MIXES.items() for k in mix if k.startswith("unheard")}
    assert saying == {"unheard"} and abs(sum(pool.NEGATIVE_MIXES["unheard"].values()) - 1) < 1e-9


def test_heated_sentences_are_said_by_no_pool_and_no_other_set_and_upset_ones_only_by_the_upset_mix() -> None:
    from pipeline import build, pool

    rng = random.Random(23)
    heated = {text.heated_sentence(rng) for _ in range(3000)}
    upset = {text.upset_sentence(rng) for _ in range(3000)}
    others = {text.everyday_sentence(rng, t) for t in (False, True) for _ in range(5000)}
    others |= {text.ordinary_sentence(rng, t) for t in (False, True) for _ in range(3000)}
    for say in (text.fresh_sentence, text.unheard_sentence, text.later_sentence):
        others |= {say(rng) for _ in range(3000)}
    assert len(text.HEATED_TEMPLATES) == len(set(text.HEATED_TEMPLATES)) == 80
    assert len(text.UPSET_TRAIN_TEMPLATES) == len(set(text.UPSET_TRAIN_TEMPLATES)) == 120
    assert heated and upset and not heated & (others | upset) and not upset & others
    written = set(text.TEMPLATES + text.MORE_TEMPLATES + text.EVERYDAY_TEMPLATES + text.UNHEARD_TEMPLATES)
    written |= set(text.LATER_TEMPLATES + text.CARRIERS)
    assert not set(text.HEATED_TEMPLATES) & (written | set(text.UPSET_TRAIN_TEMPLATES))
    assert build.STREAM_SETS["heated"][1] == ("heated", "heated_shuffled")
    assert not {k for mix in pool.NEGATIVE_MIXES.values() for k in mix if k.startswith("heated")}
    saying = {name for name, mix in pool.NEGATIVE_MIXES.items() for k in mix if k.startswith("upset")}
    assert saying == {"upset"} and abs(sum(pool.NEGATIVE_MIXES["upset"].values()) - 1) < 1e-9
    assert not {k for s in build.STREAM_SETS.values() for k in s[1] if k.startswith("upset")}


def test_later_sentences_are_said_by_no_pool_and_no_other_set() -> None:
    from pipeline import build, pool

    rng = random.Random(19)
    later = {text.later_sentence(rng) for _ in range(3000)}
    others = {text.everyday_sentence(rng, t) for t in (False, True) for _ in range(5000)}
    others |= {text.ordinary_sentence(rng, t) for t in (False, True) for _ in range(3000)}
    others |= {text.fresh_sentence(rng) for _ in range(3000)} | {
        text.unheard_sentence(rng) for _ in range(3000)
    }
    assert len(text.LATER_TEMPLATES) == len(set(text.LATER_TEMPLATES)) == 80
    assert later and not later & others
    written = set(text.TEMPLATES + text.MORE_TEMPLATES + text.EVERYDAY_TEMPLATES + text.UNHEARD_TEMPLATES)
    assert not set(text.LATER_TEMPLATES) & written
    assert build.STREAM_SETS["later"][1] == ("later", "later_shuffled")
    assert not {k for mix in pool.NEGATIVE_MIXES.values() for k in mix if k.startswith("later")}
    # The confusions stage 16 trains on are training-only near-misses: the held-out near-miss sets stay as before.
    # Only the unheard mix adds them, after the other lists, so the earlier stages' pools render as they did.
    _groups, held_near = text.load_keywords()
    _groups, train_near = text.load_keywords(training=True)
    _groups, stage16_near = text.load_keywords(training=True, confusions=True)
    assert "해 주셔서 감사해요" in stage16_near and "해 주셔서 감사해요" not in train_near + held_near
    assert stage16_near[: len(train_near)] == train_near and train_near[: len(held_near)] == held_near
    assert {"unheard"} == pool.MIXES_WITH_CONFUSIONS


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng missing")
def test_everyday_stream_kinds_render_held_out_sentences_through_the_line() -> None:
    from pipeline import build

    rng, nrng = random.Random(17), np.random.default_rng(17)
    babble = build.babble_track(random.Random(1), 5.0)
    pcm, sentence = build.render_negative("everyday", [], rng, nrng, True, babble)
    assert pcm.dtype == np.int16 and pcm.size > 8000 * 0.5 and np.abs(pcm).max() > 100
    held = {text.everyday_sentence(random.Random(k), True) for k in range(5000)}
    assert sentence in held
    _pcm, words = build.render_negative("everyday_shuffled", [], rng, nrng, False, babble)
    train_words = {w for k in range(5000) for w in text.everyday_sentence(random.Random(k), False).split()}
    assert set(words.split()) <= train_words


@pytest.mark.skipif(not text.LEXICON_FILE.exists(), reason="hunspell-ko not installed")
def test_lexicon_word_salad_is_hangul_without_keyword_stems_or_fresh_words() -> None:
    words = text.lexicon()
    assert len(words) > 50_000
    assert all("가" <= ch <= "힣" for w in words[:: len(words) // 500] for ch in w)  # syllables, not jamo
    assert not [w for w in words if any(stem in w for stem in text.ABUSIVE_STEMS)]
    assert "병신" not in words and "개새끼" not in words and "바느질" in words
    fresh_words = {w for t in text.FRESH_TEMPLATES for w in t.split()}
    assert not fresh_words & set(words)
    salad = [text.word_salad(random.Random(k), False).split() for k in range(50)]
    assert all(3 <= len(ws) <= 8 for ws in salad) and len({w for ws in salad for w in ws}) > 150
    # The dev stream's salad (test=True) draws from a quarter of the words that training never says.
    held = {w for k in range(200) for w in text.word_salad(random.Random(k), True).split()}
    assert held and not held & set(text.split(words, False))


def test_syllable_distance_follows_korean_sound_classes() -> None:
    assert text.syllable_distance("병", "병") == 0
    assert text.syllable_distance("좆", "졷") == 0  # ㅈ final is spoken ㄷ
    assert text.syllable_distance("빵", "방") == text.syllable_distance("팡", "방") == 0.3  # one place
    assert text.syllable_distance("게", "개") == 0.3  # ㅔ/ㅐ merged
    assert text.syllable_distance("가", "나") == 1.0
    assert text.syllable_distance("병", "변") == 0.5  # two nasal finals
    assert text.sound_distance("병신", "변신하다") == 0.5  # the closest stretch of the word counts
    assert text.sound_distance("좆같은", "똑같은") < text.sound_distance("좆같은", "노란색")
    assert text.sound_distance("병신아", "병신") == float("inf")  # shorter than the target


@pytest.mark.skipif(not text.LEXICON_FILE.exists(), reason="hunspell-ko not installed")
def test_phonetic_neighbours_are_close_dictionary_words_split_like_the_salad() -> None:
    groups, _near = text.load_keywords()
    targets = text.neighbour_targets(groups)
    assert {"병신", "꺼져", "좆같은", "죽여버린다"} <= set(targets) and "진짜" not in targets
    train = {text.phonetic_neighbour(random.Random(k), False) for k in range(3000)}
    held = {text.phonetic_neighbour(random.Random(k), True) for k in range(3000)}
    assert len(train) > 500 and len(held) > 200
    assert "똑같은" in train | held and "변신" in train | held  # the hard words the dev stream found
    assert not train & held and held <= set(text.split(text.lexicon(), True))
    for word in list(held)[:50]:
        assert min(text.sound_distance(t, word) for t in targets) <= 2.2
    assert "바느질" not in train | held


def test_train_only_near_misses_stay_out_of_the_held_out_list() -> None:
    _groups, held = text.load_keywords()
    _groups, train = text.load_keywords(training=True)
    assert train[: len(held)] == held  # the held-out sets draw from the same list, so they render the same
    added = set(train[len(held) :])
    assert "똑같은" in added and "수수료가" in added
    assert not added & set(held)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_line_chain_gives_band_limited_8khz_telephone_audio() -> None:
    x = audio.speak("안녕하세요 주민센터입니다", audio.Voice("f2", 50, 160, 0))
    assert x.size > audio.ESPEAK_RATE * 0.5
    y = audio.line_chain(x, np.random.default_rng(0), speed=1.1)
    assert abs(y.size / audio.LINE_RATE - x.size / audio.ESPEAK_RATE / 1.1) < 0.05
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size))) ** 2
    freqs = np.fft.rfftfreq(y.size, 1 / audio.LINE_RATE)
    assert spectrum[freqs < 150].sum() < 0.05 * spectrum.sum()
    # G.711 leaves at most 256 distinct levels.
    assert np.unique(np.round(y, 6)).size <= 256


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_wideband_renders_are_the_same_draws_without_the_band_pass() -> None:
    x = audio.speak("네 주민센터 민원실입니다", audio.Voice("m3", 40, 150, 0))

    def low_share(band: bool) -> tuple[float, int]:
        y = audio.line_chain(x, np.random.default_rng(5), speed=0.95, band=band)
        spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size))) ** 2
        freqs = np.fft.rfftfreq(y.size, 1 / audio.LINE_RATE)
        return float(spectrum[(freqs > 50) & (freqs < 250)].sum() / spectrum.sum()), y.size

    (narrow, n1), (wide, n2) = low_share(True), low_share(False)
    assert n1 == n2  # the same random draws: only the filter differs
    assert wide > 5 * narrow


def test_held_out_sets_pool_into_one_with_their_streams_end_to_end() -> None:
    from pipeline.evaluate import Material, episodes, merged, spans

    def part(seconds: int, fire_at: list[float]) -> Material:
        m = Material.__new__(Material)
        m.pos, m.starts, m.near = [(1, 0.5, None, None, None, None)], [0.1], [(None, None, None)]
        m.stream = np.zeros(seconds * 8000, dtype=np.int16)
        m.hours = seconds / 3600
        m.stream_t = np.arange(0.1, seconds, 0.1)
        m.stream_s1 = np.zeros((m.stream_t.size, 3), dtype=np.float32)
        for t in fire_at:
            m.stream_s1[np.abs(m.stream_t - t) < 0.05, 1] = 0.9
        m.stream_v = np.full_like(m.stream_s1, np.nan)
        return m

    a, b = part(10, [2.0, 9.9]), part(20, [0.1, 15.0])
    both = merged([a, b])
    assert merged([a]) is a
    assert len(both.pos) == 2 and both.starts == [0.1, 0.1] and len(both.near) == 2
    assert both.hours == a.hours + b.hours and both.stream.size == (10 + 20) * 8000
    assert np.all(np.diff(both.stream_t) > 0)  # b's times follow a's
    assert both.spans == [(0.0, 10.0), (10.0, 30.0)] and spans(a) == [(0.0, 10.0)]
    # b's first crossing comes 0.2 s after a's last: one refractory episode, as on one continuous stream.
    assert episodes(both.stream_t, both.stream_s1[:, 1], 0.5) == 3
    # A stream-only set (evaluate.py --dev-extra) adds ordinary speech to dev and no clips.
    salad = part(5, [4.0])
    salad.pos, salad.starts, salad.near = [], [], []
    with_salad = merged([a, b, salad])
    assert len(with_salad.pos) == 2 and len(with_salad.near) == 2
    assert episodes(with_salad.stream_t, with_salad.stream_s1[:, 1], 0.5) == 4
    # Parts kept without their audio (pricing.py's cache) are placed by their hours just the same.
    b.stream = np.zeros(0, dtype=np.int16)
    scores_only = merged([b, a])
    assert np.all(np.diff(scores_only.stream_t) > 0) and scores_only.stream_t[-1] > 29.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_fresh_stream_is_scored_for_false_accepts_with_the_shipped_thresholds(tmp_path: Path) -> None:
    from pipeline import build
    from pipeline.evaluate import Material, fresh_report

    from edge.detect.detector import AbuseDetector
    from edge.detect.model import KwsModel
    from edge.detect.settings import DetectionConfig

    path = tmp_path / "fresh.npz"
    build.write_stream_set(path, "fresh", 9, 20 / 3600, build.babble_track(random.Random(1), 5.0))
    said = np.load(path)["stream_text"]
    vocabulary = random.Random(12)
    fresh_words = {w for _ in range(20000) for w in text.fresh_sentence(vocabulary).split()}
    assert len(said) >= 3 and all(set(s.split()) <= fresh_words for s in said)
    model = ROOT / "models" / "kws.tflite"
    meta = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    names = [c["id"] for c in meta["classes"]]
    config = DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False, model_path=model)
    m = Material(AbuseDetector(config, KwsModel(model)), path, len(names))
    assert m.pos == [] and m.near == [] and abs(m.hours * 3600 - 20) < 2
    assert m.stream_t.size > 150  # one inference per 100 ms of voiced stream
    out = fresh_report(m, names, meta["thresholds"], None, 0.0)
    assert out is not None and set(out) == {"alert", "warn"}
    assert out["warn"]["stream_hours"] == round(m.hours, 3)
    # Zero thresholds fire on every class at the first hop: the count is of the stream, not a constant.
    zero = fresh_report(m, names, {t: dict.fromkeys(names, 0.0) for t in ("alert", "warn")}, None, 0.0)
    assert zero is not None and zero["warn"]["false_accepts"] >= len(names)


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None or not text.LEXICON_FILE.exists(),
    reason="espeak-ng or hunspell-ko missing",
)
def test_neighbours_stream_says_held_out_neighbours_and_is_reported_by_name(tmp_path: Path) -> None:
    from pipeline import build
    from pipeline.evaluate import Material, more_fresh_reports

    from edge.detect.detector import AbuseDetector
    from edge.detect.model import KwsModel
    from edge.detect.settings import DetectionConfig

    path = tmp_path / "neighbours.npz"
    build.write_stream_set(path, "neighbours", 9, 15 / 3600, build.babble_track(random.Random(1), 5.0))
    held = {text.phonetic_neighbour(random.Random(k), True) for k in range(5000)}
    said = [set(s.split()) for s in np.load(path)["stream_text"]]
    assert len(said) >= 3 and all(words & held for words in said)
    model = ROOT / "models" / "kws.tflite"
    meta = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    names = [c["id"] for c in meta["classes"]]
    config = DetectionConfig(inline=True, shouting_enabled=False, calibration_enabled=False, model_path=model)
    m = Material(AbuseDetector(config, KwsModel(model)), path, len(names))
    out = more_fresh_reports([path], [m], names, meta["thresholds"], None, 0.0)
    assert list(out) == ["neighbours"] and out["neighbours"] is not None
    assert out["neighbours"]["warn"]["stream_hours"] == round(m.hours, 3) > 0


def test_tiny_training_run_when_tensorflow_is_installed(tmp_path: Path) -> None:
    train_py = ROOT / "models" / ".venv-train" / "bin" / "python"
    if not train_py.exists():
        pytest.skip("no models/.venv-train (TensorFlow is only needed to retrain)")

    def run(*args: str) -> str:
        done = subprocess.run(
            args, cwd=ROOT / "models", check=True, capture_output=True, text=True, timeout=300
        )
        return done.stdout

    # A site's real clips: a positive (mono 16 kHz) and an ordinary call (both legs, 44.1 kHz).
    extra = tmp_path / "site"
    (extra / "ssibal").mkdir(parents=True)
    (extra / "negative").mkdir()
    noise = np.random.default_rng(3).standard_normal((44100 * 3, 2)).astype(np.float32) * 0.05
    sf.write(extra / "ssibal" / "a.wav", noise[:24000, 0], 16000)
    sf.write(extra / "negative" / "call.wav", noise, 44100)
    run(
        sys.executable,
        "-m",
        "pipeline.build",
        "--scale",
        "0.01",
        "--out",
        str(tmp_path),
        "--extra",
        str(extra),
    )
    real = np.load(tmp_path / "real.npz")
    per_leg = (real["y"] == 0).sum() // 2
    assert (real["y"] > 0).sum() == len(build.REAL_POSITIVE_OFFSETS)
    assert per_leg > 0 and (real["y"] == 0).sum() == 2 * per_leg
    pool = tmp_path / "pool"
    run(sys.executable, "-m", "pipeline.pool", "--out", str(pool), "--per-group", "1", "--negatives", "4")
    train = [
        str(train_py),
        "pipeline/train.py",
        "--work",
        str(tmp_path),
        "--epochs",
        "1",
        "--negatives",
        "200",
    ]
    run(*train, "--pool", str(pool), "--hard", "50", "--mine-every", "1", "--width", "16")
    assert (tmp_path / "kws.tflite").stat().st_size > 5000
    assert json.loads((tmp_path / "train.json").read_text())["output"] == "logits"
    # The int8 model rebuilt as float weights gives the int8 model's logits (up to quantization).
    check = (
        "import sys, numpy as np, tensorflow as tf; sys.path.insert(0, 'pipeline'); import train;"
        f"path = {str(tmp_path / 'kws.tflite')!r}; model = train.from_tflite(__import__('pathlib').Path(path));"
        "it = tf.lite.Interpreter(path); it.allocate_tensors();"
        "i, o = it.get_input_details()[0], it.get_output_details()[0];"
        "(si, zi), (so, zo) = i['quantization'], o['quantization'];"
        "x = np.load(sys.argv[1])['x'][:40].astype(np.float32); a = model.predict(x[..., None], verbose=0); b = [];"
        "[(it.set_tensor(i['index'], np.clip(np.round(w / si + zi), -128, 127).astype(np.int8)[None, ..., None]),"
        " it.invoke(), b.append((it.get_tensor(o['index']).astype(np.float32) - zo) * so)) for w in x];"
        "print(np.corrcoef(a.ravel(), np.concatenate(b).ravel())[0, 1])"
    )
    out = run(str(train_py), "-c", check, str(tmp_path / "train.npz"))
    assert float(out.split()[-1]) > 0.98, out
    # Training continues from the int8 file; the rebuilt model is the folded form, exported the same way.
    # The continuation mines the positives it hears least as their own keyword (stage 18).
    out = run(
        *train,
        "--init",
        str(tmp_path / "kws.tflite"),
        "--out",
        str(tmp_path / "continued.tflite"),
        "--hard-positives",
        "5",
        "--mine-every",
        "1",
    )
    assert "mined 5 hard positives" in out, out
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["continued_from"].endswith("kws.tflite") and report["width"] == 16
    assert report["hard_positives"] == 5 and report["hard_positive_repeat"] == 3
    assert (tmp_path / "continued.tflite").stat().st_size > 5000
    # A soup of the first run and its continuation: one int8 model of the same shape, its record says so.
    soup = [
        str(train_py),
        "pipeline/soup.py",
        str(tmp_path / "kws.tflite"),
        str(tmp_path / "continued.tflite"),
    ]
    run(*soup, "--out", str(tmp_path / "soup"), "--pool", str(pool), "--weights", "1", "3")
    report = json.loads((tmp_path / "soup" / "train.json").read_text())
    assert report["soup_weights"] == [1.0, 3.0] and report["width"] == 16 and len(report["soup_of"]) == 2
    assert (tmp_path / "soup" / "kws.tflite").stat().st_size > 5000
    # Its weights are the weighted mean of the ingredients'; other shapes are refused.
    check = "\n".join(
        [
            "import sys, numpy as np",
            "from pathlib import Path",
            "sys.path.insert(0, 'pipeline')",
            "import train, soup",
            f"a, b = (train.from_tflite(Path({str(tmp_path)!r}) / n) for n in ('kws.tflite', 'continued.tflite'))",
            "wa, wb = a.get_weights(), b.get_weights()",
            "mixed = soup.soup([a, b], [1.0, 3.0]).get_weights()",
            "error = max(float(np.abs(m - (0.25 * x + 0.75 * y)).max()) for m, x, y in zip(mixed, wa, wb))",
            "print(error, float(np.abs(wa[0] - wb[0]).max()))",
            "wide = train.widened(train.from_tflite(Path(sys.argv[1])), 24, 3)",
            "try:",
            "    soup.soup([b, wide], [1, 1])",
            "    print('mixed')",
            "except SystemExit:",
            "    print('refused')",
        ]
    )
    out = run(str(train_py), "-c", check, str(tmp_path / "kws.tflite"))
    error, spread, verdict = out.split()[-3:]
    assert float(error) < 1e-6 < float(spread) and verdict == "refused", out
    bad = subprocess.run(
        [*soup, "--out", str(tmp_path / "bad"), "--pool", str(pool), "--weights", "1"],
        cwd=ROOT / "models",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "one non-negative weight per model" in bad.stderr
    # Widening keeps the function: with no noise the wider network gives the same logits.
    check = (
        "import sys, numpy as np; sys.path.insert(0, 'pipeline'); import train;"
        f"model = train.from_tflite(__import__('pathlib').Path({str(tmp_path / 'kws.tflite')!r}));"
        "wide = train.widened(model, 24, 3, noise=0.0);"
        "x = np.load(sys.argv[1])['x'][:40].astype(np.float32)[..., None];"
        "a, b = model.predict(x, verbose=0), wide.predict(x, verbose=0);"
        "print(wide.count_params() > model.count_params(), float(np.abs(a - b).max()), float(np.abs(a).max()))"
    )
    out = run(str(train_py), "-c", check, str(tmp_path / "train.npz"))
    bigger, diff, scale = out.split()[-3:]
    assert bigger == "True" and float(diff) < 1e-4 * max(1.0, float(scale)), out
    # A widened run continues the int8 model on a pool alone and exports the wider network.
    run(*train, "--init", str(tmp_path / "kws.tflite"), "--widen", "24", "--pool", str(pool))
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["width"] == 24 and report["widened_to"] == 24
    # The site's windows are in every epoch of a pool stage (train.py --real), not left to the random draw.
    run(
        *train,
        "--init",
        str(tmp_path / "kws.tflite"),
        "--pool",
        str(pool),
        "--real",
        str(tmp_path / "real.npz"),
    )
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["real_windows"] == real["y"].size and report["real_repeat"] == 8


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_pool_shards_place_positive_windows_after_the_keyword_and_label_negatives_zero() -> None:
    from pipeline import pool

    x, y = pool._positive_shard((11, 2, 2, (0.0, 0.0, 0.0, 0.0)))
    assert x.shape == (6, WINDOW_FRAMES, N_MELS) and set(y.tolist()) == {3}
    assert np.isfinite(x.astype(np.float32)).all()
    xn, yn = pool._negative_shard((12, 3, "templates", (0.0, 0.0, 0.0, 0.0)))
    # Windows every 160 ms over three utterances of a second or more each.
    assert len(yn) >= 3 * 5 and not yn.any()
    assert xn.shape[1:] == (WINDOW_FRAMES, N_MELS)
    # Re-voiced renders: the same utterances and windows, another voice.
    xr, yr = pool._positive_shard((11, 2, 2, (1.0, 0.0, 0.0, 0.0)))
    assert np.array_equal(yr, y) and xr.shape == x.shape and not np.array_equal(xr, x)
    xnr, _ = pool._negative_shard((12, 3, "templates", (1.0, 0.0, 0.0, 0.0)))
    assert xnr.shape == xn.shape and not np.array_equal(xnr, xn)
    # Mobile-codec renders: the same again through a codec; its own random stream leaves the draws alone.
    xc, yc = pool._positive_shard((11, 2, 2, (0.0, 1.0, 0.0, 0.0)))
    assert np.array_equal(yc, y) and xc.shape == x.shape and not np.array_equal(xc, x)
    xnc, _ = pool._negative_shard((12, 3, "templates", (0.0, 1.0, 0.0, 0.0)))
    assert xnc.shape == xn.shape and not np.array_equal(xnc, xn)
    # Handset renders: the same utterances through a random telephone's response, then (here) a codec too.
    xh, yh = pool._positive_shard((11, 2, 2, (0.0, 0.0, 1.0, 0.0)))
    assert np.array_equal(yh, y) and xh.shape == x.shape and not np.array_equal(xh, x)
    xhc, _ = pool._positive_shard((11, 2, 2, (0.0, 1.0, 1.0, 0.0)))
    assert xhc.shape == x.shape and not np.array_equal(xhc, xh) and not np.array_equal(xhc, xc)
    xnh, _ = pool._negative_shard((12, 3, "templates", (0.0, 0.0, 1.0, 0.0)))
    assert xnh.shape == xn.shape and not np.array_equal(xnh, xn)
    assert np.array_equal(pool._positive_shard((11, 2, 2, (0.0, 0.0, 0.0, 0.0)))[0], x)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth not installed")
def test_pool_shards_with_music_under_the_speech_keep_the_words_and_change_the_noise() -> None:
    from pipeline import pool

    x, y = pool._positive_shard((11, 2, 2, (0.0, 0.0, 0.0, 0.0)))
    xm, ym = pool._positive_shard((11, 2, 2, (0.0, 0.0, 0.0, 1.0)))
    assert np.array_equal(ym, y) and xm.shape == x.shape and not np.array_equal(xm, x)
    assert np.isfinite(xm.astype(np.float32)).all()
    xn, _ = pool._negative_shard((12, 3, "templates", (0.0, 0.0, 0.0, 0.0)))
    xnm, ynm = pool._negative_shard((12, 3, "templates", (0.0, 0.0, 0.0, 1.0)))
    assert xnm.shape == xn.shape and not ynm.any() and not np.array_equal(xnm, xn)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_generated_timbres_are_reproducible_new_speakers(tmp_path: Path) -> None:
    names = audio.prepare_timbres(tmp_path / "a", 5, seed=11)
    again = audio.prepare_timbres(tmp_path / "b", 5, seed=11)
    variants = tmp_path / "a" / "espeak-ng-data" / "voices" / "!v"
    texts = [(variants / n).read_text(encoding="utf-8") for n in names]
    assert texts == [(tmp_path / "b" / "espeak-ng-data" / "voices" / "!v" / n).read_text() for n in again]
    assert len(set(texts)) == 5 and all("formant 1 " in t for t in texts)
    plain = audio.speak("안녕하세요", audio.Voice("", 50, 160, 0))
    rendered = [audio.speak("안녕하세요", audio.Voice(n, 50, 160, 0, str(tmp_path / "a"))) for n in names[:2]]
    for x in rendered:
        assert x.size > audio.ESPEAK_RATE * 0.3 and float(np.abs(x).max()) > 0.05
        assert x.size != plain.size or not np.array_equal(x, plain)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_verifier_data_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "v"
    subprocess.run(
        [sys.executable, "-m", "pipeline.verifier_data", "--out", str(out), "--per-group", "1",
         "--negatives", "4", "--timbres", "3", "--workers", "1", "--keep-rest", "1.0"],
        cwd=ROOT / "models", check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    data = np.load(out / "train.npz")
    meta = json.loads((out / "data.json").read_text(encoding="utf-8"))
    groups, _near = text.load_keywords()
    assert data["x"].shape[1:] == (meta["frames"], N_MELS) and meta["frames"] > WINDOW_FRAMES
    assert sorted(set(data["y"][data["y"] > 0].tolist())) == list(range(1, len(groups) + 1))
    assert (data["y"] == 0).sum() > 0 and ((data["s1"] >= 0) & (data["s1"] <= 1)).all()


def test_tail_rate_predicts_false_accepts_beyond_the_highest_dev_peak() -> None:
    """Thresholds for rates below one per dev stream: fitted on 16 h of peaks, checked on 800 h more."""
    from pipeline.evaluate import Tail, logit

    rng = np.random.default_rng(3)
    rate_per_h, hours = 30.0, 16.0

    def stream_peaks(h: float) -> np.ndarray:
        # Peak log-odds with an exponential tail (scale 0.6 above 0), as the dev streams measured.
        z = rng.exponential(0.6, rng.poisson(rate_per_h * h))
        return 1.0 / (1.0 + np.exp(-z))

    tail = Tail(list(stream_peaks(hours)), hours)
    fresh = stream_peaks(800.0)
    for wanted in (0.05, 0.2):
        thr = tail.threshold(wanted)
        # A threshold above every dev peak, yet one that fires at about the asked rate on new speech.
        assert thr > 0.5
        measured = float((fresh >= thr).sum()) / 800.0
        assert wanted / 2.5 < measured < wanted * 2.5, (wanted, measured)
    assert tail.threshold(0.05) > tail.threshold(0.2)
    assert float(logit(0.5)) == 0.0
    # No dev peaks at all: nothing to fit, the tier's floor decides.
    assert Tail([], hours).threshold(0.1) == 0.0


def _pitch(x: np.ndarray) -> np.ndarray:
    import pyworld

    x64 = x.astype(np.float64)
    f0, t = pyworld.dio(x64, audio.ESPEAK_RATE, f0_floor=60.0, f0_ceil=500.0, frame_period=5.0)
    return np.asarray(pyworld.stonemask(x64, f0, t, audio.ESPEAK_RATE))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_revoicing_keeps_the_timing_and_changes_the_voice() -> None:
    from pipeline.revoice import revoice

    x = audio.speak("서류 발급 문의 좀 드리려고요", audio.Voice("m3", 50, 160, 0))
    y = revoice(x, np.random.default_rng(4))
    assert y.dtype == np.float32 and y.size == x.size
    assert abs(float(np.abs(y).max()) - float(np.abs(x).max())) < 1e-4
    # The words end where they ended: keyword times measured on espeak's render still hold.
    assert abs(audio.voiced_end(y) - audio.voiced_end(x)) < 0.05
    # Another melody: the pitch track is not espeak's, though voiced where espeak was voiced.
    f0x, f0y = _pitch(x), _pitch(y)
    both = (f0x > 0) & (f0y > 0)
    assert both.sum() > 0.6 * (f0x > 0).sum()
    moved = np.abs(12 * np.log2(f0y[both] / f0x[both]))
    assert np.median(moved) > 0.5, np.median(moved)  # semitones
    # The same random stream gives the same voice; another gives another.
    assert np.array_equal(revoice(x, np.random.default_rng(4)), y)
    assert not np.allclose(revoice(x, np.random.default_rng(5)), y)
    assert np.array_equal(revoice(np.zeros(100, np.float32), np.random.default_rng(1)), np.zeros(100))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_revoiced_held_out_clips_are_the_same_draws_as_the_plain_ones() -> None:
    from pipeline import build
    from pipeline.revoice import revoice

    groups, near = text.load_keywords()
    babble = build.babble_track(random.Random(1), 5.0)

    def render(transform: build.Revoice | None) -> tuple[np.ndarray, float, float, str, float]:
        rng, nrng = random.Random(21), np.random.default_rng(21)
        pcm, start, end = build.render_positive(groups[2], rng, nrng, True, babble, revoice=transform)
        _neg, said = build.render_negative("near", near, rng, nrng, True, babble, revoice=transform)
        return pcm, start, end, said, rng.random() + float(nrng.random())

    vrng = np.random.default_rng(3)
    plain, revoiced = render(None), render(lambda x: revoice(x, vrng))
    assert plain[1:] == revoiced[1:]  # keyword times, the near miss said, and both random streams after
    assert plain[0].size == revoiced[0].size and not np.array_equal(plain[0], revoiced[0])


def test_frozen_scoring_counts_only_the_first_hours_of_a_stream() -> None:
    from pipeline.evaluate import Material, episodes
    from pipeline.frozen import first_hours

    m = Material.__new__(Material)
    m.hours = 2.0
    m.stream_t = np.arange(0.1, 7200.0, 0.1)
    m.stream_s1 = np.zeros((m.stream_t.size, 2), dtype=np.float32)
    for t in (100.0, 3000.0, 5000.0):
        m.stream_s1[np.abs(m.stream_t - t) < 0.05, 1] = 0.9
    m.stream_v = np.full_like(m.stream_s1, np.nan)
    cut = first_hours(m, 1.0)
    assert cut.hours == 1.0 and cut.stream_t.max() < 3600.0
    assert cut.stream_s1.shape[0] == cut.stream_t.size == cut.stream_v.shape[0]
    assert episodes(cut.stream_t, cut.stream_s1[:, 1], 0.5) == 2


def test_site_loop_keeps_sealed_clips_of_the_site_calls_and_splits_off_the_later_ones(tmp_path: Path) -> None:
    from tests.test_detect_clips import EXPECTED, fixture_of

    fixtures = ROOT / "tests" / "fixtures" / "kws"
    threat = fixture_of("threat")
    threat_word = EXPECTED[threat]["keyword"]
    parts = [sf.read(fixtures / n, dtype="int16")[0] for n in ("ordinary.wav", threat)]
    gap = np.zeros(8000, np.int16)
    # Three sentences: the site's calls hear the first two (one of them fires), the later part the third.
    pieces = [parts[0], gap, parts[1], gap, parts[0], gap]
    starts = np.cumsum([0] + [p.size for p in pieces])[[0, 2, 4]] / 8000
    stream = np.concatenate(pieces)
    np.savez(
        tmp_path / "stream.npz",
        stream=stream,
        stream_text=np.array(["ordinary", "threat", "ordinary again"]),
        stream_start_s=starts,
    )
    out = tmp_path / "site"

    def site_loop(*more: str) -> None:
        hours = str((starts[2] - 0.5) / 3600)
        args = ["--stream", str(tmp_path / "stream.npz"), "--hours", hours, "--call-s", "60", *more]
        subprocess.run(
            [sys.executable, "-m", "pipeline.site_loop", *args],
            cwd=ROOT / "models",
            check=True,
            capture_output=True,
            timeout=300,
        )

    site_loop("--out", str(out))
    report = json.loads((out / "site.json").read_text(encoding="utf-8"))
    assert report["clips_kept"] >= 1 and threat_word in report["by_keyword"]
    # No staff action on the site's calls: every clip is an ordinary-speech window for training.
    real = np.load(out / "real.npz")
    assert real["y"].size == report["real_windows"] > 0 and not real["y"].any()
    later = np.load(out / "later.npz")
    assert list(later["stream_text"]) == ["ordinary again"] and later["stream_start_s"][0] == 0.0
    assert later["stream"].size == stream.size - round(starts[2] * 8000)
    assert any((out / "box" / "clips").glob("*.wav.sealed")) and (out / "box" / "audit.jsonl").exists()
    # Abusive callers of the site: the even-numbered keyword clips are calls staff acted on (confirmed
    # positives of what the box heard), the odd-numbered ones are kept apart for scoring.
    names = [fixture_of("profanity"), threat, fixture_of("sexual"), threat]
    clips = np.empty(len(names), dtype=object)
    clips[:] = [sf.read(fixtures / n, dtype="int16")[0] for n in names]
    ids = [g.id for g in text.load_keywords()[0]]
    expected = EXPECTED
    held = {
        "pos_pcm": clips,
        "pos_group": np.array([ids.index(expected[n]["keyword"]) + 1 for n in names]),
        "pos_start": np.zeros(len(names)),
        "pos_end": np.array([expected[n]["keyword_end_s"] for n in names]),
        "stream": stream,
    }
    np.savez(tmp_path / "abusive.npz", **held)  # type: ignore[arg-type]
    more = ["--plain", str(tmp_path / "abusive.npz")]  # as if the set had been re-voiced from itself
    site_loop("--abusive", str(tmp_path / "abusive.npz"), *more, "--out", str(tmp_path / "abusive"))
    confirmed = np.load(tmp_path / "abusive" / "real.npz")["y"]
    assert sorted(set(confirmed[confirmed > 0])) == sorted({held["pos_group"][0], held["pos_group"][2]})
    kept_apart = np.load(tmp_path / "abusive" / "held.npz", allow_pickle=True)
    assert list(kept_apart["pos_group"]) == list(held["pos_group"][1::2])
    own = np.load(tmp_path / "abusive" / "site_half.npz", allow_pickle=True)
    assert list(own["pos_group"]) == list(held["pos_group"][0::2])
    plain = np.load(tmp_path / "abusive" / "plain_held.npz", allow_pickle=True)
    assert list(plain["pos_group"]) == list(held["pos_group"][1::2]) and plain["stream"].size <= 60 * 8000
    # Staff warn 1.5 s after each word, and the model misses every one (thresholds none reaches): the box
    # keeps staff-flagged clips, which the run labels as a person would, so they become positives too.
    deaf = tmp_path / "deaf"
    deaf.mkdir()
    (deaf / "kws.tflite").write_bytes((ROOT / "models" / "kws.tflite").read_bytes())
    meta = json.loads((ROOT / "models" / "kws.json").read_text(encoding="utf-8"))
    meta["thresholds"] = {tier: {k: 1.0 for k in v} for tier, v in meta["thresholds"].items()}
    (deaf / "kws.json").write_text(json.dumps(meta), encoding="utf-8")
    # A second set's callers (--more-abusive): all of its clips are the site's too, none held out.
    np.savez(tmp_path / "more.npz", **{k: v[1::2] if k.startswith("pos_") else v for k, v in held.items()})
    flagged = tmp_path / "flagged"
    site_loop(
        "--abusive",
        str(tmp_path / "abusive.npz"),
        "--more-abusive",
        str(tmp_path / "more.npz"),
        "--staff-after",
        "1.5",
        "--model",
        str(deaf / "kws.tflite"),
        "--out",
        str(flagged),
    )
    report = json.loads((flagged / "site.json").read_text(encoding="utf-8"))
    assert report["staff_flagged"] == report["staff_flagged_labelled"] == 4
    # The export's hint (the model's best score below its thresholds) names every word, near its end.
    assert report["hint_names_word"] == 4
    assert all(abs(e) <= 0.3 for e in report["hint_end_error_s_p10_p50_p90"])
    labels = np.load(flagged / "real.npz")["y"]
    # Each labelled positive gives a window at its end and at two earlier offsets, as synthetic ones do.
    offsets = len(build.REAL_POSITIVE_OFFSETS)
    assert sorted(labels[labels > 0]) == sorted(list(held["pos_group"]) * offsets)
    assert len(list((flagged / "export" / "unlabelled").glob("*.wav"))) == 4
    kept_apart = np.load(flagged / "held.npz", allow_pickle=True)
    assert list(kept_apart["pos_group"]) == list(held["pos_group"][1::2])
    # With the box's self-calibration on, the class that fired is raised and none is lowered (at the alert
    # tier: a warning threshold may already be at the ceiling, as 죽여버린다's is since the re-pricing).
    site_loop("--calibrate", "--out", str(tmp_path / "calibrated"))
    shipped = json.loads((ROOT / "models" / "kws.json").read_text(encoding="utf-8"))["thresholds"]
    learned = json.loads((tmp_path / "calibrated" / "calibrated" / "kws.json").read_text(encoding="utf-8"))
    assert learned["thresholds"]["alert"][threat_word] > shipped["alert"][threat_word]
    for tier in ("alert", "warn"):
        assert all(learned["thresholds"][tier][k] >= v for k, v in shipped[tier].items())


def _voiced_burst() -> np.ndarray:
    """One second of a 140 Hz voice-like buzz (harmonics to 3 kHz, vowel-like envelope) in 2 s of quiet."""
    t = np.arange(audio.LINE_RATE) / audio.LINE_RATE
    buzz = sum(np.sin(2 * np.pi * 140 * k * t + k) / k for k in range(1, 22))
    shaped = buzz * np.sin(np.pi * t) ** 0.5 * 0.3
    x = np.zeros(2 * audio.LINE_RATE)
    x[4000:12000] = shaped
    return audio.to_pcm(x.astype(np.float32))


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_mobile_codec_round_trip_keeps_length_and_timing_and_changes_the_signal() -> None:
    from pipeline import codec

    x = _voiced_burst()
    rng = np.random.default_rng(1)
    for name in codec.CODECS:
        y = codec.round_trip(x, name, rng)
        assert y.dtype == np.int16 and y.size == x.size, name
        assert not np.array_equal(y, x), name
        # The codec's delay is removed: the burst starts and ends where it did, to 5 ms.
        loud = np.nonzero(np.abs(y.astype(np.int32)) > 300)[0]
        assert abs(int(loud[0]) - 4000) <= 40 and abs(int(loud[-1]) - 11999) <= 40, (name, loud[[0, -1]])
        # Still the same sound: a speech codec keeps the waveform's shape at these rates.
        corr = np.corrcoef(x[4000:12000].astype(float), y[4000:12000].astype(float))[0, 1]
        assert corr > 0.5, (name, corr)
    # The lowest AMR mode takes less of the waveform through than the highest.
    err = {
        name: float(np.mean((codec.round_trip(x, name, np.random.default_rng(2)).astype(float) - x) ** 2))
        for name in ("amr-nb-12.2", "amr-nb-4.75")
    }
    assert err["amr-nb-4.75"] > err["amr-nb-12.2"], err
    assert codec.round_trip(np.zeros(0, np.int16), "gsm-fr", rng).size == 0
    # A plain delay is found as such.
    assert codec.codec_delay(x, np.concatenate([np.zeros(37, np.int16), x])) == 37


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")
def test_codec_set_recodes_every_clip_and_the_stream_in_place(tmp_path: Path) -> None:
    from pipeline import codec

    x = _voiced_burst()
    clips = np.empty(2, dtype=object)
    clips[:] = [x, x[:9000]]
    near = np.empty(1, dtype=object)
    near[:] = [x[::-1].copy()]
    src = tmp_path / "test.npz"
    np.savez(
        src,
        pos_pcm=clips,
        pos_group=np.array([3, 5]),
        near_pcm=near,
        stream=np.concatenate([x, x]),
        stream_text=np.array(["a", "b"]),
    )
    counts = codec.codec_set(src, tmp_path / "amr" / "test.npz", "amr-nb-4.75")
    assert counts == {"clips": 2, "near": 1, "stream_samples": 2 * x.size}
    with np.load(tmp_path / "amr" / "test.npz", allow_pickle=True) as out:
        assert sorted(out.files) == ["near_pcm", "pos_group", "pos_pcm", "stream", "stream_text"]
        assert [c.size for c in out["pos_pcm"]] == [x.size, 9000]
        assert not np.array_equal(out["pos_pcm"][1], x[:9000])
        assert out["stream"].size == 2 * x.size and not np.array_equal(out["stream"], np.concatenate([x, x]))
        assert list(out["pos_group"]) == [3, 5] and list(out["stream_text"]) == ["a", "b"]
    with pytest.raises(ValueError, match="unknown codec"):
        codec.codec_set(src, tmp_path / "x.npz", "g729")


def _scored_stream(hours: float, peaks: dict[int, list[float]], n_classes: int, seed: int):
    """A score-only Material: a stream of ``hours`` at 1 s hops with peaks of given classes and heights."""
    from pipeline.evaluate import Material

    rng = np.random.default_rng(seed)
    m = Material.__new__(Material)
    m.pos, m.starts, m.near = [], [], []
    m.stream = np.zeros(0, dtype=np.int16)
    m.hours = hours
    m.stream_t = np.arange(0.5, hours * 3600.0, 1.0)
    m.stream_s1 = np.zeros((m.stream_t.size, n_classes + 1), dtype=np.float32)
    # Ordinary speech: a low peak of every class every minute or so, log-odds with an exponential tail.
    for c in range(1, n_classes + 1):
        at = rng.choice(m.stream_t.size, int(hours * 60), replace=False)
        m.stream_s1[at, c] = 1.0 / (1.0 + np.exp(-rng.exponential(0.8, at.size)))
    for c, heights in peaks.items():
        at = rng.choice(m.stream_t.size, len(heights), replace=False)
        m.stream_s1[at, c] = heights
    m.stream_v = np.full_like(m.stream_s1, np.nan)
    return m


def test_leave_one_out_counts_every_set_on_thresholds_priced_without_it() -> None:
    from pipeline.evaluate import View
    from pipeline.pricing import counts, leave_one_out, pooled_rate, price

    names, categories = ["a", "b"], ["profanity", "threat"]
    rng = np.random.default_rng(5)
    dev = _scored_stream(16.0, {}, 2, seed=1)
    # Keyword clips: peaks spread over the range where thresholds are placed, so a lower one recalls more.
    t = np.arange(0.0, 2.0, 0.1)
    for group in (1, 2):
        for height in 1.0 / (1.0 + np.exp(-rng.uniform(1.0, 9.0, 40))):
            s = np.zeros((t.size, 3), dtype=np.float32)
            s[10, group] = height
            dev.pos.append((group, 1.0, t, s, np.full_like(s, np.nan), None))
            dev.starts.append(0.5)
    # One set of sentence types holds a word that class a mistakes, said many times; the others do not.
    loud = [0.99995 - 0.00003 * i for i in range(30)]
    folds = {
        "plain1": _scored_stream(8.0, {}, 2, seed=2),
        "tripping": _scored_stream(8.0, {1: loud}, 2, seed=3),
        "plain2": _scored_stream(8.0, {}, 2, seed=4),
    }
    got = leave_one_out([dev], folds, names, categories)
    assert set(got) == set(folds)
    without, row = got["tripping"]
    # Priced without the set, class a's thresholds sit below its mistaken word: it fires there, class b not.
    fired = row["warn"]["false_accepts_per_class"]
    assert fired.get("a", 0) >= 25 and fired.get("b", 0) < 10
    assert row["alert"]["false_accepts"] >= row["warn"]["false_accepts"]
    assert row["warn"]["stream_hours"] == 8.0
    for plain in ("plain1", "plain2"):
        assert got[plain][1]["warn"]["false_accepts"] < row["warn"]["false_accepts"]
        # Priced on a set that trips class a, the other folds' thresholds for a are higher.
        assert got[plain][0]["thresholds"]["warn"]["a"] > without["thresholds"]["warn"]["a"]
    every = price([dev], list(folds.values()), names, categories)
    on_all = counts(View(folds["tripping"], None, 0.0), names, every["thresholds"])
    assert on_all["warn"]["false_accepts"] < row["warn"]["false_accepts"]
    assert every["dev_objective"] <= without["dev_objective"]  # the price of the higher thresholds
    # A stricter budget spends less of the rate on recall.
    strict = price([dev], list(folds.values()), names, categories, fa_scale=0.2)
    assert strict["dev_objective"] < every["dev_objective"]
    assert strict["thresholds"]["warn"]["b"] >= every["thresholds"]["warn"]["b"]
    # A word said a few times in one set: pooled over all the hours it is diluted and fires there; priced per
    # set, its set's own tail puts class a above it.
    few = {**folds, "tripping": _scored_stream(8.0, {1: [0.999 - 0.00003 * i for i in range(8)]}, 2, seed=3)}
    pooled_few = price([dev], list(few.values()), names, categories)
    per_set = price([dev], list(few.values()), names, categories, per_set=True)
    assert per_set["thresholds"]["warn"]["a"] > pooled_few["thresholds"]["warn"]["a"]
    fired_pooled, fired_per_set = (
        counts(View(few["tripping"], None, 0.0), names, p["thresholds"])["warn"]["false_accepts_per_class"]
        for p in (pooled_few, per_set)
    )
    assert fired_pooled.get("a", 0) >= 6 and fired_per_set.get("a", 0) == 0
    pooled = pooled_rate([r for _p, r in got.values()], "warn")
    total = sum(r["warn"]["false_accepts"] for _p, r in got.values())
    assert pooled["false_accepts"] == total and pooled["hours"] == 24.0
    assert pooled["per_hour"] == round(total / 24.0, 3)
    assert pooled["within_target"] == (total / 24.0 <= 0.5)
    # The pricing chosen is the one with the most dev recall among those whose left-out rate holds the budgets.
    from pipeline.pricing import best_holding

    def priced(objective: float, warn: float, alert: float) -> dict:
        loo = {"warn": {"per_hour": warn}, "alert": {"per_hour": alert}}
        return {"priced_on_all": {"dev_objective": objective}, "leave_one_out": loo}

    tried = {
        "loose": priced(0.6, 0.5, 1.7),
        "middle": priced(0.55, 0.25, 0.95),
        "strict": priced(0.48, 0.1, 0.6),
    }
    assert best_holding(tried) == "middle"
    assert best_holding({"loose": tried["loose"], "alert over": priced(0.5, 0.1, 1.2)}) is None


def test_pricing_caches_a_sets_scores_without_its_audio(tmp_path: Path) -> None:
    from pipeline.evaluate import frozen_model
    from pipeline.pricing import cached_material

    model = ROOT / "models" / "kws.tflite"
    config = frozen_model(model).config.model_copy(update={"balance_prior_frames": 0})
    rng = np.random.default_rng(2)
    stream = (rng.normal(0, 3000, 8000 * 6)).astype(np.int16)
    np.savez(tmp_path / "calls.npz", stream=stream)
    first = cached_material(config, tmp_path / "calls.npz", 11, tmp_path / "cache")
    kept = list((tmp_path / "cache").iterdir())
    assert len(kept) == 1 and kept[0].name.endswith(".pkl")
    assert first.stream.size == 0 and abs(first.hours - 6 / 3600) < 1e-9
    again = cached_material(config, tmp_path / "calls.npz", 11, tmp_path / "cache")
    assert np.array_equal(again.stream_t, first.stream_t) and np.array_equal(again.stream_s1, first.stream_s1)
    assert first.stream_t.size >= 59 and first.stream_s1.shape[1] == 12  # a hop every 0.1 s
    # Another file (its content changed) is scored again, not read from the cache.
    np.savez(tmp_path / "calls.npz", stream=stream[: 8000 * 3])
    third = cached_material(config, tmp_path / "calls.npz", 11, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 2 and third.stream_t.size < first.stream_t.size
    # The same network run differently (spectral balance on) gives other traces: its own cache entry.
    on = config.model_copy(update={"balance_prior_frames": 250})
    cached_material(on, tmp_path / "calls.npz", 11, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 3
    # A model whose JSON runs that balance itself is scored the same way: the same entry.
    priced = tmp_path / "priced"
    priced.mkdir()
    shutil.copy(model, priced / model.name)
    meta = json.loads(model.with_suffix(".json").read_text(encoding="utf-8"))
    meta["front_end"]["balance_prior_frames"] = 250
    (priced / "kws.json").write_text(json.dumps(meta), encoding="utf-8")
    own = config.model_copy(update={"balance_prior_frames": None, "model_path": priced / model.name})
    cached_material(own, tmp_path / "calls.npz", 11, tmp_path / "cache")
    assert len(list((tmp_path / "cache").iterdir())) == 3
    # Speech before each clip, or the stream cut into calls: scored otherwise, kept apart.
    cached_material(on, tmp_path / "calls.npz", 11, tmp_path / "cache", 0.0, 2.0)
    assert len(list((tmp_path / "cache").iterdir())) == 4


def test_evaluation_prices_with_the_balance_from_cached_scores_and_ships_the_setting(tmp_path: Path) -> None:
    fixtures = ROOT / "tests" / "fixtures" / "kws"
    expected = json.loads((fixtures / "expected.json").read_text(encoding="utf-8"))
    names = [
        c["id"] for c in json.loads((ROOT / "models" / "kws.json").read_text(encoding="utf-8"))["classes"]
    ]
    held = tmp_path / "held"
    held.mkdir()
    clips = [(f, e) for f, e in expected.items() if e]
    pos_pcm = np.empty(len(clips), dtype=object)
    pos_pcm[:] = [sf.read(fixtures / f, dtype="int16")[0] for f, _e in clips]
    near_pcm = np.empty(1, dtype=object)
    near_pcm[:] = [sf.read(fixtures / "near_miss.wav", dtype="int16")[0]]
    ordinary = sf.read(fixtures / "ordinary.wav", dtype="int16")[0]
    for split in ("dev", "test"):
        np.savez(
            held / f"{split}.npz",
            pos_pcm=pos_pcm,
            pos_group=np.array([names.index(e["keyword"]) + 1 for _f, e in clips]),
            pos_start=np.array([max(0.0, e["keyword_end_s"] - 0.5) for _f, e in clips]),
            pos_end=np.array([e["keyword_end_s"] for _f, e in clips]),
            near_pcm=near_pcm,
            stream=np.tile(ordinary, 4),
        )
    work, cache = tmp_path / "work", tmp_path / "cache"
    command = [sys.executable, str(ROOT / "models" / "pipeline" / "evaluate.py"), "--work", str(work)]
    command += ["--from-shipped", "--held", str(held), "--cache", str(cache)]
    command += ["--balance-prior", "250", "--balance-dead-zone", "1.25", "--lead-in", "5", "--call-s", "20"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    meta = json.loads((work / "kws.json").read_text(encoding="utf-8"))
    assert meta["front_end"]["balance_prior_frames"] == 250 and meta["front_end"]["balance_dead_zone"] == 1.25
    assert meta["threshold_rule"]["scoring"] == {
        "balance_prior_frames": 250,
        "balance_dead_zone": 1.25,
        "lead_in_s": 5.0,
        "call_s": 20.0,
    }
    scored = sorted((f.name, f.stat().st_mtime_ns) for f in cache.iterdir())
    assert len(scored) == 2  # dev and test, kept for the next pricing
    from edge.detect.detector import AbuseDetector
    from edge.detect.model import KwsModel
    from edge.detect.settings import DetectionConfig

    box = AbuseDetector(DetectionConfig(inline=True), KwsModel(work / "kws.tflite"))
    assert box.health()["balance_prior_frames"] == 250  # a box runs it as it was priced
    assert box.health()["balance_dead_zone"] == 1.25
    # Again: the scores come from the cache (nothing new scored) and the same thresholds are chosen.
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted((f.name, f.stat().st_mtime_ns) for f in cache.iterdir()) == scored
    assert json.loads((work / "kws.json").read_text(encoding="utf-8"))["thresholds"] == meta["thresholds"]


def test_a_clip_can_be_scored_after_the_callers_earlier_speech_on_the_same_line() -> None:
    from pipeline.evaluate import frozen_model, lead_in_speech, traces

    from edge.detect.detector import AbuseDetector
    from edge.detect.model import KwsModel

    stream = (np.random.default_rng(3).normal(0, 2000, 8000 * 120)).astype(np.int16)
    leads = lead_in_speech(stream, 20.0)
    first, second = next(leads), next(leads)
    assert first is not None and second is not None and first.size == second.size == 160000
    assert np.array_equal(first, stream[:160000]) and np.array_equal(second, stream[37 * 8000 : 57 * 8000])
    assert next(lead_in_speech(stream, 0.0)) is None
    model = ROOT / "models" / "kws.tflite"
    config = frozen_model(model).config.model_copy(update={"balance_prior_frames": 250})
    detector = AbuseDetector(config, KwsModel(model))
    clip = stream[:16000]
    t, s1, _v = traces(detector, clip, first)
    # Only the clip is traced, on its own clock; the call's balance has heard the 20 s before it.
    assert t.size == 20 and t[0] > 0 and t[-1] <= 2.0 + 1e-9
    assert detector._balance is not None and detector._balance.offset.any()
    t0, s0, _ = traces(detector, clip)
    assert np.array_equal(t0, t) and not np.array_equal(s0, s1)


def test_ci_fixtures_are_chosen_on_how_ci_plays_them_from_silence(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pipeline.evaluate import frozen_model, scored_alone, write_fixtures

    from edge.detect.detector import AbuseDetector
    from edge.detect.model import KwsModel

    shipped = frozen_model(ROOT / "models" / "kws.tflite")
    fixtures = ROOT / "tests" / "fixtures" / "kws"
    expected = json.loads((fixtures / "expected.json").read_text(encoding="utf-8"))
    name, clip = next((f, e) for f, e in expected.items() if e and e["category"] == "profanity")
    group = shipped.names.index(clip["keyword"]) + 1
    real = sf.read(fixtures / name, dtype="int16")[0]
    hops = np.arange(0.0, 3.0, 0.1)

    def seemed(end: float) -> np.ndarray:
        """Scored with speech before it (as pricing does): a clear hit of the keyword's class from its end on."""
        s = np.zeros((hops.size, len(shipped.names) + 1), dtype=np.float32)
        s[int(end * 10) :, group] = 0.999999
        return s

    # Heard alone, as CI plays it, this clip holds nothing.
    silent, silent_end = np.zeros(real.size + 1600, dtype=np.int16), clip["keyword_end_s"] + 0.3
    test = SimpleNamespace(
        pos=[
            (group, silent_end, hops, seemed(silent_end), silent),
            (group, clip["keyword_end_s"], hops, seemed(clip["keyword_end_s"]), real),
        ],
        near=[],
        stream_t=np.arange(200) * 0.1,
        stream_s=np.zeros((200, len(shipped.names) + 1)),
        stream=np.zeros(8000 * 25, dtype=np.int16),
    )
    alone = scored_alone(AbuseDetector(shipped.config, KwsModel(ROOT / "models" / "kws.tflite")), None, 0.0)
    write_fixtures(
        test, shipped.names, shipped.categories, shipped.meta["thresholds"]["warn"], alone, tmp_path
    )
    written = json.loads((tmp_path / "expected.json").read_text(encoding="utf-8"))
    # The clip the detector finds from silence, not the one that only seemed to hold it.
    assert written[name] == clip
    assert sf.read(tmp_path / name, dtype="int16")[0].size == real.size + 6400
    assert written["ordinary.wav"] is None and "near_miss.wav" not in written
