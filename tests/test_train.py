"""Training loop, config loading and augmentation, on tiny generated data."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

import speechrnn
from speechrnn.audio import load_audio
from speechrnn.augment import (
    AugmentConfig,
    WaveformAugment,
    colouring_gain,
    mix_at_snr,
    spec_augment,
    stationary_tones,
)
from speechrnn.config import load_config
from speechrnn.data.dataset import BucketBatchSampler, ManifestDataset, targets_for, vocabulary
from speechrnn.data.manifest import Utterance, read_manifest, write_manifest
from speechrnn.decode import closed_set_scores
from speechrnn.errors import ConfigError, DataError, ModelError
from speechrnn.evaluate import evaluate
from speechrnn.model import load_checkpoint
from speechrnn.train import train
from speechrnn.vocab import Vocabulary

RATE = 16000
TONES = {"low": 300.0, "mid": 900.0, "high": 2000.0}


def tone(freq: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def tone_data(tmp_path_factory):
    """Manifests of tone 'words': classify (one tone) and ctc (a sequence of tones with gaps)."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    names = list(TONES)
    classify, ctc = [], []
    for i in range(48):
        name = names[i % 3]
        path = root / f"c{i}.wav"
        sf.write(path, tone(TONES[name], rng.uniform(0.3, 0.6), rng), RATE)
        classify.append(Utterance(audio=str(path), duration=sf.info(path).duration, speaker="s", label=name))
        words = [names[j] for j in rng.integers(0, 3, rng.integers(1, 4))]
        gap = np.zeros(int(0.1 * RATE), dtype=np.float32)
        audio = np.concatenate([x for w in words for x in (tone(TONES[w], 0.25, rng), gap)])
        path = root / f"s{i}.wav"
        sf.write(path, audio, RATE)
        ctc.append(Utterance(audio=str(path), duration=len(audio) / RATE, speaker="s", text=" ".join(words)))
    for name, utts in (("classify", classify), ("ctc", ctc)):
        write_manifest(root / f"{name}_train.jsonl", utts[:40])
        write_manifest(root / f"{name}_valid.jsonl", utts[40:])
    return root


def tiny_config(root, head: str, out_dir, *extra: str):
    overrides = [
        f"model.head={'classify' if head == 'classify' else 'ctc'}",
        "model.hidden_size=16",
        "model.num_layers=1",
        "model.n_mels=20",
        "model.dropout=0.0",
        f"data.train={root / f'{head}_train.jsonl'}",
        f"data.valid={root / f'{head}_valid.jsonl'}",
        "data.max_seconds=4.0",
        "data.num_workers=0",
        "optim.lr=0.01",
        "optim.warmup_steps=2",
        f"train.out_dir={out_dir}",
        "train.epochs=3",
        "train.threads=1",
        *extra,
    ]
    return load_config(None, overrides)


def log_rows(out_dir) -> list[dict]:
    with open(out_dir / "log.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("head", ["classify", "ctc"])
def test_training_lowers_loss_and_writes_loadable_checkpoint(tone_data, tmp_path, head):
    out = tmp_path / "run"
    best = train(tiny_config(tone_data, head, out, "train.epochs=4"), quiet=True)
    rows = log_rows(out)
    assert len(rows) == 4
    assert float(rows[-1]["train_loss"]) < 0.7 * float(rows[0]["train_loss"])
    model = speechrnn.load_model(best)
    checkpoint = load_checkpoint(best)
    assert checkpoint["train_config"]["model"]["labels"] == sorted(TONES)  # resolved from the manifest
    assert (out / "config.json").is_file() and (out / "last.pt").is_file()
    if head == "classify":
        result = model.transcribe(tone(TONES["high"], 0.5, np.random.default_rng(1)))
        assert result.label in TONES and result.score > 0
    else:
        assert all(k not in checkpoint for k in ("optimizer", "rng"))  # training state only in last.pt
        assert "optimizer" in load_checkpoint(out / "last.pt")


def test_classifier_learns_the_tones(tone_data, tmp_path):
    best = train(tiny_config(tone_data, "classify", tmp_path / "run", "train.epochs=8"), quiet=True)
    model = speechrnn.load_model(best)
    rng = np.random.default_rng(5)
    correct = sum(model.transcribe(tone(f, 0.4, rng)).label == name for name, f in TONES.items() for _ in range(3))
    assert correct >= 8


def test_resume_continues_exactly(tone_data, tmp_path):
    """An interrupted run resumed with --resume ends with the same weights as an uninterrupted one."""
    augment = ["augment.speed_factors=[0.9, 1.0, 1.1]", "augment.noise_prob=0.5", "augment.spec_time_masks=1"]
    straight = tmp_path / "straight"
    train(tiny_config(tone_data, "ctc", straight, *augment), quiet=True)
    steps_per_epoch = int(log_rows(straight)[0]["step"])
    resumed = tmp_path / "resumed"
    train(tiny_config(tone_data, "ctc", resumed, *augment, f"train.max_steps={steps_per_epoch}"), quiet=True)
    assert len(log_rows(resumed)) == 1
    train(tiny_config(tone_data, "ctc", resumed, *augment), resume=True, quiet=True)
    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(resumed / "last.pt")
    assert a["step"] == b["step"] == 3 * steps_per_epoch
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)
    assert [r["train_loss"] for r in log_rows(straight)] == [r["train_loss"] for r in log_rows(resumed)]


