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

from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from speechrnn.decode import StreamEvent
from speechrnn.errors import ConfigError, ModelError

FILLER_LABELS = ("_unknown_", "_silence_", "_noise_", "_background_noise_")


@dataclass(frozen=True)
class KeywordConfig:
    """Sliding-window detector settings (seconds, probabilities)."""

    window: float = 1.0
    hop: float = 0.1
    smoothing: int = 3
    threshold: float = 0.6
    refractory: float = 1.0
    fillers: tuple[str, ...] = FILLER_LABELS
    thresholds: tuple[tuple[str, float], ...] = ()  # per-label overrides of ``threshold``: (("stop", 0.8), ...)

    def __post_init__(self) -> None:
        if self.window <= 0 or self.hop <= 0 or self.hop > self.window:
            raise ConfigError(f"keyword window/hop must satisfy 0 < hop <= window, got {self.window}/{self.hop}")
        if self.smoothing < 1:
            raise ConfigError(f"keyword smoothing must be >= 1 window, got {self.smoothing}")
        for label, value in (("", self.threshold), *self.thresholds):
            if not 0 < value <= 1:
                name = f"keyword threshold for {label!r}" if label else "keyword threshold"
                raise ConfigError(f"{name} must be in (0, 1], got {value}")

    def threshold_of(self, label: str) -> float:
        """The threshold of one label: its override, else ``threshold``."""
        return dict(self.thresholds).get(label, self.threshold)


@dataclass(frozen=True)
class KeywordEvent:
    """A detection: ``start``/``end`` bracket the word, ``time`` is when it was decided (seconds)."""

    label: str
    start: float
    end: float
    score: float
    time: float = 0.0


class PosteriorDetector:
    """Smoothing, thresholds and refractory period over a sequence of window posteriors.

    ``push(end, posterior)`` takes the class posteriors (classes,) of the window that ends at
    ``end`` seconds and returns a ``KeywordEvent`` or None. It holds no audio, so the same
    decisions can be replayed from stored posteriors (a threshold sweep scores the model once).
    """

    def __init__(self, labels, config: KeywordConfig) -> None:
        self.labels = list(labels)
        self.config = config
        self.keyword_index = [i for i, label in enumerate(self.labels) if label not in config.fillers]
        if not self.keyword_index:
            raise ModelError("the classifier has only filler classes: nothing to detect")
        self._thresholds = np.array([config.threshold_of(self.labels[i]) for i in self.keyword_index])
        self.reset()

    def reset(self) -> None:
        self._posteriors: deque[tuple[float, np.ndarray]] = deque(maxlen=self.config.smoothing)
        self._last_detection = -float("inf")  # seconds

    def push(self, end: float, posterior) -> KeywordEvent | None:
        """Add the posteriors (classes,) of the window ending at ``end`` s; an event when one fires."""
        self._posteriors.append((end, np.asarray(posterior, dtype=np.float32)))
        if end - self._last_detection < self.config.refractory:
            return None
        smoothed = np.mean([p for _, p in self._posteriors], axis=0)[self.keyword_index]
        margin = smoothed - self._thresholds
        best = int(margin.argmax())
        if margin[best] < 0:
            return None
        self._last_detection = end
        index = self.keyword_index[best]
        threshold = self._thresholds[best]
        above = [t for t, p in self._posteriors if p[index] >= threshold] or [end]
        start = max(0.0, min(above) - self.config.window)
        return KeywordEvent(self.labels[index], start, max(above), float(smoothed[best]), end)


def replay(posteriors, labels, config: KeywordConfig, hop: float | None = None) -> list[KeywordEvent]:
    """Detections from stored posteriors (windows, classes) whose window ``k`` ends at ``(k + 1) * hop`` s."""
    hop = config.hop if hop is None else hop
    detector = PosteriorDetector(labels, config)
    events = []
    for k, posterior in enumerate(np.asarray(posteriors, dtype=np.float32)):
        event = detector.push((k + 1) * hop, posterior)
        if event is not None:
            events.append(event)
    return events


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
