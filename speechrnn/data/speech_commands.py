"""Google Speech Commands v0.02: download, safe extraction and manifests for two tasks.

``speechrnn prepare speech_commands --root DIR [--url URL] [--sha256 HEX]``

Stages (each skipped when its completion marker exists, see ``download.is_done``):

1. ``download``: the official archive (2,428,923,189 bytes; SHA-256 below, as published in
   TensorFlow Datasets' ``url_checksums/speech_commands.txt`` and torchaudio's
   ``datasets/speechcommands.py``), resumable with HTTP Range. The known checksum is
   checked for the default URL; another ``--url`` is checked only when ``--sha256`` is given.
2. ``extract``: into ``DIR/speech_commands_v0.02/`` (absolute paths, ``..`` and links that
   leave the folder are refused).
3. ``manifests``: ``DIR/manifests/sc35_{train,valid,test}.jsonl``, the 35-word task, split by the
   archive's own ``validation_list.txt`` and ``testing_list.txt`` (everything else is train).
4. ``task12``: the 12-class task ``sc12_{train,valid,test}.jsonl`` and ``noise.jsonl``:

   - the ten commands yes, no, up, down, left, right, on, off, stop, go keep their label;
   - ``_unknown_``: as in TensorFlow's ``speech_commands/input_data.py`` (used by
     kws_streaming), the other words of the same split are shuffled (seeded) and the first
     ceil(10 % x number of command clips in the split) are kept;
   - ``_silence_``: ceil(10 % x command clips) one-second clips cut from the
     ``_background_noise_`` recordings at seeded random offsets and scaled by a seeded gain
     uniform in [0, 1] (TensorFlow mixes the same noise at volume U(0, 1) into silence when
     training; its validation/test silence is digital zeros, ours is noise, which is harder).
     To keep the splits apart each noise recording is cut in time: its first 80 % serves
     train, the next 10 % valid, the last 10 % test (``DIR/noise/<split>/*.wav``); silence
     clips are written to ``DIR/silence/<split>/``;
   - ``noise.jsonl`` lists the train parts of the noise recordings, for additive-noise
     augmentation (``data.noise`` in the training config).

The seed (``--seed``, default 59185 as in TensorFlow's recipe) fixes every random choice.

Folders without split lists (``sc_layouts``): ``--test-set`` also downloads the official 12-class
test archive (or ``--test-set-dir DIR`` reads an extracted copy) into ``sc12_test_official.jsonl``;
``--words-dir DIR`` prepares ``<word>/<speaker>_nohash_<n>.wav`` folders; ``--valid-percent P`` adds
a speaker-disjoint ``_train``/``_valid`` pair of each; ``--skip-corpus`` leaves out the corpus itself.
"""

from __future__ import annotations

import math
import os
import random
import sys
from collections import Counter
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import numpy as np
import soundfile as sf
from tqdm import tqdm

from speechrnn.atomic import atomic_write
from speechrnn.data.download import (
    check_archive,
    download_file,
    extract_archive,
    is_done,
    mark_done,
    progress_disabled,
)
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.errors import DataError

URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
ARCHIVE_SHA256 = "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
ARCHIVE_SIZE = 2_428_923_189
DATA_FOLDER = "speech_commands_v0.02"
COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
BACKGROUND = "_background_noise_"
SPLITS = ("train", "valid", "test")
NOISE_REGIONS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}
SEED = 59185
SILENCE_PERCENT = 10.0
UNKNOWN_PERCENT = 10.0
SAMPLE_RATE = 16000
CLIP_SECONDS = 1.0


def _progress(iterable, quiet: bool, **kwargs):
    return tqdm(iterable, disable=progress_disabled(quiet), **kwargs)


def _duration(path: Path) -> float:
    try:
        info = sf.info(str(path))
    except Exception as error:  # noqa: BLE001 - libsndfile raises RuntimeError/LibsndfileError
        raise DataError(f"{path}: unreadable audio ({str(error).splitlines()[0]})") from None
    if info.frames == 0:
        raise DataError(f"{path}: empty audio file")
    return info.frames / info.samplerate


