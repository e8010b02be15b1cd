"""SpeechRNN: padding invariance in every mode, checkpoints, config errors, chunk-by-chunk streaming."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from speechrnn.errors import ConfigError, ModelError
from speechrnn.model import (
    BUNDLED_MODEL,
    ClassifyHead,
    GRUEncoder,
    ModelConfig,
    SpeechRNN,
    load_checkpoint,
    load_model,
    save_checkpoint,
)

torch.set_num_threads(1)

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

MODES = {
    "full-bidir-stack": dict(bidirectional=True, subsampling="stack", subsampling_factor=3),
    "unidirectional-none": dict(bidirectional=False, subsampling="none"),
    "chunked-C4-R2-stack": dict(chunk_size=4, right_context=2, subsampling="stack", subsampling_factor=2),
    "chunked-C3-R0-conv": dict(chunk_size=3, right_context=0, subsampling="conv"),
    "uni-conv-utterance-norm": dict(bidirectional=False, subsampling="conv", normalization="utterance"),
    "full-bidir-none-utterance-norm": dict(subsampling="none", normalization="utterance"),
}


def make_model(head: str = "ctc", seed: int = 0, **overrides) -> SpeechRNN:
    torch.manual_seed(seed)
    labels = DIGITS if head == "ctc" else ["no", "yes", "up"]
    values = dict(head=head, labels=labels, hidden_size=16, num_layers=2, dropout=0.0, conv_channels=4)
    config = ModelConfig(**{**values, **overrides})
    model = SpeechRNN(config)
    if config.normalization == "global":
        model.normalizer.set_statistics(torch.randn(config.n_mels) - 5, torch.rand(config.n_mels) + 0.5)
    return model.eval()


def random_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, max samples) audio padded with junk (the model must ignore it) and (batch,) lengths."""
    generator = torch.Generator().manual_seed(seed)
    audio = torch.randn(len(lengths), max(lengths), generator=generator) * 0.1
    return audio, torch.tensor(lengths)


# --- padding invariance ----------------------------------------------------------------------------


@pytest.mark.parametrize("head", ["ctc", "classify"])
@pytest.mark.parametrize("mode", list(MODES))
def test_padded_batch_equals_items_alone(head, mode):
    model = make_model(head, **MODES[mode])
    lengths = [8000, 5123, 2410, 977]
    audio, audio_lengths = random_batch(lengths)
    with torch.inference_mode():
        outputs, steps = model(audio, audio_lengths)
        for i, length in enumerate(lengths):
            alone, alone_steps = model(audio[i : i + 1, :length])
            assert int(steps[i]) == int(alone_steps[0])
            if head == "ctc":
                assert outputs.shape[-1] == len(DIGITS) + 1
                torch.testing.assert_close(outputs[i, : steps[i]], alone[0], atol=2e-4, rtol=1e-4)
            else:
                assert outputs.shape == (len(lengths), 3)
                torch.testing.assert_close(outputs[i], alone[0], atol=2e-4, rtol=1e-4)


def test_padding_content_is_ignored():
    model = make_model("ctc", **MODES["chunked-C4-R2-stack"])
    audio, lengths = random_batch([6000, 3000])
    noisy = audio.clone()
    noisy[1, 3000:] = 5.0  # loud junk after the end of item 1
    with torch.inference_mode():
        clean_out, steps = model(audio, lengths)
        noisy_out, _ = model(noisy, lengths)
    torch.testing.assert_close(clean_out[1, : steps[1]], noisy_out[1, : steps[1]])


