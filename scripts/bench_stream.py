#!/usr/bin/env python
"""Streaming benchmark: real-time factor, per-chunk compute, streaming WER vs offline WER.

    python scripts/bench_stream.py [--model CKPT] [--manifest data/fsdd/connected/test.jsonl]
        [--limit 50] [--chunk-ms 100] [--threads 1] [--json out.json]

Each utterance of the manifest is fed to a ``StreamingRecognizer`` in ``--chunk-ms`` chunks
(no endpointing: one utterance per file). Reported: RTF = compute (wall) time / audio time on
``--threads`` CPU threads, the same with process CPU time (``rtf_cpu_time``: unaffected by other
processes taking the CPU on a shared machine), per-chunk compute p50/p99 (ms), and corpus WER of the streamed
finals and of ``model.transcribe`` on the whole files (they should be equal). Targets for the
bundled model: RTF <= 0.02 with 100 ms chunks on one thread; streaming WER == offline WER.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from speechrnn.atomic import atomic_write

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST = ROOT / "data" / "fsdd" / "connected" / "test.jsonl"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint (default: the bundled model)")
    parser.add_argument("--manifest", default=str(DEFAULT_MANIFEST), help="JSONL manifest with reference texts")
    parser.add_argument("--limit", type=int, default=50, help="utterances to use (0 = all)")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def bench(model, utterances, chunk_ms: int, progress: bool = False) -> dict:
    """Stream every utterance; return timing and WER figures (see the module docstring)."""
    from tqdm import tqdm

    from speechrnn.audio import load_audio
    from speechrnn.metrics import error_rates
    from speechrnn.stream import StreamingRecognizer

    rate = model.config.sample_rate
    chunk = rate * chunk_ms // 1000
    recognizer = StreamingRecognizer(model)
    warmup = load_audio(utterances[0].audio, rate)
    for begin in range(0, warmup.size, chunk):  # first calls allocate; not timed
        recognizer.accept_waveform(warmup[begin : begin + chunk], rate)
    recognizer.finalize()
    chunk_times, total_compute, total_cpu, total_audio = [], 0.0, 0.0, 0.0
    references, streamed, offline, equal = [], [], [], 0
    for utterance in tqdm(utterances, disable=not progress, desc="streaming", unit="utt"):
        audio = load_audio(utterance.audio, rate)
        total_audio += audio.size / rate
        times = []
        cpu_start = time.process_time()
        for begin in range(0, audio.size, chunk):
            start = time.perf_counter()
            recognizer.accept_waveform(audio[begin : begin + chunk], rate)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        result = recognizer.finalize()
        total_compute += sum(times) + time.perf_counter() - start
        total_cpu += time.process_time() - cpu_start
        chunk_times += times
        whole = model.transcribe(audio)
        references.append(utterance.text or utterance.label or "")
        streamed.append(result.text)
        offline.append(whole.text)
        equal += result.text == whole.text
    times_ms = np.array(chunk_times) * 1000
    stream_scores, offline_scores = error_rates(references, streamed), error_rates(references, offline)
    return {
        "utterances": len(references),
        "audio_seconds": round(total_audio, 2),
        "chunk_ms": chunk_ms,
        "rtf": total_compute / total_audio,
        "rtf_cpu_time": total_cpu / total_audio,
        "chunk_compute_ms_p50": float(np.percentile(times_ms, 50)),
        "chunk_compute_ms_p99": float(np.percentile(times_ms, 99)),
        "streaming_wer": stream_scores["wer"],
        "offline_wer": offline_scores["wer"],
        "identical_hypotheses": equal,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from speechrnn import SpeechRNNError, load_model
    from speechrnn.data.manifest import read_manifest

    try:
        model = load_model(args.model)
        utterances = read_manifest(args.manifest)
    except SpeechRNNError as error:
        print(f"bench_stream: {error}", file=sys.stderr)
        return 1
    if args.limit:
        utterances = utterances[: args.limit]
    config = model.config
    results = bench(model, utterances, args.chunk_ms, progress=not args.quiet and sys.stderr.isatty())
    results.update(
        model=args.model or "bundled",
        threads=args.threads,
        encoder=f"{'bi' if config.bidirectional else 'uni'}GRU {config.num_layers}x{config.hidden_size} "
        f"chunk={config.chunk_size} right={config.right_context} shift={config.frame_shift * 1000:.0f}ms",
    )
    for key, value in results.items():
        print(f"{key:>24}: {value:.4f}" if isinstance(value, float) else f"{key:>24}: {value}")
    if args.json:
        with atomic_write(args.json, "w", encoding="utf-8") as f:  # no half-written report on a crash
            f.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
