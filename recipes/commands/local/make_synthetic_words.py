"""Synthetic voices saying the ten commands and many other words, for the bundled commands model.

Writes, under ``--output`` (default ``data/commands/synth``), one-second clips in the Speech Commands
layout and two manifests:

* ``commands.jsonl``: the ten commands, every English voice (espeak-ng, flite, festival, pico) at three
  vocal-tract scalings;
* ``unknown.jsonl``: other words, labelled ``_unknown_``: the other words of Speech Commands and
  words that sound like a command ("yet", "know", "cup", "bright", ...), each by a seeded sample of
  the voices, so that near-misses of a command are heard as not that command.

    python recipes/commands/local/make_synthetic_words.py --output data/commands/synth
"""

import argparse
import random
from pathlib import Path

from speechrnn.data.manifest import write_manifest
from speechrnn.data.synth import (
    ESPEAK_VOICES,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    PICO_VOICES,
    engine_available,
    make_word_clips,
    split_voice,
)

COMMANDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
OTHER_SPEECH_COMMANDS_WORDS = (
    "backward", "bed", "bird", "cat", "dog", "eight", "five", "follow", "forward", "four", "happy", "house",
    "learn", "marvin", "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "visual", "wow", "zero",
)  # fmt: skip
SOUND_ALIKES = (
    "yet", "yeah", "yell", "less", "know", "now", "note", "snow", "cup", "pup", "town", "gown", "sound",
    "lift", "lived", "left over", "write", "light", "night", "bright", "ride", "own", "in", "an", "of",
    "oft", "cough", "stock", "stuck", "top", "shop", "step", "goal", "go on", "gold", "ago",
    "okay", "hello", "hey", "start", "pause", "play", "next", "back", "open", "close", "turn", "music",
    "water", "maybe", "never", "under", "around", "dollar", "often", "upper",
)  # fmt: skip
TRACT_FACTORS = (0.9, 1.0, 1.12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="data/commands/synth")
    parser.add_argument("--unknown-voices", type=int, default=5, help="voices sampled for each non-command word")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # absolute paths in the manifests: a relative one would be read from the manifest's folder
    output = Path(args.output).resolve()
    voices = [v for v in (*ESPEAK_VOICES, *FLITE_VOICES, *FESTIVAL_VOICES, *PICO_VOICES)
              if engine_available(split_voice(v)[0])]  # fmt: skip
    print(f"{len(voices)} voices")
    commands = make_word_clips(output / "words", COMMANDS, voices, tract_factors=TRACT_FACTORS, seed=args.seed,
                               quiet=False)  # fmt: skip
    write_manifest(output / "commands.jsonl", commands)
    rng = random.Random(args.seed)
    unknown = []
    for word in (*OTHER_SPEECH_COMMANDS_WORDS, *SOUND_ALIKES):
        sample = rng.sample(voices, min(args.unknown_voices, len(voices)))
        unknown += make_word_clips(output / "unknown" / word.replace(" ", "_"), [word], sample,
                                   tract_factors=(0.95, 1.08), label_of={word: "_unknown_"},
                                   seed=rng.randrange(2**31))  # fmt: skip
    write_manifest(output / "unknown.jsonl", unknown)
    print(f"{len(commands)} command clips, {len(unknown)} unknown clips in {output}")


if __name__ == "__main__":
    main()
