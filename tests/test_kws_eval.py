"""scripts/kws_eval.py: the real-stream benchmark on a tiny stream (valid speakers only, seeded,
table + DET PNG), its scoring rule, and its batched pass scoring the live spotter's windows."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.data.realspeech import ENV, TEST_SET
from speechrnn.data.speakers import split_of
from speechrnn.kws import KeywordConfig, KeywordEvent, KeywordSpotter
from speechrnn.model import ModelConfig, SpeechRNN, save_checkpoint

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get(ENV) or ROOT.parent / "shared/data/realspeech")
needs_shared = pytest.mark.skipif(not (SHARED / TEST_SET).is_dir(), reason=f"shared real speech not at {SHARED}")
LABELS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_"]


def load_script():
    spec = importlib.util.spec_from_file_location("kws_eval", ROOT / "scripts/kws_eval.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_classifier() -> SpeechRNN:
    torch.manual_seed(0)
    config = ModelConfig(head="classify", labels=LABELS, hidden_size=16, num_layers=1, pooling="mean")
    return SpeechRNN(config).eval()


def test_score_counts_hits_by_label_and_overlap_and_everything_else_as_false_alarms():
    kws_eval = load_script()
    truth = {
        "seconds": 3600.0,
        "pieces": [
            ("command", "yes", 10.0, 11.0, "a"),
            ("wake", "alexa", 20.0, 22.0, "b"),
            ("command", "stop", 30.0, 31.0, "c"),
        ],
        "commands": [("yes", 10.0, 11.0, 10.2, 10.7, "a"), ("stop", 30.0, 31.0, 30.3, 30.6, "c")],
    }
    events = [
        KeywordEvent("yes", 9.9, 10.9, 0.9, 10.9),  # hit, 200 ms after the word ended
        KeywordEvent("yes", 10.5, 11.5, 0.9, 11.5),  # the same clip again: a false alarm
        KeywordEvent("go", 20.5, 21.5, 0.9, 21.5),  # on a wake phrase
        KeywordEvent("no", 30.0, 30.8, 0.9, 30.8),  # wrong label on a command
    ]
    result = kws_eval.score(events, truth)
    assert (result["misses"], result["false_alarms"], result["false_alarms_per_hour"]) == (1, 3, 3.0)
    assert result["miss_rate"] == 0.5
    assert result["miss_interval"] is None  # two speakers are too few to resample
    assert result["latency_median"] == pytest.approx(0.2)
    assert result["false_alarms_on"] == {"command": 2, "wake": 1}
    assert result["per_command"]["stop"] == {"clips": 1, "misses": 1, "false_alarms": 0}
    assert result["per_command"]["yes"] == {"clips": 1, "misses": 0, "false_alarms": 1}


def test_the_miss_rate_interval_resamples_the_commands_speakers():
    kws_eval = load_script()
    speakers = [f"{i:08x}" for i in range(6)]
    commands = [("yes", 10.0 * k, 10.0 * k + 1, 10.0 * k + 0.2, 10.0 * k + 0.7, f"yes/{s}_nohash_{n}.wav")
                for k, (s, n) in enumerate((s, n) for s in speakers for n in range(3))]  # fmt: skip
    truth = {"seconds": 3600.0, "pieces": [("command", *c[:3], c[5]) for c in commands], "commands": commands}
    found = [KeywordEvent("yes", c[1], c[2], 0.9, c[2]) for c in commands if not c[5].startswith("yes/00000000")]
    result = kws_eval.score(found, truth)
    assert result["miss_rate"] == pytest.approx(1 / 6)  # one speaker's three clips missed
    low, high = result["miss_interval"]
    assert low == 0.0 and 1 / 6 < high <= 0.5  # 0 when that speaker is not drawn; never all six


def test_batched_pass_scores_exactly_the_live_spotters_windows(tmp_path):
    kws_eval = load_script()
    model = tiny_classifier()
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(3.35 * 16000))).astype(np.float32)
    sf.write(tmp_path / "s.wav", audio, 16000, subtype="FLOAT")
    batched = kws_eval.stream_posteriors(model, tmp_path / "s.wav", 16000, 1600, batch=4)
    spotter = KeywordSpotter(model, KeywordConfig(hop=0.1, threshold=1.0))
    live = [p.numpy() for b in range(0, audio.size, 1000) for _, p in spotter.windows(audio[b : b + 1000])]
    assert batched.shape == (33, len(LABELS)) == (len(live), len(LABELS))
    np.testing.assert_allclose(batched, np.stack(live), atol=1e-5)


def test_an_encoder_stream_model_is_scored_by_the_live_spotters_one_pass(tmp_path):
    kws_eval = load_script()
    torch.manual_seed(0)
    config = ModelConfig(
        head="classify", labels=LABELS, hidden_size=8, num_layers=1, chunk_size=4, right_context=2, pool_window=20
    )
    model = SpeechRNN(config).eval()
    audio = (0.1 * np.random.default_rng(1).standard_normal(int(12.5 * 16000))).astype(np.float32)
    sf.write(tmp_path / "s.wav", audio, 16000, subtype="FLOAT")
    spotter = KeywordSpotter(model, KeywordConfig(hop=0.1))
    posteriors = kws_eval.spotter_posteriors(spotter, tmp_path / "s.wav")  # 10 s blocks
    live = [p.numpy() for b in range(0, audio.size, 1600) for _, p in spotter.windows(audio[b : b + 1600])]
    assert spotter.hop == pytest.approx(0.12) and posteriors.shape == (len(live), len(LABELS))
    np.testing.assert_allclose(posteriors, np.stack(live), atol=1e-6)


def tiny_embedding_classifier() -> SpeechRNN:
    """The bundled commands model's shape, small and random: an input-stream spotter."""
    from speechrnn.embedding import EMBEDDING_FRONTEND
    from tests.helpers import randomize_embedding

    torch.manual_seed(0)
    model = SpeechRNN(ModelConfig(head="classify", labels=LABELS, hidden_size=8, subsampling="embedding",
                                  **EMBEDDING_FRONTEND))  # fmt: skip
    randomize_embedding(model.subsampling.embedding)
    return model.eval()


