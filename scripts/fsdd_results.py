#!/usr/bin/env python
"""Collect the FSDD recipe's evaluation reports into the tables of recipes/fsdd/RESULTS.md.

    python scripts/fsdd_results.py [--exp exp/fsdd]

Reads ``<exp>/<run>/eval_*/report.json`` (written by ``speechrnn evaluate``) and
``<exp>/<run>/log.csv`` (training time), and prints Markdown tables: every task; the
leave-one-speaker-out system V2 speaker by speaker, with the pseudo-labels of each self-training
round; and V2's most frequent confusions (from its ``eval_test/predictions.jsonl``).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import statistics
from pathlib import Path

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
MODELS = ("c", "c2", "f", "x")  # run.sh stage 3: the four models of each fold, adapted by local/self_train.sh
ADAPTED = tuple(f"v{r}{m}" for r in (1, 2) for m in MODELS)  # loso_v1c_<speaker>, ... (the fine-tunings)
SYSTEMS = (  # run prefix (loso_<prefix>_<speaker>), name
    ("cnc2nfnxn", "Cn + C2n + Fn + Xn (speaker normalisation, before adaptation)"),
    ("v1", "V1: round 1 of self-training"),
    ("v2", "V2: round 2 (reported)"),
)


def report(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def train_minutes(run: Path) -> str:
    log = run / "log.csv"
    if not log.is_file():
        return "-"
    rows = list(csv.DictReader(log.open()))
    return f"{float(rows[-1]['elapsed_s']) / 60:.1f}" if rows else "-"


def closed_set_accuracy(rep: dict) -> float:
    return 100 * rep["metrics"]["closed_set"]["utterance_accuracy"]


def wer(rep: dict, decoder: str) -> float:
    return 100 * rep["metrics"][decoder]["wer"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", default="exp/fsdd")
    exp = Path(parser.parse_args().exp)
    table(exp)
    loso_table(exp)
    confusion_table(exp)


def table(exp: Path) -> None:
    """One row per task and test set."""
    print("| task | model | test set | result | train time (min) |")
    print("|---|---|---|---|---|")
    rep = report(exp / "official_ctc/eval_test/report.json")
    if rep:
        print(
            "| isolated digits | 2x128 BiGRU-CTC on connected digits, closed-set scoring "
            f"| official test (takes 0-4, all speakers) | accuracy {closed_set_accuracy(rep):.2f} % "
            f"| {train_minutes(exp / 'official_ctc')} |"
        )
    folds = {s: report(exp / f"loso_v2_{s}/eval_test/report.json") for s in SPEAKERS}
    done = {s: closed_set_accuracy(r) for s, r in folds.items() if r}
    if done:
        label = "mean of 6 folds" if len(done) == 6 else f"mean of {len(done)} of 6 folds"
        minutes = [train_minutes(exp / f"loso_{run}_{s}") for s in done for run in (*MODELS, *ADAPTED)]
        total = sum(float(m) for m in minutes if m != "-")
        print(
            "| isolated digits | V2: four BiGRU-CTC models (C, C2, F, X), speaker normalisation, two rounds of "
            f"self-training on the held-out speaker's unlabelled clips | leave-one-speaker-out, {label} "
            f"| accuracy {statistics.mean(done.values()):.2f} % | {total / len(done):.1f} per fold |"
        )
    for run, name in (
        ("connected_bidir", "2x128 BiGRU-CTC, full utterance, FSDD only"),
        (
            "bundled",
            "bundled: chunked BiGRU-CTC (2+1 x 80 ms) over the speech embedding, FSDD + synthetic voices + the "
            "real-speech share's training speakers",
        ),
    ):
        for eval_dir, test in (
            ("eval_test", "connected, held-out speaker theo"),
            ("eval_synth_heldout", "connected, 7 held-out espeak-ng voices"),
        ):
            rep = report(exp / run / eval_dir / "report.json")
            if rep:
                print(
                    f"| connected digits | {name} | {test} | WER {wer(rep, 'greedy'):.2f} % greedy, "
                    f"{wer(rep, 'beam'):.2f} % beam | {train_minutes(exp / run)} |"
                )


def pseudo_label_accuracy(exp: Path, run: str) -> str:
    """'kept, accuracy' of a self-training round's pseudo-labels, checked against the references
    in the round's evaluation (the labels are used here, after the fact, and nowhere else)."""
    pseudo, scored = exp / run / "pseudo.jsonl", exp / run / "eval_test/predictions.jsonl"
    if not (pseudo.is_file() and scored.is_file()):
        return "-"
    truth = {p["id"]: p["reference"] for p in map(json.loads, scored.open())}
    labels = [json.loads(line) for line in pseudo.open()]
    correct = sum(truth[u["id"]] == u["label"] for u in labels)
    return f"{len(labels)}, {100 * correct / len(labels):.1f} %"


def loso_table(exp: Path) -> None:
    """Per held-out speaker: closed-set accuracy of the four normalised models before adaptation, of V1
    and of V2, and the pseudo-labels each self-training round kept and how many of them were right."""
    columns = [SYSTEMS[0][1]]
    for run, name in SYSTEMS[1:]:
        columns += [f"{run.upper()} pseudo-labels kept, correct", name]
    print("\nleave-one-speaker-out, closed-set accuracy on the held-out speaker's 500 clips:\n")
    print("| held-out speaker | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    scores = {run: [] for run, _ in SYSTEMS}
    for speaker in SPEAKERS:
        cells = []
        for run, _ in SYSTEMS:
            if run != SYSTEMS[0][0]:
                cells.append(pseudo_label_accuracy(exp, f"loso_{run}_{speaker}"))
            rep = report(exp / f"loso_{run}_{speaker}/eval_test/report.json")
            if rep:
                scores[run].append(closed_set_accuracy(rep))
            cells.append(f"{closed_set_accuracy(rep):.1f} %" if rep else "-")
        print(f"| {speaker} | " + " | ".join(cells) + " |")
    means = [f"{statistics.mean(s):.2f} %" if len(s) == len(SPEAKERS) else "-" for s in scores.values()]
    print(f"| mean | {means[0]} | | {means[1]} | | {means[2]} |")


def confusion_table(exp: Path, top: int = 3) -> None:
    """V2's most frequent errors per held-out speaker: 'reference -> heard (count)'."""
    print("\nmost frequent confusions of V2 (of 50 clips per digit):\n")
    print("| held-out speaker | errors | most frequent |")
    print("|---|---:|---|")
    for speaker in SPEAKERS:
        scored = exp / f"loso_v2_{speaker}/eval_test/predictions.jsonl"
        if not scored.is_file():
            continue
        pairs = collections.Counter(
            f"{p['reference']} -> {p['closed_set']}" for p in map(json.loads, scored.open())
            if p["closed_set"] != p["reference"]
        )  # fmt: skip
        common = ", ".join(f"{pair} ({count})" for pair, count in pairs.most_common(top))
        print(f"| {speaker} | {sum(pairs.values())} | {common} |")


if __name__ == "__main__":
    main()
