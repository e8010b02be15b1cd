"""Free Spoken Digit Dataset (FSDD): locate, download (pinned commit) and prepare manifests.

``speechrnn prepare fsdd --output DIR [--source DIR] [--download] [--url URL] [--seed N]
[--test-speaker NAME] [--quiet]`` writes, under ``DIR``:

* ``isolated/official/{train,test}.jsonl``: the dataset's own split (indices 0-4 test, 5-49 train),
  ``label`` = digit word ("zero".."nine"), audio paths absolute (the source recordings, 8 kHz).
* ``isolated/loso/<speaker>/{train,valid,test}.jsonl`` for each speaker: test = all of that speaker,
  valid = indices 0-4 of the other five, train = indices 5-49 of the other five.
* ``connected/{train,valid,test}.jsonl`` + ``connected/wav/<split>/*.wav`` (16 kHz, 16-bit): seeded
  digit strings of 1..``max_digits`` digits, each from ONE speaker's isolated clips joined by 60-300 ms
  pauses (silence or very low noise) with a short lead-in/out; ``text`` like "four two seven".
  train/valid use the five speakers other than ``test_speaker`` (valid from clip indices 0-4, train
  from 5-49: disjoint clips); test uses only ``test_speaker``. Word times go to
  ``connected/<split>_alignments.jsonl`` ({"id", "words": [{"word", "start", "end", "clip"}]}, clip =
  the source recording's file name).

Each stage leaves a completion marker (``.done-<stage>`` with its parameters) so a re-run with the
same parameters skips it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from speechrnn.atomic import atomic_write
from speechrnn.data.download import (
    check_archive,
    download_file,
    extract_archive,
    mark_done,
    progress_disabled,
    read_marker,
    sha256sum,
)
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.errors import DataError

COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
URL = f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{COMMIT}.tar.gz"
# Digest of the recordings at COMMIT: sha256 over the sorted lines "<file name> <sha256 of file>\n"
# of recordings/*.wav (see ``recordings_digest``). GitHub archives are generated on the fly, so the
# archive's own digest is not stable; the extracted recordings are what we verify.
RECORDING_COUNT = 3000
RECORDINGS_SHA256 = "dbd573d7cafe79c4b49f65718115e1304e24e067fa39eff18a660dc6cb9c360f"

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
TEST_INDICES = range(0, 5)  # the official test split; also the LOSO / connected validation clips
CONNECTED_RATE = 16000
EDGE_CROP_FRACTION = 0.2  # default: an edge crop cuts at most a fifth of a clip per side
_NAME = re.compile(r"^(\d)_([A-Za-z][A-Za-z0-9-]*)_(\d+)\.wav$")  # speaker: FSDD names, or synthetic "flite-rms-t108"
_SPLIT_STREAMS = {"train": 0, "valid": 1, "test": 2}


def fsdd_root() -> Path:
    """The local FSDD copy: ``$SPEECHRNN_FSDD``, else ``<repo>/../shared/data/fsdd``, else
    ``<cwd>/../shared/data/fsdd``; the first that holds ``recordings/``.

    Raises:
        DataError: none of them does (the message says how to set ``SPEECHRNN_FSDD``).
    """
    candidates = []
    if os.environ.get("SPEECHRNN_FSDD"):
        candidates.append(Path(os.environ["SPEECHRNN_FSDD"]).expanduser())
    candidates.append(Path(__file__).resolve().parents[3] / "shared/data/fsdd")
    candidates.append(Path.cwd().parent / "shared/data/fsdd")
    for candidate in candidates:
        if (candidate / "recordings").is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(
        f"Free Spoken Digit Dataset not found (looked in {looked}); set SPEECHRNN_FSDD to a folder "
        "containing recordings/, or run 'speechrnn prepare fsdd --download'"
    )


def recordings_digest(recordings: str | os.PathLike) -> tuple[int, str]:
    """(number of ``*.wav`` files, sha256 over their sorted "<name> <sha256>\\n" lines)."""
    files = sorted(p for p in Path(recordings).iterdir() if p.suffix == ".wav" and p.is_file())
    lines = "".join(f"{p.name} {sha256sum(p)}\n" for p in files)
    return len(files), hashlib.sha256(lines.encode()).hexdigest()


def download_fsdd(
    target_dir: str | os.PathLike,
    url: str | None = None,
    *,
    expected_count: int = RECORDING_COUNT,
    expected_digest: str = RECORDINGS_SHA256,
    quiet: bool = False,
) -> Path:
    """Download the pinned FSDD archive and install ``target_dir/recordings`` (verified).

    The archive (``url``, default the GitHub archive of ``COMMIT``) is fetched with resume and retries,
    extracted safely, and its ``recordings/`` checked against ``expected_count`` files and
    ``expected_digest`` (see ``recordings_digest``) before it is moved into place. Skipped when a
    previous run completed (marker ``.done-download``).

    Returns:
        ``target_dir`` (pass it as ``source_dir`` to ``prepare_fsdd``).

    Raises:
        DataError: download failure, unsafe or unreadable archive, no recordings folder, or recordings
            that do not match the expected digest (the archive is then deleted).
    """
    target_dir = Path(target_dir)
    url = url or URL
    info = {"count": expected_count, "digest": expected_digest}
    if read_marker(target_dir, "download") == info and (target_dir / "recordings").is_dir():
        return target_dir
    target_dir.mkdir(parents=True, exist_ok=True)
    archive = target_dir / f"free-spoken-digit-dataset-{COMMIT[:12]}.tar.gz"
    staging = target_dir / ".extracted"
    if staging.exists():
        shutil.rmtree(staging)
    download_file(url, archive, quiet=quiet, check=check_archive)
    try:
        extract_archive(archive, staging, quiet=quiet)
        found = [d / "recordings" for d in [staging, *sorted(staging.iterdir())] if (d / "recordings").is_dir()]
        if len(found) != 1:
            raise DataError(f"{url}: expected one recordings/ folder in the archive, found {len(found)}")
        count, digest = recordings_digest(found[0])
        if (count, digest) != (expected_count, expected_digest):
            archive.unlink(missing_ok=True)
            raise DataError(
                f"{url}: recordings do not match the pinned FSDD commit ({count} files with digest {digest}; "
                f"expected {expected_count} files with digest {expected_digest})"
            )
        final = target_dir / "recordings"
        if final.exists():
            shutil.rmtree(final)
        os.rename(found[0], final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)
    mark_done(target_dir, "download", info)
    return target_dir


# --------------------------------------------------------------------------- preparation


def _recordings_folder(source_dir: Path) -> Path:
    if not source_dir.is_dir():
        raise DataError(f"{source_dir}: no such folder (expected the FSDD folder holding recordings/)")
    return source_dir / "recordings" if (source_dir / "recordings").is_dir() else source_dir


def scan_recordings(source_dir: str | os.PathLike) -> list[tuple[int, str, int, Path]]:
    """Sorted (digit, speaker, index, absolute path) of ``source_dir[/recordings]/*.wav``.

    Raises:
        DataError: a missing folder, no recordings, or a WAV whose name is not ``{digit}_{speaker}_{index}.wav``.
    """
    folder = _recordings_folder(Path(source_dir)).resolve()
    entries = []
    for path in folder.iterdir():
        if path.suffix != ".wav":
            continue
        match = _NAME.match(path.name)
        if not match:
            raise DataError(f"{path}: not an FSDD recording name (expected {{digit}}_{{speaker}}_{{index}}.wav)")
        entries.append((int(match[1]), match[2], int(match[3]), path))
    if not entries:
        raise DataError(f"{folder}: no FSDD recordings (*.wav) found")
    return sorted(entries, key=lambda e: (e[1], e[0], e[2]))


def _is_test_index(index: int) -> bool:
    return index in TEST_INDICES


def _isolated_manifests(recordings: list[tuple[int, str, int, Path]], quiet: bool) -> dict[str, list[Utterance]]:
    utterances = []
    progress = tqdm(recordings, desc="fsdd isolated", disable=progress_disabled(quiet), leave=False)
    for digit, speaker, index, path in progress:
        info = sf.info(str(path))
        duration = round(info.frames / info.samplerate, 6)
        utterances.append(
            (
                index,
                Utterance(audio=str(path), duration=duration, speaker=speaker, label=DIGIT_WORDS[digit], id=path.stem),
            )
        )
    manifests = {
        "isolated/official/train.jsonl": [u for i, u in utterances if not _is_test_index(i)],
        "isolated/official/test.jsonl": [u for i, u in utterances if _is_test_index(i)],
    }
    for held_out in sorted({u.speaker for _, u in utterances}):
        others = [(i, u) for i, u in utterances if u.speaker != held_out]
        manifests[f"isolated/loso/{held_out}/train.jsonl"] = [u for i, u in others if not _is_test_index(i)]
        manifests[f"isolated/loso/{held_out}/valid.jsonl"] = [u for i, u in others if _is_test_index(i)]
        manifests[f"isolated/loso/{held_out}/test.jsonl"] = [u for _, u in utterances if u.speaker == held_out]
    return manifests


def _pause(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    """A pause of uniform(low, high) seconds: digital silence or very low noise (-75..-55 dBFS RMS)."""
    samples = int(round(rng.uniform(low, high) * CONNECTED_RATE))
    if rng.random() < 0.5:
        return np.zeros(samples, dtype=np.float32)
    level = 10.0 ** (rng.uniform(-75.0, -55.0) / 20.0)
    return (rng.standard_normal(samples) * level).astype(np.float32)


def _connected_split(
    split: str,
    pools: dict[tuple[str, int], list[Path]],
    speakers: list[str],
    count: int,
    seed: int,
    max_digits: int,
    output_dir: Path,
    quiet: bool,
    edge_crop: float = 0.0,
    edge_crop_fraction: float = EDGE_CROP_FRACTION,
) -> tuple[list[Utterance], list[dict]]:
    """Generate ``count`` connected-digit WAVs for one split; returns (utterances, alignments).

    ``edge_crop`` > 0 (seconds): each clip loses uniform(0, edge_crop) seconds at its start and,
    independently, at its end, each with probability 1/2 and never more than ``edge_crop_fraction``
    of the clip per side, so the model also learns words whose onset or coda a tight trim cut off.
    """
    from speechrnn.audio import load_audio

    rng = np.random.default_rng([seed, _SPLIT_STREAMS[split]])
    cache: dict[Path, np.ndarray] = {}
    wav_dir = output_dir / "connected" / "wav" / split
    if wav_dir.exists():
        shutil.rmtree(wav_dir)  # stale files of an unfinished or differently parameterised run
    utterances, alignments = [], []
    for number in tqdm(range(count), desc=f"fsdd connected {split}", disable=progress_disabled(quiet), leave=False):
        speaker = speakers[rng.integers(len(speakers))]
        digits = rng.integers(0, 10, size=int(rng.integers(1, max_digits + 1)))
        pieces, words, position = [], [], 0
        for k, digit in enumerate(digits):
            pause = _pause(rng, 0.05, 0.25) if k == 0 else _pause(rng, 0.06, 0.30)
            pool = pools[(speaker, int(digit))]
            clip_path = pool[rng.integers(len(pool))]
            if clip_path not in cache:
                cache[clip_path] = load_audio(clip_path, CONNECTED_RATE)
            clip = cache[clip_path]
            if edge_crop > 0:
                limit = min(edge_crop, edge_crop_fraction * len(clip) / CONNECTED_RATE)
                cuts = [
                    int(rng.uniform(0, limit) * CONNECTED_RATE) * (rng.random() < 0.5) for _ in range(2)
                ]  # start, end
                clip = clip[cuts[0] : len(clip) - cuts[1]]
            pieces += [pause, clip]
            start = position + len(pause)
            position = start + len(clip)
            words.append(
                {
                    "word": DIGIT_WORDS[digit],
                    "start": round(start / CONNECTED_RATE, 4),
                    "end": round(position / CONNECTED_RATE, 4),
                    "clip": clip_path.name,
                }
            )
        pieces.append(_pause(rng, 0.05, 0.25))
        audio = np.clip(np.concatenate(pieces), -1.0, 32767 / 32768)
        utterance_id = f"{split}_{number:05d}"
        relative = f"wav/{split}/{utterance_id}.wav"
        with atomic_write(output_dir / "connected" / relative) as f:
            sf.write(f, audio, CONNECTED_RATE, format="WAV", subtype="PCM_16")
        text = " ".join(w["word"] for w in words)
        utterances.append(
            Utterance(
                audio=relative,
                duration=round(len(audio) / CONNECTED_RATE, 6),
                speaker=speaker,
                text=text,
                id=utterance_id,
            )
        )
        alignments.append({"id": utterance_id, "words": words})
    return utterances, alignments


def prepare_fsdd(
    source_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    seed: int = 0,
    test_speaker: str = "theo",
    connected_train: int = 3000,
    connected_valid: int = 300,
    connected_test: int = 500,
    max_digits: int = 7,
    edge_crop_ms: float = 0.0,
    edge_crop_fraction: float = EDGE_CROP_FRACTION,
    quiet: bool = False,
) -> dict:
    """Write the isolated and connected FSDD manifests (see the module docstring) under ``output_dir``.

    Args:
        source_dir: the FSDD folder (holding ``recordings/``) or the recordings folder itself.
        output_dir: created if needed.
        seed: seeds the connected-digit generation (same seed -> identical manifests and WAV bytes).
        test_speaker: the speaker reserved for the connected test split; "none" keeps every speaker
            in train/valid (takes 5-49 / 0-4, the official split) and writes no connected test.
        connected_train, connected_valid, connected_test: utterances per connected split.
        max_digits: the longest digit string.
        edge_crop_ms: in the connected train split, cut up to this many ms off each clip's start
            and end at random (see ``_connected_split``); 0 keeps clips whole.
        edge_crop_fraction: the most of a clip one edge crop may cut (0 < fraction < 0.5).

    Returns:
        {"manifests": {relative manifest path: utterances}, "skipped": [stages already done]}.

    Raises:
        DataError: a missing source folder, no recordings, an unknown ``test_speaker``, bad counts.
    """
    source_dir, output_dir = Path(source_dir), Path(output_dir)
    recordings = scan_recordings(source_dir)
    speakers = sorted({speaker for _, speaker, _, _ in recordings})
    if test_speaker in ("", "none"):  # no held-out speaker: connected train/valid from all (official split)
        test_speaker, connected_test = "", 0
    elif test_speaker not in speakers:
        raise DataError(f"test speaker {test_speaker!r} is not in {source_dir} (speakers: {', '.join(speakers)})")
    if edge_crop_ms < 0:
        raise DataError(f"edge_crop_ms must be >= 0, got {edge_crop_ms}")
    if not 0 < edge_crop_fraction < 0.5:
        raise DataError(f"edge_crop_fraction must be in (0, 0.5), got {edge_crop_fraction}")
    if max_digits < 1 or min(connected_train, connected_valid, connected_test) < 0:
        raise DataError(
            f"max_digits must be >= 1 and connected counts >= 0, got {max_digits} and "
            f"{connected_train}/{connected_valid}/{connected_test}"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    source = str(_recordings_folder(source_dir).resolve())
    result: dict = {"manifests": {}, "skipped": []}

    stage_info = {"source": source, "recordings": len(recordings)}
    if read_marker(output_dir, "isolated") == stage_info:
        result["skipped"].append("isolated")
    else:
        for relative, utterances in _isolated_manifests(recordings, quiet).items():
            write_manifest(output_dir / relative, utterances)
        mark_done(output_dir, "isolated", stage_info)

    train_speakers = [s for s in speakers if s != test_speaker]
    pools: dict[str, dict[tuple[str, int], list[Path]]] = {s: defaultdict(list) for s in _SPLIT_STREAMS}
    for digit, speaker, index, path in recordings:
        if speaker == test_speaker:
            pools["test"][(speaker, digit)].append(path)
        else:
            pools["valid" if _is_test_index(index) else "train"][(speaker, digit)].append(path)
    plan = {
        "train": (connected_train, train_speakers),
        "valid": (connected_valid, train_speakers),
        "test": (connected_test, [test_speaker] if test_speaker else []),
    }
    for split, (count, split_speakers) in plan.items():
        stage = f"connected-{split}"
        crop = edge_crop_ms / 1000 if split == "train" else 0.0
        info = {"source": source, "seed": seed, "count": count, "max_digits": max_digits, "speakers": split_speakers}
        if crop:
            info.update(edge_crop_ms=edge_crop_ms, edge_crop_fraction=edge_crop_fraction)
        if read_marker(output_dir, stage) == info:
            result["skipped"].append(stage)
            continue
        missing = [f"{s}/{d}" for s in split_speakers for d in range(10) if not pools[split][(s, d)]]
        if count and missing:
            raise DataError(f"{source}: no {split} clips for speaker/digit {missing[0]} (incomplete recordings)")
        utterances, alignments = _connected_split(
            split, pools[split], split_speakers, count, seed, max_digits, output_dir, quiet, crop, edge_crop_fraction
        )
        if utterances:
            write_manifest(output_dir / "connected" / f"{split}.jsonl", utterances)
        with atomic_write(output_dir / "connected" / f"{split}_alignments.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(row) + "\n" for row in alignments)
        mark_done(output_dir, stage, info)

    for manifest in sorted(output_dir.glob("isolated/**/*.jsonl")) + sorted(output_dir.glob("connected/*.jsonl")):
        if not manifest.name.endswith("_alignments.jsonl"):
            with open(manifest, encoding="utf-8") as f:
                result["manifests"][manifest.relative_to(output_dir).as_posix()] = sum(1 for line in f if line.strip())
    return result
