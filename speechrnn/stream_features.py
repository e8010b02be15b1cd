"""Streaming front end: log-mel frames and subsampled encoder inputs from audio arriving in chunks.

``StreamingLogMel`` takes samples in chunks of any size (1 sample to minutes) and emits
exactly the frames that ``LogMel`` computes offline on the whole signal: it prepends
``n_fft // 2`` zeros, keeps a sample buffer, emits every complete frame through
``LogMel.logmel_from_padded`` (the one place the spectral maths happens) and, at
``finalize``, appends ``n_fft // 2`` zeros and flushes.

``StreamingSubsampler`` applies a model's global normaliser and its subsampling
("none", "stack", causal "conv" or the speech "embedding") frame by frame, so the encoder inputs equal those of
``SpeechRNN.encode`` on the whole utterance.
"""

from __future__ import annotations

import torch
from torch import nn

from speechrnn.audio import LogMel
from speechrnn.embedding import EmbeddingStream, embedding_input
from speechrnn.errors import ModelError
from speechrnn.recognizer import take_chunks


class StreamingLogMel:
    """Stateful log-mel extractor: ``accept(samples)`` -> new frames; ``finalize()`` -> the last ones.

    Over one utterance of S samples it emits ``1 + S // hop_length`` frames in total, equal
    to ``frontend(audio)`` on the whole signal.
    """

    def __init__(self, frontend: LogMel) -> None:
        self.frontend = frontend
        self.n_fft = frontend.n_fft
        self.hop_length = frontend.hop_length
        self.reset()

    def reset(self) -> None:
        """Forget buffered samples and start a new utterance."""
        device = self.frontend.window.device
        self._buffer = torch.zeros(self.n_fft // 2, device=device)  # the left centre padding

    def _emit(self) -> torch.Tensor:
        """Compute every complete frame in the buffer: (frames, n_mels); keep the rest."""
        available = self._buffer.numel()
        if available < self.n_fft:
            return torch.zeros(0, self.frontend.n_mels, device=self._buffer.device)
        frames = 1 + (available - self.n_fft) // self.hop_length
        used = (frames - 1) * self.hop_length + self.n_fft
        with torch.no_grad():
            out = self.frontend.logmel_from_padded(self._buffer[:used].unsqueeze(0))[0]
        self._buffer = self._buffer[frames * self.hop_length :]
        return out

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(samples,) float audio -> (new_frames, n_mels) log-mel frames (possibly none)."""
        samples = samples.reshape(-1).to(self._buffer.device, torch.float32)
        self._buffer = torch.cat([self._buffer, samples])
        return self._emit()

    def finalize(self) -> torch.Tensor:
        """Append the right centre padding and return the remaining frames; then reset."""
        self._buffer = torch.cat([self._buffer, self._buffer.new_zeros(self.n_fft // 2)])
        out = self._emit()
        self.reset()
        return out


class StreamingSubsampler:
    """Normalised, subsampled encoder inputs from log-mel frames, equal to the offline ``encode`` path.

    ``accept(frames (F, n_mels))`` -> (new_steps, input_dim); ``finalize()`` -> the last steps
    ("stack" zero-pads the final partial group exactly like ``Subsampling`` after masking).
    Only global (or no) normalisation can stream; "utterance" raises ``ModelError``.
    ``normalization`` (2, n_mels), optional: the (mean, std) to use instead of the model's global
    pair (a speaker's, ``FeatureNormalizer.adapted``); it may change between utterances.
    """

    def __init__(self, model: nn.Module) -> None:
        config = model.config
        if config.normalization == "utterance":
            raise ModelError("per-utterance normalisation cannot stream frame by frame; re-run the whole utterance")
        self.normalizer = model.normalizer
        self.subsampling = model.subsampling
        self.kind = config.subsampling
        self.factor = config.frames_per_step
        self.normalize = config.normalization == "global"
        self.n_mels = config.n_mels
        self.normalization: torch.Tensor | None = None
        if self.kind == "embedding":  # each layer's rows once; the 68 frames of floor before frame 0 included
            self._embedding = EmbeddingStream(self.subsampling.embedding)
        self.reset()

    def reset(self) -> None:
        device = self.normalizer.mean.device
        self._frames = torch.zeros(0, self.n_mels, device=device)  # normalised frames not yet consumed
        self._first = 0  # utterance index of self._frames[0] ("conv": may be negative = zero padding)
        self.num_steps = 0
        if self.kind == "conv":
            self._frames = torch.zeros(6, self.n_mels, device=device)  # frames -6..-1 are zeros
            self._first = -6
        elif self.kind == "embedding":
            self._embedding.reset()

    def _normalize(self, frames: torch.Tensor) -> torch.Tensor:
        if self.normalize:
            if self.normalization is not None:
                return (frames - self.normalization[0]) / self.normalization[1]
            return (frames - self.normalizer.mean) / self.normalizer.std
        return frames

    @torch.no_grad()
    def accept(self, frames: torch.Tensor) -> torch.Tensor:
        """(frames, n_mels) raw log-mels -> (steps, input_dim) encoder inputs ready now."""
        if self.kind == "embedding":  # the stream keeps what its layers need: no frame buffer here
            out = self._embedding.accept(embedding_input(self._normalize(frames)))
            self.num_steps += out.size(0)
            return out
        if frames.numel():
            self._frames = torch.cat([self._frames, self._normalize(frames)])
        if self.kind == "conv":
            return self._conv_steps()
        groups = self._frames.size(0) // self.factor
        if groups == 0:
            return self._frames.new_zeros(0, self.n_mels * self.factor)
        out = self._frames[: groups * self.factor].reshape(groups, self.factor * self.n_mels)
        self._frames = self._frames[groups * self.factor :]
        self.num_steps += groups
        return out

    def _conv_steps(self) -> torch.Tensor:
        """Causal conv subsampling: step k needs frames 4k-6 .. 4k (frames before 0 are zeros)."""
        last_frame = self._first + self._frames.size(0) - 1  # utterance index of the newest frame
        k0, k1 = self.num_steps, last_frame // 4 + 1 if last_frame >= 0 else 0
        if k1 <= k0:
            return self._frames.new_zeros(0, self.subsampling.output_dim)
        start = 4 * k0 - 6 - self._first
        window = self._frames[start : start + 4 * (k1 - k0) + 3]  # frames 4k0-6 .. 4(k1-1)
        conv = self.subsampling.conv
        x = conv[1](conv[0](window[None, None]))  # conv1 outputs j = 2k0-2 .. 2k1-2
        if k0 == 0:
            x[:, :, :2] = 0  # j = -2, -1 are the zero padding of the second layer
        x = conv[3](conv[2](x))  # (1, channels, k1-k0, freq)
        out = x[0].transpose(0, 1).flatten(1)
        drop = 4 * k1 - 6 - self._first
        self._frames = self._frames[drop:]
        self._first += drop
        self.num_steps = k1
        return out

    @torch.no_grad()
    def finalize(self) -> torch.Tensor:
        """The last steps of the utterance (a zero-padded partial "stack" group; a floor-padded
        partial "embedding" step); then reset."""
        if self.kind == "embedding":
            out = self._embedding.finalize()
        elif self.kind == "stack" and self._frames.size(0):
            pad = self.factor - self._frames.size(0)
            self._frames = torch.cat([self._frames, self._frames.new_zeros(pad, self.n_mels)])
            out = self.accept(self._frames.new_zeros(0, self.n_mels))
        else:
            out = self.accept(self._frames.new_zeros(0, self.n_mels))  # "conv" and "none" emit eagerly
        self.reset()
        return out


class InputStream:
    """Encoder inputs (normalised, subsampled steps) of one stream from audio arriving in pieces:
    ``StreamingLogMel`` -> ``StreamingSubsampler``, each frame computed once. A spotter whose encoder
    cannot stream (a full-utterance BiGRU) re-runs only the encoder over its window of these steps;
    the front end, the speech embedding included, runs once per stream."""

    def __init__(self, model: nn.Module) -> None:
        self.features = StreamingLogMel(model.frontend)
        self.subsampler = StreamingSubsampler(model)

    def reset(self) -> None:
        self.features.reset()
        self.subsampler.reset()

    @torch.no_grad()
    def accept_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """(frames, n_mels) raw log-mels -> (steps, input_dim) encoder inputs complete now."""
        return self.subsampler.accept(frames)

    def finalize(self) -> torch.Tensor:
        """The utterance's last encoder inputs (a partial step padded as offline); then reset."""
        return self.subsampler.finalize()

    @torch.no_grad()
    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(samples,) model-rate audio -> (steps, input_dim) encoder inputs complete now."""
        return self.accept_frames(self.features.accept(samples))


class EncoderStream:
    """Encoder outputs of a streamable model from audio (or log-mel frames) arriving in pieces.

    The chain ``StreamingLogMel`` -> ``StreamingSubsampler`` -> ``GRUEncoder.stream_chunk`` with
    the forward-direction state carried across chunks: a chunked model encodes ``chunk_size``
    steps once ``right_context`` further steps exist, a unidirectional one any number of steps.
    Over one stream the outputs equal ``SpeechRNN.encode``'s encoder outputs on the whole signal.
    It holds one stream's state only (frames, steps waiting for their chunk, recurrent state), so
    a caller runs one ``EncoderStream`` per stream over the same model.
    """

    def __init__(self, model: nn.Module) -> None:
        if model.config.full_utterance:
            raise ModelError("a full-utterance bidirectional model cannot stream chunk by chunk")
        self.model = model
        self.inputs = InputStream(model)  # its encoder inputs, each frame computed once
        self.reset()

    def reset(self) -> None:
        """Forget the stream: buffered samples and frames, pending steps and the recurrent state."""
        self.inputs.reset()
        self._pending: torch.Tensor | None = None  # encoder inputs waiting for their chunk / right context
        self._state = self.model.encoder.initial_state(1, self.model.device)
        self.num_steps = 0  # encoder outputs emitted so far

    @torch.no_grad()
    def accept_frames(self, frames: torch.Tensor, final: bool = False) -> torch.Tensor:
        """(frames, n_mels) raw log-mels -> (steps, output_size) encoder outputs final now.

        ``final``: the stream ends here; the last partial chunk is encoded without right context.
        """
        steps = self.inputs.accept_frames(frames)
        if final:
            steps = torch.cat([steps, self.inputs.finalize()])
        if self._pending is not None:
            steps = torch.cat([self._pending, steps])
        encoder = self.model.encoder
        chunks, self._pending = take_chunks(steps, encoder.chunk_size, encoder.right_context, final)
        outputs = [self._encode(main, context) for main, context in chunks]
        if not outputs:
            return steps.new_zeros(0, encoder.output_size)
        out = torch.cat(outputs)
        self.num_steps += out.size(0)
        return out

    def _encode(self, main: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        out, self._state = self.model.encoder.stream_chunk(main[None], context[None], self._state)
        return out[0]

    def accept(self, samples: torch.Tensor) -> torch.Tensor:
        """(samples,) model-rate audio -> (steps, output_size) encoder outputs final now."""
        return self.accept_frames(self.inputs.features.accept(samples))

    def finalize(self) -> torch.Tensor:
        """The remaining encoder outputs at the end of the stream; then reset."""
        out = self.accept_frames(self.inputs.features.finalize(), final=True)
        self.reset()
        return out
