"""Results and decoding without torch: the library's own result types (``speechrnn.results``) and JSON
(``writers.result_to_dict``), with numpy versions of greedy CTC and the classifier's softmax.
CTC decoding is greedy; a classifier's result is its best label and softmax score.
"""

from __future__ import annotations

import numpy as np

from speechrnn import results
from speechrnn.results import (  # noqa: F401 - re-exported for the runtime's modules
    StreamEvent,
    Transcription,
    WordTiming,
    collapse_runs,
    tokens_to_words,
    words_to_text,
)
from speechrnn.writers import result_to_dict  # noqa: F401 - the JSON of one file, as speechrnn transcribe


def greedy_ctc(log_probs: np.ndarray, labels: list[str], unit: str, frame_shift: float) -> tuple[str, list]:
    """(steps, vocab) CTC log-probs -> (text, words), the best path with repeats and blanks removed."""
    words = tokens_to_words(collapse_runs(log_probs.argmax(axis=-1).tolist()), labels, unit, frame_shift)
    return words_to_text(words), words


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits.astype(np.float64) - logits.max())
    return (z / z.sum()).astype(np.float32)


def classification_result(logits: np.ndarray, labels: list[str], duration: float = 0.0) -> Transcription:
    """(classes,) logits -> a Transcription whose text is the best label (``speechrnn.results``)."""
    return results.classification_result(softmax(logits), labels, duration)
