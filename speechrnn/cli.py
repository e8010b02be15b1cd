"""``speechrnn <command>``: a thin argparse layer over the library.

Each command lives in the module that does its work; that module provides
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from speechrnn.errors import SpeechRNNError, one_line

COMMANDS = {
    "transcribe": ("speechrnn.transcribe", "transcribe or classify audio files"),
    "train": ("speechrnn.train", "train a model from a config file"),
    "evaluate": ("speechrnn.evaluate", "score a model on a manifest"),
    "prepare": ("speechrnn.data.prepare", "download and prepare a dataset"),
    "pseudo-label": ("speechrnn.pseudo_label", "label unlabelled audio with a model, to fine-tune on (self-training)"),
    "speaker-norm": ("speechrnn.speaker_norm", "give a trained model speaker normalisation (a reference)"),
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
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except SpeechRNNError as error:
        print(f"speechrnn {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"speechrnn {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
