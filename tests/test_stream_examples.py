"""Stream examples for a spotter: keyword clips cut mid-word become _unknown_, clips get preceding speech."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from speechrnn.augment import AugmentConfig
from speechrnn.data.dataset import ManifestDataset
from speechrnn.data.manifest import Utterance
from speechrnn.data.stream_examples import StreamExamples, speech_span
from speechrnn.errors import ConfigError
from speechrnn.vocab import Vocabulary

RATE = 16000
VOCABULARY = Vocabulary(("yes", "no", "_unknown_", "_silence_"), "classify")


def word_clip(start: float = 0.3, end: float = 0.7, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Faint noise with a loud 300 Hz 'word' between ``start`` and ``end`` seconds."""
    rng = np.random.default_rng(seed)
    audio = 1e-4 * rng.standard_normal(int(seconds * RATE))
    t = np.arange(int(start * RATE), int(end * RATE))
    audio[t] += 0.5 * np.sin(2 * np.pi * 300 * t / RATE)
    return audio.astype(np.float32)


def test_speech_span_finds_the_word_within_a_frame():
    first, end = speech_span(word_clip(0.3, 0.7), RATE)
    assert abs(first - 0.3 * RATE) <= 160 and abs(end - 0.7 * RATE) <= 160
    assert speech_span(np.zeros(50, dtype=np.float32), RATE) == (0, 50)  # shorter than a frame


def test_cut_keywords_become_unknown_and_fillers_are_never_cut():
    compose = StreamExamples(AugmentConfig(cut_prob=1.0, cut_fraction=[0.2, 0.6]), VOCABULARY, RATE)
    never = lambda rng: pytest.fail("no context was asked for")  # noqa: E731
    clip = word_clip(0.3, 0.7)
    for seed in range(20):
        audio, targets = compose(clip, [VOCABULARY.id("yes")], np.random.default_rng(seed), never)
        assert targets == [VOCABULARY.id("_unknown_")]
        assert 0.3 + 0.2 * 0.4 - 0.011 <= audio.size / RATE <= 0.3 + 0.6 * 0.4 + 0.011  # ends inside the word
        np.testing.assert_array_equal(audio, clip[: audio.size])
    for filler in ("_unknown_", "_silence_"):
        audio, targets = compose(clip, [VOCABULARY.id(filler)], np.random.default_rng(0), never)
        assert targets == [VOCABULARY.id(filler)] and audio is clip


def test_context_precedes_the_clip_with_the_end_of_another_and_keeps_its_label():
    compose = StreamExamples(AugmentConfig(context_prob=1.0, context_s=[0.3, 0.5]), VOCABULARY, RATE)
    other = word_clip(0.1, 0.9, seed=1)
    clip = word_clip()
    for seed in range(10):
        audio, targets = compose(clip, [VOCABULARY.id("no")], np.random.default_rng(seed), lambda rng: other)
        extra = audio.size - clip.size
        assert targets == [VOCABULARY.id("no")] and 0.3 * RATE <= extra <= 0.5 * RATE
        np.testing.assert_array_equal(audio[:extra], other[-extra:])
        np.testing.assert_array_equal(audio[extra:], clip)


def test_stream_examples_need_a_classifier_and_a_known_cut_label():
    with pytest.raises(ConfigError, match="classify head"):
        StreamExamples(AugmentConfig(cut_prob=0.5), Vocabulary(("yes",), "ctc"), RATE)
    with pytest.raises(ConfigError, match="'_filler_' is not one of the model's labels"):
        StreamExamples(AugmentConfig(cut_prob=0.5, cut_label="_filler_"), VOCABULARY, RATE)


def test_a_dataset_composes_the_same_example_for_the_same_seed_epoch_and_index(tmp_path):
    utterances = []
    for i, label in enumerate(["yes", "no", "_unknown_"]):
        path = tmp_path / f"{i}.wav"
        sf.write(path, word_clip(seed=i), RATE)
        utterances.append(Utterance(audio=str(path), duration=1.0, speaker=f"s{i}", label=label))
    config = AugmentConfig(context_prob=1.0, context_s=[0.3, 0.5], cut_prob=0.5)
    make = lambda seed: ManifestDataset(  # noqa: E731
        utterances, VOCABULARY.labels, "classify", seed=seed, compose=StreamExamples(config, VOCABULARY, RATE)
    )
    dataset = make(0)
    first, again = dataset[(1, 3)], make(0)[(1, 3)]
    assert np.array_equal(first[0].numpy(), again[0].numpy()) and first[1] == again[1]
    assert first[0].numel() != RATE  # composed: context added, perhaps cut
    assert any(not np.array_equal(dataset[(1, e)][0].numpy(), first[0].numpy()) for e in range(4, 8))


def test_a_window_holds_the_whole_word_after_the_context_or_the_cut_end():
    config = AugmentConfig(context_prob=1.0, context_s=[0.8, 0.8], window_s=1.0)
    compose = StreamExamples(config, VOCABULARY, RATE)
    other = (0.3 * np.ones(RATE)).astype(np.float32)  # a loud "previous clip"
    clip = word_clip(0.3, 0.7)
    stops = set()
    for seed in range(30):
        audio, targets = compose(clip, [VOCABULARY.id("yes")], np.random.default_rng(seed), lambda rng: other)
        assert audio.size == RATE and targets == [VOCABULARY.id("yes")]
        composed = np.concatenate([other[-int(0.8 * RATE) :], clip])
        stop = next(s for s in range(RATE, composed.size + 1) if np.array_equal(composed[s - RATE : s], audio))
        word_start, word_end = int(1.1 * RATE), int(1.5 * RATE)
        assert word_end - 160 <= stop <= word_start + RATE + 160  # the whole word is in the window
        stops.add(stop)
    assert len(stops) > 10  # the window's end is drawn
    cutting = StreamExamples(AugmentConfig(cut_prob=1.0, window_s=1.0), VOCABULARY, RATE)
    audio, targets = cutting(clip, [VOCABULARY.id("no")], np.random.default_rng(0), None)
    assert audio.size == RATE and targets == [VOCABULARY.id("_unknown_")]
    kept = audio.size - int(np.flatnonzero(audio)[0])  # silence (zeros) before, the cut clip at the end
    np.testing.assert_array_equal(audio[-kept:], clip[:kept])
    assert 0.3 + 0.2 * 0.4 - 0.011 <= kept / RATE <= 0.3 + 0.6 * 0.4 + 0.011
    with pytest.raises(ConfigError, match="window_s"):
        StreamExamples(AugmentConfig(window_s=-1.0), VOCABULARY, RATE)
