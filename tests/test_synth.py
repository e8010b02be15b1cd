"""Speech synthesis (espeak-ng, flite, festival, pico): voices, 16 kHz speech, deterministic corpora, clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from speechrnn.data import synth
from speechrnn.data.fsdd import prepare_fsdd, scan_recordings
from speechrnn.data.manifest import read_manifest
from speechrnn.data.synth import (
    ACCENT_RESPELLINGS,
    ACCENT_VOICES,
    DIGIT_WORDS,
    ESPEAK_VOICES,
    FESTIVAL_VOICES,
    FLITE_VOICES,
    PICO_VOICES,
    digit_words,
    engine_available,
    flite_voices,
    make_digit_corpus,
    make_digit_recordings,
    synthesize,
)
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
    # a finished split is skipped; other arguments make it again
    stamp = os.stat(first[0].audio).st_mtime_ns
    assert make_digit_corpus(tmp_path / "a", 4, **kwargs) == first
    assert os.stat(first[0].audio).st_mtime_ns == stamp
    assert len(make_digit_corpus(tmp_path / "a", 3, **kwargs)) == 5


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


needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed (apt-get install flite)")
needs_festival = pytest.mark.skipif(
    shutil.which("text2wave") is None, reason="festival is not installed (apt-get install festival festvox-...)"
)


def assert_speech(path, seconds: float, shortest: float = 0.2) -> np.ndarray:
    """The WAV at ``path`` is audible 16 kHz audio of ``seconds`` (between ``shortest`` and 2 s)."""
    audio, rate = sf.read(path)
    assert rate == 16000 and shortest < seconds < 2.0 and np.sqrt(np.mean(audio**2)) > 0.01
    assert seconds == pytest.approx(len(audio) / rate, abs=1e-3)
    return audio


@needs_flite
def test_flite_voices_exist_and_speak(tmp_path):
    assert {v.removeprefix("flite:") for v in FLITE_VOICES} <= set(flite_voices())
    rendered = []
    for voice in ("flite:slt", "flite:rms"):
        seconds = synthesize("seven", voice, tmp_path / f"{voice[6:]}.wav")
        rendered.append(assert_speech(tmp_path / f"{voice[6:]}.wav", seconds, shortest=0.3))
    assert rendered[0].shape != rendered[1].shape or not np.allclose(*rendered)
    slow = synthesize("seven", "flite:slt", tmp_path / "slow.wav", speed=100)
    assert slow > 1.3 * len(rendered[0]) / 16000  # speed maps to flite's duration stretch


@needs_flite
def test_unknown_flite_voice_is_data_error(tmp_path):
    # flite itself silently falls back to its default voice
    with pytest.raises(DataError, match="flite has no voice 'nosuch'"):
        synthesize("one", "flite:nosuch", tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


FESTIVAL_PACKAGES = {  # the Debian package that installs each voice
    "festival:kal_diphone": "festvox-kallpc16k",
    "festival:ked_diphone": "festvox-kdlpc16k",
    "festival:cmu_us_slt_arctic_hts": "festvox-us-slt-hts",
}


def festival_voices() -> set[str]:
    """The voices festival reports installed (``voice.list``); empty without festival."""
    if shutil.which("festival") is None:
        return set()
    done = subprocess.run(["festival", "-b", "(print (voice.list))"], capture_output=True, text=True)
    return set(done.stdout.strip().strip("()").split())


def skip_without_festival_voice(voice: str, installed: set[str]) -> None:
    """Skip, naming the Debian package, where festival runs but ``voice`` is not installed."""
    if voice.removeprefix("festival:") not in installed:
        pytest.skip(f"festival voice {voice!r} is not installed (apt-get install {FESTIVAL_PACKAGES[voice]})")


def test_missing_festival_voice_skip_names_its_package():
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install festvox-kdlpc16k\)"):
        skip_without_festival_voice("festival:ked_diphone", {"kal_diphone"})
    skip_without_festival_voice("festival:ked_diphone", {"kal_diphone", "ked_diphone"})  # installed: no skip
    assert set(FESTIVAL_PACKAGES) == set(FESTIVAL_VOICES)


@needs_festival
@pytest.mark.parametrize("voice", FESTIVAL_VOICES)
def test_festival_voices_speak(tmp_path, voice):
    skip_without_festival_voice(voice, festival_voices())
    assert_speech(tmp_path / "x.wav", synthesize("four", voice, tmp_path / "x.wav"))


@needs_festival
def test_unknown_festival_voice_is_data_error(tmp_path):
    # festival exits 0 and writes nothing for an unknown voice
    with pytest.raises(DataError, match="voice 'festival:nosuch'.*unbound variable"):
        synthesize("one", "festival:nosuch", tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


needs_pico = pytest.mark.skipif(not engine_available("pico"), reason="ttspico is not installed (pip install ttspico)")


def _median_f0(path) -> float:
    import librosa

    audio, rate = sf.read(path)
    f0, voiced, _ = librosa.pyin(audio, fmin=70, fmax=500, sr=rate)
    return float(np.median(f0[voiced]))


@needs_pico
@pytest.mark.parametrize("voice", PICO_VOICES)
def test_pico_voices_speak_at_the_asked_speed_and_pitch(tmp_path, voice):
    seconds = synthesize("seven", voice, tmp_path / "x.wav")
    assert_speech(tmp_path / "x.wav", seconds, shortest=0.3)
    slow = synthesize("seven", voice, tmp_path / "slow.wav", speed=100)
    assert slow > 1.3 * seconds  # speed maps to pico's rate
    synthesize("seven", voice, tmp_path / "low.wav", pitch=0)
    synthesize("seven", voice, tmp_path / "high.wav", pitch=99)
    assert _median_f0(tmp_path / "high.wav") > 1.6 * _median_f0(tmp_path / "low.wav")  # 149 % vs 70 %


@needs_pico
def test_unknown_pico_voice_is_data_error(tmp_path):
    with pytest.raises(DataError, match="pico has no voice 'xx-YY'"):
        synthesize("one", "pico:xx-YY", tmp_path / "x.wav")
    assert not (tmp_path / "x.wav").exists()


def test_missing_python_engine_is_one_line_data_error(tmp_path, monkeypatch):
    # a module that is truly absent stands in for an uninstalled ttspico
    monkeypatch.setitem(synth.ENGINES, "pico", ("ttspico_not_installed", "pip install ttspico"))
    with pytest.raises(DataError, match=r"^ttspico_not_installed not found as a Python module: .*pip install ttspico"):
        synthesize("one", "pico:en-US", tmp_path / "x.wav")
    assert not engine_available("pico") and not (tmp_path / "x.wav").exists()


def test_unknown_engine_is_data_error(tmp_path):
    with pytest.raises(DataError, match="unknown voice 'coqui:x'"):
        synthesize("one", "coqui:x", tmp_path / "x.wav")


@needs_flite
def test_digit_recordings_have_fsdd_layout_and_make_connected_digits(tmp_path):
    kwargs = dict(takes=6, tract_factors=(1.0, 1.17), seed=3)
    folder = make_digit_recordings(tmp_path / "a", ["flite:kal"], **kwargs)
    recordings = scan_recordings(folder)  # FSDD names: {digit}_{speaker}_{take}.wav
    assert len(recordings) == 10 * 6 * 2
    assert {speaker for _, speaker, _, _ in recordings} == {"flite-kal-t100", "flite-kal-t117"}
    for *_, path in recordings[:12]:
        audio, rate = sf.read(path)
        assert rate == 16000 and 0.2 < np.abs(audio).max() <= 0.9
    # the 1.17 factor shortens each clip by 1.17 (a shorter vocal tract, higher formants and pitch)
    plain, short = sf.read(folder / "3_flite-kal-t100_2.wav")[0], sf.read(folder / "3_flite-kal-t117_2.wav")[0]
    assert len(short) == pytest.approx(len(plain) / 1.17, abs=2)
    # deterministic, and a finished run is skipped
    again = make_digit_recordings(tmp_path / "b", ["flite:kal"], **kwargs)
    assert [p.read_bytes() for p in sorted(folder.iterdir())] == [p.read_bytes() for p in sorted(again.iterdir())]
    stamp = (folder / "0_flite-kal-t100_0.wav").stat().st_mtime_ns
    make_digit_recordings(tmp_path / "a", ["flite:kal"], **kwargs)
    assert (folder / "0_flite-kal-t100_0.wav").stat().st_mtime_ns == stamp
    result = prepare_fsdd(tmp_path / "a", tmp_path / "prep", test_speaker="none", connected_train=6,
                          connected_valid=0, connected_test=0, quiet=True)  # fmt: skip
    assert result["manifests"]["connected/train.jsonl"] == 6
    speakers = {u.speaker for u in read_manifest(tmp_path / "prep" / "connected" / "train.jsonl")}
    assert speakers <= {"flite-kal-t100", "flite-kal-t117"}


def test_accent_voices_exist_and_say_each_respelling_as_one_word():
    listing = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=True).stdout
    languages, variants = {line.split()[1] for line in listing.splitlines()[1:]}, installed_variants()
    espeak = [v for v in ACCENT_VOICES if ":" not in v]
    assert len(espeak) == len(set(espeak)) >= 20
    for voice in espeak:
        language, _, variant = voice.partition("+")
        assert language in languages, voice
        assert not variant or variant in variants, voice
    for language in {v.partition("+")[0] for v in espeak}:
        for word in digit_words(language):  # spelt out letter by letter, a word gets several stresses
            phonemes = subprocess.run(["espeak-ng", "-q", "-x", "-v", language, word], capture_output=True,
                                      text=True, check=True).stdout.strip()  # fmt: skip
            assert phonemes.count("'") == 1 and " " not in phonemes, (language, word, phonemes)
    assert subprocess.run(["espeak-ng", "-q", "-x", "-v", "fr-fr", digit_words("fr-fr")[5]], capture_output=True,
                          text=True).stdout.strip() == "f'ajv"  # fmt: skip  # "five" as [fajv]


def test_digit_words_are_english_or_the_voices_respelling():
    for voice in ("en-us+f3", "en", "flite:kal", "festival:cmu_us_slt_arctic_hts", "pico:en-GB"):
        assert digit_words(voice) == DIGIT_WORDS
    assert digit_words("fr-be+m5") == digit_words("pico:fr-FR") == ACCENT_RESPELLINGS["fr"]
    assert digit_words("de+f3")[3] == "trie" and digit_words("el")[0] == "ζίρο"
    assert all(len(words) == 10 for words in ACCENT_RESPELLINGS.values())
    with pytest.raises(DataError, match="no English digit respelling for voice 'ru'"):
        digit_words("ru")


def test_accented_recordings_say_the_respelled_words(tmp_path):
    import librosa

    folder = make_digit_recordings(tmp_path, ["fr-fr"], takes=1, tract_factors=(1.0,), speeds=(160,), pitches=(50,))
    recorded = sf.read(folder / "5_espeak-ng-fr-fr-t100_0.wav", dtype="float32")[0]
    spoken = {}
    for word in ("faillve", "five"):
        synthesize(word, "fr-fr", tmp_path / f"{word}.wav", speed=160, pitch=50)
        audio = librosa.effects.trim(sf.read(tmp_path / f"{word}.wav", dtype="float32")[0], top_db=40.0)[0]
        spoken[word] = audio / np.abs(audio).max()
    assert len(recorded) == len(spoken["faillve"]) != len(spoken["five"])
    np.testing.assert_allclose(recorded / np.abs(recorded).max(), spoken["faillve"], atol=2e-3)


def test_word_clips_have_the_speech_commands_layout_and_are_deterministic(tmp_path):
    kwargs = dict(tract_factors=(1.0, 1.12), label_of={"cat": "_unknown_"}, seed=5)
    clips = synth.make_word_clips(tmp_path / "a", ["yes", "cat"], ["en-us", "en+m3"], **kwargs)
    assert len(clips) == 2 * 2 * 2
    assert {u.label for u in clips} == {"yes", "_unknown_"}
    assert {u.speaker for u in clips} == {"espeak-ng-en-us-t100", "espeak-ng-en-us-t112", "espeak-ng-en-m3-t100",
                                          "espeak-ng-en-m3-t112"}  # fmt: skip
    for clip in clips:  # <word>/<speaker>_nohash_<take>.wav, one second, speech at a peak in [0.2, 0.9]
        path = tmp_path / "a" / f"{clip.id}.wav"
        assert clip.audio == str(path) and path.parent.name in ("yes", "cat")
        audio, rate = sf.read(path)
        assert rate == 16000 and len(audio) == 16000 and clip.duration == 1.0
        assert 0.2 <= np.abs(audio).max() <= 0.9
        assert np.abs(audio[:80]).max() < 0.01 or np.abs(audio[-80:]).max() < 0.01  # placed inside silence
    again = synth.make_word_clips(tmp_path / "b", ["yes", "cat"], ["en-us", "en+m3"], **kwargs)
    assert [(tmp_path / "a" / f"{u.id}.wav").read_bytes() for u in clips] == [
        (tmp_path / "b" / f"{u.id}.wav").read_bytes() for u in again
    ]
    stamp = (tmp_path / "a" / f"{clips[0].id}.wav").stat().st_mtime_ns  # a finished run is skipped
    assert synth.make_word_clips(tmp_path / "a", ["yes", "cat"], ["en-us", "en+m3"], **kwargs) == clips
    assert (tmp_path / "a" / f"{clips[0].id}.wav").stat().st_mtime_ns == stamp


def test_word_clips_refuse_nothing_to_say(tmp_path):
    with pytest.raises(DataError, match="need words, voices"):
        synth.make_word_clips(tmp_path, [], ["en-us"])
