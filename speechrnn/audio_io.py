"""Audio in: files of any common format and rate, arrays and tensors -> mono float32 at a chosen rate.

numpy, soundfile and soxr only (no torch), so that the torch-free ``speechrnn.runtime`` loads audio
exactly as the library does. Every sample rate given or read from a header goes through
``check_sample_rate`` and every length through ``check_length`` before anything is allocated.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from speechrnn.errors import AudioError

SAMPLE_RATE = 16000
MIN_SAMPLE_RATE = 1000  # below any speech recording; a header claiming 1 Hz would upsample 16000x
MAX_SAMPLE_RATE = 768000  # the highest rate audio hardware uses
MAX_SECONDS = 4 * 3600  # longest audio loaded at once: 230_400_000 samples (922 MB float32) at 16 kHz


def check_sample_rate(rate, name: str = "audio") -> int:
    """``rate`` as an int: a whole number of samples per second in [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE].

    The one check of a sample rate given by a caller or read from a file header (44100.0 from a
    device query is fine); ``name`` (a path, "samples", ...) starts the message.

    Raises:
        AudioError: not a whole positive number, or outside the range.
    """
    whole = isinstance(rate, (int, np.integer)) or (
        isinstance(rate, (float, np.floating)) and math.isfinite(rate) and float(rate).is_integer()
    )
    if isinstance(rate, bool) or not whole or rate <= 0:
        raise AudioError(f"{name}: sample rate must be a positive integer, got {rate!r}")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{name}: sample rate {int(rate)} Hz is outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz (a damaged header?)"
        )
    return int(rate)


def check_length(num_samples: int, source_rate: int, name: str = "audio") -> None:
    """Refuse audio longer than ``MAX_SECONDS`` before anything is read or resampled."""
    if num_samples > MAX_SECONDS * source_rate:
        raise AudioError(
            f"{name}: {num_samples / source_rate:.0f} s of audio is more than the {MAX_SECONDS} s "
            "loaded at once (stream it instead)"
        )


def resample(audio: np.ndarray, source_rate: int, target_rate: int, name: str = "audio") -> np.ndarray:
    """Resample ``audio`` (samples,) from ``source_rate`` to ``target_rate`` with soxr (HQ).

    Both rates go through ``check_sample_rate`` and the output length through ``check_length``
    before soxr allocates anything; ``name`` names the audio in the error.
    """
    source_rate, target_rate = check_sample_rate(source_rate, name), check_sample_rate(target_rate, name)
    if source_rate == target_rate:
        return audio.astype(np.float32, copy=False)
    check_length(len(audio), source_rate, name)
    import soxr

    return soxr.resample(audio, source_rate, target_rate, quality="HQ").astype(np.float32)


def _check_wav_complete(path: Path) -> None:
    """Raise if a RIFF/WAVE file declares more sample data than it holds (a truncated copy)."""
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


def to_mono_float32(samples, name: str = "audio array", *, allow_empty: bool = False) -> np.ndarray:
    """(samples,), (samples, channels) or (channels, samples) int/float array or tensor -> mono float32 (samples,).

    Integer PCM is scaled to [-1, 1) by its type's range; channels are averaged. Channels are the
    shorter axis: (1, n) and (2, n) (what torchaudio.load returns) are channels-first; a square
    array, or (1, 2) and the like, is read as (samples, channels).

    Raises:
        AudioError: not an array, an unsupported dtype or shape, NaN/inf samples, or (unless
            ``allow_empty``, as for a streaming chunk) no samples at all.
    """
    if type(samples).__module__.startswith("torch"):  # a torch.Tensor, without importing torch here
        samples = samples.detach().cpu().numpy()
    if not isinstance(samples, np.ndarray):
        raise AudioError(f"{name}: expected a numpy array or torch tensor, got {type(samples).__name__}")
    audio = samples
    if audio.dtype.kind in "iu" and audio.dtype.itemsize > 4:
        raise AudioError(f"{name}: unsupported sample type {audio.dtype} (use float or 8/16/32-bit integer PCM)")
    if audio.dtype.kind == "i":
        audio = np.multiply(audio, 1.0 / 2 ** (8 * audio.dtype.itemsize - 1), dtype=np.float32)  # exact: a power of 2
    elif audio.dtype.kind == "u":
        half = (np.iinfo(audio.dtype).max + 1) / 2
        audio = (audio.astype(np.float32) - half) / half
    elif audio.dtype.kind == "f":
        audio = audio.astype(np.float32, copy=False)
    else:
        raise AudioError(f"{name}: unsupported sample type {audio.dtype} (use float or integer PCM)")
    if audio.ndim == 2:
        audio = audio.mean(axis=0 if audio.shape[0] < audio.shape[1] else 1, dtype=np.float32)
    elif audio.ndim != 1:
        raise AudioError(f"{name}: expected (samples,) or (samples, channels) audio, got shape {tuple(samples.shape)}")
    if audio.size == 0 and not allow_empty:
        raise AudioError(f"{name}: contains no audio samples")
    if samples.dtype.kind == "f" and not np.isfinite(audio).all():  # integer PCM is always finite
        raise AudioError(f"{name}: contains NaN or infinite samples")
    return audio


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """A file's mono float32 samples (samples,) at its own rate, and that rate.

    Raises:
        AudioError: missing, empty, unreadable or truncated file, a sample rate out of range
            claimed by its header, or too long a file (both checked before the samples are read).
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    _check_wav_complete(path)
    try:
        info = sf.info(str(path))
        # the header's claims are checked before the samples are read or resampled
        check_sample_rate(info.samplerate, str(path))
        check_length(info.frames, info.samplerate, str(path))
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        reason = str(error).split(":")[-1].strip() or "unknown format"
        raise AudioError(f"{path}: not a readable audio file ({reason})") from None
    return to_mono_float32(data, str(path)), file_rate


def load_audio(source, sample_rate: int = SAMPLE_RATE, *, source_rate: int | None = None) -> np.ndarray:
    """Load audio as mono float32 in [-1, 1] at ``sample_rate``.

    Args:
        source: a path to a WAV/FLAC/OGG/MP3 file, or samples as an array or tensor of
            shape (samples,) or (samples, channels), integer PCM or float.
        sample_rate: the rate to return.
        source_rate: the rate of an array ``source``; None means ``sample_rate`` (no
            resampling). Files carry their own rate. Rates go through ``check_sample_rate``.

    Returns:
        (samples,) float32 array.

    Raises:
        AudioError: missing, empty, unreadable, truncated, non-finite or non-audio input, a
            sample rate out of range (also one claimed by a file's header) or too long a file.
    """
    if not isinstance(source, (str, os.PathLike)):
        audio = to_mono_float32(source, "audio array")
        return resample(audio, sample_rate if source_rate is None else source_rate, sample_rate, "audio array")
    audio, file_rate = read_audio(source)
    return resample(audio, file_rate, sample_rate, str(source))
