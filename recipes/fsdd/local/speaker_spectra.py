"""Per-speaker level and average log-mel spectrum of FSDD: how much the speakers' channels differ.

    python recipes/fsdd/local/speaker_spectra.py [--every 5]

Prints, per speaker, the median RMS level, the median fundamental frequency (librosa's pYIN over
the voiced frames of each clip, at FSDD's 8 kHz) and the mean log-mel (20 bins up to 4 kHz,
natural-log power, each row centred) over the loudest frames of every ``--every``-th recording.
"""

import argparse
import collections

import librosa
import numpy as np
import torch

from speechrnn.audio import LogMel, load_audio
from speechrnn.data.fsdd import fsdd_root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=5)
    args = parser.parse_args()
    frontend = LogMel(n_mels=20, f_max=4000)
    spectra, levels, pitches = (collections.defaultdict(list) for _ in range(3))
    for path in sorted((fsdd_root() / "recordings").glob("*.wav"))[:: args.every]:
        speaker = path.stem.split("_")[1]
        audio = load_audio(path)
        feats = frontend(torch.from_numpy(audio)[None])[0]
        energy = feats.mean(-1)
        spectra[speaker].append(feats[energy > energy.max() - 3].mean(0).numpy())
        levels[speaker].append(float(np.sqrt(np.mean(audio**2))))
        f0, voiced, _ = librosa.pyin(load_audio(path, 8000), fmin=60, fmax=300, sr=8000, frame_length=512)
        if voiced.any():
            pitches[speaker].append(float(np.median(f0[voiced])))
    for speaker in sorted(spectra):
        mean = np.mean(spectra[speaker], axis=0)
        shape = " ".join(f"{x:5.1f}" for x in mean - mean.mean())
        f0 = np.median(pitches[speaker])
        print(f"{speaker:9s} rms {np.median(levels[speaker]):.3f}  f0 {f0:3.0f} Hz | {shape}")


if __name__ == "__main__":
    main()
