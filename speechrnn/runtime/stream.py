"""``StreamingRecognizer`` over an exported model, without torch: the torch recogniser's events.

The recogniser's logic is ``speechrnn.recognizer.RecognizerCore``'s (resampling, log-mel frames,
an encoder stream, greedy CTC runs or buffered classifier outputs, re-runs for models that cannot
stream step by step, the endpointer); this module computes it with onnxruntime and numpy:
``EncoderStream`` (the exported streaming step, state passed in and out) and ``KeywordSpotter``
(``speechrnn.kws``'s windows and decisions, with ``InputStream`` for a speech-embedding classifier).
Final CTC results are greedy.
"""

from __future__ import annotations

import numpy as np

from speechrnn.detect import (
    KeywordConfig,
    PosteriorDetector,
    SlidingWindow,
    StepWindows,
    stream_hop_steps,
    window_steps,
)
from speechrnn.endpoint import EndpointConfig
from speechrnn.errors import ModelError
from speechrnn.recognizer import RecognizerCore, take_chunks
from speechrnn.runtime.features import StreamingLogMel
from speechrnn.runtime.results import StreamEvent, Transcription, classification_result, greedy_ctc, softmax


class InputStream:
    """``speechrnn.stream_features.InputStream`` over an exported model: (samples,) or log-mel frames of
    one stream in pieces -> its encoder inputs (steps, D), each frame computed once."""

    def __init__(self, model) -> None:
        self.model = model
        self.features = StreamingLogMel(model.logmel)
        self.subsampler = model.streaming_subsampler()

    def reset(self) -> None:
        self.features.reset()
        self.subsampler.reset()

    def accept_frames(self, frames: np.ndarray) -> np.ndarray:
        """(frames, n_mels) raw log-mels -> (steps, D) encoder inputs complete now."""
        return self.subsampler.accept(self.model.normalize(frames) if frames.size else frames)

    def finalize(self) -> np.ndarray:
        """The utterance's last encoder inputs (a partial step padded as offline); then reset."""
        return self.subsampler.finalize()

    def accept(self, samples: np.ndarray) -> np.ndarray:
        return self.accept_frames(self.features.accept(samples))


class EncoderStream:
    """``speechrnn.stream_features.EncoderStream`` over an exported step-streaming model: log-mel frames
    (or samples) of one stream in pieces -> the encoder graph's outputs (CTC log-probs, or encoder
    outputs for classifiers) once each chunk's right context has arrived; state carried by the caller's
    object, not the graph."""

    def __init__(self, model) -> None:
        if not model.streams_by_step:
            raise ModelError("this model re-runs whole utterances; it cannot stream chunk by chunk")
        self.model = model
        self.inputs = InputStream(model)
        self.reset()

    def reset(self) -> None:
        self.inputs.reset()
        self._pending = None
        self._state = self.model.initial_state(1)
        self.num_steps = 0

    def accept_frames(self, frames: np.ndarray, final: bool = False) -> np.ndarray:
        """(frames, n_mels) raw log-mels -> (steps, V) outputs final now; ``final`` ends the stream."""
        model = self.model
        steps = self.inputs.accept_frames(frames)
        if final:
            steps = np.concatenate([steps, self.inputs.finalize()])
        if self._pending is not None:
            steps = np.concatenate([self._pending, steps])
        chunks, self._pending = take_chunks(steps, model.chunk_size, model.right_context, final)
        outputs = [self._encode(main, context) for main, context in chunks]
        if not outputs:
            return np.zeros((0, model.output_width), dtype=np.float32)
        out = np.concatenate(outputs)
        self.num_steps += out.shape[0]
        return out

    def _encode(self, main: np.ndarray, context: np.ndarray) -> np.ndarray:
        out, self._state = self.model.step(main[:, None], context[:, None], self._state)
        return out[:, 0]

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """(samples,) model-rate float32 audio -> (steps, V) outputs final now."""
        return self.accept_frames(self.inputs.features.accept(samples))


