"""What a streaming recogniser does with one stream, whatever computes the model: ``RecognizerCore``.

Audio arrives in chunks of any size and rate. Per utterance: resampling (``soxr.ResampleStream``)
-> streaming log-mel frames -> an encoder stream (normalisation, subsampling, chunked encoder with
its state carried; ``stream_features.EncoderStream`` or the runtime's) -> greedy CTC runs (partials)
or buffered encoder outputs (a classifier's final). Models that cannot stream step by step
(full-utterance bidirectional encoders, per-utterance normalisation) re-run the buffered utterance
for partials every ``partial_interval`` seconds of audio and at the end. A speech-embedding
classifier (``shared_inputs``) computes its front end once per stream, in its keyword spotter: the
recogniser takes the spotter's encoder inputs of each utterance and runs only the encoder and head
at the utterance's end. With an
``EndpointConfig`` the stream is cut into utterances, each with its own final result and times
from the start of the stream; memory stays bounded by the longest utterance. A classifier's
keyword spotter hears the whole stream beside this.

This module holds that logic and the per-stream state once, without torch. The torch recogniser
(``speechrnn.stream.StreamingRecognizer``) and the onnxruntime one
(``speechrnn.runtime.StreamingRecognizer``) are subclasses that only say how to compute: frames
from samples, the encoder stream, log-probs, pooling, re-runs and the final decoding.
"""

from __future__ import annotations

import numpy as np

from speechrnn.audio_io import check_sample_rate, to_mono_float32
from speechrnn.endpoint import EndpointConfig, EnergyTracker
from speechrnn.errors import AudioError, ConfigError
from speechrnn.results import StreamEvent, Transcription, WordTiming, collapse_runs, tokens_to_words, words_to_text


def take_chunks(steps, size: int, right: int, final: bool) -> tuple[list, object]:
    """The encoder inputs (steps, dim) that can be encoded now, as ``(main, context)`` pairs, and the
    steps left to wait: a chunked encoder takes ``size`` steps once ``right`` more exist (at the end,
    ``final``, whatever is left); a unidirectional one (``size`` 0) takes every step at once. Works on
    torch tensors and numpy arrays alike (both ``EncoderStream``s cut their chunks here)."""
    if not size:
        return ([(steps, steps[:0])] if len(steps) else []), steps[:0]
    pairs = []
    while len(steps) >= size + right or (final and len(steps)):
        pairs.append((steps[:size], steps[size : size + right]))
        steps = steps[size:]
    return pairs, steps


