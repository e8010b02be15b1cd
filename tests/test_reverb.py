"""Synthetic rooms (augment.reverb_prob): the impulse response's shape and what convolving with it does."""

from __future__ import annotations

import numpy as np
import pytest

from speechrnn.augment import AugmentConfig, WaveformAugment, reverberate, room_impulse_response


@pytest.mark.parametrize("rt60", [0.2, 0.5, 0.8])
def test_impulse_response_decays_by_60_db_in_rt60(rt60):
    rir = room_impulse_response(np.random.default_rng(1), rt60, 16000)
    assert rir.shape == (int(rt60 * 16000),) and rir.dtype == np.float32
    assert rir[0] == 1.0 and np.all(rir[1:33] == 0.0)  # the direct path, then at least 2 ms of pre-delay
    energy = np.cumsum(rir[1:][::-1] ** 2)[::-1]  # Schroeder's backward integral of the tail
    decay_db = 10 * np.log10(energy / energy[0])
    slope = np.polyfit(np.arange(len(decay_db))[200:-800] / 16000, decay_db[200:-800], 1)[0]
    assert slope == pytest.approx(-60 / rt60, rel=0.15)  # dB per second: 60 dB in rt60 seconds


def test_reverberation_keeps_length_and_level_and_smears_in_time():
    click = np.zeros(16000, dtype=np.float32)
    click[1000] = 1.0
    wet = reverberate(click, room_impulse_response(np.random.default_rng(0), 0.4, 16000))
    assert wet.shape == click.shape and wet.dtype == np.float32
    assert np.sqrt(np.mean(wet**2)) == pytest.approx(np.sqrt(np.mean(click**2)), rel=1e-4)
    assert np.abs(wet[:1000]).max() < 1e-6  # causal (FFT rounding aside)
    assert np.count_nonzero(np.abs(wet[1100:]) > 1e-4) > 2000  # the click rings on


def test_augmenter_reverberates_only_when_asked():
    speech = np.random.default_rng(2).standard_normal(8000).astype(np.float32) * 0.1
    dry = WaveformAugment(AugmentConfig(), 16000)(speech, np.random.default_rng(3))
    assert np.array_equal(dry, speech)
    config = AugmentConfig(reverb_prob=1.0, rt60_s=[0.3, 0.3])
    assert config.waveform_enabled
    wet = WaveformAugment(config, 16000)(speech, np.random.default_rng(3))
    assert wet.shape == speech.shape and not np.allclose(wet, speech)
