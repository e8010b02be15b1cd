"""Scores for evaluation: WER/CER with edit counts (jiwer), per-class scores and confusion matrices.

Texts are compared after ``vocab.normalize_text``: lower-cased, runs of whitespace collapsed.
Lower-casing loses nothing for our models, whose labels and texts are all lower-case; nothing
else (punctuation) is changed, so references must be written in the model's own labels.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import jiwer
import numpy as np

from speechrnn.atomic import atomic_write
from speechrnn.vocab import normalize_text


@dataclass(frozen=True)
class EditCounts:
    """Alignment counts of a hypothesis against a reference (words or characters)."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0

    @property
    def reference_length(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference length; an empty reference counts as length 1 (so 1 insertion = 1.0)."""
        return self.errors / max(self.reference_length, 1)

    def __add__(self, other: EditCounts) -> EditCounts:
        return EditCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.hits + other.hits,
        )

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "reference_length": self.reference_length, "errors": self.errors}


def _counts(output) -> EditCounts:
    return EditCounts(output.substitutions, output.deletions, output.insertions, output.hits)


def word_counts(reference: str, hypothesis: str) -> EditCounts:
    """Word-level edit counts of one pair (jiwer alignment), after ``normalize_text``."""
    return _counts(jiwer.process_words(normalize_text(reference), normalize_text(hypothesis)))


def char_counts(reference: str, hypothesis: str) -> EditCounts:
    """Character-level edit counts of one pair (spaces between words count as characters)."""
    return _counts(jiwer.process_characters(normalize_text(reference), normalize_text(hypothesis)))


def total(counts: Iterable[EditCounts]) -> EditCounts:
    result = EditCounts()
    for c in counts:
        result = result + c
    return result


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> dict:
    """Corpus WER and CER: total errors / total reference length, with the counts behind them.

    Returns:
        {"wer", "cer", "words": EditCounts.as_dict(), "chars": EditCounts.as_dict()}.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    words = total(word_counts(r, h) for r, h in zip(references, hypotheses, strict=True))
    chars = total(char_counts(r, h) for r, h in zip(references, hypotheses, strict=True))
    return {"wer": words.rate, "cer": chars.rate, "words": words.as_dict(), "chars": chars.as_dict()}


def confusion_matrix(references: Sequence[int], predictions: Sequence[int], num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) int64 counts; row = reference class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(references, dtype=np.int64), np.asarray(predictions, dtype=np.int64)), 1)
    return matrix


