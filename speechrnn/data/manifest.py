"""JSONL manifests: one utterance per line.

Each line is a JSON object with ``audio`` (path, absolute or relative to the manifest's
folder), ``duration`` (seconds), ``speaker``, and ``label`` (classification) or ``text``
(transcription). Optional: ``offset`` (seconds into the file), ``id``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from speechrnn.atomic import atomic_write
from speechrnn.errors import DataError


@dataclass(frozen=True)
class Utterance:
    audio: str
    duration: float
    speaker: str = ""
    label: str | None = None
    text: str | None = None
    id: str | None = None
    offset: float = 0.0


_FIELDS = set(Utterance.__dataclass_fields__)


def read_manifest(path: str | os.PathLike, labelled: bool = True) -> list[Utterance]:
    """Parse a JSONL manifest; relative audio paths resolve against the manifest's folder.

    ``labelled=False`` accepts entries with neither 'label' nor 'text' (audio to pseudo-label).

    Raises:
        DataError: missing file, bad JSON, a missing required field or an unknown one (line named).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such manifest")
    utterances = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise DataError(f"{path}: cannot read manifest ({error.strerror})") from None
    for number, raw in enumerate(lines, 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(
                f"{path}:{number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1})"
            ) from None
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(entry, dict):
            raise DataError(f"{path}:{number}: expected a JSON object")
        for required in ("audio", "duration"):
            if required not in entry:
                raise DataError(f"{path}:{number}: missing field {required!r}")
        unknown = sorted(set(entry) - _FIELDS)
        if unknown:
            raise DataError(f"{path}:{number}: unknown field {unknown[0]!r}")
        if labelled and entry.get("label") is None and entry.get("text") is None:
            raise DataError(f"{path}:{number}: needs a 'label' or a 'text'")
        audio = Path(entry["audio"])
        if not audio.is_absolute():
            entry["audio"] = str(path.parent / audio)
        try:
            entry["duration"] = float(entry["duration"])
        except (TypeError, ValueError):
            raise DataError(f"{path}:{number}: duration must be a number") from None
        utterances.append(Utterance(**entry))
    if not utterances:
        raise DataError(f"{path}: manifest is empty")
    return utterances


def write_manifest(path: str | os.PathLike, utterances: Iterable[Utterance]) -> int:
    """Write utterances as JSONL atomically; returns the number written. None fields are omitted."""
    count = 0
    with atomic_write(path, "w", encoding="utf-8") as f:
        for utterance in utterances:
            entry = {k: v for k, v in asdict(utterance).items() if v is not None and not (k == "offset" and v == 0)}
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            count += 1
    return count
