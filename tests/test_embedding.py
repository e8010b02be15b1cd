"""The pretrained speech-embedding front end: its ONNX import, its time layout, padding, streaming, config."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

import speechrnn
from speechrnn.audio import LogMel
from speechrnn.config import load_config
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.embedding import (
    EMBEDDING_FRONTEND,
    INPUT_FLOOR,
    LEFT_PAD,
    STATE_LAYERS,
    STEP_FRAMES,
    WINDOW_FRAMES,
    EmbeddingStream,
    SpeechEmbedding,
    embedding_input,
    from_onnx,
)
from speechrnn.errors import ConfigError, ModelError
from speechrnn.model import ModelConfig, SpeechRNN, load_checkpoint
from speechrnn.stream_features import EncoderStream
from speechrnn.train import build_model, parameter_groups, train
from tests.helpers import randomize_embedding, speechlike

ROOT = Path(__file__).resolve().parents[1]
FETCH = ROOT / "recipes/commands/local/get_speech_embedding.py"
FRONTEND_KEYS = ("n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max")
FRONTEND = LogMel(**{k: EMBEDDING_FRONTEND[k] for k in FRONTEND_KEYS})  # the embedding's log-mels
# openWakeWord's embedding_model.onnx, when a recipe has fetched it (run.sh stage 1)
PRETRAINED = Path(os.environ.get("SPEECHRNN_EMBEDDING_ONNX", ROOT / "data/commands/embedding_model.onnx"))


def random_embedding(seed: int = 0) -> SpeechEmbedding:
    """A SpeechEmbedding with random weights and batch-norm statistics (its init would be too regular)."""
    model = SpeechEmbedding()
    randomize_embedding(model, seed)
    return model


def assert_near(actual: torch.Tensor, expected: torch.Tensor, relative: float = 1e-5) -> None:
    """Equal up to float32 rounding through 20 layers: ``relative`` of the largest expected magnitude."""
    assert actual.shape == expected.shape
    scale = expected.abs().max().item()
    error = (actual - expected).abs().max().item()
    assert error <= relative * scale, f"max difference {error:.3g} against magnitude {scale:.3g}"


def embedding_frames(frames: int, seed: int = 0) -> torch.Tensor:
    """(1, frames, 32) natural-log mels of speech-like audio (any values the front end can give)."""
    audio = torch.from_numpy(speechlike(frames * 0.01 + 0.05, seed))
    return FRONTEND(audio[None])[:, :frames]


def test_fully_convolutional_equals_one_window_at_a_time():
    model = random_embedding()
    x = embedding_input(embedding_frames(WINDOW_FRAMES + STEP_FRAMES * 5))
    whole = model.windows(x)
    assert whole.shape == (1, 6, 96)
    for k in range(6):
        alone = model.windows(x[:, STEP_FRAMES * k : STEP_FRAMES * k + WINDOW_FRAMES])
        assert_near(whole[:, k], alone[:, 0])


def test_forward_is_causal_and_floors_padding():
    model = random_embedding()
    feats = embedding_frames(101)
    out = model(feats)
    assert out.shape == (1, 13, 96)  # ceil(101 / 8)
    # step k sees frames up to 8k + 7 only: changing frames from 40 on leaves steps 0-4 as they were
    changed = feats.clone()
    changed[:, 40:] += 3.0
    later = model(changed)
    torch.testing.assert_close(later[:, :5], out[:, :5], atol=0, rtol=0)
    assert not torch.allclose(later[:, 5], out[:, 5])
    # step 0 is the first 8 frames after 68 frames of floor
    first = torch.cat([torch.full((1, LEFT_PAD, 32), INPUT_FLOOR), embedding_input(feats[:, :8])], dim=1)
    assert_near(out[:, 0], model.windows(first)[:, 0])
    # frames past an item's length are the floor, whatever the padding holds
    short = feats[:, :60]
    batch = torch.cat([feats, torch.cat([short, torch.full((1, 41, 32), 5.0)], dim=1)])
    padded = torch.cat([batch, torch.full((2, 19, 32), 5.0)], dim=1)
    both = model(padded, torch.tensor([101, 60]))
    assert_near(both[0, :13], out[0])
    alone = model(short)
    assert alone.shape[1] == 8
    assert_near(both[1, :8], alone[0])


def test_step_carries_fixed_state_and_equals_forward_in_any_pieces():
    """``SpeechEmbedding.step`` from ``initial_state``: 11 state tensors of 2 rows each, the same shapes
    after every call, whatever whole steps a call takes; its outputs are ``forward``'s. ``EmbeddingStream``
    takes frames in any counts (1 to 30) and gives the same, its last partial step floor-padded."""
    model = random_embedding(4)
    feats = embedding_frames(101, seed=3)
    want = model(feats)  # (1, 13, 96)
    initial = model.initial_state()
    assert len(initial) == STATE_LAYERS and all(t.size(0) == 1 and t.size(2) == 2 for t in initial)
    x = embedding_input(feats)
    x = torch.cat([x, torch.full((1, 13 * STEP_FRAMES - 101, 32), INPUT_FLOOR)], dim=1)
    whole, _ = model.step(x, initial)
    assert_near(whole, want)
    pieces, state, begin = [], initial, 0
    for steps in (1, 3, 2, 7):  # 13 steps in calls of 1, 3, 2 and 7
        out, state = model.step(x[:, begin : begin + steps * STEP_FRAMES], state)
        assert [t.shape for t in state] == [t.shape for t in initial]
        pieces.append(out)
        begin += steps * STEP_FRAMES
    assert_near(torch.cat(pieces, dim=1), want)
    batch, _ = model.step(torch.cat([x, torch.flip(x, [1])]), [t.expand(2, -1, -1, -1) for t in initial])
    assert_near(batch[:1], want)  # items of a batch stay apart
    stream, rng = EmbeddingStream(model), np.random.default_rng(0)
    for _ in range(2):  # a reset stream starts over from the initial state
        got, begin = [], 0
        while begin < 101:
            size = int(rng.integers(1, 31))
            got.append(stream.accept(x[0, begin : min(begin + size, 101)]))
            begin += size
        got.append(stream.finalize())
        assert_near(torch.cat(got)[None], want)


def test_frozen_weights_are_buffers_and_stay_in_inference_mode():
    model = SpeechRNN(ModelConfig(head="classify", labels=["a", "b"], subsampling="embedding", **EMBEDDING_FRONTEND))
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.startswith("subsampling.") for n in names)  # the optimizer never sees them
    assert any(k.startswith("subsampling.embedding.") for k in model.state_dict())  # checkpoints carry them
    model.train()
    assert model.encoder.training and not model.subsampling.embedding.training
    assert not model.subsampling.embedding.norm.training


def test_unfreeze_trains_only_the_last_convolutions_and_checkpoints_stay_loadable():
    model = random_embedding(4)
    keys = list(model.state_dict())
    x = embedding_frames(WINDOW_FRAMES + 40)
    before = model(x)
    model.unfreeze(3)
    trained = list(model.parameters())
    last_three = [t for conv in model.convolutions()[-3:] for t in (conv.weight, conv.bias) if t is not None]
    assert [id(p) for p in trained] == [id(t) for t in last_three] and len(trained) == 5  # 3 weights, 2 biases
    assert list(model.state_dict()) == keys  # the same checkpoint keys, frozen or not
    out = model(x)
    torch.testing.assert_close(out, before, atol=0, rtol=0)
    out.square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in trained)
    with torch.no_grad():
        model.convolutions()[-1].weight.mul_(1.5)
    frozen = SpeechEmbedding()
    frozen.load_state_dict(model.state_dict())
    assert not list(frozen.parameters())
    torch.testing.assert_close(frozen(x), model(x).detach(), atol=0, rtol=0)
    model.train()
    assert not model.training  # its batch norm keeps the stored statistics
    for count in (-1, 20):
        with pytest.raises(ConfigError, match=f"19 convolutions after its first; cannot train the last {count}"):
            SpeechEmbedding().unfreeze(count)


def test_training_with_a_trainable_embedding_changes_only_its_last_convolutions(tmp_path):
    """train.embedding_trainable=2: the last two convolutions learn, at embedding_lr_scale of the
    learning rate and without weight decay; every other embedding weight stays the pretrained one."""
    onnx_file = tmp_path / "embedding.onnx"
    pretrained = random_embedding(5)
    torch.onnx.export(Windows(pretrained), (embedding_input(embedding_frames(WINDOW_FRAMES)),), str(onnx_file),
                      input_names=["input"], dynamo=False)  # fmt: skip
    clips = []
    for i in range(12):
        path = tmp_path / f"{i}.wav"
        sf.write(path, speechlike(0.6, seed=i % 2) * (0.5 + i / 12), 16000)
        clips.append(Utterance(audio=str(path), duration=0.6, speaker=f"s{i}", label="ab"[i % 2]))
    write_manifest(tmp_path / "train.jsonl", clips[:8])
    write_manifest(tmp_path / "valid.jsonl", clips[8:])
    front = [f"model.{k}={v}" for k, v in EMBEDDING_FRONTEND.items()]
    overrides = [
        "model.head=classify", "model.labels=['a', 'b']", "model.subsampling=embedding", *front,
        "model.hidden_size=8", "model.num_layers=1", f"data.train={tmp_path / 'train.jsonl'}",
        f"data.valid={tmp_path / 'valid.jsonl'}", "data.num_workers=0", "optim.lr=0.01", "optim.warmup_steps=1",
        f"train.out_dir={tmp_path / 'run'}", "train.epochs=2", "train.threads=1", f"train.embedding_from={onnx_file}",
        "train.embedding_trainable=2", "train.embedding_lr_scale=0.5",
    ]  # fmt: skip
    config = load_config(None, overrides)
    groups = parameter_groups(build_model(config, []), config)
    assert [len(g["params"]) for g in groups[1:]] == [3]  # two weights, one bias
    assert groups[1]["lr"] == 0.005 and groups[1]["weight_decay"] == 0.0
    best = train(config, quiet=True)
    checkpoint = load_checkpoint(tmp_path / "run" / "last.pt")
    state = {k.removeprefix("subsampling.embedding."): v for k, v in checkpoint["state_dict"].items()
             if k.startswith("subsampling.embedding.")}  # fmt: skip
    changed = {k for k, v in pretrained.state_dict().items() if not torch.equal(state[k], v)}
    before_last = f"layers.{len(pretrained.layers) - 2}"  # the convolution before the last pooling
    assert changed == {f"{before_last}.weight", f"{before_last}.bias", "last.weight"}
    assert not list(speechrnn.load_model(best).subsampling.embedding.parameters())  # loads frozen

    # resuming after the first epoch (the optimizer's two groups and their state restored) ends where the
    # uninterrupted run ended
    steps = int(checkpoint["step"]) // 2
    resumed = [o.replace(str(tmp_path / "run"), str(tmp_path / "resumed")) for o in overrides]
    train(load_config(None, [*resumed, f"train.max_steps={steps}"]), quiet=True)
    with pytest.raises(ConfigError, match=r"--resume needs that run's train.embedding_trainable \(2\), not 1"):
        train(load_config(None, [*resumed, "train.embedding_trainable=1"]), resume=True, quiet=True)
    train(load_config(None, resumed), resume=True, quiet=True)
    again = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert again["step"] == checkpoint["step"]
    for key, value in checkpoint["state_dict"].items():
        torch.testing.assert_close(again["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)

    log_mel_model = load_config(None, ["model.head=classify", "model.labels=['a']", "train.embedding_trainable=1"])
    with pytest.raises(ConfigError, match="train.embedding_trainable needs model.subsampling='embedding'"):
        build_model(log_mel_model, [])


class Windows(torch.nn.Module):
    """``SpeechEmbedding.windows`` as a module: a graph of the original's layout."""

    def __init__(self, embedding) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.embedding.windows(frames)


