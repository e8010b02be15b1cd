"""Keyword detection: sliding window, posterior smoothing, threshold, refractory period, event times."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from speechrnn.errors import ConfigError, ModelError
from speechrnn.kws import KeywordConfig, KeywordSpotter, score_detections
from speechrnn.model import ModelConfig, SpeechRNN
from speechrnn.stream import StreamingRecognizer

torch.set_num_threads(1)
RATE = 16000
LABELS = ["low", "high", "_unknown_"]
FREQUENCIES = {"low": 440.0, "high": 1320.0}


def classifier(labels=LABELS) -> SpeechRNN:
    torch.manual_seed(0)
    config = ModelConfig(head="classify", labels=labels, hidden_size=16, num_layers=1, pooling="mean")
    return SpeechRNN(config).eval()


def tone_scorer(window: np.ndarray) -> np.ndarray:
    """A transparent 'keyword model': amplitude of a 440 Hz / 1320 Hz tone in the window -> posteriors."""
    t = np.arange(window.size) / RATE
    amplitudes = [2 * abs(np.dot(window, np.exp(-2j * np.pi * f * t))) / window.size for f in FREQUENCIES.values()]
    logits = np.array([*amplitudes, 0.1]) * 40  # a whole 0.3 tone in a 1 s window: p = 0.88
    return np.exp(logits) / np.exp(logits).sum()


def constructed_stream(keywords: list[tuple[str, float]], seconds: float, seed: int = 0):
    """Faint noise with 0.5 s keyword tones at the given starts; returns audio and (label, start, end)."""
    rng = np.random.default_rng(seed)
    audio = (0.01 * rng.standard_normal(int(seconds * RATE))).astype(np.float32)
    truth = []
    for label, start in keywords:
        begin = int(start * RATE)
        t = np.arange(RATE // 2) / RATE
        audio[begin : begin + t.size] += (0.3 * np.sin(2 * np.pi * FREQUENCIES[label] * t)).astype(np.float32)
        truth.append((label, start, start + 0.5))
    return audio, truth


def run_spotter(spotter, audio, chunk=1600):
    events = []
    for begin in range(0, audio.size, chunk):
        events += spotter.accept(audio[begin : begin + chunk])
    return events


def test_keywords_in_a_constructed_stream_are_detected_once_each_with_their_times():
    keywords = [("low", 2.0), ("high", 5.0), ("low", 9.0), ("high", 12.3)]
    audio, truth = constructed_stream(keywords, 15.0)
    spotter = KeywordSpotter(classifier(), KeywordConfig(threshold=0.8), scorer=tone_scorer)
    events = run_spotter(spotter, audio, chunk=777)
    assert [e.label for e in events] == [label for label, _ in keywords]
    for event, (label, start, end) in zip(events, truth):
        assert event.kind == "detection" and event.text == label
        assert event.score >= 0.8
        assert event.start <= start + 0.05 and event.end >= end - 0.3  # the window span brackets the keyword
        assert event.end - event.start <= 1.5
    assert score_detections(events, truth, 15.0) == {
        "keywords": 4, "detections": 4, "misses": 0, "miss_rate": 0.0, "false_alarms": 0, "false_alarms_per_hour": 0.0,
    }  # fmt: skip


def test_refractory_period_merges_repeats_and_threshold_gates():
    audio, _ = constructed_stream([("low", 1.0), ("low", 1.6), ("low", 5.0)], 7.0)
    events = run_spotter(
        KeywordSpotter(classifier(), KeywordConfig(threshold=0.8, refractory=1.5), scorer=tone_scorer), audio
    )
    assert len(events) == 2  # the repeat at 1.6 s falls inside the 1.5 s refractory period
    assert events[0].end < 2.5 and events[1].start > 3.0
    events = run_spotter(
        KeywordSpotter(classifier(), KeywordConfig(threshold=0.8, refractory=0.1), scorer=tone_scorer), audio
    )
    assert len(events) >= 3  # without the refractory period the repeat fires again
    silent = run_spotter(KeywordSpotter(classifier(), KeywordConfig(threshold=0.999), scorer=tone_scorer), audio)
    assert silent == []


def test_smoothing_suppresses_a_single_window_spike():
    spikes = iter([])

    def spiky(window):
        return next(spikes, np.array([0.0, 0.0, 1.0]))

    spikes = iter([np.array([0.0, 0.0, 1.0])] * 5 + [np.array([0.95, 0.0, 0.05])] + [np.array([0.0, 0.0, 1.0])] * 5)
    audio = np.zeros(RATE * 2, dtype=np.float32)
    assert (
        run_spotter(
            KeywordSpotter(classifier(), KeywordConfig(hop=0.1, smoothing=3, threshold=0.5), scorer=spiky), audio
        )
        == []
    )
    spikes = iter([np.array([0.0, 0.0, 1.0])] * 5 + [np.array([0.95, 0.0, 0.05])] + [np.array([0.0, 0.0, 1.0])] * 5)
    spotter = KeywordSpotter(classifier(), KeywordConfig(hop=0.1, smoothing=1, threshold=0.5), scorer=spiky)
    events = run_spotter(spotter, audio)
    assert [(e.label, e.end) for e in events] == [("low", pytest.approx(0.6))]


def test_model_posteriors_are_the_classifier_on_the_window():
    model = classifier()
    audio, _ = constructed_stream([("low", 0.2), ("high", 1.5)], 3.0)
    spotter = KeywordSpotter(model, KeywordConfig(threshold=0.34, refractory=0.5, smoothing=1))
    events = run_spotter(spotter, audio, chunk=1000)
    window = audio[int(2.0 * RATE) : int(3.0 * RATE)]
    expected = model.transcribe(window).scores
    assert dict(zip(LABELS, spotter.last_posterior.tolist())) == pytest.approx(expected, abs=1e-5)
    assert events and all(e.label in ("low", "high") for e in events)  # fillers are never reported
    assert all(b.end - a.end >= 0.5 - 1e-9 for a, b in zip(events, events[1:]))


def test_streaming_recognizer_reports_detections_for_classifiers():
    audio, truth = constructed_stream([("high", 1.0)], 3.0)
    from speechrnn.kws import KeywordConfig as Config

    recognizer = StreamingRecognizer(classifier(), keywords=Config(threshold=0.8))
    recognizer.spotter.scorer = tone_scorer
    events = []
    for begin in range(0, audio.size, 4800):
        events += recognizer.accept_waveform(audio[begin : begin + 4800], RATE)
    assert [(e.kind, e.label) for e in events] == [("detection", "high")]
    assert recognizer.finalize().label in LABELS  # the whole-utterance classification still comes at the end


def test_score_detections_counts_misses_and_false_alarms():
    from speechrnn.kws import KeywordEvent

    truth = [("low", 1.0, 1.5), ("high", 4.0, 4.5), ("low", 8.0, 8.5)]
    events = [
        KeywordEvent("low", 0.6, 1.7, 0.9),
        KeywordEvent("low", 4.0, 4.6, 0.9),
        KeywordEvent("low", 8.2, 9.0, 0.9),
    ]
    scores = score_detections(events, truth, duration=1800.0)
    assert scores["misses"] == 1 and scores["false_alarms"] == 1
    assert scores["miss_rate"] == pytest.approx(1 / 3) and scores["false_alarms_per_hour"] == pytest.approx(2.0)


def test_bad_settings_and_models_are_rejected():
    with pytest.raises(ConfigError, match="hop"):
        KeywordConfig(window=0.5, hop=1.0)
    with pytest.raises(ConfigError, match="threshold"):
        KeywordConfig(threshold=0)
    ctc = SpeechRNN(ModelConfig(labels=["a"], hidden_size=8, num_layers=1))
    with pytest.raises(ModelError, match="classification model"):
        KeywordSpotter(ctc)
    with pytest.raises(ModelError, match="only filler classes"):
        KeywordSpotter(classifier(["_unknown_", "_silence_"]))


def test_detection_events_print_the_issue_json_fields():
    from speechrnn.decode import StreamEvent

    event = StreamEvent("detection", "stop", 1.23456, 2.5, (), "stop", 0.912345)
    out = event.to_dict()
    assert {"type": "detection", "label": "stop", "score": 0.9123, "start": 1.235, "end": 2.5}.items() <= out.items()


def test_per_label_thresholds_and_replay_give_the_live_decisions():
    from speechrnn.kws import replay

    keywords = [("low", 2.0), ("high", 5.0), ("low", 9.0), ("high", 12.3)]
    audio, _ = constructed_stream(keywords, 15.0)
    config = KeywordConfig(hop=0.1, threshold=0.8, thresholds=(("high", 0.999),))  # 'high' never reaches 0.999
    spotter = KeywordSpotter(classifier(), config, scorer=tone_scorer)
    live, posteriors = [], []
    for begin in range(0, audio.size, 1600):
        live += spotter.accept(audio[begin : begin + 1600])
        posteriors.append(spotter.last_posterior.numpy())
    assert [e.label for e in live] == ["low", "low"]
    replayed = replay(posteriors, LABELS, config)
    assert [e.label for e in replayed] == [e.label for e in live]
    assert [t for e in replayed for t in (e.start, e.end)] == pytest.approx([t for e in live for t in (e.start, e.end)])
    with pytest.raises(ConfigError, match="'high'"):
        KeywordConfig(thresholds=(("high", 1.5),))


def windowed_classifier(**overrides) -> SpeechRNN:
    """A chunked classifier whose head pools the last 8 encoder steps (0.24 s): an encoder-stream spotter."""
    torch.manual_seed(3)
    values = dict(
        head="classify", labels=LABELS, n_mels=40, hidden_size=16, num_layers=2, subsampling="stack",
        chunk_size=4, right_context=2, pool_window=8, pooling="attention",
    )  # fmt: skip
    model = SpeechRNN(ModelConfig(**{**values, **overrides}))
    model.normalizer.set_statistics(torch.randn(40) - 5, torch.rand(40) + 0.5)
    return model.eval()


@pytest.mark.parametrize("chunk", [1, 333, 1600, 16000])
def test_an_encoder_stream_spotter_scores_the_windowed_head_of_the_offline_encoder(chunk):
    model = windowed_classifier()
    audio, _ = constructed_stream([("low", 0.4), ("high", 1.6)], 3.0)
    spotter = KeywordSpotter(model, KeywordConfig(hop=0.1))
    assert spotter.encoder_stream is not None and spotter.hop == pytest.approx(0.12)  # one 4-step chunk
    windows = []
    for begin in range(0, audio.size, chunk):
        windows += spotter.windows(audio[begin : begin + chunk])
    with torch.inference_mode():
        feats, lengths = model.features(torch.from_numpy(audio)[None], torch.tensor([audio.size]))
        steps = model.subsampling.output_lengths(lengths)
        encoded = model.encoder(model.subsampling(feats), steps)
        # every window the stream can finish (its chunk's right context has arrived) is scored
        assert len(windows) == (int(steps[0]) - 2) // 4
        for k, (end, posterior) in enumerate(windows, start=1):
            assert end == pytest.approx(k * 4 * model.config.frame_shift)
            expected = model.output(encoded[:, : 4 * k], torch.tensor([4 * k])).softmax(dim=-1)[0]
            torch.testing.assert_close(posterior, expected, atol=2e-5, rtol=1e-4)


def test_an_encoder_stream_spotter_keeps_only_its_window_and_a_coarser_hop_skips_windows():
    model = windowed_classifier()
    audio, _ = constructed_stream([("low", 0.4)], 20.0)
    fine = KeywordSpotter(model, KeywordConfig(hop=0.1))
    coarse = KeywordSpotter(model, KeywordConfig(hop=0.2, smoothing=1))  # two chunks: 0.24 s
    assert coarse.hop == pytest.approx(0.24)
    fine_windows = [w for b in range(0, audio.size, 1600) for w in fine.windows(audio[b : b + 1600])]
    coarse_windows = [w for b in range(0, audio.size, 1600) for w in coarse.windows(audio[b : b + 1600])]
    assert fine._steps.recent.size(0) <= 8 + 4  # memory: the window (and a chunk), not the stream
    assert [e for e, _ in coarse_windows] == pytest.approx([e for e, _ in fine_windows[1::2]])
    for (_, a), (_, b) in zip(coarse_windows, fine_windows[1::2]):
        torch.testing.assert_close(a, b)


def test_a_windowed_model_that_cannot_stream_slides_its_window():
    model = windowed_classifier(chunk_size=0, right_context=0)  # full bidirectional: re-run each window
    spotter = KeywordSpotter(model, KeywordConfig(hop=0.1))
    assert spotter.encoder_stream is None and spotter.hop == 0.1
    sliding = KeywordSpotter(windowed_classifier(), KeywordConfig(hop=0.1), encoder_stream=False)  # asked to slide
    audio, _ = constructed_stream([("low", 0.2)], 1.5)
    ends = [end for end, _ in sliding.windows(audio)]
    assert sliding.encoder_stream is None and ends == pytest.approx([0.1 * k for k in range(1, 16)])


def test_threshold_options_parse_and_bad_ones_are_one_line_errors():
    from speechrnn.detect import keyword_config

    config = keyword_config(0.7, ["stop=0.9", " go = 0.5"])
    assert config.threshold == 0.7 and config.threshold_of("stop") == 0.9 and config.threshold_of("go") == 0.5
    assert keyword_config().threshold == KeywordConfig().threshold == 0.85  # the benchmarked default
    for bad, message in [
        (["stop"], "expected LABEL=P"),
        (["stop=high"], "expected LABEL=P"),
        (["=0.5"], "expected LABEL=P"),
        (["stop=1.5"], "keyword threshold for 'stop' must be in"),
    ]:
        with pytest.raises(ConfigError, match=message):
            keyword_config(None, bad)
    with pytest.raises(ConfigError, match="keyword threshold must be in"):
        keyword_config(0.0)
    with pytest.raises(ConfigError, match="'stpo': not one of the model's keywords \\(low, high\\)"):
        KeywordSpotter(classifier(), keyword_config(None, ["stpo=0.9"]))


def test_transcribe_stream_takes_thresholds_and_refuses_bad_ones(tmp_path):
    import soundfile as sf

    audio, _ = constructed_stream([("low", 0.5)], 2.0)
    path = tmp_path / "a.wav"
    sf.write(path, audio, RATE)
    base = [sys.executable, "-m", "speechrnn", "transcribe", str(path), "--model", "commands"]
    done = subprocess.run([*base, "--stream", "--threshold", "0.9", "--label-threshold", "stop=0.95"],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    for extra, message in [
        (["--stream", "--label-threshold", "stop"], "keyword threshold 'stop': expected LABEL=P"),
        (["--stream", "--label-threshold", "stpo=0.9"], "'stpo': not one of the model's keywords"),
        (["--stream", "--threshold", "2"], "keyword threshold must be in (0, 1], got 2.0"),
        (["--threshold", "0.9"], "--threshold and --label-threshold need --stream"),
    ]:
        done = subprocess.run([*base, *extra], capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def embedding_classifier() -> SpeechRNN:
    """A full-utterance BiGRU classifier over the speech embedding (random weights): an input-stream spotter."""
    from speechrnn.embedding import EMBEDDING_FRONTEND
    from tests.helpers import randomize_embedding

    torch.manual_seed(4)
    config = ModelConfig(head="classify", labels=LABELS, hidden_size=16, subsampling="embedding", **EMBEDDING_FRONTEND)
    model = SpeechRNN(config)
    randomize_embedding(model.subsampling.embedding)
    return model.eval()


@pytest.mark.parametrize("chunk", [1, 777, 16000])
def test_an_input_stream_spotter_runs_the_embedding_once_and_the_encoder_over_its_window(chunk):
    model = embedding_classifier()
    audio, _ = constructed_stream([("low", 0.4), ("high", 1.6)], 2.6)
    spotter = KeywordSpotter(model, KeywordConfig())  # hop 0.2 s -> 3 steps of 80 ms
    assert spotter.streams and spotter.encoder_stream is None and spotter.hop == pytest.approx(0.24)
    windows = []
    for begin in range(0, audio.size, chunk):
        windows += spotter.windows(audio[begin : begin + chunk])
    with torch.inference_mode():
        feats, lengths = model.features(torch.from_numpy(audio)[None], torch.tensor([audio.size]))
        inputs = model.subsampling(feats)[0]  # the whole stream's embedding steps, computed offline
        steps = int(lengths[0]) // 8  # steps complete before the stream's end (no floor padding yet)
        assert len(windows) == steps // 3
        for k, (end, posterior) in enumerate(windows, start=1):
            assert end == pytest.approx(k * 0.24)
            window = inputs[max(0, 3 * k - 13) : 3 * k][None]  # the last 13 steps (1 s) before its end
            width = torch.tensor([window.size(1)])
            expected = model.output(model.encoder(window, width), width).softmax(dim=-1)[0]
            torch.testing.assert_close(posterior, expected, atol=2e-5, rtol=1e-4)
    assert spotter._steps.recent.size(0) <= 13 + 3  # memory: the window (and a hop), not the stream
    sliding = KeywordSpotter(model, KeywordConfig(), encoder_stream=False)
    assert not sliding.streams and sliding.hop == 0.2


def test_a_recogniser_classifies_its_utterances_from_its_spotters_embedding_steps():
    """A speech-embedding classifier's recogniser computes each embedding step once, in its spotter: its
    detections are the spotter's alone; without endpointing its final is the offline classification; an
    utterance cut by the endpointer is classified from the stream's steps heard between its cuts."""
    from speechrnn.endpoint import EndpointConfig

    model = embedding_classifier()
    audio, _ = constructed_stream([("low", 0.4), ("high", 3.3)], 4.4)
    audio[int(0.95 * RATE) : int(3.2 * RATE)] *= 1e-3  # a pause the energy endpointer cuts at
    keywords = KeywordConfig(threshold=0.2, refractory=0.5)  # random weights: fire on whatever leads
    embedding = model.subsampling.embedding
    computed = []  # the embedding steps each call computes
    step = embedding.step
    embedding.step = lambda x, state: computed.append(x.size(1) // 8) or step(x, state)
    recognizer = StreamingRecognizer(model, endpoint=EndpointConfig(rule2_min_trailing_silence=0.5), keywords=keywords)
    assert recognizer.shared_inputs and recognizer.spotter.keep_inputs
    events = []
    for begin in range(0, audio.size, 1234):
        events += recognizer.accept_waveform(audio[begin : begin + 1234], RATE)
    events += recognizer.finish()
    del embedding.step
    steps_in_stream = -(-(1 + audio.size // 160) // 8)  # offline: frames floor-padded to whole steps
    assert sum(computed) == steps_in_stream  # each step once, none for the finals

    alone = run_spotter(KeywordSpotter(model, keywords), audio, chunk=1234)
    assert alone and [e for e in events if e.kind == "detection"] == alone

    finals = [e for e in events if e.kind == "final"]
    assert [e.reason for e in finals] == ["rule2", "end"]
    cut = int(round(finals[0].end * RATE))
    heard = (1 + (cut + 256 - 512) // 160) // 8  # steps complete when the first utterance was cut
    with torch.inference_mode():
        feats, _ = model.features(torch.from_numpy(audio)[None], torch.tensor([audio.size]))
        inputs = model.subsampling(feats)[0]  # the whole stream's steps, offline
        for final, steps in zip(finals, (inputs[:heard], inputs[heard:])):
            width = torch.tensor([steps.size(0)])
            expected = model.output(model.encoder(steps[None], width), width).softmax(dim=-1)[0]
            assert final.result.scores == pytest.approx(dict(zip(LABELS, expected.tolist())), abs=1e-5)

    whole = StreamingRecognizer(model, keywords=keywords)  # no endpointing: one utterance, the offline result
    for begin in range(0, audio.size, 1234):
        whole.accept_waveform(audio[begin : begin + 1234], RATE)
    assert whole.finalize().scores == pytest.approx(model.transcribe(audio).scores, abs=1e-5)
