"""Speaker normalisation learnt while streaming: each held-out speaker's clips, one after another.

For each fold, the speaker-normalised model (``exp/fsdd/loso_cn_<speaker>/best.pt``, run.sh stage 3)
runs in a ``StreamingRecognizer`` with ``adapt_speaker=True``: it starts as the reference
speaker and, after each clip, adds that clip's speech frames to the speaker's statistics (a prior
of ``--prior-frames`` frames of the reference). The 500 clips come in a random order (``--seed``),
each padded with 200 ms of silence (``--pad-ms 200``) and scored closed-set, as
``speechrnn evaluate --decoder closed_set`` does. Prints the accuracy over all clips and over the
clips after the first 20 (by then the statistics are settled).

    python recipes/fsdd/local/online_speaker_norm.py [--exp exp/fsdd] [--data data/fsdd] [--run loso_cn]
"""

from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

import numpy as np
import torch

from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.data.fsdd import SPEAKERS
from speechrnn.data.manifest import read_manifest
from speechrnn.decode import DecodingOptions
from speechrnn.model import load_model
from speechrnn.stream import StreamingRecognizer

SETTLED_AFTER = 20  # clips


def stream_speaker(model, manifest: Path, seed: int, prior_frames: float) -> list[bool]:
    """Whether each clip, in the order streamed, was recognised correctly."""
    utterances = read_manifest(manifest)
    random.Random(seed).shuffle(utterances)
    recognizer = StreamingRecognizer(
        model, decoding=DecodingOptions(method="closed_set"), adapt_speaker=True, prior_frames=prior_frames
    )
    pad = np.zeros(int(0.2 * SAMPLE_RATE), dtype=np.float32)
    correct = []
    for utterance in utterances:
        audio = np.concatenate([pad, load_audio(utterance.audio, SAMPLE_RATE), pad])
        recognizer.accept_waveform(audio)
        correct.append(recognizer.finalize().text == utterance.label)  # keeps the speaker's statistics
    return correct


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exp", default="exp/fsdd")
    parser.add_argument("--data", default="data/fsdd", help="prepared FSDD folder (speechrnn prepare fsdd)")
    parser.add_argument("--run", default="loso_cn", help="models <exp>/<run>_<speaker>/best.pt")
    parser.add_argument("--prior-frames", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"| held-out speaker | all clips | after the first {SETTLED_AFTER} |")
    print("|---|---:|---:|")
    totals, settled = [], []
    for speaker in SPEAKERS:
        checkpoint = Path(args.exp) / f"{args.run}_{speaker}" / "best.pt"
        manifest = Path(args.data) / "isolated" / "loso" / speaker / "test.jsonl"
        correct = stream_speaker(load_model(checkpoint), manifest, args.seed, args.prior_frames)
        totals.append(100 * np.mean(correct))
        settled.append(100 * np.mean(correct[SETTLED_AFTER:]))
        print(f"| {speaker} | {totals[-1]:.1f} % | {settled[-1]:.1f} % |", flush=True)
    print(f"| mean | {statistics.mean(totals):.1f} % | {statistics.mean(settled):.1f} % |")


if __name__ == "__main__":
    main()
