"""Keyword decisions from window posteriors, without audio or torch: smoothing, per-label thresholds,
refractory period and the event span (``PosteriorDetector``, ``replay``). Shared by ``speechrnn.kws``
(the torch spotter, benchmarks) and ``speechrnn.runtime``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from speechrnn.errors import ConfigError, ModelError

FILLER_LABELS = ("_unknown_", "_silence_", "_noise_", "_background_noise_")


@dataclass(frozen=True)
class KeywordConfig:
    """Sliding-window detector settings (seconds, probabilities)."""

    window: float = 1.0
    # a window every 0.2 s (0.24 s for a speech-embedding model: three 80 ms steps), the last two
    # averaged, threshold 0.85: on the real stream (README, python scripts/kws_eval.py --hours 1) the
    # bundled commands model misses 15.5 % of unseen speakers' commands at 2 false alarms per hour of
    # other speech (10.9 % at 9 with threshold 0.8)
    hop: float = 0.2
    smoothing: int = 2
    threshold: float = 0.85
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
        keywords = [self.labels[i] for i in self.keyword_index]
        for label, _ in config.thresholds:
            if label not in keywords:
                known = ", ".join(keywords)
                raise ConfigError(f"keyword threshold for {label!r}: not one of the model's keywords ({known})")
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


def keyword_config(threshold: float | None = None, label_thresholds=(), **settings) -> KeywordConfig:
    """A ``KeywordConfig`` from command-line values: ``threshold`` (None: the default) and
    ``label_thresholds`` as ``"LABEL=P"`` strings (``--label-threshold stop=0.9``).

    Raises:
        ConfigError: a value that is not ``LABEL=P`` with P a number, or out of (0, 1].
    """
    overrides = []
    for text in label_thresholds:
        label, sep, value = text.partition("=")
        try:
            overrides.append((label.strip(), float(value)))
        except ValueError:
            sep = ""
        if not sep or not label.strip():
            raise ConfigError(f"keyword threshold {text!r}: expected LABEL=P, e.g. stop=0.9")
    if threshold is not None:
        settings["threshold"] = threshold
    return KeywordConfig(**settings, thresholds=tuple(overrides))


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


class StepWindows:
    """The windows of an encoder-stream spotter: encoder outputs arrive in pieces; a window ends
    every ``hop`` steps and holds the last ``width`` steps before its end (fewer at the start).

    ``concatenate`` joins pieces (``np.concatenate`` or ``torch.cat``), so the torch spotter and
    the torch-free runtime cut the same windows. Memory: ``width`` steps plus those not yet scored.
    """

    def __init__(self, width: int, hop: int, concatenate) -> None:
        if width < 1 or hop < 1:
            raise ConfigError(f"window width and hop must be >= 1 step, got {width}/{hop}")
        self.width, self.hop, self.concatenate = width, hop, concatenate
        self.reset()

    def reset(self) -> None:
        self.recent = None  # (<= width + unscored, dim) the newest outputs
        self.total = 0  # outputs pushed since the reset
        self._scored = 0  # the end (in steps) of the last window handed out

    def push(self, outputs) -> list:
        """(steps, dim) new outputs -> ``[(end step, (<= width, dim) window), ...]`` for every window
        that ends within them."""
        if len(outputs) == 0:
            return []
        self.recent = outputs if self.recent is None else self.concatenate([self.recent, outputs])
        self.total += len(outputs)
        windows = []
        while self._scored + self.hop <= self.total:
            self._scored += self.hop
            upto = len(self.recent) - (self.total - self._scored)
            windows.append((self._scored, self.recent[max(0, upto - self.width) : upto]))
        self.recent = self.recent[-(self.width + self.total - self._scored) :]
        return windows


def stream_hop_steps(hop: float, chunk_size: int, frame_shift: float) -> int:
    """An encoder-stream spotter's hop in encoder steps: the first multiple of the steps the encoder
    emits at once (``chunk_size``, or 1 for a unidirectional model) that reaches ``hop`` seconds."""
    unit = chunk_size or 1
    return unit * max(1, math.ceil(hop / (unit * frame_shift) - 1e-6))


def window_steps(window: float, sample_rate: int, hop_length: int, frames_per_step: int) -> int:
    """Encoder steps of a ``window``-second clip, as training saw it (13 for 1 s of 80 ms embedding steps)."""
    frames = 1 + int(round(window * sample_rate)) // hop_length
    return -(-frames // frames_per_step)


class SlidingWindow:
    """The windows of a sliding-window spotter: the last ``width`` samples (zeros before the stream
    starts) every ``hop`` samples. ``push(samples)`` -> ``[(upto, end, window), ...]``: ``upto`` is how
    many of the pushed samples the window includes (what a VAD must have heard by then), ``end`` the
    stream's samples up to the window's end, ``window`` a (width,) float32 array of its own. Shared
    by the torch spotter and the runtime's.
    """

    def __init__(self, width: int, hop: int) -> None:
        if width < 1 or hop < 1:
            raise ConfigError(f"window width and hop must be >= 1 sample, got {width}/{hop}")
        self.width, self.hop = width, hop
        self.reset()

    def reset(self) -> None:
        self.audio = np.zeros(self.width, dtype=np.float32)  # the last `width` samples
        self.samples = 0  # samples pushed since the reset
        self._since_hop = 0

    def push(self, samples: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
        windows = []
        begin = 0
        while begin < samples.size:
            take = min(self.hop - self._since_hop, samples.size - begin)
            self.audio = np.concatenate([self.audio[take:], samples[begin : begin + take]])
            self._since_hop += take
            self.samples += take
            begin += take
            if self._since_hop == self.hop:
                self._since_hop = 0
                windows.append((begin, self.samples, self.audio))
        return windows
