"""Audio input without torch: files and arrays to mono float32 at the model's rate.

The same rules as ``speechrnn.audio.load_audio`` / ``to_mono_float32`` (integer PCM scaled by
its type's range, channels averaged, soxr HQ resampling, one-line ``AudioError`` for missing,
empty, truncated, unreadable or non-finite input), with numpy, soundfile and soxr only.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from speechrnn.errors import AudioError


def to_mono_float32(samples, name: str = "audio array", *, allow_empty: bool = False) -> np.ndarray:
    """(samples,) or (samples, channels) int/float array -> mono float32 (samples,)."""
    if hasattr(samples, "detach") and hasattr(samples, "numpy"):  # a torch tensor, without importing torch
        samples = samples.detach().cpu().numpy()
    if not isinstance(samples, np.ndarray):
        raise AudioError(f"{name}: expected a numpy array, got {type(samples).__name__}")
    audio = samples
    if audio.dtype.kind in "iu" and audio.dtype.itemsize > 4:
        raise AudioError(f"{name}: unsupported sample type {audio.dtype} (use float or 8/16/32-bit integer PCM)")
    if audio.dtype.kind == "i":
        audio = audio.astype(np.float32) / float(-np.iinfo(audio.dtype).min)
    elif audio.dtype.kind == "u":
        half = (np.iinfo(audio.dtype).max + 1) / 2
        audio = (audio.astype(np.float32) - half) / half
    elif audio.dtype.kind == "f":
        audio = audio.astype(np.float32, copy=False)
    else:
        raise AudioError(f"{name}: unsupported sample type {audio.dtype} (use float or integer PCM)")
    if audio.ndim == 2:
        audio = audio.mean(axis=1, dtype=np.float32)
    elif audio.ndim != 1:
        raise AudioError(f"{name}: expected (samples,) or (samples, channels) audio, got shape {samples.shape}")
    if audio.size == 0 and not allow_empty:
        raise AudioError(f"{name}: contains no audio samples")
    if not np.isfinite(audio).all():
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return audio


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate <= 0 or target_rate <= 0:
        raise AudioError(f"sample rate must be positive, got {source_rate} -> {target_rate}")
    if source_rate == target_rate:
        return audio.astype(np.float32, copy=False)
    import soxr  # noqa: PLC0415

    return soxr.resample(audio, source_rate, target_rate, quality="HQ").astype(np.float32)


def _check_wav_complete(path: Path) -> None:
    """AudioError if a RIFF/WAVE file declares more sample data than it holds (a truncated copy)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        offset = 12
        while offset + 8 <= size:
            f.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                if chunk_size != 0xFFFFFFFF and offset + 8 + chunk_size > size:
                    missing = offset + 8 + chunk_size - size
                    raise AudioError(f"{path}: truncated WAV file ({missing} bytes of audio data missing)")
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A file's mono float32 samples at its own rate, and that rate."""
    import soundfile as sf  # noqa: PLC0415

    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    _check_wav_complete(path)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        reason = str(error).split(":")[-1].strip() or "unknown format"
        raise AudioError(f"{path}: not a readable audio file ({reason})") from None
    return to_mono_float32(data, str(path)), rate


def load_audio(source, sample_rate: int, *, source_rate: int | None = None) -> np.ndarray:
    """A path or an array (at ``source_rate``, default ``sample_rate``) -> (samples,) float32 at ``sample_rate``."""
    if isinstance(source, (str, os.PathLike)):
        audio, rate = read_audio(source)
        return resample(audio, rate, sample_rate)
    return resample(to_mono_float32(source), source_rate or sample_rate, sample_rate)
