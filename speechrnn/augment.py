"""Data augmentation: waveform effects (CPU, in loader workers) and SpecAugment (on the device).

Waveform effects, each applied with its own probability: speed perturbation (resampling,
which changes tempo and pitch like ``sox speed``), gain, a random lead-in shift, a telephone
band-limit (8 kHz round trip), additive noise at a random SNR from noise files (e.g.
Speech Commands' ``_background_noise_``) or from generated coloured noise, and stationary tones
(the mains hum or electronic whine some recording set-ups add); a random microphone colouring
(a spectral tilt and a gentle low-pass, as a muffled or a bright microphone gives); and a synthetic
room (``room_impulse_response``: an exponentially decaying diffuse tail, the standard statistical
model of reverberation, at a random reverberation time and direct-to-reverberant ratio).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from speechrnn.audio import load_audio, resample
from speechrnn.tensors import lengths_to_mask


@dataclass
class AugmentConfig:
    speed_factors: list[float] = field(default_factory=list)  # e.g. [0.9, 1.0, 1.1]; empty = off
    gain_db: list[float] = field(default_factory=list)  # [low, high] uniform; empty = off
    shift_ms: float = 0.0  # random leading silence of up to this many ms
    tail_ms: float = 0.0  # random trailing silence of up to this many ms (isolated clips cut tight)
    band_limit_prob: float = 0.0  # probability of an 8 kHz round trip (telephone band)
    noise_prob: float = 0.0  # probability of additive noise
    snr_db: list[float] = field(default_factory=lambda: [5.0, 30.0])  # [low, high] uniform
    eq_prob: float = 0.0  # probability of a random microphone colouring (see ``colouring_gain``)
    eq_tilt_db: list[float] = field(default_factory=lambda: [-6.0, 3.0])  # dB per octave around 500 Hz
    eq_lowpass_hz: list[float] = field(default_factory=lambda: [1500.0, 8000.0])  # low-pass corner
    tone_prob: float = 0.0  # probability of 1-3 added stationary sine tones (hum, whine)
    tone_snr_db: list[float] = field(default_factory=lambda: [10.0, 30.0])  # speech-to-tones ratio
    reverb_prob: float = 0.0  # probability of a synthetic room (see ``room_impulse_response``)
    rt60_s: list[float] = field(default_factory=lambda: [0.2, 0.8])  # [low, high] reverberation time
    spec_time_masks: int = 0
    spec_time_width: float = 0.05  # widest time mask as a fraction of the utterance
    spec_freq_masks: int = 0
    spec_freq_width: int = 10  # widest frequency mask in mel bins
    freq_warp: float = 0.0  # vocal-tract-length warp: mel axis scaled by a random factor in [1 - w, 1 + w]
    # stream examples (classifiers; data/stream_examples.py): what a spotter's window sees in a stream
    context_prob: float = 0.0  # probability of preceding a clip by the end of another (augmented) training clip
    context_s: list[float] = field(default_factory=lambda: [0.3, 1.5])  # [low, high] seconds of that context
    cut_prob: float = 0.0  # probability of cutting a keyword clip mid-word, relabelled ``cut_label``
    cut_fraction: list[float] = field(default_factory=lambda: [0.2, 0.6])  # share of the word's speech kept
    cut_label: str = "_unknown_"
    window_s: float = 0.0  # > 0: crop the composed example to a window of this length (a sliding-window spotter's)

    @property
    def stream_enabled(self) -> bool:
        return bool(self.context_prob or self.cut_prob or self.window_s)

    @property
    def waveform_enabled(self) -> bool:
        return bool(
            self.speed_factors
            or self.gain_db
            or self.shift_ms
            or self.tail_ms
            or self.band_limit_prob
            or self.noise_prob
            or self.tone_prob
            or self.eq_prob
            or self.reverb_prob
        )


def coloured_noise(rng: np.random.Generator, length: int, exponent: float) -> np.ndarray:
    """Unit-power noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown): (length,)."""
    spectrum = rng.standard_normal(length // 2 + 1) + 1j * rng.standard_normal(length // 2 + 1)
    freqs = np.maximum(np.arange(length // 2 + 1), 1.0)
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n=length)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def colouring_gain(freqs: np.ndarray, tilt_db_per_octave: float, lowpass_hz: float) -> np.ndarray:
    """Linear amplitude gain at ``freqs`` (Hz): a tilt around 500 Hz times a 2nd-order low-pass.

    The tilt is clipped to +-24 dB so that it shapes the speech band without creating silence.
    """
    octaves = np.log2(np.maximum(freqs, 31.25) / 500.0)
    tilt = np.clip(tilt_db_per_octave * octaves, -24.0, 24.0)
    lowpass = 1.0 / np.sqrt(1.0 + (freqs / lowpass_hz) ** 4)
    return (10 ** (tilt / 20) * lowpass).astype(np.float32)


def room_impulse_response(rng: np.random.Generator, rt60: float, sample_rate: int) -> np.ndarray:
    """A synthetic room impulse response: (taps,), the direct path at index 0.

    The statistical model of a diffuse reverberant tail (Polack's): Gaussian noise under an
    exponential envelope that falls by 60 dB in ``rt60`` seconds, starting after a few ms of
    pre-delay, at a direct-to-reverberant energy ratio drawn in [-3, 12] dB (near and far talkers).
    """
    taps = max(1, int(rt60 * sample_rate))
    t = np.arange(taps) / sample_rate
    tail = rng.standard_normal(taps) * np.exp(-6.9078 * t / rt60)
    tail[: int(rng.uniform(0.002, 0.01) * sample_rate)] = 0.0  # pre-delay before the first reflections
    drr_db = rng.uniform(-3.0, 12.0)
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``audio`` (samples,) convolved with ``rir`` (taps,), cut to the input's length, same RMS level."""
    from scipy.signal import fftconvolve

    wet = fftconvolve(audio, rir)[: len(audio)].astype(np.float32)
    level = np.sqrt(np.mean(audio**2) / (np.mean(wet**2) + 1e-12))
    return wet * np.float32(level)


def stationary_tones(rng: np.random.Generator, length: int, sample_rate: int, max_hz: float = 3800.0) -> np.ndarray:
    """1-3 constant sine tones at random frequencies in [50, max_hz] Hz and levels: (length,), unit power."""
    t = np.arange(length) / sample_rate
    tones = np.zeros(length)
    for _ in range(int(rng.integers(1, 4))):
        frequency = rng.uniform(50.0, min(max_hz, 0.45 * sample_rate))
        tones += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * frequency * t + rng.uniform(0, 2 * np.pi))
    return (tones / (np.sqrt(np.mean(tones**2)) + 1e-12)).astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """speech + noise scaled so that 10 log10(P_speech / P_noise) = snr_db; same length as speech."""
    speech_power = float(np.mean(speech**2)) + 1e-10
    noise_power = float(np.mean(noise**2)) + 1e-10
    scale = np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))
    return (speech + scale * noise).astype(np.float32)


