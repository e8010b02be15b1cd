"""Real spoken digits from the real-speech share, for the bundled digits model (stage 6).

    python recipes/fsdd/local/real_digits.py --realspeech DIR --fsdd-valid data/fsdd/connected/valid.jsonl --output DIR

Writes ``real_digits_train.jsonl`` (the isolated digit words of the training speakers: the official test
set's ``_unknown_`` digit clips and the v0.01 sample's digit folders; ``speechrnn.data.realspeech``) and
``valid.jsonl``: the validation speakers' digit clips together with the first 60 utterances of FSDD's
connected-digit validation set, so the checkpoint is picked on real voices it never heard without
losing sight of digit strings; and ``noise.jsonl``, the training split's ``_silence_`` clips (real
background noise, for ``data.noise``).
"""

import argparse
from dataclasses import replace
from pathlib import Path

from speechrnn.data.manifest import read_manifest, write_manifest
from speechrnn.data.realspeech import commands_set, digits_set, split_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realspeech", required=True, type=Path)
    parser.add_argument("--fsdd-valid", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args()
    clips = digits_set(args.realspeech)
    train, valid = ([replace(clip.utterance, label=None) for clip in split_set(clips, split)]
                    for split in ("train", "valid"))  # fmt: skip
    print(f"real_digits_train: {write_manifest(args.output / 'real_digits_train.jsonl', train)}")
    noise = [clip.utterance for clip in split_set(commands_set(args.realspeech), "train")
             if clip.utterance.label == "_silence_"]  # fmt: skip
    print(f"noise: {write_manifest(args.output / 'noise.jsonl', noise)}")
    strings = read_manifest(args.fsdd_valid)[:60]
    print(f"valid: {write_manifest(args.output / 'valid.jsonl', [*strings, *valid])} ({len(valid)} real clips)")


if __name__ == "__main__":
    main()
