#!/usr/bin/env python
"""WER against algorithmic latency on FSDD connected digits (held-out speaker): the streaming trade-off.

    python scripts/latency_table.py [--config recipes/fsdd/configs/connected.toml] [--out-dir exp/latency]
        [--variants unidirectional,chunk3-right3,chunk5-right5,chunk10-right10,full-bidirectional]
        [--set section.key=value ...] [--retrain] [--limit N] [--threads 1]

Trains one model per encoder variant with ``speechrnn train`` (same recipe, same overrides,
only the encoder mode differs; a variant whose ``best.pt`` exists is reused unless
``--retrain``), then scores each on the test manifest both offline (``model.transcribe``)
and streamed in 100 ms chunks (``StreamingRecognizer``). Writes ``latency_table.md`` and
``latency_table.json`` in ``--out-dir`` and prints the table.

Algorithmic latency is the longest time an input sample waits before every output that
depends on it can be computed, ignoring compute time: the STFT window's half-width
(n_fft / 2 samples) plus, for a unidirectional encoder, one encoder step; for a chunked
encoder, chunk + right context (C + R steps: the first step of a chunk waits for the rest of
its chunk and the lookahead); for a full-utterance bidirectional encoder, the whole utterance.
"Lookahead" is the right context alone (R steps).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from speechrnn.atomic import atomic_write

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "unidirectional": {"model.bidirectional": "false", "model.chunk_size": "0", "model.right_context": "0"},
    "chunk3-right3": {"model.bidirectional": "true", "model.chunk_size": "3", "model.right_context": "3"},
    "chunk5-right5": {"model.bidirectional": "true", "model.chunk_size": "5", "model.right_context": "5"},
    "chunk10-right10": {"model.bidirectional": "true", "model.chunk_size": "10", "model.right_context": "10"},
    "full-bidirectional": {"model.bidirectional": "true", "model.chunk_size": "0", "model.right_context": "0"},
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "recipes" / "fsdd" / "configs" / "connected.toml"))
    parser.add_argument("--out-dir", default=str(ROOT / "exp" / "latency"))
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated from {', '.join(VARIANTS)}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="training override (repeat)")
    parser.add_argument("--test", default=str(ROOT / "data" / "fsdd" / "connected" / "test.jsonl"))
    parser.add_argument("--limit", type=int, default=0, help="test utterances to score (0 = all)")
    parser.add_argument("--retrain", action="store_true", help="train even when a checkpoint exists")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for scoring")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def latency_ms(config) -> dict:
    """Chunk, lookahead and algorithmic latency in ms for a model config (see the module docstring)."""
    shift = config.frame_shift * 1000
    window = config.n_fft / 2 / config.sample_rate * 1000
    if not config.bidirectional:
        return {"chunk_ms": shift, "lookahead_ms": 0.0, "latency_ms": shift + window}
    if not config.chunk_size:
        return {"chunk_ms": None, "lookahead_ms": None, "latency_ms": None}  # the whole utterance
    chunk, right = config.chunk_size * shift, config.right_context * shift
    return {"chunk_ms": chunk, "lookahead_ms": right, "latency_ms": chunk + right + window}


def train_variant(name: str, args) -> tuple[Path, float | None]:
    """Train (or reuse) one variant; returns its best checkpoint and the training wall time (s)."""
    out_dir = Path(args.out_dir) / name
    best = out_dir / "best.pt"
    timing = out_dir / "train_seconds.txt"
    if best.is_file() and not args.retrain:
        return best, float(timing.read_text()) if timing.is_file() else None
    overrides = [f"train.out_dir={out_dir}", *args.set, *(f"{k}={v}" for k, v in VARIANTS[name].items())]
    command = [sys.executable, "-m", "speechrnn", "train", args.config, "--quiet"]
    for override in overrides:
        command += ["--set", override]
    print(f"[{name}] {' '.join(command)}", file=sys.stderr, flush=True)
    start = time.monotonic()
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seconds = time.monotonic() - start
    timing.write_text(f"{seconds:.1f}\n")
    return best, seconds


def score(checkpoint: Path, utterances, chunk_ms: int = 100, progress: bool = False) -> dict:
    """Offline and streamed WER of one checkpoint on ``utterances``."""
    from tqdm import tqdm

    from speechrnn import load_model
    from speechrnn.audio import load_audio
    from speechrnn.metrics import error_rates
    from speechrnn.stream import StreamingRecognizer

    model = load_model(checkpoint)
    rate = model.config.sample_rate
    chunk = rate * chunk_ms // 1000
    recognizer = StreamingRecognizer(model)
    references, offline, streamed = [], [], []
    for utterance in tqdm(utterances, disable=not progress, desc=checkpoint.parent.name, unit="utt"):
        audio = load_audio(utterance.audio, rate)
        offline.append(model.transcribe(audio).text)
        for begin in range(0, audio.size, chunk):
            recognizer.accept_waveform(audio[begin : begin + chunk], rate)
        streamed.append(recognizer.finalize().text)
        references.append(utterance.text)
    return {
        "offline_wer": error_rates(references, offline)["wer"],
        "streaming_wer": error_rates(references, streamed)["wer"],
        "identical": sum(a == b for a, b in zip(offline, streamed)),
        "utterances": len(references),
        "parameters": sum(p.numel() for p in model.parameters()),
        **latency_ms(model.config),
    }


def _ms(value) -> str:
    return "utterance" if value is None else f"{value:.0f}"


def format_table(rows: list[dict]) -> str:
    lines = [
        "| encoder | chunk (ms) | lookahead (ms) | algorithmic latency (ms) | WER offline | WER streamed | "
        "identical | params | train (min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        train = "-" if row.get("train_seconds") is None else f"{row['train_seconds'] / 60:.1f}"
        lines.append(
            f"| {row['variant']} | {_ms(row['chunk_ms'])} | {_ms(row['lookahead_ms'])} | {_ms(row['latency_ms'])} | "
            f"{100 * row['offline_wer']:.2f}% | {100 * row['streaming_wer']:.2f}% | "
            f"{row['identical']}/{row['utterances']} | {row['parameters']:,} | {train} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from speechrnn import SpeechRNNError
    from speechrnn.data.manifest import read_manifest

    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"latency_table: unknown variant {unknown[0]!r} (known: {', '.join(VARIANTS)})", file=sys.stderr)
        return 1
    try:
        utterances = read_manifest(args.test)
    except SpeechRNNError as error:
        print(f"latency_table: {error}", file=sys.stderr)
        return 1
    if args.limit:
        utterances = utterances[: args.limit]
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        try:
            checkpoint, seconds = train_variant(name, args)
        except subprocess.CalledProcessError as error:
            print(f"latency_table: training {name} failed (exit {error.returncode})", file=sys.stderr)
            return 1
        progress = not args.quiet and sys.stderr.isatty()
        rows.append({"variant": name, "train_seconds": seconds, **score(checkpoint, utterances, progress=progress)})
        print(f"[{name}] {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    table = format_table(rows)
    for path, text in (
        (out_dir / "latency_table.md", table + "\n"),
        (out_dir / "latency_table.json", json.dumps(rows, indent=2)),
    ):
        with atomic_write(path, "w") as f:
            f.write(text)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
