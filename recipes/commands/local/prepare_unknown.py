"""Real speech that is none of the commands, labelled ``_unknown_``: wake phrases and FSDD digits.

    python recipes/commands/local/prepare_unknown.py --realspeech DIR --fsdd DIR --output data/commands/manifests

Writes ``wake_words_{train,valid}.jsonl`` (the share's ``wake_words/<phrase>/<n>.flac``; they name no
speaker, so the split is by clip, ``speakers.split_key``) and ``fsdd_unknown.jsonl`` (a seeded sample of
FSDD's recordings; its six speakers are not in the real-speech share). Each manifest keeps at most
``--per-source`` clips, seeded, so that ``_unknown_`` does not outnumber a command many times over.
"""

import argparse
import random
from pathlib import Path

import soundfile as sf

from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.data.speakers import split_utterances


def clips(folder: Path, pattern: str, speaker_of) -> list[Utterance]:
    utterances = []
    for path in sorted(folder.glob(pattern)):
        try:
            duration = sf.info(str(path)).duration
        except (RuntimeError, sf.LibsndfileError):  # the share leaves out FLACs that do not decode; be safe
            continue
        utterances.append(Utterance(audio=str(path.resolve()), duration=duration, speaker=speaker_of(path),
                                    label="_unknown_", id=f"{path.parent.name}/{path.stem}"))  # fmt: skip
    return utterances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realspeech", required=True, type=Path)
    parser.add_argument("--fsdd", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--per-source", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    wake = split_utterances(clips(args.realspeech / "wake_words", "*/*.flac", lambda p: ""))
    for split, utterances in wake.items():
        rng.shuffle(utterances)
        count = write_manifest(args.output / f"wake_words_{split}.jsonl", utterances[: args.per_source])
        print(f"wake_words_{split}: {count}")
    fsdd = clips(args.fsdd / "recordings", "*.wav", lambda p: "fsdd-" + p.stem.split("_")[1])
    rng.shuffle(fsdd)
    print(f"fsdd_unknown: {write_manifest(args.output / 'fsdd_unknown.jsonl', fsdd[: args.per_source])}")


if __name__ == "__main__":
    main()
