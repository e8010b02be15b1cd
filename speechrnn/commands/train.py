"""``speechrnn train CONFIG``, and ``python -m speechrnn.train`` / ``torchrun -m speechrnn.train``."""

from __future__ import annotations

import argparse

import torch.distributed as dist

import speechrnn.train as training
from speechrnn.config import load_config
from speechrnn.train import is_main_process, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="TOML config file (or a run's config.json)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value, e.g. --set train.epochs=5 (repeatable)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    best = train(config, resume=args.resume, quiet=args.quiet)
    if is_main_process():
        print(f"best checkpoint: {best}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m speechrnn.train`` / ``torchrun -m speechrnn.train``."""
    from speechrnn.exits import run_command

    parser = argparse.ArgumentParser(prog="speechrnn.train", description=training.__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_command("train", run, args, stopped_hint="; resume with --resume")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
