"""Turning model outputs into results: CTC greedy decoding with word times, classification; the
result types (``Transcription``, ``WordTiming``, streaming ``StreamEvent``).

Options and results are frozen dataclasses (whisper's ``decoding.py`` style).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from speechrnn.vocab import BLANK, LABEL_OFFSET, Vocabulary


@dataclass(frozen=True)
class DecodingOptions:
    """How to decode CTC outputs.

    ``method``: "greedy", "beam" (prefix beam search, ``beam_size``) or "closed_set": pick the
    most likely of ``candidates`` (phrases of model labels; empty = every label on its own) under
    the CTC likelihood, i.e. isolated-word recognition with a connected-speech model.
    """

    method: str = "greedy"
    beam_size: int = 8
    candidates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from speechrnn.errors import ConfigError  # noqa: PLC0415

        if self.method not in METHODS:
            raise ConfigError(f"decoding method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if isinstance(self.beam_size, bool) or not isinstance(self.beam_size, int) or self.beam_size < 1:
            raise ConfigError(f"beam_size must be an integer >= 1, got {self.beam_size!r}")
        if isinstance(self.candidates, str) or not all(isinstance(c, str) for c in self.candidates):
            raise ConfigError(f"candidates must be a sequence of phrases, got {self.candidates!r}")


METHODS = ("greedy", "beam", "closed_set")


def decoding_options(options=None, **keywords) -> DecodingOptions:
    """The one check of decoding arguments for ``model.transcribe`` and ``StreamingRecognizer``:
    a ``DecodingOptions``, a dict of its fields, or keywords -> ``DecodingOptions``.

    Raises:
        ConfigError: an unknown option, an unknown method, a beam size below 1.
    """
    from speechrnn.errors import ConfigError  # noqa: PLC0415

    if isinstance(options, DecodingOptions) and not keywords:
        return options
    if options is not None and not isinstance(options, (dict, DecodingOptions)):
        raise ConfigError(f"decoding options must be DecodingOptions or a dict, got {type(options).__name__}")
    values = dict(vars(options) if isinstance(options, DecodingOptions) else options or {}, **keywords)
    known = DecodingOptions.__dataclass_fields__
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown decoding option {unknown[0]!r} (known: {', '.join(known)})")
    if "candidates" in values and not isinstance(values["candidates"], str):
        values["candidates"] = tuple(values["candidates"])
    return DecodingOptions(**values)


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


def greedy_path(log_probs: torch.Tensor) -> list[tuple[int, int, int]]:
    """Best CTC path of (steps, vocab) log-probs as (token, first_step, last_step) runs, blanks dropped.

    Token ids are model output ids (``Vocabulary``: blank = 0, label i = i + 1).
    """
    return collapse_runs(log_probs.argmax(dim=-1).tolist())


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


def closed_set_scores(log_probs: torch.Tensor, candidates: list[list[int]]) -> torch.Tensor:
    """(steps, vocab) CTC log-probs -> (len(candidates),) log-likelihood of each token-id sequence."""
    steps = log_probs.size(0)
    lengths = torch.tensor([len(c) for c in candidates])
    targets = torch.tensor([t for c in candidates for t in c])
    expanded = log_probs.unsqueeze(1).expand(steps, len(candidates), log_probs.size(-1))
    return -torch.nn.functional.ctc_loss(
        expanded, targets, torch.full((len(candidates),), steps), lengths, reduction="none", zero_infinity=False
    )


def label_scores(log_probs: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Batched ``closed_set_scores`` with every label alone as the candidates (isolated words):
    (batch, frames, vocab) CTC log-probs and (batch,) valid frames -> (batch, vocab - 1), entry k
    the log-likelihood of label k (output id k + LABEL_OFFSET; blank = 0, ctc_loss's default).
    Differentiable (``optim.closed_set`` training)."""
    batch, _, vocab = log_probs.shape
    labels = vocab - LABEL_OFFSET
    ids = torch.arange(LABEL_OFFSET, vocab, device=log_probs.device)
    candidates = ids.repeat(batch)[:, None]  # (batch * labels, 1)
    expanded = log_probs.float().transpose(0, 1).repeat_interleave(labels, dim=1)  # (frames, batch * labels, vocab)
    nll = torch.nn.functional.ctc_loss(
        expanded, candidates, steps.repeat_interleave(labels), torch.ones_like(candidates[:, 0]), reduction="none"
    )
    return -nll.view(batch, labels)


def candidate_ids(candidates: tuple[str, ...], labels: list[str], unit: str) -> list[list[int]]:
    """Phrases -> model output ids (``Vocabulary.ids``); ConfigError for a token the model lacks."""
    from speechrnn.errors import ConfigError

    vocab = Vocabulary(tuple(labels), "ctc", unit)
    phrases = candidates or tuple(labels)
    ids = []
    for phrase in phrases:
        tokens = vocab.tokens(phrase)
        missing = [t for t in tokens if t not in vocab]
        if missing or not tokens:
            raise ConfigError(f"candidate {phrase!r} has a token the model does not know: {missing[:1] or 'empty'}")
        ids.append(vocab.ids(tokens))
    return ids


def decode_ctc(log_probs: torch.Tensor, labels: list[str], unit: str, frame_shift: float, options=None):
    """(steps, vocab) CTC log-probs of one utterance -> (text, words); closed_set gives no word times."""
    options = options or DecodingOptions()
    if options.method == "closed_set":
        phrases = options.candidates or tuple(labels)
        scores = closed_set_scores(log_probs, candidate_ids(phrases, labels, unit))
        return phrases[int(scores.argmax())], []
    if options.method == "beam":
        from speechrnn.beam import prefix_beam_search  # noqa: PLC0415 - optional, heavier decoder

        runs = prefix_beam_search(log_probs, options.beam_size)
    else:
        runs = greedy_path(log_probs)
    words = tokens_to_words(runs, labels, unit, frame_shift)
    return words_to_text(words), words


def classification_result(logits: torch.Tensor, labels: list[str], duration: float = 0.0) -> Transcription:
    """(classes,) logits -> a Transcription whose text is the best label."""
    probs = logits.float().softmax(dim=-1)
    best = int(probs.argmax())
    return Transcription(
        text=labels[best],
        label=labels[best],
        score=float(probs[best]),
        scores={label: float(p) for label, p in zip(labels, probs)},
        duration=duration,
    )
