"""Mel-axis warps: warp_mel moves spectral peaks by a known factor; test-time warps in evaluate and
pseudo-label equal an independently computed average over the warped runs; bad factors rejected."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import noise_clips

from speechrnn.augment import warp_frequency, warp_mel
from speechrnn.cli import main
from speechrnn.data.manifest import write_manifest
from speechrnn.decode import closed_set_scores
from speechrnn.errors import ConfigError
from speechrnn.evaluate import evaluate
from speechrnn.model import ModelConfig, SpeechRNN, save_checkpoint
from speechrnn.pseudo_label import pseudo_label

torch.set_num_threads(1)

LABELS = ["one", "two", "three"]
WARPS = (0.9, 1.0, 1.15)


def peak(bin_index: int, batch: int = 1, frames: int = 3, bins: int = 80) -> torch.Tensor:
    """(batch, frames, bins) zeros with 1 at ``bin_index`` in every frame."""
    feats = torch.zeros(batch, frames, bins)
    feats[..., bin_index] = 1.0
    return feats


def test_warp_mel_moves_a_peak_by_the_factor_and_keeps_timing():
    assert torch.equal(warp_mel(peak(20), 1.0), peak(20))
    assert torch.equal(warp_mel(peak(20), 2.0), peak(10))  # output bin k reads input bin 2k
    stretched = warp_mel(peak(20), 0.5)[0, 0]  # output bin k reads input bin k / 2
    assert stretched[40] == 1.0 and stretched[39] == stretched[41] == 0.5
    assert stretched.sum() == 2.0 and stretched[:39].sum() == 0 and stretched[42:].sum() == 0
    # one factor per item: each item warped as if alone
    both = warp_mel(peak(20, batch=2), torch.tensor([[2.0], [1.0]]))
    assert torch.equal(both[0], peak(10)[0]) and torch.equal(both[1], peak(20)[0])
    # compressing reads past the top bin: it repeats the top bin (bins 53-79 read 79.5-118.5)
    top = warp_mel(peak(79), 1.5)[0, 0]
    assert top[53:].eq(1).all() and top[:53].eq(0).all()


def test_random_warp_stays_within_its_bounds():
    torch.manual_seed(0)
    out = warp_frequency(peak(40, batch=64, frames=1), 0.1)
    centre = (out[:, 0] * torch.arange(80)).sum(dim=-1) / out[:, 0].sum(dim=-1)  # 40 / factor, to a bin
    assert centre.min() >= 40 / 1.1 - 0.5 and centre.max() <= 40 / 0.9 + 0.5
    assert centre.max() - centre.min() > 4  # the factors do vary


def warped_output(model: SpeechRNN, path: str, factor: float, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """One file alone through ``model`` with its features warped by ``factor``."""
    audio = np.pad(sf.read(path, dtype="float32")[0], pad)
    with torch.inference_mode():
        outputs, steps = model(torch.from_numpy(audio)[None], feature_transform=lambda f, _: warp_mel(f, factor))
    return outputs[0], steps[0]


def test_classifier_with_test_time_warps_averages_the_warped_posteriors(tmp_path):
    torch.manual_seed(2)
    model = SpeechRNN(ModelConfig(head="classify", labels=LABELS, hidden_size=16, num_layers=1)).eval()
    utterances = noise_clips(tmp_path, LABELS, 6)
    report = evaluate(model, utterances, warps=WARPS, max_seconds=1.0, quiet=True)
    assert report["warps"] == list(WARPS)
    changed = 0
    for utterance, prediction in zip(utterances, report["predictions"], strict=True):
        posteriors = torch.stack([warped_output(model, utterance.audio, w)[0].softmax(-1) for w in WARPS])
        expected = posteriors.mean(0)
        assert prediction["prediction"] == LABELS[int(expected.argmax())]
        assert prediction["score"] == pytest.approx(float(expected.max()), abs=1e-5)
        changed += not torch.allclose(posteriors[0], posteriors[1], atol=1e-4)
    assert changed == len(utterances)  # the warps really change what the model sees
    plain = evaluate(model, utterances, quiet=True)
    assert plain["warps"] == [1.0]
    assert plain["predictions"] == evaluate(model, utterances, warps=(1,), quiet=True)["predictions"]


def test_ctc_ensemble_with_warps_in_evaluate_and_pseudo_label(tmp_path):
    models = []
    for seed in (5, 6):
        torch.manual_seed(seed)
        models.append(SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=16, num_layers=1)).eval())
    utterances = noise_clips(tmp_path, LABELS, 6)
    report = evaluate(models, utterances, decoders=("closed_set",), pad_seconds=0.1, warps=WARPS, quiet=True)
    labels = pseudo_label(models, utterances, pad_seconds=0.1, warps=WARPS, quiet=True)
    for utterance, prediction, labelled in zip(utterances, report["predictions"], labels, strict=True):
        log_posteriors = []
        for model in models:
            for w in WARPS:
                log_probs, steps = warped_output(model, utterance.audio, w, pad=1600)
                log_posteriors.append(closed_set_scores(log_probs[: int(steps)], [[1], [2], [3]]).log_softmax(0))
        expected = torch.stack(log_posteriors).mean(0).softmax(0)
        assert prediction["closed_set"] == labelled.utterance.label == LABELS[int(expected.argmax())]
        assert labelled.confidence == pytest.approx(float(expected.max()), abs=1e-5)


def test_bad_warps_are_rejected(tmp_path):
    torch.manual_seed(0)
    model = SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=8, num_layers=1)).eval()
    utterances = noise_clips(tmp_path, LABELS, 2)
    with pytest.raises(ConfigError, match="warp factor must be between 0.5 and 2, got 3"):
        evaluate(model, utterances, decoders=("closed_set",), warps=(1.0, 3.0), quiet=True)
    with pytest.raises(ConfigError, match="at least one warp factor"):
        pseudo_label(model, utterances, warps=(), quiet=True)
    with pytest.raises(ConfigError, match="test-time warps are scored with --decoder closed_set only"):
        evaluate(model, utterances, decoders=("greedy",), warps=(0.9, 1.0), quiet=True)


def test_cli_warp_option(tmp_path, capsys):
    torch.manual_seed(0)
    model = SpeechRNN(ModelConfig(head="ctc", labels=LABELS, hidden_size=8, num_layers=1)).eval()
    save_checkpoint(tmp_path / "m.pt", model)
    write_manifest(tmp_path / "m.jsonl", noise_clips(tmp_path, LABELS, 3))
    common = ["--model", str(tmp_path / "m.pt"), "--manifest", str(tmp_path / "m.jsonl"), "--quiet"]
    out = tmp_path / "eval"
    assert main(["evaluate", *common, "--decoder", "closed_set", "--warp", "0.9", "1", "--output-dir", str(out)]) == 0
    assert json.loads((out / "report.json").read_text())["warps"] == [0.9, 1.0]
    capsys.readouterr()
    labelled = tmp_path / "pseudo.jsonl"
    argv = ["pseudo-label", *common, "--min-confidence", "0", "--output", str(labelled), "--warp", "0.2"]
    assert main(argv) == 1
    message = "speechrnn pseudo-label: error: warp factor must be between 0.5 and 2, got 0.2"
    assert capsys.readouterr().err.strip() == message
    assert not labelled.exists()