@needs_shared
@pytest.mark.parametrize("make", [tiny_classifier, tiny_embedding_classifier])
def test_a_tiny_real_stream_writes_its_table_and_det_png_from_valid_speakers_only(tmp_path, make):
    checkpoint = tmp_path / "tiny.pt"
    save_checkpoint(checkpoint, make())
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "scripts/kws_eval.py"), "--model", str(checkpoint), "--root", str(SHARED)]
    command += ["--out-dir", str(out), "--hours", "0.006", "--rtf-seconds", "2", "--seed", "3"]
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    report = json.loads((out / "report.json").read_text())
    truth = json.loads((out / "truth.json").read_text())
    assert sf.info(out / "stream.wav").duration == pytest.approx(truth["seconds"], abs=1e-3)
    assert truth["seconds"] >= 0.006 * 3600
    assert (out / "det.png").read_bytes()[:4] == b"\x89PNG"
    table = (out / "report.md").read_text()
    assert "| threshold |" in table and "| command |" in table
    assert report["rtf_recognizer"] > 0 and "the whole live recogniser" in table  # transcribe --stream's cost
    macs = report["multiply_adds_per_second"]  # counted for an input-stream spotter (the embedding's)
    if make is tiny_embedding_classifier:
        assert macs["embedding"] == 12.5 * 5_612_544 and "Multiply-adds per second of audio" in table
    else:
        assert macs is None and "Multiply-adds" not in table
    for label, start, end, word_start, word_end, path in truth["commands"]:
        assert label in LABELS[:10] and start <= word_start < word_end <= end
        assert split_of(Path(path).name.split("_nohash_")[0]) == "valid"
    for kind, label, _start, _end, path in truth["pieces"]:
        if kind == "wake":
            assert split_of(f"{label}/{Path(path).stem}") == "valid"
    sweep = next(iter(report["sweeps"].values()))
    assert [r["threshold"] for r in sweep["rows"]] == sorted(r["threshold"] for r in sweep["rows"])
    assert all(r["commands"] == len(truth["commands"]) for r in sweep["rows"])
    speakers = {Path(c[5]).name.split("_nohash_")[0] for c in truth["commands"]}
    for row in sweep["rows"]:  # the miss rate's interval, speakers resampled (none for under 5 speakers)
        if len(speakers) < 5:
            assert row["miss_interval"] is None
        else:
            assert row["miss_interval"][0] <= row["miss_rate"] <= row["miss_interval"][1]
    # seeded: the same seed builds the same stream
    again = tmp_path / "again"
    kws_eval = load_script()
    assert json.loads(json.dumps(kws_eval.build_stream(SHARED, LABELS[:10], again, 0.006, 3))) == truth


