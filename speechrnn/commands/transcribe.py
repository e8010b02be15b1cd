"""``speechrnn transcribe``: transcribe (CTC models) or classify audio files.

Without ``--output-dir`` results go to stdout: ``txt`` prints each file's text (prefixed by
``path<TAB>`` when there are several files), ``json`` prints one JSON object per file per line.
With ``--output-dir`` one file per input and format is written there (``--format all``
writes txt, json, srt, vtt and tsv); an input whose file name another input already took fails
rather than overwrite that one's outputs. A file that fails prints
``speechrnn transcribe: error: <path>: <reason>`` on stderr and the others go on; the exit
code is 1 if any file failed.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from speechrnn.commands.keywords import add_keyword_arguments, keyword_settings
from speechrnn.device import resolve_device
from speechrnn.endpoint import EndpointConfig
from speechrnn.errors import AudioError, ConfigError, SpeechRNNError, file_error_line
from speechrnn.stream import StreamingRecognizer, format_event
from speechrnn.writers import FORMATS, get_writer, result_to_dict

PROG = "speechrnn transcribe"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", nargs="+", metavar="AUDIO", help="audio files (wav, flac, ogg, mp3; any rate)")
    parser.add_argument(
        "--model", default=None, metavar="NAME", help="digits or commands (bundled) or a checkpoint (default: digits)"
    )
    parser.add_argument(
        "--format",
        default="txt",
        choices=[*FORMATS, "all"],
        help="output format (default: txt; srt/vtt/tsv/all need --output-dir)",
    )
    parser.add_argument("--output-dir", default=None, metavar="DIR", help="write one file per input and format here")
    parser.add_argument("--decoder", default="greedy", choices=["greedy", "beam"], help="CTC decoder (default: greedy)")
    parser.add_argument("--beam-size", type=int, default=8, metavar="N", help="beam width for --decoder beam")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where to run the model")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--speaker-audio",
        nargs="+",
        metavar="FILE",
        help="recordings of the speaker (for a model with speaker normalisation): every input is "
        "normalised as that speaker's",
    )
    parser.add_argument(
        "--adapt-speaker",
        action="store_true",
        help="with --stream, for a model with speaker normalisation: the inputs are one speaker, whose "
        "statistics are updated after each utterance and used for the next",
    )
    parser.add_argument("--stream", action="store_true", help="feed files in real-time-sized chunks; print partials")
    parser.add_argument(
        "--vad", action="store_true", help="with --stream and a classifier: gate detections with silero-vad"
    )
    parser.add_argument("--chunk-ms", type=int, default=None, metavar="N", help="chunk length for --stream (ms)")
    add_keyword_arguments(parser)


def _check_arguments(args: argparse.Namespace) -> None:
    if args.beam_size < 1:
        raise ConfigError(f"--beam-size must be >= 1, got {args.beam_size}")
    if args.chunk_ms is not None and args.chunk_ms <= 0:
        raise ConfigError(f"--chunk-ms must be > 0, got {args.chunk_ms}")
    if args.stream and (args.output_dir is not None or args.format not in ("txt", "json")):
        given = "--output-dir" if args.output_dir is not None else f"--format {args.format}"
        raise ConfigError(f"--stream prints its events on stdout as txt or json; {given} is for offline transcription")
    if args.format == "all" and args.output_dir is None and not args.stream:
        raise ConfigError("--format all needs --output-dir")
    if args.format in ("srt", "vtt", "tsv") and args.output_dir is None and not args.stream:
        raise ConfigError(f"--format {args.format} needs --output-dir (stdout takes txt or json)")
    if getattr(args, "vad", False) and not args.stream:
        raise ConfigError("--vad needs --stream (it gates live keyword detections)")
    if (args.threshold is not None or args.label_threshold) and not args.stream:
        raise ConfigError("--threshold and --label-threshold need --stream (they set live keyword detections)")
    keyword_settings(args)  # checks the values before any file is read
    if args.adapt_speaker and not args.stream:
        raise ConfigError("--adapt-speaker needs --stream (offline, give the speaker's audio with --speaker-audio)")
    resolve_device(args.device)


def _progress(items: list[str], args: argparse.Namespace):
    """A tqdm bar over files when writing to --output-dir and stderr is a terminal."""
    show = args.output_dir is not None and not args.quiet and sys.stderr.isatty()
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="transcribing", unit="file")


def _report_failure(path: str, error: Exception) -> None:
    """One line on stderr naming the file; the batch goes on."""
    print(f"{PROG}: error: {file_error_line(path, error)}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    from speechrnn.model import load_model

    model = load_model(args.model, device=args.device)  # ModelError -> one line, exit 1 (cli.main)
    speaker = None
    if args.speaker_audio:
        from speechrnn.speaker_norm import enrol

        speaker = enrol(model, args.speaker_audio)  # a bad file: one line, exit 1 (cli.main)
    if args.stream:
        return int(transcribe_stream_cli(args, model, speaker) or 0)

    options = {"method": args.decoder, "beam_size": args.beam_size, "speaker": speaker}
    write = get_writer(args.format, args.output_dir) if args.output_dir is not None else None
    several = len(args.audio) > 1
    failures = 0
    for path in _progress(args.audio, args):
        try:
            result = model.transcribe(path, **options)
            if write is not None:
                write(result, path)
            elif args.format == "json":
                print(json.dumps(result_to_dict(result, path), ensure_ascii=False), flush=True)
            else:
                print(f"{path}\t{result.text}" if several else result.text, flush=True)
        except BrokenPipeError:
            raise  # stdout is gone, not this file: the command stops (exits.run_command)
        except (SpeechRNNError, OSError) as error:
            failures += 1
            _report_failure(path, error)
    return 1 if failures else 0


# ---------------------------------------------------------------------- --stream
def _read_file(path: str) -> tuple[np.ndarray, int]:
    """A file's samples at its own rate: (samples,) float32 and the rate."""
    import soundfile as sf  # noqa: PLC0415

    from speechrnn.audio import load_audio  # noqa: PLC0415

    try:
        rate = sf.info(str(path)).samplerate
    except Exception:  # noqa: BLE001 - load_audio raises the precise AudioError
        load_audio(path)
        raise AudioError(f"{path}: not a readable audio file") from None
    return load_audio(path, rate), rate


