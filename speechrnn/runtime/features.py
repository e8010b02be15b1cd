"""Log-mel features, normalisation and subsampling in numpy, equal to speechrnn's torch front end.

``LogMel`` reproduces ``speechrnn.audio.LogMel`` (centred frames, periodic Hann window of
``win_length`` samples centred in the FFT, the exported mel filterbank, natural log of the power
floored at ``log_floor``); ``StreamingLogMel`` emits exactly its frames from audio arriving in
chunks. ``subsample`` / ``StreamingSubsampler`` turn normalised frames into encoder inputs like
``model.Subsampling`` ("none", "stack", causal "conv" or the speech "embedding", whose network
is the exported ``embedding.onnx``), offline and frame by frame.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def hann_window(n_fft: int, win_length: int | None = None) -> np.ndarray:
    """(n_fft,) float32 periodic Hann window of ``win_length`` samples (default ``n_fft``), zero-padded
    equally on both sides (``speechrnn.audio.hann_window``: torch.stft's and librosa's placement)."""
    win_length = win_length or n_fft
    if not 0 < win_length <= n_fft:
        raise ValueError(f"win_length must be in 1..n_fft ({n_fft}), got {win_length}")
    left = (n_fft - win_length) // 2
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win_length) / win_length)
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


class LogMel:
    """(samples,) float audio -> (1 + samples // hop_length, n_mels) float32 log-mels.

    The FFT runs in float32 as torch's does (numpy >= 2 keeps float32 through it); the mel
    projection and the log run in float64 and are rounded to float32 at the end, so that a frame's
    value does not depend on how many frames one call computes (float32 BLAS sums differ with the
    row count): ``StreamingLogMel`` stays equal to the offline frames. Within 1e-4 of torch's.
    """

    def __init__(
        self,
        mel_filters: np.ndarray,
        n_fft: int,
        hop_length: int,
        log_floor: float = 1e-10,
        win_length: int | None = None,
    ) -> None:
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = mel_filters.shape[0]
        self.log_floor = log_floor
        # only the FFT bins up to the filterbank's top: above it every weight is zero (f_max = 4 kHz keeps 100 of 201)
        weighted = np.flatnonzero(mel_filters.any(axis=0))
        self.bins = int(weighted[-1]) + 1 if weighted.size else 1
        self.mel_t = np.ascontiguousarray(mel_filters[:, : self.bins].T, dtype=np.float64)  # (bins, n_mels)
        self.window = hann_window(n_fft, win_length)

    def from_padded(self, padded: np.ndarray) -> np.ndarray:
        """A signal already padded at its edges -> (1 + (samples - n_fft) // hop, n_mels)."""
        if padded.size < self.n_fft:
            return np.zeros((0, self.n_mels), dtype=np.float32)
        padded = np.ascontiguousarray(padded, dtype=np.float32)
        count = 1 + (padded.size - self.n_fft) // self.hop_length
        # (count, n_fft) overlapping frames as a view of the signal (a third of as_strided's cost)
        step = padded.itemsize
        frames = np.ndarray((count, self.n_fft), np.float32, buffer=padded, strides=(self.hop_length * step, step))
        spectrum = np.fft.rfft(frames * self.window, axis=-1)[:, : self.bins]
        power = spectrum.real**2 + spectrum.imag**2
        mel = power.astype(np.float64) @ self.mel_t
        np.maximum(mel, self.log_floor, out=mel)
        return np.log(mel, out=mel).astype(np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        pad = self.n_fft // 2
        return self.from_padded(np.pad(np.asarray(audio, dtype=np.float32), (pad, pad)))


class StreamingLogMel:
    """``accept(samples)`` -> new frames; ``finalize()`` -> the last ones; together ``LogMel`` of the whole."""

    def __init__(self, logmel: LogMel) -> None:
        self.logmel = logmel
        self.reset()

    def reset(self) -> None:
        self._buffer = np.zeros(self.logmel.n_fft // 2, dtype=np.float32)  # the left centre padding

    def _emit(self) -> np.ndarray:
        n_fft, hop = self.logmel.n_fft, self.logmel.hop_length
        if self._buffer.size < n_fft:
            return np.zeros((0, self.logmel.n_mels), dtype=np.float32)
        frames = 1 + (self._buffer.size - n_fft) // hop
        out = self.logmel.from_padded(self._buffer[: (frames - 1) * hop + n_fft])
        self._buffer = self._buffer[frames * hop :]
        return out

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(samples,) float32 -> (new_frames, n_mels)."""
        self._buffer = np.concatenate([self._buffer, np.asarray(samples, dtype=np.float32).reshape(-1)])
        return self._emit()

    def finalize(self) -> np.ndarray:
        self._buffer = np.concatenate([self._buffer, np.zeros(self.logmel.n_fft // 2, dtype=np.float32)])
        out = self._emit()
        self.reset()
        return out


def normalize(frames: np.ndarray, mode: str, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(frames, n_mels) -> normalised like ``model.FeatureNormalizer`` (all frames valid)."""
    if mode == "global":
        return ((frames - mean) / std).astype(np.float32)
    if mode == "utterance":
        count = max(frames.shape[0], 1)
        mu = frames.sum(0, keepdims=True) / count
        var = ((frames - mu) ** 2).sum(0, keepdims=True) / count
        return ((frames - mu) / np.sqrt(var + 1e-5)).astype(np.float32)
    return frames


def _conv_relu(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(channels_in, T, F) -> (channels_out, (T-3)//2+1, (F-3)//2+1): Conv2d(kernel 3, stride 2) + ReLU."""
    patches = sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2]  # (c_in, T', F', 3, 3)
    out = np.einsum("ctfij,ocij->otf", patches, weight, optimize=True) + bias[:, None, None]
    return np.maximum(out, 0, out=out)


class ConvSubsampling:
    """The causal two-layer conv subsampling of ``model.Subsampling`` with the exported weights."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.w1, self.b1 = arrays["conv0.weight"], arrays["conv0.bias"]
        self.w2, self.b2 = arrays["conv2.weight"], arrays["conv2.bias"]

    def first(self, frames: np.ndarray) -> np.ndarray:
        """(T, n_mels) -> first layer (channels, T', F')."""
        return _conv_relu(frames[None], self.w1, self.b1)

    def second(self, x: np.ndarray) -> np.ndarray:
        """First-layer output -> (steps, channels * freq) encoder inputs."""
        out = _conv_relu(x, self.w2, self.b2)  # (channels, steps, freq)
        return np.ascontiguousarray(out.transpose(1, 0, 2).reshape(out.shape[1], -1), dtype=np.float32)


class EmbeddingSubsampling:
    """The frozen speech embedding of ``model.Subsampling`` ("embedding"): its network is the exported
    ``embedding.onnx`` (``speechrnn.embedding.SpeechEmbedding.step``) run by onnxruntime, its
    constants those of config.json's ``subsampling.embedding`` block.

    ``units`` maps natural-log mels to the network's input units, ``max(x / input_divisor +
    input_offset, input_floor)`` (``embedding.embedding_input``); ``run`` maps (step n, n_mels) of
    them and the state after the frames before them to (n, output_dim) and the new state. Output
    step k sees frames ``step * k - left_pad`` .. ``step * k + step - 1``; ``initial_state`` is the
    state after ``left_pad`` frames of ``input_floor`` (silence before an utterance).
    """

    def __init__(self, session, spec: dict, arrays: dict[str, np.ndarray]) -> None:
        self.session = session
        self.step = int(spec["step"])  # frames between output vectors; the graph takes whole steps
        self.divisor = np.float32(spec["input_divisor"])
        self.offset = np.float32(spec["input_offset"])
        self.floor = np.float32(spec["input_floor"])
        self.state_names = [entry["name"] for entry in spec["state"]]
        self._initial = []
        for entry in spec["state"]:
            file, _, name = entry["initial"].partition(":")
            if file != "frontend.npz" or name not in arrays:
                raise ValueError(f"embedding state {entry['name']}: no initial value {entry['initial']}")
            self._initial.append(np.ascontiguousarray(arrays[name], dtype=np.float32))

    def units(self, frames: np.ndarray) -> np.ndarray:
        """(frames, n_mels) natural-log mels -> the same in the network's input units, floored."""
        return np.maximum(np.asarray(frames, dtype=np.float32) / self.divisor + self.offset, self.floor)

    def initial_state(self) -> list[np.ndarray]:
        """The state where every utterance starts (onnxruntime never writes its inputs: shared, not copied)."""
        return list(self._initial)

    def run(self, x: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """(step n, n_mels) input units, state -> (n, output_dim) embeddings, new state."""
        feeds = {"frames": np.ascontiguousarray(x[None], dtype=np.float32), **dict(zip(self.state_names, state))}
        out, *new_state = self.session.run(None, feeds)
        return out[0], new_state

    def padding(self, count: int, n_mels: int) -> np.ndarray:
        """(count, n_mels) frames of the floor (silence after an utterance, to a whole step)."""
        return np.full((count, n_mels), self.floor, dtype=np.float32)


SubsamplingNet = ConvSubsampling | EmbeddingSubsampling | None  # a subsampling kind's network ("stack": None)


def subsample(frames: np.ndarray, kind: str, factor: int, net: SubsamplingNet = None) -> np.ndarray:
    """Normalised (frames, n_mels) of a whole utterance -> (ceil(frames / factor), dim) encoder inputs;
    ``net``: the ``ConvSubsampling`` of "conv", the ``EmbeddingSubsampling`` of "embedding"."""
    count, dim = frames.shape
    steps = -(-count // factor)
    if kind == "conv":
        x = np.pad(frames, ((2, steps * 4 - count), (0, 0)))
        x = np.pad(net.first(x), ((0, 0), (2, 0), (0, 0)))
        return net.second(x)
    if kind == "embedding":  # step k sees frames 8k-68 .. 8k+7; the floor before and after the utterance
        after = net.padding(steps * factor - count, dim)
        return net.run(np.concatenate([net.units(frames), after]), net.initial_state())[0]
    if factor == 1:
        return frames
    return np.pad(frames, ((0, steps * factor - count), (0, 0))).reshape(steps, factor * dim)


class StreamingSubsampler:
    """Normalised frames -> encoder inputs, frame by frame, equal to ``subsample`` of the whole utterance."""

    def __init__(self, kind: str, factor: int, n_mels: int, output_dim: int, net: SubsamplingNet = None) -> None:
        self.kind, self.factor, self.n_mels, self.net = kind, factor, n_mels, net
        self.output_dim = output_dim
        self.reset()

    def reset(self) -> None:
        self._frames = np.zeros((0, self.n_mels), dtype=np.float32)
        self._first = 0  # utterance index of self._frames[0] (negative: "conv"'s zeros)
        self.num_steps = 0
        if self.kind == "conv":
            self._frames = np.zeros((6, self.n_mels), dtype=np.float32)
            self._first = -6
        elif self.kind == "embedding":  # self._frames: the next incomplete step's, in the network's input units
            self._state = self.net.initial_state()

    def accept(self, frames: np.ndarray) -> np.ndarray:
        """(frames, n_mels) normalised -> (steps, dim) ready now."""
        if frames.size:
            new = self.net.units(frames) if self.kind == "embedding" else frames
            self._frames = np.concatenate([self._frames, new])
        if self.kind == "conv":
            return self._conv_steps()
        if self.kind == "embedding":
            return self._embedding_steps()
        groups = self._frames.shape[0] // self.factor
        out = self._frames[: groups * self.factor].reshape(groups, self.factor * self.n_mels)
        self._frames = self._frames[groups * self.factor :]
        self.num_steps += groups
        return out

    def _conv_steps(self) -> np.ndarray:
        """Step k needs frames 4k-6 .. 4k (frames before 0 are zeros)."""
        last_frame = self._first + self._frames.shape[0] - 1
        k0, k1 = self.num_steps, last_frame // 4 + 1 if last_frame >= 0 else 0
        if k1 <= k0:
            return np.zeros((0, self.output_dim), dtype=np.float32)
        start = 4 * k0 - 6 - self._first
        window = self._frames[start : start + 4 * (k1 - k0) + 3]
        x = self.net.first(window)  # first-layer outputs j = 2k0-2 .. 2k1-2
        if k0 == 0:
            x[:, :2] = 0  # j = -2, -1 are the second layer's zero padding
        out = self.net.second(x)
        drop = 4 * k1 - 6 - self._first
        self._frames = self._frames[drop:]
        self._first += drop
        self.num_steps = k1
        return out

    def _embedding_steps(self) -> np.ndarray:
        """Every whole step (8 frames) in one call; the state carries what the network's layers still need."""
        whole = self._frames.shape[0] // self.net.step * self.net.step
        if whole == 0:
            return np.zeros((0, self.output_dim), dtype=np.float32)
        out, self._state = self.net.run(self._frames[:whole], self._state)
        self._frames = self._frames[whole:]
        self.num_steps += out.shape[0]
        return out

    def finalize(self) -> np.ndarray:
        """The last steps (a zero-padded partial "stack" group, a floor-padded partial "embedding"
        step); then reset."""
        empty = np.zeros((0, self.n_mels), dtype=np.float32)
        if self.kind == "stack" and self._frames.shape[0]:
            pad = self.factor - self._frames.shape[0]
            self._frames = np.concatenate([self._frames, np.zeros((pad, self.n_mels), dtype=np.float32)])
        elif self.kind == "embedding" and self._frames.shape[0]:
            pad = self.net.step - self._frames.shape[0]
            self._frames = np.concatenate([self._frames, self.net.padding(pad, self.n_mels)])
        out = self.accept(empty)
        self.reset()
        return out