def test_onnx_round_trip_keeps_every_weight(tmp_path):
    """``from_onnx`` reads a graph of the original's layout (first conv and its batch norm apart, the
    rest with biases, in order): exporting random weights and reading them back changes nothing."""
    model = random_embedding(3)
    path = tmp_path / "embedding.onnx"
    x = embedding_input(embedding_frames(WINDOW_FRAMES + 16))
    torch.onnx.export(Windows(model), (x,), str(path), input_names=["input"], dynamo=False)
    loaded = from_onnx(path)
    for (name, ours), (_, theirs) in zip(model.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(theirs, ours, atol=0, rtol=0, msg=name)


def test_from_onnx_names_a_file_that_is_not_the_embedding(tmp_path):
    with pytest.raises(ModelError, match="cannot read the speech embedding"):
        from_onnx(tmp_path / "missing.onnx")
    other = tmp_path / "other.onnx"
    torch.onnx.export(torch.nn.Conv2d(1, 2, 3), (torch.zeros(1, 1, 5, 5),), str(other), dynamo=False)
    with pytest.raises(ModelError, match="not the speech embedding graph"):
        from_onnx(other)


@pytest.mark.skipif(not PRETRAINED.is_file(), reason=f"no pretrained embedding at {PRETRAINED} (run.sh stage 1)")
def test_pretrained_weights_match_onnxruntime_on_the_original_graph():
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(PRETRAINED))
    x = embedding_input(embedding_frames(WINDOW_FRAMES + STEP_FRAMES * 4, seed=5))
    windows = np.stack([x[0, STEP_FRAMES * k : STEP_FRAMES * k + WINDOW_FRAMES].numpy() for k in range(5)])
    reference = session.run(None, {"input_1": windows[..., None]})[0].reshape(5, 96)
    ours = from_onnx(PRETRAINED).windows(x)[0].numpy()
    assert np.abs(ours - reference).max() < 1e-4 * np.abs(reference).max()


