"""Results and decoding without torch: the same shapes as ``speechrnn.decode`` / ``speechrnn.stream``.

``Transcription``, ``WordTiming`` and ``StreamEvent`` have the fields (and ``StreamEvent.to_dict``
and ``result_to_dict`` the JSON) of their torch-side namesakes, so both paths print the same.
CTC decoding is greedy; a classifier's result is its best label and softmax score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcription:
    """``text`` always; ``words`` for CTC models; ``label``/``score``/``scores`` for classifiers."""

    text: str
    words: tuple[WordTiming, ...] = ()
    label: str | None = None
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0


@dataclass(frozen=True)
class StreamEvent:
    """A ``partial`` or ``final`` text, or a keyword ``detection``; times in seconds from the stream start."""

    kind: str
    text: str
    start: float
    end: float
    words: tuple[WordTiming, ...] = ()
    label: str | None = None
    score: float | None = None
    reason: str | None = None
    result: Transcription | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict:
        out = {"type": self.kind, "text": self.text, "start": round(self.start, 3), "end": round(self.end, 3)}
        if self.kind == "final":
            out["words"] = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in self.words]
            out["reason"] = self.reason
        if self.label is not None:
            out["label"] = self.label
        if self.score is not None:
            out["score"] = round(self.score, 4)
        return out


def collapse_runs(best) -> list[tuple[int, int, int]]:
    """Best token id per step -> (token, first_step, last_step) runs, repeats merged, blanks (0) dropped."""
    runs: list[tuple[int, int, int]] = []
    previous = 0
    for step, token in enumerate(best):
        if token != 0:
            if token == previous:
                runs[-1] = (token, runs[-1][1], step)
            else:
                runs.append((token, step, step))
        previous = token
    return runs


def tokens_to_words(runs, labels: list[str], unit: str, frame_shift: float, offset: float = 0.0) -> list[WordTiming]:
    """(token, first_step, last_step) runs -> words with times; char units split words at " "."""
    if unit == "word":
        return [
            WordTiming(labels[t - 1], offset + first * frame_shift, offset + (last + 1) * frame_shift)
            for t, first, last in runs
        ]
    words: list[WordTiming] = []
    chars, start, end = [], 0, 0
    for token, first, last in runs + [(None, 0, 0)]:
        char = labels[token - 1] if token is not None else " "
        if char == " ":
            if chars:
                words.append(WordTiming("".join(chars), offset + start * frame_shift, offset + (end + 1) * frame_shift))
            chars = []
            continue
        if not chars:
            start = first
        chars.append(char)
        end = last
    return words


def words_to_text(words) -> str:
    return " ".join(w.word for w in words)


def greedy_ctc(log_probs: np.ndarray, labels: list[str], unit: str, frame_shift: float) -> tuple[str, list]:
    """(steps, vocab) CTC log-probs -> (text, words), the best path with repeats and blanks removed."""
    words = tokens_to_words(collapse_runs(log_probs.argmax(axis=-1).tolist()), labels, unit, frame_shift)
    return words_to_text(words), words


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max())
    return (z / z.sum()).astype(np.float32)


def classification_result(logits: np.ndarray, labels: list[str], duration: float = 0.0) -> Transcription:
    """(classes,) logits -> a Transcription whose text is the best label."""
    probs = softmax(logits)
    best = int(probs.argmax())
    return Transcription(
        text=labels[best],
        label=labels[best],
        score=float(probs[best]),
        scores={label: float(p) for label, p in zip(labels, probs)},
        duration=duration,
    )


def result_to_dict(result: Transcription, audio_path: str | os.PathLike) -> dict:
    """The JSON object of ``speechrnn transcribe --format json`` for one file."""
    entry: dict = {"path": str(audio_path), "text": result.text, "duration": round(result.duration, 4)}
    if result.label is not None:
        entry.update(label=result.label, score=result.score, scores=dict(result.scores))
    else:
        entry["words"] = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in result.words]
    return entry
