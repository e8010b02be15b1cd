"""Synthesise the bundled example ``speechrnn/assets/example_digits.wav`` with espeak-ng.

The file says EXAMPLE_TEXT = "four two seven one" in a female US-English voice at a moderate
speed, 16 kHz 16-bit mono, with a short silence before and after. It is ours (not FSDD).
The bundled model must transcribe it as exactly EXAMPLE_TEXT (tests/test_transcribe.py).

    python scripts/make_example.py [--output PATH] [--voice en-us+f3] [--speed 150]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from speechrnn.atomic import atomic_write
from speechrnn.data.synth import synthesize

EXAMPLE_TEXT = "four two seven one"
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "speechrnn" / "assets" / "example_digits.wav"
SILENCE_SECONDS = 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--voice", default="en-us+f3")
    parser.add_argument("--speed", type=int, default=150, help="words per minute")
    parser.add_argument("--pitch", type=int, default=50)
    parser.add_argument("--word-gap", type=int, default=3, help="extra pause between words, 10 ms units")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        raw = Path(folder) / "speech.wav"
        synthesize(EXAMPLE_TEXT, args.voice, raw, speed=args.speed, pitch=args.pitch, word_gap=args.word_gap)
        audio, rate = sf.read(raw, dtype="float32")
    # trim espeak-ng's own silence, then add a fixed pad so the file starts and ends quietly
    voiced = np.flatnonzero(np.abs(audio) > 1e-3)
    audio = audio[voiced[0] : voiced[-1] + 1]
    pad = np.zeros(int(SILENCE_SECONDS * rate), dtype=np.float32)
    audio = np.concatenate([pad, 0.8 * audio / np.abs(audio).max(), pad])
    with atomic_write(args.output) as f:
        sf.write(f, audio, rate, subtype="PCM_16", format="WAV")
    size = args.output.stat().st_size
    print(f"{args.output}: {EXAMPLE_TEXT!r}, voice {args.voice}, {len(audio) / rate:.2f} s, {rate} Hz, {size} bytes")


if __name__ == "__main__":
    main()
