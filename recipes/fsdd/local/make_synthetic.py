"""Synthetic digits for training and testing: espeak-ng, flite and festival voices.

Writes, under ``--output`` (default ``data/synth``):

* ``train.jsonl`` / ``test.jsonl``: espeak-ng connected digits; the training and held-out test
  voices are disjoint (female and male, several accents), so the test measures generalisation to
  voices the model never heard;
* ``tts/recordings/``: isolated digits from flite and festival voices (built from real speakers'
  recordings) in FSDD's file layout, each voice at five vocal-tract scalings, and
  ``tts/connected/train.jsonl``: connected digits joined from them by ``prepare_fsdd``.

    python recipes/fsdd/local/make_synthetic.py --output data/synth [--train 5000] [--tts-train 4000]
"""

import argparse
import shutil
from pathlib import Path

from speechrnn.data.fsdd import prepare_fsdd
from speechrnn.data.synth import (
    ENGINES,
    ESPEAK_VOICES,
    FESTIVAL_VOICES,
    FLITE_VOICES,
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
    parser.add_argument("--isolated", type=int, default=0, help="espeak-ng single-digit training utterances")
    parser.add_argument("--test", type=int, default=400, help="held-out-voice test utterances")
    parser.add_argument("--tts-takes", type=int, default=12, help="flite/festival takes per voice and digit")
    parser.add_argument("--tts-train", type=int, default=4000, help="connected digits from flite/festival clips")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    output = Path(args.output)
    make_digit_corpus(output, args.train, voices=TRAIN_VOICES, seed=args.seed, split_name="train",
                      isolated=args.isolated, quiet=False)  # fmt: skip
    make_digit_corpus(output, args.test, voices=HELD_OUT_VOICES, seed=args.seed + 1, split_name="test", quiet=False)
    voices = tuple(v for v in TTS_VOICES if shutil.which(ENGINES[split_voice(v)[0]][0]))  # installed engines only
    if not voices:
        print("flite and festival not installed: skipping their voices (apt-get install flite festival ...)")
        return
    make_digit_recordings(output / "tts", voices, takes=args.tts_takes, seed=args.seed, quiet=False)
    prepare_fsdd(output / "tts", output / "tts", seed=args.seed, test_speaker="none", connected_train=args.tts_train,
                 connected_valid=0, connected_test=0)  # fmt: skip


if __name__ == "__main__":
    main()
