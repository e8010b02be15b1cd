"""Speech Commands folder layouts without split lists: the official 12-class test set, word folders.

* The canonical 12-class test archive ``speech_commands_test_set_v0.02.tar.gz`` (4,890 clips;
  112,563,277 bytes; SHA-256 below, as published in TensorFlow Datasets'
  ``url_checksums/speech_commands.txt``) holds ``<label>/<speaker>_nohash_<n>.wav`` for the ten
  commands, ``_unknown_/<word>_<speaker>_nohash_<n>.wav`` (other words of the dataset) and
  ``_silence_/<n>.wav`` (background noise, no speaker). ``official_test_utterances`` reads such a
  folder: label = folder name, ``text`` = the spoken word (the file name's prefix for
  ``_unknown_``; none for silence), speaker from the file name, id = "<label>/<file stem>".
  ``prepare_test_set`` downloads (resumable, checksummed) and extracts the archive, or reads an
  extracted copy, and writes ``manifests/sc12_test_official.jsonl``.
* A folder in the main archive's layout, ``<word>/<speaker>_nohash_<n>.wav`` (no lists; e.g. a
  user's own recordings): ``word_folder_utterances`` gives label = text = word, or with
  ``task12`` the 12-class label (a word that is not a command becomes ``_unknown_``, its text
  stays the word); ``prepare_word_folder`` writes it as ``manifests/<name>.jsonl``.

Either can also be written as a speaker-disjoint train/valid pair (``speakers.split_utterances``).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from speechrnn.data.download import download_file, extract_archive, is_done, mark_done
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.data.speakers import SEED as SPLIT_SEED
from speechrnn.data.speakers import split_utterances
from speechrnn.data.speech_commands import COMMANDS, SILENCE, UNKNOWN, _duration
from speechrnn.errors import DataError

TEST_URL = "http://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz"
TEST_SHA256 = "cc2a00c1147c2254e9be3fa0f779d8c17421dc349b86366567a8edfa9acd51df"
TEST_SIZE = 112_563_277
TEST_FOLDER = "speech_commands_test_set_v0.02"
TEST_MANIFEST = "sc12_test_official"
TASK12_LABELS = (*COMMANDS, UNKNOWN, SILENCE)
NOHASH = "_nohash_"


def speaker_of(file_name: str) -> str:
    """ "0a7c2a8d" from "0a7c2a8d_nohash_0.wav" (and from "bed_0a7c2a8d_nohash_0.wav")."""
    stem = PurePosixPath(file_name).stem
    if NOHASH not in stem:
        raise DataError(f"{file_name}: not a Speech Commands clip name (<speaker>_nohash_<n>.wav)")
    return stem.split(NOHASH)[0].rsplit("_", 1)[-1]


def unknown_word(file_name: str) -> str:
    """ "bed" from "bed_0a7c2a8d_nohash_0.wav" (the name of a clip in the test set's ``_unknown_``)."""
    head = PurePosixPath(file_name).stem.split(NOHASH)[0]
    if NOHASH not in file_name or "_" not in head:
        raise DataError(f"{file_name}: not an _unknown_ clip name (<word>_<speaker>_nohash_<n>.wav)")
    return head.rsplit("_", 1)[0]


def _audio_path(path: Path, manifest_dir: Path | None) -> str:
    """Relative to the manifest when the clip lies under the manifest's parent folder, else
    (or with no ``manifest_dir``) absolute."""
    path = path.resolve()
    if manifest_dir is None:
        return str(path)
    base = manifest_dir.resolve()
    if path.is_relative_to(base.parent):
        return os.path.relpath(path, base)
    return str(path)


def _clip(path: Path, manifest_dir: Path | None, speaker: str, label: str, text: str | None, folder: str) -> Utterance:
    """One clip's utterance: id "<folder>/<file stem>", duration read from the file."""
    return Utterance(audio=_audio_path(path, manifest_dir), duration=round(_duration(path), 6), speaker=speaker,
                     label=label, text=text, id=f"{folder}/{path.stem}")  # fmt: skip


def _wavs(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.wav"))


def find_layout_root(folder: str | os.PathLike, labels=TASK12_LABELS) -> Path:
    """``folder``, or its only subfolder, whichever holds label folders (archives may add a top level)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    if any((folder / label).is_dir() for label in labels):
        return folder
    children = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(children) == 1 and any((children[0] / label).is_dir() for label in labels):
        return children[0]
    raise DataError(f"{folder}: no label folders ({', '.join(labels[:3])}, ...) of the 12-class test layout")


def official_test_utterances(test_dir: str | os.PathLike, manifest_dir: str | os.PathLike | None) -> list[Utterance]:
    """Utterances of an extracted 12-class test set, by label then file name (audio paths for a
    manifest in ``manifest_dir``; None: absolute).

    Raises:
        DataError: a folder that is not one of the 12 labels, a clip name that does not parse,
            unreadable audio, or no clips at all.
    """
    test_dir = find_layout_root(test_dir)
    manifest_dir = None if manifest_dir is None else Path(manifest_dir)
    extra = sorted(p.name for p in test_dir.iterdir() if p.is_dir() and p.name not in TASK12_LABELS)
    if extra:
        raise DataError(f"{test_dir / extra[0]}: not a label of the 12-class test set ({', '.join(TASK12_LABELS)})")
    utterances = []
    for label in TASK12_LABELS:
        for path in _wavs(test_dir / label):
            if label == SILENCE:
                speaker, text = "", None
            else:
                speaker = speaker_of(path.name)
                text = unknown_word(path.name) if label == UNKNOWN else label
            utterances.append(_clip(path, manifest_dir, speaker, label, text, folder=label))
    if not utterances:
        raise DataError(f"{test_dir}: no .wav clips in its label folders")
    return utterances


def word_folder_utterances(
    words_dir: str | os.PathLike, manifest_dir: str | os.PathLike | None, *, task12: bool = False
) -> list[Utterance]:
    """Utterances of ``<word>/<speaker>_nohash_<n>.wav`` folders (those starting with "_" are skipped),
    audio paths for a manifest in ``manifest_dir`` (None: absolute).

    label = text = the folder's word; with ``task12`` a word that is not one of the ten commands
    is labelled ``_unknown_`` (its text stays the word).

    Raises:
        DataError: no word folder with .wav clips, a clip name without ``_nohash_``, unreadable audio.
    """
    words_dir = Path(words_dir)
    manifest_dir = None if manifest_dir is None else Path(manifest_dir)
    if not words_dir.is_dir():
        raise DataError(f"{words_dir}: no such folder")
    utterances = []
    for folder in sorted(p for p in words_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        word = folder.name
        label = word if not task12 or word in COMMANDS else UNKNOWN
        for path in _wavs(folder):
            utterances.append(_clip(path, manifest_dir, speaker_of(path.name), label, word, folder=word))
    if not utterances:
        raise DataError(f"{words_dir}: no word folders with .wav clips (<word>/<speaker>_nohash_<n>.wav)")
    return utterances


def write_with_split(
    manifest_dir: Path,
    name: str,
    utterances: list[Utterance],
    valid_percent: float | None = None,
    seed: int = SPLIT_SEED,
) -> dict[str, int]:
    """Write ``<name>.jsonl``; with ``valid_percent`` also ``<name>_train.jsonl`` and ``<name>_valid.jsonl``
    split by speaker (``speakers.split_utterances``). Returns {file stem: utterances written}."""
    splits = {} if valid_percent is None else split_utterances(utterances, valid_percent, seed)  # checks first
    counts = {name: write_manifest(manifest_dir / f"{name}.jsonl", utterances)}
    if splits:
        for split, part in splits.items():
            path = manifest_dir / f"{name}_{split}.jsonl"
            if part:
                counts[path.stem] = write_manifest(path, part)
            else:  # an empty manifest is unreadable: write none, and drop a stale one
                path.unlink(missing_ok=True)
                counts[path.stem] = 0
    return counts


def prepare_test_set(
    root: str | os.PathLike,
    *,
    test_set_dir: str | os.PathLike | None = None,
    url: str = TEST_URL,
    sha256: str | None = None,
    valid_percent: float | None = None,
    seed: int = SPLIT_SEED,
    quiet: bool = False,
) -> dict[str, int]:
    """Write ``root/manifests/sc12_test_official.jsonl`` (and its speaker split with ``valid_percent``).

    ``test_set_dir``: an extracted copy to read; else the archive at ``url`` is downloaded
    (resumable; checked against ``sha256``, or the published checksum for the official URL) and
    extracted into ``root/speech_commands_test_set_v0.02/`` (stages ``test_download`` and
    ``test_extract``, skipped when done). Returns {manifest stem: utterances}.
    """
    root = Path(root)
    manifest_dir = root / "manifests"
    if test_set_dir is None:
        if sha256 is None and url == TEST_URL:
            sha256 = TEST_SHA256
        archive = root / (PurePosixPath(url.split("?")[0]).name or f"{TEST_FOLDER}.tar.gz")
        if not is_done(root, "test_download"):
            download_file(url, archive, sha256=sha256, quiet=quiet)
            mark_done(root, "test_download", {"url": url, "sha256": sha256})
        if not is_done(root, "test_extract"):
            extract_archive(archive, root / TEST_FOLDER, quiet=quiet)
            find_layout_root(root / TEST_FOLDER)
            mark_done(root, "test_extract")
        test_set_dir = root / TEST_FOLDER
    utterances = official_test_utterances(test_set_dir, manifest_dir)
    return write_with_split(manifest_dir, TEST_MANIFEST, utterances, valid_percent, seed)


def prepare_word_folder(
    root: str | os.PathLike,
    words_dir: str | os.PathLike,
    *,
    name: str | None = None,
    task12: bool = False,
    valid_percent: float | None = None,
    seed: int = SPLIT_SEED,
) -> dict[str, int]:
    """Write ``root/manifests/<name>.jsonl`` (default name: the folder's; ``sc12_`` prefixed with
    ``task12``) from a word-folder layout, and its speaker split with ``valid_percent``."""
    words_dir = Path(words_dir)
    name = name or (f"sc12_{words_dir.resolve().name}" if task12 else words_dir.resolve().name)
    if not name or "/" in name or name.startswith("."):
        raise DataError(f"{name!r}: not a usable manifest name")
    manifest_dir = Path(root) / "manifests"
    utterances = word_folder_utterances(words_dir, manifest_dir, task12=task12)
    return write_with_split(manifest_dir, name, utterances, valid_percent, seed)
