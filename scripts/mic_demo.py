#!/usr/bin/env python
"""Live recognition from a microphone: partial results as you speak, a final line per utterance.

    python scripts/mic_demo.py [--model digits|commands|CKPT] [--device DEV] [--chunk-ms 100] [--seconds N]
                               [--format text|json] [--vad] [--threshold P] [--label-threshold LABEL=P ...]
    python scripts/mic_demo.py --list-devices

Audio is captured with sounddevice at the device's own rate (often 44.1 or 48 kHz) and
resampled statefully by ``StreamingRecognizer``; endpointing (trailing silence, maximum
length) cuts the stream into utterances. Ctrl-C stops cleanly after printing the last final.
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import sys
import time

from speechrnn.commands.keywords import add_keyword_arguments, keyword_settings


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--model", default=None, metavar="NAME", help="digits or commands (bundled) or a checkpoint (default: digits)"
    )
    parser.add_argument("--device", default=None, help="input device index or name (default: the system default)")
    parser.add_argument("--list-devices", action="store_true", help="list audio devices and exit")
    parser.add_argument("--chunk-ms", type=int, default=100, metavar="N", help="capture block length (default 100)")
    parser.add_argument("--seconds", type=float, default=None, metavar="S", help="stop after S seconds of audio")
    parser.add_argument("--format", default="text", choices=["text", "json"], help="json: one object per event")
    parser.add_argument("--vad", action="store_true", help="gate command detections with silero-vad")
    parser.add_argument("--trailing-silence", type=float, default=1.2, metavar="S", help="endpoint after S s silence")
    add_keyword_arguments(parser)
    return parser.parse_args(argv)


STALL_SECONDS = 3.0  # no block for this long once audio has arrived: the device or its server is gone


def fail(message: str) -> int:
    print(f"mic_demo: {message}", file=sys.stderr)
    return 1


def _device(value: str | None):
    """--device as an index when it is a number, else a name (sounddevice matches substrings)."""
    if value is None:
        return None
    return int(value) if value.isdigit() else value


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import sounddevice as sd
    except (ImportError, OSError) as error:  # OSError: the PortAudio library is missing
        return fail(f"sounddevice is not usable ({error}); install it with `pip install sounddevice`")
    if args.list_devices:
        devices = sd.query_devices()
        if not len(devices):
            return fail("no audio devices found (is an audio server such as PulseAudio running?)")
        print(devices)
        return 0
    try:
        info = sd.query_devices(_device(args.device), kind="input")
    except (ValueError, sd.PortAudioError):
        which = f"named {args.device!r}" if args.device is not None else "found"
        return fail(f"no input audio device {which} (see --list-devices)")
    if args.chunk_ms <= 0:
        return fail(f"--chunk-ms must be positive, got {args.chunk_ms}")

    from speechrnn import SpeechRNNError, load_model
    from speechrnn.endpoint import EndpointConfig
    from speechrnn.stream import StreamingRecognizer, format_event

    try:
        model = load_model(args.model)
        vad = None
        if args.vad:
            from speechrnn.vad import SileroVAD

            vad = SileroVAD()
        recognizer = StreamingRecognizer(
            model,
            endpoint=EndpointConfig(rule2_min_trailing_silence=args.trailing_silence),
            keywords=keyword_settings(args),
            vad=vad,
        )
    except SpeechRNNError as error:
        return fail(str(error))
    rate = int(info["default_samplerate"])
    blocks: queue.Queue = queue.Queue()
    tty = sys.stdout.isatty() and args.format == "text"

    def show(event) -> None:
        if args.format == "json":
            print(json.dumps(event.to_dict()), flush=True)
        elif tty and event.kind == "partial":
            print(f"\r\033[K{event.text}", end="", flush=True)
        else:
            print(("\r\033[K" if tty else "") + format_event(event), flush=True)

    def callback(indata, frames, time_info, status) -> None:  # runs in PortAudio's thread
        blocks.put(indata[:, 0].copy())

    received = 0

    def hear(block) -> None:
        nonlocal received
        received += block.size
        for event in recognizer.accept_waveform(block, rate):
            show(event)

    last_block = time.monotonic()
    try:
        stream = sd.InputStream(
            device=info["index"], channels=1, samplerate=rate, dtype="float32",
            blocksize=max(1, rate * args.chunk_ms // 1000), callback=callback,
        )  # fmt: skip
    except sd.PortAudioError as error:
        return fail(f"cannot open input device {info['name']!r} ({error})")
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C even when started in the background
    print(f"listening on {info['name']!r} at {rate} Hz; Ctrl-C to stop", file=sys.stderr, flush=True)
    failure = None
    try:
        with stream:
            started = time.monotonic()
            while args.seconds is None or received < args.seconds * rate:
                try:
                    block = blocks.get(timeout=0.5)
                except queue.Empty:
                    if time.monotonic() - started > 5 and received == 0:
                        failure = f"no audio arrives from {info['name']!r}"
                        break
                    if received and (time.monotonic() - last_block > STALL_SECONDS or not stream.active):
                        failure = (
                            f"audio stopped arriving from {info['name']!r} after {received / rate:.1f} s "
                            "(the device or the audio server went away)"
                        )
                        break
                    continue
                last_block = time.monotonic()
                hear(block)
    except KeyboardInterrupt:
        pass
    except SpeechRNNError as error:
        return fail(str(error))
    except sd.PortAudioError as error:  # closing a stream whose server died can fail too
        failure = failure or f"audio device error ({error})"
    while not blocks.empty():  # audio captured before the stop that a busy machine had not yet processed
        hear(blocks.get_nowait())
    for event in recognizer.finish():  # what was heard before the stop
        show(event)
    if failure is not None:
        return fail(failure)
    if not received:
        print("mic_demo: no audio was received", file=sys.stderr)
    print(f"mic_demo: stopped after {received / rate:.1f} s of audio", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
