"""Label unlabelled audio with a model or an ensemble, for unsupervised adaptation (self-training).

``pseudo_label(models, utterances)`` gives every utterance the label the models score highest
and that label's posterior. ``speechrnn pseudo-label`` writes the utterances whose posterior is
at least ``--min-confidence`` as a manifest; fine-tuning on it (``train.init_from``) adapts the
models to a new speaker or recording condition without a single human label.

Labels are whole-utterance labels: a classifier's classes, or a word-level CTC model's words
scored closed-set (each word alone, as ``evaluate --decoder closed_set`` does), so this is for
isolated words and commands, not for sentences.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from speechrnn.data.manifest import Utterance
from speechrnn.errors import ConfigError, DataError
from speechrnn.scoring import check_same_labels, label_posteriors, model_outputs, prepare_ensemble

DEFAULT_MIN_CONFIDENCE = 0.9


@dataclass(frozen=True)
class PseudoLabel:
    """One utterance with the label the models gave it (``utterance.label``; ``text`` cleared)
    and that label's posterior under the models (``confidence``, 0-1)."""

    utterance: Utterance
    confidence: float


def check_pseudo_labeller(models: Sequence) -> None:
    """ConfigError unless ``models`` give whole-utterance labels and agree on them."""
    config = models[0].config
    if config.head == "ctc" and config.unit != "word":
        raise ConfigError(
            f"pseudo-labels need a classifier or a word-level CTC model, got a {config.unit}-level CTC model"
        )
    check_same_labels(models)


def check_min_confidence(min_confidence: float) -> None:
    """ConfigError unless 0 <= ``min_confidence`` <= 1."""
    if not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"min confidence must be between 0 and 1, got {min_confidence}")


def check_top_fraction(top_fraction: float) -> None:
    """ConfigError unless 0 < ``top_fraction`` <= 1."""
    if not 0.0 < top_fraction <= 1.0:
        raise ConfigError(f"top fraction must be above 0 and at most 1, got {top_fraction}")


def pseudo_label(
    model,
    utterances: Sequence[Utterance],
    *,
    pad_seconds: float = 0.0,
    speaker_norm: bool = True,
    speaker_utterances: Sequence[Utterance] | None = None,
    max_seconds: float = 60.0,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    quiet: bool = False,
) -> list[PseudoLabel]:
    """Label every utterance with the best label of ``model`` (one model or a list: an ensemble,
    combined as ``evaluate`` combines one). Any label or text already in ``utterances`` is ignored.

    Args:
        pad_seconds, speaker_norm, speaker_utterances, max_seconds, num_workers: as for
            ``evaluate.evaluate``, so a pseudo-label is exactly the decision ``evaluate`` scores.

    Returns:
        One PseudoLabel per utterance, in manifest order.

    Raises:
        DataError: no utterances.
        ConfigError: a character-level CTC model, an ensemble whose models differ in head,
            labels or unit.
    """
    utterances = list(utterances)
    if not utterances:
        raise DataError("no utterances to label")
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    check_pseudo_labeller(models)
    models, tables, _ = prepare_ensemble(models, utterances, device, speaker_norm, speaker_utterances)
    config = models[0].config
    labelled: list[PseudoLabel | None] = [None] * len(utterances)
    batches = model_outputs(
        models, utterances, tables, pad_seconds=pad_seconds, max_seconds=max_seconds, num_workers=num_workers,
        quiet=quiet, desc="pseudo-label",
    )  # fmt: skip
    for batch, results, _, _ in batches:
        confidence, best = label_posteriors(results, config.head).max(dim=-1)
        for j, i in enumerate(batch):
            utterance = dataclasses.replace(utterances[i], label=config.labels[int(best[j])], text=None)
            labelled[i] = PseudoLabel(utterance, float(confidence[j]))
    return labelled


def confident(labels: Sequence[PseudoLabel], min_confidence: float, top_fraction: float = 1.0) -> list[Utterance]:
    """The utterances whose pseudo-label has at least ``min_confidence`` posterior and is among the
    most confident ``top_fraction`` of the utterances given the same label (rounded up; order kept).

    ``top_fraction`` below 1 is class-balanced selection: every label keeps the same share, so a
    label the models are seldom sure of is not starved by the easy ones.

    Raises:
        ConfigError: ``min_confidence`` or ``top_fraction`` outside [0, 1] (``top_fraction`` 0).
        DataError: nothing is kept (the message gives the highest confidence seen).
    """
    check_min_confidence(min_confidence)
    check_top_fraction(top_fraction)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(labels):
        by_label[p.utterance.label].append(i)
    chosen = set()
    for indices in by_label.values():
        ranked = sorted(indices, key=lambda i: -labels[i].confidence)
        chosen.update(ranked[: math.ceil(top_fraction * len(ranked))])
    kept = [p.utterance for i, p in enumerate(labels) if i in chosen and p.confidence >= min_confidence]
    if not kept:
        highest = max((p.confidence for p in labels), default=0.0)
        raise DataError(f"no utterance reaches confidence {min_confidence:g} (the highest is {highest:.3f})")
    return kept