def test_resume_needs_the_same_model(tone_data, tmp_path):
    out = tmp_path / "run"
    train(tiny_config(tone_data, "classify", out, "train.epochs=1"), quiet=True)
    with pytest.raises(ConfigError, match="same model config"):
        train(tiny_config(tone_data, "classify", out, "model.hidden_size=8"), resume=True, quiet=True)


def test_config_errors_name_the_key(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[train]\nepochs = 2\n[model]\nhiden_size = 3\n")
    with pytest.raises(ConfigError, match="hiden_size"):
        load_config(config)
    with pytest.raises(ConfigError, match="optim.lrate"):
        load_config(None, ["optim.lrate=1"])
    with pytest.raises(ConfigError, match=r"\[trian\]"):
        load_config(None, ["trian.epochs=1"])
    with pytest.raises(ConfigError, match="train.epochs must be int"):
        load_config(None, ["train.epochs=many"])
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    config.write_text("[train\n")
    with pytest.raises(ConfigError, match="not a valid config file"):
        load_config(config)
    assert load_config(None, ["data.train=a.jsonl", "optim.lr=1"]).data.train == ["a.jsonl"]


@pytest.mark.skipif(torch.cuda.device_count() > 3, reason="checks the message for a machine with at most 3 GPUs")
def test_train_device_names_a_missing_gpu_before_touching_it():
    """train.device=cuda:3: without CUDA, or with fewer GPUs, one line says so (no torch traceback)."""
    from speechrnn.train import setup_distributed

    expected = "not available" if not torch.cuda.is_available() else "this machine has"
    with pytest.raises(ConfigError, match=rf"train.device=cuda:3 but .*{expected}"):
        setup_distributed("cuda:3")


def test_cli_reports_a_bad_key_in_one_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[model]\nhead = 'ctc'\n")
    result = subprocess.run(
        [sys.executable, "-m", "speechrnn", "train", str(config), "--set", "train.epoch=2"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "train.epoch" in result.stderr and "Traceback" not in result.stderr


def test_cli_reports_audio_missing_in_a_loader_worker_in_one_line(tone_data, tmp_path):
    # the error happens in a DataLoader worker, which re-raises it with its traceback as the message
    utterances = read_manifest(tone_data / "ctc_train.jsonl")[:8]
    utterances[5] = Utterance(audio=str(tmp_path / "gone.wav"), duration=0.5, speaker="s", text="low")
    write_manifest(tmp_path / "train.jsonl", utterances)
    overrides = ["model.head=ctc", "model.hidden_size=8", "model.num_layers=1", "model.n_mels=20",
                 "model.normalization=none", f"data.train={tmp_path / 'train.jsonl'}",
                 f"data.valid={tone_data / 'ctc_valid.jsonl'}", "data.num_workers=1", "train.epochs=1",
                 f"train.out_dir={tmp_path / 'run'}", "train.threads=1"]  # fmt: skip
    config = tmp_path / "c.toml"
    config.write_text("[model]\nhead = 'ctc'\n")
    command = [sys.executable, "-m", "speechrnn", "train", str(config), "--quiet"] + [f"--set={o}" for o in overrides]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == f"speechrnn train: error: {tmp_path / 'gone.wav'}: no such file"


def test_waveform_augmentation_is_a_function_of_its_generator(tone_data):
    config = AugmentConfig(
        speed_factors=[0.9, 1.1], gain_db=[-6, 6], shift_ms=50, noise_prob=1.0, tone_prob=1.0, eq_prob=1.0
    )
    augment = WaveformAugment(config, RATE)
    audio = tone(440.0, 0.5, np.random.default_rng(0))
    first = augment(audio, np.random.default_rng((0, 1, 7)))
    assert np.array_equal(first, augment(audio, np.random.default_rng((0, 1, 7))))
    assert not np.array_equal(first, augment(audio, np.random.default_rng((0, 2, 7))))
    assert np.abs(first).max() <= 1.0


def test_dataset_items_depend_on_epoch_and_index_only(tone_data):
    """The sampler tags indices with the epoch; an augmented item is a function of (seed, epoch, index)."""
    sampler = BucketBatchSampler([0.5] * 10, 2.0, seed=3, with_epoch=True)
    sampler.set_epoch(4)
    assert all(epoch == 4 for batch in sampler for _, epoch in batch)
    utterances = read_manifest(tone_data / "classify_train.jsonl")
    augment = WaveformAugment(AugmentConfig(speed_factors=[0.9, 1.1], gain_db=[-6, 6], noise_prob=1.0), RATE)
    dataset = ManifestDataset(utterances, sorted(TONES), "classify", augment=augment, seed=7)
    first, target, speaker = dataset[(2, 1)]
    assert target == [sorted(TONES).index(utterances[2].label)]
    torch.manual_seed(123)  # torch's global RNG (what loader workers reseed) must not matter
    assert torch.equal(dataset[(2, 1)][0], first)
    assert not torch.equal(dataset[(2, 2)][0], first)
    assert not torch.equal(dataset[(3, 1)][0][: len(first)], first[: len(dataset[(3, 1)][0])])


def test_ddp_batches_keep_every_item_and_give_every_rank_a_share():
    """A one-item global batch (a long utterance) under two ranks: training repeats the item so both
    ranks step together; evaluation scores every item exactly once and the idle rank skips it."""
    durations = [0.5, 0.5, 0.5, 0.5, 1.9, 0.5, 0.5]  # batches of <= 2 s: the 1.9 s item alone
    for shuffle in (True, False):
        train = [BucketBatchSampler(durations, 2.0, shuffle=shuffle, rank=r, world_size=2) for r in (0, 1)]
        assert len(train[0]) == len(train[1]) == len(list(train[0])) == len(train[0].batches)
        assert all(len(share) >= 1 for sampler in train for share in sampler)
        assert sorted({i for sampler in train for share in sampler for i in share}) == list(range(7))
        assert [4] * 2 in train[0].batches  # the long item twice: both ranks compute its loss
        valid = [BucketBatchSampler(durations, 2.0, shuffle=shuffle, rank=r, world_size=2, even_batches=False)
                 for r in (0, 1)]  # fmt: skip
        scored = [i for sampler in valid for share in sampler for i in share]
        assert sorted(scored) == list(range(7))
        assert [len(sampler) for sampler in valid] == [len(list(sampler)) for sampler in valid]
        assert len(valid[1]) == len(valid[0]) - 1  # rank 1 has no share of the one-item batch


def test_ctc_targets_take_an_isolated_words_label_when_it_has_no_text():
    connected = Utterance(audio="a.wav", duration=1.0, text="four  two")
    isolated = Utterance(audio="b.wav", duration=0.5, label="seven")
    assert vocabulary([connected, isolated], "ctc", "word") == ["four", "seven", "two"]
    vocab = Vocabulary(("four", "seven", "two"), "ctc", "word")
    assert targets_for(connected, vocab) == [1, 3]  # label i is output i + 1: the blank is 0
    assert targets_for(isolated, vocab) == [2]
    both = Utterance(audio="c.wav", duration=0.5, label="seven", text="two")  # text wins
    assert targets_for(both, vocab) == [3]
    assert vocabulary([isolated], "ctc", "char") == ["e", "n", "s", "v"]


def test_mix_at_snr_hits_the_requested_ratio():
    rng = np.random.default_rng(0)
    speech, noise = rng.standard_normal(16000).astype(np.float32), rng.standard_normal(16000).astype(np.float32)
    mixed = mix_at_snr(speech, noise, 10.0)
    added = mixed - speech
    assert 10 * np.log10(np.mean(speech**2) / np.mean(added**2)) == pytest.approx(10.0, abs=1e-3)


def test_stationary_tones_are_one_to_three_steady_sines_at_the_requested_ratio():
    rate = 16000
    for seed in range(5):
        tones = stationary_tones(np.random.default_rng(seed), rate, rate)
        assert np.mean(tones**2) == pytest.approx(1.0, rel=1e-3)
        spectrum = np.abs(np.fft.rfft(tones))  # 1 Hz bins over one second
        peaks = np.flatnonzero(spectrum > 0.1 * spectrum.max())
        groups = np.split(peaks, np.flatnonzero(np.diff(peaks) > 3) + 1)
        assert 1 <= len(groups) <= 3 and 50 - 3 <= peaks.min() and peaks.max() <= 3800 + 3
        halves = np.abs(np.fft.rfft(tones[: rate // 2])), np.abs(np.fft.rfft(tones[rate // 2 :]))
        assert np.allclose(halves[0], halves[1], rtol=0.05, atol=0.05 * halves[0].max())  # stationary
    speech = np.random.default_rng(9).standard_normal(rate).astype(np.float32) * 0.1
    augment = WaveformAugment(AugmentConfig(tone_prob=1.0, tone_snr_db=[20.0, 20.0]), rate)
    added = augment(speech, np.random.default_rng(1)) - speech
    assert 10 * np.log10(np.mean(speech**2) / np.mean(added**2)) == pytest.approx(20.0, abs=1e-2)
    assert np.array_equal(WaveformAugment(AugmentConfig(tone_prob=0.0), rate)(speech, np.random.default_rng(1)), speech)


def test_microphone_colouring_tilts_the_spectrum_and_keeps_the_level():
    freqs = np.array([500.0, 1000.0, 2000.0, 4000.0])
    gain_db = 20 * np.log10(colouring_gain(freqs, -6.0, 1e9))
    assert gain_db == pytest.approx([0.0, -6.0, -12.0, -18.0], abs=1e-3)  # -6 dB per octave above 500 Hz
    assert 20 * np.log10(colouring_gain(np.array([2000.0]), 0.0, 2000.0))[0] == pytest.approx(-3.01, abs=0.01)
    rate = 16000
    noise = np.random.default_rng(0).standard_normal(rate).astype(np.float32) * 0.05
    config = AugmentConfig(eq_prob=1.0, eq_tilt_db=[-6.0, -6.0], eq_lowpass_hz=[8000.0, 8000.0])
    out = WaveformAugment(config, rate)(noise, np.random.default_rng(1))
    assert np.sqrt(np.mean(out**2)) == pytest.approx(np.sqrt(np.mean(noise**2)), rel=1e-3)
    band = lambda x, lo, hi: np.mean(np.abs(np.fft.rfft(x)[lo:hi]) ** 2)  # noqa: E731 (1 Hz bins)
    before = band(noise, 3000, 4000) / band(noise, 250, 500)
    after = band(out, 3000, 4000) / band(out, 250, 500)
    assert 10 * np.log10(before / after) == pytest.approx(6.0 * np.log2(3500 / 375), abs=1.5)


def test_spec_augment_masks_only_inside_each_item():
    feats = torch.ones(2, 50, 20)
    lengths = torch.tensor([50, 20])
    torch.manual_seed(0)
    out = spec_augment(feats, lengths, AugmentConfig(spec_time_masks=2, spec_time_width=0.2, spec_freq_masks=2))
    assert out[1, 20:].abs().sum() == 0  # padding stays zero
    assert (out == 0).any() and (out == 1).any()
    assert spec_augment(feats, lengths, AugmentConfig()) is feats


def test_closed_set_training_scores_validation_as_evaluate_does(tone_data, tmp_path):
    """optim.closed_set: a CTC model learns the isolated tones; its logged validation error is the
    closed-set error that ``evaluate --decoder closed_set`` reports for the best checkpoint."""
    out = tmp_path / "run"  # the classify manifests: a label and no text, so one CTC token each
    config = tiny_config(tone_data, "classify", out, "model.head=ctc", "optim.closed_set=true",
                         "train.epochs=6", "train.amp=false")  # fmt: skip  (CUDA: log float32 losses, as evaluate)
    best = train(config, quiet=True)
    rows = log_rows(out)
    assert float(rows[-1]["train_loss"]) < 0.5 * float(rows[0]["train_loss"])
    report = evaluate(speechrnn.load_model(best), read_manifest(tone_data / "classify_valid.jsonl"),
                      decoders=("closed_set",), quiet=True)  # fmt: skip
    logged = min(float(r["valid_error"]) for r in rows)
    assert 1 - report["metrics"]["closed_set"]["utterance_accuracy"] == pytest.approx(logged, abs=1e-6)
    assert logged <= 0.25
    best_row = next(r for r in rows if float(r["valid_error"]) == logged)  # best.pt: the first best epoch
    model, losses = speechrnn.load_model(best), []
    for utterance in read_manifest(tone_data / "classify_valid.jsonl"):
        with torch.no_grad():
            log_probs, steps = model(torch.from_numpy(load_audio(utterance.audio, RATE)))
        scores = closed_set_scores(log_probs[0, : int(steps[0])], [[k] for k in range(1, len(TONES) + 1)])
        losses.append(-float(scores.log_softmax(0)[model.config.labels.index(utterance.label)]))
    # the closed-set loss; abs: a loss near 1e-5 is -log(p) with p a float32 step or two below 1 (CUDA vs CPU)
    assert float(best_row["valid_loss"]) == pytest.approx(np.mean(losses), rel=1e-4, abs=1e-7)


def test_closed_set_training_needs_ctc_and_one_label_per_utterance(tone_data, tmp_path):
    with pytest.raises(DataError, match=r"s\d+\.wav: optim.closed_set needs one label per utterance, got \d tokens"):
        train(tiny_config(tone_data, "ctc", tmp_path / "a", "optim.closed_set=true"), quiet=True)
    with pytest.raises(ConfigError, match="optim.closed_set is for CTC models"):
        train(tiny_config(tone_data, "classify", tmp_path / "b", "optim.closed_set=true"), quiet=True)


def test_init_from_fine_tunes_a_trained_model_and_keeps_its_normalisation(tone_data, tmp_path):
    """train.init_from starts from a checkpoint's weights and feature statistics: with lr 0 the
    fine-tuned model is that model, although its training data (another manifest) differ."""
    first = train(tiny_config(tone_data, "ctc", tmp_path / "first", "train.epochs=1"), quiet=True)
    again = tiny_config(tone_data, "classify", tmp_path / "tuned", "model.head=ctc", "optim.lr=0",
                        "train.epochs=1", f"train.init_from={first}", "model.dropout=0.3")  # fmt: skip
    tuned = load_checkpoint(train(again, quiet=True))
    original = load_checkpoint(first)
    for buffer in ("normalizer.mean", "normalizer.std"):
        assert torch.equal(tuned["state_dict"][buffer], original["state_dict"][buffer])
    for key, value in original["state_dict"].items():
        torch.testing.assert_close(tuned["state_dict"][key], value, rtol=0, atol=0, msg=key)
    assert tuned["train_config"]["model"]["dropout"] == 0.3  # a training-only setting may change

    with pytest.raises(ConfigError, match=r"differs from that checkpoint's in hidden_size \(8, checkpoint 16\)"):
        train(tiny_config(tone_data, "ctc", tmp_path / "x", f"train.init_from={first}", "model.hidden_size=8"),
              quiet=True)  # fmt: skip
    with pytest.raises(ModelError, match="no such model file"):
        train(tiny_config(tone_data, "ctc", tmp_path / "y", f"train.init_from={tmp_path / 'none.pt'}"), quiet=True)


def test_init_from_fills_the_model_keys_the_config_leaves_out(tone_data, tmp_path):
    """Fine-tuning needs no copy of the checkpoint's [model]: the keys a config leaves out are the
    checkpoint's (labels included), the ones it sets win, and the run starts from that model."""
    first = train(tiny_config(tone_data, "ctc", tmp_path / "first", "train.epochs=1"), quiet=True)
    minimal = [f"data.train={tone_data / 'ctc_train.jsonl'}", f"data.valid={tone_data / 'ctc_valid.jsonl'}",
               "data.max_seconds=4.0", "data.num_workers=0", f"train.out_dir={tmp_path / 'tuned'}",
               "train.epochs=1", "train.threads=1", "optim.lr=0", f"train.init_from={first}"]  # fmt: skip
    theirs = load_checkpoint(first)["model_config"]
    config = load_config(None, [*minimal, "model.dropout=0.25"])
    assert dataclasses.asdict(config.model) == {**theirs, "dropout": 0.25}
    assert load_config(None, minimal[:-1]).model.hidden_size != theirs["hidden_size"]  # without: the defaults
    tuned = load_checkpoint(train(load_config(None, minimal), quiet=True))
    for key, value in load_checkpoint(first)["state_dict"].items():
        torch.testing.assert_close(tuned["state_dict"][key], value, rtol=0, atol=0, msg=key)
    with pytest.raises(ModelError, match="no such model file"):
        load_config(None, [f"train.init_from={tmp_path / 'none.pt'}"])


@pytest.mark.parametrize("head", ["ctc", "classify"])
def test_init_from_with_other_labels_keeps_the_shared_labels_output_rows(tone_data, head, tmp_path):
    """Fine-tuning to another vocabulary: the encoder and the rows of the labels both models have (and
    the blank) are the checkpoint's; a new label's row is a fresh one; with lr 0 nothing else moves."""
    first = train(tiny_config(tone_data, head, tmp_path / "first", "train.epochs=1"), quiet=True)
    original = load_checkpoint(first)
    old_labels = original["model_config"]["labels"]
    new_labels = [*reversed(old_labels), "extra"]
    labels = "[" + ", ".join(f'"{label}"' for label in new_labels) + "]"
    overrides = ("optim.lr=0", "train.epochs=1", f"train.init_from={first}", f"model.labels={labels}")
    tuned = load_checkpoint(train(tiny_config(tone_data, head, tmp_path / "tuned", *overrides), quiet=True))
    assert tuned["model_config"]["labels"] == new_labels
    output = "head.weight" if head == "ctc" else "head.output.weight"
    for key, value in original["state_dict"].items():
        if not key.startswith(output.rsplit(".", 1)[0] + "."):
            torch.testing.assert_close(tuned["state_dict"][key], value, rtol=0, atol=0, msg=key)
    offset = 1 if head == "ctc" else 0
    for name in (output, output.replace("weight", "bias")):
        old, new = original["state_dict"][name], tuned["state_dict"][name]
        assert new.shape[0] == len(new_labels) + offset
        if offset:
            assert torch.equal(new[0], old[0])  # the blank
        for i, label in enumerate(new_labels[:-1]):
            assert torch.equal(new[i + offset], old[old_labels.index(label) + offset]), label
        assert not any(torch.equal(new[-1], row) for row in old)  # "extra" starts afresh


def test_shift_and_tail_surround_the_audio_with_bounded_silence():
    audio = np.ones(1600, dtype=np.float32)
    for seed in range(5):
        padded = WaveformAugment(AugmentConfig(shift_ms=100, tail_ms=50), RATE)(audio, np.random.default_rng(seed))
        nonzero = np.flatnonzero(padded)
        lead, tail = nonzero[0], padded.size - 1 - nonzero[-1]
        assert nonzero.size == audio.size and 0 <= lead <= 1600 and 0 <= tail <= 800
    tail_only = WaveformAugment(AugmentConfig(tail_ms=50), RATE)(audio, np.random.default_rng(3))
    assert np.array_equal(tail_only[: audio.size], audio) and tail_only.size > audio.size
    # a tail draws after the shift, so a config without one keeps its old random stream
    shifted = WaveformAugment(AugmentConfig(shift_ms=100), RATE)(audio, np.random.default_rng(4))
    assert np.array_equal(shifted, WaveformAugment(AugmentConfig(shift_ms=100, tail_ms=50), RATE)(
        audio, np.random.default_rng(4))[: shifted.size])
