"""The streaming front end emits exactly the offline features for any chunking of the signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from speechrnn.audio import LogMel
from speechrnn.errors import ModelError
from speechrnn.model import ModelConfig, SpeechRNN
from speechrnn.stream_features import EncoderStream, StreamingLogMel, StreamingSubsampler

torch.set_num_threads(1)
FRONTEND = LogMel()


def _signal(length: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(length, generator=generator) * 0.1


def _stream_logmel(signal: torch.Tensor, cuts: list[int]) -> torch.Tensor:
    extractor = StreamingLogMel(FRONTEND)
    pieces, begin = [], 0
    for size in cuts:
        pieces.append(extractor.accept(signal[begin : begin + size]))
        begin += size
    pieces.append(extractor.accept(signal[begin:]))
    pieces.append(extractor.finalize())
    return torch.cat(pieces)


@settings(max_examples=40, deadline=None)
@given(
    length=st.integers(min_value=1, max_value=4000),
    cuts=st.lists(st.integers(min_value=0, max_value=700), max_size=30),
    seed=st.integers(0, 1000),
)
def test_logmel_any_chunking_equals_offline(length, cuts, seed):
    signal = _signal(length, seed)
    offline = FRONTEND(signal[None])[0]
    streamed = _stream_logmel(signal, cuts)
    assert streamed.shape == offline.shape == (1 + length // 160, 80)
    torch.testing.assert_close(streamed, offline, atol=2e-5, rtol=1e-5)


def test_logmel_one_sample_chunks_and_reuse_after_finalize():
    signal = _signal(1234, 0)
    offline = FRONTEND(signal[None])[0]
    torch.testing.assert_close(_stream_logmel(signal, [1] * 1234), offline, atol=2e-5, rtol=1e-5)
    extractor = StreamingLogMel(FRONTEND)
    first = torch.cat([extractor.accept(signal), extractor.finalize()])
    second = torch.cat([extractor.accept(signal), extractor.finalize()])  # finalize starts a new utterance
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    assert extractor.finalize().shape == (1, 80)  # reset restored the left padding: no samples = one frame


def test_logmel_minutes_in_one_chunk():
    signal = _signal(16000 * 120, 3)
    extractor = StreamingLogMel(FRONTEND)
    frames = torch.cat([extractor.accept(signal[:-5]), extractor.accept(signal[-5:]), extractor.finalize()])
    offline = FRONTEND(signal[None])[0]
    assert frames.shape == offline.shape
    torch.testing.assert_close(frames, offline, atol=2e-5, rtol=1e-5)


def _model(subsampling: str, normalization: str = "global") -> SpeechRNN:
    torch.manual_seed(0)
    model = SpeechRNN(ModelConfig(labels=["a", "b"], subsampling=subsampling, normalization=normalization)).eval()
    model.normalizer.set_statistics(torch.randn(80), torch.rand(80) + 0.5)
    return model


MODELS = {kind: _model(kind) for kind in ("none", "stack", "conv")}


@settings(max_examples=25, deadline=None)
@given(
    kind=st.sampled_from(sorted(MODELS)),
    frames=st.integers(min_value=1, max_value=60),
    cuts=st.lists(st.integers(min_value=0, max_value=9), max_size=20),
    seed=st.integers(0, 1000),
)
def test_subsampler_any_chunking_equals_offline(kind, frames, cuts, seed):
    model = MODELS[kind]
    signal = _signal(frames * 160 - 80, seed)
    with torch.no_grad():
        feats, lengths = model.features(signal[None], torch.tensor([signal.numel()]))
        offline = model.subsampling(feats)[0]
        raw = FRONTEND(signal[None])[0]
    subsampler = StreamingSubsampler(model)
    pieces, begin = [], 0
    for size in cuts:
        pieces.append(subsampler.accept(raw[begin : begin + size]))
        begin += size
    pieces += [subsampler.accept(raw[begin:]), subsampler.finalize()]
    streamed = torch.cat(pieces)
    assert streamed.shape == offline.shape
    assert streamed.size(0) == int(model.subsampling.output_lengths(lengths)[0])
    torch.testing.assert_close(streamed, offline, atol=2e-5, rtol=1e-5)


def test_utterance_normalisation_cannot_stream_step_by_step():
    with pytest.raises(ModelError, match="per-utterance normalisation"):
        StreamingSubsampler(_model("stack", normalization="utterance"))


def test_float64_and_numpy_origin_samples_are_accepted():
    signal = np.random.default_rng(0).normal(0, 0.1, 800)
    extractor = StreamingLogMel(FRONTEND)
    frames = torch.cat([extractor.accept(torch.from_numpy(signal)), extractor.finalize()])
    offline = FRONTEND(torch.from_numpy(signal).float()[None])[0]
    torch.testing.assert_close(frames, offline, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "overrides",
    [dict(chunk_size=4, right_context=2, subsampling="stack"), dict(bidirectional=False, subsampling="conv")],
    ids=["chunked-C4-R2", "unidirectional"],
)
def test_encoder_stream_over_random_pieces_equals_the_offline_encoder(overrides):
    torch.manual_seed(1)
    config = ModelConfig(labels=["a", "b"], n_mels=40, hidden_size=16, num_layers=2, conv_channels=4, **overrides)
    model = SpeechRNN(config).eval()
    model.normalizer.set_statistics(torch.randn(40) - 5, torch.rand(40) + 0.5)
    signal = _signal(16000 * 2 + 123, 7)
    with torch.no_grad():
        feats, lengths = model.features(signal[None], torch.tensor([signal.numel()]))
        steps = model.subsampling.output_lengths(lengths)
        offline = model.encoder(model.subsampling(feats), steps)[0]
    stream = EncoderStream(model)
    rng = np.random.default_rng(0)
    pieces, begin = [], 0
    while begin < signal.numel():
        size = int(rng.choice([1, 37, 160, 1600, 7000]))
        pieces.append(stream.accept(signal[begin : begin + size]))
        assert stream.num_steps == sum(p.size(0) for p in pieces)
        begin += size
    pieces.append(stream.finalize())
    streamed = torch.cat(pieces)
    assert streamed.shape == offline.shape
    torch.testing.assert_close(streamed, offline, atol=2e-5, rtol=1e-5)
    again = torch.cat([stream.accept(signal), stream.finalize()])  # finalize reset the stream
    torch.testing.assert_close(again, offline, atol=2e-5, rtol=1e-5)


def test_a_full_bidirectional_model_has_no_encoder_stream():
    with pytest.raises(ModelError, match="cannot stream chunk by chunk"):
        EncoderStream(MODELS["stack"])
