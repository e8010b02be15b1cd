"""JSONL manifests: one utterance per line.

Each line is a JSON object with ``audio`` (path, absolute or relative to the manifest's
folder), ``duration`` (seconds), ``speaker``, and ``label`` (classification) or ``text``
(transcription). Optional: ``offset`` (seconds into the file), ``id``. Any other field (``source``,
``gender``, whatever a user's own tooling adds) is kept in ``Utterance.extra``, written back, and ignored
by training; a field that looks like a misspelt known one (``auido``) is refused, naming both.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
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
    extra: dict = field(default_factory=dict, hash=False)  # fields speechrnn does not know, carried as read


_FIELDS = set(Utterance.__dataclass_fields__) - {"extra"}
_TYPES = {"audio": str, "speaker": str, "label": str, "text": str, "id": str}  # None allowed but for audio
_TYPE_NAMES = {str: "a string"}


def _check_fields(entry: dict, where: str) -> None:
    """Refuse a likely typo of a known field and a known field of the wrong type."""
    for name in sorted(set(entry) - _FIELDS):
        close = [known for known in difflib.get_close_matches(name, _FIELDS, n=1, cutoff=0.75) if known not in entry]
        if close:
            raise DataError(f"{where}: unknown field {name!r} (did you mean {close[0]!r}?)")
    for name, kind in _TYPES.items():
        value = entry.get(name)
        if (value is not None or (name == "audio" and name in entry)) and not isinstance(value, kind):
            raise DataError(f"{where}: field {name!r} must be {_TYPE_NAMES[kind]}, not {type(value).__name__}")
    for name in ("duration", "offset"):
        value = entry.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"{where}: {name} must be a number")


def read_manifest(path: str | os.PathLike, labelled: bool = True) -> list[Utterance]:
    """Parse a JSONL manifest; relative audio paths resolve against the manifest's folder.

    ``labelled=False`` accepts entries with neither 'label' nor 'text' (audio to pseudo-label).

    Raises:
        DataError: missing file, bad JSON, a missing required field, a field of the wrong type or a
            likely typo of a known field (line named).
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
        _check_fields(entry, f"{path}:{number}")
        for required in ("audio", "duration"):
            if required not in entry:
                raise DataError(f"{path}:{number}: missing field {required!r}")
        if labelled and entry.get("label") is None and entry.get("text") is None:
            raise DataError(f"{path}:{number}: needs a 'label' or a 'text'")
        audio = Path(entry["audio"])
        if not audio.is_absolute():
            entry["audio"] = str(path.parent / audio)
        entry["duration"] = float(entry["duration"])
        extra = {name: entry.pop(name) for name in sorted(set(entry) - _FIELDS)}
        utterances.append(Utterance(**entry, extra=extra))
    if not utterances:
        raise DataError(f"{path}: manifest is empty")
    return utterances


def write_manifest(path: str | os.PathLike, utterances: Iterable[Utterance]) -> int:
    """Write utterances as JSONL atomically; returns the number written. None fields are omitted;
    ``extra`` fields follow the known ones."""
    count = 0
    with atomic_write(path, "w", encoding="utf-8") as f:
        for utterance in utterances:
            entry = {k: v for k, v in asdict(utterance).items() if v is not None and not (k == "offset" and v == 0)}
            entry.update(entry.pop("extra"))
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            count += 1
    return count
