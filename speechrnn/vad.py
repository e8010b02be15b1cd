"""Voice activity from silero-vad, to gate keyword detection (``kws.KeywordSpotter(vad=...)``).

silero-vad (``pip install 'speechrnn[vad]'``) ships its model inside its wheel, so nothing is
downloaded at run time. It scores 32 ms frames (512 samples at 16 kHz) with a small recurrent
network whose state it carries from frame to frame; ``SileroVAD`` feeds it a stream in any
chunk sizes and remembers the speech probability of the recent frames.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from speechrnn.errors import ConfigError

SAMPLE_RATE = 16000
FRAME = 512  # samples per silero frame at 16 kHz: 32 ms


def load_silero():
    """The silero-vad model (a TorchScript module), or a ConfigError naming the missing package."""
    try:
        from silero_vad import load_silero_vad  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ConfigError("voice activity needs silero-vad: pip install 'speechrnn[vad]'") from None
    return load_silero_vad()


class SileroVAD:
    """Streaming speech probabilities of 32 ms frames; ``speech(seconds)`` asks about the recent past.

    ``accept(samples)`` takes 16 kHz float32 (n,) audio; ``speech(seconds)`` is True when a frame
    of the last ``seconds`` reached ``threshold``.
    """

    def __init__(self, threshold: float = 0.5, memory: float = 2.0, model=None) -> None:
        if not 0 < threshold < 1:
            raise ConfigError(f"VAD threshold must be in (0, 1), got {threshold}")
        self.model = model if model is not None else load_silero()
        self.threshold = threshold
        self._probs: deque[float] = deque(maxlen=int(np.ceil(memory * SAMPLE_RATE / FRAME)))
        self.reset()

    def reset(self) -> None:
        self.model.reset_states()
        self._pending = np.zeros(0, dtype=np.float32)
        self._probs.clear()

    @torch.inference_mode()
    def accept(self, samples: np.ndarray) -> np.ndarray:
        """16 kHz (n,) float32 samples -> the speech probabilities (frames,) of the frames they completed."""
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        count = self._pending.size // FRAME
        probs = np.empty(count, dtype=np.float32)
        for i in range(count):
            frame = torch.from_numpy(self._pending[i * FRAME : (i + 1) * FRAME])
            probs[i] = float(self.model(frame, SAMPLE_RATE))
        self._pending = self._pending[count * FRAME :]
        self._probs.extend(probs.tolist())
        return probs

    def speech(self, seconds: float) -> bool:
        """Whether a frame of the last ``seconds`` of audio was speech."""
        frames = max(1, int(np.ceil(seconds * SAMPLE_RATE / FRAME)))
        recent = list(self._probs)[-frames:]
        return bool(recent) and max(recent) >= self.threshold
