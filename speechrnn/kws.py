"""Keyword / command detection with a classifier over a sliding window of a stream.

Every ``hop`` seconds the classifier scores the last ``window`` seconds of audio; the
class posteriors of the last ``smoothing`` windows are averaged (``PosteriorDetector``); when
a keyword (any class that is not a filler such as ``_unknown_`` or ``_silence_``) reaches its
threshold (``threshold``, or a per-label one from ``thresholds``) and no detection happened in
the last ``refractory`` seconds, an event
``(label, start, end, score)`` is emitted. ``start``/``end`` are the span of the
smoothed windows that were above the threshold (seconds from the stream start), so
they bracket the keyword rather than time it exactly.
"""

from __future__ import annotations

import numpy as np
import torch

from speechrnn.decode import StreamEvent
from speechrnn.detect import (  # noqa: F401 - re-exported: the spotter's settings and decisions
    FILLER_LABELS,
    KeywordConfig,
    KeywordEvent,
    PosteriorDetector,
    replay,
)
from speechrnn.errors import ConfigError, ModelError


class KeywordSpotter:
    """Stateful detector; ``accept(samples)`` takes model-rate float32 audio and returns ``StreamEvent``s."""

    def __init__(self, model, config: KeywordConfig | None = None, scorer=None, vad=None) -> None:
        """``scorer(window (samples,) float32) -> (classes,) probabilities`` replaces the model's forward
        (for other detectors over the same labels); by default the model scores each window.
        ``vad``: a ``vad.SileroVAD`` (16 kHz models): a window without a speech frame is not scored
        and counts as silence (no detection, and no model run)."""
        if model.config.head != "classify":
            raise ModelError("keyword detection needs a classification model (head 'classify')")
        self.model = model.eval()
        self.scorer = scorer
        self.vad = vad
        self.config = config or KeywordConfig()
        rate = model.config.sample_rate
        self.sample_rate = rate
        self.window = int(round(self.config.window * rate))
        self.hop = int(round(self.config.hop * rate))
        self.detector = PosteriorDetector(model.config.labels, self.config)
        labels = model.config.labels
        self._silence = torch.zeros(len(labels))  # the posterior of a window the VAD closed
        if "_silence_" in labels:
            self._silence[labels.index("_silence_")] = 1.0
        if vad is not None and rate != 16000:
            raise ConfigError(f"the VAD gate needs a 16 kHz model, this one runs at {rate} Hz")
        self.keyword_index = self.detector.keyword_index
        self.reset()

    def reset(self) -> None:
        self._audio = np.zeros(self.window, dtype=np.float32)  # the last `window` samples (zeros = silence)
        self._samples = 0  # samples seen in the stream
        self._since_hop = 0
        self.last_posterior: torch.Tensor | None = None  # (classes,) of the last scored window
        self.detector.reset()
        if self.vad is not None:
            self.vad.reset()

    @torch.inference_mode()
    def _score_window(self) -> torch.Tensor:
        if self.scorer is not None:
            return torch.as_tensor(self.scorer(self._audio.copy()), dtype=torch.float32)
        audio = torch.from_numpy(self._audio).to(self.model.device)[None]
        logits, _ = self.model(audio)
        return logits[0].float().softmax(dim=-1).cpu()

    def accept(self, samples: np.ndarray) -> list:
        """Model-rate (n,) float32 samples -> list of ``decode.StreamEvent`` detections."""

        events = []
        begin = 0
        while begin < samples.size:
            take = min(self.hop - self._since_hop, samples.size - begin)
            if self.vad is not None:
                self.vad.accept(samples[begin : begin + take])
            self._audio = np.concatenate([self._audio[take:], samples[begin : begin + take]])
            self._since_hop += take
            self._samples += take
            begin += take
            if self._since_hop < self.hop:
                continue
            self._since_hop = 0
            end = self._samples / self.sample_rate
            if self.vad is not None and not self.vad.speech(self.config.window):
                self.last_posterior = self._silence
            else:
                self.last_posterior = self._score_window()
            event = self.detector.push(end, self.last_posterior.numpy())
            if event is not None:
                events.append(
                    StreamEvent("detection", event.label, event.start, event.end, (), event.label, event.score)
                )
        return events


def score_detections(
    events, truth: list[tuple[str, float, float]], duration: float, tolerance: float = 0.5
) -> dict[str, float]:
    """Match detections to true keyword occurrences ``(label, start, end)`` in a stream of ``duration`` s.

    A detection is a hit when its label equals a not-yet-matched occurrence's and its span
    overlaps the occurrence widened by ``tolerance`` seconds; other detections are false alarms.
    Returns counts and rates: misses (fraction of occurrences), false alarms per hour.
    """
    matched = [False] * len(truth)
    false_alarms = 0
    for event in events:
        label = getattr(event, "label", None)
        for i, (true_label, start, end) in enumerate(truth):
            if (
                not matched[i]
                and label == true_label
                and event.start <= end + tolerance
                and event.end >= start - tolerance
            ):
                matched[i] = True
                break
        else:
            false_alarms += 1
    misses = matched.count(False)
    hours = duration / 3600
    return {
        "keywords": len(truth),
        "detections": len(events),
        "misses": misses,
        "miss_rate": misses / len(truth) if truth else 0.0,
        "false_alarms": false_alarms,
        "false_alarms_per_hour": false_alarms / hours if hours else 0.0,
    }
