#!/usr/bin/env python
"""Real-speech benchmark: accuracy per class and per source on speakers a model did not train on.

    python scripts/eval_real.py [--model commands digits|CKPT ...] [--split valid|train|all]
                                [--data-root DIR] [--output-dir exp/eval_real] [--per-class N]

Data: the shared real speech (``$SPEECHRNN_REALSPEECH``, else ``../shared/data/realspeech``
next to the repository; see ``speechrnn.data.realspeech``), restricted to one speaker-disjoint
split (``speechrnn.data.speakers.split_of``, 20 % of speakers in "valid", seed 0: the split the
bundled models are trained and validated with).

- A classifier (the ``commands`` model) is scored on the 12-class clips: the official test-set
  layout (``sc_v0.02_test``) and the Speech Commands v0.01 sample mapped to 12 classes
  (``sc_v0.01_sample``); accuracy = predicted label == reference label.
- A CTC model (the ``digits`` model) is scored on the isolated real digit words of both sources
  (the test set's ``_unknown_`` digit clips, the v0.01 digit folders); accuracy = exact transcript
  (the decoded text is the digit word, nothing more). In the confusion matrix, a transcript that
  is not a single digit word counts as ``(other)``. It is also run on the split's clips of other
  words and of background noise (commands, other Speech Commands words, ``_silence_``), where the
  right answer is no digit at all: the report's ``other_speech`` gives how often it says nothing.

Prints accuracy overall, per class and per source, the overall and per-source figures with a 95 %
interval that resamples speakers (a cluster bootstrap: one speaker's clips are right or wrong
together, so a clip-level interval would be too narrow); writes ``<output-dir>/<model>/report.json``,
``predictions.jsonl`` and ``confusion_matrix.png`` (``<parent>_<stem>`` where two checkpoints share a
file name). Exit code 1 when a model could not be scored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from speechrnn.atomic import atomic_write
from speechrnn.data.realspeech import DIGITS, SPLITS, commands_set, digits_set, realspeech_root, split_set
from speechrnn.data.speakers import SEED, VALID_PERCENT
from speechrnn.errors import SpeechRNNError, one_line
from speechrnn.exits import run_command
from speechrnn.metrics import INTERVAL_LEVEL, confusion_matrix, interval_by_speaker, plot_confusion_matrix

ROOT = Path(__file__).resolve().parents[1]
OTHER = "(other)"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--model", nargs="+", default=["commands", "digits"], metavar="NAME|CKPT",
        help="bundled model names or checkpoints (default: commands digits)",
    )  # fmt: skip
    parser.add_argument("--split", default="valid", choices=SPLITS, help="speakers to score (default: valid)")
    parser.add_argument("--data-root", default=None, metavar="DIR", help="the realspeech folder (default: see above)")
    parser.add_argument("--output-dir", default=str(ROOT / "exp" / "eval_real"), metavar="DIR")
    parser.add_argument("--valid-percent", type=float, default=VALID_PERCENT, help="speakers in valid, %% (default 20)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the speaker split (default 0)")
    parser.add_argument(
        "--decoder", default="greedy", choices=["greedy", "beam", "closed_set"], help="CTC decoder (default: greedy)"
    )
    parser.add_argument("--pad-seconds", type=float, default=0.0, help="silence added around each clip (default 0)")
    parser.add_argument("--per-class", type=int, default=None, metavar="N", help="at most N clips per class and source")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def _limit(clips: list, per_class: int | None) -> list:
    if per_class is None:
        return clips
    seen: dict = defaultdict(int)
    kept = []
    for clip in clips:
        key = (clip.source, clip.utterance.label)
        if seen[key] < per_class:
            seen[key] += 1
            kept.append(clip)
    return kept


def _accuracy_table(pairs, order=()) -> dict:
    """[(key, correct)] -> {key: {"correct", "total", "accuracy"}}, keys in ``order`` then sorted."""
    counts: dict = defaultdict(lambda: [0, 0])
    for key, correct in pairs:
        counts[key][0] += int(correct)
        counts[key][1] += 1
    rank = {k: i for i, k in enumerate(order)}
    keys = sorted(counts, key=lambda k: (rank.get(k, len(rank)), k))
    return {k: {"correct": counts[k][0], "total": counts[k][1], "accuracy": counts[k][0] / counts[k][1]} for k in keys}


def _interval(predictions: list[dict]) -> list[float] | None:
    """[low, high]: the accuracy's INTERVAL_LEVEL interval over these clips, speakers resampled (None: too few)."""
    speakers = [p["speaker"] or p["id"] for p in predictions]  # _silence_ clips have none: each its own
    return interval_by_speaker([p["correct"] for p in predictions], speakers)


