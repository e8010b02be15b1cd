"""Synthetic connected/isolated digits from espeak-ng voices, for the bundled model.

Training voices and held-out test voices are disjoint (female and male, several accents), so
the held-out set measures generalisation to voices the model never heard.

    python recipes/fsdd/local/make_synthetic.py --output data/synth [--train 4000] [--test 400]
"""

import argparse

from speechrnn.data.synth import ESPEAK_VOICES, make_digit_corpus

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--train", type=int, default=4000, help="connected-digit training utterances")
    parser.add_argument("--isolated", type=int, default=1000, help="extra single-digit training utterances")
    parser.add_argument("--test", type=int, default=400, help="held-out-voice test utterances")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    make_digit_corpus(args.output, args.train, voices=TRAIN_VOICES, seed=args.seed, split_name="train",
                      isolated=args.isolated, quiet=False)
    make_digit_corpus(args.output, args.test, voices=HELD_OUT_VOICES, seed=args.seed + 1, split_name="test",
                      quiet=False)


if __name__ == "__main__":
    main()
