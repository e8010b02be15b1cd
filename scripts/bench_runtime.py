#!/usr/bin/env python
"""Deployment benchmark: torch streaming vs the torch-free runtime (float32, int8) vs PocketSphinx.

    python scripts/bench_runtime.py [--model digits] [--seconds 60] [--chunk-ms 100] [--repeats 3]
        [--json out.json]

One process, one thread for every system, the same audio (FSDD test clips, takes 0-4, joined
with 1 s pauses and resampled to 16 kHz; the bundled example file repeated when FSDD is
absent), fed in ``--chunk-ms`` chunks of 16-bit PCM through each streaming recogniser with the
default endpointer (as ``transcribe --stream``). Reported per system: real-time factor = wall
time / audio time (best and median of ``--repeats`` interleaved runs: the machine is shared), the
same with process CPU time, and the finals' text agreement with torch's. PocketSphinx is the
TIDIGITS digit recogniser of Debian's ``pocketsphinx-testdata`` (its FSG grammar; ``pip install
pocketsphinx`` for the decoder), fed the same chunks; it is skipped with a note when absent.

Where the runtime's time goes: one more float32 run, its onnxruntime encoder steps (whole-utterance
re-runs for a model that cannot stream by step), its speech-embedding calls (a model with
``subsampling = "embedding"``) and its log-mel frames timed apart from the rest (the recogniser's
logic, endpointing, decoding), and the number of encoder calls with the time of one; and the
arithmetic behind them: multiply-adds per encoder step of the speech embedding's convolutions
(counted on a torch step of 10) and of the GRUs (3 gates x hidden x (input + hidden) a direction).

Cold start: a new Python process that imports, loads the model and prints the result of a 1 s
file, timed from the parent (interpreter start included; wall and the child's CPU time), and that
process's peak RSS (``VmHWM``), for the runtime and for torch.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from speechrnn.compute import multiply_adds_per_step

ROOT = Path(__file__).resolve().parents[1]
TIDIGITS = Path("/usr/share/pocketsphinx/test/data/tidigits")
EXAMPLE = ROOT / "speechrnn" / "assets" / "example_digits.wav"
PAUSE_S = 1.0  # between clips: long enough for every endpointer to cut there


def bench_audio(seconds: float) -> tuple[np.ndarray, str]:
    """(samples,) int16 at 16 kHz of about ``seconds`` and where it came from."""
    from speechrnn.audio_io import load_audio
    from speechrnn.data.fsdd import fsdd_root

    clips = sorted((fsdd_root() / "recordings").glob("*_[0-4].wav"))
    source = f"FSDD test clips ({fsdd_root()})"
    if not clips:
        clips, source = [EXAMPLE], f"{EXAMPLE.name} repeated"
    pause = np.zeros(int(PAUSE_S * 16000), dtype=np.float32)
    pieces, total, i = [], 0, 0
    while total < seconds * 16000:
        audio = load_audio(clips[i % len(clips)], 16000)
        pieces += [audio, pause]
        total += audio.size + pause.size
        i += 1
    audio = np.concatenate(pieces)
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16), f"{source}, {i} clips"


def feed(recognizer, audio: np.ndarray, chunk: int) -> tuple[float, float, list[str]]:
    """Wall and CPU seconds to stream ``audio`` through ``recognizer``; the final texts."""
    wall, cpu = time.perf_counter(), time.process_time()
    events = []
    for begin in range(0, audio.size, chunk):
        events += recognizer.accept_waveform(audio[begin : begin + chunk], 16000)
    events += recognizer.finish()
    return time.perf_counter() - wall, time.process_time() - cpu, [e.text for e in events if e.kind == "final"]


class PocketSphinx:
    """The TIDIGITS recogniser behind the recognisers' interface, cut into utterances by PocketSphinx's
    own voice-activity endpointer (as ``pocketsphinx_continuous`` does): 30 ms frames, a final per
    utterance."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder, Endpointer

        self.endpointer = Endpointer(sample_rate=16000)
        self.decoder = Decoder(
            hmm=str(TIDIGITS / "hmm"),
            dict=str(TIDIGITS / "lm" / "tidigits.dic"),
            fsg=str(TIDIGITS / "lm" / "tidigits.fsg"),
            samprate=16000,
            loglevel="FATAL",
        )
        self.rest = b""

    def _final(self) -> argparse.Namespace:
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return argparse.Namespace(kind="final", text=hypothesis.hypstr if hypothesis else "")

    def _speech(self, speech, was_in_speech: bool) -> list:
        if speech is None:
            return []
        if not was_in_speech:
            self.decoder.start_utt()
        self.decoder.process_raw(speech, False, False)
        return [] if self.endpointer.in_speech else [self._final()]

    def accept_waveform(self, samples: np.ndarray, rate: int) -> list:
        data = self.rest + samples.tobytes()
        size = self.endpointer.frame_bytes
        events = []
        for begin in range(0, len(data) - size + 1, size):
            was_in_speech = self.endpointer.in_speech
            events += self._speech(self.endpointer.process(data[begin : begin + size]), was_in_speech)
        self.rest = data[len(data) - len(data) % size :]
        return events

    def finish(self) -> list:
        was_in_speech = self.endpointer.in_speech
        speech = self.endpointer.end_stream(self.rest)
        self.rest = b""
        events = self._speech(speech, was_in_speech)
        if self.endpointer.in_speech or (was_in_speech and speech is None):
            events.append(self._final())
        return events


