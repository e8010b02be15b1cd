"""The silero-vad gate: silence stays closed, real speech opens it, and a gated spotter does not
run its scorer on windows without speech. Skipped where silero-vad is not installed."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from speechrnn.audio import load_audio
from speechrnn.data.realspeech import ENV, TEST_SET
from speechrnn.kws import KeywordConfig, KeywordSpotter
from speechrnn.model import ModelConfig, SpeechRNN

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get(ENV) or ROOT.parent / "shared/data/realspeech")
CLIP = SHARED / TEST_SET / "yes/0cb74144_nohash_0.wav"
pytestmark = pytest.mark.skipif(importlib.util.find_spec("silero_vad") is None, reason="silero-vad not installed")
needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared real speech clip not at {CLIP}")
LABELS = ["yes", "no", "_unknown_", "_silence_"]


def faint_noise(seconds: float) -> np.ndarray:
    return (0.003 * np.random.default_rng(0).standard_normal(int(seconds * 16000))).astype(np.float32)


def speech_stream() -> np.ndarray:
    """1 s faint noise, a real 'yes', 1 s faint noise."""
    return np.concatenate([faint_noise(1.0), load_audio(CLIP, 16000), faint_noise(1.0)])


def test_silence_and_faint_noise_are_not_speech():
    from speechrnn.vad import SileroVAD

    vad = SileroVAD()
    probs = vad.accept(np.zeros(8000, dtype=np.float32))
    probs = np.concatenate([probs, vad.accept(faint_noise(2.0))])
    assert probs.size == (8000 + 32000) // 512
    assert probs.max() < 0.5 and not vad.speech(2.0)


@needs_clip
def test_real_speech_opens_the_gate_only_around_the_word():
    from speechrnn.vad import SileroVAD

    vad = SileroVAD()
    probs = vad.accept(speech_stream())
    speech_frames = np.flatnonzero(probs >= 0.5) * 512 / 16000
    assert speech_frames.size > 0 and vad.speech(3.0)
    assert 1.0 <= speech_frames.min() and speech_frames.max() <= 2.0
    assert not vad.speech(0.5)  # the last half second is faint noise


@needs_clip
def test_a_gated_spotter_scores_only_windows_with_speech():
    from speechrnn.vad import SileroVAD

    model = SpeechRNN(ModelConfig(head="classify", labels=LABELS, hidden_size=8, num_layers=1, pooling="mean"))
    scored = []

    def scorer(window):
        scored.append(window)
        return np.array([0.97, 0.01, 0.01, 0.01])  # 'yes' everywhere: the gate alone decides

    config = KeywordConfig(threshold=0.9, smoothing=1, refractory=2.0)
    spotter = KeywordSpotter(model, config, scorer=scorer, vad=SileroVAD())
    assert spotter.accept(faint_noise(3.0)) == [] and scored == []
    events = spotter.accept(speech_stream())
    assert [e.label for e in events] == ["yes"]
    assert 0 < len(scored) <= 20  # windows holding the word (1 s at 100 ms hops, plus the gate's frame)
    assert events[0].start <= 3.0 + 2.0 and events[0].end >= 3.0 + 1.0


def test_vad_without_stream_is_a_one_line_error(tmp_path):
    wav = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(wav, faint_noise(0.5), 16000)
    done = subprocess.run(
        [sys.executable, "-m", "speechrnn", "transcribe", "--vad", str(wav)], capture_output=True, text=True
    )
    assert done.returncode != 0 and "--vad needs --stream" in done.stderr and "Traceback" not in done.stderr
