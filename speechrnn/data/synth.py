"""Synthetic speech: single phrases, connected-digit corpora and FSDD-layout digit recordings.

Three command-line synthesisers (Debian packages) and one Python package give voices:

* espeak-ng (``apt-get install espeak-ng``): formant synthesis, many accents and variants; a voice
  is "<language>[+<variant>]", e.g. "en-us+f3" (names are case-sensitive and an unknown variant
  silently falls back to the default voice, so the test suite checks them);
* flite (``apt-get install flite``): "flite:<voice>" for its built-in voices kal, kal16, awb, rms,
  slt (CMU diphone and ARCTIC recordings of real speakers);
* festival (``apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts``):
  "festival:<voice>", e.g. "festival:ked_diphone";
* SVOX Pico through the ``ttspico`` Python package (``pip install ttspico``, Apache 2.0, voice
  data included): "pico:en-US" and "pico:en-GB", two female voices from statistical (HMM)
  synthesis, unlike the diphone and formant voices above.

``synthesize`` renders text with one voice to a 16-bit WAV at 16 kHz (resampled with soxr through
``speechrnn.audio.load_audio``). ``make_digit_corpus`` draws random digit strings ("four two
seven") and renders each with a random voice, speed and pitch, deterministically for a seed, and
writes a JSONL manifest. ``make_digit_recordings`` writes isolated digits in the FSDD file layout,
one synthetic "speaker" per voice and vocal-tract factor, so that ``prepare_fsdd`` joins them into
connected-digit utterances exactly as it does FSDD's recordings.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from speechrnn.atomic import atomic_write
from speechrnn.audio import SAMPLE_RATE, load_audio
from speechrnn.data.fsdd import DIGIT_WORDS
from speechrnn.data.manifest import Utterance, read_manifest, write_manifest
from speechrnn.errors import AudioError, DataError

# English accents (espeak-ng "languages"), alone and with female, male and klatt variants
ESPEAK_ACCENTS = (
    "en-us",
    "en",
    "en-gb-x-rp",
    "en-029",
    "en-gb-scotland",
    "en-us-nyc",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
)

ESPEAK_VOICES: tuple[str, ...] = (
    *ESPEAK_ACCENTS,
    "en-us+f1", "en-us+f2", "en-us+f3", "en-us+f4", "en-us+f5",
    "en+f2", "en+f3", "en+f4",
    "en-gb-x-rp+f1", "en-gb-scotland+f2", "en-029+f3", "en-us-nyc+f4", "en-gb-x-gbclan+f5",
    "en-us+Annie", "en+Alicia", "en-gb-x-rp+Andrea", "en-us+belinda", "en+linda", "en-us+steph", "en+anika",
    "en+m1", "en+m2", "en+m3", "en+m4", "en+m5", "en+m6", "en+m7",
    "en-us+m1", "en-us+m3", "en-us+m8", "en-gb-x-rp+m2", "en-gb-scotland+m4", "en-029+m5", "en-us-nyc+m6",
    "en+klatt", "en-us+klatt2", "en+klatt3", "en-us+Andy", "en-gb-x-rp+david", "en+max",
)  # fmt: skip
DEFAULT_SPEEDS = (125, 140, 155, 170, 185, 200)  # words per minute
DEFAULT_PITCHES = (20, 35, 50, 65, 80)  # espeak-ng pitch, 0-99


# Accented English: "zero".."nine" respelled in another language's spelling, roughly as its native
# speakers say the English words, so that its voice speaks English with that accent (checked with
# ``espeak-ng -x -v <language> <word>``, e.g. German "trie" -> tr'i:, French "faillve" -> f'ajv).
ACCENT_RESPELLINGS: dict[str, tuple[str, ...]] = {
    "fr": ("ziro", "ouane", "tou", "tri", "for", "faillve", "sikse", "sévène", "eïte", "naillne"),
    "de": ("siro", "wann", "tuh", "trie", "foa", "feif", "sicks", "sewwen", "äjt", "nein"),
    "el": ("ζίρο", "ουάν", "του", "θρι", "φορ", "φάιβ", "σιξ", "σέβεν", "έιτ", "νάιν"),
    "es": ("síro", "uán", "tú", "trí", "fór", "fáif", "síks", "séven", "éit", "náin"),
    "it": ("ziro", "uan", "tu", "tri", "for", "faiv", "siks", "seven", "eit", "nain"),
    "pt": ("zíro", "uân", "tu", "tri", "fór", "fáiv", "síks", "séven", "êit", "náin"),
    "nl": ("sieroo", "wan", "toe", "srie", "foor", "faajf", "siks", "seven", "eet", "naajn"),
}
ACCENT_VOICES: tuple[str, ...] = (
    "fr-fr", "fr-fr+m3", "fr-fr+f2", "fr-be", "fr-be+m5", "fr-be+f4",
    "de", "de+m2", "de+f3", "el", "el+m4", "el+f1", "es", "es+m6", "es+f5",
    "it", "it+m1", "it+f2", "pt", "pt+m7", "pt+f3", "nl", "nl+m3", "nl+f4",
    "pico:fr-FR", "pico:de-DE", "pico:es-ES", "pico:it-IT",
)  # fmt: skip
FLITE_VOICES = ("flite:kal", "flite:kal16", "flite:awb", "flite:rms", "flite:slt")
FESTIVAL_VOICES = ("festival:kal_diphone", "festival:ked_diphone", "festival:cmu_us_slt_arctic_hts")
PICO_VOICES = ("pico:en-US", "pico:en-GB")
ENGINES = {  # engine -> (program, how to install it)
    "espeak-ng": ("espeak-ng", "apt-get install espeak-ng"),
    "flite": ("flite", "apt-get install flite"),
    "festival": ("text2wave", "apt-get install festival"),
    "pico": ("ttspico", "pip install ttspico"),  # a Python module, not a program
}
PYTHON_ENGINES = frozenset({"pico"})
REFERENCE_SPEED = 170  # words per minute that flite and festival speak at a duration stretch of 1
PICO_LANGUAGES = ("en-US", "en-GB", "de-DE", "es-ES", "fr-FR", "it-IT")  # the voices ttspico ships
PICO_RATE = 16000  # Hz: Pico's PCM output


def split_voice(voice: str) -> tuple[str, str]:
    """Split "flite:rms" into ("flite", "rms"); a name without an engine prefix is an espeak-ng voice."""
    engine, separator, name = voice.partition(":")
    if not separator:
        return "espeak-ng", voice
    if engine not in ENGINES or not name:
        raise DataError(
            f"unknown voice {voice!r}: expected an espeak-ng voice, flite:<voice>, festival:<voice> or pico:<voice>"
        )
    return engine, name


def digit_words(voice: str) -> tuple[str, ...]:
    """The ten digit words as ``voice`` should be given them: English voices (flite, festival and
    espeak-ng or pico "en*") the English words, other languages their ``ACCENT_RESPELLINGS``
    (accented English); DataError for a language without a respelling."""
    engine, name = split_voice(voice)
    language = name.partition("+")[0].lower()  # espeak-ng and pico voices are named by language
    if engine in ("flite", "festival") or language == "en" or language.startswith("en-"):
        return DIGIT_WORDS
    respelled = ACCENT_RESPELLINGS.get(language.partition("-")[0])
    if respelled is None:
        raise DataError(f"no English digit respelling for voice {voice!r} (languages: {', '.join(ACCENT_RESPELLINGS)})")
    return respelled


def engine_available(engine: str) -> bool:
    """Whether the synthesiser of ``engine`` is installed (its program on PATH, or its Python module)."""
    program = ENGINES[engine][0]
    if engine in PYTHON_ENGINES:
        return importlib.util.find_spec(program) is not None
    return shutil.which(program) is not None


def engine_binary(engine: str = "espeak-ng") -> str:
    """Path of the synthesiser program of ``engine`` (a Python engine: its module name); DataError if missing."""
    program, install = ENGINES[engine]
    if not engine_available(engine):
        where = "as a Python module" if engine in PYTHON_ENGINES else "on PATH"
        raise DataError(f"{program} not found {where}: install it ({install}) to synthesise speech")
    return program if engine in PYTHON_ENGINES else shutil.which(program)


def check_engines(voices: Sequence[str]) -> None:
    """DataError naming the first synthesiser that ``voices`` need and PATH lacks (or a bad voice name)."""
    for engine in sorted({split_voice(voice)[0] for voice in voices}):
        engine_binary(engine)


def flite_voices() -> tuple[str, ...]:
    """The voices the installed flite knows (``flite -lv``); flite falls back silently on others."""
    return _flite_voices(engine_binary("flite"))


@functools.lru_cache(maxsize=4)
def _flite_voices(binary: str) -> tuple[str, ...]:  # asked once per program, not once per clip
    listing = subprocess.run([binary, "-lv"], capture_output=True, text=True, timeout=60).stdout
    return tuple(listing.partition(":")[2].split())


@functools.lru_cache(maxsize=len(PICO_LANGUAGES))
def _pico_engine(language: str):
    """One ttspico engine per language (loading its voice data takes a while)."""
    import ttspico

    if language not in PICO_LANGUAGES:
        raise DataError(f"pico has no voice {language!r} (it has: {', '.join(PICO_LANGUAGES)})")
    # ttspico installs its voice data under the installing Python's prefix and looks under sys.prefix,
    # which a virtual environment over that Python (--system-site-packages) does not share
    base = os.path.join(sys.base_prefix, "languages")
    try:
        return ttspico.TtsEngine(language, lang_dir=base if os.path.isdir(base) else None)
    except RuntimeError as error:
        raise DataError(f"pico could not load voice {language!r}: {error}") from None


def _pico_render(language: str, text: str, raw: Path, speed: int, pitch: int) -> None:
    """Render ``text`` with a Pico voice to the 16 kHz WAV ``raw``.

    Pico's rate and pitch are percentages of the voice's own (rate 20-500, pitch 50-200): speed
    maps to a rate of 100 * speed / 170 and espeak-ng's 0-99 pitch to 70-149 %.
    """
    engine = _pico_engine(language)
    engine.rate = round(100 * speed / REFERENCE_SPEED)
    engine.pitch = round(70 + 0.8 * pitch)
    pcm = engine.speak(text) or b""
    sf.write(raw, np.frombuffer(pcm, dtype=np.int16), PICO_RATE, format="WAV", subtype="PCM_16")


def _synthesis_command(voice: str, text: str, raw: Path, speed: int, pitch: int, word_gap: int):
    """(argv, stdin) that renders ``text`` with ``voice`` to the WAV ``raw``."""
    engine, name = split_voice(voice)
    binary = engine_binary(engine)
    stretch = f"{REFERENCE_SPEED / speed:.3f}"
    if engine == "espeak-ng":
        return [binary, "-v", name, "-s", str(speed), "-p", str(pitch), "-g", str(word_gap), "-w", str(raw), text], None
    if engine == "flite":
        known = flite_voices()
        if name not in known:
            raise DataError(f"flite has no voice {name!r} (it has: {', '.join(known)})")
        f0 = 60 + 1.4 * pitch  # Hz: pitch 50 -> 130 Hz, the range of espeak-ng's 0-99 scale
        return [binary, "-voice", name, "--setf", f"duration_stretch={stretch}", "--setf",
                f"int_f0_target_mean={f0:.0f}", "-t", text, "-o", str(raw)], None  # fmt: skip
    # festival keeps its voices' own pitch; speed through Duration_Stretch
    return [binary, "-eval", f"(voice_{name})", "-eval", f"(Parameter.set 'Duration_Stretch {stretch})",
            "-o", str(raw)], text  # fmt: skip


def _run_synthesiser(voice: str, text: str, raw: Path, speed: int, pitch: int, word_gap: int) -> None:
    """Run the command-line synthesiser of ``voice``; DataError with its first error line if it fails."""
    command, stdin = _synthesis_command(voice, text, raw, speed, pitch, word_gap)
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise DataError(f"synthesis failed for voice {voice!r}: {error}") from None
    reason = [line for line in (done.stderr or done.stdout).strip().splitlines() if "ERROR" in line.upper()]
    if done.returncode != 0 or not raw.exists():  # festival exits 0 on an unknown voice, writing nothing
        reason = reason or (done.stderr or done.stdout).strip().splitlines()
        detail = reason[0] if reason else f"exit {done.returncode}, no audio written"
        raise DataError(f"synthesis failed for voice {voice!r}: {detail}")


def synthesize(
    text: str,
    voice: str,
    path: str | os.PathLike,
    *,
    speed: int = 160,
    pitch: int = 50,
    word_gap: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> float:
    """Render ``text`` with ``voice`` to a mono 16-bit WAV at ``sample_rate``; returns seconds.

    Args:
        text: what to say (a comma gives a short pause).
        voice: "en-us+f3" (espeak-ng), "flite:rms", "festival:ked_diphone" or "pico:en-GB".
        path: the WAV to write (atomically; folders are created).
        speed: words per minute (espeak-ng ``-s``, 80-450; flite and festival: a duration stretch
            of 170 / speed; pico: a rate of 100 * speed / 170 %).
        pitch: 0-99 (espeak-ng ``-p``; flite: a mean F0 of 60 + 1.4 * pitch Hz; pico: 70 + 0.8 * pitch
            % of the voice's own; festival: ignored).
        word_gap: extra pause between words in units of 10 ms (espeak-ng only).

    Raises:
        DataError: the synthesiser missing, failing (e.g. unknown voice) or producing no audio.
    """
    if not text.strip():
        raise DataError("synthesize: text is empty")
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="speechrnn-tts-") as folder:
        raw = Path(folder) / "tts.wav"
        engine, name = split_voice(voice)
        if engine in PYTHON_ENGINES:
            check_engines([voice])
            _pico_render(name, text, raw, speed, pitch)
        else:
            _run_synthesiser(voice, text, raw, speed, pitch, word_gap)
        try:
            audio = load_audio(raw, sample_rate)
        except AudioError as error:
            raise DataError(f"{voice!r} produced no usable audio ({error})") from None
    with atomic_write(path) as f:
        sf.write(f, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return len(audio) / sample_rate


def _digit_phrase(rng: random.Random, count: int) -> tuple[str, str]:
    """(text, spoken): "four two seven" and the same with an occasional comma pause for espeak-ng."""
    words = [rng.choice(DIGIT_WORDS) for _ in range(count)]
    spoken = words[0]
    for word in words[1:]:
        spoken += ("," if rng.random() < 0.15 else "") + " " + word
    return " ".join(words), spoken


def make_digit_corpus(
    output_dir: str | os.PathLike,
    count: int,
    *,
    voices: Sequence[str] = ESPEAK_VOICES,
    seed: int = 0,
    min_digits: int = 1,
    max_digits: int = 7,
    speeds: Sequence[int] = DEFAULT_SPEEDS,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    split_name: str = "train",
    isolated: int = 0,
    quiet: bool = True,
) -> list[Utterance]:
    """Synthesise ``count`` connected-digit utterances (+ ``isolated`` single digits) and a manifest.

    Each utterance draws a length in [min_digits, max_digits], digits, a voice from ``voices``,
    a speed from ``speeds`` and a pitch from ``pitches`` with ``random.Random(seed)``, so the
    same arguments give the same corpus. Isolated digits cycle through zero..nine and carry a
    ``label`` as well as ``text``. A completion marker skips a finished split with the same arguments.

    Writes ``<output_dir>/<split_name>/<split_name>_<index>.wav`` and the manifest
    ``<output_dir>/<split_name>.jsonl`` (audio paths relative to it).

    Returns:
        The utterances, with absolute audio paths (as ``read_manifest`` would give them).
    """
    if not voices:
        raise DataError("make_digit_corpus: no voices given")
    if not 1 <= min_digits <= max_digits:
        raise DataError(f"make_digit_corpus: need 1 <= min_digits <= max_digits, got {min_digits}, {max_digits}")
    if count < 0 or isolated < 0:
        raise DataError("make_digit_corpus: count and isolated must be >= 0")
    from speechrnn.data.download import mark_done, read_marker

    output_dir = Path(output_dir)
    info = {"count": count, "voices": list(voices), "seed": seed, "min_digits": min_digits, "max_digits": max_digits,
            "speeds": list(speeds), "pitches": list(pitches), "isolated": isolated}  # fmt: skip
    if read_marker(output_dir, f"corpus-{split_name}") == info:
        return read_manifest(output_dir / f"{split_name}.jsonl")
    check_engines(voices)
    rng = random.Random(seed)
    plans = []
    for index in range(count + isolated):
        if index < count:
            text, spoken = _digit_phrase(rng, rng.randint(min_digits, max_digits))
            label = text if " " not in text else None
        else:
            text = spoken = label = DIGIT_WORDS[(index - count) % len(DIGIT_WORDS)]
        plans.append(
            (index, text, spoken, label, rng.choice(list(voices)), rng.choice(list(speeds)), rng.choice(list(pitches)))
        )

    progress = plans
    if not quiet:
        from tqdm import tqdm

        progress = tqdm(plans, desc=f"synthesising {split_name}", unit="utt")
    relative, utterances = [], []
    for index, text, spoken, label, voice, speed, pitch in progress:
        name = f"{split_name}/{split_name}_{index:06d}.wav"
        duration = synthesize(spoken, voice, output_dir / name, speed=speed, pitch=pitch)
        common = dict(
            duration=round(duration, 4), speaker=voice if ":" in voice else f"espeak:{voice}", label=label, text=text
        )
        utt_id = f"{split_name}_{index:06d}"
        relative.append(Utterance(audio=name, id=utt_id, **common))
        utterances.append(Utterance(audio=str((output_dir / name).resolve()), id=utt_id, **common))
    write_manifest(output_dir / f"{split_name}.jsonl", relative)
    mark_done(output_dir, f"corpus-{split_name}", info)
    return utterances


TRACT_FACTORS = (0.86, 0.93, 1.0, 1.08, 1.17)  # vocal-tract scalings (about the male-female range)


def _speaker_name(voice: str, factor: float) -> str:
    """Speaker name of a voice and tract factor, e.g. "flite-kal16-t108" (FSDD file names allow it)."""
    engine, name = split_voice(voice)
    safe = "".join(c if c.isalnum() else "-" for c in f"{engine}-{name}").strip("-")
    return f"{safe}-t{round(factor * 100):03d}"


def make_digit_recordings(
    output_dir: str | os.PathLike,
    voices: Sequence[str],
    *,
    takes: int = 12,
    tract_factors: Sequence[float] = TRACT_FACTORS,
    speeds: Sequence[int] = DEFAULT_SPEEDS,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    top_db: float = 40.0,
    seed: int = 0,
    quiet: bool = True,
) -> Path:
    """Isolated digits in the FSDD layout: ``<output_dir>/recordings/{digit}_{speaker}_{take}.wav``.

    Each (voice, digit, take) is rendered once with a random speed and pitch (a voice of another
    language says ``digit_words(voice)``: accented English), trimmed to the speech like FSDD's
    clips (``librosa.effects.trim(top_db)``), and written once per factor in ``tract_factors``:
    resampled by the factor (1.17 raises formants and pitch by 17 % and shortens the clip, as a
    shorter vocal tract would) and scaled to a random peak level. Each (voice, factor)
    is one speaker, named like "flite-rms-t108", so ``prepare_fsdd(output_dir, ...)`` builds
    connected digits from these recordings as it does from FSDD's. Deterministic for ``seed``; a
    completion marker skips a finished run with the same parameters.

    Returns:
        ``<output_dir>/recordings``.

    Raises:
        DataError: no voices, ``takes`` < 1, a factor <= 0, or a synthesiser missing or failing.
    """
    import librosa
    import soxr

    from speechrnn.data.download import mark_done, read_marker

    if not voices or takes < 1 or not tract_factors or min(tract_factors) <= 0:
        raise DataError("make_digit_recordings: need voices, takes >= 1 and tract factors > 0")
    output_dir = Path(output_dir)
    folder = output_dir / "recordings"
    info = {"voices": list(voices), "takes": takes, "tract_factors": list(tract_factors), "speeds": list(speeds),
            "pitches": list(pitches), "top_db": top_db, "seed": seed}  # fmt: skip
    if read_marker(output_dir, "recordings") == info:
        return folder
    check_engines(voices)
    words = {voice: digit_words(voice) for voice in voices}
    if folder.exists():
        shutil.rmtree(folder)  # an unfinished or differently parameterised run
    rng = random.Random(seed)
    plans = [(voice, digit, take) for voice in voices for digit in range(len(DIGIT_WORDS)) for take in range(takes)]
    if not quiet:
        from tqdm import tqdm

        plans = tqdm(plans, desc="synthesising digit recordings", unit="clip")
    with tempfile.TemporaryDirectory(prefix="speechrnn-tts-") as scratch:
        for voice, digit, take in plans:
            raw = Path(scratch) / "digit.wav"
            synthesize(words[voice][digit], voice, raw, speed=rng.choice(list(speeds)), pitch=rng.choice(list(pitches)))
            audio, _ = librosa.effects.trim(load_audio(raw, SAMPLE_RATE), top_db=top_db)
            for factor in tract_factors:
                clip = audio if factor == 1.0 else soxr.resample(audio, SAMPLE_RATE, SAMPLE_RATE / factor)
                clip = clip / (np.abs(clip).max() + 1e-9) * rng.uniform(0.2, 0.9)
                name = f"{digit}_{_speaker_name(voice, factor)}_{take}.wav"
                with atomic_write(folder / name) as f:
                    sf.write(f, clip.astype(np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
    mark_done(output_dir, "recordings", info)
    return folder


def make_word_clips(
    output_dir: str | os.PathLike,
    words: Sequence[str],
    voices: Sequence[str],
    *,
    takes: int = 1,
    tract_factors: Sequence[float] = TRACT_FACTORS,
    speeds: Sequence[int] = DEFAULT_SPEEDS,
    pitches: Sequence[int] = DEFAULT_PITCHES,
    clip_seconds: float = 1.0,
    label_of: dict[str, str] | None = None,
    top_db: float = 40.0,
    seed: int = 0,
    quiet: bool = True,
) -> list[Utterance]:
    """Single words in the Speech Commands layout: ``<output_dir>/<word>/<speaker>_nohash_<take>.wav``.

    Each (word, voice, take) is rendered once with a random speed and pitch, trimmed to the speech
    (``librosa.effects.trim(top_db)``), and written once per factor in ``tract_factors`` (resampled
    by the factor, as ``make_digit_recordings`` does: a shorter or longer vocal tract) at a random
    peak level, placed at a random offset inside ``clip_seconds`` of silence as Speech Commands'
    one-second clips are (a word longer than the clip keeps its length). A (voice, factor) is one
    speaker, e.g. "flite-rms-t108". Deterministic for ``seed``; a completion marker skips a finished
    run with the same parameters.

    Args:
        label_of: word -> manifest label (default: the word itself), e.g. non-commands -> "_unknown_".

    Returns:
        One Utterance per clip (label, speaker, id "<word>/<speaker>_nohash_<take>").

    Raises:
        DataError: no words or voices, ``takes`` < 1, a factor <= 0, or a synthesiser missing or failing.
    """
    import librosa
    import soxr

    from speechrnn.data.download import mark_done, read_marker

    if not words or not voices or takes < 1 or not tract_factors or min(tract_factors) <= 0:
        raise DataError("make_word_clips: need words, voices, takes >= 1 and tract factors > 0")
    output_dir = Path(output_dir)
    label_of = label_of or {}
    info = {"words": list(words), "voices": list(voices), "takes": takes, "tract_factors": list(tract_factors),
            "speeds": list(speeds), "pitches": list(pitches), "clip_seconds": clip_seconds, "top_db": top_db,
            "seed": seed}  # fmt: skip
    plans = [(word, voice, take) for word in words for voice in voices for take in range(takes)]
    rng = random.Random(seed)
    draws = [(rng.choice(list(speeds)), rng.choice(list(pitches))) for _ in plans]
    placements = [[(rng.random(), rng.uniform(0.2, 0.9)) for _ in tract_factors] for _ in plans]
    utterances = []
    done = read_marker(output_dir, "word_clips") == info
    if not done:
        check_engines(voices)
    iterator = zip(plans, draws, placements)
    if not quiet and not done:
        from tqdm import tqdm

        iterator = tqdm(iterator, total=len(plans), desc="synthesising words", unit="word")
    length = round(clip_seconds * SAMPLE_RATE)
    with tempfile.TemporaryDirectory(prefix="speechrnn-tts-") as scratch:
        for (word, voice, take), (speed, pitch), places in iterator:
            audio = None
            if not done:
                raw = Path(scratch) / "word.wav"
                synthesize(word, voice, raw, speed=speed, pitch=pitch)
                audio, _ = librosa.effects.trim(load_audio(raw, SAMPLE_RATE), top_db=top_db)
            for factor, (where, peak) in zip(tract_factors, places):
                speaker = _speaker_name(voice, factor)
                name = f"{word}/{speaker}_nohash_{take}"
                path = output_dir / f"{name}.wav"
                if audio is not None:
                    clip = audio if factor == 1.0 else soxr.resample(audio, SAMPLE_RATE, SAMPLE_RATE / factor)
                    clip = clip / (np.abs(clip).max() + 1e-9) * peak
                    if len(clip) < length:
                        start = int(where * (length - len(clip)))
                        clip = np.pad(clip, (start, length - len(clip) - start))
                    with atomic_write(path) as f:
                        sf.write(f, clip.astype(np.float32), SAMPLE_RATE, format="WAV", subtype="PCM_16")
                    duration = len(clip) / SAMPLE_RATE
                else:
                    duration = sf.info(str(path)).duration
                label = label_of.get(word, word)
                utterances.append(Utterance(audio=str(path), duration=duration, speaker=speaker, label=label, id=name))
    if not done:
        mark_done(output_dir, "word_clips", info)
    return utterances
