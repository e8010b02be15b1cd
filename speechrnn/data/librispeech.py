"""LibriSpeech (OpenSLR 12): download, safe extraction, character-level CTC manifests.

``speechrnn prepare librispeech --root DIR --parts train-clean-100,dev-clean,test-clean
[--url-base URL] [--min-duration 1] [--max-duration 20]``

For each part, stages ``download-<part>``, ``extract-<part>`` and ``manifest-<part>`` run
unless their completion markers exist. Archives are checked against the SHA-256 sums that
TensorFlow Datasets (``url_checksums/librispeech.txt``) and torchaudio
(``datasets/librispeech.py``) publish for the OpenSLR files, when the default URL base is
used; with another ``--url-base`` a part is checked only if ``--sha256 part=HEX`` is given.

Manifests: ``DIR/manifests/<part>.jsonl`` with ``text`` lower-cased (letters, apostrophe,
space), ``speaker``, ``id`` and ``duration`` from the FLAC header (soundfile.info); the
character vocabulary is written to ``DIR/manifests/chars.txt``. Training parts (names
starting with ``train``) drop utterances shorter than ``--min-duration`` or longer than
``--max-duration`` seconds, and the count dropped is reported; dev and test parts are kept
whole so that word error rates stay comparable with published ones.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from speechrnn.data.download import (
    check_archive,
    download_file,
    extract_archive,
    is_done,
    mark_done,
    progress_disabled,
)
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.data.vocab import CHAR_VOCABULARY, check_text, write_vocabulary
from speechrnn.errors import DataError

URL_BASE = "https://www.openslr.org/resources/12/"
PARTS = ("dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500")
# (bytes, SHA-256) of the OpenSLR archives, from TensorFlow Datasets / torchaudio
ARCHIVES = {
    "dev-clean": (337_926_286, "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
    "dev-other": (314_305_928, "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
    "test-clean": (346_663_984, "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
    "test-other": (328_757_843, "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
    "train-clean-100": (6_387_309_499, "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
    "train-clean-360": (23_049_477_885, "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
    "train-other-500": (30_593_501_606, "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
}


def read_part(part_dir: Path, manifest_dir: Path, *, quiet: bool = False) -> list[Utterance]:
    """Every transcribed utterance of an extracted part (``LibriSpeech/<part>``), sorted by id."""
    transcripts = sorted(part_dir.glob("*/*/*.trans.txt"))
    if not transcripts:
        raise DataError(f"{part_dir}: no */*/*.trans.txt transcripts; is it an extracted LibriSpeech part?")
    utterances = []
    for transcript in tqdm(transcripts, disable=progress_disabled(quiet), desc=part_dir.name, unit="chapter"):
        for number, line in enumerate(transcript.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            uid, _, text = line.strip().partition(" ")
            where = f"{transcript}:{number}"
            if not text.strip():
                raise DataError(f"{where}: no transcript text for {uid}")
            audio = transcript.parent / f"{uid}.flac"
            if not audio.is_file():
                raise DataError(f"{where}: audio {audio.name} is missing")
            try:
                info = sf.info(str(audio))
            except Exception as error:  # noqa: BLE001 - libsndfile raises several types
                raise DataError(f"{audio}: unreadable audio ({str(error).splitlines()[0]})") from None
            utterances.append(
                Utterance(
                    audio=os.path.relpath(audio, manifest_dir),
                    duration=round(info.frames / info.samplerate, 6),
                    speaker=uid.split("-")[0],
                    text=check_text(text, where=where),
                    id=uid,
                )
            )
    return sorted(utterances, key=lambda u: u.id)


def filter_durations(
    utterances: list[Utterance], min_duration: float, max_duration: float
) -> tuple[list[Utterance], int]:
    """Keep utterances with ``min_duration <= duration <= max_duration``; returns (kept, number dropped)."""
    kept = [u for u in utterances if min_duration <= u.duration <= max_duration]
    return kept, len(utterances) - len(kept)


def prepare(
    root: str | os.PathLike,
    parts: list[str],
    *,
    url_base: str = URL_BASE,
    sha256: dict[str, str] | None = None,
    min_duration: float = 1.0,
    max_duration: float = 20.0,
    quiet: bool = False,
) -> Path:
    """Download, extract and write manifests for ``parts`` under ``root``; returns the manifest folder."""
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise DataError(f"unknown LibriSpeech part {unknown[0]!r} (known: {', '.join(PARTS)})")
    if not parts:
        raise DataError("no LibriSpeech parts given")
    if min_duration > max_duration:
        raise DataError(f"--min-duration {min_duration} is above --max-duration {max_duration}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    manifest_dir = root / "manifests"
    sha256 = dict(sha256 or {})
    base = url_base if url_base.endswith("/") else url_base + "/"

    def say(message: str) -> None:
        if not quiet:
            print(message)

    for part in parts:
        archive = root / f"{part}.tar.gz"
        if not is_done(root, f"download-{part}"):
            checksum = sha256.get(part) or (ARCHIVES[part][1] if base == URL_BASE else None)
            download_file(f"{base}{part}.tar.gz", archive, sha256=checksum, quiet=quiet, check=check_archive)
            mark_done(root, f"download-{part}", {"url": f"{base}{part}.tar.gz", "sha256": checksum})
        if not is_done(root, f"extract-{part}"):
            # each archive holds LibriSpeech/<part>/ (plus shared README files): extract on its own,
            # then move the part into root/LibriSpeech/ next to the parts already there
            staging = root / f".extract-{part}"
            shutil.rmtree(staging, ignore_errors=True)
            extract_archive(archive, staging, quiet=quiet)
            extracted = staging / "LibriSpeech" / part
            if not extracted.is_dir():
                shutil.rmtree(staging, ignore_errors=True)
                raise DataError(f"{archive}: did not contain LibriSpeech/{part}/")
            target = root / "LibriSpeech" / part
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(extracted, target)
            shutil.rmtree(staging, ignore_errors=True)
            mark_done(root, f"extract-{part}")
        if is_done(root, f"manifest-{part}"):
            say(f"{part}: done already")
            continue
        utterances = read_part(root / "LibriSpeech" / part, manifest_dir, quiet=quiet)
        dropped = 0
        if part.startswith("train"):
            utterances, dropped = filter_durations(utterances, min_duration, max_duration)
        if not utterances:
            raise DataError(f"{part}: no utterances left between {min_duration} and {max_duration} s")
        count = write_manifest(manifest_dir / f"{part}.jsonl", utterances)
        hours = sum(u.duration for u in utterances) / 3600
        mark_done(root, f"manifest-{part}", {"utterances": count, "dropped": dropped, "hours": round(hours, 3)})
        dropped_note = ""
        if part.startswith("train"):
            dropped_note = f"; dropped {dropped} outside [{min_duration:g}, {max_duration:g}] s"
        say(f"{part}: {count} utterances, {hours:.2f} h{dropped_note}")
    write_vocabulary(manifest_dir / "chars.txt", CHAR_VOCABULARY)
    say(f"manifests in {manifest_dir}")
    return manifest_dir
