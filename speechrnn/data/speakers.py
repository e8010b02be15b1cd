"""Speaker-disjoint train/valid splits by a seeded hash of the speaker.

A speaker's split depends only on the speaker ID, the seed and the percentage, never on which
other utterances are present: the same speaker lands in the same split in every manifest and
every run, so a model validated on "valid" speakers never heard them in training.

An utterance without a speaker (Speech Commands ``_silence_`` clips, wake phrases) is keyed by
its file name instead: the basename without extension prefixed by its parent folder's name
("alexa/17", "_silence_/5").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import PurePath

from speechrnn.data.manifest import Utterance
from speechrnn.errors import ConfigError

VALID_PERCENT = 20.0
SEED = 0
SPLITS = ("train", "valid")


def split_of(speaker: str, valid_percent: float = VALID_PERCENT, seed: int = SEED) -> str:
    """ "valid" for about ``valid_percent`` % of speakers (by a SHA-1 of "seed:speaker"), else "train"."""
    bucket = int(hashlib.sha1(f"{seed}:{speaker}".encode()).hexdigest(), 16) % 10000
    return "valid" if bucket < valid_percent * 100 else "train"


def split_key(utterance: Utterance) -> str:
    """What decides an utterance's split: its speaker, else "<parent folder>/<file stem>"."""
    if utterance.speaker:
        return utterance.speaker
    path = PurePath(utterance.audio)
    return f"{path.parent.name}/{path.stem}"


def split_utterances(
    utterances: Iterable[Utterance], valid_percent: float = VALID_PERCENT, seed: int = SEED
) -> dict[str, list[Utterance]]:
    """{"train": [...], "valid": [...]}, order kept; no speaker is in both.

    Raises:
        ConfigError: ``valid_percent`` outside [0, 100].
    """
    if not 0.0 <= valid_percent <= 100.0:
        raise ConfigError(f"valid percent must be in [0, 100], got {valid_percent:g}")
    splits: dict[str, list[Utterance]] = {s: [] for s in SPLITS}
    for utterance in utterances:
        splits[split_of(split_key(utterance), valid_percent, seed)].append(utterance)
    return splits
