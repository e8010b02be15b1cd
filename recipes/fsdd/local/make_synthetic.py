"""Synthetic digits for training and testing: espeak-ng, flite, festival, Pico and accented voices.

Writes, under ``--output`` (default ``data/synth``):

* ``train.jsonl`` / ``test.jsonl``: espeak-ng connected digits; the training and held-out test
  voices are disjoint (female and male, several accents), so the test measures generalisation to
  voices the model never heard;
* ``tts/recordings/``: isolated digits from flite and festival voices (built from real speakers'
  recordings) in FSDD's file layout, each voice at five vocal-tract scalings;
* ``pico/recordings/``: the same for the two Pico voices (``pip install ttspico``);
* ``accent/recordings/``: the same for accented English, 24 espeak-ng voices of 8 other languages
  (French, Belgian French, German, Greek, Spanish, Italian, Portuguese, Dutch; female and male) and
  Pico's French, German, Spanish and Italian voices, each saying the digits respelled in its own
  language (``synth.ACCENT_RESPELLINGS``);
* ``tts_deep/``, ``pico_deep/`` and ``accent_deep/``: connected digits joined from those clips by
  ``prepare_fsdd`` with deep random edge crops (``--edge-crop-ms 150``, at most 35 % of a clip per edge),
  as run.sh stage 0 cuts the FSDD clips of each leave-one-speaker-out fold.

    python recipes/fsdd/local/make_synthetic.py --output data/synth [--train 5000] [--tts-train 4000]
"""

import argparse
from pathlib import Path

from speechrnn.data.fsdd import prepare_fsdd
from speechrnn.data.synth import (
    ACCENT_VOICES,
    ENGINES,
    ESPEAK_VOICES,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    PICO_VOICES,
    engine_available,
    make_digit_corpus,
    make_digit_recordings,
    split_voice,
)

HELD_OUT_VOICES = (
    "en-us+f3",  # the voice of speechrnn/assets/example_digits.wav
    "en-us+f4",
    "en-gb-scotland+f2",
    "en+linda",
    "en+m3",
    "en-029+m5",
    "en-gb-x-rp+david",
)
TRAIN_VOICES = tuple(v for v in ESPEAK_VOICES if v not in HELD_OUT_VOICES)
TTS_VOICES = FLITE_VOICES + FESTIVAL_VOICES


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="data/synth")
    parser.add_argument("--train", type=int, default=5000, help="espeak-ng connected-digit training utterances")
    parser.add_argument("--test", type=int, default=400, help="held-out-voice test utterances")
    parser.add_argument("--tts-takes", type=int, default=12, help="flite/festival takes per voice and digit")
    parser.add_argument("--tts-train", type=int, default=4000, help="connected digits from flite/festival clips")
    parser.add_argument("--pico-takes", type=int, default=20, help="pico takes per voice and digit")
    parser.add_argument("--pico-train", type=int, default=2000, help="connected digits from pico clips")
    parser.add_argument("--accent-takes", type=int, default=6, help="accented takes per voice and digit")
    parser.add_argument("--accent-train", type=int, default=2000, help="connected digits from accented clips")
    parser.add_argument("--edge-crop-ms", type=float, default=150.0, help="edge crops of the connected joins")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    output = Path(args.output)
    make_digit_corpus(output, args.train, voices=TRAIN_VOICES, seed=args.seed, split_name="train", quiet=False)
    make_digit_corpus(output, args.test, voices=HELD_OUT_VOICES, seed=args.seed + 1, split_name="test", quiet=False)
    for name, voices, takes, count in (("tts", TTS_VOICES, args.tts_takes, args.tts_train),
                                       ("pico", PICO_VOICES, args.pico_takes, args.pico_train),
                                       ("accent", ACCENT_VOICES, args.accent_takes, args.accent_train)):  # fmt: skip
        installed = tuple(v for v in voices if engine_available(split_voice(v)[0]))
        if not installed:
            missing = sorted({ENGINES[split_voice(v)[0]][1] for v in voices})
            print(f"{name}: synthesiser not installed, skipping its voices ({'; '.join(missing)})")
            continue
        make_digit_recordings(output / name, installed, takes=takes, seed=args.seed, quiet=False)
        joined = dict(seed=args.seed, test_speaker="none", connected_train=count, connected_valid=0, connected_test=0)
        prepare_fsdd(output / name, output / f"{name}_deep", edge_crop_ms=args.edge_crop_ms, edge_crop_fraction=0.35,
                     **joined)  # fmt: skip


if __name__ == "__main__":
    main()
