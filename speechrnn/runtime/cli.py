"""``python -m speechrnn.runtime transcribe --model DIR [--stream] [--format txt|json] FILE...`` without torch.

The output and error conventions of ``speechrnn transcribe``: offline, ``txt`` prints each
file's text (``path<TAB>text`` when there are several files) and ``json`` one object per file;
a file that fails prints ``speechrnn.runtime transcribe: error: <path>: <reason>`` and the others
go on (exit 1). ``--stream`` prints ``partial: ...`` lines and ``[start-end] text`` finals (one
JSON object per event with ``--format json``) as ``speechrnn transcribe --stream`` does. A
missing or mismatched model folder is one line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys

from speechrnn.commands.keywords import add_keyword_arguments, keyword_settings
from speechrnn.errors import ConfigError, SpeechRNNError

PROG = "speechrnn.runtime"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run exported speechrnn models without torch.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub = commands.add_parser("transcribe", help="transcribe or classify audio files with an exported model")
    sub.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files (wav, flac, ogg, mp3; any rate)")
    sub.add_argument("--model", required=True, metavar="DIR", help="folder written by `speechrnn export`")
    sub.add_argument("--format", default="txt", choices=["txt", "json"], help="output format (default: txt)")
    sub.add_argument("--stream", action="store_true", help="feed files in real-time-sized chunks; print partials")
    sub.add_argument("--chunk-ms", type=int, default=100, metavar="N", help="chunk length for --stream (ms)")
    sub.add_argument("--threads", type=int, default=1, metavar="N", help="onnxruntime threads (default: 1)")
    add_keyword_arguments(sub)
    return parser


def format_event(event, prefix: str = "") -> str:
    """One text line for an event, as ``speechrnn.stream.format_event``."""
    if event.kind == "partial":
        return f"{prefix}partial: {event.text}"
    if event.kind == "detection":
        return f"{prefix}[{event.start:.2f}-{event.end:.2f}] detected {event.label} ({event.score:.2f})"
    return f"{prefix}[{event.start:.2f}-{event.end:.2f}] {event.text}"


def _report_failure(command: str, path: str, error: Exception) -> None:
    if isinstance(error, SpeechRNNError):
        message = str(error)
    else:  # OSError
        message = f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
    if not message.startswith(str(path)):
        message = f"{path}: {message}"
    print(f"{PROG} {command}: error: {message}", file=sys.stderr, flush=True)


def transcribe_files(args: argparse.Namespace) -> int:
    from speechrnn.runtime.model import load  # noqa: PLC0415
    from speechrnn.runtime.results import result_to_dict  # noqa: PLC0415

    model = load(args.model, threads=args.threads)
    if args.stream:
        return stream_files(args, model)
    several = len(args.audio) > 1
    failures = 0
    for path in args.audio:
        try:
            result = model.transcribe(path)
        except BrokenPipeError:
            raise  # stdout is gone, not this file (exits.run_command)
        except (SpeechRNNError, OSError) as error:
            failures += 1
            _report_failure(args.command, path, error)
            continue
        if args.format == "json":
            print(json.dumps(result_to_dict(result, path), ensure_ascii=False), flush=True)
        else:
            print(f"{path}\t{result.text}" if several else result.text, flush=True)
    return 1 if failures else 0


def stream_files(args: argparse.Namespace, model) -> int:
    """Each file in ``--chunk-ms`` chunks through one recogniser with the default endpointer; a file that
    fails is reported on its own line, its partial stream dropped, and the others go on (exit 1)."""
    from speechrnn.audio_io import read_audio  # noqa: PLC0415
    from speechrnn.endpoint import EndpointConfig  # noqa: PLC0415
    from speechrnn.runtime.stream import StreamingRecognizer  # noqa: PLC0415

    recognizer = StreamingRecognizer(model, endpoint=EndpointConfig(), keywords=keyword_settings(args))
    paths = list(args.audio)
    failures = 0
    for path in paths:
        try:
            audio, rate = read_audio(path)
            prefix = f"{path}: " if len(paths) > 1 else ""
            chunk = max(1, rate * args.chunk_ms // 1000)
            pieces = [audio[begin : begin + chunk] for begin in range(0, audio.size, chunk)]
            for piece in [*pieces, None]:  # None: the end of the file
                events = recognizer.finish() if piece is None else recognizer.accept_waveform(piece, rate)
                for event in events:
                    if args.format == "json":
                        print(json.dumps({"file": str(path), **event.to_dict()}), flush=True)
                    else:
                        print(format_event(event, prefix), flush=True)
        except BrokenPipeError:
            raise
        except (SpeechRNNError, OSError) as error:
            failures += 1
            recognizer.discard()
            _report_failure(args.command, path, error)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    from speechrnn.exits import run_command  # noqa: PLC0415 - torch-free, as the rest of the runtime

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    return run_command(args.command, _checked_transcribe, args, prog=PROG)


def _checked_transcribe(args: argparse.Namespace) -> int:
    if args.chunk_ms <= 0:
        raise ConfigError(f"--chunk-ms must be > 0, got {args.chunk_ms}")
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if (args.threshold is not None or args.label_threshold) and not args.stream:
        raise ConfigError("--threshold and --label-threshold need --stream (they set live keyword detections)")
    keyword_settings(args)  # checks the values before any file is read
    return transcribe_files(args)
