"""ONNX export of the streaming step: round trips against torch for every encoder mode and head."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("onnx", reason="onnx not installed (pip install '.[export]')")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install '.[export]')")

from helpers import randomize_embedding  # noqa: E402

from speechrnn import embedding  # noqa: E402
from speechrnn.audio_io import load_audio  # noqa: E402
from speechrnn.errors import ConfigError, ModelError  # noqa: E402
from speechrnn.export import export_onnx, resolve_model  # noqa: E402
from speechrnn.model import BUNDLED_MODEL, ModelConfig, SpeechRNN, load_model  # noqa: E402

EMBEDDING = dict(subsampling="embedding", **embedding.EMBEDDING_FRONTEND)  # the speech embedding and its front end
MODES = {
    "chunked": dict(chunk_size=4, right_context=2),
    "chunked-no-context": dict(chunk_size=3),
    "unidirectional": dict(bidirectional=False),
    "full": dict(),
    "conv-chunked": dict(subsampling="conv", chunk_size=3, right_context=1),
    "embedding-full": dict(EMBEDDING),
    "embedding-unidirectional": dict(EMBEDDING, bidirectional=False),
    "embedding-chunked": dict(EMBEDDING, chunk_size=3, right_context=1),
}


def make_model(head: str, **overrides) -> SpeechRNN:
    torch.manual_seed(0)
    labels = [str(i) for i in range(10)] if head == "ctc" else ["yes", "no", "_unknown_"]
    model = SpeechRNN(ModelConfig(head=head, labels=labels, hidden_size=32, num_layers=2, **overrides)).eval()
    n_mels = model.config.n_mels
    model.normalizer.set_statistics(torch.randn(n_mels), torch.rand(n_mels) + 0.5)
    if model.config.subsampling == "embedding":
        randomize_embedding(model.subsampling.embedding)
    return model


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("head", ["ctc", "classify"])
@pytest.mark.parametrize("mode", sorted(MODES))
def test_round_trip_equals_torch(tmp_path, mode, head):
    model = make_model(head, **MODES[mode])
    folder = export_onnx(model, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    encoder = session(folder / "encoder.onnx")
    dim, layers, hidden = model.subsampling.output_dim, 2, 32
    torch.manual_seed(1)
    x = torch.randn(3, 9, dim)  # three streams on one session; the graphs are time-major

    def tm(t):  # (batch, time, ...) <-> (time, batch, ...)
        return t.transpose(0, 1).numpy() if isinstance(t, torch.Tensor) else t.transpose(1, 0, 2)

    assert config["labels"] == model.labels and config["head"] == head
    assert config["normalization"]["mean"] == pytest.approx(model.normalizer.mean.tolist())
    window = (512, 400, 60.0) if mode.startswith("embedding") else (400, 400, 0.0)  # n_fft, win_length, f_min
    assert tuple(config["features"][k] for k in ("n_fft", "win_length", "f_min")) == window
    assert config["format_version"] == (3 if mode.startswith("embedding") else 1)  # 1: earlier runtimes read it

    def expected_head(out):
        return model.head(out).log_softmax(-1) if head == "ctc" else out

    with torch.no_grad():
        if config["encoder"]["mode"] == "chunked":
            size, right = model.config.chunk_size, model.config.right_context
            assert config["state"] == [
                {"name": "state", "shape": [layers, "batch", hidden], "dtype": "float32", "output": "new_state"}
            ]
            state = torch.randn(layers, 3, hidden)
            # a whole chunk with its context, the last chunks of a stream (shorter context, none, one step)
            for c, r in [(size, right), (size, max(right - 1, 0)), (size, 0), (1, 0)]:
                want, want_state = model.encoder.stream_chunk(x[:, :c], x[:, c : c + r], state)
                got, got_state = encoder.run(
                    None, {"main": tm(x[:, :c]), "context": tm(x[:, c : c + r]), "state": state.numpy()}
                )
                np.testing.assert_allclose(tm(got), expected_head(want).numpy(), atol=1e-4)
                np.testing.assert_allclose(got_state, want_state.numpy(), atol=1e-4)
        elif config["encoder"]["mode"] == "unidirectional":
            state = torch.randn(layers, 3, hidden)
            for steps in (1, 9):
                want, want_state = model.encoder.stream_chunk(x[:, :steps], x[:, :0], state)
                got, got_state = encoder.run(None, {"main": tm(x[:, :steps]), "state": state.numpy()})
                np.testing.assert_allclose(tm(got), expected_head(want).numpy(), atol=1e-4)
                np.testing.assert_allclose(got_state, want_state.numpy(), atol=1e-4)
        else:
            assert config["state"] == []
            for steps in (1, 9):
                want = model.encoder(x[:, :steps], torch.full((3,), steps))
                (got,) = encoder.run(None, {"steps": tm(x[:, :steps])})
                np.testing.assert_allclose(tm(got), expected_head(want).numpy(), atol=1e-4)
        if head == "classify":
            encoded = torch.randn(2, 7, model.encoder.output_size)
            (logits,) = session(folder / "head.onnx").run(None, {"encoded": encoded.numpy()})
            np.testing.assert_allclose(logits, model.head(encoded, torch.tensor([7, 7])).numpy(), atol=1e-4)
        else:
            assert not (folder / "head.onnx").exists()
    with np.load(folder / "frontend.npz") as arrays:
        np.testing.assert_array_equal(arrays["mel_filters"], model.frontend.mel_basis.numpy())


def test_embedding_graph_is_the_streaming_step_and_int8_stores_its_convolutions_as_int8(tmp_path):
    """embedding.onnx is ``SpeechEmbedding.step`` with its 11 state tensors in and out, for any batch and
    number of steps: from the initial state in frontend.npz, one call over an utterance and calls step by
    step both give ``SpeechEmbedding.forward``; config.json carries the front end and the constants the
    runtime needs; int8 stores every convolution weight but the tiny first one as int8 behind a
    DequantizeLinear, and the encoder's weights."""
    import onnx
    from onnx import numpy_helper

    model = make_model("classify", **MODES["embedding-full"])
    folder = export_onnx(model, tmp_path / "f32")
    config = json.loads((folder / "config.json").read_text())
    assert config["format_version"] == 3
    assert {p.name for p in folder.iterdir()} == {
        "config.json", "encoder.onnx", "head.onnx", "embedding.onnx", "frontend.npz",
    }  # fmt: skip
    features = config["features"]
    assert {k: features[k] for k in ("n_fft", "win_length", "hop_length", "n_mels", "f_min", "f_max")} == {
        k: v for k, v in embedding.EMBEDDING_FRONTEND.items() if k not in ("sample_rate", "normalization")
    }
    spec = config["subsampling"]["embedding"]
    state = spec.pop("state")
    assert config["subsampling"] == {
        "kind": "embedding",
        "factor": 8,
        "output_dim": 96,
        "embedding": {
            "graph": "embedding",
            "window": 76,
            "step": 8,
            "left_pad": 68,
            "input_divisor": pytest.approx(np.log(10)),
            "input_offset": pytest.approx(2 + 2 * np.log10(32767)),
            "input_floor": embedding.INPUT_FLOOR,
        },
    }
    assert len(state) == embedding.STATE_LAYERS
    assert state[0] == {"name": "state0", "output": "new_state0", "shape": ["batch", 1, 2, 34],
                        "initial": "frontend.npz:embedding_state0"}  # fmt: skip
    assert state[-1]["shape"] == ["batch", 96, 2, 1]
    graph_spec = config["graphs"]["embedding"]
    assert graph_spec["file"] == "embedding.onnx"
    assert list(graph_spec["inputs"]) == ["frames"] + [s["name"] for s in state]
    assert list(graph_spec["outputs"]) == ["embeddings"] + [s["output"] for s in state]
    with np.load(folder / "frontend.npz") as arrays:
        initial = [arrays[s["initial"].split(":")[1]] for s in state]
    graph = session(folder / "embedding.onnx")
    names = [s["name"] for s in state]
    torch.manual_seed(2)
    for batch, steps in [(1, 1), (3, 6)]:
        logmel = torch.randn(batch, 8 * steps, 32) * 3 - 8
        with torch.no_grad():
            want = model.subsampling.embedding(logmel).numpy()
        frames = embedding.embedding_input(logmel).numpy()
        start = [np.repeat(value, batch, axis=0) for value in initial]
        got, *_ = graph.run(None, {"frames": frames, **dict(zip(names, start))})
        assert got.shape == want.shape == (batch, steps, 96)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
        pieces, current = [], start
        for k in range(steps):  # one step per call, the state passed back
            out, *current = graph.run(None, {"frames": frames[:, 8 * k : 8 * k + 8], **dict(zip(names, current))})
            pieces.append(out)
        np.testing.assert_allclose(np.concatenate(pieces, axis=1), want, rtol=1e-5, atol=1e-4)
    small = export_onnx(model, tmp_path / "int8", quantize="int8")
    assert (small / "encoder.onnx").read_bytes() != (folder / "encoder.onnx").read_bytes()
    graph = onnx.load(str(small / "embedding.onnx")).graph
    weights = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    dequantized = {node.output[0]: node for node in graph.node if node.op_type == "DequantizeLinear"}
    conv_weights = [node.input[1] for node in graph.node if node.op_type == "Conv"]
    assert len(conv_weights) == 20
    assert weights[conv_weights[0]].dtype == np.float32  # 24 x 1 x 3 x 3: too small (INT8_MIN_SIZE)
    for name in conv_weights[1:]:  # (out, in, kh, kw) int8 with one scale per output channel
        q, scale, zero = (weights[i] for i in dequantized[name].input)
        assert q.dtype == np.int8 and q.ndim == 4 and scale.shape == zero.shape == (q.shape[0],)
        assert not zero.any() and np.abs(q).max(axis=(1, 2, 3)).min() == 127
    assert all(value.dtype != np.float32 or value.size < 1024 for value in weights.values())  # biases, norm
    assert (small / "embedding.onnx").stat().st_size < (folder / "embedding.onnx").stat().st_size / 3
    got, *_ = session(small / "embedding.onnx").run(None, {"frames": frames, **dict(zip(names, start))})
    assert np.abs(got - want).max() < 0.1 * (want.max() - want.min())  # random weights: not exact


