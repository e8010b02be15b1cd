"""``speechrnn prepare fsdd``: options and run (the work is speechrnn.data.fsdd)."""

from __future__ import annotations

from pathlib import Path

from speechrnn.data.fsdd import EDGE_CROP_FRACTION, URL, download_fsdd, fsdd_root, prepare_fsdd


def add_prepare_arguments(parser) -> None:
    """Options of ``speechrnn prepare fsdd``."""
    parser.add_argument("--output", required=True, help="folder for the manifests and connected-digit WAVs")
    parser.add_argument(
        "--source",
        help="FSDD folder holding recordings/ (default: the local copy, see "
        "SPEECHRNN_FSDD; with --download: where to download to, default OUTPUT/source)",
    )
    parser.add_argument("--download", action="store_true", help="download the pinned FSDD archive first")
    parser.add_argument("--url", help=f"archive URL for --download (default {URL})")
    parser.add_argument("--seed", type=int, default=0, help="seed of the connected-digit generation (default 0)")
    parser.add_argument(
        "--test-speaker",
        default="theo",
        help='speaker reserved for connected test (default theo; "none": all speakers train)',
    )
    parser.add_argument("--connected-train", type=int, default=3000, help="connected train utterances (3000)")
    parser.add_argument("--connected-valid", type=int, default=300, help="connected valid utterances (300)")
    parser.add_argument("--connected-test", type=int, default=500, help="connected test utterances (500)")
    parser.add_argument("--max-digits", type=int, default=7, help="longest connected digit string (7)")
    parser.add_argument(
        "--edge-crop-ms",
        type=float,
        default=0.0,
        help="connected train: cut up to this many ms off clip starts/ends at random (0: off)",
    )
    parser.add_argument(
        "--edge-crop-fraction",
        type=float,
        default=EDGE_CROP_FRACTION,
        help=f"the most of a clip one edge crop may cut ({EDGE_CROP_FRACTION})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def run_prepare(args) -> int:
    """Run ``speechrnn prepare fsdd``; returns the exit code."""
    if args.download or args.url:
        target = Path(args.source) if args.source else Path(args.output) / "source"
        source = download_fsdd(target, args.url, quiet=args.quiet)
    else:
        source = Path(args.source) if args.source else fsdd_root()
    result = prepare_fsdd(
        source,
        args.output,
        seed=args.seed,
        test_speaker=args.test_speaker,
        connected_train=args.connected_train,
        connected_valid=args.connected_valid,
        connected_test=args.connected_test,
        max_digits=args.max_digits,
        edge_crop_ms=args.edge_crop_ms,
        edge_crop_fraction=args.edge_crop_fraction,
        quiet=args.quiet,
    )
    if not args.quiet:
        for relative, count in result["manifests"].items():
            print(f"{count:6d}  {Path(args.output) / relative}")
        if result["skipped"]:
            print(f"skipped (already done): {', '.join(result['skipped'])}")
    return 0
