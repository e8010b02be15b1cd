"""Export a model's streaming step to ONNX with explicit state, for the torch-free ``speechrnn.runtime``.

An exported model is a folder::

    config.json     labels, rates, feature and normalisation parameters, chunk sizes,
                    the graphs' inputs/outputs/state with their shapes (FORMAT below)
    encoder.onnx    the encoder step: encoder inputs (+ state) in, head outputs (+ new state) out
    head.onnx       classifiers only: attention/mean pooling + output layer over encoder outputs
    embedding.onnx  "embedding" subsampling only: the frozen speech embedding's streaming step
                    (``embedding.SpeechEmbedding.step``), (batch, 8 n, 32) frames in its input
                    units and 11 state tensors -> (batch, n, 96) and the new state;
                    config.json's ``subsampling.embedding`` holds its step, input mapping and
                    state (names, shapes, initial values in frontend.npz)
    frontend.npz    the exact mel filterbank (``mel_filters``, (n_mels, n_fft // 2 + 1)), for
                    "conv" subsampling its weights, for "embedding" its initial state; log-mel,
                    normalisation and subsampling run in numpy beside the graphs
                    (``speechrnn.runtime.features``)

The encoder graph (built node by node, ``onnx_graph.py``; tensors are time-major) depends on
the encoder mode:

- chunked (``chunk_size=C``, ``right_context=R``): ``main`` (C', batch, D), ``context``
  (R', batch, D) and ``state`` (num_layers, batch, H) -> ``output`` (C', batch, V) and
  ``new_state``; the same computation as ``GRUEncoder.stream_chunk``. C' >= 1.
- unidirectional: ``main`` (T, batch, D), ``state`` -> ``output``, ``new_state``.
- full-utterance bidirectional: ``steps`` (T, batch, D) -> ``output``: the whole utterance
  (no state; the runtime re-runs the buffered utterance as the torch stream does).

``V`` is the CTC vocabulary (log-probabilities, blank = 0) or, for classifiers, the encoder
width (``head.onnx`` pools them at the end of an utterance). All state lives with the caller,
so one session serves any number of streams. No ``pack_padded_sequence``: every graph runs
on exactly the valid steps, and the forward GRU of a chunk and its right context is one GRU
call whose state after the chunk is read off its outputs (a GRU over zero steps would abort
onnxruntime at the end of a stream).
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechrnn.atomic import publish_mode
from speechrnn.embedding import EMBEDDING_DIM, INPUT_FLOOR, INT16_POWER_LOG10, LEFT_PAD, STEP_FRAMES, WINDOW_FRAMES
from speechrnn.errors import ConfigError, ModelError

FORMAT = "speechrnn-onnx"
# The versions a model needs (a runtime refuses a version it does not know, instead of misreading it):
# 1: every model that needs nothing newer, readable by every runtime;
# 2: a window shorter than the FFT (features.win_length);
# 3: "embedding" subsampling, whose embedding.onnx is a streaming step with explicit state (version 2's
#    embedding.onnx re-ran whole 76-frame windows).
FORMAT_VERSION = 3
OPSET = 17
BUNDLED = {  # bundled model names -> files in speechrnn/assets
    "digits": "digits_ctc.pt",
    "commands": "commands.pt",
}


def resolve_model(name: str | os.PathLike) -> Path:
    """A checkpoint path, or a bundled model's name ("digits", "commands") -> the checkpoint's path."""
    text = str(name)
    if text in BUNDLED and not Path(text).exists():
        path = Path(__file__).parent / "assets" / BUNDLED[text]
        if not path.is_file():
            raise ModelError(f"bundled model {text!r} is not installed (no {path})")
        return path
    return Path(name)


def encoder_mode(config) -> str:
    """ "chunked", "unidirectional" or "full" (bidirectional over the whole utterance)."""
    if not config.bidirectional:
        return "unidirectional"
    return "chunked" if config.chunk_size else "full"


class PoolingHead(nn.Module):
    """The classifier head over all encoder outputs of one utterance: (batch, T, H) -> (batch, classes) logits."""

    def __init__(self, model) -> None:
        super().__init__()
        self.head = model.head

    def forward(self, encoded: torch.Tensor) -> torch.Tensor:
        if self.head.attention is not None:
            weights = self.head.attention(encoded).softmax(dim=1)  # (batch, T, 1)
        else:
            weights = torch.ones_like(encoded[..., :1]) / encoded.size(1)
        return self.head.output((weights * encoded).sum(dim=1))


class EmbeddingStep(nn.Module):
    """``SpeechEmbedding.step`` with its state as separate tensors: (batch, 8 n, 32) input units and the
    ``STATE_LAYERS`` state tensors -> (batch, n, 96) embeddings and the new state tensors."""

    def __init__(self, embedding) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, frames: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out, new_state = self.embedding.step(frames, list(state))
        return (out, *new_state)


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: dict) -> None:
    """torch.onnx's TorchScript exporter (the classifier's pooling head, the speech embedding)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )


