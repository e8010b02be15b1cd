"""``speechrnn <command>``: a thin argparse layer over the library.

Each command has a module in ``speechrnn.commands`` that provides ``add_arguments(parser)``
and ``run(args) -> int`` (the exit code) over the library function that does its work.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator

from speechrnn.errors import SpeechRNNError, one_line

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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so it cleans up as for Ctrl-C (temp files, workers)."""


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises ``Terminated`` (main thread only; the old handler is restored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def os_error_line(error: OSError) -> str:
    """``path: reason`` for an OSError (a read-only or full disk, a missing folder, ...)."""
    reason = error.strerror or str(error)
    names = [str(n) for n in (error.filename, error.filename2) if n is not None]
    return f"{' -> '.join(names)}: {reason}" if names else reason


def main(argv: list[str] | None = None) -> int:
    """Run a command: its errors (SpeechRNNError, OSError) are one line on stderr and exit 1;
    Ctrl-C exits 130 and SIGTERM 143, after the same clean-up."""
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return run_command(args.command, args.run, args)


def run_command(name: str, run, args: argparse.Namespace, stopped_hint: str = "") -> int:
    """``run(args)`` as ``speechrnn <name>``: a SpeechRNNError or OSError is one line on stderr and
    exit 1; Ctrl-C exits 130 and SIGTERM 143 (after the same clean-up), each with ``stopped_hint``."""
    with terminate_as_interrupt():
        try:
            return int(run(args) or 0)
        except SpeechRNNError as error:
            print(f"speechrnn {name}: error: {one_line(error)}", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"speechrnn {name}: error: {os_error_line(error)}", file=sys.stderr)
            return 1
        except Terminated:
            print(f"speechrnn {name}: terminated{stopped_hint}", file=sys.stderr)
            return 143
        except KeyboardInterrupt:
            print(f"speechrnn {name}: interrupted{stopped_hint}", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
