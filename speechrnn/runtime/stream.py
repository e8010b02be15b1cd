"""``StreamingRecognizer`` over an exported model, without torch: the torch recogniser's events.

The pipeline and its rules are those of ``speechrnn.stream`` (resampling with
``soxr.ResampleStream`` -> log-mel frames -> global normalisation and subsampling ->
encoder steps of ``chunk_size`` once ``right_context`` further steps exist -> greedy CTC runs or
buffered classifier outputs; re-runs of the buffered utterance for full-utterance and
per-utterance-normalised models), with ``speechrnn.endpoint``'s endpointer and the
sliding-window keyword detector of ``speechrnn.kws``. Final CTC results are greedy.
"""

from __future__ import annotations

import numpy as np

from speechrnn.audio_io import to_mono_float32
from speechrnn.detect import FILLER_LABELS, KeywordConfig, PosteriorDetector, StepWindows, stream_hop_steps
from speechrnn.endpoint import EndpointConfig, EnergyTracker
from speechrnn.errors import AudioError, ConfigError, ModelError
from speechrnn.runtime.features import StreamingLogMel, StreamingSubsampler
from speechrnn.runtime.results import (
    StreamEvent,
    Transcription,
    WordTiming,
    classification_result,
    collapse_runs,
    greedy_ctc,
    softmax,
    tokens_to_words,
    words_to_text,
)


def _check_rate(sample_rate) -> int:
    whole = isinstance(sample_rate, (int, np.integer)) or (
        isinstance(sample_rate, (float, np.floating)) and float(sample_rate).is_integer()
    )
    if isinstance(sample_rate, bool) or not whole or sample_rate <= 0:
        raise AudioError(f"sample rate must be a positive integer, got {sample_rate!r}")
    return int(sample_rate)


class EncoderStream:
    """``speechrnn.stream_features.EncoderStream`` over an exported step-streaming model: log-mel frames
    (or samples) of one stream in pieces -> the encoder graph's outputs (CTC log-probs, or encoder
    outputs for classifiers) once each chunk's right context has arrived; state carried by the caller's
    object, not the graph."""

    def __init__(self, model) -> None:
        if not model.streams_by_step:
            raise ModelError("this model re-runs whole utterances; it cannot stream chunk by chunk")
        self.model = model
        self.features = StreamingLogMel(model.logmel)
        self.subsampler = StreamingSubsampler(
            model.subsampling, model.factor, model.logmel.n_mels, model.input_dim, model.conv
        )
        self.reset()

    def reset(self) -> None:
        self.features.reset()
        self.subsampler.reset()
        self._pending = None
        self._state = self.model.initial_state(1)
        self.num_steps = 0

    def accept_frames(self, frames: np.ndarray, final: bool = False) -> np.ndarray:
        """(frames, n_mels) raw log-mels -> (steps, V) outputs final now; ``final`` ends the stream."""
        model = self.model
        steps = self.subsampler.accept(model.normalize(frames) if frames.size else frames)
        if final:
            steps = np.concatenate([steps, self.subsampler.finalize()])
        if self._pending is not None:
            steps = np.concatenate([self._pending, steps])
        size, right = model.chunk_size, model.right_context
        outputs = []
        if not size:  # unidirectional: any number of steps
            if steps.shape[0]:
                outputs.append(self._encode(steps, steps[:0]))
            steps = steps[:0]
        while steps.shape[0] >= size + right > 0 or (final and steps.shape[0]):
            outputs.append(self._encode(steps[:size], steps[size : size + right]))
            steps = steps[size:]
        self._pending = steps
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
        return self.accept_frames(self.features.accept(samples))


class KeywordSpotter:
    """``speechrnn.kws.KeywordSpotter``'s detector (same settings, defaults and windows) over an exported
    classifier: a sliding window re-run every ``hop`` seconds, or for a windowed step-streaming model
    (``pool_window``) one encoder stream whose last ``pool_window`` outputs are pooled every hop."""

    def __init__(self, model, window=1.0, hop=0.1, smoothing=3, threshold=0.6, refractory=1.0, fillers=FILLER_LABELS):
        if model.head != "classify":
            raise ModelError("keyword detection needs a classification model (head 'classify')")
        self.model = model
        rate = model.sample_rate
        self.sample_rate = rate
        self.detector = PosteriorDetector(model.labels, KeywordConfig(window, hop, smoothing, threshold, refractory,
                                                                      tuple(fillers)))  # fmt: skip
        self.window = int(round(window * rate))
        self.encoder_stream = None
        if model.pool_window and model.streams_by_step:
            self.encoder_stream = EncoderStream(model)
            hop_steps = stream_hop_steps(hop, model.chunk_size, model.frame_shift)
            self._steps = StepWindows(model.pool_window, hop_steps, np.concatenate)
            self.hop = hop_steps * model.frame_shift
        else:
            self.hop = hop
        self._hop_samples = int(round(hop * rate))
        self.reset()

    def reset(self) -> None:
        self._audio = np.zeros(self.window, dtype=np.float32)
        self._samples = 0
        self._since_hop = 0
        if self.encoder_stream is not None:
            self.encoder_stream.reset()
            self._steps.reset()
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
        scored = []
        begin = 0
        while begin < samples.size:
            take = min(self._hop_samples - self._since_hop, samples.size - begin)
            self._audio = np.concatenate([self._audio[take:], samples[begin : begin + take]])
            self._since_hop += take
            self._samples += take
            begin += take
            if self._since_hop < self._hop_samples:
                continue
            self._since_hop = 0
            scored.append((self._samples / self.sample_rate, softmax(self.model.outputs(self._audio))))
        return scored


