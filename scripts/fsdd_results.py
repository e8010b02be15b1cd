#!/usr/bin/env python
"""Collect the FSDD recipe's evaluation reports into the results table of recipes/fsdd/README.md.

    python scripts/fsdd_results.py [--exp exp/fsdd]

Reads ``<exp>/<run>/eval_*/report.json`` (written by ``speechrnn evaluate``) and
``<exp>/<run>/log.csv`` (training time), and prints Markdown tables: all tasks; the
leave-one-speaker-out folds model by model; the adapted systems (self-training, test-time warps)
speaker by speaker, the pseudo-labels of each self-training round, and the reported system's most
frequent confusions (from its ``eval_test/predictions.jsonl``).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import statistics
from pathlib import Path

SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")


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
    self_training_table(exp)
    confusion_table(exp)


def table(exp: Path) -> None:
    """One row per task and test set."""
    print("| task | model | test set | result | train time (min) |")
    print("|---|---|---|---|---|")
    model = "2x128 BiGRU-CTC on connected digits, closed-set scoring"
    rep = report(exp / "official_ctc/eval_test/report.json")
    if rep:
        print(
            f"| isolated digits | {model} | official test (takes 0-4, all speakers) "
            f"| accuracy {closed_set_accuracy(rep):.2f} % | {train_minutes(exp / 'official_ctc')} |"
        )
    three = ("c", "c2", "f")
    for scored, runs, name in (
        (
            "loso_v2",
            (*three, "x", *(f"v{r}{k}" for r in (1, 2) for k in (*three, "x"))),
            "the three below and a fourth that also heard accented English (synthetic voices of eight other "
            "languages), adapted to the held-out speaker without its labels like S2 (reported)",
        ),
        (
            "loso_w2",
            (*three, *(f"w{r}{k}" for r in (1, 2) for k in three)),
            "the three below adapted like S2, with test-time vocal-tract-length warps (0.9-1.1) wherever the "
            "ensemble labels or is scored (reported until V2)",
        ),
        (
            "loso_t2",
            (*three, "c3", *(f"t{r}{k}" for r in (1, 2) for k in (*three, "c3"))),
            "the three below and a fourth (C's recipe, seed 3), adapted to the held-out speaker without its "
            "labels: two rounds of class-balanced self-training on its unlabelled clips, closed-set (reported "
            "until W2)",
        ),
        (
            "loso_s2",
            (*three, *(f"s{r}{k}" for r in (1, 2) for k in three)),
            "the three below adapted to the "
            "held-out speaker without its labels: two rounds of class-balanced self-training on its unlabelled "
            "clips, closed-set (reported until T2)",
        ),
        (
            "loso_cnc2nfn",
            three,
            "ensemble of three BiGRU-CTC models (seeds 0, 1, 2, the third with "
            "a vocal-tract-length warp; FSDD + synthetic voices), speaker normalisation from the held-out speaker's "
            "unlabelled clips, closed-set (reported until S2)",
        ),
        (
            "loso_cc2f",
            ("c", "c2", "f"),
            "the same three models without speaker normalisation (no statistics of the held-out speaker), closed-set",
        ),
    ):
        folds = {s: report(exp / f"{scored}_{s}/eval_test/report.json") for s in SPEAKERS}
        done = {s: closed_set_accuracy(r) for s, r in folds.items() if r}
        if done:
            label = "mean of 6 folds" if len(done) == 6 else f"mean of {len(done)} of 6 folds"
            minutes = [train_minutes(exp / f"loso_{k}_{s}") for s in done for k in runs]
            total = sum(float(m) for m in minutes if m != "-")
            print(
                f"| isolated digits | {name} | leave-one-speaker-out, {label} "
                f"| accuracy {statistics.mean(done.values()):.2f} % | {total / max(len(done), 1):.1f} per fold |"
            )
    for run, name in (
        ("connected_bidir", "2x128 BiGRU-CTC, full utterance, FSDD only"),
        ("bundled_bidir", "2x128 BiGRU-CTC, full utterance, FSDD + espeak-ng"),
        ("bundled", "bundled: chunked BiGRU-CTC (3+3 x 40 ms), FSDD + espeak-ng"),
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


LOSO_TABLES = (
    (
        "no statistics of the held-out speaker",
        (
            ("loso_ctc_{}", "FSDD voices only"),
            ("loso_a_{}", "A: + espeak-ng, flite, festival voices"),
            ("loso_b_{}", "B: A + edge crops, microphone colouring, tones"),
            ("loso_c_{}", "C: B + pico voices, deep edge crops"),
            ("loso_c2_{}", "C2: C, seed 1"),
            ("loso_ens_{}", "A + B"),
            ("loso_ens3_{}", "A + B + C"),
            ("loso_f_{}", "F: C + vocal-tract-length warp, seed 2"),
            ("loso_g_{}", "G: C fine-tuned closed-set on isolated clips"),
            ("loso_c3_{}", "C3: C, seed 3"),
            ("loso_x_{}", "X: C + accented English voices, seed 4"),
            ("loso_cc2_{}", "C + C2"),
            ("loso_cc2f_{}", "C + C2 + F (the reported three, not normalised)"),
        ),
    ),
    (
        "speaker normalisation: each held-out speaker's statistics from its own unlabelled clips",
        (
            ("loso_ctcn_{}", "FSDD voices only"),
            ("loso_an_{}", "A"),
            ("loso_bn_{}", "B"),
            ("loso_cn_{}", "C"),
            ("loso_c2n_{}", "C2"),
            ("loso_fn_{}", "F"),
            ("loso_gn_{}", "G"),
            ("loso_c3n_{}", "C3"),
            ("loso_xn_{}", "X"),
            ("loso_cnc2n_{}", "C + C2 (reported until F)"),
            ("loso_cnc2nfn_{}", "C + C2 + F (reported until S2)"),
            ("loso_ens3n_{}", "A + B + C (tried after seeing the columns before it)"),
            ("loso_e_{}", "E: C trained with speaker normalisation"),
        ),
    ),
)


SELF_TRAINING = (
    "unsupervised adaptation to the held-out speaker: the normalised models fine-tuned on its own clips, labelled "
    "by their ensemble (local/self_train.sh); round 1 keeps the most confident 50 % of each label, round 2 80 %, "
    "round 3 all"
)
SYSTEMS = (  # run prefix, name; every self-trained system starts from C + C2 + F (T: and C3; V: and X), normalised
    ("cnc2nfn", "C + C2 + F, normalised (reported until S2)"),
    ("s1", "S1: round 1"),
    ("s2", "S2: round 2 (reported until T2)"),
    ("s3", "S3: round 3 (added after S2 was scored)"),
    ("t1", "T1: S1 with C3 added"),
    ("t2", "T2: S2 with C3 added (reported until W2)"),
    ("cnc2nfnw", "C + C2 + F, normalised, test-time warps"),
    ("s2w", "S2 scored with test-time warps"),
    ("w1", "W1: S1 with test-time warps"),
    ("w2", "W2: S2 with test-time warps (reported until V2)"),
    ("cnc2nfnxn", "C + C2 + F + X, normalised (V1's labeller)"),
    ("v1", "V1: S1 with X added"),
    ("v2", "V2: S2 with X added (reported)"),
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


def self_training_table(exp: Path) -> None:
    """One row per adapted system: closed-set accuracy per held-out speaker and the mean; then the
    pseudo-labels each self-training round kept and how many of them were right."""
    print(f"\n{SELF_TRAINING}; test-time warps: 0.9, 0.95, 1, 1.05, 1.1:\n")
    print("| system | " + " | ".join(SPEAKERS) + " | mean |")
    print("|---|" + "---:|" * (len(SPEAKERS) + 1))
    for run, name in SYSTEMS:
        reports = [report(exp / f"loso_{run}_{s}/eval_test/report.json") for s in SPEAKERS]
        scores = [closed_set_accuracy(r) if r else None for r in reports]
        cells = ["-" if a is None else f"{a:.1f} %" for a in scores]
        mean = f"{statistics.mean(scores):.2f} %" if None not in scores else "-"
        print(f"| {name} | " + " | ".join(cells) + f" | {mean} |")
    print("\npseudo-labels kept, and the share of them that is right:\n")
    print("| round | " + " | ".join(SPEAKERS) + " |")
    print("|---|" + "---:|" * len(SPEAKERS))
    for run, name in SYSTEMS:
        cells = [pseudo_label_accuracy(exp, f"loso_{run}_{s}") for s in SPEAKERS]
        if any(c != "-" for c in cells):
            print(f"| {name.partition(':')[0]} | " + " | ".join(cells) + " |")


def loso_table(exp: Path) -> None:
    """Per held-out speaker: each model alone and the ensembles (closed-set accuracy, %)."""
    for title, columns in LOSO_TABLES:
        print(f"\n{title}:\n")
        print("| held-out speaker | " + " | ".join(name for _, name in columns) + " |")
        print("|---|" + "---:|" * len(columns))
        results = {}
        for speaker in SPEAKERS:
            row = []
            for run, _ in columns:
                rep = report(exp / run.format(speaker) / "eval_test/report.json")
                row.append(closed_set_accuracy(rep) if rep else None)
                if rep:
                    results.setdefault(run, []).append(row[-1])
            print(f"| {speaker} | " + " | ".join("-" if a is None else f"{a:.1f} %" for a in row) + " |")
        means = [results.get(run, []) for run, _ in columns]
        print("| mean | " + " | ".join(f"{statistics.mean(m):.1f} %" if len(m) == 6 else "-" for m in means) + " |")


def confusion_table(exp: Path, top: int = 3) -> None:
    """The reported system's most frequent errors per held-out speaker: 'reference -> heard (count)'."""
    run, name = next((run, name) for run, name in SYSTEMS if name.endswith("(reported)"))
    print(f"\nmost frequent confusions of {name.partition(':')[0]} (of 50 clips per digit):\n")
    print("| held-out speaker | errors | most frequent |")
    print("|---|---:|---|")
    for speaker in SPEAKERS:
        scored = exp / f"loso_{run}_{speaker}/eval_test/predictions.jsonl"
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