def transcribe_stream_cli(args, model, speaker=None) -> int:
    """``speechrnn transcribe --stream``: feed each file in ``--chunk-ms`` chunks, print events as they come.

    Text output: ``partial: ...`` lines when the partial text changes and ``[start-end] text``
    per final utterance (prefixed by the file name when there are several files);
    ``--format json`` prints one JSON object per event. ``speaker``: enrolled statistics
    (``--speaker-audio``); ``--adapt-speaker`` learns them from the inputs instead.
    """
    chunk_ms = getattr(args, "chunk_ms", None) or 100
    if chunk_ms <= 0:
        raise ConfigError(f"--chunk-ms must be positive, got {chunk_ms}")
    decoder = getattr(args, "decoder", None) or "greedy"
    options = {"method": decoder}
    if getattr(args, "beam_size", None):
        options["beam_size"] = args.beam_size
    as_json = getattr(args, "format", "text") == "json"
    paths = list(args.audio)
    vad = None
    if getattr(args, "vad", False):
        from speechrnn.vad import SileroVAD  # noqa: PLC0415 - optional dependency

        vad = SileroVAD()
    recognizer = StreamingRecognizer(
        model,
        endpoint=EndpointConfig(),
        keywords=keyword_settings(args),
        vad=vad,
        decoding=options,
        speaker=speaker,
        adapt_speaker=getattr(args, "adapt_speaker", False),
    )
    failures = 0
    for path in paths:
        try:
            audio, rate = _read_file(path)
            prefix = f"{path}: " if len(paths) > 1 else ""
            chunk = max(1, rate * chunk_ms // 1000)
            events_of_file = (
                event
                for begin in range(0, audio.size, chunk)
                for event in recognizer.accept_waveform(audio[begin : begin + chunk], rate)
            )
            for event in _chain(events_of_file, recognizer.finish):
                if as_json:
                    print(json.dumps({"file": str(path), **event.to_dict()}), flush=True)
                else:
                    print(format_event(event, prefix), flush=True)
        except BrokenPipeError:
            raise
        except (SpeechRNNError, OSError) as error:  # as offline: report the file, go on with the others
            failures += 1
            recognizer.discard()
            _report_failure(path, error)
    sys.stdout.flush()
    return 1 if failures else 0


def _chain(events, finish):
    yield from events
    yield from finish()