class KeywordSpotter:
    """``speechrnn.kws.KeywordSpotter``'s detector (same settings, defaults and windows) over an exported
    classifier: a sliding window re-run every ``hop`` seconds, or for a windowed step-streaming model
    (``pool_window``) one encoder stream whose last ``pool_window`` outputs are pooled every hop.
    ``keep_inputs``: a speech-embedding model's input stream keeps its encoder inputs until
    ``take_inputs`` (the recogniser's finals read them)."""

    def __init__(self, model, config: KeywordConfig | None = None, keep_inputs: bool = False) -> None:
        if model.head != "classify":
            raise ModelError("keyword detection needs a classification model (head 'classify')")
        self.model = model
        self.config = config = config or KeywordConfig()
        rate = model.sample_rate
        self.sample_rate = rate
        self.detector = PosteriorDetector(model.labels, config)
        self.encoder_stream = self.input_stream = None
        if model.pool_window and model.streams_by_step:
            self.encoder_stream = EncoderStream(model)
            hop_steps = stream_hop_steps(config.hop, model.chunk_size, model.frame_shift)
            self._steps = StepWindows(model.pool_window, hop_steps, np.concatenate)
            self.hop = hop_steps * model.frame_shift
        elif model.subsampling == "embedding":  # kws.streams_inputs
            self.input_stream = InputStream(model)
            hop_steps = stream_hop_steps(config.hop, 1, model.frame_shift)
            width = window_steps(config.window, rate, model.hop_length, model.factor)
            self._steps = StepWindows(width, hop_steps, np.concatenate)
            self.hop = hop_steps * model.frame_shift
        else:
            self.hop = config.hop
            self._sliding = SlidingWindow(int(round(config.window * rate)), int(round(config.hop * rate)))
        self.keep_inputs = keep_inputs and self.input_stream is not None
        self.reset()

    @property
    def streams(self) -> bool:
        """Whether each piece of audio is computed once (an encoder or input stream), not re-run in windows."""
        return self.encoder_stream is not None or self.input_stream is not None

    def reset(self) -> None:
        self._kept: list[np.ndarray] = []  # encoder inputs (steps, D) not yet taken (keep_inputs)
        if self.streams:
            (self.encoder_stream or self.input_stream).reset()
            self._steps.reset()
        else:
            self._sliding.reset()
        self.detector.reset()

    def accept(self, samples: np.ndarray) -> list[StreamEvent]:
        events = []
        for end, posterior in self.windows(samples):
            found = self.detector.push(end, posterior)
            if found is not None:
                events.append(StreamEvent("detection", found.label, found.start, found.end, (), found.label,
                                          found.score))  # fmt: skip
        return events

    def windows(self, samples: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """``(end seconds, (classes,) posteriors)`` of each window scored on these samples."""
        if self.encoder_stream is not None:
            shift = self.model.frame_shift
            return [
                (end * shift, softmax(self.model.pool(w)))
                for end, w in self._steps.push(self.encoder_stream.accept(samples))
            ]
        if self.input_stream is not None:
            shift = self.model.frame_shift
            inputs = self.input_stream.accept(samples)
            if self.keep_inputs:
                self._kept.append(inputs)
            windows = self._steps.push(inputs)
            return [(end * shift, softmax(self.model.pool(self.model.encode(w)))) for end, w in windows]
        rate = self.sample_rate
        return [(end / rate, softmax(self.model.outputs(w))) for _, end, w in self._sliding.push(samples)]

    def take_inputs(self, final: bool = False) -> np.ndarray:
        """``speechrnn.kws.KeywordSpotter.take_inputs``: the encoder inputs (steps, D) kept since the last
        call; ``final`` ends the stream first (its last frames and partial step, padded as offline)."""
        if final:
            stream = self.input_stream
            self._kept += [stream.accept_frames(stream.features.finalize()), stream.finalize()]
        kept, self._kept = self._kept, []
        if len(kept) == 1:  # a 100 ms piece: no copy
            return kept[0]
        return np.concatenate(kept) if kept else np.zeros((0, self.model.input_dim), dtype=np.float32)


class StreamingRecognizer(RecognizerCore):
    """Incremental recognition for one stream, over an ``OnnxModel`` (``speechrnn.runtime.load``).

    ``accept_waveform(samples, sample_rate)`` takes (n,) or (n, channels) float or integer PCM
    at any rate and returns the ``StreamEvent``s it caused (changed partials, finals cut by the
    endpointer, keyword detections); ``finish()`` ends the stream and returns the remaining
    events; ``finalize()`` ends it and returns the last utterance's ``Transcription``;
    ``reset()`` drops everything. ``endpoint``: a ``speechrnn.endpoint.EndpointConfig`` or None
    (one utterance until ``finalize``); ``keywords``: the spotter's ``detect.KeywordConfig`` (defaults when None).
    The logic is ``recognizer.RecognizerCore``'s, as in the torch recogniser; finals are greedy.
    """

    def __init__(self, model, *, endpoint: EndpointConfig | None = None, partial_interval: float = 0.3, keywords=None):
        self.model = model
        spotter = KeywordSpotter(model, keywords, keep_inputs=True) if model.head != "ctc" else None
        shared = spotter is not None and spotter.keep_inputs  # an input stream (speech embedding) serves the finals
        rerun = not model.streams_by_step and not shared
        self._setup(
            sample_rate=model.sample_rate, hop_length=model.hop_length, frame_shift=model.frame_shift,
            labels=model.labels, unit=model.unit, is_ctc=model.head == "ctc", rerun=rerun, endpoint=endpoint,
            partial_interval=partial_interval, features=StreamingLogMel(model.logmel),
            encoder=None if rerun or shared else EncoderStream(model),
            spotter=spotter,
        )  # fmt: skip

    # ------------------------------------------------------------------ compute
    def _frames(self, samples: np.ndarray, final: bool = False) -> np.ndarray:
        frames = self._features.accept(samples)
        return np.concatenate([frames, self._features.finalize()]) if final else frames

    def _step_log_probs(self, outputs: np.ndarray) -> np.ndarray:
        return outputs  # the exported CTC graph emits log-probs

    def _concatenate(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts)

    def _rerun_outputs(self, frames: np.ndarray) -> np.ndarray:
        model = self.model
        encoded = model.encode(model.subsample(model.normalize(frames)))
        return encoded if self.is_ctc else model.pool(encoded)

    def _pool(self, outputs: np.ndarray) -> np.ndarray:
        return self.model.pool(outputs)

    def _classify_inputs(self, inputs: np.ndarray) -> np.ndarray:
        return self.model.pool(self.model.encode(inputs))

    def _decode(self, log_probs: np.ndarray):
        return greedy_ctc(log_probs, self.labels, self.unit, self.frame_shift)

    def _classification(self, logits: np.ndarray, duration: float) -> Transcription:
        return classification_result(logits, self.labels, duration)
