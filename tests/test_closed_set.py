"""Closed-set CTC decoding: isolated-word recognition with a connected-speech CTC model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import noise_clips

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


def _random_clips(tmp_path, count: int = 6) -> list[Utterance]:
    return noise_clips(tmp_path, LABELS, count)


def test_ensemble_averages_closed_set_posteriors(tmp_path):
    models = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        models.append(SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=16, num_layers=1)).eval())
    utterances = _random_clips(tmp_path)
    report = evaluate(models, utterances, decoders=("closed_set",), pad_seconds=0.1, quiet=True)
    pad = np.zeros(1600, dtype=np.float32)
    expected = []
    for u in utterances:
        audio = torch.from_numpy(np.concatenate([pad, sf.read(u.audio, dtype="float32")[0], pad]))[None]
        posteriors = []
        for model in models:
            with torch.inference_mode():
                log_probs, steps = model(audio)
            scores = closed_set_scores(log_probs[0, : int(steps[0])], [[1], [2], [3]])
            posteriors.append(scores.log_softmax(0))
        expected.append(LABELS[int(torch.stack(posteriors).mean(0).argmax())])
    assert [p["closed_set"] for p in report["predictions"]] == expected
    # a model with itself is the model alone
    alone = evaluate(models[0], utterances, decoders=("closed_set",), pad_seconds=0.1, quiet=True)
    twice = evaluate([models[0], models[0]], utterances, decoders=("closed_set",), pad_seconds=0.1, quiet=True)
    assert [p["closed_set"] for p in twice["predictions"]] == [p["closed_set"] for p in alone["predictions"]]


def test_ensemble_needs_matching_models_and_closed_set(tmp_path):
    utterances = _random_clips(tmp_path, 2)
    a = SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=16, num_layers=1))
    b = SpeechRNN(ModelConfig(head="ctc", labels=[*LABELS, "four"], hidden_size=16, num_layers=1))
    with pytest.raises(ConfigError, match="share head, labels and unit"):
        evaluate([a, b], utterances, decoders=("closed_set",), quiet=True)
    with pytest.raises(ConfigError, match="closed_set only"):
        evaluate([a, a], utterances, decoders=("greedy",), quiet=True)


def test_cli_scores_an_ensemble(tmp_path, capsys):
    from speechrnn.cli import main
    from speechrnn.data.manifest import write_manifest
    from speechrnn.model import save_checkpoint

    utterances = _random_clips(tmp_path, 3)
    write_manifest(tmp_path / "m.jsonl", utterances)
    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        save_checkpoint(tmp_path / f"m{seed}.pt", SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=16)))
        paths += ["--model", str(tmp_path / f"m{seed}.pt")]
    out = tmp_path / "report"
    argv = ["evaluate", *paths, "--manifest", str(tmp_path / "m.jsonl"), "--quiet", "--decoder"]
    assert main([*argv, "closed_set", "--output-dir", str(out)]) == 0
    report = __import__("json").loads((out / "report.json").read_text())
    assert report["model"] == [str(tmp_path / "m1.pt"), str(tmp_path / "m2.pt")]
    assert report["num_utterances"] == 3 and "closed_set" in report["metrics"]
    assert main([*argv, "greedy"]) == 1
    assert "closed_set only" in capsys.readouterr().err


def test_batched_label_scores_equal_each_padded_utterances_closed_set_scores():
    from speechrnn.decode import label_scores

    torch.manual_seed(0)
    log_probs = torch.randn(3, 20, len(LABELS) + 1).log_softmax(-1)
    steps = torch.tensor([20, 13, 7])
    batched = label_scores(log_probs, steps)
    for i, n in enumerate(steps.tolist()):
        single = closed_set_scores(log_probs[i, :n], [[k] for k in range(1, len(LABELS) + 1)])
        torch.testing.assert_close(batched[i], single, rtol=0, atol=1e-5)
    log_probs.requires_grad_(True)
    label_scores(log_probs, steps)[0, 1].backward()  # differentiable, and blind to padding
    assert log_probs.grad[1:].abs().sum() == 0 and log_probs.grad[0].abs().sum() > 0
