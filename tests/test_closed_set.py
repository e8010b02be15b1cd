"""Closed-set CTC decoding: isolated-word recognition with a connected-speech CTC model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.data.manifest import Utterance
from speechrnn.decode import DecodingOptions, closed_set_scores, decode_ctc
from speechrnn.errors import ConfigError
from speechrnn.evaluate import evaluate
from speechrnn.model import ModelConfig, SpeechRNN

LABELS = ["one", "two", "three"]


def brute_force_likelihood(log_probs: torch.Tensor, target: list[int]) -> float:
    """Sum over every frame path that collapses to ``target`` (blank = 0): the CTC definition."""
    steps, vocab = log_probs.shape
    total = -math.inf
    for path in itertools.product(range(vocab), repeat=steps):
        collapsed = [t for i, t in enumerate(path) if t != 0 and (i == 0 or t != path[i - 1])]
        if collapsed == target:
            total = np.logaddexp(total, float(sum(log_probs[i, t] for i, t in enumerate(path))))
    return total


def test_scores_equal_the_sum_over_alignments():
    torch.manual_seed(0)
    log_probs = torch.randn(4, 4).log_softmax(-1)
    candidates = [[1], [2], [3], [1, 2], [2, 2]]
    scores = closed_set_scores(log_probs, candidates)
    for score, target in zip(scores, candidates):
        assert float(score) == pytest.approx(brute_force_likelihood(log_probs, target), abs=1e-4)


def test_closed_set_picks_the_likeliest_label_even_when_greedy_says_nothing():
    # every frame's best token is blank, so greedy decoding is empty; "two" still has the most mass
    probs = torch.tensor([[0.6, 0.1, 0.25, 0.05]] * 5)
    text, words = decode_ctc(probs.log(), LABELS, "word", 0.04, DecodingOptions(method="closed_set"))
    assert text == "two" and words == []
    assert decode_ctc(probs.log(), LABELS, "word", 0.04)[0] == ""
    options = DecodingOptions(method="closed_set", candidates=("one three", "three"))
    assert decode_ctc(probs.log(), LABELS, "word", 0.04, options)[0] == "three"
    with pytest.raises(ConfigError, match="four"):
        decode_ctc(probs.log(), LABELS, "word", 0.04, DecodingOptions(method="closed_set", candidates=("four",)))


def test_evaluate_closed_set_with_padding_matches_per_file_decoding(tmp_path):
    torch.manual_seed(0)
    model = SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=16, num_layers=1)).eval()
    rng = np.random.default_rng(0)
    utterances = []
    for i in range(6):
        path = tmp_path / f"{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * rng.uniform(0.2, 0.6)))).astype(np.float32), 16000)
        utterances.append(Utterance(audio=str(path), duration=sf.info(path).duration, label=LABELS[i % 3]))
    report = evaluate(model, utterances, decoders=("closed_set",), pad_seconds=0.2, quiet=True)
    pad = np.zeros(3200, dtype=np.float32)
    expected = []
    for u in utterances:
        audio = np.concatenate([pad, sf.read(u.audio, dtype="float32")[0], pad])
        expected.append(model.transcribe(audio, method="closed_set").text)
    assert [p["closed_set"] for p in report["predictions"]] == expected
    accuracy = np.mean([e == u.label for e, u in zip(expected, utterances)])
    assert report["metrics"]["closed_set"]["utterance_accuracy"] == pytest.approx(accuracy)
