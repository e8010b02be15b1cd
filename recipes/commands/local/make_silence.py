"""One-second ``_silence_`` clips for training: real background noise at random levels, coloured noise
(white, pink, brown) at random levels, and near-digital silence with dither, in equal turns.

    python recipes/commands/local/make_silence.py --source TRAIN.jsonl --output data/commands/silence --count 400

The real noise is the ``_silence_`` clips of ``--source`` (the training speakers' split). Writes
``<output>/<n>.wav``, ``<output>.jsonl`` (label ``_silence_``) and ``<output>_noise.jsonl`` (those real
noise clips, for ``data.noise``: additive-noise augmentation); seeded.
"""

import argparse
from pathlib import Path

import numpy as np
import soundfile as sf

from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.augment import coloured_noise
from speechrnn.data.manifest import Utterance, read_manifest, write_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="manifest whose _silence_ clips are the real background noise")
    parser.add_argument("--output", required=True)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    output = Path(args.output)
    real = [u for u in read_manifest(args.source) if u.label == "_silence_"]
    write_manifest(Path(f"{output}_noise.jsonl"), real)
    noise = [u.audio for u in real]
    output.mkdir(parents=True, exist_ok=True)
    utterances = []
    for i in range(args.count):
        kind = i % 4
        if kind == 0:  # real background noise
            clip = load_audio(noise[rng.integers(len(noise))])[:SAMPLE_RATE] * rng.uniform(0.02, 1.0)
        elif kind in (1, 2):  # coloured noise from -80 to -6 dB full scale
            clip = coloured_noise(rng, SAMPLE_RATE, float(rng.choice([0.0, 1.0, 2.0])))
            clip = clip / (np.abs(clip).max() + 1e-9) * 10 ** rng.uniform(-4, -0.3)
        else:  # near-digital silence
            clip = rng.standard_normal(SAMPLE_RATE) * 10 ** rng.uniform(-5, -3)
        path = output / f"{i}.wav"
        sf.write(path, np.clip(clip, -1, 1).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
        utterances.append(Utterance(audio=str(path.resolve()), duration=len(clip) / SAMPLE_RATE, label="_silence_",
                                    id=f"silence/{i}"))  # fmt: skip
    write_manifest(output.with_suffix(".jsonl"), utterances)
    print(f"{len(utterances)} silence clips in {output}")


if __name__ == "__main__":
    main()
