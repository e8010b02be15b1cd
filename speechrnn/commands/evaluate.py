"""``speechrnn evaluate``: score a model on a manifest, print a summary, write the report files."""

from __future__ import annotations

import argparse

from speechrnn.data.manifest import read_manifest
from speechrnn.device import resolve_device
from speechrnn.evaluate import ALL_DECODERS, DECODERS, evaluate, format_summary, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        action="append",
        help="checkpoint to evaluate (default: the bundled digits model); repeat it to score "
        "an ensemble (classifiers, or CTC models with --decoder closed_set)",
    )
    parser.add_argument("--manifest", required=True, help="JSONL manifest with label (classify) or text (ctc)")
    parser.add_argument("--output-dir", help="write report.json, predictions.jsonl and confusion_matrix.png here")
    parser.add_argument(
        "--decoder",
        choices=(*ALL_DECODERS, "both"),
        default="both",
        help="CTC decoder(s) to score: greedy, beam, both (default), or closed_set (best single label)",
    )
    parser.add_argument("--beam-size", type=int, default=8, help="beam width for --decoder beam/both (default 8)")
    parser.add_argument("--worst", type=int, default=10, help="worst CTC utterances to list (default 10)")
    add_scoring_arguments(parser)


def add_scoring_arguments(parser: argparse.ArgumentParser) -> None:
    """How models are run over a manifest (``evaluate`` and ``pseudo-label``): padding, batching,
    speaker normalisation, workers, device, progress."""
    parser.add_argument("--pad-ms", type=float, default=0.0, help="silence added around every utterance (default 0)")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="padded audio seconds per batch (default 60)")
    parser.add_argument(
        "--no-speaker-norm",
        action="store_true",
        help="run models trained with speaker normalisation without each speaker's own statistics",
    )
    parser.add_argument(
        "--speaker-manifest",
        help="take each speaker's normalisation statistics from this manifest's audio (default: --manifest)",
    )
    parser.add_argument("--num-workers", type=int, default=0, help="processes reading audio (default 0: none)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from speechrnn.model import load_model

    device = resolve_device(args.device)
    utterances = read_manifest(args.manifest)
    models = [load_model(path, device=device) for path in args.model or [None]]
    decoders = DECODERS if args.decoder == "both" else (args.decoder,)
    report = evaluate(
        models if len(models) > 1 else models[0],
        utterances,
        decoders=decoders,
        beam_size=args.beam_size,
        max_seconds=args.max_seconds,
        device=device,
        quiet=args.quiet,
        worst=args.worst,
        pad_seconds=args.pad_ms / 1000,
        speaker_norm=not args.no_speaker_norm,
        speaker_utterances=read_manifest(args.speaker_manifest) if args.speaker_manifest else None,
        num_workers=args.num_workers,
    )
    names = [str(path) for path in args.model] if args.model else ["bundled"]
    report = {"model": names[0] if len(names) == 1 else names, "manifest": str(args.manifest), **report}
    print(format_summary(report))
    if args.output_dir:
        for path in write_report(report, args.output_dir):
            print(f"wrote {path}")
    return 0
