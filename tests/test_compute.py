"""speechrnn.compute: multiply-adds per encoder step (bench_runtime reports them) and per second of a spotter's
audio (kws_eval reports them), against counts derived from the layer shapes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from speechrnn.compute import multiply_adds_per_step, spotter_multiply_adds_per_second
from speechrnn.embedding import _LAYERS, EMBEDDING_DIM, EMBEDDING_FRONTEND, STEP_FRAMES
from speechrnn.model import ModelConfig, SpeechRNN

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_runtime.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_runtime", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def embedding_multiply_adds_from_shapes() -> int:
    """The embedding's convolutions per 80 ms step, from its layer table: each layer computes its new
    rows (8 input rows per step, halved by each (2, 2) pooling) over its bands (34 padded input bands,
    32 after the first 3 x 3 convolution, halved by each pooling)."""
    rows, bands, channels = STEP_FRAMES, 32, 24
    total = rows * bands * 24 * 1 * 9  # the first convolution, 1 -> 24 channels, 3 x 3
    for layer in _LAYERS:
        if layer == "pool22":
            rows, bands = rows // 2, bands // 2
        elif layer == "pool12":
            bands //= 2
        else:
            out, (kh, kw) = layer
            total += rows * bands * out * channels * kh * kw
            channels = out
    return total + rows * bands * EMBEDDING_DIM * channels * 3  # the last convolution, (3, 1)


def embedding_model() -> SpeechRNN:
    return SpeechRNN(ModelConfig(head="classify", labels=["a", "b"], subsampling="embedding", hidden_size=16,
                                 num_layers=2, bidirectional=True, **EMBEDDING_FRONTEND))  # fmt: skip


# two layers, two directions: 96 inputs into the first, 2 x 16 into the second
GRU_PER_STEP = 2 * 3 * 16 * (96 + 16) + 2 * 3 * 16 * (32 + 16)


def test_multiply_adds_per_step_match_the_layer_shapes():
    counts = multiply_adds_per_step(embedding_model())
    assert counts["embedding"] == embedding_multiply_adds_from_shapes() == 5_612_544
    assert counts["GRU"] == GRU_PER_STEP
    log_mel = multiply_adds_per_step(SpeechRNN(ModelConfig(head="classify", labels=["a"], hidden_size=8)))
    assert set(log_mel) == {"GRU"}
    assert load_script().multiply_adds_per_step is multiply_adds_per_step  # what bench_runtime prints


def test_a_spotter_per_second_computes_each_embedding_step_once_and_its_encoder_over_every_window():
    from speechrnn.kws import KeywordConfig, KeywordSpotter

    spotter = KeywordSpotter(embedding_model(), KeywordConfig())  # 1 s windows of 13 steps, every 3 steps
    assert (spotter.window_width, spotter.hop_steps) == (13, 3)
    counts = spotter_multiply_adds_per_second(spotter)
    steps = 12.5  # 80 ms steps per second
    assert counts["embedding"] == steps * 5_612_544
    assert counts["encoder windows"] == steps * GRU_PER_STEP * 13 / 3
    assert counts["recogniser finals"] == steps * GRU_PER_STEP