def _real_stream(items, gap_s: float = 0.5):
    """The clips one after another with ``gap_s`` of silence after each: audio and (label, start, end)."""
    from speechrnn.audio import load_audio

    pieces, spans, position = [], [], 0
    for label, path in items:
        audio = load_audio(path, 16000)
        pieces += [audio, np.zeros(int(gap_s * 16000), np.float32)]
        spans.append((label, position / 16000, (position + audio.size) / 16000))
        position += audio.size + int(gap_s * 16000)
    return np.concatenate(pieces), spans


def _detections(audio):
    from speechrnn import load_model

    spotter = KeywordSpotter(load_model("commands"), KeywordConfig())  # the default settings
    return [e for b in range(0, audio.size, 1600) for e in spotter.accept(audio[b : b + 1600])]


@needs_shared
def test_real_other_speech_and_noise_rarely_fire_at_the_default_threshold():
    """Six fixed seeded samples of speakers the bundled model never trained on, each 12 wake phrases,
    12 other words (digits included) and 6 noise clips: 6.8 minutes of other speech, denser than
    scripts/kws_eval.py's stream (2 false alarms per hour at the default threshold). At the default
    settings the bundled model gives no false alarm here; at threshold 0.5 it gives 8, so the sample can
    break the bound."""
    from speechrnn import load_model
    from speechrnn.detect import PosteriorDetector

    model = load_model("commands")
    pools = load_script().pools(SHARED, LABELS[:10])
    seconds, events = 0.0, {0.85: [], 0.5: []}
    for seed in range(6):
        rng = random.Random(seed)
        items = rng.sample(pools["wake"], 12) + rng.sample(pools["word"], 12) + rng.sample(pools["noise"], 6)
        rng.shuffle(items)
        audio, _ = _real_stream(items)
        seconds += audio.size / 16000
        spotter = KeywordSpotter(model, KeywordConfig())  # the default settings' windows, scored once
        detectors = {t: PosteriorDetector(model.config.labels, KeywordConfig(threshold=t)) for t in events}
        for begin in range(0, audio.size, 1600):
            for end, posterior in spotter.windows(audio[begin : begin + 1600]):
                for t, detector in detectors.items():
                    if (event := detector.push(end, posterior.numpy())) is not None:
                        events[t].append((seed, event.label, round(event.score, 2)))
    assert seconds > 6 * 60
    assert KeywordConfig().threshold == 0.85
    assert len(events[0.85]) <= 1, events[0.85]
    assert len(events[0.5]) > 1, events[0.5]  # a lower threshold fires on the same speech: the bound bites


@needs_shared
def test_real_commands_in_a_stream_are_detected_with_their_labels_where_they_were_said():
    pools = load_script().pools(SHARED, LABELS[:10])
    items = random.Random(1).sample(pools["command"], 12)
    audio, spans = _real_stream(items)
    events = _detections(audio)
    right, wrong = set(), 0
    for event in events:  # every detection falls on a clip (none in the silences), one per clip
        hits = [i for i, (label, start, end) in enumerate(spans) if start <= event.end and event.start <= end]
        assert hits, event
        named = [i for i in hits if spans[i][0] == event.label]
        right.update(named)
        wrong += not named
    # measured with the bundled model: 8 right (the three "up" clips missed), "go" once heard as "no"
    assert len(right) >= 8 and wrong <= 1 and len(events) == len(right) + wrong
