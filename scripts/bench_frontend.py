"""Benchmark the log-mel front end: ``speechrnn.LogMel`` against librosa on 60 s of real speech.

Both compute the same features (``melspectrogram(power=2)``; LogMel adds the log) from the
same signal: FSDD recordings tiled to the requested length (or the bundled example file
when FSDD is absent), at 16 kHz. CPU timings use one thread and ``torch.inference_mode``.
Prints the median of N repetitions for each, the ratio librosa / LogMel and the machine.

    python scripts/bench_frontend.py [--seconds 60] [--repeats 20] [--device cuda --batch 32]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # librosa's BLAS on one thread too: a like-for-like comparison

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from speechrnn.audio import HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE, LogMel, load_audio  # noqa: E402
from speechrnn.errors import DataError  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "speechrnn" / "assets" / "example_digits.wav"


def speech(seconds: float) -> tuple[np.ndarray, str]:
    """``seconds`` of real speech at 16 kHz: FSDD clips tiled in a fixed order, else the example file."""
    try:
        from speechrnn.data.fsdd import fsdd_root

        paths = sorted((fsdd_root() / "recordings").glob("*.wav"))[:200]
        source = f"FSDD ({len(paths)} clips tiled)"
    except (DataError, ImportError):
        paths, source = [EXAMPLE], "example_digits.wav tiled"
    pieces, total, index = [], 0, 0
    while total < seconds * SAMPLE_RATE:
        clip = load_audio(paths[index % len(paths)])
        pieces.append(clip)
        total += len(clip)
        index += 1
    return np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)], source


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def median_time(function, repeats: int) -> float:
    function()  # warm up (plans, caches, CUDA kernels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the test signal")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: add a batched GPU timing")
    parser.add_argument("--batch", type=int, default=32, help="signals per batch for the CUDA timing")
    args = parser.parse_args()

    torch.set_num_threads(1)
    audio, source = speech(args.seconds)
    module = LogMel()
    tensor = torch.from_numpy(audio).unsqueeze(0)

    def ours() -> torch.Tensor:
        with torch.inference_mode():
            return module(tensor)

    def reference() -> np.ndarray:
        return librosa.feature.melspectrogram(
            y=audio, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, power=2.0
        )

    # the two agree before they are timed
    mel = reference().T
    loud = mel > 1e-4
    error = float(np.abs(ours()[0].double().numpy()[loud] - np.log(mel[loud])).max())

    ours_s = median_time(ours, args.repeats)
    librosa_s = median_time(reference, args.repeats)
    print(f"machine: {cpu_name()} ({os.cpu_count()} cpus) | {platform.platform()}")
    print(
        f"torch {torch.__version__}, librosa {librosa.__version__}, numpy {np.__version__}, 1 thread (torch and BLAS)"
    )
    print(f"signal: {len(audio) / SAMPLE_RATE:.1f} s of speech at 16 kHz from {source}; {args.repeats} repeats")
    print(f"max |log-mel difference| on bins with power > 1e-4: {error:.2e}")
    speed = len(audio) / SAMPLE_RATE / ours_s
    print(f"LogMel (torch, cpu, 1 thread):  median {1000 * ours_s:8.2f} ms  ({speed:,.0f}x real time)")
    print(f"librosa melspectrogram(power=2): median {1000 * librosa_s:8.2f} ms")
    print(f"ratio librosa / LogMel: {librosa_s / ours_s:.2f}")

    if args.device == "cuda":
        if not torch.cuda.is_available():
            print("cuda: not available on this machine")
            return
        gpu = LogMel().cuda()
        batch = tensor.repeat(args.batch, 1).cuda()

        def on_gpu() -> None:
            with torch.inference_mode():
                gpu(batch)
            torch.cuda.synchronize()

        gpu_s = median_time(on_gpu, args.repeats)
        seconds = args.batch * len(audio) / SAMPLE_RATE
        print(
            f"cuda: {torch.cuda.get_device_name()}: batch {args.batch} x {len(audio) / SAMPLE_RATE:.0f} s: "
            f"median {1000 * gpu_s:.2f} ms ({seconds / gpu_s:,.0f}x real time)"
        )


if __name__ == "__main__":
    main()
