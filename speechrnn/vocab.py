"""The model's vocabulary: its labels, where each sits among the model's outputs, and text
normalisation.

A classifier's output k is label k. A CTC model's output 0 is the blank (``BLANK``) and label
i is output ``i + LABEL_OFFSET``; ``Vocabulary`` is the one place that knows it, so datasets,
decoders and training convert labels and output ids through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

BLANK = 0  # the CTC blank's output id
LABEL_OFFSET = BLANK + 1  # output id of CTC label 0; label i is output i + 1


def split_tokens(text: str, unit: str) -> list[str]:
    """CTC tokens of ``text``: its words ("word" unit) or its characters, spaces included ("char")."""
    return text.split() if unit == "word" else list(text)


def normalize_text(text: str | None) -> str:
    """Lower-case and collapse runs of white space to one space (no leading/trailing space); None -> ""."""
    return " ".join((text or "").lower().split())


@dataclass(frozen=True)
class Vocabulary:
    """``labels`` (classes, or CTC tokens without the blank) of a ``head`` ("ctc" or "classify")
    model whose CTC tokens are ``unit``s ("word"s joined by spaces or "char"s, " " between words)."""

    labels: tuple[str, ...]
    head: str = "ctc"
    unit: str = "word"
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "_index", {label: i + self.offset for i, label in enumerate(self.labels)})

    @classmethod
    def from_config(cls, config: Any) -> Vocabulary:
        """The vocabulary of a ``ModelConfig`` (its ``labels``, ``head`` and ``unit``)."""
        return cls(tuple(config.labels), config.head, config.unit)

    @property
    def blank(self) -> int | None:
        """The CTC blank's output id; None for a classifier."""
        return BLANK if self.head == "ctc" else None

    @property
    def offset(self) -> int:
        """Output id of label 0 (1 for CTC, 0 for a classifier): output id - offset = label index."""
        return LABEL_OFFSET if self.head == "ctc" else 0

    @property
    def size(self) -> int:
        """Number of model outputs (labels, plus the blank for CTC)."""
        return len(self.labels) + self.offset

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def id(self, label: str) -> int:
        """Output id of ``label``; KeyError if the model lacks it (check with ``in`` first)."""
        return self._index[label]

    def label(self, id: int) -> str:
        """The label of output id ``id`` (not the blank)."""
        if id == self.blank:
            raise ValueError("the CTC blank has no label")
        return self.labels[id - self.offset]

    def ids(self, tokens: Iterable[str]) -> list[int]:
        """Output ids of ``tokens``; KeyError for one the model lacks."""
        return [self._index[t] for t in tokens]

    def tokens(self, text: str) -> list[str]:
        """CTC tokens of ``text`` in this vocabulary's unit (``split_tokens``)."""
        return split_tokens(text, self.unit)

    def text(self, ids: Iterable[int]) -> str:
        """Inverse of ``ids(tokens(text))``: the labels of output ``ids`` joined as the unit wants."""
        return ("" if self.unit == "char" else " ").join(self.label(i) for i in ids)
