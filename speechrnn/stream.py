"""Streaming recognition: ``StreamingRecognizer`` (``speechrnn transcribe --stream``).

Audio arrives in chunks of any size and rate. The pipeline per utterance is
resampling (``soxr.ResampleStream``) -> ``StreamingLogMel`` -> ``stream_features.EncoderStream``
(global normalisation, subsampling, ``GRUEncoder.stream_chunk`` on chunks of ``chunk_size``
steps once ``right_context`` further steps exist; any number of steps for unidirectional
models) -> head. Models that cannot stream step by step
(full-utterance bidirectional encoders, per-utterance normalisation) re-run the
buffered utterance for partials every ``partial_interval`` seconds of audio and at the
end. Either way the final result equals ``model.transcribe`` on the whole utterance.

With an ``EndpointConfig`` a continuous stream is cut into utterances, each with its own
final result and times relative to the start of the stream; memory stays bounded by the
longest utterance (rule 3).
"""

from __future__ import annotations

import numpy as np
import torch

from speechrnn.audio import check_sample_rate, to_mono_float32
from speechrnn.decode import (
    DecodingOptions,
    StreamEvent,
    Transcription,
    WordTiming,
    classification_result,
    collapse_runs,
    decode_ctc,
    decoding_options,
    greedy_path,
    tokens_to_words,
    words_to_text,
)
from speechrnn.endpoint import EndpointConfig, EnergyTracker
from speechrnn.errors import AudioError, ConfigError
from speechrnn.stream_features import EncoderStream, StreamingLogMel