def test_graphs_have_no_hidden_state_and_use_onnx_gru(tmp_path):
    import onnx

    folder = export_onnx(make_model("ctc", **MODES["chunked"]), tmp_path / "m")
    graph = onnx.load(str(folder / "encoder.onnx")).graph
    assert [i.name for i in graph.input] == ["main", "context", "state"]
    assert [o.name for o in graph.output] == ["output", "new_state"]
    assert sum(node.op_type == "GRU" for node in graph.node) == 4  # forward and backward per layer, no loops
    assert len(graph.node) <= 20
    assert all(len(node.input) < 5 or not node.input[4] for node in graph.node if node.op_type == "GRU")  # no seq lens


def test_int8_export_is_small_and_close(tmp_path):
    """The bundled digits model's int8 export: the whole folder <= 1/3 of float32's (issue 19), its
    embedding's outputs on speech within a few % of float32's, and its posteriors close."""
    from speechrnn.runtime.model import load

    model = load_model(BUNDLED_MODEL)
    full = export_onnx(model, tmp_path / "f32")
    small = export_onnx(model, tmp_path / "int8", quantize="int8")
    assert json.loads((small / "config.json").read_text())["quantize"] == "int8"
    assert {p.name for p in small.iterdir()} == {p.name for p in full.iterdir()}

    def size(folder):
        return sum(p.stat().st_size for p in folder.iterdir())

    assert size(small) <= size(full) / 3
    assert (small / "encoder.onnx").stat().st_size <= (full / "encoder.onnx").stat().st_size / 3
    assert (small / "embedding.onnx").stat().st_size <= (full / "embedding.onnx").stat().st_size / 3
    runtime_full, runtime_small = load(full), load(small)
    example = BUNDLED_MODEL.parent / "example_digits.wav"
    assert runtime_small.transcribe(example).text == runtime_full.transcribe(example).text
    frames = runtime_full.normalize(runtime_full.logmel(load_audio(example)))
    want, got = runtime_full.subsample(frames), runtime_small.subsample(frames)  # (steps, 96) embeddings
    assert want.shape == got.shape and want.shape[0] > 20
    assert np.abs(got - want).max() < 0.05 * (want.max() - want.min())  # measured 0.014 (300 real clips: <= 0.026)
    assert np.median(np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)) < 0.05  # measured 0.022
    rng = np.random.default_rng(0)
    dim, config = model.subsampling.output_dim, model.config
    feeds = {
        "main": rng.standard_normal((config.chunk_size, 1, dim)).astype(np.float32),
        "context": rng.standard_normal((config.right_context, 1, dim)).astype(np.float32),
        "state": np.zeros((config.num_layers, 1, config.hidden_size), np.float32),
    }
    a, b = session(full / "encoder.onnx").run(None, feeds), session(small / "encoder.onnx").run(None, feeds)
    assert np.abs(np.exp(a[0]) - np.exp(b[0])).max() < 0.1  # posteriors, not exact


