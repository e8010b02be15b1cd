"""CTC prefix beam search in log space, returning token runs with times like ``decode.greedy_path``.

Each prefix keeps two kinds of score:

- the summed probability of all alignments ending in blank / in its last token (the CTC
  prefix score, used to rank and prune prefixes), and
- the single best (Viterbi) alignment ending in blank / in its last token, with the
  (token, first_step, last_step) runs of that alignment, so every token of the winning
  prefix gets the steps where its most likely alignment emits it.

Blank is output id 0; label i is id i + 1 (the model's CTC layout).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import torch

NEG_INF = float("-inf")
TOKEN_MIN_LOGP = -10.0  # tokens less likely than this at a step are not tried (the best one always is)
Run = tuple[int, int, int]
# token runs of an alignment as an immutable linked list, newest run first: (earlier, token, first, last);
# extending a prefix is O(1) whatever its length
Runs = tuple | None


def _runs_to_list(runs: Runs) -> list[Run]:
    out = []
    while runs is not None:
        runs, token, first, last = runs
        out.append((token, first, last))
    return out[::-1]


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


class _Prefix:
    """Scores of one prefix at the current step (all natural-log probabilities)."""

    __slots__ = ("blank", "token", "best_blank", "best_token", "runs_blank", "runs_token")

    def __init__(self) -> None:
        self.blank = NEG_INF  # sum over alignments ending in blank
        self.token = NEG_INF  # sum over alignments ending in the prefix's last token
        self.best_blank = NEG_INF  # best single alignment ending in blank ...
        self.best_token = NEG_INF
        self.runs_blank: Runs = None  # ... and its token runs
        self.runs_token: Runs = None

    @property
    def total(self) -> float:
        return _logaddexp(self.blank, self.token)

    def best(self) -> tuple[float, Runs]:
        if self.best_token > self.best_blank:
            return self.best_token, self.runs_token
        return self.best_blank, self.runs_blank

    def add_blank(self, score: float, best: float, runs: Runs) -> None:
        self.blank = _logaddexp(self.blank, score)
        if best > self.best_blank:
            self.best_blank, self.runs_blank = best, runs

    def add_token(self, score: float, best: float, runs: Runs) -> None:
        self.token = _logaddexp(self.token, score)
        if best > self.best_token:
            self.best_token, self.runs_token = best, runs


def prefix_beam_search(
    log_probs: torch.Tensor | np.ndarray, beam_size: int = 8, token_min_logp: float = TOKEN_MIN_LOGP
) -> list[Run]:
    """Most probable CTC labelling of one utterance by prefix beam search.

    Args:
        log_probs: (steps, vocab) natural-log probabilities, blank = 0.
        beam_size: prefixes kept after each step (1 still sums over alignments of each prefix).
        token_min_logp: at each step only tokens with a log-probability at least this (and the
            most likely token) extend prefixes; ``-inf`` tries every token.

    Returns:
        The best prefix as [(token_id, first_step, last_step)], blanks dropped, in the format of
        ``decode.greedy_path``: a repeated token separated by a blank gives two runs.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    if isinstance(log_probs, torch.Tensor):
        log_probs = log_probs.detach().float().cpu().numpy()
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be (steps, vocab), got shape {log_probs.shape}")
    steps, vocab = log_probs.shape

    start = _Prefix()
    start.blank = start.best_blank = 0.0
    beam: dict[tuple[int, ...], _Prefix] = {(): start}
    for step in range(steps):
        frame = log_probs[step]
        blank_lp = float(frame[0])
        # tokens that could matter at this step: skip the hopeless ones (cheap pruning)
        best_token = int(frame[1:].argmax()) + 1 if vocab > 1 else None
        candidates = [
            c for c in range(1, vocab) if frame[c] >= token_min_logp and frame[c] > NEG_INF or c == best_token
        ]
        following: defaultdict[tuple[int, ...], _Prefix] = defaultdict(_Prefix)
        for prefix, scores in beam.items():
            total = scores.total
            best_any, runs_any = scores.best()
            # stay on the same prefix through a blank
            following[prefix].add_blank(total + blank_lp, best_any + blank_lp, runs_any)
            last = prefix[-1] if prefix else None
            for token in candidates:
                token_lp = float(frame[token])
                if token == last:
                    # repeat without a blank: same prefix, its last run grows to this step
                    if scores.token > NEG_INF:
                        earlier, _, first, _ = scores.runs_token
                        runs = (earlier, token, first, step)
                        following[prefix].add_token(scores.token + token_lp, scores.best_token + token_lp, runs)
                    # a new occurrence of the same token needs a blank in between
                    if scores.blank > NEG_INF:
                        runs = (scores.runs_blank, token, step, step)
                        following[prefix + (token,)].add_token(
                            scores.blank + token_lp, scores.best_blank + token_lp, runs
                        )
                else:
                    runs = (runs_any, token, step, step)
                    following[prefix + (token,)].add_token(total + token_lp, best_any + token_lp, runs)
        ranked = sorted(following.items(), key=lambda item: item[1].total, reverse=True)
        beam = dict(ranked[:beam_size])

    best_prefix = max(beam.values(), key=lambda scores: scores.total)
    return _runs_to_list(best_prefix.best()[1])