def score(model, clips: list, args: argparse.Namespace) -> dict:
    """Run ``evaluate`` over the clips; returns the benchmark report (with per-clip predictions)."""
    from speechrnn.evaluate import evaluate

    utterances = [c.utterance for c in clips]
    classify = model.config.head == "classify"
    report = evaluate(
        model, utterances, decoders=(args.decoder,), device=args.device, quiet=args.quiet,
        pad_seconds=args.pad_seconds, worst=0,
    )  # fmt: skip
    predictions = []
    for clip, p in zip(clips, report["predictions"], strict=True):
        hypothesis = p["prediction"] if classify else p[args.decoder]
        reference = p["reference"]
        predictions.append(
            {"id": p["id"], "source": clip.source, "speaker": clip.utterance.speaker, "reference": reference,
             "prediction": hypothesis, "correct": hypothesis == reference,
             **({"score": p["score"]} if classify else {})}
        )  # fmt: skip
    if classify:
        labels = list(model.config.labels)
        matrix = report["metrics"]["confusion_matrix"]["counts"]
    else:
        labels = [d for d in DIGITS if any(p["reference"] == d for p in predictions)] + [OTHER]
        index = {label: i for i, label in enumerate(labels)}
        matrix = confusion_matrix(
            [index[p["reference"]] for p in predictions],
            [index.get(p["prediction"], index[OTHER]) for p in predictions],
            len(labels),
        ).tolist()
    correct = sum(p["correct"] for p in predictions)
    per_source = _accuracy_table((p["source"], p["correct"]) for p in predictions)
    for source, row in per_source.items():
        row["interval"] = _interval([p for p in predictions if p["source"] == source])
    return {
        "task": "commands (12 classes)" if classify else "isolated digits (exact transcript)",
        "head": model.config.head,
        "decoder": None if classify else args.decoder,
        "num_utterances": len(predictions),
        "num_speakers": len({p["speaker"] or p["id"] for p in predictions}),
        "accuracy": correct / len(predictions),
        "correct": correct,
        "interval": _interval(predictions),
        "interval_level": INTERVAL_LEVEL,
        "per_class": _accuracy_table(((p["reference"], p["correct"]) for p in predictions), labels),
        "per_source": per_source,
        "confusion_matrix": {"labels": labels, "counts": matrix},
        "timing": report["timing"],
        "predictions": predictions,
    }


def silence_on_other_speech(model, data_root: Path, args: argparse.Namespace) -> dict:
    """A digits model on the split's clips that hold no digit (other words, noise): how many give an
    empty transcript, and the words it heard in the others."""
    from dataclasses import replace

    from speechrnn.evaluate import evaluate

    clips = [c for c in commands_set(data_root) if c.utterance.text not in DIGITS]
    clips = _limit(split_set(clips, args.split, args.valid_percent, args.seed), args.per_class)
    utterances = [replace(c.utterance, text="") for c in clips]
    report = evaluate(
        model, utterances, decoders=(args.decoder,), device=args.device, quiet=args.quiet,
        pad_seconds=args.pad_seconds, worst=0,
    )  # fmt: skip
    heard = [p[args.decoder] for p in report["predictions"]]
    silent = sum(not text for text in heard)
    words: dict = defaultdict(int)
    for text in heard:
        for word in text.split():
            words[word] += 1
    return {
        "num_utterances": len(heard), "empty": silent, "empty_rate": silent / max(len(heard), 1),
        "digits_heard": dict(sorted(words.items(), key=lambda kv: -kv[1])),
    }  # fmt: skip


def _range(interval) -> str:
    return "none (too few speakers)" if interval is None else f"{100 * interval[0]:.1f}-{100 * interval[1]:.1f} %"