def test_ctc_outputs_are_log_probabilities_and_steps_follow_subsampling():
    model = make_model("ctc", subsampling="stack", subsampling_factor=3)
    with torch.inference_mode():
        outputs, steps = model(torch.zeros(1, 16000))
    frames = 1 + 16000 // 160
    assert int(steps[0]) == -(-frames // 3) == outputs.shape[1]
    torch.testing.assert_close(outputs.exp().sum(-1), torch.ones(1, outputs.shape[1]))
    assert model.config.frame_shift == pytest.approx(0.03)


# --- checkpoints -----------------------------------------------------------------------------------


class Wrapper(nn.Module):
    """Like DataParallel/DistributedDataParallel: the real model is ``.module``."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module


@pytest.mark.parametrize("head", ["ctc", "classify"])
def test_checkpoint_round_trip(tmp_path, head):
    model = make_model(head, **MODES["chunked-C4-R2-stack"])
    path = tmp_path / "model.pt"
    save_checkpoint(path, Wrapper(model), metadata={"note": "test"})
    checkpoint = load_checkpoint(path)
    assert not any(key.startswith(("module.", "_orig_mod.")) for key in checkpoint["state_dict"])
    assert checkpoint["metadata"] == {"note": "test"}
    assert checkpoint["format"] == 1 and "labels" not in checkpoint and "normalization" not in checkpoint
    assert checkpoint["model_config"]["labels"] == model.config.labels
    loaded = load_model(path)
    assert loaded.config == model.config
    assert not loaded.training
    torch.testing.assert_close(loaded.normalizer.mean, model.normalizer.mean)
    audio, lengths = random_batch([7000, 4000], seed=3)
    with torch.inference_mode():
        expected, _ = model(audio, lengths)
        actual, _ = loaded(audio, lengths)
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # written atomically, no temp file left


def test_load_errors_are_one_line_model_errors(tmp_path):
    missing = tmp_path / "missing.pt"
    with pytest.raises(ModelError, match="missing.pt: no such model file"):
        load_model(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint" * 50)
    with pytest.raises(ModelError, match="garbage.pt: not a speechrnn checkpoint") as raised:
        load_model(garbage)
    assert "\n" not in str(raised.value)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelError, match="other.pt: not a speechrnn checkpoint"):
        load_model(other)
    # a state dict that does not fit its config
    mismatched = tmp_path / "mismatched.pt"
    save_checkpoint(mismatched, make_model("ctc"))
    checkpoint = torch.load(mismatched, weights_only=True)
    checkpoint["model_config"]["hidden_size"] = 32
    torch.save(checkpoint, mismatched)
    with pytest.raises(ModelError, match=r"mismatched.pt: weight '.*' has shape .*, its model_config needs") as raised:
        load_model(mismatched)
    assert "\n" not in str(raised.value)


# --- configuration errors --------------------------------------------------------------------------


def test_config_errors():
    with pytest.raises(ConfigError, match="unknown model config key 'hiden_size'"):
        ModelConfig.from_dict({"hiden_size": 3, "labels": ["a"]})
    with pytest.raises(ConfigError, match="model.head must be one of ctc, classify, got 'rnnt'"):
        ModelConfig(head="rnnt", labels=["a"])
    with pytest.raises(ConfigError, match="model.subsampling"):
        ModelConfig(subsampling="pool", labels=["a"])
    with pytest.raises(ConfigError, match="chunk_size"):
        ModelConfig(chunk_size=-1, labels=["a"])
    with pytest.raises(ConfigError, match="bidirectional"):
        ModelConfig(chunk_size=4, bidirectional=False, labels=["a"])
    with pytest.raises(ConfigError, match="right_context needs model.chunk_size"):
        ModelConfig(right_context=2, labels=["a"])
    with pytest.raises(ConfigError, match="labels is empty"):
        SpeechRNN(ModelConfig())
    assert ModelConfig.from_dict({"labels": ["a"], "hidden_size": 8}).hidden_size == 8


# --- streaming chunk by chunk ----------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size, right_context", [(1, 0), (3, 1), (4, 2), (5, 7)])
def test_stream_chunk_equals_offline_chunked_encoder(chunk_size, right_context):
    model = make_model("ctc", chunk_size=chunk_size, right_context=right_context, num_layers=3)
    encoder = model.encoder
    rng = random.Random(chunk_size * 10 + right_context)
    for steps in (1, chunk_size, rng.randint(2, 40), rng.randint(2, 40)):
        x = torch.randn(1, steps, model.subsampling.output_dim)
        with torch.inference_mode():
            offline = encoder(x, torch.tensor([steps]))
            state = encoder.initial_state(1)
            outputs = []
            for start in range(0, steps, chunk_size):
                main = x[:, start : start + chunk_size]
                context = x[:, start + chunk_size : start + chunk_size + right_context]
                out, state = encoder.stream_chunk(main, context, state)
                outputs.append(out)
        torch.testing.assert_close(torch.cat(outputs, dim=1), offline, atol=2e-6, rtol=1e-5)


def test_unidirectional_stream_over_random_chunking():
    model = make_model("ctc", bidirectional=False, num_layers=2)
    encoder = model.encoder
    rng = random.Random(0)
    x = torch.randn(1, 57, model.subsampling.output_dim)
    with torch.inference_mode():
        offline = encoder(x, torch.tensor([57]))
        for _ in range(5):
            state, outputs, start = encoder.initial_state(1), [], 0
            while start < 57:
                size = rng.randint(1, 9)
                out, state = encoder.stream_chunk(x[:, start : start + size], x[:, :0], state)
                outputs.append(out)
                start += size
            torch.testing.assert_close(torch.cat(outputs, dim=1), offline, atol=2e-6, rtol=1e-5)


def test_full_bidirectional_model_cannot_stream():
    model = make_model("ctc")
    x = torch.randn(1, 4, model.subsampling.output_dim)
    with pytest.raises(ModelError, match="cannot stream"):
        model.encoder.stream_chunk(x, x[:, :0], model.encoder.initial_state(1))


def test_an_unknown_checkpoint_format_is_one_line(tmp_path):
    path = tmp_path / "future.pt"
    save_checkpoint(path, make_model("ctc"))
    checkpoint = torch.load(path, weights_only=True)
    torch.save({**checkpoint, "format": 2}, path)
    with pytest.raises(ModelError, match=r"^.*future.pt: checkpoint format 2, this speechrnn reads format 1$"):
        load_model(path)


def test_the_bundled_model_loads_unchanged():
    """The shipped checkpoint (written with the older labels/normalization blocks) keeps loading."""
    checkpoint = load_checkpoint(BUNDLED_MODEL)
    model = load_model()
    assert model.config.labels == checkpoint["model_config"]["labels"]
    torch.testing.assert_close(model.normalizer.mean, checkpoint["state_dict"]["normalizer.mean"])


@pytest.mark.parametrize("pooling", ["mean", "attention"])
def test_a_windowed_head_pools_only_the_last_valid_steps(pooling):
    torch.manual_seed(0)
    head = ClassifyHead(6, 3, pooling, window=4).eval()
    whole = ClassifyHead(6, 3, pooling).eval()
    whole.load_state_dict(head.state_dict())
    x = torch.randn(2, 10, 6)
    lengths = torch.tensor([10, 7])
    changed = x.clone()
    changed[0, :6] = 9.0  # before item 0's window
    changed[1, :3] = 9.0  # before item 1's window
    changed[1, 7:] = -9.0  # item 1's padding
    with torch.no_grad():
        out = head(x, lengths)
        torch.testing.assert_close(head(changed, lengths), out)
        torch.testing.assert_close(out[0], whole(x[:1, 6:], torch.tensor([4]))[0])
        torch.testing.assert_close(out[1], whole(x[1:, 3:7], torch.tensor([4]))[0])
        # shorter than the window: all valid steps
        torch.testing.assert_close(head(x[:, :3], torch.tensor([3, 2])), whole(x[:, :3], torch.tensor([3, 2])))
    with pytest.raises(ConfigError, match="pool_window"):
        ModelConfig(head="classify", labels=["a"], pool_window=-1)


def test_unpadded_inference_runs_both_directions_as_one_fused_gru_with_the_same_outputs():
    torch.manual_seed(0)
    encoder = GRUEncoder(12, ModelConfig(hidden_size=8, num_layers=2)).eval()
    x, lengths, padded = torch.randn(3, 7, 12), torch.full((3,), 7), torch.tensor([7, 5, 7])
    with torch.no_grad():
        assert GRUEncoder._unpadded_inference(x, lengths) and not GRUEncoder._unpadded_inference(x, padded)
        fused = encoder(x, lengths)
        shorter = encoder(x, padded)
    assert not GRUEncoder._unpadded_inference(x, lengths)  # gradients on: the two GRUs, as training runs them
    plain = encoder(x, lengths).detach()
    torch.testing.assert_close(fused, plain, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(shorter[1, :5], encoder(x[1:2, :5], lengths[:1] - 2)[0].detach(), atol=1e-6, rtol=1e-5)
