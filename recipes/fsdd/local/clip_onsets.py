"""How tightly each FSDD speaker's clips are trimmed: level of the first 20 ms against the loudest 20 ms.

A clip that starts within 20 dB of its loudest 20 ms starts inside the word (its onset consonant
may be cut); a clip with leading silence starts 40 dB or more below.

    python recipes/fsdd/local/clip_onsets.py [--fsdd DIR]
"""

import argparse

import numpy as np

from speechrnn.audio import load_audio
from speechrnn.data.fsdd import SPEAKERS, fsdd_root, scan_recordings


def onset_level_db(audio: np.ndarray, sample_rate: int, window_s: float = 0.02) -> float:
    """Energy of the first ``window_s`` seconds relative to the loudest such window, in dB."""
    n = max(1, int(window_s * sample_rate))
    windows = audio[: len(audio) // n * n].reshape(-1, n)
    energy = np.mean(windows**2, axis=1) + 1e-12
    return float(10 * np.log10(energy[0] / energy.max()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fsdd", help="FSDD folder (default: $SPEECHRNN_FSDD or ../shared/data/fsdd)")
    args = parser.parse_args()
    levels: dict[str, list[float]] = {s: [] for s in SPEAKERS}
    for _, speaker, _, path in scan_recordings(args.fsdd or fsdd_root()):
        levels[speaker].append(onset_level_db(load_audio(path, 8000), 8000))
    print("| speaker | first 20 ms vs loudest 20 ms (median) | clips starting within 20 dB of their peak |")
    print("|---|---:|---:|")
    for speaker, values in levels.items():
        values = np.array(values)
        print(f"| {speaker} | {np.median(values):.1f} dB | {100 * np.mean(values > -20):.1f} % |")


if __name__ == "__main__":
    main()
