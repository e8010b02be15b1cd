"""Audio loading, resampling and log-mel features.

Inside the library audio is mono float32 in [-1, 1] at ``SAMPLE_RATE`` unless a
config says otherwise. ``LogMel`` reproduces librosa's
``melspectrogram(power=2)`` (centred frames, zero padding, periodic Hann window,
Slaney mel filters) followed by a natural log, for batches on any device.
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import torch
from torch import nn

from speechrnn.audio_io import (  # noqa: F401 - re-exported: the library's audio API lives here too
    MAX_SAMPLE_RATE,
    MAX_SECONDS,
    MIN_SAMPLE_RATE,
    SAMPLE_RATE,
    check_length,
    check_sample_rate,
    load_audio,
    read_audio,
    resample,
    to_mono_float32,
)

N_FFT = 400  # 25 ms window at 16 kHz
HOP_LENGTH = 160  # 10 ms hop at 16 kHz
N_MELS = 80
LOG_FLOOR = 1e-10  # power floor before the log: log(1e-10) = -23.03

AudioSource = Union[str, os.PathLike, np.ndarray, torch.Tensor]


def num_frames(num_samples: torch.Tensor | int, hop_length: int = HOP_LENGTH) -> torch.Tensor | int:
    """Number of centred frames for ``num_samples`` samples: ``1 + num_samples // hop_length``."""
    return 1 + num_samples // hop_length


def hann_window(n_fft: int, win_length: int) -> torch.Tensor:
    """(n_fft,) periodic Hann window of ``win_length`` samples, zero-padded equally on both sides
    (librosa's and torch.stft's placement of a window shorter than the FFT)."""
    left = (n_fft - win_length) // 2
    window = torch.hann_window(win_length, periodic=True)
    return torch.nn.functional.pad(window, (left, n_fft - win_length - left))


class LogMel(nn.Module):
    """Natural-log mel power spectrogram, equal to librosa's ``melspectrogram(power=2)`` + log.

    Frames are centred (``n_fft // 2`` zeros on each side), windowed with a periodic
    Hann window (of ``win_length`` samples centred in the ``n_fft``, by default all of it) and
    mapped with Slaney-normalised mel filters (librosa defaults).
    Zero padding appended to a signal never changes its first ``num_frames(len)`` frames,
    so a padded batch gives each item its unpadded features.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = N_FFT,
        hop_length: int = HOP_LENGTH,
        n_mels: int = N_MELS,
        f_min: float = 0.0,
        f_max: float | None = None,
        win_length: int | None = None,
    ) -> None:
        super().__init__()
        import librosa

        self.sample_rate = sample_rate
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.n_mels = n_mels
        self.win_length = win_length or n_fft
        if not 0 < self.win_length <= n_fft:
            raise ValueError(f"win_length must be in 1..n_fft ({n_fft}), got {win_length}")
        mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max)
        # (n_mels, n_fft // 2 + 1): left-multiplies the (freq, frames) power spectrum
        self.register_buffer("mel_basis", torch.from_numpy(mel).float().contiguous(), persistent=False)
        self.register_buffer("window", hann_window(n_fft, self.win_length), persistent=False)

    def logmel_from_padded(self, padded: torch.Tensor) -> torch.Tensor:
        """(batch, samples) signal already padded at its edges -> (batch, frames, n_mels).

        Frames start every ``hop_length`` samples from sample 0 and need ``n_fft`` samples
        each: ``frames = 1 + (samples - n_fft) // hop_length``. The one place the spectral
        maths happens; the offline forward and the streaming extractor both call it.
        """
        with torch.autocast(padded.device.type, enabled=False):  # power and log need float32 under AMP
            spectrum = torch.stft(
                padded.float(), self.n_fft, self.hop_length, window=self.window, center=False, return_complex=True
            )  # (batch, n_fft // 2 + 1, frames)
            # in place where possible: on CPU each fresh buffer of a long signal costs page faults
            power = spectrum.real.square().addcmul_(spectrum.imag, spectrum.imag)
            del spectrum
            mel = self.mel_basis @ power  # (batch, n_mels, frames)
            return mel.clamp_(min=LOG_FLOOR).log_().transpose(1, 2)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(batch, samples) float audio -> (batch, 1 + samples // hop_length, n_mels)."""
        if audio.dim() == 1:
            audio = audio.unsqueeze(0)
        pad = self.n_fft // 2
        return self.logmel_from_padded(torch.nn.functional.pad(audio, (pad, pad)))


def log_mel(
    source: AudioSource, *, sample_rate: int = SAMPLE_RATE, n_mels: int = N_MELS, device: str | None = None
) -> torch.Tensor:
    """Log-mel features of a path, array or tensor: (frames, n_mels)."""
    audio = torch.from_numpy(load_audio(source, sample_rate))
    module = LogMel(sample_rate=sample_rate, n_mels=n_mels)
    if device:
        audio, module = audio.to(device), module.to(device)
    return module(audio.unsqueeze(0))[0]