def test_logmel_with_a_shorter_window_matches_librosa():
    """The embedding's front end: a 400-sample Hann window centred in a 512-point FFT, 60-3800 Hz."""
    audio = speechlike(1.3, 7)
    ours = FRONTEND(torch.from_numpy(audio)[None])[0].double().numpy()
    reference = librosa.feature.melspectrogram(
        y=audio, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=32, fmin=60.0, fmax=3800.0
    ).T
    assert ours.shape == reference.shape
    loud = reference > 1e-6
    assert loud.mean() > 0.5
    assert np.abs(ours[loud] - np.log(reference[loud])).max() < 1e-3
    with pytest.raises(ValueError, match="win_length"):
        LogMel(n_fft=400, win_length=512)


@pytest.mark.parametrize("encoder", [{"bidirectional": False}, {"chunk_size": 3, "right_context": 2}])
def test_streaming_equals_offline(encoder):
    torch.manual_seed(0)
    config = ModelConfig(
        head="ctc", labels=["a", "b"], subsampling="embedding", hidden_size=16, **encoder, **EMBEDDING_FRONTEND
    )
    model = SpeechRNN(config).eval()
    model.subsampling.embedding.load_state_dict(random_embedding(1).state_dict())
    audio = torch.from_numpy(speechlike(1.37, 2))
    with torch.no_grad():
        offline, steps = model(audio[None])
    stream, pieces, begin = EncoderStream(model), [], 0
    rng = np.random.default_rng(0)
    while begin < audio.numel():
        size = int(rng.integers(1, 3000))
        pieces.append(stream.accept(audio[begin : begin + size]))
        begin += size
    pieces.append(stream.finalize())
    encoded = torch.cat(pieces)
    assert encoded.size(0) == int(steps[0]) == -(-(1 + audio.numel() // 160) // 8)
    assert_near(model.output(encoded[None], None), offline)


def test_config_needs_the_embedding_front_end_and_its_weights(tmp_path):
    with pytest.raises(ConfigError, match="needs the front end it was trained on: n_fft=512"):
        ModelConfig(labels=["a"], subsampling="embedding")
    with pytest.raises(ConfigError, match="win_length must be in 0..n_fft"):
        ModelConfig(labels=["a"], win_length=401)
    config_file = tmp_path / "c.toml"
    front = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in EMBEDDING_FRONTEND.items())
    config_file.write_text(f'[model]\nhead = "classify"\nlabels = ["a", "b"]\nsubsampling = "embedding"\n{front}\n')
    config = load_config(config_file)
    with pytest.raises(ConfigError, match="set train.embedding_from"):
        build_model(config, [])


def test_fetch_script_refuses_a_wheel_whose_file_has_another_checksum(tmp_path):
    wheel = tmp_path / "openwakeword-0.4.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("openwakeword/resources/models/embedding_model.onnx", b"not the model")
    output = tmp_path / "out/embedding_model.onnx"
    result = subprocess.run(
        [sys.executable, str(FETCH), "--wheel", str(wheel), "--output", str(output)], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: openwakeword/resources/models/embedding_model.onnx in ")
    assert "expected" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not output.exists() and not output.parent.exists()


@pytest.mark.skipif(not PRETRAINED.is_file(), reason=f"no pretrained embedding at {PRETRAINED} (run.sh stage 1)")
def test_fetch_script_takes_the_checked_file_from_a_wheel_once(tmp_path):
    wheel = tmp_path / "openwakeword-0.4.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("openwakeword/__init__.py", "")
        archive.write(PRETRAINED, "openwakeword/resources/models/embedding_model.onnx")
    output = tmp_path / "data/embedding_model.onnx"
    command = [sys.executable, str(FETCH), "--wheel", str(wheel), "--output", str(output)]
    first = subprocess.run(command, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert output.read_bytes() == PRETRAINED.read_bytes()
    assert [p.name for p in output.parent.iterdir()] == ["embedding_model.onnx"]  # no temp file left
    again = subprocess.run(command[:2] + ["--output", str(output)], capture_output=True, text=True)  # no download
    assert again.returncode == 0 and again.stdout.strip().endswith("present")
