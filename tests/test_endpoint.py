"""Endpointing: rules, energy silence, cutting a stream into utterances, one hour in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import fsdd_missing_reason, fsdd_recordings

from speechrnn.endpoint import EndpointConfig, EnergyTracker
from speechrnn.errors import ConfigError
from speechrnn.model import BUNDLED_MODEL, ModelConfig, SpeechRNN
from speechrnn.stream import StreamingRecognizer

FSDD = fsdd_recordings()

torch.set_num_threads(1)
RATE = 16000
ENERGY = EndpointConfig(silence="energy")


def make_model(hidden_size: int = 32, num_layers: int = 2, **overrides) -> SpeechRNN:
    torch.manual_seed(0)
    encoder = {"chunk_size": 4, "right_context": 2, **overrides}
    config = ModelConfig(labels=[str(i) for i in range(10)], hidden_size=hidden_size, num_layers=num_layers, **encoder)
    model = SpeechRNN(config).eval()
    model.normalizer.set_statistics(torch.full((80,), -8.0), torch.full((80,), 4.0))
    return model


def burst(seconds: float, seed: int) -> np.ndarray:
    """A loud harmonic burst standing in for an utterance."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(200, 2000, size=3))
    return (0.1 * tone * np.hanning(t.size) ** 0.2).astype(np.float32)


@pytest.mark.parametrize(
    ("length", "silence", "speech", "expected"),
    [
        (3.0, 2.5, False, "rule1"),
        (3.0, 2.3, False, None),
        (3.0, 1.3, True, "rule2"),
        (3.0, 1.1, True, None),
        (20.0, 0.0, True, "rule3"),
        (20.0, 0.0, False, "rule3"),
    ],
)
def test_rules(length, silence, speech, expected):
    assert EndpointConfig().detect(length, silence, speech) == expected


def test_rules_can_be_switched_off_and_bad_configs_are_rejected():
    assert EndpointConfig(rule1_min_trailing_silence=0).detect(10.0, 9.0, False) is None
    with pytest.raises(ConfigError, match="silence must be one of"):
        EndpointConfig(silence="vad")
    with pytest.raises(ConfigError, match="never be cut"):
        EndpointConfig(rule2_min_trailing_silence=0, rule3_min_utterance_length=0)


def test_energy_tracker_counts_trailing_silence_in_blocks():
    tracker = EnergyTracker(block=160, floor_db=-45.0)
    tracker.accept(np.zeros(1600, dtype=np.float32))
    assert not tracker.has_speech and tracker.trailing_silence(RATE) == pytest.approx(0.1)
    tracker.accept(np.full(100, 0.5, dtype=np.float32))  # incomplete block waits
    assert not tracker.has_speech
    tracker.accept(np.concatenate([np.full(60, 0.5), np.zeros(3200)]).astype(np.float32))
    assert tracker.has_speech and tracker.trailing_silence(RATE) == pytest.approx(0.2)
    tracker.accept(np.full(160, 10 ** (-50 / 20), dtype=np.float32))  # -50 dBFS: below the floor
    assert tracker.trailing_silence(RATE) == pytest.approx(0.21)


def test_stream_of_utterances_separated_by_silence_gives_one_final_each():
    model = make_model()
    segments = [(0.5, burst(0.8, 1)), (3.5, burst(1.0, 2)), (6.0, burst(0.6, 3))]  # (start s, audio)
    stream = np.zeros(int(9.0 * RATE), dtype=np.float32)
    for start, audio in segments:
        stream[int(start * RATE) : int(start * RATE) + audio.size] = audio
    recognizer = StreamingRecognizer(model, endpoint=ENERGY)
    events = []
    for begin in range(0, stream.size, 1280):  # 80 ms chunks
        events += recognizer.accept_waveform(stream[begin : begin + 1280], RATE)
    events += recognizer.finish()
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 3
    assert [f.reason for f in finals] == ["rule2", "rule2", "rule2"]
    previous_end = 0.0
    for final, (start, audio) in zip(finals, segments):
        speech_end = start + audio.size / RATE
        assert final.start == pytest.approx(previous_end)  # utterances tile the stream
        assert final.start <= start and speech_end <= final.end
        assert final.end - speech_end == pytest.approx(1.2, abs=0.12)  # cut 1.2 s after the speech
        # each final equals the offline result on its own slice of the stream, with stream times
        offline = model.transcribe(stream[round(final.start * RATE) : round(final.end * RATE)])
        assert final.text == offline.text and final.text
        assert [w.start for w in final.words] == pytest.approx([w.start + final.start for w in offline.words])
        assert all(final.start <= w.start < w.end <= final.end + 0.03 for w in final.words)  # last step may overhang
        previous_end = final.end


