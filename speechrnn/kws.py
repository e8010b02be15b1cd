"""Keyword / command detection over a stream with a classifier.

Two ways to score "the last ``window`` seconds" every hop:

- **sliding window** (any classifier): every ``hop`` seconds the model runs on the last
  ``window`` seconds of audio, so a 1 s window at a 0.1 s hop encodes each second ten times;
- **encoder stream** (a chunked or unidirectional model trained with ``model.pool_window``,
  e.g. by ``data.stream_examples``): the encoder runs once over the stream with its state
  carried (``stream_features.EncoderStream``) and the head pools its last ``pool_window``
  outputs each time a chunk is encoded (every ``chunk_size`` steps); the work per second of
  audio is one encoder pass;
- **input stream** (a speech-embedding model whose encoder cannot stream, e.g. the bundled
  commands model): the front end and the embedding, causal and most of the work, run once over
  the stream (``stream_features.InputStream``); every hop (a whole number of 80 ms steps: 0.24 s
  for the default 0.2) the encoder and head run over the last ``window`` of those steps (13 for
  1 s). A window's first steps then see the audio before it instead of the floor a clip starts
  with; on the real-stream benchmark it misses about a point more than a sliding window at 2 false
  alarms per hour and decides about 100 ms later, for half the compute (README).

The class posteriors of the last ``smoothing`` windows are averaged (``PosteriorDetector``); when
a keyword (any class that is not a filler such as ``_unknown_`` or ``_silence_``) reaches its
threshold (``threshold``, or a per-label one from ``thresholds``) and no detection happened in
the last ``refractory`` seconds, an event ``(label, start, end, score)`` is emitted. ``start``/``end``
are the span of the smoothed windows that were above the threshold (seconds from the stream
start), so they bracket the keyword rather than time it exactly.
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
    SlidingWindow,
    StepWindows,
    replay,
    stream_hop_steps,
    window_steps,
)
from speechrnn.errors import ConfigError, ModelError


def streams_encoder(model) -> bool:
    """Whether ``KeywordSpotter`` runs ``model`` as an encoder stream: a windowed head (``pool_window``)
    over an encoder that streams step by step (``ModelConfig.streams_by_step``)."""
    return bool(model.config.pool_window) and model.config.streams_by_step


def streams_inputs(model) -> bool:
    """Whether ``KeywordSpotter`` computes ``model``'s encoder inputs once per stream and re-runs only
    its encoder over each window: a speech-embedding front end (``subsampling="embedding"``, causal,
    most of the work) under an encoder that does not stream with a windowed head."""
    return model.config.subsampling == "embedding" and not streams_encoder(model)


class KeywordSpotter:
    """Stateful detector; ``accept(samples)`` takes model-rate float32 audio and returns ``StreamEvent``s.

    ``hop`` (seconds) is how often a window is scored: ``config.hop`` for a sliding window; for an
    encoder stream, the first multiple of the model's chunk that reaches ``config.hop``. An input
    stream's window is ``window_width`` encoder steps, re-encoded every ``hop_steps``.
    """

    def __init__(
        self,
        model,
        config: KeywordConfig | None = None,
        scorer=None,
        vad=None,
        encoder_stream: bool = True,
        keep_inputs: bool = False,
    ) -> None:
        """``scorer(window (samples,) float32) -> (classes,) probabilities`` replaces the model's forward
        (for other detectors over the same labels); by default the model scores each window.
        ``vad``: a ``vad.SileroVAD`` (16 kHz models): a window without a speech frame counts as
        silence (no detection; a sliding window then runs no model).
        ``encoder_stream=False`` slides the window even over a model that could stream (to compare).
        ``keep_inputs``: an input stream also keeps the encoder inputs it computes until ``take_inputs``
        (a recogniser classifies its utterances from them instead of computing them again)."""
        if model.config.head != "classify":
            raise ModelError("keyword detection needs a classification model (head 'classify')")
        self.model = model.eval()
        self.scorer = scorer
        self.vad = vad
        self.config = config or KeywordConfig()
        rate = model.config.sample_rate
        self.sample_rate = rate
        self.encoder_stream = None
        self.input_stream = None
        if encoder_stream and scorer is None and streams_encoder(model):
            from speechrnn.stream_features import EncoderStream  # noqa: PLC0415

            self.encoder_stream = EncoderStream(model)
            step = model.config.frame_shift
            self.hop_steps = stream_hop_steps(self.config.hop, model.encoder.chunk_size, step)
            self.hop = self.hop_steps * step
            self._steps = StepWindows(model.config.pool_window, self.hop_steps, torch.cat)
        elif encoder_stream and scorer is None and streams_inputs(model):
            from speechrnn.stream_features import InputStream  # noqa: PLC0415

            self.input_stream = InputStream(model)
            step = model.config.frame_shift
            self.hop_steps = stream_hop_steps(self.config.hop, 1, step)
            self.hop = self.hop_steps * step
            mc = model.config
            self.window_width = window_steps(self.config.window, mc.sample_rate, mc.hop_length, mc.frames_per_step)
            self._steps = StepWindows(self.window_width, self.hop_steps, torch.cat)
        else:
            self.hop = self.config.hop
            self._sliding = SlidingWindow(int(round(self.config.window * rate)), int(round(self.config.hop * rate)))
        self.detector = PosteriorDetector(model.config.labels, self.config)
        labels = model.config.labels
        self._silence = torch.zeros(len(labels))  # the posterior of a window the VAD closed
        if "_silence_" in labels:
            self._silence[labels.index("_silence_")] = 1.0
        if vad is not None and rate != 16000:
            raise ConfigError(f"the VAD gate needs a 16 kHz model, this one runs at {rate} Hz")
        self.keyword_index = self.detector.keyword_index
        self.keep_inputs = keep_inputs and self.input_stream is not None
        self.reset()

    @property
    def streams(self) -> bool:
        """Whether each piece of audio is computed once (an encoder or input stream), not re-run in windows."""
        return self.encoder_stream is not None or self.input_stream is not None

    def reset(self) -> None:
        self.last_posterior: torch.Tensor | None = None  # (classes,) of the last scored window
        self._kept: list[torch.Tensor] = []  # encoder inputs (steps, D) not yet taken (keep_inputs)
        if self.streams:
            (self.encoder_stream or self.input_stream).reset()
            self._steps.reset()
        else:
            self._sliding.reset()
        self.detector.reset()
        if self.vad is not None:
            self.vad.reset()

    def accept(self, samples: np.ndarray) -> list:
        """Model-rate (n,) float32 samples -> list of ``decode.StreamEvent`` detections."""
        events = []
        for end, posterior in self.windows(samples):
            event = self.detector.push(end, posterior.numpy())
            if event is not None:
                events.append(
                    StreamEvent("detection", event.label, event.start, event.end, (), event.label, event.score)
                )
        return events

    @torch.inference_mode()
    def windows(self, samples: np.ndarray) -> list[tuple[float, torch.Tensor]]:
        """Model-rate (n,) float32 samples -> ``(end seconds, (classes,) posteriors)`` of each window
        scored now (what ``accept`` passes to its ``PosteriorDetector``)."""
        if self.streams:
            return self._stream_windows(samples)
        scored = []
        heard = 0  # samples the VAD has heard
        for upto, end, window in self._sliding.push(samples):
            if self.vad is not None:
                self.vad.accept(samples[heard:upto])
                heard = upto
            if self.vad is not None and not self.vad.speech(self.config.window):
                self.last_posterior = self._silence
            else:
                self.last_posterior = self._score_window(window)
            scored.append((end / self.sample_rate, self.last_posterior))
        if self.vad is not None and heard < samples.size:
            self.vad.accept(samples[heard:])
        return scored

    def _score_window(self, window: np.ndarray) -> torch.Tensor:
        if self.scorer is not None:
            return torch.as_tensor(self.scorer(window.copy()), dtype=torch.float32)
        audio = torch.from_numpy(window).to(self.model.device)[None]
        logits, _ = self.model(audio)
        return logits[0].float().softmax(dim=-1).cpu()

    def _stream_windows(self, samples: np.ndarray) -> list[tuple[float, torch.Tensor]]:
        """Encoder stream: encode the new audio once; score the last ``pool_window`` outputs every hop.
        Input stream: compute the new encoder inputs once; encode and score the last ``window`` of them."""
        if self.vad is not None:
            self.vad.accept(samples)
        stream = self.encoder_stream or self.input_stream
        out = stream.accept(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))
        if self.keep_inputs:
            self._kept.append(out)
        scored = []
        for end, window in self._steps.push(out):
            if self.vad is not None and not self.vad.speech(self.config.window):
                self.last_posterior = self._silence
            else:
                lengths = torch.tensor([window.size(0)], device=window.device)
                if self.input_stream is not None:  # the window's encoder inputs: run the encoder over them
                    window = self.model.encoder(window[None], lengths)[0]
                self.last_posterior = self.model.output(window[None], lengths)[0].float().softmax(dim=-1).cpu()
            scored.append((end * self.model.config.frame_shift, self.last_posterior))
        return scored

    def take_inputs(self, final: bool = False) -> torch.Tensor:
        """The encoder inputs (steps, D) computed since the last call (``keep_inputs``); ``final`` ends
        the stream first, adding its last partial step padded as offline (then ``reset`` is due)."""
        if final:
            stream = self.input_stream
            self._kept += [stream.accept_frames(stream.features.finalize()), stream.finalize()]
        kept, self._kept = self._kept, []
        if len(kept) == 1:  # a 100 ms piece: no copy
            return kept[0]
        return torch.cat(kept) if kept else torch.zeros(0, self.model.subsampling.output_dim, device=self.model.device)


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
