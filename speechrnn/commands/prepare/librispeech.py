"""``speechrnn prepare librispeech``: options and run (the work is speechrnn.data.librispeech)."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechrnn.data.librispeech import URL_BASE, prepare
from speechrnn.errors import DataError


def _parse_sha256(values: list[str]) -> dict[str, str]:
    result = {}
    for value in values:
        part, sep, digest = value.partition("=")
        if not sep or not digest:
            raise DataError(f"--sha256 expects PART=HEX, got {value!r}")
        result[part] = digest.lower()
    return result


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="folder for archives, audio and manifests")
    parser.add_argument(
        "--parts", default="train-clean-100,dev-clean,test-clean", help="comma-separated parts (default: %(default)s)"
    )
    parser.add_argument("--url-base", default=URL_BASE, help=f"where the <part>.tar.gz files are (default: {URL_BASE})")
    parser.add_argument(
        "--sha256", action="append", default=[], metavar="PART=HEX", help="expected SHA-256 of a part (repeatable)"
    )
    parser.add_argument("--min-duration", type=float, default=1.0, help="seconds; shorter training utterances dropped")
    parser.add_argument("--max-duration", type=float, default=20.0, help="seconds; longer training utterances dropped")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")


def run_prepare(args: argparse.Namespace) -> int:
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    prepare(
        args.root,
        parts,
        url_base=args.url_base,
        sha256=_parse_sha256(args.sha256),
        min_duration=args.min_duration,
        max_duration=args.max_duration,
        quiet=args.quiet,
    )
    return 0