class RecognizerCore:
    """Incremental recognition for one stream; subclasses implement the ``_compute`` hooks below.

    ``accept_waveform(samples, sample_rate)`` returns the ``StreamEvent``s the audio caused (partials
    that changed, finals cut by the endpointer, keyword detections); ``finish()`` ends the stream and
    returns the remaining events; ``finalize()`` ends it and returns the last utterance's
    ``Transcription``; ``reset()`` drops everything; ``discard()`` drops the current stream's audio.

    Args (of ``_setup``): rates and sizes of the model (``sample_rate``, ``hop_length`` samples per
    frame, ``frame_shift`` seconds per encoder step), its ``labels`` and ``unit``, whether it is
    CTC, whether it must ``rerun`` whole utterances, the ``endpoint`` rules (None = one utterance
    until ``finalize``), ``partial_interval`` (seconds between re-runs), the stream's ``features``
    (``accept``/``finalize``/``reset``), its ``encoder`` stream (None when re-running) and the
    classifier's ``spotter`` (or None). A spotter made with ``keep_inputs`` computes the classifier's
    encoder inputs for it (``shared_inputs``; ``take_inputs``): then no ``features``, ``encoder`` or
    re-runs are run here.

    Shared inputs run on over the whole stream, as the spotter's do. Without endpointing (a file streamed
    whole) the final equals the offline classification of the audio. With it, an utterance is classified
    from the steps completed between its cuts: it hears the end of the pause before it through the front
    end's history (760 ms for the speech embedding) instead of the floor an utterance starts with
    offline, and it ends with the last whole step before its cut, in the pause that ended it.
    """

    def _setup(
        self, *, sample_rate: int, hop_length: int, frame_shift: float, labels, unit: str, is_ctc: bool,
        rerun: bool, endpoint: EndpointConfig | None, partial_interval: float, features, encoder, spotter,
        keep_frames: bool = False,
    ) -> None:  # fmt: skip
        self.sample_rate, self.hop_length, self.frame_shift = sample_rate, hop_length, frame_shift
        self.labels, self.unit, self.is_ctc, self.rerun = list(labels), unit, is_ctc, rerun
        self.endpoint = endpoint
        self.silence = endpoint.silence if endpoint else "energy"
        if self.silence == "auto":
            self.silence = "blank" if is_ctc else "energy"
        if self.silence == "blank" and not is_ctc:
            raise ConfigError("endpoint silence 'blank' needs a CTC model; use 'energy' for classifiers")
        self.partial_interval = partial_interval
        self._features, self._encoder, self.spotter = features, encoder, spotter
        self.shared_inputs = spotter is not None and spotter.keep_inputs
        self._keep_frames = rerun or keep_frames  # log-mel frames of the utterance are kept
        self._energy = EnergyTracker(hop_length, endpoint.energy_floor_db if endpoint else -45.0)
        self._reset_stream()

    # ------------------------------------------------------------------ compute (subclasses)
    def _frames(self, samples: np.ndarray, final: bool = False):
        """Model-rate samples (n,) -> new log-mel frames (F, n_mels); ``final`` flushes the utterance's last."""
        raise NotImplementedError

    def _step_log_probs(self, outputs):
        """CTC: the encoder stream's outputs (steps, ...) -> log-probs (steps, V)."""
        raise NotImplementedError

    def _concatenate(self, parts: list):
        raise NotImplementedError

    def _rerun_outputs(self, frames):
        """Re-run mode: all (F, n_mels) frames of the utterance -> CTC log-probs (steps, V) or logits (classes,)."""
        raise NotImplementedError

    def _pool(self, outputs):
        """Classifier: encoder outputs (steps, H) of the utterance -> (classes,) logits."""
        raise NotImplementedError

    def _classify_inputs(self, inputs):
        """Shared inputs: the utterance's encoder inputs (steps, D) -> (classes,) logits (encoder and head)."""
        raise NotImplementedError

    def _decode(self, log_probs) -> tuple[str, list[WordTiming]]:
        """CTC: (steps, V) log-probs of the utterance -> final (text, words), word times from its start."""
        raise NotImplementedError

    def _classification(self, logits, duration: float) -> Transcription:
        raise NotImplementedError

    def _begin_utterance(self) -> None:
        """Called as each utterance starts (e.g. to normalise it as the speaker heard so far)."""

    def _end_utterance(self) -> None:
        """Called as an utterance with speech ends (its kept frames are still in ``_raw_frames``)."""

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio; start a new stream at time 0."""
        self._reset_stream()

    def discard(self) -> None:
        """Drop the current stream's audio without a result (e.g. a file that failed half-way); the next
        audio starts a new stream at time 0 (what a subclass learnt about the speaker is kept)."""
        self._reset_stream()

    def _reset_stream(self) -> None:
        self._resampler = None
        self._input_rate = None
        self._stream_samples = 0  # model-rate samples of finished utterances
        self._finals_emitted = 0
        if self.spotter is not None:
            self.spotter.reset()
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._features.reset()
        self._begin_utterance()
        if self._encoder is not None:
            self._encoder.reset()
        self._energy.reset()
        self._samples = 0  # model-rate samples of this utterance
        self._outputs: list = []  # CTC log-probs (steps, V) or encoder outputs (steps, H)
        self._runs: list[tuple[int, int, int]] = []  # greedy CTC (token, first, last step) runs so far
        self._text_changed = False  # runs added since the last partial (a longer run keeps the text)
        self._decoded_steps = 0  # encoder steps behind self._runs
        self._raw_frames: list = []  # log-mel frames (re-run mode, speaker adaptation)
        self._since_rerun = 0
        self._rerun_log_probs = None
        self._partial_text = ""

    @property
    def utterance_start(self) -> float:
        """Seconds from the stream start to the start of the current utterance."""
        return self._stream_samples / self.sample_rate

    @property
    def time(self) -> float:
        """Seconds of audio (at the model rate) accepted so far in this stream."""
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
        """Feed (n,), (n, channels) or (channels, n) float/int16 samples at ``sample_rate`` (default: the
        model's); checked as ``audio_io.check_sample_rate`` and ``to_mono_float32`` check a file's.

        Returns the events this audio caused, possibly none.
        """
        rate = self.sample_rate if sample_rate is None else check_sample_rate(sample_rate, "samples")
        audio = to_mono_float32(samples, "samples", allow_empty=True)
        if audio.size == 0:
            return []
        return self._process(self._resample(audio, rate))

    def _process(self, audio: np.ndarray) -> list[StreamEvent]:
        """Model-rate audio -> events; cut into 100 ms pieces so endpoints fall where they happen."""
        events: list[StreamEvent] = []
        piece = self.sample_rate // 10 if self.endpoint else max(audio.size, 1)
        for begin in range(0, audio.size, piece):
            part = audio[begin : begin + piece]
            if self.spotter is not None:
                events += self.spotter.accept(part)
            self._samples += part.size
            if self.endpoint and self.silence == "energy":
                self._energy.accept(part)
            if self.shared_inputs:
                self._outputs.append(self.spotter.take_inputs())
            else:
                self._advance(self._frames(part), final=False)
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
    def _advance(self, frames, final: bool) -> None:
        """Push new log-mel frames (F, n_mels) through the encoder stream (or buffer them to re-run)."""
        if frames.shape[0] and self._keep_frames:
            self._raw_frames.append(frames)
        if self.rerun:
            self._since_rerun += frames.shape[0]
            interval = self.partial_interval * self.sample_rate / self.hop_length
            if final or (self.is_ctc and self._since_rerun >= interval):
                self._rerun_whole()
            return
        out = self._encoder.accept_frames(frames, final)
        if not out.shape[0]:
            return
        if self.is_ctc:
            out = self._step_log_probs(out)
            self._extend_runs(out.argmax(-1).tolist())
        self._outputs.append(out)

    def _extend_runs(self, best: list[int]) -> None:
        """Append new steps' argmax tokens to the greedy runs; equals ``collapse_runs`` of all steps so far."""
        offset = self._decoded_steps
        new = [(token, first + offset, last + offset) for token, first, last in collapse_runs(best)]
        runs = self._runs
        if new and runs and new[0][0] == runs[-1][0] and new[0][1] == offset == runs[-1][2] + 1:
            runs[-1] = (runs[-1][0], runs[-1][1], new.pop(0)[2])  # a token run that spans the boundary
        runs += new
        self._decoded_steps += len(best)
        self._text_changed = self._text_changed or bool(new)

    def _rerun_whole(self) -> None:
        """Re-run the model over the buffered utterance (CTC partials)."""
        self._since_rerun = 0
        if not self._raw_frames or not self.is_ctc:
            return
        self._rerun_log_probs = self._rerun_outputs(self._concatenate(self._raw_frames))
        self._runs = collapse_runs(self._rerun_log_probs.argmax(-1).tolist())
        self._decoded_steps = self._rerun_log_probs.shape[0]
        self._text_changed = True

    # ------------------------------------------------------------------ results
    def _partial_event(self) -> StreamEvent | None:
        if not self.is_ctc or not self._text_changed:
            return None
        self._text_changed = False
        words = tokens_to_words(self._runs, self.labels, self.unit, self.frame_shift, self.utterance_start)
        text = words_to_text(words)
        if text == self._partial_text:
            return None
        self._partial_text = text
        return StreamEvent("partial", text, self.utterance_start, self.time, tuple(words))

    def _endpoint_reason(self) -> str | None:
        if self.endpoint is None:
            return None
        length = self._samples / self.sample_rate
        if self.silence == "energy":
            trailing = self._energy.trailing_silence(self.sample_rate)
            return self.endpoint.detect(length, trailing, self._energy.has_speech)
        runs = self._runs
        shift = self.frame_shift
        decoded = self._decoded_steps * shift
        trailing = decoded - (runs[-1][2] + 1) * shift if runs else decoded
        return self.endpoint.detect(length, trailing, bool(runs))

    def _finish_utterance(self, reason: str) -> StreamEvent | None:
        """Flush the current utterance, return its final event (None for dropped silence) and start the next."""
        if self._samples == 0:
            return None
        if self.shared_inputs:  # the stream's end flushes the spotter's last partial step
            self._outputs.append(self.spotter.take_inputs(final=reason == "end"))
        else:
            self._advance(self._frames(np.zeros(0, dtype=np.float32), final=True), final=True)
        start, end = self.utterance_start, self.time
        result = None
        if reason != "rule1":  # rule1: silence before any speech, dropped (neither decoded nor classified)
            result = self._utterance_result(start, end)
            self._end_utterance()
        self._stream_samples += self._samples
        self._reset_utterance()
        if result is None:
            return None
        return StreamEvent("final", result.text, start, end, result.words, result.label, result.score, reason, result)

    def _utterance_result(self, start: float, end: float) -> Transcription:
        """The flushed utterance's final ``Transcription`` (CTC word times from the stream start)."""
        if self.is_ctc:
            log_probs = self._rerun_log_probs if self.rerun else self._concatenate(self._outputs)
            text, words = self._decode(log_probs)
            words = tuple(WordTiming(w.word, w.start + start, w.end + start) for w in words)
            return Transcription(text=text, words=words, duration=end - start)
        if self.shared_inputs:
            logits = self._classify_inputs(self._concatenate(self._outputs))
        elif self.rerun:
            logits = self._rerun_outputs(self._concatenate(self._raw_frames))
        else:
            logits = self._pool(self._concatenate(self._outputs))
        return self._classification(logits, end - start)

    def finish(self) -> list[StreamEvent]:
        """End the stream: flush the resampler and the last utterance; return the remaining events.

        With endpointing, the last utterance's final event is left out when it holds no speech
        (no text, or no energy above the floor) unless it is the stream's only utterance.
        """
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
        self._reset_stream()
        return events

    def finalize(self) -> Transcription:
        """End the stream and return the final result of its last utterance (word times from the stream start)."""
        self.finish()
        return self._last_result
