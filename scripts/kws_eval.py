#!/usr/bin/env python
"""Commands in a real stream: misses against false alarms per hour (issue 16, item 4).

    python scripts/kws_eval.py [--model commands|CKPT] [--root REALSPEECH] [--out-dir exp/kws_real]
                               [--hours 1.0] [--seed 0] [--hop 0.1] [--smoothing 3] [--refractory 1.0]
                               [--also-hops 0.2 ...] [--threads 1] [--rtf-seconds 30] [--vad] [--sliding]

The stream (seeded, written once to ``<out-dir>/stream.wav`` piece by piece, so memory does not
grow with its length; ``truth.json`` lists every piece) is real speech of speakers the commands
model never trained on (``speakers.split_of``, the "valid" 20 %):

- commands: the valid-speaker clips of ``yes no up down left right on off stop go`` of both
  Speech Commands sources, each used once per cycle through the shuffled pool;
- other speech: wake phrases (``wake_words/``, valid by ``split_key``) and other words (the
  ``_unknown_`` clips of valid speakers: other Speech Commands words, digits included);
- noise: runs of 1-3 ``_silence_`` clips of the valid split (real background recordings);
- gaps of 0.3-2 s between pieces, and faint white/pink/brown background noise throughout.

Pieces are drawn command 30 %, wake phrase 30 %, other word 25 %, noise 15 %, at -6..+3 dB.
The model scores every window (``--window`` s ending every ``--hop`` s, exactly the windows
``KeywordSpotter`` scores live) once, batched (a streaming spotter, an encoder stream of a
``model.pool_window`` model or an input stream of a speech-embedding model: the live spotter's one
pass, whose hop is a whole number of steps); each threshold of the sweep is
replayed from those posteriors with ``kws.PosteriorDetector``. ``--also-hops`` replays coarser hops from the same pass
(every k-th window) to show what a cheaper hop costs. Scoring: a detection is a hit when its
label is the command of a not-yet-matched clip it overlaps; every other detection is a false
alarm. Decision latency is detection time minus the end of the word (the last 10 ms frame
within 20 dB of the clip's loudest). The real-time factor is measured on the live spotter
(``--rtf-seconds`` of the stream, 100 ms chunks, ``--threads`` threads), and on the whole live
recogniser as ``speechrnn transcribe --stream`` runs it (the spotter, endpointing, finals); for an
input-stream spotter the report also counts its multiply-adds per second of audio (``speechrnn.compute``),
which do not swing with the machine's hour as timings do.

Writes ``report.json``, ``report.md`` (sweep, per-command table, false alarms by what they fell
on), ``det.png`` (miss rate against false alarms per hour, log x), ``stream.wav``, ``truth.json``.
The synthetic FSDD stream of issue 3 is gone: it trained its own digits model and said nothing
about real commands.
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
KINDS = (("command", 0.30), ("wake", 0.30), ("word", 0.25), ("noise", 0.15))
THRESHOLDS = (
    0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.985, 0.99,
    0.993, 0.995, 0.997, 0.998, 0.999,
)  # fmt: skip
FA_TARGET = 2.0  # false alarms per hour of the target


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--model", default="commands", help="a bundled model name or a checkpoint path")
    parser.add_argument("--root", default=None, help="the real-speech share (default: $SPEECHRNN_REALSPEECH)")
    parser.add_argument("--out-dir", default=str(ROOT / "exp" / "kws_real"))
    parser.add_argument("--hours", type=float, default=1.0, help="stream length (default 1 hour)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--hop", type=float, default=0.1)
    parser.add_argument("--smoothing", type=int, default=3, help="windows averaged at --hop")
    parser.add_argument("--refractory", type=float, default=1.0)
    parser.add_argument("--also-hops", type=float, nargs="*", default=[0.2], help="coarser hops replayed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64, help="windows per forward in the scoring pass")
    parser.add_argument("--vad", action="store_true", help="also replay with the silero-vad gate (speechrnn[vad])")
    parser.add_argument(
        "--sliding", action="store_true", help="re-run the model over a sliding window even if the spotter could stream"
    )
    parser.add_argument("--rtf-seconds", type=float, default=30.0, help="audio timed through the live spotter")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- the stream
def background(rng: np.random.Generator, samples: int, level_db: float) -> np.ndarray:
    """White, pink-ish or brown-ish noise (samples,) at ``level_db`` dBFS RMS."""
    white = rng.standard_normal(samples + 64)
    kind = rng.integers(3)
    if kind == 1:  # pink-ish: a sum of octave-spaced moving averages
        noise = sum(np.convolve(white, np.ones(w) / np.sqrt(w), mode="same") for w in (1, 4, 16, 64))
    elif kind == 2:  # brown-ish: leaky integration
        from scipy.signal import lfilter

        noise = lfilter([1.0], [1.0, -0.995], white)
    else:
        noise = white
    noise = noise[64:]
    noise *= 10 ** (level_db / 20) / (np.sqrt(np.mean(noise**2)) + 1e-12)
    return noise.astype(np.float32)


def word_span(audio: np.ndarray, floor_db: float = 20.0) -> tuple[float, float]:
    """(start, end) seconds of the spoken word in a clip: 10 ms frames within ``floor_db`` of the loudest."""
    from speechrnn.data.stream_examples import speech_span

    first, end = speech_span(audio, RATE, floor_db)
    return first / RATE, end / RATE


def pools(root: Path, keywords) -> dict[str, list[tuple[str, str]]]:
    """{kind: [(label, path)]} of valid-split clips: commands, wake phrases, other words, noise."""
    from speechrnn.data.manifest import Utterance
    from speechrnn.data.realspeech import commands_set, split_set
    from speechrnn.data.speakers import split_key, split_of

    valid = split_set(commands_set(root), "valid")
    out = {
        "command": [(c.utterance.label, c.utterance.audio) for c in valid if c.utterance.label in keywords],
        "word": [(c.utterance.text or "", c.utterance.audio) for c in valid if c.utterance.label == "_unknown_"],
        "noise": [("_silence_", c.utterance.audio) for c in valid if c.utterance.label == "_silence_"],
        "wake": [],
    }
    for path in sorted((root / "wake_words").glob("*/*.flac")):
        if split_of(split_key(Utterance(audio=str(path), duration=0.0))) == "valid":
            out["wake"].append((path.parent.name, str(path)))
    for kind, items in out.items():
        if not items:
            raise SystemExit(f"kws_eval: no valid-split {kind} clips under {root}")
    return out


def build_stream(root: Path, keywords, out_dir: Path, hours: float, seed: int) -> dict:
    """Write ``stream.wav`` and ``truth.json`` under ``out_dir``; returns the truth dict.

    Truth: ``pieces`` [(kind, label, start, end, path)] for every piece, ``commands``
    [(label, clip start, clip end, word start, word end, path)] (seconds).
    """
    from speechrnn.audio import load_audio

    rng = np.random.default_rng(seed)
    picker = random.Random(seed)
    clips = pools(root, keywords)
    cycles = {kind: [] for kind in clips}

    def draw(kind: str) -> tuple[str, str]:
        if not cycles[kind]:
            cycles[kind] = picker.sample(clips[kind], len(clips[kind]))
        return cycles[kind].pop()

    kinds, weights = zip(*KINDS)
    pieces, commands, position = [], [], 0
    target = int(hours * 3600 * RATE)
    out_dir.mkdir(parents=True, exist_ok=True)
    wav = out_dir / "stream.wav"
    with sf.SoundFile(wav.with_suffix(".wav.tmp"), "w", RATE, 1, "PCM_16", format="WAV") as stream:
        while position < target:
            level = rng.uniform(-65, -45)
            gap = int(rng.uniform(0.3, 2.0) * RATE)
            stream.write(background(rng, gap, level))
            position += gap
            kind = picker.choices(kinds, weights)[0]
            for _ in range(picker.randint(1, 3) if kind == "noise" else 1):
                label, path = draw(kind)
                audio = load_audio(path, RATE) * 10 ** (rng.uniform(-6, 3) / 20)
                start, end = position / RATE, (position + audio.size) / RATE
                if kind == "command":
                    word_start, word_end = word_span(audio)
                    commands.append((label, start, end, start + word_start, start + word_end, path))
                pieces.append((kind, label, start, end, path))
                stream.write(np.clip(audio + background(rng, audio.size, level), -1, 1))
                position += audio.size
    wav.with_suffix(".wav.tmp").replace(wav)
    truth = {"seconds": position / RATE, "seed": seed, "pieces": pieces, "commands": commands}
    (out_dir / "truth.json").write_text(json.dumps(truth))
    return truth


# ---------------------------------------------------------------------- scoring
@torch.inference_mode()
def stream_posteriors(model, wav: Path, window: int, hop: int, batch: int) -> np.ndarray:
    """(windows, classes) posteriors of the ``window``-sample windows ending every ``hop`` samples
    (zeros before the stream starts), as ``KeywordSpotter`` scores them; reads the WAV in pieces."""
    labels = model.config.labels
    with sf.SoundFile(wav) as f:
        count = f.frames // hop
        out = np.empty((count, len(labels)), dtype=np.float32)
        for k0 in range(0, count, batch):
            k1 = min(count, k0 + batch)
            low, high = (k0 + 1) * hop - window, k1 * hop
            f.seek(max(low, 0))
            audio = f.read(high - max(low, 0), dtype="float32")
            if low < 0:
                audio = np.concatenate([np.zeros(-low, dtype=np.float32), audio])
            starts = (np.arange(k0, k1) + 1) * hop - window - low
            x = torch.from_numpy(np.stack([audio[s : s + window] for s in starts])).to(model.device)
            logits, _ = model(x)
            out[k0:k1] = logits.float().softmax(dim=-1).cpu().numpy()
            if (k0 // batch) % 100 == 0:
                print(f"kws_eval: scored {k1}/{count} windows", file=sys.stderr, flush=True)
    return out


def spotter_posteriors(spotter, wav: Path) -> np.ndarray:
    """(windows, classes) posteriors of a streaming spotter over the WAV, read in 10 s blocks: the live
    spotter's own windows (one pass of its encoder, or of its encoder inputs), ending every ``spotter.hop`` s."""
    windows = []
    with sf.SoundFile(wav) as f:
        for block in f.blocks(blocksize=RATE * 10, dtype="float32"):
            windows += [p.numpy() for _, p in spotter.windows(block)]
    spotter.reset()
    return np.stack(windows)


