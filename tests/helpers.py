"""Fixture builders: encoded audio, in-memory archives, and manifests of noise clips."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf


def speechlike(seconds: float, seed: int, rate: int = 16000) -> np.ndarray:
    """Bursts of harmonic tones with gaps: gives a random model varied, non-trivial outputs."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    envelope = (np.sin(2 * np.pi * rng.uniform(1.5, 3.0) * t) > 0).astype(np.float32)
    tone = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate(rng.uniform(150, 2500, size=4)))
    return (0.2 * envelope * tone + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


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


def noise_clips(folder: Path, labels: list[str], count: int = 6) -> list:
    """``count`` 16 kHz WAVs of white noise, 0.2-0.6 s long, in ``folder``, as manifest Utterances
    labelled ``labels[i % len(labels)]``."""
    from speechrnn.data.manifest import Utterance

    rng = np.random.default_rng(1)
    utterances = []
    for i in range(count):
        path = folder / f"clip{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(int(16000 * rng.uniform(0.2, 0.6)))).astype(np.float32), 16000)
        utterances.append(Utterance(audio=str(path), duration=sf.info(path).duration, label=labels[i % len(labels)]))
    return utterances


def fsdd_recordings() -> Path | None:
    """The local FSDD ``recordings/`` folder, or None where no copy is found (a fresh clone without
    ``../shared``): safe to call at collection time, unlike ``fsdd_root()``, which raises."""
    from speechrnn.data.fsdd import fsdd_root
    from speechrnn.errors import DataError

    try:
        return fsdd_root() / "recordings"
    except DataError:
        return None


def fsdd_missing_reason() -> str:
    """Why FSDD tests skip: the lookup's own message (where it looked, how to set SPEECHRNN_FSDD)."""
    from speechrnn.data.fsdd import fsdd_root
    from speechrnn.errors import DataError

    try:
        return f"FSDD recordings not found at {fsdd_root() / 'recordings'}"
    except DataError as error:
        return f"FSDD not available: {error}"


def randomize_embedding(embedding, seed: int = 0) -> None:
    """Random weights for a ``SpeechEmbedding`` in place: He-scaled convolutions and varied batch-norm
    statistics, so that its outputs on speech are as large and as varied as the pretrained ones' (its
    init gives outputs near 0.1, too small to test parity with)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    for name, buffer in embedding.named_buffers():
        if not buffer.is_floating_point():
            continue
        if buffer.dim() == 4:  # a convolution's (out, in, kh, kw) weight
            buffer.copy_(torch.randn(buffer.shape, generator=generator) * (2 / buffer[0].numel()) ** 0.5)
        elif name.endswith("running_var"):
            buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)
        else:  # biases, the norm's scale (about 1), shift and mean
            centre = 1.0 if name == "norm.weight" else 0.0
            buffer.copy_(centre + 0.2 * (torch.rand(buffer.shape, generator=generator) - 0.5))