def _embedding_state(embedding) -> list[tuple[str, str, torch.Tensor]]:
    """(input name, output name, initial value (1, channels, 2, bands)) of each embedding state tensor."""
    return [(f"state{i}", f"new_state{i}", value) for i, value in enumerate(embedding.initial_state())]


def _embedding_graph(model, directory: Path) -> dict[str, Any]:
    """Write embedding.onnx ("embedding" subsampling): ``EmbeddingStep``; return its description for config.json."""
    state = _embedding_state(model.subsampling.embedding)
    n_mels = model.config.n_mels
    dynamic = {"frames": {0: "batch", 1: "frames"}, "embeddings": {0: "batch", 1: "steps"}}
    dynamic.update({name: {0: "batch"} for names in state for name in names[:2]})
    _export(
        EmbeddingStep(model.subsampling.embedding),
        (torch.full((1, 2 * STEP_FRAMES, n_mels), INPUT_FLOOR), *(value for _, _, value in state)),
        directory / "embedding.onnx",
        ["frames", *(name for name, _, _ in state)],
        ["embeddings", *(new for _, new, _ in state)],
        dynamic,
    )
    inputs = {"frames": ["batch", "frames", n_mels], **{n: ["batch", *v.shape[1:]] for n, _, v in state}}
    outputs = {"embeddings": ["batch", "steps", EMBEDDING_DIM], **{o: ["batch", *v.shape[1:]] for _, o, v in state}}
    return {"file": "embedding.onnx", "inputs": inputs, "outputs": outputs}


def _graphs(model, mode: str, directory: Path) -> dict[str, Any]:
    """Write encoder.onnx (head.onnx for classifiers, embedding.onnx for "embedding" subsampling); return
    their description for config.json."""
    config = model.config
    dim = model.subsampling.output_dim
    layers, hidden = config.num_layers, config.hidden_size
    width = config.num_outputs if config.head == "ctc" else model.encoder.output_size
    state = {"name": "state", "shape": [layers, "batch", hidden], "dtype": "float32", "output": "new_state"}
    if mode == "chunked":
        inputs = {"main": ["chunk", "batch", dim], "context": ["context", "batch", dim], "state": state["shape"]}
        outputs = {"output": ["chunk", "batch", width], "new_state": state["shape"]}
    elif mode == "unidirectional":
        inputs = {"main": ["chunk", "batch", dim], "state": state["shape"]}
        outputs = {"output": ["chunk", "batch", width], "new_state": state["shape"]}
    else:
        inputs = {"steps": ["steps", "batch", dim]}
        outputs = {"output": ["steps", "batch", width]}
    import onnx  # noqa: PLC0415

    from speechrnn.onnx_graph import encoder_graph  # noqa: PLC0415

    onnx.save(encoder_graph(model, mode, inputs, outputs), str(directory / "encoder.onnx"))
    graphs = {"encoder": {"file": "encoder.onnx", "inputs": inputs, "outputs": outputs}}
    if config.subsampling == "embedding":
        graphs["embedding"] = _embedding_graph(model, directory)
    if config.head == "classify":
        encoded = ["batch", "steps", model.encoder.output_size]
        logits = ["batch", config.num_outputs]
        _export(
            PoolingHead(model),
            (torch.zeros(1, 3, model.encoder.output_size),),
            directory / "head.onnx",
            ["encoded"],
            ["logits"],
            {"encoded": {0: "batch", 1: "steps"}, "logits": {0: "batch"}},
        )
        graphs["head"] = {"file": "head.onnx", "inputs": {"encoded": encoded}, "outputs": {"logits": logits}}
    graphs["state"] = [state] if mode != "full" else []
    return graphs


def _embedding_constants(model) -> dict[str, Any]:
    """What the runtime needs of ``speechrnn.embedding`` beside its graph (it cannot import torch)."""
    return {
        "graph": "embedding",  # graphs.embedding: (batch, 8 n, n_mels) frames + state -> (batch, n, 96) + new state
        "window": WINDOW_FRAMES,  # frames per output vector
        "step": STEP_FRAMES,  # frames between output vectors; the graph takes whole steps
        "left_pad": LEFT_PAD,  # frames of input_floor before the first frame: step k sees 8k-68 .. 8k+7
        # input units: max(natural-log mel / input_divisor + input_offset, input_floor); frames after an
        # utterance's end (to a whole step) are input_floor
        "input_divisor": math.log(10),
        "input_offset": INT16_POWER_LOG10 + 2,
        "input_floor": INPUT_FLOOR,
        # the rows each layer still needs, passed from one call to the next; "initial": the state after the
        # left_pad frames of floor, where every stream and utterance starts (batch 1: repeat it per stream)
        "state": [
            {
                "name": name,
                "output": new,
                "shape": ["batch", *value.shape[1:]],
                "initial": f"frontend.npz:embedding_{name}",
            }
            for name, new, value in _embedding_state(model.subsampling.embedding)
        ],
    }


