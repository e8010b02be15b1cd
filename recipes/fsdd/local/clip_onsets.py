"""How tightly each FSDD speaker's clips are trimmed: the first and last 20 ms against the loudest 20 ms.

A clip that starts (ends) within 20 dB of its loudest 20 ms starts (ends) inside the word: its
onset (final) consonant may be cut; a clip with silence at that edge is 40 dB or more below.

    python recipes/fsdd/local/clip_onsets.py [--fsdd DIR]
"""

import argparse

import numpy as np

from speechrnn.audio import load_audio
from speechrnn.data.fsdd import SPEAKERS, fsdd_root, scan_recordings


def edge_levels_db(audio: np.ndarray, sample_rate: int, window_s: float = 0.02) -> tuple[float, float]:
    """Energy of the first and of the last ``window_s`` seconds relative to the loudest such window, in dB."""
    n = max(1, int(window_s * sample_rate))
    windows = audio[: len(audio) // n * n].reshape(-1, n)
    energy = np.mean(windows**2, axis=1) + 1e-12
    return float(10 * np.log10(energy[0] / energy.max())), float(10 * np.log10(energy[-1] / energy.max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd", help="FSDD folder (default: $SPEECHRNN_FSDD or ../shared/data/fsdd)")
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, float, float]]] = {s: [] for s in SPEAKERS}  # (start dB, end dB, seconds)
    for _, speaker, _, path in scan_recordings(args.fsdd or fsdd_root()):
        audio = load_audio(path, 8000)
        rows[speaker].append((*edge_levels_db(audio, 8000), len(audio) / 8000))
    print("| speaker | median clip (s) | first 20 ms vs loudest (median) | starting within 20 dB of the peak "
          "| last 20 ms vs loudest (median) | ending within 20 dB of the peak |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for speaker, values in rows.items():
        start, end, seconds = np.array(values).T
        within = 100 * np.mean(start > -20), 100 * np.mean(end > -20)
        print(f"| {speaker} | {np.median(seconds):.2f} | {np.median(start):.1f} dB | {within[0]:.1f} % "
              f"| {np.median(end):.1f} dB | {within[1]:.1f} % |")  # fmt: skip


if __name__ == "__main__":
    main()