def runtime_breakdown(recognizer, audio: np.ndarray, chunk: int) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds of one streamed pass spent in the encoder's onnxruntime steps (or whole-utterance re-runs),
    the speech embedding's calls (each over the whole 80 ms steps that arrived; if the model has one),
    log-mel frames and the rest, by timing those
    calls on this recogniser's own objects; and how often each was called."""
    model = recognizer.model
    # a model that cannot stream by step re-runs the utterance through encode (which never calls step)
    encoder, method = ("encoder steps", "step") if model.streams_by_step else ("encoder re-runs", "encode")
    spent, calls, patched = {}, {}, []

    def timed(owner, name: str, key: str) -> None:
        call = getattr(owner, name)
        spent[key], calls[key] = 0.0, 0
        patched.append((owner, name))

        def wrapper(*args):
            start = time.perf_counter()
            try:
                return call(*args)
            finally:
                spent[key] += time.perf_counter() - start
                calls[key] += 1

        setattr(owner, name, wrapper)  # on the instance: the class and other recognisers are untouched

    timed(model, method, f"onnxruntime {encoder}")
    if model.subsampling == "embedding":
        timed(model.subsampling_net, "run", "onnxruntime embedding calls")
    timed(recognizer._features, "accept", "log-mel frames")
    wall, _, _ = feed(recognizer, audio, chunk)
    for owner, name in patched:
        delattr(owner, name)  # the instance attribute; the class's method again
    spent["the rest"] = wall - sum(spent.values())
    return spent, calls


def pocketsphinx_factory():
    """A PocketSphinx recogniser maker, or the reason there is none."""
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        return None, "pocketsphinx not installed (pip install pocketsphinx)"
    if not (TIDIGITS / "hmm" / "mdef").is_file():
        return None, f"TIDIGITS model not found at {TIDIGITS} (apt-get install pocketsphinx-testdata)"
    return PocketSphinx, None


# peak RSS from VmHWM: ru_maxrss would carry over the forking parent's peak across exec
PEAK_RSS = "[int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0]"
COLD_RUNTIME = f"""
import sys
from speechrnn import runtime
print(runtime.load(sys.argv[1]).transcribe(sys.argv[2]).text)
print('torch' in sys.modules, {PEAK_RSS})
"""
COLD_TORCH = f"""
import sys
import torch
torch.set_num_threads(1)
from speechrnn.model import load_model
from speechrnn.export import resolve_model
print(load_model(resolve_model(sys.argv[1])).transcribe(sys.argv[2]).text)
print('torch' in sys.modules, {PEAK_RSS})
"""


