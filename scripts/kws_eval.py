#!/usr/bin/env python
"""Keyword detection on a long stream: misses and false alarms per hour (issue 3, item 5).

    python scripts/kws_eval.py [--out-dir exp/kws] [--epochs 8] [--repeats 2] [--retrain] [--set KEY=VALUE ...]

The construction (all real speech for the keyword/non-keyword contrast, no voice shortcut):

- keywords: the even FSDD digits ("zero", "two", "four", "six", "eight");
- ``_unknown_``: the odd FSDD digits (same six speakers, so voice says nothing about the class)
  plus espeak-ng renderings of non-digit words (different word lists for training and test);
- ``_silence_``: background noise alone (white, pink or brown, -70 to -30 dBFS).

Training examples are 1 s windows (the detector's window) with the clip at a random offset
over random background noise. FSDD takes 10-49 train, 5-9 validate; the test stream uses only
the official test takes 0-4 and test-only espeak words: every clip appears ``--repeats``
times in random order with random gaps (0.3-2 s) and noise-only stretches, over continuous
background noise. The classifier is ``recipes/fsdd/configs/isolated.toml`` (global
normalisation so that windows are scored like training examples) trained with ``speechrnn train``.
``KeywordSpotter`` then runs over the stream in 100 ms chunks; a detection is a hit when it
overlaps a not-yet-matched occurrence of its keyword (+-0.5 s), otherwise a false alarm. The
window posteriors are computed once and replayed for a sweep of thresholds.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from speechrnn.atomic import atomic_write

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
KEYWORDS = ("zero", "two", "four", "six", "eight")
TRAIN_WORDS = (
    "yes no up down left right on off stop go hello window table water light music house river green "
    "happy paper yellow coffee garden system"
).split()
TEST_WORDS = "bird cat dog forward backward follow learn sheila tree wow marvin visual bed".split()
VOICES = ("en-us", "en", "en-gb-x-rp", "en-us+f2", "en+f3", "en+m3", "en-029", "en-gb-scotland+f2")
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--out-dir", default=str(ROOT / "exp" / "kws"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2, help="times each test clip appears in the stream")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training override (repeat)")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


def background(rng: np.random.Generator, samples: int, level_db: float | None = None) -> np.ndarray:
    """White, pink-ish or brown-ish noise at ``level_db`` dBFS RMS (random in [-70, -30] by default)."""
    white = rng.standard_normal(samples + 64)
    kind = rng.integers(3)
    if kind == 1:  # pink-ish: average of a few octave-spaced moving averages
        noise = sum(np.convolve(white, np.ones(w) / np.sqrt(w), mode="same") for w in (1, 4, 16, 64))
    elif kind == 2:  # brown-ish: leaky integration
        from scipy.signal import lfilter

        noise = lfilter([1.0], [1.0, -0.995], white)
    else:
        noise = white
    noise = noise[64:]
    level_db = rng.uniform(-70, -30) if level_db is None else level_db
    noise *= 10 ** (level_db / 20) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return noise.astype(np.float32)


def fsdd_clips(takes: range) -> list[tuple[str, np.ndarray]]:
    """(digit word, 16 kHz audio) for every speaker and digit with take index in ``takes``."""
    from speechrnn.audio import load_audio
    from speechrnn.data.fsdd import fsdd_root

    folder = fsdd_root() / "recordings"
    clips = []
    for path in sorted(folder.glob("*.wav")):
        digit, _speaker, take = path.stem.split("_")
        if int(take) in takes:
            clips.append((DIGITS[int(digit)], load_audio(path, RATE)))
    if not clips:
        raise SystemExit(f"kws_eval: no FSDD recordings under {folder}")
    return clips


def espeak_clips(words, folder: Path, seed: int) -> list[tuple[str, np.ndarray]]:
    from speechrnn.audio import load_audio
    from speechrnn.data.synth import synthesize

    rng = random.Random(seed)
    clips = []
    for word in words:
        for voice in VOICES:
            path = folder / f"{word}_{voice.replace('+', '_')}.wav"
            if not path.is_file():
                synthesize(word, voice, path, speed=rng.randint(130, 200), pitch=rng.randint(30, 70))
            audio = load_audio(path, RATE)
            clips.append(("_unknown_", audio[: RATE * 9 // 10]))
    return clips


def label_of(word: str) -> str:
    return word if word in KEYWORDS else "_unknown_"


def write_windows(clips, folder: Path, rng: np.random.Generator, silence: int) -> Path:
    """1 s windows (clip at a random offset over background) + ``silence`` noise-only windows -> manifest."""
    from speechrnn.data.manifest import Utterance, write_manifest

    folder.mkdir(parents=True, exist_ok=True)
    utterances = []
    items = [(label_of(word), audio) for word, audio in clips] + [("_silence_", None)] * silence
    for i, (label, audio) in enumerate(items):
        window = background(rng, RATE)
        if audio is not None:
            audio = audio[:RATE] * 10 ** (rng.uniform(-10, 3) / 20)
            offset = rng.integers(0, RATE - audio.size + 1)
            window[offset : offset + audio.size] += audio
        elif rng.random() < 0.3:  # a louder noise burst is still silence
            burst = background(rng, RATE // 4, level_db=rng.uniform(-35, -20))
            offset = rng.integers(0, RATE - burst.size)
            window[offset : offset + burst.size] += burst
        path = folder / f"{i:05d}.wav"
        sf.write(path, np.clip(window, -1, 1), RATE, subtype="PCM_16")
        utterances.append(
            Utterance(audio=f"{folder.name}/{path.name}", duration=1.0, label=label, id=f"{folder.name}_{i:05d}")
        )
    manifest = folder.with_suffix(".jsonl")
    write_manifest(manifest, utterances)
    return manifest


def build_stream(clips, rng: np.random.Generator, repeats: int):
    """Concatenate clips (and noise-only stretches) with gaps over continuous background noise."""
    items = [(word, audio) for word, audio in clips for _ in range(repeats)]
    noise_items = [("_noise_", None) for _ in range(len(clips) * repeats // 5)]
    items += noise_items
    order = rng.permutation(len(items))
    pieces, truth, position = [], [], 0
    for index in order:
        word, audio = items[index]
        gap = int(rng.uniform(0.3, 2.0) * RATE)
        pieces.append(np.zeros(gap, dtype=np.float32))
        position += gap
        if audio is None:
            audio = background(rng, int(rng.uniform(0.3, 1.5) * RATE), rng.uniform(-40, -20))
        else:
            audio = audio * 10 ** (rng.uniform(-10, 3) / 20)
            if word in KEYWORDS:
                truth.append((word, position / RATE, (position + audio.size) / RATE))
        pieces.append(audio.astype(np.float32))
        position += audio.size
    stream = np.concatenate(pieces)
    # continuous background whose level changes every 10 s
    for begin in range(0, stream.size, 10 * RATE):
        part = stream[begin : begin + 10 * RATE]
        part += background(rng, part.size)
    return np.clip(stream, -1, 1), truth


def train(args, train_manifest: Path, valid_manifest: Path) -> Path:
    out_dir = Path(args.out_dir) / "model"
    if (out_dir / "best.pt").is_file() and not args.retrain:
        return out_dir / "best.pt"
    overrides = [
        f"data.train={train_manifest}", f"data.valid={valid_manifest}", f"train.out_dir={out_dir}",
        "model.normalization=global", f"train.epochs={args.epochs}", "data.num_workers=1", *args.set,
    ]  # fmt: skip
    command = [sys.executable, "-m", "speechrnn", "train", str(ROOT / "recipes/fsdd/configs/isolated.toml"), "--quiet"]
    for override in overrides:
        command += ["--set", override]
    print(" ".join(command), file=sys.stderr, flush=True)
    start = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT)
    (out_dir / "train_seconds.txt").write_text(f"{time.monotonic() - start:.1f}\n")
    return out_dir / "best.pt"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from speechrnn import load_model
    from speechrnn.kws import KeywordConfig, KeywordSpotter, score_detections

    out_dir = Path(args.out_dir)
    rng = np.random.default_rng(args.seed)
    train_manifest, valid_manifest = out_dir / "windows_train.jsonl", out_dir / "windows_valid.jsonl"
    if not (train_manifest.is_file() and valid_manifest.is_file()) or args.retrain:
        espeak_train = espeak_clips(TRAIN_WORDS, out_dir / "espeak", args.seed)
        write_windows(fsdd_clips(range(10, 50)) + espeak_train, out_dir / "windows_train", rng, silence=400)
        write_windows(fsdd_clips(range(5, 10)) + espeak_train[::4], out_dir / "windows_valid", rng, silence=50)
    checkpoint = train(args, train_manifest, valid_manifest)
    model = load_model(checkpoint)

    test_clips = fsdd_clips(range(0, 5)) + espeak_clips(TEST_WORDS, out_dir / "espeak", args.seed + 1)
    stream, truth = build_stream(test_clips, np.random.default_rng(args.seed + 2), args.repeats)
    duration = stream.size / RATE
    sf.write(out_dir / "test_stream.wav", stream, RATE, subtype="PCM_16")
    (out_dir / "test_stream_truth.json").write_text(json.dumps(truth))

    posteriors = []
    spotter = KeywordSpotter(model, KeywordConfig(threshold=1.0))
    start = time.perf_counter()
    for begin in range(0, stream.size, RATE // 10):
        spotter.accept(stream[begin : begin + RATE // 10])
        posteriors.append(spotter._posteriors[-1][1])
    compute = time.perf_counter() - start
    rows = []
    for threshold in THRESHOLDS:
        replay = iter(posteriors)
        replayed = KeywordSpotter(model, KeywordConfig(threshold=threshold), scorer=lambda _, r=replay: next(r))
        events = []
        for begin in range(0, stream.size, RATE // 10):
            events += replayed.accept(stream[begin : begin + RATE // 10])
        rows.append({"threshold": threshold, **score_detections(events, truth, duration)})
    report = {
        "stream_minutes": round(duration / 60, 2),
        "keyword_occurrences": len(truth),
        "rtf": compute / duration,
        "checkpoint": str(checkpoint),
        "rows": rows,
    }
    lines = [
        f"KWS on a {duration / 60:.1f} min stream, {len(truth)} keyword occurrences "
        f"({', '.join(KEYWORDS)}); window 1 s, hop 100 ms, smoothing 3, refractory 1 s; RTF {report['rtf']:.3f}",
        "",
        "| threshold | detections | misses | miss rate | false alarms | false alarms / hour |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['threshold']:.1f} | {row['detections']} | {row['misses']} | {100 * row['miss_rate']:.1f}% | "
            f"{row['false_alarms']} | {row['false_alarms_per_hour']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    for path, content in (
        (out_dir / "kws_report.md", text),
        (out_dir / "kws_report.json", json.dumps(report, indent=2)),
    ):
        with atomic_write(path, "w") as f:
            f.write(content)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
