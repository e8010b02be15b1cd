"""Speech Commands layouts without split lists (the official 12-class test set, word folders) and the
speaker-disjoint split: on the shared real speech when present, and on a small archive in the real
layout served over loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import loopback_server
from helpers import audio_bytes, tar_gz

from speechrnn.data import sc_layouts
from speechrnn.data.download import is_done
from speechrnn.data.manifest import Utterance, read_manifest
from speechrnn.data.realspeech import DIGITS, ENV, TEST_SET, V001_SAMPLE
from speechrnn.data.speakers import split_key, split_of, split_utterances
from speechrnn.errors import ConfigError, DataError

SHARED = Path(os.environ.get(ENV) or Path(__file__).resolve().parents[2] / "shared/data/realspeech")
SHARED_TEST = SHARED / TEST_SET
needs_shared = pytest.mark.skipif(not SHARED_TEST.is_dir(), reason=f"shared real speech not found at {SHARED_TEST}")
# per-label clip counts of the shared part of the official test set (its README)
SHARED_COUNTS = {
    "yes": 253, "no": 257, "up": 253, "down": 258, "left": 250, "right": 241, "on": 255, "off": 232,
    "stop": 256, "go": 230, "_unknown_": 246, "_silence_": 232,
}  # fmt: skip


def _speakers(path: Path) -> set[str]:
    return {u.speaker or split_key(u) for u in read_manifest(path)}


# --------------------------------------------------------------------------- the split


def test_split_of_is_the_published_definition():
    for speaker in ["0a7c2a8d", "f2e59fea", "alexa/17", "_silence_/5"]:
        for seed, percent in [(0, 20.0), (3, 50.0)]:
            bucket = int(hashlib.sha1(f"{seed}:{speaker}".encode()).hexdigest(), 16) % 10000
            assert split_of(speaker, percent, seed) == ("valid" if bucket < percent * 100 else "train")
    assert {split_of(f"s{i}", 0.0) for i in range(200)} == {"train"}
    assert {split_of(f"s{i}", 100.0) for i in range(200)} == {"valid"}
    share = sum(split_of(f"speaker{i}") == "valid" for i in range(5000)) / 5000
    assert 0.18 < share < 0.22  # about 20 % of speakers by default


def test_split_utterances_keeps_speakers_together_and_keys_silence_by_file():
    utterances = [Utterance(f"/d/yes/{s}_nohash_{n}.wav", 1.0, speaker=s) for s in "abcdefgh" for n in range(3)]
    utterances += [Utterance(f"/d/_silence_/{n}.wav", 1.0) for n in range(20)]
    splits = split_utterances(utterances, 50.0, seed=1)
    assert sorted(splits["train"] + splits["valid"], key=utterances.index) == utterances
    assert not {u.speaker for u in splits["train"] if u.speaker} & {u.speaker for u in splits["valid"] if u.speaker}
    for split, part in splits.items():
        for u in part:
            key = u.speaker or f"_silence_/{Path(u.audio).stem}"
            assert split_key(u) == key and split_of(key, 50.0, 1) == split
    assert splits["train"] and splits["valid"]
    with pytest.raises(ConfigError, match="valid percent"):
        split_utterances(utterances, 120.0)


# --------------------------------------------------------------------------- the shared data


@needs_shared
def test_official_layout_of_the_shared_folder(tmp_path):
    counts = sc_layouts.prepare_test_set(tmp_path, test_set_dir=SHARED_TEST, valid_percent=20.0, quiet=True)
    manifests = tmp_path / "manifests"
    utterances = read_manifest(manifests / "sc12_test_official.jsonl")
    assert Counter(u.label for u in utterances) == SHARED_COUNTS
    assert len(utterances) == counts["sc12_test_official"] == 2963
    unknown = [u for u in utterances if u.label == "_unknown_"]
    for u in unknown:  # the word comes first in _unknown_/<word>_<speaker>_nohash_<n>.wav
        name = Path(u.audio).name
        assert name == f"{u.text}_{u.speaker}_nohash_{name.rsplit('_', 1)[1]}"
        assert u.id == f"_unknown_/{Path(name).stem}"
    assert sum(u.text in DIGITS for u in unknown) == 144  # the README's count of digit words
    assert {"bed", "backward", "visual", "zero"} <= {u.text for u in unknown}
    for u in utterances:
        if u.label == "_silence_":
            assert u.speaker == "" and u.text is None
        elif u.label != "_unknown_":
            assert u.text == u.label and u.speaker == Path(u.audio).name.split("_nohash_")[0]
    assert len({u.speaker for u in utterances if u.speaker}) == 148
    train, valid = manifests / "sc12_test_official_train.jsonl", manifests / "sc12_test_official_valid.jsonl"
    assert counts["sc12_test_official_train"] + counts["sc12_test_official_valid"] == 2963
    assert not _speakers(train) & _speakers(valid)
    assert 0.1 < counts["sc12_test_official_valid"] / 2963 < 0.3


@needs_shared
def test_word_folders_of_the_shared_v001_sample(tmp_path):
    words = sc_layouts.word_folder_utterances(SHARED / V001_SAMPLE, tmp_path)
    assert len(words) == 192 and len({u.label for u in words}) == 30
    assert all(u.label == u.text == u.id.split("/")[0] for u in words)
    task12 = sc_layouts.word_folder_utterances(SHARED / V001_SAMPLE, tmp_path, task12=True)
    assert {u.label for u in task12} == {*sc_layouts.TASK12_LABELS} - {"_silence_"}
    assert all(u.label == (u.text if u.text in sc_layouts.COMMANDS else "_unknown_") for u in task12)
    assert [u.speaker for u in task12] == [u.speaker for u in words] and all(len(u.speaker) == 8 for u in words)


@needs_shared
def test_cli_prepares_the_shared_folders_without_the_corpus(tmp_path):
    command = [
        sys.executable, "-m", "speechrnn", "prepare", "speech_commands", "--root", str(tmp_path), "--skip-corpus",
        "--test-set-dir", str(SHARED_TEST), "--words-dir", str(SHARED / V001_SAMPLE), "--words-task12",
        "--valid-percent", "20",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "sc12_test_official: 2963 clips" in result.stdout
    manifests = tmp_path / "manifests"
    sample = read_manifest(manifests / "sc12_speech_commands_v0.01_sample.jsonl")
    assert len(sample) == 192 and not list(tmp_path.glob("*.tar.gz"))  # nothing downloaded
    # one split for both sources: a speaker of both (3 v0.01 speakers are in the test files) stays on one side
    train = _speakers(manifests / "sc12_test_official_train.jsonl") | _speakers(
        manifests / "sc12_speech_commands_v0.01_sample_train.jsonl"
    )
    valid = _speakers(manifests / "sc12_test_official_valid.jsonl") | _speakers(
        manifests / "sc12_speech_commands_v0.01_sample_valid.jsonl"
    )
    assert not train & valid


# --------------------------------------------------------------------------- a small archive over loopback

TEST_CLIPS = {  # member -> seconds, the official test archive's layout ("./<label>/...")
    "./yes/0a7c2a8d_nohash_0.wav": 1.0,
    "./yes/1b2c3d4e_nohash_1.wav": 0.9,
    "./stop/0a7c2a8d_nohash_0.wav": 1.0,
    "./_unknown_/bed_5e3dde6b_nohash_0.wav": 1.0,
    "./_unknown_/seven_0a7c2a8d_nohash_2.wav": 0.8,
    "./_silence_/3.wav": 1.0,
    "./_silence_/17.wav": 1.0,
}


def _test_archive_members() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    members = {
        name: audio_bytes((0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32))
        for name, s in TEST_CLIPS.items()
    }
    members["./LICENSE"] = b"CC BY 4.0\n"
    members["./README.md"] = b"test files\n"
    return members


@pytest.fixture(scope="module")
def test_archive() -> bytes:
    return tar_gz(_test_archive_members())


def test_test_archive_over_loopback_is_checked_resumed_and_read(tmp_path, test_archive):
    with loopback_server() as state:
        url = state.add("/speech_commands_test_set_v0.02.tar.gz", test_archive)
        state.drop_after["/speech_commands_test_set_v0.02.tar.gz"] = [len(test_archive) // 2]
        sha = hashlib.sha256(test_archive).hexdigest()
        counts = sc_layouts.prepare_test_set(tmp_path, url=url, sha256=sha, valid_percent=50.0, quiet=True)
        assert state.range_requests("/speech_commands_test_set_v0.02.tar.gz") == [f"bytes={len(test_archive) // 2}-"]
    assert is_done(tmp_path, "test_download") and is_done(tmp_path, "test_extract")
    utterances = read_manifest(tmp_path / "manifests" / "sc12_test_official.jsonl")
    got = {u.id: (u.label, u.text, u.speaker, u.duration) for u in utterances}
    assert got == {
        "yes/0a7c2a8d_nohash_0": ("yes", "yes", "0a7c2a8d", 1.0),
        "yes/1b2c3d4e_nohash_1": ("yes", "yes", "1b2c3d4e", 0.9),
        "stop/0a7c2a8d_nohash_0": ("stop", "stop", "0a7c2a8d", 1.0),
        "_unknown_/bed_5e3dde6b_nohash_0": ("_unknown_", "bed", "5e3dde6b", 1.0),
        "_unknown_/seven_0a7c2a8d_nohash_2": ("_unknown_", "seven", "0a7c2a8d", 0.8),
        "_silence_/3": ("_silence_", None, "", 1.0),
        "_silence_/17": ("_silence_", None, "", 1.0),
    }
    # relative audio paths inside the root: the manifests move with it
    first = json.loads((tmp_path / "manifests" / "sc12_test_official.jsonl").read_text().splitlines()[0])
    assert first["audio"].startswith("../speech_commands_test_set_v0.02/")
    parts = [tmp_path / "manifests" / f"sc12_test_official_{s}.jsonl" for s in ("train", "valid")]
    written = [p for p in parts if p.is_file()]
    assert sum(len(read_manifest(p)) for p in written) == len(TEST_CLIPS) == sum(counts[p.stem] for p in parts)
    if len(written) == 2:
        assert not _speakers(parts[0]) & _speakers(parts[1])
    for u in utterances:  # every clip of a speaker (silence: of a file) in the split its key says
        split = split_of(split_key(u), 50.0)
        assert u.id in {v.id for v in read_manifest(tmp_path / "manifests" / f"sc12_test_official_{split}.jsonl")}


def test_test_archive_checksum_mismatch_keeps_nothing(http_server, test_archive, tmp_path):
    url = http_server.add("/speech_commands_test_set_v0.02.tar.gz", test_archive)
    with pytest.raises(DataError, match="checksum mismatch"):
        sc_layouts.prepare_test_set(tmp_path, url=url, sha256="0" * 64, quiet=True)
    assert not list(tmp_path.glob("speech_commands_test_set_v0.02*")) and not is_done(tmp_path, "test_download")
    assert not (tmp_path / "manifests").exists()


def test_official_test_url_uses_the_published_checksum(http_server, test_archive, tmp_path, monkeypatch):
    url = http_server.add("/speech_commands_test_set_v0.02.tar.gz", test_archive)
    monkeypatch.setattr(sc_layouts, "TEST_URL", url)
    with pytest.raises(DataError, match=sc_layouts.TEST_SHA256):
        sc_layouts.prepare_test_set(tmp_path, url=url, quiet=True)


def test_a_folder_outside_the_twelve_labels_is_refused(tmp_path):
    for name in ("yes/a1b2c3d4_nohash_0.wav", "bed/a1b2c3d4_nohash_0.wav"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        sf.write(tmp_path / name, np.zeros(1600, np.float32), 16000)
    with pytest.raises(DataError, match="bed: not a label of the 12-class test set"):
        sc_layouts.official_test_utterances(tmp_path, None)
    with pytest.raises(DataError, match="no label folders"):
        sc_layouts.official_test_utterances(tmp_path / "bed", None)


def test_word_folder_names_and_errors(tmp_path):
    for name in ("bed/a1b2c3d4_nohash_0.wav", "go/a1b2c3d4_nohash_1.wav", "_background_noise_/x.wav"):
        (tmp_path / "w" / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / "w" / name, np.zeros(1600, np.float32), 16000)
    utterances = sc_layouts.word_folder_utterances(tmp_path / "w", None, task12=True)
    expected = [("_unknown_", "bed", "a1b2c3d4"), ("go", "go", "a1b2c3d4")]
    assert [(u.label, u.text, u.speaker) for u in utterances] == expected
    assert all(Path(u.audio).is_absolute() for u in utterances)
    sf.write(tmp_path / "w" / "go" / "take2.wav", np.zeros(1600, np.float32), 16000)
    with pytest.raises(DataError, match=r"take2\.wav: not a Speech Commands clip name"):
        sc_layouts.word_folder_utterances(tmp_path / "w", None)
    with pytest.raises(DataError, match="no word folders"):
        sc_layouts.word_folder_utterances(tmp_path / "w" / "_background_noise_", None)


def test_cli_errors_are_one_line_and_leave_no_manifest(tmp_path):
    base = [sys.executable, "-m", "speechrnn", "prepare", "speech_commands", "--root", str(tmp_path), "--skip-corpus"]
    for extra, message in [
        ([], "--skip-corpus leaves nothing to prepare: add --test-set, --test-set-dir or --words-dir"),
        (["--words-dir", str(tmp_path / "none")], f"{tmp_path / 'none'}: no such folder"),
    ]:
        result = subprocess.run(base + extra, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines() == [f"speechrnn prepare: error: {message}"]
    assert not (tmp_path / "manifests").exists()
