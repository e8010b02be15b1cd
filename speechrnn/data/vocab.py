"""Character vocabulary for CTC on English read speech (LibriSpeech).

Tokens are the 26 lower-case letters, the apostrophe and the space (which separates
words, as ``ModelConfig.unit == "char"`` expects). Text is normalised by lower-casing
and collapsing white space (``speechrnn.vocab.normalize_text``); any other character is
rejected so a surprise in a corpus is seen, not silently dropped.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterable
from pathlib import Path

from speechrnn.atomic import atomic_write
from speechrnn.errors import DataError
from speechrnn.vocab import normalize_text

CHAR_VOCABULARY: tuple[str, ...] = (" ", "'", *string.ascii_lowercase)


def check_text(text: str, vocabulary: Iterable[str] = CHAR_VOCABULARY, *, where: str = "text") -> str:
    """Normalise ``text`` and raise DataError naming ``where`` if a character is outside ``vocabulary``."""
    normalized = normalize_text(text)
    allowed = set(vocabulary)
    bad = sorted(set(normalized) - allowed)
    if bad:
        raise DataError(f"{where}: character {bad[0]!r} is not in the character vocabulary")
    return normalized


def write_vocabulary(path: str | os.PathLike, tokens: Iterable[str] = CHAR_VOCABULARY) -> Path:
    """One token per line (the space written as ``<space>``), atomically."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.writelines(("<space>" if t == " " else t) + "\n" for t in tokens)
    return path


def read_vocabulary(path: str | os.PathLike) -> list[str]:
    """Inverse of ``write_vocabulary``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such vocabulary file")
    lines = path.read_text(encoding="utf-8").splitlines()
    return [" " if line == "<space>" else line for line in lines if line]
