"""``speechrnn <command>``: a thin argparse layer over the library.

Each command has a module in ``speechrnn.commands`` that provides ``add_arguments(parser)``
and ``run(args) -> int`` (the exit code) over the library function that does its work.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from speechrnn.exits import run_command

COMMANDS = {
    "transcribe": ("speechrnn.commands.transcribe", "transcribe or classify audio files"),
    "train": ("speechrnn.commands.train", "train a model from a config file"),
    "evaluate": ("speechrnn.commands.evaluate", "score a model on a manifest"),
    "prepare": ("speechrnn.commands.prepare", "download and prepare a dataset"),
    "pseudo-label": (
        "speechrnn.commands.pseudo_label",
        "label unlabelled audio with a model, to fine-tune on (self-training)",
    ),
    "speaker-norm": ("speechrnn.commands.speaker_norm", "give a trained model speaker normalisation (a reference)"),
    "export": ("speechrnn.commands.export", "export a model to ONNX for the torch-free speechrnn.runtime"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (fast start, and one broken command
    cannot break the others)."""
    from speechrnn import __version__

    parser = argparse.ArgumentParser(
        prog="speechrnn", description="Speech command recognition with recurrent networks."
    )
    parser.add_argument("--version", action="version", version=f"speechrnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command: its errors (SpeechRNNError, OSError) are one line on stderr and exit 1;
    Ctrl-C exits 130 and SIGTERM 143, after the same clean-up."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return run_command(args.command, args.run, args)


if __name__ == "__main__":
    sys.exit(main())
