"""Endpointing: rules that cut a continuous stream into utterances (sherpa-onnx / Vosk style).

Three rules, checked after every piece of audio; the first that holds ends the utterance:

- ``rule1`` (silence before speech): no speech yet and at least ``rule1_min_trailing_silence``
  seconds of silence -> the silence is dropped without a final result;
- ``rule2`` (trailing silence): speech seen and then ``rule2_min_trailing_silence`` seconds
  of silence -> final result;
- ``rule3`` (maximum length): the utterance reached ``rule3_min_utterance_length`` seconds.

Silence is measured either from CTC blank steps (``"blank"``: time since the last decoded
token, as sherpa-onnx does) or from frame energy (``"energy"``: 10 ms blocks whose RMS is
below ``energy_floor_db`` dBFS). ``"auto"`` uses blanks for CTC models and energy for
classifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from speechrnn.errors import ConfigError

SILENCE_MODES = ("auto", "blank", "energy")


@dataclass(frozen=True)
class EndpointConfig:
    """Endpoint rules in seconds; a rule with a value <= 0 is switched off."""

    rule1_min_trailing_silence: float = 2.4
    rule2_min_trailing_silence: float = 1.2
    rule3_min_utterance_length: float = 20.0
    silence: str = "auto"  # "auto", "blank" (CTC blanks) or "energy"
    energy_floor_db: float = -45.0  # RMS of a 10 ms block below this (dBFS) is silence

    def __post_init__(self) -> None:
        if self.silence not in SILENCE_MODES:
            raise ConfigError(f"endpoint silence must be one of {', '.join(SILENCE_MODES)}, got {self.silence!r}")
        if self.rule3_min_utterance_length <= 0 and self.rule2_min_trailing_silence <= 0:
            raise ConfigError("endpoint rules 2 and 3 are both off: a stream would never be cut")

    def detect(self, utterance_length: float, trailing_silence: float, has_speech: bool) -> str | None:
        """The name of the first rule that ends the utterance ("rule1", "rule2", "rule3"), or None."""
        if not has_speech and 0 < self.rule1_min_trailing_silence <= trailing_silence:
            return "rule1"
        if has_speech and 0 < self.rule2_min_trailing_silence <= trailing_silence:
            return "rule2"
        if 0 < self.rule3_min_utterance_length <= utterance_length:
            return "rule3"
        return None


class EnergyTracker:
    """Speech/silence from the RMS of ``block``-sample blocks of one utterance.

    ``accept(samples)`` updates ``has_speech`` and ``trailing_silence(sample_rate)``; samples
    of an incomplete block wait for the next call.
    """

    def __init__(self, block: int, floor_db: float) -> None:
        self.block = block
        self.floor_power = 10.0 ** (floor_db / 10.0)  # mean square of a full-scale-relative block
        self.reset()

    def reset(self) -> None:
        self._rest = np.zeros(0, dtype=np.float32)
        self.num_blocks = 0
        self.last_speech_block = -1  # index of the newest block above the floor

    @property
    def has_speech(self) -> bool:
        return self.last_speech_block >= 0

    def trailing_silence(self, sample_rate: int) -> float:
        """Seconds of complete blocks since the last loud block (or since the start)."""
        return (self.num_blocks - 1 - self.last_speech_block) * self.block / sample_rate

    def accept(self, samples: np.ndarray) -> None:
        audio = np.concatenate([self._rest, samples.astype(np.float32, copy=False)])
        blocks = audio.size // self.block
        if blocks:
            power = np.square(audio[: blocks * self.block].reshape(blocks, self.block), dtype=np.float64).mean(axis=1)
            loud = np.flatnonzero(power > self.floor_power)
            if loud.size:
                self.last_speech_block = self.num_blocks + int(loud[-1])
            self.num_blocks += blocks
        self._rest = audio[blocks * self.block :].copy()