def test_export_replaces_an_export_but_not_other_folders(tmp_path):
    model = make_model("ctc", **MODES["unidirectional"])
    folder = export_onnx(model, tmp_path / "m")
    export_onnx(model, folder)  # an earlier export: replaced
    other = tmp_path / "data"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not an exported model folder"):
        export_onnx(model, other)
    assert (other / "keep.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folders left


def test_bundled_names():
    assert resolve_model("digits") == BUNDLED_MODEL
    assert resolve_model("some/ckpt.pt").name == "ckpt.pt"
    if not (BUNDLED_MODEL.parent / "commands.pt").is_file():
        with pytest.raises(ModelError, match="bundled model 'commands' is not installed"):
            resolve_model("commands")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "speechrnn", *args], capture_output=True, text=True, timeout=300)


def test_cli_exports_and_names_errors_in_one_line(tmp_path):
    done = run_cli("export", "digits", "--format", "onnx", "--output", str(tmp_path / "d"), "--quantize", "int8")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "d") and done.stderr == ""
    files = {p.name for p in (tmp_path / "d").iterdir()}
    assert files == {"config.json", "encoder.onnx", "embedding.onnx", "frontend.npz"}
    done = run_cli("export", str(tmp_path / "missing.pt"), "--output", str(tmp_path / "x"))
    assert done.returncode == 1
    assert done.stderr.strip() == f"speechrnn export: error: {tmp_path / 'missing.pt'}: no such model file"
    assert not (tmp_path / "x").exists()


def test_a_windowed_classifier_pools_the_same_last_steps_in_the_runtime(tmp_path):
    from speechrnn.runtime.model import load

    model = make_model("classify", chunk_size=4, right_context=2, pool_window=5, subsampling="stack")
    folder = export_onnx(model, tmp_path / "m")
    assert json.loads((folder / "config.json").read_text())["pool_window"] == 5
    audio = (0.1 * np.random.default_rng(0).standard_normal(24000)).astype(np.float32)
    with torch.no_grad():
        want = model(torch.from_numpy(audio)[None])[0][0].numpy()
    np.testing.assert_allclose(load(folder).outputs(audio), want, atol=1e-4)