def format_version(config) -> int:
    """The lowest export format version that describes this model (``FORMAT_VERSION``'s comment)."""
    if config.subsampling == "embedding":
        return 3
    return 1 if config.win_length in (0, config.n_fft) else 2


def export_config(model, mode: str, graphs: dict[str, Any], quantize: str | None, source: dict) -> dict[str, Any]:
    """The JSON description the runtime rebuilds the whole pipeline from."""
    config = model.config
    normalizer = model.normalizer
    return {
        "format": FORMAT,
        "format_version": format_version(config),
        "head": config.head,
        "labels": list(config.labels),
        "unit": config.unit,
        "sample_rate": config.sample_rate,
        "features": {
            "n_fft": config.n_fft,
            "win_length": config.win_length or config.n_fft,
            "hop_length": config.hop_length,
            "n_mels": config.n_mels,
            "f_min": config.f_min,  # f_min and f_max: in mel_filters already
            "f_max": config.f_max,
            "window": "hann (periodic, win_length samples centred in n_fft, zeros elsewhere)",
            "center": True,  # n_fft // 2 zeros on each side of an utterance
            "log_floor": 1e-10,
            "mel_filters": "frontend.npz:mel_filters",
        },
        "normalization": {
            "mode": config.normalization,
            "mean": normalizer.mean.tolist(),
            "std": normalizer.std.tolist(),
        },
        "subsampling": {
            "kind": config.subsampling,
            "factor": config.frames_per_step,
            "output_dim": model.subsampling.output_dim,
            **({"conv_weights": "frontend.npz:conv*"} if config.subsampling == "conv" else {}),
            **({"embedding": _embedding_constants(model)} if config.subsampling == "embedding" else {}),
        },
        "encoder": {
            "mode": mode,
            "chunk_size": config.chunk_size,
            "right_context": config.right_context,
            "num_layers": config.num_layers,
            "hidden_size": config.hidden_size,
            "output_size": model.encoder.output_size,
        },
        "pool_window": config.pool_window,  # classifiers: head.onnx pools the last N outputs (0 = all)
        "frame_shift": config.frame_shift,
        "graphs": {k: v for k, v in graphs.items() if k != "state"},
        "state": graphs["state"],
        "quantize": quantize,
        "model_config": dataclasses.asdict(config),
        "source": source,
    }


def _frontend_arrays(model) -> dict[str, np.ndarray]:
    arrays = {"mel_filters": model.frontend.mel_basis.detach().cpu().numpy().astype(np.float32)}
    if model.config.subsampling == "conv":
        for name, value in model.subsampling.conv.state_dict().items():  # 0.weight, 0.bias, 2.weight, 2.bias
            arrays[f"conv{name}"] = value.detach().cpu().numpy().astype(np.float32)
    if model.config.subsampling == "embedding":
        for name, _, value in _embedding_state(model.subsampling.embedding):
            arrays[f"embedding_{name}"] = value.cpu().numpy().astype(np.float32)
    return arrays