def test_silence_before_speech_is_dropped_and_times_stay_absolute():
    model = make_model()
    stream = np.concatenate([np.zeros(5 * RATE, dtype=np.float32), burst(0.8, 4), np.zeros(RATE // 2, np.float32)])
    recognizer = StreamingRecognizer(model, endpoint=ENERGY)
    events = recognizer.accept_waveform(stream, RATE)  # one big chunk: the recognizer cuts it itself
    assert [e for e in events if e.kind == "final"] == []  # two stretches of 2.4 s silence dropped
    last = recognizer.finalize()
    assert last.text == model.transcribe(stream[int(4.8 * RATE) :]).text
    assert last.words and all(w.start >= 4.8 for w in last.words)


def test_maximum_utterance_length_cuts_continuous_speech():
    model = make_model()
    noise = (0.1 * np.random.default_rng(0).standard_normal(5 * RATE)).astype(np.float32)
    recognizer = StreamingRecognizer(model, endpoint=EndpointConfig(silence="energy", rule3_min_utterance_length=2.0))
    events = recognizer.accept_waveform(noise, RATE) + recognizer.finish()
    finals = [e for e in events if e.kind == "final"]
    assert [(f.start, f.end, f.reason) for f in finals] == [(0.0, 2.0, "rule3"), (2.0, 4.0, "rule3"), (4.0, 5.0, "end")]


def test_blank_silence_follows_the_ctc_output():
    blank_only = make_model()
    with torch.no_grad():
        blank_only.head.weight.zero_()
        blank_only.head.bias.copy_(torch.tensor([5.0] + [0.0] * 10))  # always blank: never speech
    recognizer = StreamingRecognizer(blank_only, endpoint=EndpointConfig(silence="auto"))
    events = recognizer.accept_waveform(burst(6.0, 5), RATE)
    assert events == []  # loud audio, but no tokens: rule 1 drops it silently
    # two cuts of 2.4 s decoded silence; decoding lags the audio by the chunk + right context (<= 0.3 s)
    assert 4.8 <= recognizer.utterance_start <= 4.8 + 2 * 0.3

    always_word = make_model()
    with torch.no_grad():
        always_word.head.weight.zero_()
        always_word.head.bias.copy_(torch.tensor([0.0, 5.0] + [0.0] * 9))  # always "0": never silence
    recognizer = StreamingRecognizer(always_word, endpoint=EndpointConfig(rule3_min_utterance_length=1.5))
    finals = [e for e in recognizer.accept_waveform(np.zeros(4 * RATE, np.float32), RATE) if e.kind == "final"]
    assert [(f.text, f.reason) for f in finals] == [("0", "rule3"), ("0", "rule3")]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.slow
def test_one_hour_stream_runs_in_constant_memory():
    """3600 s of generated audio (a 0.5 s burst every 10 s over faint noise), fed in 1 s chunks."""
    model = make_model(hidden_size=8, num_layers=1, bidirectional=False, chunk_size=0, right_context=0)
    recognizer = StreamingRecognizer(model, endpoint=ENERGY)
    rng = np.random.default_rng(0)
    pattern = np.concatenate([burst(0.5, 6), np.zeros(int(9.5 * RATE), dtype=np.float32)])
    finals, rss = 0, {}
    for second in range(3600):
        chunk = pattern[(second % 10) * RATE : (second % 10 + 1) * RATE]
        chunk = chunk + (0.001 * rng.standard_normal(RATE)).astype(np.float32)  # -60 dBFS noise floor
        finals += sum(e.kind == "final" for e in recognizer.accept_waveform(chunk, RATE))
        if second in (600, 3599):
            rss[second] = _rss_bytes()
    finals += sum(e.kind == "final" for e in recognizer.finish())
    assert finals == 360
    assert rss[3599] - rss[600] < 20 * 2**20  # no growth with stream length (20 MiB slack for the allocator)


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="bundled model speechrnn/assets/digits_ctc.pt not built yet")
@pytest.mark.skipif(FSDD is None or not FSDD.is_dir(), reason=fsdd_missing_reason())
def test_bundled_model_cuts_real_speech_at_ctc_blank_silences():
    """Three spoken digit strings (FSDD test takes) separated by 2 s pauses: blank-based endpoints (default)."""
    from speechrnn.audio import load_audio
    from speechrnn.model import load_model

    model = load_model()
    words = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    strings = [(3, 1, 4), (1, 5, 9), (2, 6, 5)]
    pieces, spans, position = [], [], 0
    for digits in strings:
        start = position
        for digit in digits:
            clip = load_audio(FSDD / f"{digit}_jackson_{digit % 5}.wav")
            pieces += [clip, np.zeros(RATE // 10, dtype=np.float32)]
            position += clip.size + RATE // 10
        spans.append((start / RATE, position / RATE))
        pieces.append(np.zeros(2 * RATE, dtype=np.float32))
        position += 2 * RATE
    stream = np.concatenate(pieces)
    recognizer = StreamingRecognizer(model, endpoint=EndpointConfig())  # silence = CTC blanks
    events = []
    for begin in range(0, stream.size, 1600):
        events += recognizer.accept_waveform(stream[begin : begin + 1600], RATE)
    finals = [e for e in events + recognizer.finish() if e.kind == "final"]
    assert [f.reason for f in finals] == ["rule2", "rule2", "rule2"]
    for final, (start, end) in zip(finals, spans):
        assert final.start <= start + 0.01 and end <= final.end <= end + 2.0
        offline = model.transcribe(stream[round(final.start * RATE) : round(final.end * RATE)])
        assert final.text == offline.text
        assert all(start - 0.1 <= w.start and w.end <= end + 0.2 for w in final.words)
    correct = sum(f.text == " ".join(words[d] for d in digits) for f, digits in zip(finals, strings))
    assert correct >= 2, [f.text for f in finals]
