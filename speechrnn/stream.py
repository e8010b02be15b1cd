"""Streaming recognition with the torch model: ``StreamingRecognizer`` (``speechrnn transcribe --stream``).

The logic and per-stream state are ``recognizer.RecognizerCore``'s (shared with the torch-free
runtime); this class computes with a ``SpeechRNN``: ``StreamingLogMel`` frames, a
``stream_features.EncoderStream``, the model's own head, full CTC decoding (``DecodingOptions``)
of finals, and speaker normalisation (an enrolled speaker, or one learnt while listening). Either
way the final result equals ``model.transcribe`` on the whole utterance (a speech-embedding
classifier's finals after the first utterance of a stream: see ``RecognizerCore``).
"""

from __future__ import annotations

import numpy as np
import torch

from speechrnn.decode import (
    DecodingOptions,
    StreamEvent,
    Transcription,
    classification_result,
    decode_ctc,
    decoding_options,
)
from speechrnn.endpoint import EndpointConfig
from speechrnn.recognizer import RecognizerCore
from speechrnn.stream_features import EncoderStream, StreamingLogMel


class StreamingRecognizer(RecognizerCore):
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
    the speaker's adapted statistics too (``finish`` and ``discard`` keep them for the next stream).
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
        self.config = config = model.config
        self.decoding = decoding_options(decoding)
        rerun = not config.streams_by_step
        spotter, shared = None, False
        if config.head != "ctc":
            from speechrnn.kws import KeywordSpotter  # noqa: PLC0415 - classifiers only

            spotter = KeywordSpotter(model, keywords, vad=vad, keep_inputs=self._speaker is None)
            shared = spotter.keep_inputs  # an input stream (speech embedding) serves the finals too
            rerun = rerun and not shared
        self._normalization = None  # (2, n_mels) speaker (mean, std) for this utterance, or the global pair
        self._setup(
            sample_rate=config.sample_rate, hop_length=config.hop_length, frame_shift=config.frame_shift,
            labels=config.labels, unit=config.unit, is_ctc=config.head == "ctc", rerun=rerun, endpoint=endpoint,
            partial_interval=partial_interval, features=StreamingLogMel(model.frontend),
            encoder=None if rerun or shared else EncoderStream(model), spotter=spotter, keep_frames=adapt_speaker,
        )  # fmt: skip

    def reset(self) -> None:
        """Forget all audio, and what was learnt about the speaker; start a new stream at time 0."""
        if self._speaker is not None:
            self._speaker.reset()
        super().reset()

    @torch.inference_mode()
    def accept_waveform(self, samples, sample_rate: int | None = None) -> list[StreamEvent]:
        return super().accept_waveform(samples, sample_rate)

    accept_waveform.__doc__ = RecognizerCore.accept_waveform.__doc__

    @torch.inference_mode()
    def finish(self) -> list[StreamEvent]:
        return super().finish()

    finish.__doc__ = RecognizerCore.finish.__doc__

    # ------------------------------------------------------------------ compute
    def _frames(self, samples: np.ndarray, final: bool = False) -> torch.Tensor:
        frames = self._features.accept(torch.from_numpy(np.ascontiguousarray(samples)))
        return torch.cat([frames, self._features.finalize()]) if final else frames

    def _step_log_probs(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.model.output(outputs[None], None)[0]

    def _concatenate(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(parts)

    def _rerun_outputs(self, frames: torch.Tensor) -> torch.Tensor:
        feats = frames[None]
        lengths = torch.tensor([feats.size(1)], device=feats.device)
        stats = None if self._normalization is None else self._normalization[None]
        outputs, steps = self.model.encode(self.model.normalizer(feats, lengths, stats), lengths)
        return outputs[0] if not self.is_ctc else outputs[0, : steps[0]].float()

    def _pool(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.model.output(outputs[None], torch.tensor([outputs.size(0)], device=outputs.device))[0]

    def _classify_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        steps = torch.tensor([inputs.size(0)], device=inputs.device)
        return self.model.output(self.model.encoder(inputs[None], steps), steps)[0]

    def _decode(self, log_probs: torch.Tensor):
        return decode_ctc(log_probs.cpu(), self.labels, self.unit, self.frame_shift, self.decoding)

    def _classification(self, logits: torch.Tensor, duration: float) -> Transcription:
        return classification_result(logits, self.labels, duration)

    def _begin_utterance(self) -> None:
        """Normalise the new utterance as the speaker heard so far (enrolled or adapted)."""
        if self._speaker is not None:
            self._normalization = self.model.normalizer.adapted(self._speaker.statistics())
        if self._encoder is not None:
            self._encoder.inputs.subsampler.normalization = self._normalization

    def _end_utterance(self) -> None:
        """Adaptation: the finished utterance's speech frames join the speaker's statistics."""
        if self.adapt_speaker and self._raw_frames:
            self._speaker.add(torch.cat(self._raw_frames))


def format_event(event: StreamEvent, prefix: str = "") -> str:
    """One text line for an event: `partial: ...`, `[start-end] text` or `[start-end] detected label (score)`."""
    if event.kind == "partial":
        return f"{prefix}partial: {event.text}"
    if event.kind == "detection":
        return f"{prefix}[{event.start:.2f}-{event.end:.2f}] detected {event.label} ({event.score:.2f})"
    return f"{prefix}[{event.start:.2f}-{event.end:.2f}] {event.text}"
