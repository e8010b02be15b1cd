"""``speechrnn prepare speech_commands``: options and run (the work is speechrnn.data.speech_commands,
and speechrnn.data.sc_layouts for folders without split lists)."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechrnn.data import sc_layouts
from speechrnn.data.speech_commands import SEED, URL, prepare
from speechrnn.errors import ConfigError


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="folder for the archive, audio and manifests")
    parser.add_argument("--url", default=URL, help=f"archive URL (default: {URL})")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (known for the default URL)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the 12-class construction")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    extra = parser.add_argument_group("folders without split lists (speechrnn.data.sc_layouts)")
    extra.add_argument(
        "--test-set",
        action="store_true",
        help="also download the official 12-class test archive -> manifests/sc12_test_official.jsonl",
    )
    extra.add_argument("--test-set-url", default=None, metavar="URL", help="test archive URL (default: the official)")
    extra.add_argument("--test-set-sha256", default=None, metavar="HEX", help="its SHA-256 (known for the default)")
    extra.add_argument(
        "--test-set-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="read an extracted copy of the test archive instead of downloading it",
    )
    extra.add_argument(
        "--words-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="a folder in the main archive's layout (<word>/<speaker>_nohash_<n>.wav), no lists",
    )
    extra.add_argument("--words-name", default=None, metavar="NAME", help="its manifest name (default: the folder's)")
    extra.add_argument("--words-task12", action="store_true", help="label its non-command words _unknown_")
    extra.add_argument(
        "--valid-percent",
        type=float,
        default=None,
        metavar="P",
        help="also write <manifest>_train/_valid.jsonl, P%% of speakers in valid (by speaker hash)",
    )
    extra.add_argument("--split-seed", type=int, default=0, help="seed of the speaker hash (default 0)")
    extra.add_argument(
        "--skip-corpus", action="store_true", help="prepare only --test-set*/--words-dir, not the 2.4 GB corpus"
    )


def run_prepare(args: argparse.Namespace) -> int:
    if not args.skip_corpus:
        prepare(args.root, url=args.url, sha256=args.sha256, seed=args.seed, quiet=args.quiet)
    counts = {}
    split = {"valid_percent": args.valid_percent, "seed": args.split_seed}
    if args.test_set or args.test_set_dir or args.test_set_url:
        counts |= sc_layouts.prepare_test_set(
            args.root,
            test_set_dir=args.test_set_dir,
            url=args.test_set_url or sc_layouts.TEST_URL,
            sha256=args.test_set_sha256,
            quiet=args.quiet,
            **split,
        )
    if args.words_dir:
        counts |= sc_layouts.prepare_word_folder(
            args.root, args.words_dir, name=args.words_name, task12=args.words_task12, **split
        )
    if args.skip_corpus and not counts:
        raise ConfigError("--skip-corpus leaves nothing to prepare: add --test-set, --test-set-dir or --words-dir")
    if not args.quiet:
        for name, count in counts.items():
            print(f"{name}: {count} clips -> {Path(args.root) / 'manifests' / name}.jsonl")
    return 0
