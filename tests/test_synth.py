"""espeak-ng synthesis: voices exist, 16 kHz non-silent audio, deterministic corpora, clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from speechrnn.data.manifest import read_manifest
from speechrnn.data.synth import DIGIT_WORDS, ESPEAK_VOICES, make_digit_corpus, synthesize
from speechrnn.errors import DataError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def installed_variants() -> set[str]:
    listing = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True).stdout
    return {line.split()[4].removeprefix("!v/") for line in listing.splitlines()[1:] if line.strip()}


def installed_languages() -> set[str]:
    listing = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in listing.splitlines()[1:] if line.strip()}


def test_every_voice_exists():
    # espeak-ng silently falls back to the default voice for an unknown variant, so check names
    variants, languages = installed_variants(), installed_languages()
    assert len(ESPEAK_VOICES) == len(set(ESPEAK_VOICES)) >= 30
    for voice in ESPEAK_VOICES:
        language, _, variant = voice.partition("+")
        assert language in languages, voice
        assert not variant or variant in variants, voice


def test_synthesize_writes_16k_pcm16_speech(tmp_path):
    path = tmp_path / "sub" / "phrase.wav"
    duration = synthesize("four two seven", "en-us+f3", path, speed=160, pitch=50)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    audio, _ = sf.read(path, dtype="float32")
    assert duration == pytest.approx(len(audio) / 16000)
    assert 0.6 < duration < 3.0
    assert np.sqrt(np.mean(audio**2)) > 0.01  # not silence
    assert [p.name for p in tmp_path.rglob("*")] == ["sub", "phrase.wav"]  # no temp files left


def test_voices_speed_and_pitch_change_the_audio(tmp_path):
    base = synthesize("three", "en-us", tmp_path / "a.wav")
    slow = synthesize("three", "en-us", tmp_path / "b.wav", speed=100)
    assert slow > base
    synthesize("three", "en-us+f3", tmp_path / "c.wav")
    a, _ = sf.read(tmp_path / "a.wav")
    c, _ = sf.read(tmp_path / "c.wav")
    assert a.shape != c.shape or not np.allclose(a, c)


def test_unknown_voice_is_data_error(tmp_path):
    with pytest.raises(DataError, match="nosuchvoice"):
        synthesize("one", "nosuchvoice", tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_empty_text_is_data_error(tmp_path):
    with pytest.raises(DataError, match="empty"):
        synthesize("  ", "en-us", tmp_path / "x.wav")


def test_digit_corpus_is_deterministic_and_valid(tmp_path):
    kwargs = dict(seed=7, min_digits=2, max_digits=4, isolated=2, split_name="valid")
    first = make_digit_corpus(tmp_path / "a", 4, **kwargs)
    second = make_digit_corpus(tmp_path / "b", 4, **kwargs)
    assert len(first) == 6
    for one, two in zip(first, second):
        assert (one.text, one.speaker, one.duration, one.label) == (two.text, two.speaker, two.duration, two.label)
        assert sf.read(one.audio)[0].tobytes() == sf.read(two.audio)[0].tobytes()
    for utt in first[:4]:
        words = utt.text.split()
        assert 2 <= len(words) <= 4 and set(words) <= set(DIGIT_WORDS)
        assert utt.label is None
    assert [(u.text, u.label) for u in first[4:]] == [("zero", "zero"), ("one", "one")]
    for utt in first:
        assert utt.speaker.removeprefix("espeak:") in ESPEAK_VOICES
        audio, rate = sf.read(utt.audio)
        assert rate == 16000 and utt.duration == pytest.approx(len(audio) / 16000, abs=1e-3)
    manifest = read_manifest(tmp_path / "a" / "valid.jsonl")
    assert [u.audio for u in manifest] == [u.audio for u in first]
    other = make_digit_corpus(tmp_path / "c", 4, seed=8, min_digits=2, max_digits=4)
    assert [u.text for u in other] != [u.text for u in first[:4]]


def test_missing_espeak_is_data_error(tmp_path):
    # a PATH without espeak-ng, in a fresh interpreter
    script = textwrap.dedent(
        """
        import sys
        from speechrnn.data.synth import make_digit_corpus, synthesize
        from speechrnn.errors import DataError
        for call in (lambda: synthesize("one", "en-us", sys.argv[1] + "/x.wav"),
                     lambda: make_digit_corpus(sys.argv[1], 2)):
            try:
                call()
            except DataError as error:
                print(error)
        """
    )
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all(line.startswith("espeak-ng not found on PATH") for line in lines)
    assert list(tmp_path.iterdir()) == []
