"""CTC transcripts of word clips: each clip's ``text`` is the word spoken in it, for a word-CTC model.

    python recipes/fsdd/local/spoken_words.py --output OUT.jsonl MANIFEST...
        [--keep WORD ... [--drop-others | --others N]]

The inputs are the commands recipe's manifests (``recipes/commands/run.sh`` stages 0-1): real Speech
Commands clips (``text`` is the word), wake phrases and synthetic words (the word is the first folder
of the row's ``id``, e.g. ``alexa/50``), ``_silence_`` clips (nothing is said: ``text`` = "").
``--keep`` keeps only those words in the transcripts: any other clip gets ``text`` = "" (for a digits
model: other speech and noise are trained to give no word at all), or with ``--drop-others`` is left out;
``--others N`` keeps a seeded sample of N of them, after the clips of kept words.
"""

import argparse
import random
from dataclasses import replace
from pathlib import Path

from speechrnn.data.manifest import Utterance, read_manifest, write_manifest

SILENCE = "_silence_"


def spoken_word(utterance: Utterance) -> str:
    """The word said in a one-word clip; "" for a ``_silence_`` clip."""
    if utterance.label == SILENCE:
        return ""
    if utterance.text:
        return utterance.text
    if utterance.label and not utterance.label.startswith("_"):
        return utterance.label
    if utterance.id and "/" in utterance.id:
        return utterance.id.split("/", 1)[0]
    raise SystemExit(f"{utterance.audio}: no word in its text, label or id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifests", nargs="+", type=Path)
    parser.add_argument("--output", required=True, type=Path)
    parser.add_argument("--keep", nargs="*", default=None, metavar="WORD", help="only these words (default: all)")
    parser.add_argument("--drop-others", action="store_true", help="leave out clips of words not kept")
    parser.add_argument("--others", type=int, default=None, metavar="N", help="keep N clips of words not kept")
    parser.add_argument("--seed", type=int, default=0, help="of the --others sample (default 0)")
    args = parser.parse_args()
    rows = []
    for manifest in args.manifests:
        for utterance in read_manifest(manifest):
            word = spoken_word(utterance).lower()
            if args.keep is not None and word not in args.keep:
                if args.drop_others:
                    continue
                word = ""
            rows.append(replace(utterance, text=word))
    if args.others is not None:
        others = [u for u in rows if not u.text]
        random.Random(args.seed).shuffle(others)
        rows = [u for u in rows if u.text] + others[: args.others]
    said = sum(bool(u.text) for u in rows)
    print(f"{args.output}: {write_manifest(args.output, rows)} clips, {said} with a word")


if __name__ == "__main__":
    main()
