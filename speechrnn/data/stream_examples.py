"""Training examples for a stream spotter, made from isolated clips.

A spotter scores the last second of a stream every hop, so its windows hold what isolated
clips never do: the end of the previous word before the keyword, and a keyword only partly
spoken (the window ends mid-word). ``StreamExamples`` turns a dataset item into such a window:

- with ``context_prob``, the clip is preceded by the last ``context_s`` seconds of another
  (augmented) training clip, so the encoder's state carries earlier speech into the keyword;
  the label stays the clip's (a model with ``model.pool_window`` pools the last window only);
- with ``cut_prob``, a keyword clip is cut at ``cut_fraction`` of its speech (found by energy)
  and labelled ``cut_label`` (``_unknown_``): half a word is not yet the command;
- with ``window_s``, the result is cropped to the window a sliding-window spotter scores: it
  ends anywhere from the end of the clip's word to where the word would leave the window, so
  the end of the context (or silence) comes before the word (a cut clip keeps its cut end).
"""

from __future__ import annotations

import numpy as np

from speechrnn.augment import AugmentConfig
from speechrnn.detect import FILLER_LABELS
from speechrnn.errors import ConfigError
from speechrnn.vocab import Vocabulary

SPEECH_RANGE_DB = 30.0  # frames within this of the clip's loudest 10 ms frame are its speech


def speech_span(audio: np.ndarray, sample_rate: int, range_db: float = SPEECH_RANGE_DB) -> tuple[int, int]:
    """(first, end) sample indices of the speech in a clip (samples,): the 10 ms frames within
    ``range_db`` of the loudest one; (0, len) for a clip shorter than a frame."""
    frame = sample_rate // 100
    count = audio.size // frame
    if count == 0:
        return 0, audio.size
    energy = (audio[: count * frame].reshape(count, frame).astype(np.float64) ** 2).mean(axis=1)
    level = 10 * np.log10(energy + 1e-10)
    loud = np.flatnonzero(level >= level.max() - range_db)
    return int(loud[0]) * frame, (int(loud[-1]) + 1) * frame


class StreamExamples:
    """``(audio, targets, rng, other) -> (audio, targets)`` for ``data.dataset.ManifestDataset``.

    ``other(rng) -> (samples,)`` gives another augmented training clip (the context).
    """

    def __init__(self, config: AugmentConfig, vocabulary: Vocabulary, sample_rate: int) -> None:
        if vocabulary.head != "classify":
            raise ConfigError("augment.context_prob / cut_prob make spotter windows: they need a classify head")
        if config.cut_prob and config.cut_label not in vocabulary:
            raise ConfigError(f"augment.cut_label {config.cut_label!r} is not one of the model's labels")
        if config.window_s < 0:
            raise ConfigError(f"augment.window_s must be >= 0, got {config.window_s}")
        self.config, self.sample_rate = config, sample_rate
        self.keywords = {vocabulary.id(label) for label in vocabulary.labels if label not in FILLER_LABELS}
        self.cut_target = [vocabulary.id(config.cut_label)] if config.cut_prob else None

    def __call__(self, audio: np.ndarray, targets: list[int], rng: np.random.Generator, other) -> tuple:
        c, rate = self.config, self.sample_rate
        cut = c.cut_prob and targets[0] in self.keywords and rng.random() < c.cut_prob
        first, end = speech_span(audio, rate) if cut or c.window_s else (0, audio.size)
        if cut:
            end = first + int(rng.uniform(*c.cut_fraction) * (end - first))
            audio, targets = audio[:end], self.cut_target
        if c.context_prob and rng.random() < c.context_prob:
            context = other(rng)[-max(1, int(rng.uniform(*c.context_s) * rate)) :]
            audio = np.concatenate([context, audio]).astype(np.float32)
            first, end = first + context.size, end + context.size
        if c.window_s:
            width = int(round(c.window_s * rate))
            latest = min(audio.size, first + width)  # the window still holds the word's start
            stop = audio.size if cut or latest <= end else int(rng.integers(end, latest + 1))
            audio = audio[max(0, stop - width) : stop]
            if audio.size < width:  # the stream before the clip: silence
                audio = np.concatenate([np.zeros(width - audio.size, dtype=np.float32), audio])
        return audio, targets