def export_onnx(
    model_or_path, output_dir: str | os.PathLike, *, quantize: str | None = None, source: dict | None = None
) -> Path:
    """Export a ``SpeechRNN`` (or a checkpoint path / bundled name) to ``output_dir`` for the runtime.

    ``quantize="int8"`` stores the weights of every graph as int8 (see ``quantize_int8``): the encoder's
    and head's, and the speech embedding's convolutions (one scale per output channel, dequantised to
    float32 at load, so a step costs what float32's does, its outputs within 3 % of their range of
    float32's on real speech; onnxruntime's dynamic int8 Conv, ConvInteger, was slower and further off).
    Its biases, batch norm and tiny first convolution stay float32.
    The folder appears whole or not at all (built in a temp folder, then renamed); an existing
    folder is replaced only when it holds an earlier export (its config.json says so).
    """
    if quantize not in (None, "int8"):
        raise ConfigError(f"--quantize must be int8, got {quantize!r}")
    if isinstance(model_or_path, nn.Module):
        model = model_or_path
    else:
        from speechrnn.model import load_checkpoint, load_model, provenance  # noqa: PLC0415

        path = resolve_model(model_or_path)
        model = load_model(path)
        source = {"checkpoint": path.name, **json.loads(json.dumps(provenance(load_checkpoint(path)), default=str))}
    model = model.cpu().eval()
    output = Path(output_dir)
    if output.exists() and not (output.is_dir() and (not any(output.iterdir()) or (output / "config.json").is_file())):
        raise ConfigError(f"{output}: exists and is not an exported model folder; choose another --output")
    output.parent.mkdir(parents=True, exist_ok=True)
    mode = encoder_mode(model.config)
    work = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp"))
    try:
        graphs = _graphs(model, mode, work)
        if quantize == "int8":
            for name in ("encoder", "head", "embedding"):
                if name in graphs:
                    quantize_int8(work / graphs[name]["file"])
        buffer = io.BytesIO()
        np.savez(buffer, **_frontend_arrays(model))
        (work / "frontend.npz").write_bytes(buffer.getvalue())
        config = export_config(model, mode, graphs, quantize, source or {})
        (work / "config.json").write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")
        publish_mode(work)
        for file in work.iterdir():
            publish_mode(file)
        if output.exists():
            shutil.rmtree(output)
        os.replace(work, output)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return output


# Weights stored as int8 with one symmetric scale per output row or channel, each behind a
# ``DequantizeLinear`` (onnxruntime has no int8 GRU kernel, and its dynamic int8 Conv is slower and
# coarser): operator -> (input index, channel axis) of each weight. The arithmetic stays float32.
INT8_WEIGHTS = {
    "GRU": ((1, 1), (2, 1)),  # W (1, 3H, D) and R (1, 3H, H): one scale per gate row
    "Conv": ((1, 0),),  # (out, in, kh, kw): one scale per output channel; biases stay float32
}
# Smaller weights stay float32: int8 would save under 3 kB of them, and the speech embedding's first
# convolution (24 x 1 x 3 x 3) must: its filters sum to zero over input units of 3.5-12, so rounding
# them lets that offset through (alone 7 % of the embedding's output range off; the 19 others 2 %).
INT8_MIN_SIZE = 1024


def _int8_weight(graph, initializers: dict, name: str, axis: int):
    """Replace the float initializer ``name`` by int8 values and per-``axis`` scales (symmetric, zero point 0);
    return the ``DequantizeLinear`` node that rebuilds ``name`` (the same shape) from them."""
    from onnx import helper, numpy_helper  # noqa: PLC0415

    weight = numpy_helper.to_array(initializers[name]).astype(np.float32)
    others = tuple(i for i in range(weight.ndim) if i != axis)
    scale = np.maximum(np.abs(weight).max(axis=others), 1e-12) / 127.0  # (weight.shape[axis],)
    shape = [1] * weight.ndim
    shape[axis] = -1
    q = np.clip(np.round(weight / scale.reshape(shape)), -127, 127).astype(np.int8)
    graph.initializer.remove(initializers.pop(name))
    graph.initializer.extend(
        [
            numpy_helper.from_array(q, f"{name}_int8"),
            numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), f"{name}_zero"),
        ]
    )
    return helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale", f"{name}_zero"], [name], axis=axis)


def quantize_int8(path: Path) -> None:
    """int8 weights in place: onnxruntime's dynamic quantisation of MatMul/Gemm (int8 arithmetic), and the
    GRUs' and convolutions' weights (``INT8_WEIGHTS``) stored as int8 with one scale per row or output
    channel, dequantised to float32 by ``DequantizeLinear`` nodes that read initializers only (the
    runtime folds them when it loads the graph: ``session.disable_quant_qdq``)."""
    import onnx  # noqa: PLC0415
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    graph_model = onnx.load(str(path))
    if any(node.op_type in ("MatMul", "Gemm") for node in graph_model.graph.node):
        quantized = path.with_suffix(".int8.onnx")
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # its advice to run shape-inference pre-processing, on every call
        try:
            quantize_dynamic(
                str(path), str(quantized), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"]
            )
        finally:
            root.setLevel(level)
        graph_model = onnx.load(str(quantized))
        quantized.unlink()
    graph = graph_model.graph
    initializers = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        for index, axis in INT8_WEIGHTS.get(node.op_type, ()):
            name = node.input[index] if index < len(node.input) else ""
            weight = initializers.get(name)
            if (
                weight is not None
                and weight.data_type == onnx.TensorProto.FLOAT
                and math.prod(weight.dims) >= INT8_MIN_SIZE
            ):
                nodes.append(_int8_weight(graph, initializers, name, axis))
    # the dequantisation nodes go first: they read initializers only
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)
    onnx.save(graph_model, str(path))