def _read_list(data_dir: Path, name: str) -> set[str]:
    path = data_dir / name
    if not path.is_file():
        raise DataError(f"{path}: missing; is {data_dir} an extracted Speech Commands v0.02 archive?")
    return {str(PurePosixPath(line.strip())) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}


def scan_words(data_dir: Path) -> dict[str, list[str]]:
    """Word folder -> sorted clip paths relative to ``data_dir`` ("yes/0a7c2a8d_nohash_0.wav")."""
    words = {}
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("_")):
        clips = sorted(f"{folder.name}/{f.name}" for f in folder.glob("*.wav"))
        if clips:
            words[folder.name] = clips
    if not words:
        raise DataError(f"{data_dir}: no word folders with .wav files")
    return words


def split_words(data_dir: Path) -> dict[str, list[tuple[str, str]]]:
    """Split -> [(relative clip path, word)] by the archive's validation and testing lists."""
    valid, test = _read_list(data_dir, "validation_list.txt"), _read_list(data_dir, "testing_list.txt")
    known = set()
    splits: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    for word, clips in scan_words(data_dir).items():
        for clip in clips:
            known.add(clip)
            split = "test" if clip in test else "valid" if clip in valid else "train"
            splits[split].append((clip, word))
    missing = sorted((valid | test) - known)
    if missing:
        raise DataError(f"{data_dir}: {missing[0]} is in a split list but not in the archive")
    return splits


def _speaker(clip: str) -> str:
    return PurePosixPath(clip).name.split("_nohash_")[0]


def _utterance(path: Path, manifest_dir: Path, label: str, speaker: str, id: str) -> Utterance:
    duration = round(_duration(path), 6)
    return Utterance(audio=os.path.relpath(path, manifest_dir), duration=duration, speaker=speaker, label=label, id=id)


def write_word_manifests(data_dir: Path, manifest_dir: Path, *, quiet: bool = False) -> dict[str, int]:
    """``sc35_<split>.jsonl`` for every split; returns the count per split."""
    counts = {}
    for split, clips in split_words(data_dir).items():
        utterances = [
            _utterance(data_dir / clip, manifest_dir, word, _speaker(clip), clip[: -len(".wav")])
            for clip, word in _progress(clips, quiet, desc=f"sc35 {split}", unit="clip")
        ]
        counts[split] = write_manifest(manifest_dir / f"sc35_{split}.jsonl", utterances)
    return counts


def cut_noise_regions(data_dir: Path, out_dir: Path) -> dict[str, list[Path]]:
    """Write each background recording's train/valid/test time region as 16 kHz WAVs under ``out_dir/<split>/``.

    A recording whose region for a split is shorter than one clip is skipped for that split, with a
    warning on stderr naming it.

    Raises:
        DataError: no recordings, or a split that gets no noise region at all.
    """
    from speechrnn.audio import load_audio

    sources = sorted((data_dir / BACKGROUND).glob("*.wav"))
    if not sources:
        raise DataError(f"{data_dir / BACKGROUND}: no background noise recordings")
    regions: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for source in sources:
        audio = load_audio(source, SAMPLE_RATE)
        for split, (start, end) in NOISE_REGIONS.items():
            part = audio[int(start * len(audio)) : int(end * len(audio))]
            if len(part) < CLIP_SECONDS * SAMPLE_RATE:
                print(f"warning: {source}: too short to cut a {CLIP_SECONDS:g} s {split} clip from its region; "
                      f"not used for {split}", file=sys.stderr)  # fmt: skip
                continue
            target = out_dir / split / source.name
            _write_wav(target, part)
            regions[split].append(target)
    for split, parts in regions.items():
        if not parts:
            short = f"no recording is long enough for a {CLIP_SECONDS:g} s {split} clip"
            raise DataError(f"{data_dir / BACKGROUND}: {short}")
    return regions


def _write_wav(path: Path, audio: np.ndarray) -> None:
    with atomic_write(path) as f:
        sf.write(f, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, format="WAV", subtype="PCM_16")


