"""``speechrnn pseudo-label``: write the utterances a model labels confidently as a manifest."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from speechrnn.commands.evaluate import add_scoring_arguments
from speechrnn.data.manifest import read_manifest, write_manifest
from speechrnn.device import resolve_device
from speechrnn.pseudo_label import (
    DEFAULT_MIN_CONFIDENCE,
    check_min_confidence,
    check_top_fraction,
    confident,
    pseudo_label,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", action="append", help="checkpoint that labels (default: the bundled model); repeat for an ensemble"
    )
    parser.add_argument(
        "--manifest", required=True, help="JSONL manifest of the audio to label ('label'/'text' optional, ignored)"
    )
    parser.add_argument("--output", required=True, help="write the confidently labelled utterances here (JSONL)")
    parser.add_argument(
        "--min-confidence",
        type=float,
        default=DEFAULT_MIN_CONFIDENCE,
        help=f"keep an utterance when its label's posterior is at least this (default {DEFAULT_MIN_CONFIDENCE})",
    )
    parser.add_argument(
        "--top-fraction",
        type=float,
        default=1.0,
        help="keep only the most confident fraction of each label's utterances (class-balanced; default 1: all)",
    )
    add_scoring_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from speechrnn.model import load_model

    check_min_confidence(args.min_confidence)  # before any audio is read
    check_top_fraction(args.top_fraction)
    device = resolve_device(args.device)
    utterances = read_manifest(args.manifest, labelled=False)
    models = [load_model(path, device=device) for path in args.model or [None]]
    labels = pseudo_label(
        models,
        utterances,
        pad_seconds=args.pad_ms / 1000,
        speaker_norm=not args.no_speaker_norm,
        speaker_utterances=read_manifest(args.speaker_manifest, labelled=False) if args.speaker_manifest else None,
        max_seconds=args.max_seconds,
        device=device,
        num_workers=args.num_workers,
        quiet=args.quiet,
    )
    kept = confident(labels, args.min_confidence, args.top_fraction)
    write_manifest(args.output, kept)
    counts = Counter(u.label for u in kept)
    per_label = ", ".join(f"{label} {counts[label]}" for label in models[0].config.labels if counts[label])
    rule = f"confidence >= {args.min_confidence:g}" + (
        f", top {args.top_fraction:g} of each label" if args.top_fraction < 1 else ""
    )
    print(f"kept {len(kept)} of {len(labels)} utterances ({rule}): {per_label}")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0