class StreamingRecognizer:
    """Incremental recognition for one stream, over an ``OnnxModel`` (``speechrnn.runtime.load``).

    ``accept_waveform(samples, sample_rate)`` takes (n,) or (n, channels) float or integer PCM
    at any rate and returns the ``StreamEvent``s it caused (changed partials, finals cut by the
    endpointer, keyword detections); ``finish()`` ends the stream and returns the remaining
    events; ``finalize()`` ends it and returns the last utterance's ``Transcription``;
    ``reset()`` drops everything. ``endpoint``: a ``speechrnn.endpoint.EndpointConfig`` or None
    (one utterance until ``finalize``); ``keywords``: ``KeywordSpotter`` settings (a dict).
    """

    def __init__(self, model, *, endpoint: EndpointConfig | None = None, partial_interval: float = 0.3, keywords=None):
        self.model = model
        self.sample_rate = model.sample_rate
        self.endpoint = endpoint
        self.is_ctc = model.head == "ctc"
        self.silence = endpoint.silence if endpoint else "energy"
        if self.silence == "auto":
            self.silence = "blank" if self.is_ctc else "energy"
        if self.silence == "blank" and not self.is_ctc:
            raise ConfigError("endpoint silence 'blank' needs a CTC model; use 'energy' for classifiers")
        self.rerun = not model.streams_by_step
        self.partial_interval = partial_interval
        self._features = StreamingLogMel(model.logmel)
        self._encoder = None if self.rerun else EncoderStream(model)
        self._energy = EnergyTracker(model.hop_length, endpoint.energy_floor_db if endpoint else -45.0)
        self.spotter = KeywordSpotter(model, **(keywords or {})) if not self.is_ctc else None
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio; start a new stream at time 0."""
        self._resampler = None
        self._input_rate = None
        self._stream_samples = 0
        self._finals_emitted = 0
        if self.spotter is not None:
            self.spotter.reset()
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._features.reset()
        if self._encoder is not None:
            self._encoder.reset()
        self._energy.reset()
        self._samples = 0
        self._outputs: list[np.ndarray] = []
        self._runs: list[tuple[int, int, int]] = []
        self._decoded_steps = 0
        self._raw_frames: list[np.ndarray] = []
        self._since_rerun = 0
        self._rerun_log_probs = None
        self._partial_text = ""

    @property
    def utterance_start(self) -> float:
        return self._stream_samples / self.sample_rate

    @property
    def time(self) -> float:
        return (self._stream_samples + self._samples) / self.sample_rate

    # ------------------------------------------------------------------ input
    def _resample(self, audio: np.ndarray, sample_rate: int, last: bool = False) -> np.ndarray:
        if self._input_rate is None:
            self._input_rate = sample_rate
        elif sample_rate != self._input_rate:
            raise AudioError(
                f"sample rate changed from {self._input_rate} to {sample_rate} within a stream; "
                "call finalize() or reset() first"
            )
        if sample_rate == self.sample_rate:
            return audio
        if self._resampler is None:
            import soxr  # noqa: PLC0415

            self._resampler = soxr.ResampleStream(sample_rate, self.sample_rate, 1, dtype="float32", quality="HQ")
        return self._resampler.resample_chunk(audio, last=last)

    def accept_waveform(self, samples, sample_rate: int | None = None) -> list[StreamEvent]:
        """Feed samples at ``sample_rate`` (default: the model's); returns the events they caused."""
        rate = self.sample_rate if sample_rate is None else _check_rate(sample_rate)
        audio = to_mono_float32(samples, "samples", allow_empty=True)
        if audio.size == 0:
            return []
        return self._process(self._resample(audio, rate))

    def _process(self, audio: np.ndarray) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        piece = self.sample_rate // 10 if self.endpoint else max(audio.size, 1)
        for begin in range(0, audio.size, piece):
            part = audio[begin : begin + piece]
            if self.spotter is not None:
                events += self.spotter.accept(part)
            self._samples += part.size
            if self.endpoint and self.silence == "energy":
                self._energy.accept(part)
            self._advance(self._features.accept(part), final=False)
            partial = self._partial_event()
            if partial is not None:
                events.append(partial)
            reason = self._endpoint_reason()
            if reason is not None:
                final = self._finish_utterance(reason)
                if final is not None:
                    events.append(final)
                    self._finals_emitted += 1
        return events

    # ------------------------------------------------------------------ model
    def _advance(self, frames: np.ndarray, final: bool) -> None:
        if self.rerun:
            if frames.size:
                self._raw_frames.append(frames)
            self._since_rerun += frames.shape[0]
            interval = self.partial_interval * self.sample_rate / self.model.hop_length
            if final or (self.is_ctc and self._since_rerun >= interval):
                self._rerun_whole()
            return
        out = self._encoder.accept_frames(frames, final)
        if not out.shape[0]:
            return
        self._outputs.append(out)
        if self.is_ctc:
            self._extend_runs(out.argmax(axis=-1).tolist())

    def _extend_runs(self, best: list[int]) -> None:
        offset = self._decoded_steps
        new = [(token, first + offset, last + offset) for token, first, last in collapse_runs(best)]
        runs = self._runs
        if new and runs and new[0][0] == runs[-1][0] and new[0][1] == offset == runs[-1][2] + 1:
            runs[-1] = (runs[-1][0], runs[-1][1], new.pop(0)[2])
        runs += new
        self._decoded_steps += len(best)

    def _buffered_outputs(self) -> np.ndarray:
        """Re-run mode: the model's outputs over all buffered frames (CTC log-probs or logits)."""
        from speechrnn.runtime.features import subsample  # noqa: PLC0415

        model = self.model
        frames = model.normalize(np.concatenate(self._raw_frames))
        encoded = model.encode(subsample(frames, model.subsampling, model.factor, model.conv))
        return model.pool(encoded) if not self.is_ctc else encoded

    def _rerun_whole(self) -> None:
        self._since_rerun = 0
        if not self._raw_frames or not self.is_ctc:
            return
        self._rerun_log_probs = self._buffered_outputs()
        self._runs = collapse_runs(self._rerun_log_probs.argmax(axis=-1).tolist())
        self._decoded_steps = self._rerun_log_probs.shape[0]

    # ------------------------------------------------------------------ results
    def _partial_event(self) -> StreamEvent | None:
        if not self.is_ctc:
            return None
        words = self._greedy_words()
        text = words_to_text(words)
        if text == self._partial_text:
            return None
        self._partial_text = text
        return StreamEvent("partial", text, self.utterance_start, self.time, tuple(words))

    def _greedy_words(self) -> list[WordTiming]:
        m = self.model
        return tokens_to_words(self._runs, m.labels, m.unit, m.frame_shift, self.utterance_start)

    def _endpoint_reason(self) -> str | None:
        if self.endpoint is None:
            return None
        length = self._samples / self.sample_rate
        if self.silence == "energy":
            trailing = self._energy.trailing_silence(self.sample_rate)
            return self.endpoint.detect(length, trailing, self._energy.has_speech)
        runs = self._runs
        shift = self.model.frame_shift
        decoded = self._decoded_steps * shift
        trailing = decoded - (runs[-1][2] + 1) * shift if runs else decoded
        return self.endpoint.detect(length, trailing, bool(runs))

    def _finish_utterance(self, reason: str) -> StreamEvent | None:
        if self._samples == 0:
            return None
        self._advance(self._features.finalize(), final=True)
        start, end = self.utterance_start, self.time
        duration = end - start
        m = self.model
        if self.is_ctc:
            log_probs = self._rerun_log_probs if self.rerun else np.concatenate(self._outputs)
            text, words = greedy_ctc(log_probs, m.labels, m.unit, m.frame_shift)
            words = tuple(WordTiming(w.word, w.start + start, w.end + start) for w in words)
            result = Transcription(text=text, words=words, duration=duration)
        else:
            logits = self._buffered_outputs() if self.rerun else m.pool(np.concatenate(self._outputs))
            result = classification_result(logits, m.labels, duration)
        self._stream_samples += self._samples
        self._reset_utterance()
        if reason == "rule1":
            return None
        return StreamEvent("final", result.text, start, end, result.words, result.label, result.score, reason, result)

    def finish(self) -> list[StreamEvent]:
        """End the stream: flush the resampler and the last utterance; return the remaining events."""
        events: list[StreamEvent] = []
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if tail.size:
                events += self._process(tail)
        self._last_result = Transcription(text="")
        if self._samples:
            speech = self._energy.has_speech if self.silence == "energy" else True
            final = self._finish_utterance("end")
            self._last_result = final.result
            if self.endpoint is None or (speech and final.text) or not self._finals_emitted:
                events.append(final)
        self._input_rate = None
        self.reset()
        return events

    def finalize(self) -> Transcription:
        """End the stream and return the final result of its last utterance."""
        self.finish()
        return self._last_result
