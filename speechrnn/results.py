"""What recognition returns: ``Transcription``, ``WordTiming`` and streaming ``StreamEvent``, and the
CTC path -> words step shared by the library and the torch-free runtime (no torch here).

Results are frozen dataclasses (whisper's ``decoding.py`` style); ``StreamEvent.to_dict`` is the
JSON of ``transcribe --stream --format json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speechrnn.vocab import BLANK, Vocabulary


@dataclass(frozen=True)
class WordTiming:
    """One recognised word and its time span in seconds."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcription:
    """A result: ``text`` always; ``words`` for CTC models; ``label``/``score``/``scores`` for classifiers."""

    text: str
    words: tuple[WordTiming, ...] = ()
    label: str | None = None
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    duration: float = 0.0


@dataclass(frozen=True)
class StreamEvent:
    """Something that changed: a ``partial`` or ``final`` text, or a keyword ``detection``.

    Times are seconds from the start of the stream. ``result`` is the final ``Transcription``.
    """

    kind: str
    text: str
    start: float
    end: float
    words: tuple[WordTiming, ...] = ()
    label: str | None = None
    score: float | None = None
    reason: str | None = None  # what ended a final: "rule1"/"rule2"/"rule3" or "end"
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


def collapse_runs(best: list[int]) -> list[tuple[int, int, int]]:
    """Best token id per step -> (token, first_step, last_step) runs, repeats merged, blanks dropped."""
    runs: list[tuple[int, int, int]] = []
    previous = BLANK
    for step, token in enumerate(best):
        if token != BLANK:
            if token == previous:
                runs[-1] = (token, runs[-1][1], step)
            else:
                runs.append((token, step, step))
        previous = token
    return runs


def tokens_to_words(
    runs: list[tuple[int, int, int]], labels: list[str], unit: str, frame_shift: float, offset: float = 0.0
) -> list[WordTiming]:
    """(token, first_step, last_step) runs -> words with times; char units split words at " "."""
    vocab = Vocabulary(tuple(labels), "ctc", unit)
    if unit == "word":
        return [
            WordTiming(vocab.label(t), offset + first * frame_shift, offset + (last + 1) * frame_shift)
            for t, first, last in runs
        ]
    words: list[WordTiming] = []
    chars, start, end = [], 0, 0
    for token, first, last in runs + [(None, 0, 0)]:
        char = vocab.label(token) if token is not None else " "
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


def words_to_text(words: list[WordTiming] | tuple[WordTiming, ...]) -> str:
    return " ".join(w.word for w in words)


def classification_result(probs, labels: list[str], duration: float = 0.0) -> Transcription:
    """(classes,) class probabilities (any sequence of floats) -> a Transcription whose text is the best label."""
    probs = [float(p) for p in probs]
    best = max(range(len(probs)), key=probs.__getitem__)
    return Transcription(text=labels[best], label=labels[best], score=probs[best],
                         scores=dict(zip(labels, probs)), duration=duration)  # fmt: skip
