"""How many of a new speaker's clips speaker normalisation needs: leave-one-speaker-out accuracy
with each held-out speaker's statistics taken from K of its clips (unlabelled), drawn at random.

Scores all 500 clips of each fold (closed-set, 200 ms padding, as run.sh stage 3) with the
fold's model ``<exp>/<run>_<speaker>/best.pt`` (a model with speaker normalisation, e.g. Cn):

    python recipes/fsdd/local/speaker_enrolment.py [--run loso_cn] [--clips 1 5 20 100 500] [--draws 3]

Prints, per K, the mean over the six folds (median over draws of K clips) and each fold's figure.
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

from speechrnn.data.fsdd import SPEAKERS
from speechrnn.data.manifest import read_manifest
from speechrnn.evaluate import evaluate
from speechrnn.model import load_model


def accuracy(model, clips, enrolment) -> float:
    report = evaluate(model, clips, decoders=("closed_set",), quiet=True, pad_seconds=0.2, speaker_utterances=enrolment)
    return 100 * report["metrics"]["closed_set"]["utterance_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", default="exp/fsdd", help="experiment folder (default exp/fsdd)")
    parser.add_argument("--data", default="data/fsdd", help="prepared FSDD manifests (default data/fsdd)")
    parser.add_argument("--run", default="loso_cn", help="model per fold: <exp>/<run>_<speaker> (default loso_cn)")
    parser.add_argument("--clips", type=int, nargs="+", default=[1, 5, 20, 100, 500], help="clips per speaker")
    parser.add_argument("--draws", type=int, default=3, help="random draws of K < 500 clips (default 3)")
    args = parser.parse_args()
    print(f"| clips of the held-out speaker | mean of 6 folds | {' | '.join(SPEAKERS)} |")
    print("|---:|---:|" + "---:|" * len(SPEAKERS))
    models = {s: load_model(Path(args.exp) / f"{args.run}_{s}" / "best.pt") for s in SPEAKERS}
    for k in args.clips:
        per_fold = {}
        for speaker in SPEAKERS:
            clips = read_manifest(Path(args.data) / "isolated" / "loso" / speaker / "test.jsonl")
            draws = 1 if k >= len(clips) else args.draws
            rng = random.Random(f"{speaker}:{k}")
            per_fold[speaker] = statistics.median(
                accuracy(models[speaker], clips, rng.sample(clips, min(k, len(clips)))) for _ in range(draws)
            )
        folds = " | ".join(f"{per_fold[s]:.1f} %" for s in SPEAKERS)
        print(f"| {k} | {statistics.mean(per_fold.values()):.1f} % | {folds} |", flush=True)


if __name__ == "__main__":
    main()