def cut_silence_clips(regions: list[Path], count: int, out_dir: Path, rng: random.Random) -> list[Path]:
    """``count`` one-second clips at random offsets of random ``regions``, scaled by a gain in [0, 1]."""
    from speechrnn.audio import load_audio

    sources = [load_audio(p, SAMPLE_RATE) for p in regions]
    length = int(CLIP_SECONDS * SAMPLE_RATE)
    clips = []
    for i in range(count):
        source = rng.randrange(len(sources))
        start = rng.randrange(len(sources[source]) - length + 1)
        gain = rng.uniform(0.0, 1.0)
        path = out_dir / f"silence_{i:05d}.wav"
        _write_wav(path, sources[source][start : start + length] * gain)
        clips.append(path)
    return clips


def build_task12(
    data_dir: Path, root: Path, manifest_dir: Path, *, seed: int = SEED, quiet: bool = False
) -> dict[str, Counter]:
    """Write ``sc12_<split>.jsonl`` and ``noise.jsonl``; returns the label counts per split."""
    rng = random.Random(seed)
    regions = cut_noise_regions(data_dir, root / "noise")
    write_manifest(
        manifest_dir / "noise.jsonl",
        [_utterance(p, manifest_dir, "noise", "", f"noise/train/{p.stem}") for p in regions["train"]],
    )
    counts = {}
    for split, clips in split_words(data_dir).items():
        commands = [(c, w) for c, w in clips if w in COMMANDS]
        others = [(c, w) for c, w in clips if w not in COMMANDS]
        rng.shuffle(others)
        unknown = others[: math.ceil(len(commands) * UNKNOWN_PERCENT / 100)]
        silence_dir = root / "silence" / split
        silence = cut_silence_clips(regions[split], math.ceil(len(commands) * SILENCE_PERCENT / 100), silence_dir, rng)
        utterances = [
            _utterance(data_dir / c, manifest_dir, w if w in COMMANDS else UNKNOWN, _speaker(c), c[: -len(".wav")])
            for c, w in _progress(sorted(commands + unknown), quiet, desc=f"sc12 {split}", unit="clip")
        ]
        utterances += [_utterance(p, manifest_dir, SILENCE, "", f"silence/{split}/{p.stem}") for p in silence]
        write_manifest(manifest_dir / f"sc12_{split}.jsonl", utterances)
        counts[split] = Counter(u.label for u in utterances)
    return counts


def prepare(
    root: str | os.PathLike,
    *,
    url: str = URL,
    sha256: str | None = None,
    seed: int = SEED,
    quiet: bool = False,
) -> Path:
    """Run every stage not yet done under ``root``; returns the manifest folder.

    ``sha256=None`` checks the published checksum when ``url`` is the official one.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data_dir, manifest_dir = root / DATA_FOLDER, root / "manifests"
    if sha256 is None and url == URL:
        sha256 = ARCHIVE_SHA256
    archive = root / (PurePosixPath(urlparse(url).path).name or "speech_commands_v0.02.tar.gz")

    def say(message: str) -> None:
        if not quiet:
            print(message)

    if is_done(root, "download"):
        say("download: done already")
    else:
        download_file(url, archive, sha256=sha256, quiet=quiet, check=check_archive)  # done = a verified archive
        mark_done(root, "download", {"url": url, "sha256": sha256})
    if is_done(root, "extract"):
        say("extract: done already")
    else:
        extract_archive(archive, data_dir, quiet=quiet)
        _read_list(data_dir, "validation_list.txt")
        _read_list(data_dir, "testing_list.txt")
        mark_done(root, "extract")
    if is_done(root, "manifests"):
        say("manifests (35 words): done already")
    else:
        counts = write_word_manifests(data_dir, manifest_dir, quiet=quiet)
        words = len(scan_words(data_dir))
        mark_done(root, "manifests", {"words": words, **counts})
        say(f"35-word task ({words} words found): " + ", ".join(f"{s} {n}" for s, n in counts.items()))
    if is_done(root, "task12"):
        say("task12: done already")
    else:
        counts12 = build_task12(data_dir, root, manifest_dir, seed=seed, quiet=quiet)
        mark_done(root, "task12", {"seed": seed, **{s: dict(c) for s, c in counts12.items()}})
        for split, counter in counts12.items():
            say(
                f"12-class {split}: {sum(counter.values())} clips "
                f"({counter[UNKNOWN]} {UNKNOWN}, {counter[SILENCE]} {SILENCE})"
            )
    say(f"manifests in {manifest_dir}")
    return manifest_dir
