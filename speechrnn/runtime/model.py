"""An exported model folder (``speechrnn export``) loaded into onnxruntime: offline and step-wise inference.

``load(directory)`` checks the folder against its config.json (format, files, the graphs'
input and output names) and raises a one-line ``ModelError`` naming what is wrong.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speechrnn.audio_io import load_audio
from speechrnn.errors import ModelError
from speechrnn.runtime.features import (
    ConvSubsampling,
    EmbeddingSubsampling,
    LogMel,
    StreamingSubsampler,
    normalize,
    subsample,
)
from speechrnn.runtime.results import Transcription, classification_result, greedy_ctc

FORMAT = "speechrnn-onnx"
FORMAT_VERSIONS = (1, 2, 3)  # export.FORMAT_VERSION and the earlier ones this runtime reads


def _session(path: Path, threads: int):
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.disable_quant_qdq", "1")  # fold int8 GRU weights at load
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own types for a bad graph
        raise ModelError(f"{path}: not a readable ONNX graph ({str(error).splitlines()[0][:120]})") from None


class OnnxModel:
    """An exported speechrnn model: ``transcribe(audio)`` offline, ``step``/``encode`` for streaming.

    Attributes mirror the torch model's config: ``labels``, ``head``, ``unit``, ``sample_rate``,
    ``hop_length``, ``frame_shift``, ``chunk_size``, ``right_context``, ``mode``.
    """

    def __init__(self, directory: str | os.PathLike, threads: int = 1) -> None:
        directory = Path(directory)
        if not directory.exists():
            raise ModelError(f"{directory}: no such model folder")
        if not directory.is_dir():
            raise ModelError(f"{directory}: not a folder (pass the folder `speechrnn export` wrote)")
        config_path = directory / "config.json"
        if not config_path.is_file():
            raise ModelError(f"{directory}: not an exported speechrnn model (no config.json)")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise ModelError(f"{config_path}: not valid JSON ({error})") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT:
            raise ModelError(f"{config_path}: not a speechrnn ONNX export (format {config.get('format')!r})")
        if config.get("format_version") not in FORMAT_VERSIONS:
            versions = ", ".join(map(str, FORMAT_VERSIONS))
            raise ModelError(
                f"{config_path}: export format version {config.get('format_version')} is not one of "
                f"{versions}; re-export with this speechrnn"
            )
        self.directory = directory
        self.config = config
        try:
            self._setup(config, directory, threads)
        except (KeyError, TypeError, ValueError) as error:
            reason = f"{type(error).__name__}: {error}"
            raise ModelError(f"{config_path}: incomplete or inconsistent export ({reason})") from None

    def _setup(self, config: dict, directory: Path, threads: int) -> None:
        self.labels: list[str] = list(config["labels"])
        self.head: str = config["head"]
        self.unit: str = config["unit"]
        self.sample_rate: int = int(config["sample_rate"])
        self.frame_shift: float = float(config["frame_shift"])
        features = config["features"]
        self.hop_length: int = int(features["hop_length"])
        frontend_path = directory / "frontend.npz"
        if not frontend_path.is_file():
            raise ModelError(f"{directory}: export incomplete (no frontend.npz)")
        with np.load(frontend_path) as arrays:
            frontend = {name: arrays[name] for name in arrays.files}
        n_fft = int(features["n_fft"])
        win_length = int(features.get("win_length", n_fft))  # format 1: the window spans the FFT
        self.logmel = LogMel(frontend["mel_filters"], n_fft, self.hop_length, features["log_floor"], win_length)
        if self.logmel.n_mels != int(features["n_mels"]):
            bands = self.logmel.n_mels
            raise ModelError(f"{frontend_path}: mel filterbank has {bands} bands, config says {features['n_mels']}")
        norm = config["normalization"]
        self.normalization = norm["mode"]
        self.mean = np.asarray(norm["mean"], dtype=np.float32)
        self.std = np.asarray(norm["std"], dtype=np.float32)
        sub = config["subsampling"]
        self.subsampling, self.factor, self.input_dim = sub["kind"], int(sub["factor"]), int(sub["output_dim"])
        graphs = config["graphs"]
        # the subsampling's network: "conv"'s weights, "embedding"'s graph (None for "none" and "stack")
        self.subsampling_net: ConvSubsampling | EmbeddingSubsampling | None = None
        if self.subsampling == "conv":
            self.subsampling_net = ConvSubsampling(frontend)
        elif self.subsampling == "embedding":
            if config["format_version"] < 3:  # its embedding.onnx re-ran whole windows, without state
                raise ModelError(
                    f"{directory}: exported by an earlier speechrnn (format {config['format_version']}, an "
                    "embedding graph without state); re-export it with speechrnn export"
                )
            embedding = sub["embedding"]
            session = self._graph(graphs[embedding["graph"]], directory, threads)
            self.subsampling_net = EmbeddingSubsampling(session, embedding, frontend)
            if self.factor != self.subsampling_net.step:
                raise ValueError(f"subsampling factor {self.factor} is not the embedding's step")
        encoder = config["encoder"]
        self.mode = encoder["mode"]
        self.chunk_size, self.right_context = int(encoder["chunk_size"]), int(encoder["right_context"])
        self.num_layers, self.hidden_size = int(encoder["num_layers"]), int(encoder["hidden_size"])
        # what the encoder graph emits per step: CTC log-probs (blank + labels) or encoder outputs
        self.output_width = len(self.labels) + 1 if self.head == "ctc" else int(encoder["output_size"])
        self.encoder = self._graph(graphs["encoder"], directory, threads)
        self.pooling = self._graph(graphs["head"], directory, threads) if self.head == "classify" else None
        self.pool_window = int(config.get("pool_window", 0))  # pool only the last N encoder outputs (0 = all)
        self.streams_by_step = self.mode != "full" and self.normalization != "utterance"

    def _graph(self, spec: dict, directory: Path, threads: int):
        path = directory / spec["file"]
        if not path.is_file():
            raise ModelError(f"{directory}: export incomplete (no {spec['file']})")
        session = _session(path, threads)
        have = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
        want = (list(spec["inputs"]), list(spec["outputs"]))
        if have != want:
            raise ModelError(f"{path}: graph does not match config.json (inputs/outputs {have}, expected {want})")
        return session

    # ------------------------------------------------------------------ steps
    def initial_state(self, batch: int = 1) -> np.ndarray | None:
        """Forward-direction states (num_layers, batch, hidden) zeros; None for full-utterance models."""
        if self.mode == "full":
            return None
        return np.zeros((self.num_layers, batch, self.hidden_size), dtype=np.float32)

    def step(self, main: np.ndarray, context: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One streaming step, time-major: (C', batch, D), (R', batch, D), (layers, batch, H) -> (C', batch, V),
        new state.

        ``V``: CTC log-probabilities (blank = 0) or, for classifiers, encoder outputs.
        """
        feeds = {"main": main, "state": state}
        if self.mode == "chunked":
            feeds["context"] = context
        output, new_state = self.encoder.run(None, feeds)
        return output, new_state

    def encode(self, steps: np.ndarray) -> np.ndarray:
        """(T, D) encoder inputs of one whole utterance -> (T, V), as the torch model's offline encode."""
        steps = np.ascontiguousarray(steps[:, None], dtype=np.float32)  # (T, 1, D)
        if self.mode == "full":
            return self.encoder.run(None, {"steps": steps})[0][:, 0]
        state = self.initial_state()
        if self.mode == "unidirectional":
            return self.step(steps, steps[:0], state)[0][:, 0]
        size, right = self.chunk_size, self.right_context
        outputs = []
        for begin in range(0, steps.shape[0], size):
            out, state = self.step(steps[begin : begin + size], steps[begin + size : begin + size + right], state)
            outputs.append(out[:, 0])
        return np.concatenate(outputs)

    def pool(self, encoded: np.ndarray) -> np.ndarray:
        """Classifiers: (T, H) encoder outputs of one utterance -> (classes,) logits (over the last
        ``pool_window`` outputs when the model has one, as ``model.ClassifyHead``)."""
        if self.pool_window:
            encoded = encoded[-self.pool_window :]
        return self.pooling.run(None, {"encoded": np.ascontiguousarray(encoded[None], dtype=np.float32)})[0][0]

    def normalize(self, frames: np.ndarray, mode: str | None = None) -> np.ndarray:
        return normalize(frames, mode or self.normalization, self.mean, self.std)

    def subsample(self, frames: np.ndarray) -> np.ndarray:
        """Normalised (frames, n_mels) of one whole utterance -> (steps, D) encoder inputs."""
        return subsample(frames, self.subsampling, self.factor, self.subsampling_net)

    def streaming_subsampler(self) -> StreamingSubsampler:
        """A new frame-by-frame subsampler for one stream: its steps equal ``subsample``'s."""
        n_mels = self.logmel.n_mels
        return StreamingSubsampler(self.subsampling, self.factor, n_mels, self.input_dim, self.subsampling_net)

    # ------------------------------------------------------------------ offline
    def outputs(self, samples: np.ndarray) -> np.ndarray:
        """Model-rate (samples,) float32 -> CTC log-probs (steps, V) or classifier logits (classes,)."""
        frames = self.normalize(self.logmel(samples))
        encoded = self.encode(self.subsample(frames))
        return self.pool(encoded) if self.head == "classify" else encoded

    def transcribe(self, audio, sample_rate: int | None = None) -> Transcription:
        """Transcribe (CTC, greedy) or classify a path or a (samples,)/(samples, channels) array."""
        samples = load_audio(audio, self.sample_rate, source_rate=sample_rate)
        outputs = self.outputs(samples)
        duration = len(samples) / self.sample_rate
        if self.head == "classify":
            return classification_result(outputs, self.labels, duration)
        text, words = greedy_ctc(outputs, self.labels, self.unit, self.frame_shift)
        return Transcription(text=text, words=tuple(words), duration=duration)


def load(directory: str | os.PathLike, threads: int = 1) -> OnnxModel:
    """Load an exported model folder; ``threads``: onnxruntime intra-op threads (1 suits these small GRUs)."""
    return OnnxModel(directory, threads)