class WaveformAugment:
    """Callable (numpy (samples,), numpy Generator) -> augmented (samples',) at ``sample_rate``.

    The caller supplies the random generator (the dataset derives it from seed, epoch and
    utterance index), so augmentations do not depend on loader workers or DDP ranks and a
    resumed run sees exactly what an uninterrupted one would.
    """

    def __init__(self, config: AugmentConfig, sample_rate: int, noise_files: Sequence[str] = ()) -> None:
        self.config, self.sample_rate = config, sample_rate
        self.noise_files = list(noise_files)
        self._noise_cache: dict[str, np.ndarray] = {}

    def _noise(self, length: int, rng: np.random.Generator) -> np.ndarray:
        if not self.noise_files:
            return coloured_noise(rng, length, float(rng.choice([0.0, 1.0, 2.0])))
        path = self.noise_files[rng.integers(len(self.noise_files))]
        if path not in self._noise_cache:
            self._noise_cache[path] = load_audio(path, self.sample_rate)
        noise = self._noise_cache[path]
        if len(noise) < length:
            noise = np.tile(noise, -(-length // len(noise)))
        start = rng.integers(len(noise) - length + 1)
        return noise[start : start + length]

    def __call__(self, audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c, rate = self.config, self.sample_rate
        if c.speed_factors:
            factor = float(rng.choice(c.speed_factors))
            if factor != 1.0:
                audio = resample(audio, round(rate * factor), rate)
        if c.band_limit_prob and rng.random() < c.band_limit_prob:
            audio = resample(resample(audio, rate, 8000), 8000, rate)
        if c.eq_prob and rng.random() < c.eq_prob and audio.size:
            gain = colouring_gain(np.fft.rfftfreq(len(audio), 1 / rate), rng.uniform(*c.eq_tilt_db),
                                  rng.uniform(*c.eq_lowpass_hz))  # fmt: skip
            coloured = np.fft.irfft(np.fft.rfft(audio) * gain, n=len(audio)).astype(np.float32)
            level = np.sqrt(np.mean(audio**2) / (np.mean(coloured**2) + 1e-12))
            audio = coloured * np.float32(level)  # the same loudness: level is gain_db's job
        if c.reverb_prob and rng.random() < c.reverb_prob and audio.size:
            audio = reverberate(audio, room_impulse_response(rng, rng.uniform(*c.rt60_s), rate))
        if c.gain_db:
            audio = audio * np.float32(10 ** (rng.uniform(*c.gain_db) / 20))
        if c.shift_ms:
            lead = int(rng.uniform(0, c.shift_ms) * rate / 1000)
            audio = np.concatenate([np.zeros(lead, dtype=np.float32), audio])
        if c.tail_ms:
            tail = int(rng.uniform(0, c.tail_ms) * rate / 1000)
            audio = np.concatenate([audio, np.zeros(tail, dtype=np.float32)])
        if c.noise_prob and rng.random() < c.noise_prob:
            audio = mix_at_snr(audio, self._noise(len(audio), rng), rng.uniform(*c.snr_db))
        if c.tone_prob and rng.random() < c.tone_prob:
            audio = mix_at_snr(audio, stationary_tones(rng, len(audio), rate), rng.uniform(*c.tone_snr_db))
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        return audio / peak if peak > 1.0 else audio


def warp_mel(feats: torch.Tensor, factor: torch.Tensor | float) -> torch.Tensor:
    """Scale the mel axis of (batch, frames, n_mels) by ``factor`` (a float, or (batch, 1): one per item).

    Output bin k takes the (linearly interpolated) input at k * factor, clamped to the top bin:
    formants move as for a longer or shorter vocal tract (a factor above 1 moves them down), while
    timing is untouched (unlike speed perturbation, which changes both). Factor 1 is the identity.
    """
    batch, frames, bins = feats.shape
    factor = torch.as_tensor(factor, dtype=torch.float32, device=feats.device).reshape(-1, 1)
    source = (torch.arange(bins, device=feats.device)[None, :] * factor).clamp(max=bins - 1)
    low = source.floor().long()
    high = (low + 1).clamp(max=bins - 1)
    weight = (source - low).unsqueeze(1).to(feats.dtype)
    index = lambda i: i.unsqueeze(1).expand(batch, frames, bins)  # noqa: E731
    return feats.gather(2, index(low)) * (1 - weight) + feats.gather(2, index(high)) * weight


def warp_frequency(feats: torch.Tensor, max_warp: float) -> torch.Tensor:
    """``warp_mel`` by a random factor per item, uniform in [1 - max_warp, 1 + max_warp] (VTLP-like)."""
    factor = 1 + (2 * torch.rand(feats.size(0), 1, device=feats.device) - 1) * max_warp
    return warp_mel(feats, factor)


def spec_augment(feats: torch.Tensor, lengths: torch.Tensor, config: AugmentConfig) -> torch.Tensor:
    """Frequency warp and SpecAugment on normalised features (batch, frames, n_mels).

    Masked cells are set to 0 (the mean); time masks are at most ``spec_time_width`` of each
    item's own length; padding stays 0.
    """
    if config.freq_warp:
        feats = warp_frequency(feats, config.freq_warp)
    if not (config.spec_time_masks or config.spec_freq_masks):
        return feats
    batch, frames, bins = feats.shape
    device = feats.device
    keep = torch.ones_like(feats, dtype=torch.bool)
    time = torch.arange(frames, device=device)[None, :]
    for _ in range(config.spec_time_masks):
        width = (torch.rand(batch, device=device) * config.spec_time_width * lengths).long()
        start = (torch.rand(batch, device=device) * (lengths - width).clamp(min=1)).long()
        keep &= ~((time >= start[:, None]) & (time < (start + width)[:, None])).unsqueeze(-1)
    freq = torch.arange(bins, device=device)[None, :]
    for _ in range(config.spec_freq_masks):
        width = torch.randint(0, config.spec_freq_width + 1, (batch,), device=device)
        start = (torch.rand(batch, device=device) * (bins - width).clamp(min=1)).long()
        keep &= ~((freq >= start[:, None]) & (freq < (start + width)[:, None])).unsqueeze(1)
    return feats * keep * lengths_to_mask(lengths, frames).unsqueeze(-1)
