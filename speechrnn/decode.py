"""Turning model outputs into results: decoding options, CTC greedy decoding with word times,
classification. The result types live in ``speechrnn.results`` (torch-free) and are re-exported here.

Options and results are frozen dataclasses (whisper's ``decoding.py`` style).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from speechrnn import results
from speechrnn.results import (  # noqa: F401 - re-exported: the result types' historical home
    StreamEvent,
    Transcription,
    WordTiming,
    collapse_runs,
    tokens_to_words,
    words_to_text,
)
from speechrnn.vocab import LABEL_OFFSET, Vocabulary


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


def greedy_path(log_probs: torch.Tensor) -> list[tuple[int, int, int]]:
    """Best CTC path of (steps, vocab) log-probs as (token, first_step, last_step) runs, blanks dropped.

    Token ids are model output ids (``Vocabulary``: blank = 0, label i = i + 1).
    """
    return collapse_runs(log_probs.argmax(dim=-1).tolist())


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
    """(classes,) logits -> a Transcription whose text is the best label (``results.classification_result``)."""
    return results.classification_result(logits.float().softmax(dim=-1).tolist(), labels, duration)
