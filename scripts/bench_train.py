#!/usr/bin/env python
"""Training throughput and peak memory of the recipe models on synthetic audio.

Two workloads, each with its recipe's model and batch budget (``data.max_seconds``):

- ``speech_commands``: 1 s clips (12-class 2x256 BiGRU, ``recipes/speech_commands/configs/sc12_bigru.toml``);
- ``librispeech``: 2-20 s utterances with ~14 characters per second of random text
  (5x512 BiGRU-CTC, ``recipes/librispeech/configs/bigru_ctc.toml``).

Two modes, so a data-loading bottleneck shows as the gap between them:

- ``files``: the real input pipeline: a DataLoader (``--num-workers``, pinned memory on CUDA)
  reads WAV files of noise from a temporary folder, applies the recipe's waveform augmentation
  and collates bucketed batches; each step's time includes waiting for its batch;
- ``memory``: the same batches collated once beforehand and kept in memory (on the device).

A step is the full training step of ``speechrnn.train``: log-mel features on the device,
SpecAugment, forward, loss, backward, gradient clipping, AdamW (bf16/fp16 autocast on CUDA
unless ``--no-amp``). After ``--warmup`` steps, ``--steps`` steps are timed and the medians
printed: step time, utterances per step, utterances/s and audio-hours per hour (per step,
then the median). Peak memory is ``torch.cuda.max_memory_allocated`` on CUDA (reset for each
mode) and the process's peak RSS on CPU (cumulative over the run; DataLoader workers not
counted).

    python scripts/bench_train.py --device cpu --threads 1 --max-seconds 32 --steps 5
    python scripts/bench_train.py --device cuda --json bench.json   # recipe batch budgets
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import string
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from speechrnn.atomic import atomic_write
from speechrnn.augment import WaveformAugment, spec_augment
from speechrnn.config import load_config
from speechrnn.data.dataset import BucketBatchSampler, ManifestDataset, collate_batch
from speechrnn.data.manifest import Utterance
from speechrnn.errors import ConfigError, SpeechRNNError
from speechrnn.model import SpeechRNN
from speechrnn.train import autocast, item_losses, make_loader, optimizer_step, peak_memory_mb, to_device

REPO = Path(__file__).resolve().parents[1]
SC_LABELS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_silence_", "_unknown_"]
CHARS_PER_SECOND = 14.0  # LibriSpeech read speech: about 14-15 characters (with spaces) per second
POOL = 256  # distinct audio files per workload; the manifest cycles through them


@dataclass
class Workload:
    name: str
    config: Path

    def durations(self, rng: np.random.Generator, count: int) -> np.ndarray:
        if self.name == "speech_commands":
            return np.where(rng.random(count) < 0.9, 1.0, rng.uniform(0.6, 1.0, count))  # most clips are 1 s
        return rng.uniform(2.0, 20.0, count)


WORKLOADS = {
    "speech_commands": Workload("speech_commands", REPO / "recipes/speech_commands/configs/sc12_bigru.toml"),
    "librispeech": Workload("librispeech", REPO / "recipes/librispeech/configs/bigru_ctc.toml"),
}


def synthetic_corpus(workload: Workload, folder: Path, count: int, rng: np.random.Generator) -> list[Utterance]:
    """``count`` utterances over a pool of at most ``POOL`` noise WAV files written to ``folder``."""
    durations = np.round(workload.durations(rng, min(count, POOL)), 3)
    pool = []
    for i, seconds in enumerate(durations):
        path = folder / f"{workload.name}_{i:04d}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000, subtype="PCM_16")
        pool.append((str(path), float(seconds)))
    letters = string.ascii_lowercase + "     '"
    utterances = []
    for i in range(count):
        path, seconds = pool[i % len(pool)]
        if workload.name == "speech_commands":
            utterances.append(Utterance(path, seconds, label=SC_LABELS[int(rng.integers(len(SC_LABELS)))]))
        else:
            chars = rng.choice(list(letters), int(seconds * CHARS_PER_SECOND))
            text = " ".join("".join(chars).split()) or "a"
            utterances.append(Utterance(path, seconds, text=text))
    return utterances


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_mode(model, config, batches, device, amp: bool, steps: int, warmup: int) -> dict[str, float]:
    """Time ``warmup + steps`` training steps over the ``batches`` iterable; medians of the timed steps."""
    mc = model.config
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda" and not torch.cuda.is_bf16_supported())
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    times, items, audio = [], [], []
    iterator = iter(batches)
    for index in range(warmup + steps):
        start = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            raise ConfigError(f"only {index} batches available; generate more with --utterances") from None
        batch = to_device(batch, device)
        with autocast(device, amp):
            outputs, out_steps = model(
                batch["audio"],
                batch["audio_lengths"],
                feature_transform=lambda f, n: spec_augment(f, n, config.augment),
            )
        loss = item_losses(mc, outputs, out_steps, batch, 0.0).mean()
        optimizer_step(loss, model, optimizer, scaler, config.optim.grad_clip)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        if index >= warmup:
            times.append(elapsed)
            items.append(len(batch["audio_lengths"]))
            audio.append(float(batch["audio_lengths"].sum()) / mc.sample_rate)
    return {
        "steps": steps,
        "step_s": _median(times),
        "utts_per_step": _median(items),
        "utts_per_s": _median([n / t for n, t in zip(items, times)]),
        "audio_hours_per_hour": _median([a / t for a, t in zip(audio, times)]),
        "peak_memory_mb": peak_memory_mb(device),
    }


def bench_workload(workload: Workload, device: torch.device, args, folder: Path) -> list[dict]:
    overrides = [f"data.max_seconds={args.max_seconds}"] if args.max_seconds else []
    config = load_config(workload.config, overrides)
    if not config.model.labels:
        config.model.labels = SC_LABELS
    rng = np.random.default_rng(args.seed)
    max_seconds = config.data.max_seconds
    mean = float(np.mean(workload.durations(np.random.default_rng(0), 1000)))
    count = args.utterances or int(1.5 * (args.steps + args.warmup) * max(1.0, max_seconds / mean)) + 8
    utterances = synthetic_corpus(workload, folder, count, rng)
    torch.manual_seed(args.seed)
    model = SpeechRNN(config.model).to(device)
    if args.compile:
        model = torch.compile(model)
    mc = config.model
    augment = None
    if config.augment.waveform_enabled and not args.no_augment:
        augment = WaveformAugment(config.augment, mc.sample_rate)  # generated coloured noise
    sampler = BucketBatchSampler([u.duration for u in utterances], max_seconds, seed=args.seed)
    results = []
    for mode in args.modes:
        if mode == "files":
            dataset = ManifestDataset(utterances, mc.labels, mc.head, mc.unit, mc.sample_rate, augment)
            batches = make_loader(dataset, sampler, args.num_workers, device.type == "cuda")
        else:
            dataset = ManifestDataset(utterances, mc.labels, mc.head, mc.unit, mc.sample_rate)
            batches = [
                to_device(collate_batch([dataset[i] for i in indices]), device)
                for indices, _ in zip(sampler, range(args.steps + args.warmup))
            ]
        result = run_mode(model, config, batches, device, not args.no_amp, args.steps, args.warmup)
        parameters = sum(p.numel() for p in model.parameters())
        results.append(
            {
                "workload": workload.name,
                "device": str(device),
                "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                "mode": mode,
                "max_seconds": max_seconds,
                "parameters": parameters,
                "threads": torch.get_num_threads(),
                "num_workers": args.num_workers if mode == "files" else 0,
                "amp": device.type == "cuda" and not args.no_amp,
                **result,
            }
        )
        if not args.quiet:
            print(format_row(results[-1]), flush=True)
        del batches
    return results


HEADER = (
    f"{'workload':<16} {'device':<7} {'mode':<7} {'batch_s':>7} {'utts/step':>9} {'step_s':>8} "
    f"{'utts/s':>8} {'audio_h/h':>9} {'peak_MB':>8}"
)


def format_row(r: dict) -> str:
    return (
        f"{r['workload']:<16} {r['device']:<7} {r['mode']:<7} {r['max_seconds']:>7g} {r['utts_per_step']:>9g} "
        f"{r['step_s']:>8.3f} {r['utts_per_s']:>8.1f} {r['audio_hours_per_hour']:>9.1f} {r['peak_memory_mb']:>8.0f}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default="speech_commands,librispeech", help="comma-separated (default: both)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (CPU, and CUDA when present)")
    parser.add_argument("--modes", default="files,memory", help="files (DataLoader from WAVs), memory (pre-loaded)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per mode (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--max-seconds", type=float, default=0.0, help="batch budget (default: the recipe's)")
    parser.add_argument("--utterances", type=int, default=0, help="synthetic utterances (default: enough batches)")
    parser.add_argument("--num-workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--no-amp", action="store_true", help="float32 on CUDA")
    parser.add_argument("--no-augment", action="store_true", help="skip waveform augmentation in the files mode")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here (atomically)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for w in args.workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r} (choose from {', '.join(WORKLOADS)})")
    for m in args.modes:
        if m not in ("files", "memory"):
            parser.error(f"unknown mode {m!r} (choose from files, memory)")
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    return args


def devices(name: str) -> list[torch.device]:
    if name == "auto":
        return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} but CUDA is not available")
    return [device]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        results = []
        if not args.quiet:
            print(HEADER)
        with tempfile.TemporaryDirectory(prefix="bench_train_") as folder:
            for device in devices(args.device):
                for name in args.workloads:
                    results += bench_workload(WORKLOADS[name], device, args, Path(folder))
    except SpeechRNNError as error:
        print(f"bench_train: error: {error}", file=sys.stderr)
        return 1
    if args.json:
        with atomic_write(args.json, "w", encoding="utf-8") as f:
            f.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
