"""``speechrnn prepare speech_commands``: options and run (the work is speechrnn.data.speech_commands)."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechrnn.data.speech_commands import SEED, URL, prepare


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="folder for the archive, audio and manifests")
    parser.add_argument("--url", default=URL, help=f"archive URL (default: {URL})")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (known for the default URL)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the 12-class construction")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")


def run_prepare(args: argparse.Namespace) -> int:
    prepare(args.root, url=args.url, sha256=args.sha256, seed=args.seed, quiet=args.quiet)
    return 0