def cold_start(code: str, argument: str, clip: Path, repeats: int) -> dict:
    """Seconds from process start to the printed result, and the process's peak RSS in MB."""
    times, cpu, rss, text = [], [], [], ""
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, argument, str(clip)], capture_output=True, text=True, check=True,
            env={"OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        )
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        text, last = done.stdout.splitlines()
        rss.append(int(last.split()[1]) / 1024)
    best, median = min(times), statistics.median(times)
    return {"seconds_best": best, "seconds_median": median, "cpu_seconds_best": min(cpu), "peak_rss_mb": max(rss),
            "text": text}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--model", default="digits", help="checkpoint or bundled name (default: digits)")
    parser.add_argument("--seconds", type=float, default=60.0, help="audio length to stream")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per system (best and median)")
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from speechrnn import runtime
    from speechrnn.endpoint import EndpointConfig
    from speechrnn.export import export_onnx, resolve_model
    from speechrnn.model import load_model
    from speechrnn.stream import StreamingRecognizer

    model = load_model(resolve_model(args.model))
    work = Path(tempfile.mkdtemp(prefix="bench_runtime."))
    float_dir = export_onnx(model, work / "float32")
    int8_dir = export_onnx(model, work / "int8", quantize="int8")
    audio, source = bench_audio(args.seconds)
    seconds = audio.size / 16000
    chunk = 16000 * args.chunk_ms // 1000
    endpoint = EndpointConfig()
    float_model, int8_model = runtime.load(float_dir), runtime.load(int8_dir)
    systems = {
        "torch streaming (StreamingRecognizer)": lambda: StreamingRecognizer(model, endpoint=endpoint),
        "runtime float32 (onnxruntime)": lambda: runtime.StreamingRecognizer(float_model, endpoint=endpoint),
        "runtime int8 (onnxruntime)": lambda: runtime.StreamingRecognizer(int8_model, endpoint=endpoint),
    }
    factory, note = pocketsphinx_factory()
    if factory is not None:
        systems["PocketSphinx TIDIGITS (FSG)"] = factory
    results = {name: {"wall": [], "cpu": [], "texts": None} for name in systems}
    for _ in range(args.repeats):
        for name, make in systems.items():
            wall, cpu, texts = feed(make(), audio, chunk)
            results[name]["wall"].append(wall)
            results[name]["cpu"].append(cpu)
            results[name]["texts"] = texts
    reference = results["torch streaming (StreamingRecognizer)"]["texts"]
    pocket = results.get("PocketSphinx TIDIGITS (FSG)")
    print(f"audio: {seconds:.1f} s ({source}); chunks of {args.chunk_ms} ms; one thread; {args.repeats} runs each")
    print("| system | RTF best | RTF median | RTF (CPU time) best | / PocketSphinx | finals equal torch's |")
    print("|---|---:|---:|---:|---:|---|")
    summary = {}
    for name, result in results.items():
        best, median = min(result["wall"]) / seconds, statistics.median(result["wall"]) / seconds
        cpu = min(result["cpu"]) / seconds
        ratio = f"{best / (min(pocket['wall']) / seconds):.2f}" if pocket else "n/a"
        same = "n/a" if "PocketSphinx" in name else str(result["texts"] == reference)
        print(f"| {name} | {best:.4f} | {median:.4f} | {cpu:.4f} | {ratio} | {same} |")
        summary[name] = {"rtf_best": best, "rtf_median": median, "rtf_cpu_best": cpu, "finals": len(result["texts"])}
    if note:
        print(f"PocketSphinx: {note}")
    recognizer = runtime.StreamingRecognizer(float_model, endpoint=endpoint)
    breakdown, calls = runtime_breakdown(recognizer, audio, chunk)
    counts = {}  # "encoder steps" (or "encoder re-runs"), "embedding calls", "log-mel calls": (calls, us each)
    for key, n in calls.items():
        name = key.removeprefix("onnxruntime ").replace("log-mel frames", "log-mel calls")
        counts[name] = n, 1e6 * breakdown[key] / max(n, 1)
    print("runtime float32, one more run: " + ", ".join(f"{k} RTF {v / seconds:.4f}" for k, v in breakdown.items())
          + " (" + "; ".join(f"{n} {key}, {us:.0f} us each" for key, (n, us) in counts.items()) + ")")  # fmt: skip
    summary["runtime float32 breakdown (RTF)"] = {k: v / seconds for k, v in breakdown.items()}
    macs = multiply_adds_per_step(model)
    step_ms = 1000 * model.config.frame_shift
    print(f"multiply-adds per {step_ms:.0f} ms step: " + ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in macs.items()))
    summary["multiply-adds per step"] = macs
    for key, (n, us) in counts.items():
        summary[f"runtime float32 {key}"] = {"count": n, "us_each": us}

    clip = work / "one_second.wav"
    sf.write(clip, audio[:16000], 16000, subtype="PCM_16")
    cold = {
        "runtime float32": cold_start(COLD_RUNTIME, str(float_dir), clip, args.cold_repeats),
        "torch": cold_start(COLD_TORCH, str(args.model), clip, args.cold_repeats),
    }
    print("| cold start (new process: import, load, result of a 1 s file) | s best | s median | CPU s | peak RSS MB |")
    print("|---|---:|---:|---:|---:|")
    for name, result in cold.items():
        best, median, rss = result["seconds_best"], result["seconds_median"], result["peak_rss_mb"]
        print(f"| {name} | {best:.3f} | {median:.3f} | {result['cpu_seconds_best']:.3f} | {rss:.0f} |")
    sizes = {d.name: sum(f.stat().st_size for f in d.iterdir()) for d in (float_dir, int8_dir)}
    print(f"export sizes: float32 {sizes['float32'] / 1e6:.2f} MB, int8 {sizes['int8'] / 1e6:.2f} MB (all files)")
    if args.json:
        from speechrnn.atomic import atomic_write

        with atomic_write(args.json, "w") as f:
            report = {"audio_seconds": seconds, "source": source, "streaming": summary, "cold": cold, "sizes": sizes}
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
