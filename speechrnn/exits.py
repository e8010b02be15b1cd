"""How a command ends: one line per error (SpeechRNNError, OSError) and exit 1, Ctrl-C 130, SIGTERM 143
after the same clean-up, and quietly with 141 (as a Unix tool killed by SIGPIPE) when the reader of
its output goes away (``speechrnn transcribe ... | head``). Shared by ``speechrnn <command>``,
``python -m speechrnn.train`` (torchrun) and ``python -m speechrnn.runtime``; no torch here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

from speechrnn.errors import SpeechRNNError, one_line


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


def run_command(name: str, run, args: argparse.Namespace, stopped_hint: str = "", prog: str = "speechrnn") -> int:
    """``run(args)`` as ``<prog> <name>`` (``<prog>`` alone for a script, name ""): a SpeechRNNError
    or OSError is one line on stderr and exit 1; Ctrl-C exits 130 and SIGTERM 143 (after the same
    clean-up), each with ``stopped_hint``; a closed stdout (BrokenPipeError, which per-file handlers
    must let through) exits 141 quietly."""
    who = f"{prog} {name}" if name else prog
    with terminate_as_interrupt():
        try:
            return int(run(args) or 0)
        except SpeechRNNError as error:
            print(f"{who}: error: {one_line(error)}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # stdout's reader has gone: no more output, no error line
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit
            return 141
        except OSError as error:
            print(f"{who}: error: {os_error_line(error)}", file=sys.stderr)
            return 1
        except Terminated:
            print(f"{who}: terminated{stopped_hint}", file=sys.stderr)
            return 143
        except KeyboardInterrupt:
            print(f"{who}: interrupted{stopped_hint}", file=sys.stderr)
            return 130