def classification_scores(matrix: np.ndarray, labels: Sequence[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support and their macro averages from a confusion matrix.

    A score whose denominator is zero (a class never predicted, or absent) is 0.0.
    """
    matrix = np.asarray(matrix)
    correct = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = np.divide(correct, predicted, out=np.zeros_like(correct), where=predicted > 0)
    recall = np.divide(correct, support, out=np.zeros_like(correct), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(correct), where=both > 0)
    present = support > 0
    count = int(matrix.sum())
    return {
        "accuracy": float(correct.sum() / count) if count else 0.0,
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        # macro averages over the classes that occur in the references
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
    }


INTERVAL_LEVEL = 0.95  # of the intervals every report gives (evaluate, eval_real.py, kws_eval.py)


def speaker_bootstrap_interval(
    outcomes: Sequence[float],
    speakers: Sequence[str],
    level: float = INTERVAL_LEVEL,
    draws: int = 2000,
    seed: int = 0,
    totals: Sequence[float] | None = None,
) -> tuple[float, float]:
    """A percentile interval of a rate that resamples speakers, not clips.

    The rate is ``sum(outcomes) / sum(totals)`` over the clips: accuracy with ``outcomes`` 1 for a
    right clip and ``totals`` 1 (the default), or WER with each clip's word errors over its reference
    words. Clips of one speaker are not independent trials: the same voice is heard right or wrong
    together. So each of ``draws`` bootstrap samples draws as many speakers as there are, with
    replacement, and takes the rate over all their clips (a cluster bootstrap); the interval is the
    central ``level`` of those rates. ``outcomes``, ``speakers`` and ``totals`` are per clip (N,); a
    clip without a speaker should pass its own id. Seeded: the same input gives the same interval.
    """
    totals = [1.0] * len(outcomes) if totals is None else totals
    if not len(outcomes) == len(speakers) == len(totals):
        raise ValueError(f"{len(outcomes)} outcomes but {len(speakers)} speakers and {len(totals)} totals")
    if not outcomes:
        raise ValueError("no clips to compute an interval from")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    names, index = np.unique(np.asarray(speakers, dtype=str), return_inverse=True)
    counted = np.bincount(index, weights=np.asarray(outcomes, dtype=np.float64), minlength=len(names))  # (S,)
    whole = np.bincount(index, weights=np.asarray(totals, dtype=np.float64), minlength=len(names))  # (S,)
    if not whole.sum() > 0:
        raise ValueError("the totals sum to zero: no rate to compute")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(names), size=(draws, len(names)))  # (draws, S) speakers drawn
    numerators, denominators = counted[picks].sum(axis=1), whole[picks].sum(axis=1)  # (draws,)
    rates = numerators[denominators > 0] / denominators[denominators > 0]  # a draw with no words has no rate
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(rates, [tail, 100 - tail])
    return float(low), float(high)


MIN_INTERVAL_SPEAKERS = 5  # fewer, and resampling speakers says nothing useful (one speaker: a zero-width interval)


def interval_by_speaker(
    outcomes: Sequence[float],
    speakers: Sequence[str],
    level: float = INTERVAL_LEVEL,
    totals: Sequence[float] | None = None,
) -> list[float] | None:
    """``[low, high]`` of ``speaker_bootstrap_interval``, or None with fewer than
    ``MIN_INTERVAL_SPEAKERS`` speakers or no totals to divide by."""
    if len(set(speakers)) < MIN_INTERVAL_SPEAKERS or (totals is not None and not sum(totals)):
        return None
    return list(speaker_bootstrap_interval(outcomes, speakers, level, totals=totals))


def format_class_table(scores: dict) -> str:
    """Per-class scores as a fixed-width text table (one row per class, then the macro average)."""
    per_class = scores["per_class"]
    width = max([len("class"), len("macro avg")] + [len(label) for label in per_class])
    lines = [f"{'class':<{width}}  precision  recall      f1  support"]
    for label, s in per_class.items():
        lines.append(f"{label:<{width}}  {s['precision']:9.3f}  {s['recall']:6.3f}  {s['f1']:6.3f}  {s['support']:7d}")
    support = sum(s["support"] for s in per_class.values())
    lines.append(
        f"{'macro avg':<{width}}  {scores['macro_precision']:9.3f}  {scores['macro_recall']:6.3f}"
        f"  {scores['macro_f1']:6.3f}  {support:7d}"
    )
    lines.append(f"accuracy {scores['accuracy']:.4f} ({support} utterances)")
    return "\n".join(lines)


def plot_confusion_matrix(matrix: np.ndarray, labels: Sequence[str], path: str | os.PathLike, title: str = "") -> Path:
    """Save the confusion matrix as a PNG (counts in the cells, labelled axes), atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    n = len(labels)
    size = min(4 + 0.5 * n, 30)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    try:
        image = ax.imshow(matrix, cmap="Blues", vmin=0)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(range(n), labels=list(labels), rotation=45 if n > 10 else 0, ha="right" if n > 10 else "center")
        ax.set_yticks(range(n), labels=list(labels))
        ax.set_xlabel("predicted label")
        ax.set_ylabel("reference label")
        ax.set_title(title or "confusion matrix (counts)")
        threshold = matrix.max() / 2 if matrix.size else 0
        if n <= 40:
            for r in range(n):
                for c in range(n):
                    ax.text(
                        c,
                        r,
                        str(int(matrix[r, c])),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if matrix[r, c] > threshold else "black",
                    )
        fig.tight_layout()
        path = Path(path)
        with atomic_write(path) as f:
            fig.savefig(f, format="png", dpi=100)
    finally:
        plt.close(fig)
    return path