def stream_speech(wav: Path, window: int, hop: int) -> tuple[np.ndarray, float]:
    """(windows,) bool: whether ``vad.SileroVAD`` saw a speech frame in each window (as the live gate
    asks it), and the VAD's compute per second of audio."""
    from speechrnn.vad import FRAME, SileroVAD

    vad = SileroVAD()
    probs = []
    start = time.perf_counter()
    with sf.SoundFile(wav) as f:
        for block in f.blocks(blocksize=RATE * 10, dtype="float32"):
            probs.append(vad.accept(block))
    rtf = (time.perf_counter() - start) / (f.frames / RATE)
    probs = np.concatenate(probs)
    ends = (np.arange(f.frames // hop) + 1) * hop // FRAME  # frames complete at each window's end
    span = int(np.ceil(window / FRAME))
    peak = np.array([probs[max(0, e - span) : e].max(initial=0.0) for e in ends])
    return peak >= vad.threshold, rtf


def score(events, truth: dict) -> dict:
    """Hits (right label, overlapping a not-yet-matched command clip), misses, false alarms and
    what each false alarm fell on, latencies of the hits, per-command counts."""
    commands = truth["commands"]
    starts = [c[1] for c in commands]
    matched = [False] * len(commands)
    pieces = truth["pieces"]
    piece_starts = [p[2] for p in pieces]
    latencies, false_alarms = [], []
    for event in events:
        hit = None
        i = bisect.bisect_right(starts, event.end) - 1
        while i >= 0 and commands[i][2] >= event.start - 5.0:  # clips are short: look back a few seconds
            label, start, end = commands[i][:3]
            if not matched[i] and label == event.label and start <= event.end and end >= event.start:
                hit = i
            i -= 1
        if hit is not None:
            matched[hit] = True
            latencies.append(event.time - commands[hit][4])
        else:
            false_alarms.append((event, fell_on(event, pieces, piece_starts)))
    hours = truth["seconds"] / 3600
    per_command = {}
    for (label, *_), ok in zip(commands, matched):
        row = per_command.setdefault(label, {"clips": 0, "misses": 0, "false_alarms": 0})
        row["clips"] += 1
        row["misses"] += not ok
    fell = {}
    for event, where in false_alarms:
        per_command.setdefault(event.label, {"clips": 0, "misses": 0, "false_alarms": 0})["false_alarms"] += 1
        fell[where] = fell.get(where, 0) + 1
    misses = matched.count(False)
    return {
        "commands": len(commands),
        "detections": len(events),
        "misses": misses,
        "miss_rate": misses / len(commands) if commands else 0.0,
        "miss_interval": miss_interval(commands, matched),
        "false_alarms": len(false_alarms),
        "false_alarms_per_hour": len(false_alarms) / hours,
        "latency_median": float(np.median(latencies)) if latencies else None,
        "latency_p95": float(np.percentile(latencies, 95)) if latencies else None,
        "false_alarms_on": fell,
        "per_command": per_command,
    }


def miss_interval(commands, matched) -> list[float] | None:
    """The miss rate's 95 % interval with the commands' speakers resampled (their clips are missed or
    found together; ``metrics.interval_by_speaker``); None without commands or with too few speakers."""
    from speechrnn.data.sc_layouts import speaker_of
    from speechrnn.errors import DataError
    from speechrnn.metrics import interval_by_speaker

    if not commands:
        return None
    speakers = []
    for command in commands:
        name = Path(command[5]).name
        try:
            speakers.append(speaker_of(name))
        except DataError:  # not a Speech Commands file name: the clip is its own speaker
            speakers.append(name)
    return interval_by_speaker([not ok for ok in matched], speakers)


def fell_on(event, pieces, piece_starts) -> str:
    """The kind of piece a false alarm overlaps most ("command" = another command), or "gap"."""
    best, kind = 0.0, "gap"
    i = bisect.bisect_right(piece_starts, event.end) - 1
    while i >= 0 and pieces[i][3] >= event.start - 6.0:
        overlap = min(pieces[i][3], event.end) - max(pieces[i][2], event.start)
        if overlap > best:
            best, kind = overlap, pieces[i][0]
        i -= 1
    return kind


def _live_rtf(accept, finish, wav: Path, seconds: float) -> float:
    """Compute per second of audio of ``accept(chunk)`` over the stream's first ``seconds`` in 100 ms
    chunks, then ``finish()``."""
    audio, _ = sf.read(wav, frames=int(seconds * RATE), dtype="float32")
    chunk = RATE // 10
    start = time.perf_counter()
    for begin in range(0, audio.size, chunk):
        accept(audio[begin : begin + chunk])
    finish()
    return (time.perf_counter() - start) / (audio.size / RATE)


def live_rtf(model, wav: Path, config, seconds: float, encoder_stream: bool = True) -> float:
    """Compute per second of audio of the live ``KeywordSpotter`` on the stream's first ``seconds``
    (``encoder_stream=False``: the same model re-run over a sliding window)."""
    from speechrnn.kws import KeywordSpotter

    spotter = KeywordSpotter(model, config, encoder_stream=encoder_stream)
    return _live_rtf(spotter.accept, lambda: None, wav, seconds)


def recognizer_rtf(model, wav: Path, config, seconds: float) -> float:
    """Compute per second of audio of the whole live recogniser, as ``speechrnn transcribe --stream``
    runs it (endpointing, the spotter, each utterance's final), on the stream's first ``seconds``."""
    from speechrnn.endpoint import EndpointConfig
    from speechrnn.stream import StreamingRecognizer

    recognizer = StreamingRecognizer(model, endpoint=EndpointConfig(), keywords=config)
    return _live_rtf(recognizer.accept_waveform, recognizer.finish, wav, seconds)


def draw_det(lines: dict, path: Path, title: str) -> None:
    """Miss rate (%) against false alarms per hour (log x) for each named sweep; zeros drawn at 0.1."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, rows in lines.items():
        fa = [max(r["false_alarms_per_hour"], 0.1) for r in rows]
        ax.plot(fa, [100 * r["miss_rate"] for r in rows], marker=".", label=name)
    ax.axvline(FA_TARGET, color="grey", linestyle=":", linewidth=1)
    ax.axhline(10, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per hour (0 drawn at 0.1)")
    ax.set_ylabel("miss rate (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def operating_point(rows: list[dict]) -> dict:
    """The row with the fewest misses at <= FA_TARGET false alarms per hour, else the fewest false alarms."""
    within = [r for r in rows if r["false_alarms_per_hour"] <= FA_TARGET]
    if within:
        return min(within, key=lambda r: (r["miss_rate"], r["false_alarms_per_hour"]))
    return min(rows, key=lambda r: (r["false_alarms_per_hour"], r["miss_rate"]))


def _interval(row: dict) -> str:
    from speechrnn.metrics import INTERVAL_LEVEL

    interval = row.get("miss_interval")
    if not interval:
        return ""
    level = f"{100 * INTERVAL_LEVEL:g} %"
    return f" ({level} interval {100 * interval[0]:.1f}-{100 * interval[1]:.1f} %, speakers resampled)"


def _ms(value) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


def markdown(report: dict) -> str:
    s = report["stream"]
    lines = [
        f"Commands in a real stream: {s['minutes']:.1f} min, {s['commands']} command clips of valid speakers "
        f"between {s['wake']} wake phrases, {s['word']} other words and {s['noise']} noise clips (seed {s['seed']}); "
        f"model {report['model']}; window {report['window']} s, refractory {report['refractory']} s.",
        "Compute (one thread, median of 3): live spotter RTF "
        + ", ".join(f"{value:.3f} at hop {hop} s" for hop, value in report["rtf_live"].items())
        + (
            f" (the same model re-run over a sliding window: {report['rtf_sliding']:.3f})"
            if report.get("rtf_sliding")
            else ""
        )
        + (
            f"; the whole live recogniser at hop {report['hop']:g} s (`speechrnn transcribe --stream`: spotter, "
            f"endpointing, each utterance's final) {report['rtf_recognizer']:.3f}"
            if report.get("rtf_recognizer")
            else ""
        )
        + f"; scoring pass {report['rtf_batched']:.3f}.",
    ]
    if report.get("multiply_adds_per_second"):
        macs = report["multiply_adds_per_second"]
        lines.append(
            "Multiply-adds per second of audio (`speechrnn.compute`): the spotter's "
            + " + ".join(f"{k} {v / 1e6:.1f}M" for k, v in macs.items() if k != "recogniser finals")
            + f"; the recogniser's finals add {macs['recogniser finals'] / 1e6:.1f}M."
        )
    if report["vad"]:
        lines.append(
            f"silero-vad gate: RTF {report['vad']['rtf']:.3f}; windows with speech (scored by the model): "
            f"{100 * report['vad']['windows_open']:.1f}%."
        )
    for name, sweep in report["sweeps"].items():
        lines += [
            "",
            f"### {name}",
            "",
            f"Live spotter at this hop: real-time factor {sweep['rtf_live']:.3f} (one thread, median of 3).",
            "",
            "| threshold | detections | misses | miss rate | false alarms | FA / hour | latency median / p95 (ms) |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in sweep["rows"]:
            lines.append(
                f"| {r['threshold']:g} | {r['detections']} | {r['misses']} | {100 * r['miss_rate']:.1f}% | "
                f"{r['false_alarms']} | {r['false_alarms_per_hour']:.1f} | "
                f"{_ms(r['latency_median'])} / {_ms(r['latency_p95'])} |"
            )
        op = sweep["operating_point"]
        lines += [
            "",
            f"Operating point (fewest misses at <= {FA_TARGET:g} FA/h, else fewest FA): threshold {op['threshold']:g}, "
            f"{100 * op['miss_rate']:.1f}% misses{_interval(op)} at {op['false_alarms_per_hour']:.1f} FA/h; "
            "false alarms fell on "
            + (", ".join(f"{k} {v}" for k, v in sorted(op["false_alarms_on"].items())) or "nothing"),
            "",
            "| command | clips | misses | miss rate | false alarms | FA / hour |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        hours = s["minutes"] / 60
        for label, row in sorted(op["per_command"].items()):
            rate = row["misses"] / row["clips"] if row["clips"] else 0.0
            lines.append(
                f"| {label} | {row['clips']} | {row['misses']} | {100 * rate:.1f}% | {row['false_alarms']} | "
                f"{row['false_alarms'] / hours:.1f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from speechrnn import SpeechRNNError, load_model
    from speechrnn.compute import spotter_multiply_adds_per_second
    from speechrnn.data.realspeech import realspeech_root
    from speechrnn.kws import KeywordConfig, KeywordSpotter, replay

    try:
        model = load_model(args.model)
        root = realspeech_root(args.root)
        config = KeywordConfig(window=args.window, hop=args.hop, smoothing=args.smoothing, refractory=args.refractory)
        if model.config.head != "classify":
            raise SpeechRNNError(f"{args.model}: keyword spotting needs a classifier (head 'classify')")
    except SpeechRNNError as error:
        print(f"kws_eval: {error}", file=sys.stderr)
        return 1
    labels = model.config.labels
    keywords = [label for label in labels if label not in config.fillers]
    out_dir = Path(args.out_dir)
    truth = build_stream(root, keywords, out_dir, args.hours, args.seed)
    wav = out_dir / "stream.wav"
    stream = not args.sliding  # KeywordSpotter's encoder_stream: stream when the model can
    spotter = KeywordSpotter(model, config, encoder_stream=stream)
    start = time.perf_counter()
    if spotter.streams:  # one pass over the stream (encoder, or encoder inputs): the live computation
        args.hop = spotter.hop  # whole chunks; coarser hops become the nearest multiples of it
        args.also_hops = sorted({max(2, round(h / spotter.hop)) * spotter.hop for h in args.also_hops})
        posteriors = spotter_posteriors(spotter, wav)
    else:
        posteriors = stream_posteriors(
            model, wav, int(round(args.window * RATE)), int(round(args.hop * RATE)), args.batch
        )
    rtf_batched = (time.perf_counter() - start) / truth["seconds"]
    hop = int(round(args.hop * RATE))
    hops = [args.hop]  # the pass's hop and the coarser ones replayed from it (every step-th window)
    for also in args.also_hops:
        if abs(round(also / args.hop) * args.hop - also) > 1e-6 or also <= args.hop + 1e-9:
            print(f"kws_eval: --also-hops {also} is not a multiple of --hop {args.hop}; skipped", file=sys.stderr)
        else:
            hops.append(also)
    smoothing = {h: max(1, int(round(args.smoothing * args.hop / h))) for h in hops}  # the same span in seconds
    rtf_seconds = min(args.rtf_seconds, truth["seconds"])
    live, sliding, whole = {h: [] for h in hops}, [], []  # interleaved runs; medians reported
    for _ in range(3):
        for h in hops:
            live[h].append(live_rtf(model, wav, replace(config, hop=h, smoothing=smoothing[h]), rtf_seconds, stream))
        if stream:
            whole.append(recognizer_rtf(model, wav, config, rtf_seconds))
        if spotter.streams:  # the same model re-run over a sliding window, same hop
            sliding.append(live_rtf(model, wav, replace(config, hop=args.hop), rtf_seconds, encoder_stream=False))
    rtf_live = {h: statistics.median(times) for h, times in live.items()}
    rtf_sliding = statistics.median(sliding) if sliding else None
    rtf_recognizer = statistics.median(whole) if whole else None
    # the arithmetic behind those timings, which swing with the hour
    macs = spotter_multiply_adds_per_second(spotter) if spotter.input_stream is not None else None
    np.save(out_dir / "posteriors.npy", posteriors)
    variants = [("", posteriors)]
    vad_report = None
    if args.vad:
        speech, rtf_vad = stream_speech(wav, int(round(args.window * RATE)), hop)
        gated = posteriors.copy()
        gated[~speech] = 0.0
        if "_silence_" in labels:
            gated[~speech, labels.index("_silence_")] = 1.0
        variants.append((", silero-vad gate", gated))
        vad_report = {"rtf": rtf_vad, "windows_open": float(speech.mean())}

    sweeps = {}
    default = KeywordConfig()
    defaults = (KeywordSpotter(model, default, encoder_stream=stream).hop, default.smoothing, default.window)
    for suffix, scored in variants:
        for step_hop in hops:
            step = int(round(step_hop / args.hop))
            rows = []
            for threshold in THRESHOLDS:
                swept = KeywordConfig(
                    window=args.window, hop=step_hop, smoothing=smoothing[step_hop], threshold=threshold,
                    refractory=args.refractory,
                )  # fmt: skip
                events = replay(scored[step - 1 :: step], labels, swept)
                rows.append({"threshold": threshold, **score(events, truth)})
            name = f"hop {step_hop:g} s, smoothing {smoothing[step_hop]}{suffix}"
            if not suffix and abs(step_hop - defaults[0]) < 1e-9 and (smoothing[step_hop], args.window) == defaults[1:]:
                name += " (the spotter's defaults)"
            sweeps[name] = {
                "hop": step_hop, "smoothing": smoothing[step_hop], "rtf_live": rtf_live[step_hop], "rows": rows,
                "operating_point": operating_point(rows),
            }  # fmt: skip

    kinds = [p[0] for p in truth["pieces"]]
    report = {
        "model": str(args.model),
        "window": args.window,
        "hop": args.hop,
        "refractory": args.refractory,
        "rtf_live": {f"{h:g}": value for h, value in rtf_live.items()},
        "rtf_batched": rtf_batched,
        "rtf_sliding": rtf_sliding,
        "rtf_recognizer": rtf_recognizer,
        "multiply_adds_per_second": macs,
        "vad": vad_report,
        "stream": {
            "minutes": truth["seconds"] / 60,
            "seed": args.seed,
            **{kind: kinds.count(kind) for kind, _ in KINDS},
            "commands": len(truth["commands"]),
        },
        "sweeps": sweeps,
    }
    from speechrnn.atomic import atomic_write

    text = markdown(report)
    with atomic_write(out_dir / "report.json", "w") as f:
        f.write(json.dumps(report, indent=2))
    with atomic_write(out_dir / "report.md", "w") as f:
        f.write(text)
    title = f"{args.model}: {truth['seconds'] / 60:.0f} min real stream, {len(truth['commands'])} commands"
    draw_det({name: sweep["rows"] for name, sweep in sweeps.items()}, out_dir / "det.png", title)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