def format_report(name: str, report: dict) -> str:
    level = f"{100 * report['interval_level']:g} %"
    lines = [
        f"{name}: {report['task']}, split {report['split']} ({report['num_utterances']} clips, "
        f"{report['num_speakers']} speakers): accuracy {100 * report['accuracy']:.2f}% "
        f"({report['correct']}/{report['num_utterances']}; {level} interval {_range(report['interval'])}, "
        "speakers resampled)"
    ]
    for title in ("per_source", "per_class"):
        lines.append(f"  {title.replace('_', ' ')}:")
        for key, row in report[title].items():
            interval = f"  {level} interval {_range(row['interval'])}" if "interval" in row else ""
            lines.append(f"    {key:<16} {100 * row['accuracy']:6.2f}%  ({row['correct']}/{row['total']}){interval}")
    if "other_speech" in report:
        other = report["other_speech"]
        heard = ", ".join(f"{w} {n}" for w, n in other["digits_heard"].items()) or "none"
        lines.append(
            f"  other words and noise ({other['num_utterances']} clips): no digit in "
            f"{100 * other['empty_rate']:.2f}% ({other['empty']}); digits heard: {heard}"
        )
    return "\n".join(lines)


def write_outputs(report: dict, folder: Path) -> list[Path]:
    """report.json (without predictions), predictions.jsonl and confusion_matrix.png, each atomically."""
    summary = {k: v for k, v in report.items() if k != "predictions"}
    paths = [folder / "report.json", folder / "predictions.jsonl", folder / "confusion_matrix.png"]
    with atomic_write(paths[0], "w", encoding="utf-8") as f:
        f.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    with atomic_write(paths[1], "w", encoding="utf-8") as f:
        f.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in report["predictions"])
    matrix = report["confusion_matrix"]
    title = (
        f"{report['model']}: accuracy {report['accuracy']:.3f} on {report['num_utterances']} clips "
        f"({report['split']} speakers)"
    )
    plot_confusion_matrix(np.array(matrix["counts"]), matrix["labels"], paths[2], title)
    return paths


def run_one(model_name: str, args: argparse.Namespace, data_root: Path) -> dict:
    from speechrnn.model import load_model, resolve_model

    path = resolve_model(model_name)
    model = load_model(path)
    clips = commands_set(data_root) if model.config.head == "classify" else digits_set(data_root)
    clips = _limit(split_set(clips, args.split, args.valid_percent, args.seed), args.per_class)
    if not clips:
        raise SpeechRNNError(f"no clips in split {args.split!r} of {data_root}")
    report = score(model, clips, args)
    if model.config.head == "ctc":
        report["other_speech"] = silence_on_other_speech(model, data_root, args)
    report = {
        "model": model_name, "model_path": str(path), "data_root": str(data_root), "split": args.split,
        "valid_percent": args.valid_percent, "seed": args.seed, "pad_seconds": args.pad_seconds, **report,
    }  # fmt: skip
    return report


def output_folders(names: list[str], output_dir: Path) -> dict[str, Path]:
    """Each model's report folder: ``output_dir/<file stem>`` (``digits``, ``best``), or, where two
    models share a stem (``exp/a/best.pt``, ``exp/b/best.pt``), ``output_dir/<parent>_<stem>`` for
    each of them, so no report overwrites another."""
    stems = [Path(name).stem for name in names]
    return {
        name: output_dir / (stem if stems.count(stem) == 1 else f"{Path(name).parent.name}_{stem}")
        for name, stem in zip(names, stems, strict=True)
    }


def evaluate_models(args: argparse.Namespace) -> int:
    """Score every ``--model``; one that fails is a line on stderr and the others still run."""
    data_root = realspeech_root(args.data_root)
    failures = 0
    folders = output_folders(args.model, Path(args.output_dir))
    for name in args.model:
        try:
            report = run_one(name, args, data_root)
        except SpeechRNNError as error:
            message = one_line(error)
            message = message if name in message else f"{name}: {message}"
            print(f"eval_real: error: {message}", file=sys.stderr, flush=True)
            failures += 1
            continue
        paths = write_outputs(report, folders[name])
        print(format_report(name, report), flush=True)
        print(f"  wrote {', '.join(str(p) for p in paths)}", flush=True)
    return 1 if failures else 0


def main(argv=None) -> int:
    """Exits as ``speechrnn`` commands do: one error line, 130 on Ctrl-C, 141 quietly for ``| head``."""
    return run_command("", evaluate_models, parse_args(argv), prog="eval_real")


if __name__ == "__main__":
    sys.exit(main())
