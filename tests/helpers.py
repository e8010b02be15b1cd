"""Byte builders for test fixtures: encoded audio and in-memory archives."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import soundfile as sf


def audio_bytes(audio: np.ndarray, rate: int = 16000, format: str = "WAV") -> bytes:
    """``audio`` (samples,) encoded as a 16-bit ``format`` ("WAV", "FLAC", ...) file."""
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=format, subtype="PCM_16")
    return buffer.getvalue()


def tar_gz(members: dict[str, bytes]) -> bytes:
    """A .tar.gz holding a regular file per ``{member name: content}``, in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
