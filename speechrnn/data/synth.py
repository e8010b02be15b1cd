"""Synthetic speech with espeak-ng: single phrases and connected-digit corpora.

``synthesize`` renders text with one espeak-ng voice to a 16-bit WAV at 16 kHz (espeak-ng
writes 22.05 kHz; we resample with soxr through ``speechrnn.audio.load_audio``).
``make_digit_corpus`` draws random digit strings ("four two seven") and renders each with a
random voice, speed and pitch, deterministically for a seed, and writes a JSONL manifest.

Voices are "<language>[+<variant>]" names of espeak-ng; every variant below exists in
espeak-ng 1.51+ (``espeak-ng --voices=variant``; names are case-sensitive and an unknown
variant silently falls back to the default voice, so the test suite checks them).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from speechrnn.atomic import atomic_write
from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.data.fsdd import DIGIT_WORDS
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.errors import AudioError, DataError

# English accents (espeak-ng "languages"), alone and with female, male and klatt variants
ESPEAK_ACCENTS = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-029",
    "en-gb-scotland",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)

ESPEAK_VOICES: tuple[str, ...] = (
    *ESPEAK_ACCENTS,
    "en-us+f1", "en-us+f2", "en-us+f3", "en-us+f4", "en-us+f5",
    "en+f2", "en+f3", "en+f4",
    "en-gb-x-rp+f1", "en-gb-scotland+f2", "en-029+f3", "en-us-nyc+f4", "en-gb-x-gbclan+f5",
    "en-us+Annie", "en+Alicia", "en-gb-x-rp+Andrea", "en-us+belinda", "en+linda", "en-us+steph", "en+anika",
    "en+m1", "en+m2", "en+m3", "en+m4", "en+m5", "en+m6", "en+m7",
    "en-us+m1", "en-us+m3", "en-us+m8", "en-gb-x-rp+m2", "en-gb-scotland+m4", "en-029+m5", "en-us-nyc+m6",
    "en+klatt", "en-us+klatt2", "en+klatt3", "en-us+Andy", "en-gb-x-rp+david", "en+max",
)  # fmt: skip
DEFAULT_SPEEDS = (125, 140, 155, 170, 185, 200)  # words per minute
DEFAULT_PITCHES = (20, 35, 50, 65, 80)  # espeak-ng pitch, 0-99


def espeak_binary() -> str:
    """Path of the espeak-ng program; DataError if it is not on PATH."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise DataError("espeak-ng not found on PATH: install it (apt-get install espeak-ng) to synthesise speech")
    return binary


def synthesize(
    text: str,
    voice: str,
    path: str | os.PathLike,
    *,
    speed: int = 160,
    pitch: int = 50,
    word_gap: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> float:
    """Render ``text`` with espeak-ng ``voice`` to a mono 16-bit WAV at ``sample_rate``; returns seconds.

    Args:
        text: what to say (a comma gives a short pause).
        voice: espeak-ng voice, e.g. "en-us+f3".
        path: the WAV to write (atomically; folders are created).
        speed: words per minute (espeak-ng ``-s``, 80-450).
        pitch: 0-99 (espeak-ng ``-p``).
        word_gap: extra pause between words in units of 10 ms (espeak-ng ``-g``).

    Raises:
        DataError: espeak-ng missing, failing (e.g. unknown voice) or producing no audio.
    """
    if not text.strip():
        raise DataError("synthesize: text is empty")
    binary = espeak_binary()
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="speechrnn-espeak-") as folder:
        raw = Path(folder) / "espeak.wav"
        command = [binary, "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(word_gap), "-w", str(raw), text]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DataError(f"espeak-ng failed for voice {voice!r}: {error}") from None
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise DataError(
                f"espeak-ng failed for voice {voice!r}: {reason[0] if reason else f'exit {done.returncode}'}"
            )
        try:
            audio = load_audio(raw, sample_rate)
        except AudioError as error:
            raise DataError(f"espeak-ng produced no usable audio for voice {voice!r} ({error})") from None
    with atomic_write(path) as f:
        sf.write(f, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return len(audio) / sample_rate


def _digit_phrase(rng: random.Random, count: int) -> tuple[str, str]:
    """(text, spoken): "four two seven" and the same with an occasional comma pause for espeak-ng."""
    words = [rng.choice(DIGIT_WORDS) for _ in range(count)]
    spoken = words[0]
    for word in words[1:]:
        spoken += ("," if rng.random() < 0.15 else "") + " " + word
    return " ".join(words), spoken


def make_digit_corpus(
    output_dir: str | os.PathLike,
    count: int,
    *,
    voices: Sequence[str] = ESPEAK_VOICES,
    seed: int = 0,
    min_digits: int = 1,
    max_digits: int = 7,
    speeds: Sequence[int] = DEFAULT_SPEEDS,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    split_name: str = "train",
    isolated: int = 0,
    quiet: bool = True,
) -> list[Utterance]:
    """Synthesise ``count`` connected-digit utterances (+ ``isolated`` single digits) and a manifest.

    Each utterance draws a length in [min_digits, max_digits], digits, a voice from ``voices``,
    a speed from ``speeds`` and a pitch from ``pitches`` with ``random.Random(seed)``, so the
    same arguments give the same corpus. Isolated digits cycle through zero..nine and carry a
    ``label`` as well as ``text``.

    Writes ``<output_dir>/<split_name>/<split_name>_<index>.wav`` and the manifest
    ``<output_dir>/<split_name>.jsonl`` (audio paths relative to it).

    Returns:
        The utterances, with absolute audio paths (as ``read_manifest`` would give them).
    """
    if not voices:
        raise DataError("make_digit_corpus: no voices given")
    if not 1 <= min_digits <= max_digits:
        raise DataError(f"make_digit_corpus: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    if count < 0 or isolated < 0:
        raise DataError("make_digit_corpus: count and isolated must be >= 0")
    espeak_binary()
    output_dir = Path(output_dir)
    rng = random.Random(seed)
    plans = []
    for index in range(count + isolated):
        if index < count:
            text, spoken = _digit_phrase(rng, rng.randint(min_digits, max_digits))
            label = text if " " not in text else None
        else:
            text = spoken = label = DIGIT_WORDS[(index - count) % len(DIGIT_WORDS)]
        plans.append(
            (index, text, spoken, label, rng.choice(list(voices)), rng.choice(list(speeds)), rng.choice(list(pitches)))
        )

    progress = plans
    if not quiet:
        from tqdm import tqdm

        progress = tqdm(plans, desc=f"synthesising {split_name}", unit="utt")
    relative, utterances = [], []
    for index, text, spoken, label, voice, speed, pitch in progress:
        name = f"{split_name}/{split_name}_{index:06d}.wav"
        duration = synthesize(spoken, voice, output_dir / name, speed=speed, pitch=pitch)
        common = dict(duration=round(duration, 4), speaker=f"espeak:{voice}", label=label, text=text)
        utt_id = f"{split_name}_{index:06d}"
        relative.append(Utterance(audio=name, id=utt_id, **common))
        utterances.append(Utterance(audio=str((output_dir / name).resolve()), id=utt_id, **common))
    write_manifest(output_dir / f"{split_name}.jsonl", relative)
    return utterances
