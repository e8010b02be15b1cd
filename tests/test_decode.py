"""CTC greedy/beam decoding, word timing and classification results."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from speechrnn.beam import prefix_beam_search
from speechrnn.decode import (
    DecodingOptions,
    Transcription,
    WordTiming,
    classification_result,
    decode_ctc,
    greedy_path,
    tokens_to_words,
)

torch.set_num_threads(1)

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def peaked(path: list[int], vocab: int, peak: float = 0.97) -> torch.Tensor:
    """(steps, vocab) log-probs whose argmax at each step is ``path[step]``."""
    rest = (1 - peak) / (vocab - 1)
    probs = torch.full((len(path), vocab), rest)
    probs[torch.arange(len(path)), torch.tensor(path)] = peak
    return probs.log()


def labelling_probability(log_probs: torch.Tensor, labelling: tuple[int, ...]) -> float:
    """Brute force: sum of path probabilities that collapse to ``labelling`` (tiny inputs only)."""
    steps, vocab = log_probs.shape
    total = 0.0
    for path in itertools.product(range(vocab), repeat=steps):
        collapsed = [t for t, _ in itertools.groupby(path) if t != 0]
        if tuple(collapsed) == labelling:
            total += math.exp(sum(float(log_probs[s, t]) for s, t in enumerate(path)))
    return total


# --- greedy_path and tokens_to_words -------------------------------------------------------------


def test_greedy_path_merges_repeats_and_drops_blanks():
    log_probs = peaked([0, 3, 3, 0, 3, 5, 5, 5, 0, 0, 2], vocab=11)
    assert greedy_path(log_probs) == [(3, 1, 2), (3, 4, 4), (5, 5, 7), (2, 10, 10)]


def test_greedy_path_all_blank_is_empty():
    assert greedy_path(peaked([0] * 6, vocab=4)) == []


def test_tokens_to_words_word_unit_times():
    runs = [(5, 2, 4), (3, 10, 11)]  # ids 5 -> "four", 3 -> "two"
    words = tokens_to_words(runs, DIGITS, "word", frame_shift=0.03, offset=1.0)
    assert [w.word for w in words] == ["four", "two"]
    assert words[0].start == pytest.approx(1.0 + 2 * 0.03)
    assert words[0].end == pytest.approx(1.0 + 5 * 0.03)
    assert words[1].start == pytest.approx(1.0 + 10 * 0.03)
    assert words[1].end == pytest.approx(1.0 + 12 * 0.03)


def test_tokens_to_words_char_unit_splits_at_spaces():
    labels = [" ", "a", "b", "c"]  # ids: space 1, a 2, b 3, c 4
    runs = [(2, 0, 1), (3, 3, 3), (1, 5, 5), (4, 7, 9), (2, 11, 11)]
    words = tokens_to_words(runs, labels, "char", frame_shift=0.01)
    assert [w.word for w in words] == ["ab", "ca"]
    assert words[0].start == pytest.approx(0.0)
    assert words[0].end == pytest.approx(0.04)
    assert words[1].start == pytest.approx(0.07)
    assert words[1].end == pytest.approx(0.12)


def test_tokens_to_words_char_unit_ignores_leading_and_double_spaces():
    labels = [" ", "x"]
    runs = [(1, 0, 0), (2, 1, 1), (1, 2, 2), (1, 4, 4), (2, 5, 6)]
    assert [w.word for w in tokens_to_words(runs, labels, "char", 0.01)] == ["x", "x"]


def test_decode_ctc_greedy_text_and_words():
    log_probs = peaked([0, 5, 5, 0, 3, 0, 8, 0, 2], vocab=11)
    text, words = decode_ctc(log_probs, DIGITS, "word", 0.03)
    assert text == "four two seven one"
    assert words[0] == WordTiming("four", pytest.approx(0.03), pytest.approx(0.09))


# --- beam search -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_beam_equals_greedy_when_peaked(seed):
    generator = torch.Generator().manual_seed(seed)
    path = torch.randint(0, 11, (40,), generator=generator)
    path[torch.rand(40, generator=generator) < 0.4] = 0  # plenty of blanks
    log_probs = peaked(path.tolist(), vocab=11)
    assert prefix_beam_search(log_probs, beam_size=8) == greedy_path(log_probs)


def test_beam_finds_labelling_that_greedy_misses():
    # classic example: per step p(blank)=0.6, p(a)=0.4. Greedy path "blank blank" -> "" (0.36),
    # but "a" collects a-a, a-blank, blank-a = 0.16 + 0.24 + 0.24 = 0.64.
    log_probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]]).log()
    assert greedy_path(log_probs) == []
    runs = prefix_beam_search(log_probs, beam_size=4)
    assert [t for t, _, _ in runs] == [1]
    assert labelling_probability(log_probs, (1,)) == pytest.approx(0.64)
    assert labelling_probability(log_probs, ()) == pytest.approx(0.36)


def test_beam_matches_brute_force_best_labelling():
    generator = torch.Generator().manual_seed(3)
    for _ in range(5):
        log_probs = torch.randn(5, 3, generator=generator).mul(1.5).log_softmax(-1)
        labellings = {
            tuple(t for t, _ in itertools.groupby(p) if t != 0) for p in itertools.product(range(3), repeat=5)
        }
        best = max(labellings, key=lambda lab: labelling_probability(log_probs, lab))
        runs = prefix_beam_search(log_probs, beam_size=16)
        assert tuple(t for t, _, _ in runs) == best


def test_beam_repeated_token_needs_blank_between():
    # "a blank a" is two a's; "a a" without a blank is one
    two = peaked([1, 1, 0, 1, 0], vocab=3)
    assert [(t, f, last) for t, f, last in prefix_beam_search(two, 4)] == [(1, 0, 1), (1, 3, 3)]
    one = peaked([0, 1, 1, 1, 0], vocab=3)
    assert prefix_beam_search(one, 4) == [(1, 1, 3)]


def test_beam_times_follow_best_alignment():
    # the token is emitted at steps 4-5; early steps give it a little probability only
    path = [0, 0, 0, 0, 2, 2, 0, 0]
    log_probs = peaked(path, vocab=4, peak=0.9)
    assert prefix_beam_search(log_probs, 8) == [(2, 4, 5)]


def test_beam_size_one_and_empty_input():
    log_probs = peaked([0, 2, 0, 3], vocab=4)
    assert prefix_beam_search(log_probs, 1) == [(2, 1, 1), (3, 3, 3)]
    assert prefix_beam_search(torch.zeros(0, 4), 4) == []
    with pytest.raises(ValueError):
        prefix_beam_search(log_probs, 0)


def test_decode_ctc_beam_option():
    log_probs = peaked([0, 5, 5, 0, 3, 0, 8, 0, 2], vocab=11)
    text, words = decode_ctc(log_probs, DIGITS, "word", 0.03, DecodingOptions(method="beam", beam_size=4))
    assert text == "four two seven one"
    assert [w.word for w in words] == text.split()


# --- classification --------------------------------------------------------------------------------


def test_classification_result():
    logits = torch.tensor([0.0, 2.0, 1.0])
    result = classification_result(logits, ["yes", "no", "up"], duration=1.5)
    assert isinstance(result, Transcription)
    assert result.text == result.label == "no"
    probs = logits.softmax(0)
    assert result.score == pytest.approx(float(probs[1]))
    assert result.scores == pytest.approx({"yes": float(probs[0]), "no": float(probs[1]), "up": float(probs[2])})
    assert sum(result.scores.values()) == pytest.approx(1.0)
    assert result.duration == 1.5
    assert result.words == ()


def test_beam_token_pruning_keeps_the_result():
    generator = torch.Generator().manual_seed(11)
    log_probs = (torch.randn(120, 12, generator=generator) * 6).log_softmax(-1)
    pruned = prefix_beam_search(log_probs, 8)
    assert pruned == prefix_beam_search(log_probs, 8, token_min_logp=float("-inf"))
    assert [t for t, _, _ in pruned] != []
    # even a cut-off above every token keeps the most likely one, so a peaked input still decodes
    peaked_input = peaked([0, 2, 2, 0, 3], vocab=4)
    assert prefix_beam_search(peaked_input, 4, token_min_logp=0.0) == greedy_path(peaked_input)