class StreamingRecognizer:
    """Incremental recognition for one stream of audio.

    Args:
        model: a ``SpeechRNN`` (CTC or classify head), in eval mode.
        endpoint: rules that cut the stream into utterances; None = one utterance until ``finalize``.
        decoding: ``DecodingOptions`` (or a dict of them) for final CTC results; partials are greedy.
        partial_interval: seconds of audio between re-runs for models that cannot stream step by step.
        keywords: ``kws.KeywordConfig`` for classifier detections (default settings when None).
        vad: a ``vad.SileroVAD`` gating classifier detections (windows without speech score as silence).
        speaker: ``speaker_norm.FeatureStats`` of the speaker (``speaker_norm.enrol``), for a model
            with speaker normalisation; None runs the model's reference speaker.
        adapt_speaker: for a model with speaker normalisation: after each utterance, add its speech
            frames to the speaker's statistics and normalise the following utterances with them
            (starting from ``speaker`` or the reference, worth ``prior_frames`` frames).
        prior_frames: the weight of that starting point, in 10 ms frames (default 200: 2 s of speech).

    ``accept_waveform(samples, sample_rate)`` returns a list of ``StreamEvent`` (partials that
    changed, finals cut by the endpointer, keyword detections); ``finalize()`` ends the stream
    and returns the final ``Transcription`` of its last utterance; ``reset()`` drops everything,
    the speaker's adapted statistics too (``finish`` keeps them for the next stream).
    """

    def __init__(
        self,
        model,
        *,
        endpoint: EndpointConfig | None = None,
        decoding: DecodingOptions | dict | None = None,
        partial_interval: float = 0.3,
        keywords=None,
        vad=None,
        speaker=None,
        adapt_speaker: bool = False,
        prior_frames: float = 200.0,
    ) -> None:
        self.model = model.eval()
        self._speaker = None
        if speaker is not None or adapt_speaker:
            from speechrnn.speaker_norm import SpeakerAccumulator  # noqa: PLC0415

            model.normalizer.check_speaker_norm()
            start = speaker if speaker is not None else model.normalizer.reference_statistics()
            self._speaker = SpeakerAccumulator(start, prior_frames)
        self.adapt_speaker = adapt_speaker
        self.config = model.config
        self.sample_rate = self.config.sample_rate
        self.endpoint = endpoint
        self.decoding = decoding_options(decoding)
        self.is_ctc = self.config.head == "ctc"
        self.silence = endpoint.silence if endpoint else "energy"
        if self.silence == "auto":
            self.silence = "blank" if self.is_ctc else "energy"
        if self.silence == "blank" and not self.is_ctc:
            raise ConfigError("endpoint silence 'blank' needs a CTC model; use 'energy' for classifiers")
        encoder = model.encoder
        bidirectional_full = encoder.layers[0].backward_gru is not None and not encoder.chunk_size
        self.rerun = bidirectional_full or self.config.normalization == "utterance"
        self.partial_interval = partial_interval
        self._features = StreamingLogMel(model.frontend)
        self._encoder = None if self.rerun else EncoderStream(model)
        self._energy = EnergyTracker(self.config.hop_length, endpoint.energy_floor_db if endpoint else -45.0)
        self.spotter = None
        if not self.is_ctc:
            from speechrnn.kws import KeywordSpotter  # noqa: PLC0415 - classifiers only

            self.spotter = KeywordSpotter(model, keywords, vad=vad)
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget all audio, and what was learnt about the speaker; start a new stream at time 0."""
        if self._speaker is not None:
            self._speaker.reset()
        self._reset_stream()

    def discard(self) -> None:
        """Drop the current stream's audio without a result (e.g. a file that failed half-way), keeping
        what was learnt about the speaker; the next audio starts a new stream at time 0."""
        self._reset_stream()

    def _reset_stream(self) -> None:
        """Forget all audio (not the speaker's statistics) and start a new stream at time 0."""
        self._resampler = None
        self._input_rate = None
        self._stream_samples = 0  # model-rate samples of finished utterances
        self._finals_emitted = 0
        if self.spotter is not None:
            self.spotter.reset()
        self._reset_utterance()

    def _reset_utterance(self) -> None:
        self._features.reset()
        self._normalization = None  # (2, n_mels) speaker (mean, std) for this utterance, or the global pair
        if self._speaker is not None:
            stats = self._speaker.statistics()
            self._normalization = self.model.normalizer.adapted(stats)
        if self._encoder is not None:
            self._encoder.reset()
            self._encoder.subsampler.normalization = self._normalization
        self._energy.reset()
        self._samples = 0  # model-rate samples of this utterance
        self._outputs: list[torch.Tensor] = []  # CTC log-probs (steps, V) or encoder outputs (steps, H)
        self._runs: list[tuple[int, int, int]] = []  # greedy CTC (token, first, last step) runs so far
        self._decoded_steps = 0  # encoder steps behind self._runs
        self._raw_frames: list[torch.Tensor] = []  # log-mel frames (re-run mode, speaker adaptation)
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

    @torch.inference_mode()
    def accept_waveform(self, samples, sample_rate: int | None = None) -> list[StreamEvent]:
        """Feed (n,), (n, channels) or (channels, n) float/int16 samples at ``sample_rate`` (default: the
        model's); the same checks as ``model.transcribe`` (``audio.check_sample_rate``, ``to_mono_float32``).

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
            frames = self._features.accept(torch.from_numpy(np.ascontiguousarray(part)))
            self._advance(frames, final=False)
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
    def _advance(self, frames: torch.Tensor, final: bool) -> None:
        """Push new log-mel frames through normalisation, subsampling, encoder and head."""
        if frames.numel() and (self.rerun or self.adapt_speaker):
            self._raw_frames.append(frames)
        if self.rerun:
            self._since_rerun += frames.size(0)
            interval = self.partial_interval * self.sample_rate / self.config.hop_length
            if final or (self.is_ctc and self._since_rerun >= interval):
                self._rerun_whole()
            return
        out = self._encoder.accept_frames(frames, final)
        if not out.size(0):
            return
        if self.is_ctc:
            log_probs = self.model.output(out[None], None)[0]
            self._outputs.append(log_probs)
            self._extend_runs(log_probs.argmax(dim=-1).tolist())
        else:
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

    def _encode_buffered(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalisation, subsampling, encoder and head over all buffered log-mel frames (re-run mode)."""
        feats = torch.cat(self._raw_frames)[None]
        lengths = torch.tensor([feats.size(1)], device=feats.device)
        stats = None if self._normalization is None else self._normalization[None]
        return self.model.encode(self.model.normalizer(feats, lengths, stats), lengths)

    def _rerun_whole(self) -> None:
        """Re-run normalisation, subsampling, encoder and head over the buffered utterance."""
        self._since_rerun = 0
        if not self._raw_frames or not self.is_ctc:
            return
        outputs, steps = self._encode_buffered()
        self._rerun_log_probs = outputs[0, : steps[0]].float()
        self._runs = greedy_path(self._rerun_log_probs)
        self._decoded_steps = self._rerun_log_probs.size(0)

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
        config = self.config
        return tokens_to_words(self._runs, config.labels, config.unit, config.frame_shift, self.utterance_start)

    def _endpoint_reason(self) -> str | None:
        if self.endpoint is None:
            return None
        length = self._samples / self.sample_rate
        if self.silence == "energy":
            trailing = self._energy.trailing_silence(self.sample_rate)
            return self.endpoint.detect(length, trailing, self._energy.has_speech)
        runs = self._runs
        shift = self.config.frame_shift
        decoded = self._decoded_steps * shift
        trailing = decoded - (runs[-1][2] + 1) * shift if runs else decoded
        return self.endpoint.detect(length, trailing, bool(runs))

    def _finish_utterance(self, reason: str) -> StreamEvent | None:
        """Flush the current utterance, return its final event (None for dropped silence) and start the next."""
        if self._samples == 0:
            return None
        self._advance(self._features.finalize(), final=True)
        start, end = self.utterance_start, self.time
        duration = end - start
        if self.is_ctc:
            log_probs = self._rerun_log_probs if self.rerun else torch.cat(self._outputs)
            text, words = decode_ctc(
                log_probs.cpu(), self.config.labels, self.config.unit, self.config.frame_shift, self.decoding
            )
            words = tuple(WordTiming(w.word, w.start + start, w.end + start) for w in words)
            result = Transcription(text=text, words=words, duration=duration)
        else:
            result = classification_result(self._classify(), self.config.labels, duration)
        if self.adapt_speaker and self._raw_frames and reason != "rule1":  # rule1: silence only
            self._speaker.add(torch.cat(self._raw_frames))
        self._stream_samples += self._samples
        self._reset_utterance()
        if reason == "rule1":  # silence before any speech: dropped
            return None
        return StreamEvent("final", result.text, start, end, result.words, result.label, result.score, reason, result)

    def _classify(self) -> torch.Tensor:
        if self.rerun:
            logits, _ = self._encode_buffered()
            return logits[0]
        encoded = torch.cat(self._outputs)[None]
        return self.model.output(encoded, torch.tensor([encoded.size(1)], device=encoded.device))[0]

    @torch.inference_mode()
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


def format_event(event: StreamEvent, prefix: str = "") -> str:
    """One text line for an event: `partial: ...`, `[start-end] text` or `[start-end] detected label (score)`."""
    if event.kind == "partial":
        return f"{prefix}partial: {event.text}"
    if event.kind == "detection":
        return f"{prefix}[{event.start:.2f}-{event.end:.2f}] detected {event.label} ({event.score:.2f})"
    return f"{prefix}[{event.start:.2f}-{event.end:.2f}] {event.text}"
