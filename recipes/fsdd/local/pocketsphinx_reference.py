"""A public speaker-independent reference on the leave-one-speaker-out test sets: PocketSphinx.

CMU PocketSphinx's US English acoustic model (``pip install pocketsphinx``: the model ships inside
the wheel) was trained on hundreds of speakers, none of them FSDD's. Each held-out speaker's 500
isolated clips are decoded with a grammar that allows exactly one digit word, so the task is the
same 10-way closed set that ``speechrnn evaluate --decoder closed_set`` scores. Each clip is
resampled to the model's 16 kHz and padded with 200 ms of silence at both ends (``--pad-ms 200``
in run.sh). The model expects energy up to 6.8 kHz, and FSDD's 8 kHz recordings have none above
4 kHz, so this is a reference rather than a tuned competitor.

    pip install pocketsphinx
    python recipes/fsdd/local/pocketsphinx_reference.py [--data data/fsdd] [--output report.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
from pathlib import Path

import numpy as np

from speechrnn.atomic import atomic_write
from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.data.fsdd import DIGIT_WORDS, SPEAKERS
from speechrnn.data.manifest import read_manifest

PAD_S = 0.2  # silence around each clip, as run.sh's --pad-ms 200


def digit_decoder():
    """A PocketSphinx decoder whose JSGF grammar accepts exactly one of the ten digit words."""
    try:
        from pocketsphinx import Decoder, get_model_path
    except ImportError:
        raise SystemExit("pocketsphinx is not installed: pip install pocketsphinx") from None
    model = Path(get_model_path()) / "en-us"
    decoder = Decoder(
        hmm=str(model / "en-us"), dict=str(model / "cmudict-en-us.dict"), samprate=SAMPLE_RATE, loglevel="FATAL"
    )
    grammar = "#JSGF V1.0;\ngrammar digits;\npublic <digit> = " + " | ".join(DIGIT_WORDS) + " ;\n"
    decoder.add_jsgf_string("digits", grammar)
    decoder.activate_search("digits")
    return decoder


def recognise(decoder, audio: np.ndarray) -> str:
    """The digit word PocketSphinx hears in mono 16 kHz float audio, or "" when it hears none."""
    pad = np.zeros(int(PAD_S * SAMPLE_RATE), dtype=np.float32)
    pcm = (np.clip(np.concatenate([pad, audio, pad]), -1, 1) * 32767).astype(np.int16).tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return hypothesis.hypstr.strip() if hypothesis else ""


def score_speaker(decoder, manifest: Path) -> dict:
    """Closed-set accuracy (%) and the most frequent confusions on one held-out speaker's clips."""
    confusions: collections.Counter = collections.Counter()
    utterances = read_manifest(manifest)
    for utterance in utterances:
        heard = recognise(decoder, load_audio(utterance.audio, SAMPLE_RATE))
        if heard != utterance.label:
            confusions[f"{utterance.label} -> {heard or '(nothing)'}"] += 1
    errors = sum(confusions.values())
    return {
        "accuracy": 100 * (1 - errors / len(utterances)),
        "utterances": len(utterances),
        "confusions": dict(confusions.most_common(5)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/fsdd", help="prepared FSDD folder (speechrnn prepare fsdd)")
    parser.add_argument("--output", help="also write the per-speaker results to this JSON file")
    args = parser.parse_args()
    decoder = digit_decoder()
    results = {}
    for speaker in SPEAKERS:
        manifest = Path(args.data) / "isolated" / "loso" / speaker / "test.jsonl"
        if not manifest.is_file():
            raise SystemExit(f"no test manifest for {speaker}: {manifest} (run: speechrnn prepare fsdd)")
        results[speaker] = score_speaker(decoder, manifest)
    print("| held-out speaker | PocketSphinx en-us, digit grammar | most frequent confusions |")
    print("|---|---:|---|")
    for speaker, result in results.items():
        top = ", ".join(f"{pair} ({count})" for pair, count in list(result["confusions"].items())[:3])
        print(f"| {speaker} | {result['accuracy']:.1f} % | {top} |")
    print(f"| mean | {statistics.mean(r['accuracy'] for r in results.values()):.1f} % | |")
    if args.output:
        with atomic_write(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
