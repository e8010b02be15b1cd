"""The local real-speech share (``../shared/data/realspeech``) as labelled benchmark sets.

Two sources in Speech Commands layouts (``sc_layouts``), each clip tagged with its source:

- ``sc_v0.02_test``: ``speech_commands_test_set_v0.02/``, the official 12-class test layout;
- ``sc_v0.01_sample``: ``speech_commands_v0.01_sample/``, word folders of Speech Commands v0.01.

``commands_set``: both, with 12-class labels (v0.01 words that are not commands are ``_unknown_``).
``digits_set``: the isolated digit words of both (the test set's ``_unknown_`` clips of a digit
word, the v0.01 digit folders), each with ``text`` = the digit word.
``split_set`` keeps one speaker-disjoint split (``speakers.split_of``, the split the bundled
models were trained and validated with).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from speechrnn.data.manifest import Utterance
from speechrnn.data.sc_layouts import official_test_utterances, word_folder_utterances
from speechrnn.data.speakers import SEED, VALID_PERCENT, split_key, split_of
from speechrnn.errors import ConfigError, DataError

ENV = "SPEECHRNN_REALSPEECH"
TEST_SET = "speech_commands_test_set_v0.02"
V001_SAMPLE = "speech_commands_v0.01_sample"
SOURCES = {"sc_v0.02_test": TEST_SET, "sc_v0.01_sample": V001_SAMPLE}
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPLITS = ("train", "valid", "all")


@dataclass(frozen=True)
class Clip:
    """One benchmark clip: where it comes from and its manifest entry (absolute audio path)."""

    source: str
    utterance: Utterance


def realspeech_root(root: str | os.PathLike | None = None) -> Path:
    """``root``, else ``$SPEECHRNN_REALSPEECH``, else ``<repo>/../shared/data/realspeech``, else
    ``<cwd>/../shared/data/realspeech``: the first that holds the test-set folder.

    Raises:
        DataError: none does (the message names what was looked at and the variable to set).
    """
    if root is not None:
        candidates = [Path(root).expanduser()]
    else:
        candidates = [Path(os.environ[ENV]).expanduser()] if os.environ.get(ENV) else []
        candidates += [Path(__file__).resolve().parents[3] / "shared/data/realspeech"]
        candidates += [Path.cwd().parent / "shared/data/realspeech"]
    for candidate in candidates:
        if (candidate / TEST_SET).is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(f"real speech data not found (no {TEST_SET}/ in {looked}); set {ENV}")


def commands_set(root: str | os.PathLike) -> list[Clip]:
    """Both sources with Speech Commands' 12-class labels (sorted by source, then id)."""
    root = Path(root)
    clips = [Clip("sc_v0.02_test", u) for u in official_test_utterances(root / TEST_SET, None)]
    if (root / V001_SAMPLE).is_dir():
        clips += [Clip("sc_v0.01_sample", u) for u in word_folder_utterances(root / V001_SAMPLE, None, task12=True)]
    return clips


def digits_set(root: str | os.PathLike) -> list[Clip]:
    """Isolated digit words of both sources, ``text`` = the word, ``label`` = the word too."""
    from dataclasses import replace

    clips = []
    for clip in commands_set(root):
        if clip.utterance.text in DIGITS:
            clips.append(Clip(clip.source, replace(clip.utterance, label=clip.utterance.text)))
    if not clips:
        raise DataError(f"{root}: no isolated digit clips found")
    return clips


def split_set(
    clips: list[Clip], split: str = "valid", valid_percent: float = VALID_PERCENT, seed: int = SEED
) -> list[Clip]:
    """The clips of one speaker-disjoint split: "train", "valid" or "all"."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return list(clips)
    return [c for c in clips if split_of(split_key(c.utterance), valid_percent, seed) == split]
