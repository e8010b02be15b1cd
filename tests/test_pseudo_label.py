"""speechrnn pseudo-label: labels are evaluate's decisions, confidences its posteriors; selection; CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import noise_clips

from speechrnn.cli import main
from speechrnn.data.manifest import Utterance, read_manifest, write_manifest
from speechrnn.decode import closed_set_scores
from speechrnn.errors import ConfigError, DataError
from speechrnn.evaluate import evaluate
from speechrnn.model import ModelConfig, SpeechRNN, save_checkpoint
from speechrnn.pseudo_label import PseudoLabel, confident, pseudo_label

LABELS = ["one", "two", "three"]


def tone_clips(folder, count: int) -> list[Utterance]:
    """Tones of 150 Hz, 550 Hz, ... with a little noise, 0.2 s, 0.25 s, ... long (no labels)."""
    rng = np.random.default_rng(0)
    utterances = []
    for i in range(count):
        t = np.arange(int(16000 * (0.2 + 0.05 * i))) / 16000
        audio = (0.3 * np.sin(2 * np.pi * (150 + 400 * i) * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)
        sf.write(folder / f"tone{i}.wav", audio, 16000)
        utterances.append(Utterance(str(folder / f"tone{i}.wav"), len(t) / 16000, speaker="new"))
    return utterances


def ctc_models(*seeds: int) -> list[SpeechRNN]:
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=16, num_layers=1)).eval())
    return models


def test_ctc_ensemble_labels_are_evaluates_closed_set_decisions_whatever_the_manifest_says(tmp_path):
    models = ctc_models(5, 6)
    tones = [dataclasses.replace(u, label=LABELS[i % 3]) for i, u in enumerate(tone_clips(tmp_path, 6))]
    utterances = noise_clips(tmp_path, LABELS, 2) + tones  # labelled: evaluate needs references
    labels = pseudo_label(models, utterances, pad_seconds=0.1, quiet=True)
    report = evaluate(models, utterances, decoders=("closed_set",), pad_seconds=0.1, quiet=True)
    assert [p.utterance.label for p in labels] == [p["closed_set"] for p in report["predictions"]]
    assert len({p.utterance.label for p in labels}) > 1  # the check above could not pass by chance

    # the confidence is the ensemble posterior: softmax of the mean closed-set log-posteriors
    pad = np.zeros(1600, dtype=np.float32)
    for utterance, labelled in zip(utterances, labels, strict=True):
        audio = torch.from_numpy(np.concatenate([pad, sf.read(utterance.audio, dtype="float32")[0], pad]))[None]
        posteriors = []
        for model in models:
            with torch.inference_mode():
                log_probs, steps = model(audio)
            posteriors.append(closed_set_scores(log_probs[0, : int(steps[0])], [[1], [2], [3]]).log_softmax(0))
        expected = torch.stack(posteriors).mean(0).softmax(0)
        assert labelled.confidence == pytest.approx(float(expected.max()), abs=1e-5)
        assert labelled.utterance.label == LABELS[int(expected.argmax())]
        assert labelled.utterance.audio == utterance.audio and labelled.utterance.text is None

    unlabelled = [dataclasses.replace(u, label=None, text="three three") for u in utterances]  # or mislabelled
    again = pseudo_label(models, unlabelled, pad_seconds=0.1, quiet=True)
    assert [(p.utterance, p.confidence) for p in again] == [(p.utterance, p.confidence) for p in labels]


def test_a_classifier_labels_with_its_class_posterior(tmp_path):
    torch.manual_seed(0)
    model = SpeechRNN(ModelConfig(head="classify", labels=LABELS, hidden_size=16, num_layers=1)).eval()
    utterances = noise_clips(tmp_path, LABELS, 5)
    labels = pseudo_label(model, utterances, quiet=True)
    for utterance, labelled in zip(utterances, labels, strict=True):  # each file alone, unbatched
        with torch.inference_mode():
            posterior = model(torch.from_numpy(sf.read(utterance.audio, dtype="float32")[0])[None])[0][0].softmax(-1)
        assert labelled.utterance.label == LABELS[int(posterior.argmax())]
        assert labelled.confidence == pytest.approx(float(posterior.max()), abs=1e-5)
    predictions = evaluate(model, utterances, quiet=True)["predictions"]
    assert [p.utterance.label for p in labels] == [p["prediction"] for p in predictions]


def test_only_whole_utterance_labels_from_models_that_agree(tmp_path):
    utterances = noise_clips(tmp_path, LABELS, 2)
    chars = SpeechRNN(ModelConfig(head="ctc", unit="char", labels=list("abc"), hidden_size=8, num_layers=1))
    with pytest.raises(ConfigError, match="char-level CTC model"):
        pseudo_label(chars, utterances, quiet=True)
    other = SpeechRNN(ModelConfig(head="ctc", labels=[*LABELS, "four"], hidden_size=16, num_layers=1))
    with pytest.raises(ConfigError, match="share head, labels and unit"):
        pseudo_label([*ctc_models(1), other], utterances, quiet=True)
    with pytest.raises(DataError, match="no utterances"):
        pseudo_label(ctc_models(1), [], quiet=True)


def labelled(*pairs: tuple[str, float]) -> list[PseudoLabel]:
    return [PseudoLabel(Utterance(f"{i}.wav", 1.0, label=label), c) for i, (label, c) in enumerate(pairs)]


def test_selection_by_confidence_and_class_balanced_fraction():
    labels = labelled(("one", 0.5), ("one", 0.99), ("two", 0.6), ("one", 0.95), ("one", 0.3), ("two", 0.2))
    assert [u.audio for u in confident(labels, 0.9)] == ["1.wav", "3.wav"]
    # the top half of each label (rounded up), in manifest order: "two" keeps its best despite 0.6
    assert [u.audio for u in confident(labels, 0.0, top_fraction=0.5)] == ["1.wav", "2.wav", "3.wav"]
    assert [u.audio for u in confident(labels, 0.9, top_fraction=0.5)] == ["1.wav", "3.wav"]
    assert len(confident(labels, 0.0)) == 6
    with pytest.raises(DataError, match=r"no utterance reaches confidence 0.999 \(the highest is 0.990\)"):
        confident(labels, 0.999)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        confident(labels, 1.5)
    with pytest.raises(ConfigError, match="top fraction"):
        confident(labels, 0.5, top_fraction=0.0)


def test_cli_labels_an_unlabelled_manifest_for_fine_tuning(tmp_path, capsys):
    utterances = tone_clips(tmp_path, 6)
    with open(tmp_path / "audio.jsonl", "w") as f:  # audio only: no label, no text
        for u in utterances:
            f.write(json.dumps({"audio": u.audio, "duration": u.duration, "speaker": "new"}) + "\n")
    paths = []
    for i, model in enumerate(ctc_models(5, 6)):
        save_checkpoint(tmp_path / f"m{i}.pt", model)
        paths += ["--model", str(tmp_path / f"m{i}.pt")]
    argv = ["pseudo-label", *paths, "--manifest", str(tmp_path / "audio.jsonl"), "--quiet", "--pad-ms", "100"]
    assert main([*argv, "--output", str(tmp_path / "out.jsonl"), "--min-confidence", "0"]) == 0
    written = read_manifest(tmp_path / "out.jsonl")
    expected = pseudo_label(ctc_models(5, 6), utterances, pad_seconds=0.1, quiet=True)
    assert [(u.audio, u.label, u.speaker) for u in written] == [
        (p.utterance.audio, p.utterance.label, "new") for p in expected
    ]
    counts = {label: sum(u.label == label for u in written) for label in LABELS}
    summary = ", ".join(f"{label} {n}" for label, n in counts.items() if n)
    assert f"kept 6 of 6 utterances (confidence >= 0): {summary}" in capsys.readouterr().out

    assert main([*argv, "--output", str(tmp_path / "bad.jsonl"), "--min-confidence", "2"]) == 1
    assert "error: min confidence must be between 0 and 1, got 2.0" in capsys.readouterr().err
    assert main([*argv, "--output", str(tmp_path / "bad.jsonl"), "--min-confidence", "1"]) == 1
    assert "no utterance reaches confidence 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.jsonl").exists()
    write_manifest(tmp_path / "empty.jsonl", [])
    argv = ["pseudo-label", *paths, "--manifest", str(tmp_path / "empty.jsonl"), "--output", str(tmp_path / "e.jsonl")]
    assert main(argv) == 1
    assert "manifest is empty" in capsys.readouterr().err
