"""Issue 18: nothing lost and one clear line for every bad input (one test per numbered case).

Real parts throughout: files on disk, a loopback HTTP server, subprocesses of ``python -m speechrnn``
receiving real signals. A read-only folder is a path whose parent is a regular FILE (the tests run as
root, where chmod does not stop writes); a full disk is ``RLIMIT_FSIZE`` set in the child process
(writes past it fail with EFBIG, "File too large"; Python ignores SIGXFSZ).
"""

from __future__ import annotations

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.audio import load_audio
from speechrnn.config import load_config
from speechrnn.data import speech_commands as sc
from speechrnn.data.download import extract_archive, is_done
from speechrnn.data.manifest import Utterance, read_manifest, write_manifest
from speechrnn.errors import AudioError, ConfigError, DataError, ModelError
from speechrnn.model import BUNDLED_MODEL, ModelConfig, SpeechRNN, load_model, save_checkpoint
from speechrnn.stream import StreamingRecognizer
from speechrnn.train import train

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "speechrnn" / "assets" / "example_digits.wav"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
RATE = 16000


def speechrnn(*args, limit_bytes: int | None = None, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    """``python -m speechrnn ARGS`` in a subprocess; ``limit_bytes``: RLIMIT_FSIZE there (a full disk)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "speechrnn", *map(str, args)], capture_output=True, text=True, env=env,
        timeout=timeout, preexec_fn=limit if limit_bytes is not None else None, **popen,
    )  # fmt: skip


def assert_one_line_error(result: subprocess.CompletedProcess, command: str, *fragments: str) -> str:
    """Exit 1, no traceback, exactly one ``speechrnn COMMAND: error: ...`` line holding ``fragments``."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"speechrnn {command}: error: ")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def tone(freq: float, seconds: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    """Train and valid manifests of three tone 'words' (a tiny classification task)."""
    root = tmp_path_factory.mktemp("tones")
    rng = np.random.default_rng(0)
    utterances = []
    for i in range(18):
        name, freq = [("low", 300.0), ("mid", 900.0), ("high", 2000.0)][i % 3]
        path = root / f"c{i}.wav"
        sf.write(path, tone(freq, 0.3, rng), RATE)
        utterances.append(Utterance(audio=str(path), duration=0.3, speaker="s", label=name))
    write_manifest(root / "train.jsonl", utterances[:15])
    write_manifest(root / "valid.jsonl", utterances[15:])
    return root


def tiny_overrides(root: Path, out_dir: Path, *extra: str) -> list[str]:
    return [
        "model.head=classify", "model.hidden_size=8", "model.num_layers=1", "model.n_mels=20",
        "model.dropout=0.0", f"data.train={root / 'train.jsonl'}", f"data.valid={root / 'valid.jsonl'}",
        "data.max_seconds=1.0", "data.num_workers=0", "optim.warmup_steps=1", f"train.out_dir={out_dir}",
        "train.epochs=1", "train.threads=1", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random CTC digits model checkpoint (fast to load and run)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "ctc.pt"
    save_checkpoint(path, SpeechRNN(ModelConfig(labels=DIGITS, hidden_size=16, num_layers=1, dropout=0.0)))
    return path


def wav_claiming_rate(path: Path, rate: int, samples: int = 4000) -> Path:
    """A 16-bit WAV of ``samples`` samples whose header says ``rate`` Hz."""
    sf.write(path, np.zeros(samples, dtype=np.float32), rate, subtype="PCM_16")
    assert sf.info(str(path)).samplerate == rate
    return path


# --------------------------------------------------------------------------- 1. train over a run
@pytest.mark.slow
def test_case01_train_into_an_existing_run_refuses_and_keeps_its_checkpoints(tones, tmp_path):
    out = tmp_path / "run"
    train(load_config(None, tiny_overrides(tones, out)), quiet=True)
    before = {name: (out / name).read_bytes() for name in ("best.pt", "last.pt", "log.csv")}
    # the new run would fail later (a missing audio file): nothing of the old run may be gone by then
    bad = tmp_path / "bad.jsonl"
    write_manifest(bad, [Utterance(audio=str(tmp_path / "missing.wav"), duration=0.3, label="low")] * 3)
    with pytest.raises(ConfigError) as info:
        train(load_config(None, tiny_overrides(tones, out, f"data.train={bad}")), quiet=True)
    message = str(info.value)
    assert str(out) in message and "--resume" in message and "train.out_dir" in message and "\n" not in message
    assert {name: (out / name).read_bytes() for name in before} == before


# --------------------------------------------------------------------------- 2. absurd header rates
@pytest.mark.slow
@pytest.mark.parametrize("rate", [1, 100])
def test_case02_a_wav_claiming_a_tiny_rate_is_one_line_and_the_batch_goes_on(tiny_model, tmp_path, rate):
    bad = wav_claiming_rate(tmp_path / "bad.wav", rate)
    started = time.monotonic()
    with pytest.raises(AudioError, match=f"{bad}: sample rate {rate} Hz is outside"):
        load_audio(bad)
    assert time.monotonic() - started < 1.0  # refused before resampling (was 30 s and 2.4 GB at 1 Hz)
    if rate != 1:
        return
    result = speechrnn("transcribe", bad, EXAMPLE, "--model", tiny_model)
    line = assert_one_line_error(result, "transcribe", str(bad), "sample rate")
    assert "MemoryError" not in line
    assert result.stdout.startswith(f"{EXAMPLE}\t")  # the next file was transcribed


def test_case02_length_bound_is_checked_before_resampling(monkeypatch):
    from speechrnn import audio_io as audio  # the loader and its bounds

    monkeypatch.setattr(audio, "MAX_SECONDS", 1)
    with pytest.raises(AudioError, match="long.wav: 2 s of audio is more than the 1 s loaded at once"):
        audio.resample(np.zeros(16_001, dtype=np.float32), 8000, 16000, "long.wav")


# --------------------------------------------------------------------------- 4. failed download
@pytest.mark.slow
def test_case04_an_html_page_served_with_200_is_not_a_finished_download(http_server, tmp_path):
    from helpers import tar_gz
    from test_speech_commands import speech_commands_members

    archive = tar_gz(speech_commands_members())
    page = b"<!DOCTYPE html><html><body>Rate limit exceeded, try later</body></html>\n"
    url = http_server.add("/speech_commands_v0.02.tar.gz", page)
    with pytest.raises(DataError, match="not a tar archive \\(an HTML page\\)") as info:
        sc.prepare(tmp_path, url=url, quiet=True)
    assert url in str(info.value)
    assert not is_done(tmp_path, "download")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # neither the page nor a .part is kept
    http_server.files["/speech_commands_v0.02.tar.gz"] = archive  # the server is fixed: a re-run works
    manifests = sc.prepare(tmp_path, url=url, quiet=True)
    assert is_done(tmp_path, "task12") and (manifests / "sc12_train.jsonl").is_file()


def test_case04_a_kept_page_from_an_older_run_is_fetched_again(http_server, tmp_path):
    from helpers import tar_gz

    from speechrnn.data.download import check_archive, download_file

    archive = tar_gz({"a.txt": b"a"})
    url = http_server.add("/x.tar.gz", archive)
    (tmp_path / "x.tar.gz").write_bytes(b"<html>error</html>")
    download_file(url, tmp_path / "x.tar.gz", quiet=True, check=check_archive)
    assert (tmp_path / "x.tar.gz").read_bytes() == archive


# --------------------------------------------------------------------------- 6. channels-first arrays
def test_case06_channels_first_arrays_give_the_mono_result():
    model = load_model()
    audio, rate = sf.read(EXAMPLE, dtype="float32")
    expected = model.transcribe(audio, sample_rate=rate).text
    assert expected
    layouts = {
        "(1, n) tensor": torch.from_numpy(audio)[None],
        "(2, n) array": np.stack([audio, audio]),
        "(n, 2) array": np.stack([audio, audio], axis=1),
    }
    assert len(audio) % 1600 > 2  # no last chunk with fewer samples than channels (that reads as channels-last)
    for name, samples in layouts.items():
        assert model.transcribe(samples, sample_rate=rate).text == expected, name
        recognizer = StreamingRecognizer(model)
        if samples.shape[0] < samples.shape[1]:  # channels-first chunks
            chunks = [samples[:, i : i + 1600] for i in range(0, samples.shape[1], 1600)]
        else:
            chunks = [samples[i : i + 1600] for i in range(0, samples.shape[0], 1600)]
        for chunk in chunks:
            recognizer.accept_waveform(chunk, rate)
        assert recognizer.finalize().text == expected, name


# --------------------------------------------------------------------------- 8. config types and ranges
@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=2.5", "train.epochs must be int, got 2.5"),
        ("train.out_dir=5", "train.out_dir must be str, got 5"),
        ("model.hidden_size=abc", "model.hidden_size must be int, got 'abc'"),
        ("model.hidden_size=0", "model.hidden_size must be > 0, got 0"),
        ("optim.lr=nan", "optim.lr must be finite"),
        ("optim.lr=-1.0", "optim.lr must be >= 0, got -1.0"),
        ("model.dropout=1.5", "model.dropout must be in [0, 1), got 1.5"),
        ("augment.noise_prob=2", "augment.noise_prob must be in [0, 1], got 2.0"),
        ("model.labels=[1, 2]", "model.labels must be list[str]"),
    ],
)
def test_case08_config_values_of_the_wrong_type_or_range_are_one_line(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.slow
def test_case08_model_section_of_a_toml_file_is_type_checked_and_no_run_files_are_left(tones, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[model]\nhidden_size = "big"\n')
    with pytest.raises(ConfigError, match="model.hidden_size must be int, got 'big'"):
        load_config(config)
    out = tmp_path / "run"
    result = speechrnn("train", config, "--set", f"train.out_dir={out}")
    assert_one_line_error(result, "train", "model.hidden_size must be int, got 'big'")
    config.write_text("")
    result = speechrnn("train", config, "--set", f"train.out_dir={out}", "--set", "train.epochs=2.5")
    assert_one_line_error(result, "train", "train.epochs must be int, got 2.5")
    assert not out.exists()


# --------------------------------------------------------------------------- 9. non-UTF-8 manifests
@pytest.mark.slow
def test_case09_a_manifest_that_is_not_utf8_names_file_and_line(tones, tmp_path, tiny_model):
    manifest = tmp_path / "latin1.jsonl"
    good = (tones / "valid.jsonl").read_bytes().splitlines()[0]
    manifest.write_bytes(good + b"\n" + '{"audio": "café.wav", "duration": 1, "label": "low"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=f"{manifest}:2: not UTF-8 text \\(byte 0xe9"):
        read_manifest(manifest)
    result = speechrnn("evaluate", "--model", tiny_model, "--manifest", manifest, "--quiet")
    assert_one_line_error(result, "evaluate", f"{manifest}:2: not UTF-8")
    config = tmp_path / "empty.toml"
    config.write_text("")
    overrides = tiny_overrides(tones, tmp_path / "run", f"data.train={manifest}")
    result = speechrnn("train", config, *[a for o in overrides for a in ("--set", o)])
    assert_one_line_error(result, "train", f"{manifest}:2: not UTF-8")


# --------------------------------------------------------------------------- 11. damaged checkpoints
@pytest.mark.slow
def test_case11_nan_weights_and_a_flipped_byte_are_refused_at_load(tmp_path, tiny_model):
    checkpoint = torch.load(BUNDLED_MODEL, weights_only=True)
    state = dict(checkpoint["state_dict"])
    key = "encoder.layers.0.forward_gru.weight_hh_l0"
    state[key] = torch.full_like(state[key], float("nan"))
    torch.save({**checkpoint, "state_dict": state}, tmp_path / "nan.pt")
    with pytest.raises(ModelError, match=f"weight '{key}' holds NaN or infinite values"):
        load_model(tmp_path / "nan.pt")
    result = speechrnn("transcribe", EXAMPLE, "--model", tmp_path / "nan.pt")
    assert_one_line_error(result, "transcribe", "nan.pt", "NaN")
    assert result.stdout == ""

    # one flipped byte inside the largest tensor's data: torch.load does not notice it
    import zipfile

    data = bytearray(BUNDLED_MODEL.read_bytes())
    with zipfile.ZipFile(BUNDLED_MODEL) as archive:
        member = max(archive.infolist(), key=lambda info: info.file_size)
    name_length, extra_length = int.from_bytes(data[member.header_offset + 26 : member.header_offset + 28], "little"), \
        int.from_bytes(data[member.header_offset + 28 : member.header_offset + 30], "little")  # fmt: skip
    data[member.header_offset + 30 + name_length + extra_length + 1000] ^= 0x10
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(data))
    torch.load(flipped, weights_only=True)  # loads silently: the reason for the check
    with pytest.raises(ModelError, match=f"{flipped}: damaged checkpoint \\(checksum mismatch in {member.filename}\\)"):
        load_model(flipped)


# --------------------------------------------------------------------------- 12. argument checks
def test_case12_one_argument_check_for_transcribe_and_streaming():
    model = load_model()
    audio = np.zeros(8000, dtype=np.float32)
    for rate in (0, 8000.5, -16000, 50):
        with pytest.raises(AudioError, match="sample rate"):
            model.transcribe(audio, sample_rate=rate)
        with pytest.raises(AudioError, match="sample rate"):
            StreamingRecognizer(model).accept_waveform(audio, rate)
    with pytest.raises(ConfigError, match="decoding method must be one of greedy, beam, closed_set, got 'foo'"):
        model.transcribe(audio, method="foo")
    with pytest.raises(ConfigError, match="decoding method must be one of"):
        StreamingRecognizer(model, decoding={"method": "foo"})
    with pytest.raises(ConfigError, match="beam_size must be an integer >= 1, got 0"):
        model.transcribe(audio, method="beam", beam_size=0)
    with pytest.raises(ConfigError, match="unknown decoding option 'beam'"):
        model.transcribe(audio, beam=4)
    assert model.transcribe(audio, sample_rate=8000.0).duration == pytest.approx(1.0)  # a whole float rate is fine


# --------------------------------------------------------------------------- 13. checkpoint messages
def test_case13_checkpoint_messages_name_the_problem(tmp_path):
    checkpoint = torch.load(BUNDLED_MODEL, weights_only=True)
    torch.save({**checkpoint, "model_config": "garbage"}, tmp_path / "string.pt")
    with pytest.raises(ModelError, match="model_config is a str, not a table"):
        load_model(tmp_path / "string.pt")
    config = {**checkpoint["model_config"], "num_layers": 3}
    torch.save({**checkpoint, "model_config": config}, tmp_path / "deeper.pt")
    with pytest.raises(ModelError, match="state_dict lacks weight 'encoder.layers.2.forward_gru.weight_ih_l0'"):
        load_model(tmp_path / "deeper.pt")
    config = {**checkpoint["model_config"], "hidden_size": 64}
    torch.save({**checkpoint, "model_config": config}, tmp_path / "narrow.pt")
    with pytest.raises(ModelError, match=r"weight '[\w.]+' has shape \(\d+, \d+\), its model_config needs"):
        load_model(tmp_path / "narrow.pt")


# --------------------------------------------------------------------------- 14. SIGKILL in a checkpoint write
KILLED_TRAINING = """
import os, signal, sys
import speechrnn.train as T
from speechrnn.atomic import atomic_write
from speechrnn.config import load_config

def save(path, model, **extra):  # SIGKILL halfway through writing epoch 2's last.pt
    if path.name == "last.pt" and extra.get("epoch") == 2:
        with atomic_write(path) as f:
            f.write(os.urandom(4096)); f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    return SAVE(path, model, **extra)

SAVE, T.save_checkpoint = T.save_checkpoint, save
T.train(load_config(None, sys.argv[1:]), quiet=True)
"""


@pytest.mark.slow
def test_case14_resume_after_sigkill_cleans_temp_files_and_continues_the_logs_exactly(tones, tmp_path):
    out = tmp_path / "run"
    overrides = tiny_overrides(tones, out, "train.epochs=3")
    killed = subprocess.run([sys.executable, "-c", KILLED_TRAINING, *overrides], capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list(out.glob(".last.pt.*.tmp"))  # what the kill left
    assert [r["epoch"] for r in csv.DictReader(open(out / "log.csv"))] == ["1", "2"]  # row of the unsaved epoch
    config = tmp_path / "empty.toml"
    config.write_text("")
    result = speechrnn("train", config, "--resume", "--quiet", *[a for o in overrides for a in ("--set", o)])
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [int(r["step"]) for r in rows] == sorted({int(r["step"]) for r in rows})
    events = list((out / "tb").iterdir())
    assert len(events) == 1, events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(events[0])).Reload().Scalars("train_loss")
    assert [s.step for s in scalars] == [int(r["step"]) for r in rows]
    assert [s.value for s in scalars] == pytest.approx([float(r["train_loss"]) for r in rows])


# --------------------------------------------------------------------------- 15. leftovers of a killed extraction
@pytest.mark.slow
def test_case15_a_killed_extraction_leaves_a_staging_folder_that_the_next_run_removes(tmp_path):
    archive = tmp_path / "big.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(60):
            member = tmp_path / f"m{i}.bin"
            member.write_bytes(os.urandom(1 << 20))
            tar.add(member, arcname=f"data/m{i}.bin")
            member.unlink()
    target = tmp_path / "data"
    code = f"from speechrnn.data.download import extract_archive; extract_archive({str(archive)!r}, {str(target)!r})"
    child = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".data.extract-*/data")) and time.monotonic() < deadline:
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    staged = list(tmp_path.glob(".data.extract-*"))
    assert staged and not target.exists()  # killed mid-extraction
    extract_archive(archive, target, quiet=True)
    assert not any(p.exists() for p in staged) and list(tmp_path.glob(".data.extract-*")) == []
    assert len(list((target / "data").iterdir())) == 60


# --------------------------------------------------------------------------- 3. --stream goes on after a bad file
@pytest.mark.slow
def test_case03_stream_reports_a_bad_file_and_goes_on(tiny_model, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav file")
    result = speechrnn("transcribe", "--stream", "--model", tiny_model, bad, EXAMPLE, "--format", "json")
    assert_one_line_error(result, "transcribe", str(bad))
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events and {e["file"] for e in events} == {str(EXAMPLE)} and events[-1]["type"] == "final"


# --------------------------------------------------------------------------- 5. --stream with --output-dir
@pytest.mark.slow
def test_case05_stream_with_output_dir_or_file_formats_is_refused_in_one_line(tiny_model, tmp_path):
    out = tmp_path / "out"
    result = speechrnn("transcribe", "--stream", "--model", tiny_model, EXAMPLE, "--output-dir", out, "--format", "all")
    assert_one_line_error(result, "transcribe", "--stream")
    assert not out.exists() and result.stdout == ""


# --------------------------------------------------------------------------- 10. read-only and full disks
@pytest.fixture
def not_a_folder(tmp_path) -> Path:
    """A path under a regular file: nothing can be created there, even by root (ENOTDIR)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder\n")
    return blocker / "out"


@pytest.mark.slow
def test_case10_unwritable_output_folders_are_one_line(tones, tiny_model, tmp_path, not_a_folder):
    config = tmp_path / "empty.toml"
    config.write_text("")
    result = speechrnn("train", config, *[a for o in tiny_overrides(tones, not_a_folder) for a in ("--set", o)])
    assert_one_line_error(result, "train", str(not_a_folder))
    result = speechrnn("evaluate", "--model", tiny_model, "--manifest", tones / "valid.jsonl", "--quiet",
                       "--output-dir", not_a_folder)  # fmt: skip
    assert_one_line_error(result, "evaluate", str(not_a_folder))
    result = speechrnn("prepare", "speech_commands", "--root", not_a_folder, "--quiet")
    assert_one_line_error(result, "prepare", str(not_a_folder))
    from test_fsdd import _synthetic_recordings

    source = _synthetic_recordings(tmp_path / "src" / "recordings", indices=range(3)).parent
    small = ("--test-speaker", "bert", "--connected-train", "3", "--connected-valid", "2", "--connected-test", "2")
    result = speechrnn("prepare", "fsdd", "--source", source, "--output", not_a_folder, "--quiet", *small)
    assert_one_line_error(result, "prepare", str(not_a_folder))
    # a full disk: no file may grow past 4 kB in the child
    out = tmp_path / "fsdd"
    result = speechrnn("prepare", "fsdd", "--source", source, "--output", out, "--quiet", *small, limit_bytes=4096)
    assert_one_line_error(result, "prepare", str(out), "File too large")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_case10_full_disk_during_a_download_keeps_no_part_file(http_server, tmp_path):
    url = http_server.add("/speech_commands_v0.02.tar.gz", os.urandom(300_000))
    root = tmp_path / "root"
    result = speechrnn("prepare", "speech_commands", "--root", root, "--url", url, "--quiet", limit_bytes=100_000)
    assert_one_line_error(result, "prepare", "cannot write the download (File too large)")
    assert sorted(p.name for p in root.iterdir()) == []  # no 100 kB .part pretending to be resumable
    result = speechrnn("prepare", "speech_commands", "--root", root, "--url", "notaurl", "--quiet")
    assert_one_line_error(result, "prepare", "notaurl: not a valid download URL")


# --------------------------------------------------------------------------- 15. SIGTERM in a batch
@pytest.mark.slow
def test_case15_sigterm_during_an_output_dir_batch_cleans_up_and_exits_143(tiny_model, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    audio, rate = sf.read(EXAMPLE, dtype="float32")
    for i in range(400):
        sf.write(inputs / f"clip{i:03d}.wav", audio, rate)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "speechrnn", "transcribe", "--model", str(tiny_model), "--format", "all",
         "--output-dir", str(out), *sorted(map(str, inputs.iterdir()))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while len(list(out.glob("*.json"))) < 5 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert child.poll() is None, "the batch ended before it could be interrupted"
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 143, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "speechrnn transcribe: terminated"
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no .NAME.txt.*.tmp
    assert len(list(out.glob("*.txt"))) < 400
