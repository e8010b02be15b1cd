#!/usr/bin/env python
"""Parity of the torch-free runtime with torch, and int8's accuracy, on real recordings.

    python scripts/runtime_parity.py [--model digits] [--fsdd DIR] [--realspeech DIR] [--json out.json]

The model is exported twice (float32, int8). Clips: every FSDD test clip (takes 0-4 of each
speaker and digit) and the real-speech share's clips of the model's labels (for the digits
model: the digit words among Speech Commands' ``_unknown_`` test clips and the v0.01 sample's
digit folders; for a classifier: every test clip whose folder is one of its labels). Reported
per clip set: clips whose runtime offline text equals torch's ``model.transcribe`` text, clips
whose streamed final (100 ms int16 chunks) equals torch's streamed final, the largest
absolute difference of the outputs (log-probs / logits), the clips whose outputs differ by more
than 1e-4, the largest difference of the log-mels (torch's ``LogMel`` against the runtime's numpy
one, before any network), and the accuracy (text == the clip's word) of torch, runtime float32
and runtime int8.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def clip_sets(labels: list[str], fsdd: Path, real: Path) -> dict[str, list[tuple[Path, str]]]:
    """Name -> [(path, expected word)]."""
    sets = {}
    fsdd_clips = sorted((fsdd / "recordings").glob("*_[0-4].wav"))
    if fsdd_clips and set(DIGIT_WORDS) <= set(labels):
        sets["FSDD test (takes 0-4)"] = [(p, DIGIT_WORDS[int(p.name.split("_")[0])]) for p in fsdd_clips]
    test = real / "speech_commands_test_set_v0.02"
    sample = real / "speech_commands_v0.01_sample"
    clips = []
    for word in labels:
        clips += [(p, word) for p in sorted((test / "_unknown_").glob(f"{word}_*.wav"))]
        clips += [(p, word) for p in sorted((test / word).glob("*.wav"))]
        clips += [(p, word) for p in sorted((sample / word).glob("*.wav"))]
    if clips:
        sets["real speech (Speech Commands clips of the model's words)"] = clips
    return sets


def streamed(recognizer, audio: np.ndarray, rate: int, chunk_ms: int = 100) -> str:
    chunk = rate * chunk_ms // 1000
    for begin in range(0, audio.size, chunk):
        recognizer.accept_waveform(audio[begin : begin + chunk], rate)
    return recognizer.finalize().text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--model", default="digits", help="checkpoint or bundled name")
    parser.add_argument("--fsdd", default=None, help="FSDD folder (default: $SPEECHRNN_FSDD or the shared copy)")
    parser.add_argument("--realspeech", default="/work/shared/data/realspeech", help="the real-speech share")
    parser.add_argument("--limit", type=int, default=0, help="clips per set (0 = all)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import soundfile as sf
    import torch

    torch.set_num_threads(1)
    from speechrnn import runtime
    from speechrnn.audio_io import load_audio
    from speechrnn.data.fsdd import fsdd_root
    from speechrnn.export import export_onnx, resolve_model
    from speechrnn.model import load_model
    from speechrnn.stream import StreamingRecognizer

    model = load_model(resolve_model(args.model))
    work = Path(tempfile.mkdtemp(prefix="runtime_parity."))
    float_model = runtime.load(export_onnx(model, work / "float32"))
    int8_model = runtime.load(export_onnx(model, work / "int8", quantize="int8"))
    report = {}
    sets = clip_sets(model.labels, Path(args.fsdd) if args.fsdd else fsdd_root(), Path(args.realspeech))
    if not sets:
        print("no clips found (FSDD or the real-speech share)", file=sys.stderr)
        return 1
    for name, clips in sets.items():
        clips = clips[: args.limit] if args.limit else clips
        counts = {"offline_equal": 0, "stream_equal": 0, "torch": 0, "float32": 0, "int8": 0, "int8_equal": 0}
        max_diff, max_logmel_diff, over = 0.0, 0.0, 0
        for path, word in clips:
            samples = load_audio(path, model.config.sample_rate)
            with torch.no_grad():
                want, _ = model(torch.from_numpy(samples))
                logmel = model.frontend(torch.from_numpy(samples)[None])[0].numpy()
            diff = float(np.abs(float_model.outputs(samples) - want[0].numpy()).max())
            max_diff, over = max(max_diff, diff), over + (diff > 1e-4)
            max_logmel_diff = max(max_logmel_diff, float(np.abs(float_model.logmel(samples) - logmel).max()))
            texts = {
                "torch": model.transcribe(path).text,
                "float32": float_model.transcribe(path).text,
                "int8": int8_model.transcribe(path).text,
            }
            audio, rate = sf.read(path, dtype="int16")
            torch_stream = streamed(StreamingRecognizer(model), audio, rate)
            counts["stream_equal"] += streamed(runtime.StreamingRecognizer(float_model), audio, rate) == torch_stream
            counts["offline_equal"] += texts["float32"] == texts["torch"]
            counts["int8_equal"] += texts["int8"] == texts["torch"]
            for system, text in texts.items():
                counts[system] += text == word
        n = len(clips)
        report[name] = {
            "clips": n, **counts, "max_abs_output_diff": max_diff, "clips_output_diff_over_1e-4": over,
            "max_abs_logmel_diff": max_logmel_diff,
        }  # fmt: skip
        print(f"{name}: {n} clips")
        offline, stream = counts["offline_equal"], counts["stream_equal"]
        print(f"  runtime float32 == torch: offline {offline}/{n}, streamed {stream}/{n}; max |diff| {max_diff:.2e}"
              f" ({over} of {n} over 1e-4); log-mels: max |diff| {max_logmel_diff:.2e}")  # fmt: skip
        print(f"  accuracy (text == word): torch {100 * counts['torch'] / n:.2f} %, float32 "
              f"{100 * counts['float32'] / n:.2f} %, int8 {100 * counts['int8'] / n:.2f} % "
              f"(int8 == torch on {counts['int8_equal']}/{n})")
    if args.json:
        from speechrnn.atomic import atomic_write

        with atomic_write(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
