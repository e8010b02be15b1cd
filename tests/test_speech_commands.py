"""Speech Commands preparation on a small archive with the real layout, served over loopback HTTP."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import loopback_server
from helpers import audio_bytes, tar_gz

from speechrnn.data import speech_commands as sc
from speechrnn.data.download import is_done
from speechrnn.data.manifest import read_manifest
from speechrnn.errors import DataError

WORDS = {"yes": 300.0, "no": 450.0, "up": 600.0, "cat": 750.0, "dog": 900.0}  # tone per word
SPEAKERS = ["0a7c2a8d", "0b09edd3", "1a892463", "2bdbe5f7", "3d53244b", "5e3dde6b"]
TAKES = 2
VALID_SPEAKER, TEST_SPEAKER = SPEAKERS[4], SPEAKERS[5]
NOISE_SECONDS = 12.0


def _clip(word: str, speaker_index: int, take: int) -> np.ndarray:
    rng = np.random.default_rng(1000 * speaker_index + 10 * take + len(word))
    seconds = 1.0 if take == 0 else 0.8  # most clips are 1 s, some shorter, as in the corpus
    t = np.arange(int(seconds * 16000)) / 16000
    freq = WORDS[word] * (1 + 0.03 * speaker_index)
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def speech_commands_members() -> dict[str, bytes]:
    """Archive member name -> content, laid out like speech_commands_v0.02.tar.gz ("./word/spk_nohash_n.wav")."""
    members, valid, test = {}, [], []
    for word in WORDS:
        for s, speaker in enumerate(SPEAKERS):
            for take in range(TAKES):
                name = f"{word}/{speaker}_nohash_{take}.wav"
                members[f"./{name}"] = audio_bytes(_clip(word, s, take))
                if speaker == VALID_SPEAKER:
                    valid.append(name)
                elif speaker == TEST_SPEAKER:
                    test.append(name)
    rng = np.random.default_rng(7)
    members["./_background_noise_/white_noise.wav"] = audio_bytes(
        (0.3 * rng.standard_normal(int(NOISE_SECONDS * 16000))).astype(np.float32)
    )
    members["./_background_noise_/running_tap.wav"] = audio_bytes(
        (0.2 * np.sin(np.arange(int(NOISE_SECONDS * 16000)) * 0.05)).astype(np.float32)
    )
    members["./_background_noise_/README.md"] = b"noise\n"
    members["./validation_list.txt"] = ("\n".join(valid) + "\n").encode()
    members["./testing_list.txt"] = ("\n".join(test) + "\n").encode()
    members["./LICENSE"] = b"CC BY 4.0\n"
    return members


@pytest.fixture(scope="module")
def archive() -> bytes:
    return tar_gz(speech_commands_members())


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, archive):
    """Prepared once over HTTP; the first response hangs up after a third of the archive."""
    root = tmp_path_factory.mktemp("sc")
    with loopback_server() as state:
        url = state.add("/speech_commands_v0.02.tar.gz", archive)
        state.drop_after["/speech_commands_v0.02.tar.gz"] = [len(archive) // 3]
        manifest_dir = sc.prepare(root, url=url, sha256=hashlib.sha256(archive).hexdigest(), quiet=True)
    return root, manifest_dir, state


def test_download_resumes_after_a_dropped_connection(prepared, archive):
    root, _, state = prepared
    ranges = state.range_requests("/speech_commands_v0.02.tar.gz")
    assert ranges == [f"bytes={len(archive) // 3}-"]
    assert (root / "speech_commands_v0.02.tar.gz").read_bytes() == archive
    assert not (root / "speech_commands_v0.02.tar.gz.part").exists()
    for stage in ("download", "extract", "manifests", "task12"):
        assert is_done(root, stage)


def test_word_manifests_follow_the_archive_lists(prepared):
    root, manifest_dir, _ = prepared
    data_dir = root / sc.DATA_FOLDER
    valid = set((data_dir / "validation_list.txt").read_text().split())
    test = set((data_dir / "testing_list.txt").read_text().split())
    per_speaker = len(WORDS) * TAKES
    expected = {"train": per_speaker * (len(SPEAKERS) - 2), "valid": per_speaker, "test": per_speaker}
    seen = {}
    for split in sc.SPLITS:
        utterances = read_manifest(manifest_dir / f"sc35_{split}.jsonl")
        assert len(utterances) == expected[split]
        for u in utterances:
            name = Path(u.audio).resolve().relative_to(data_dir.resolve()).as_posix()
            assert (name in valid) == (split == "valid") and (name in test) == (split == "test")
            assert u.label == name.split("/")[0] and u.speaker == name.split("/")[1].split("_")[0]
            assert u.duration == pytest.approx(1.0 if name.endswith("_0.wav") else 0.8)
            seen[name] = split
        assert Counter(u.label for u in utterances) == {w: expected[split] // len(WORDS) for w in WORDS}
    assert len(seen) == len(WORDS) * len(SPEAKERS) * TAKES  # every clip exactly once
    # relative audio paths: the manifests stay valid when the root folder moves
    first = json.loads((manifest_dir / "sc35_train.jsonl").read_text().splitlines()[0])
    assert not Path(first["audio"]).is_absolute()


def test_twelve_class_task_construction(prepared):
    root, manifest_dir, _ = prepared
    for split in sc.SPLITS:
        words = {u.id: u.label for u in read_manifest(manifest_dir / f"sc35_{split}.jsonl")}
        utterances = read_manifest(manifest_dir / f"sc12_{split}.jsonl")
        counts = Counter(u.label for u in utterances)
        commands = sum(1 for w in words.values() if w in sc.COMMANDS)
        assert counts[sc.UNKNOWN] == math.ceil(commands * sc.UNKNOWN_PERCENT / 100)
        assert counts[sc.SILENCE] == math.ceil(commands * sc.SILENCE_PERCENT / 100)
        assert sum(counts[w] for w in sc.COMMANDS) == commands
        for u in utterances:
            if u.label == sc.UNKNOWN:
                assert words[u.id] not in sc.COMMANDS  # unknown clips come from the same split's other words
            elif u.label == sc.SILENCE:
                audio, rate = sf.read(u.audio, dtype="float32")
                assert rate == 16000 and len(audio) == 16000 and u.duration == 1.0
                assert Path(u.audio).resolve().parent == (root / "silence" / split).resolve()
            else:
                assert words[u.id] == u.label
    # noise: each recording is cut 80/10/10 in time; noise.jsonl lists the train parts only
    noise = read_manifest(manifest_dir / "noise.jsonl")
    assert sorted(Path(u.audio).name for u in noise) == ["running_tap.wav", "white_noise.wav"]
    for u in noise:
        assert Path(u.audio).resolve().parent == (root / "noise" / "train").resolve()
        assert u.duration == pytest.approx(0.8 * NOISE_SECONDS)
    valid_part, _ = sf.read(root / "noise" / "valid" / "white_noise.wav")
    assert len(valid_part) == pytest.approx(0.1 * NOISE_SECONDS * 16000, abs=1)


def test_rerun_skips_finished_stages(prepared, http_server, archive):
    root, manifest_dir, _ = prepared
    before = {p.name: p.stat().st_mtime_ns for p in manifest_dir.iterdir()}
    url = http_server.add("/speech_commands_v0.02.tar.gz", archive)
    sc.prepare(root, url=url, quiet=True)
    assert http_server.requests == []  # nothing downloaded again
    assert {p.name: p.stat().st_mtime_ns for p in manifest_dir.iterdir()} == before


def test_twelve_class_construction_is_seeded(prepared, tmp_path):
    root, manifest_dir, _ = prepared
    data_dir = root / sc.DATA_FOLDER
    sc.build_task12(data_dir, tmp_path / "a", tmp_path / "a" / "manifests", seed=sc.SEED, quiet=True)
    sc.build_task12(data_dir, tmp_path / "b", tmp_path / "b" / "manifests", seed=1, quiet=True)

    def ids_and_gains(folder: Path, split: str):
        utterances = read_manifest(folder / f"sc12_{split}.jsonl")
        unknown = sorted(u.id for u in utterances if u.label == sc.UNKNOWN)
        silence = [float(np.abs(sf.read(u.audio)[0]).max()) for u in utterances if u.label == sc.SILENCE]
        return unknown, silence

    same = ids_and_gains(tmp_path / "a" / "manifests", "train")
    assert same == ids_and_gains(manifest_dir, "train")
    assert ids_and_gains(tmp_path / "b" / "manifests", "train") != same


def test_checksum_mismatch_keeps_nothing(http_server, archive, tmp_path):
    url = http_server.add("/speech_commands_v0.02.tar.gz", archive)
    with pytest.raises(DataError, match="checksum mismatch"):
        sc.prepare(tmp_path, url=url, sha256="0" * 64, quiet=True)
    assert not list(tmp_path.glob("speech_commands_v0.02.tar.gz*"))
    assert not is_done(tmp_path, "download")


def test_official_url_uses_the_published_checksum(http_server, archive, tmp_path, monkeypatch):
    # a stand-in for the official URL: the published SHA-256 must be checked (and fail for our archive)
    url = http_server.add("/speech_commands_v0.02.tar.gz", archive)
    monkeypatch.setattr(sc, "URL", url)
    with pytest.raises(DataError, match=sc.ARCHIVE_SHA256):
        sc.prepare(tmp_path, url=url, quiet=True)


def test_malicious_archive_is_refused(http_server, tmp_path):
    members = {"./yes/a_nohash_0.wav": audio_bytes(np.zeros(1600, np.float32)), "../../escaped.txt": b"x"}
    payload = tar_gz(members)
    url = http_server.add("/evil.tar.gz", payload)
    root = tmp_path / "root"
    with pytest.raises(DataError, match=r"escaped\.txt"):
        sc.prepare(root, url=url, quiet=True)
    assert not (tmp_path / "escaped.txt").exists() and not (root.parent.parent / "escaped.txt").exists()
    assert not (root / sc.DATA_FOLDER).exists() and not is_done(root, "extract")


def test_missing_split_lists_are_a_data_error(tmp_path):
    (tmp_path / "yes").mkdir()
    sf.write(tmp_path / "yes" / "a_nohash_0.wav", np.zeros(1600, np.float32), 16000)
    with pytest.raises(DataError, match="validation_list.txt"):
        sc.split_words(tmp_path)


RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "speech_commands"


def test_recipe_run_sh_prepares_trains_and_evaluates(http_server, archive, tmp_path):
    """run.sh stages 0-2 on the fixture: prepare over HTTP, one epoch of the 12-class recipe config (shrunk
    with --set) through ``speechrnn train``, then ``speechrnn evaluate`` on the test split."""
    import subprocess
    import sys

    from speechrnn.model import load_model

    url = http_server.add("/speech_commands_v0.02.tar.gz", archive)
    test_members = {  # the official test archive's layout, with the labels of this small corpus
        f"./{label}/{name}": audio_bytes(_clip(word, 5, 0))
        for label, name, word in [
            ("yes", "9a8b7c6d_nohash_0.wav", "yes"),
            ("no", "9a8b7c6d_nohash_0.wav", "no"),
            ("_unknown_", "cat_9a8b7c6d_nohash_0.wav", "cat"),
        ]
    }
    test_members["./_silence_/0.wav"] = audio_bytes(np.zeros(16000, np.float32))
    test_archive = tar_gz(test_members)
    test_url = http_server.add("/speech_commands_test_set_v0.02.tar.gz", test_archive)
    data, exp = tmp_path / "data", tmp_path / "exp"
    shrink = {
        "data.num_workers": 0,
        "data.max_seconds": 8.0,
        "model.hidden_size": 16,
        "model.num_layers": 1,
        "optim.warmup_steps": 1,
        "train.epochs": 1,
    }
    command = ["bash", str(RECIPE / "run.sh"), "--data", str(data), "--exp", str(exp), "--url", url]
    command += ["--sha256", hashlib.sha256(archive).hexdigest()]
    command += ["--test-url", test_url, "--test-sha256", hashlib.sha256(test_archive).hexdigest(), "--"]
    command += [a for k, v in shrink.items() for a in ("--set", f"{k}={v}")]
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "stage 2: evaluate" in result.stdout and "wrote" in result.stdout

    model = load_model(exp / "best.pt")
    assert model.labels == sorted(["yes", "no", "up", sc.SILENCE, sc.UNKNOWN])  # labels taken from the manifest
    assert model.config.pooling == "attention" and model.config.hidden_size == 16
    train_config = torch.load(exp / "best.pt", weights_only=True)["train_config"]
    assert train_config["data"]["noise"] == str(data / "manifests" / "noise.jsonl")  # noise augmentation on
    assert train_config["augment"]["noise_prob"] > 0

    report = json.loads((exp / "eval_test" / "report.json").read_text())
    assert report["num_utterances"] == len(read_manifest(data / "manifests" / "sc12_test.jsonl"))
    assert 0.0 <= report["metrics"]["accuracy"] <= 1.0
    assert (exp / "eval_test" / "confusion_matrix.png").stat().st_size > 0
    official = json.loads((exp / "eval_test_official" / "report.json").read_text())  # the official test files too
    assert official["num_utterances"] == len(test_members) and "official test files" in result.stdout


def test_cli_prepare_reports_errors_in_one_line(http_server, archive, tmp_path):
    import subprocess
    import sys

    url = http_server.add("/speech_commands_v0.02.tar.gz", archive)
    command = [sys.executable, "-m", "speechrnn", "prepare", "speech_commands", "--root", str(tmp_path), "--url", url]
    bad = subprocess.run(command + ["--sha256", "1" * 64], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.startswith("speechrnn prepare: error: ") and "checksum mismatch" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    good = subprocess.run(
        command + ["--sha256", hashlib.sha256(archive).hexdigest()], capture_output=True, text=True, timeout=120
    )
    assert good.returncode == 0, good.stderr
    assert "12-class train:" in good.stdout and (tmp_path / "manifests" / "sc12_test.jsonl").is_file()


def _noise_folder(tmp_path, seconds: dict[str, float]) -> Path:
    folder = tmp_path / "data" / sc.BACKGROUND
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, length in seconds.items():
        sf.write(folder / name, 0.1 * rng.standard_normal(int(length * 16000)), 16000, subtype="PCM_16")
    return folder.parent


def test_a_too_short_noise_recording_is_skipped_for_its_split_with_a_warning(tmp_path, capsys):
    # 6 s: its 80 % train region (4.8 s) holds a clip, its 10 % valid/test regions (0.6 s) do not
    data_dir = _noise_folder(tmp_path, {"long.wav": 20.0, "short.wav": 6.0})
    regions = sc.cut_noise_regions(data_dir, tmp_path / "noise")
    assert [p.name for p in regions["train"]] == ["long.wav", "short.wav"]
    assert [p.name for p in regions["valid"]] == [p.name for p in regions["test"]] == ["long.wav"]
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 2 and all(line.startswith("warning: ") and "short.wav" in line for line in warnings)
    assert "not used for valid" in warnings[0] and "not used for test" in warnings[1]
    assert not (tmp_path / "noise" / "valid" / "short.wav").exists()


def test_a_split_with_no_noise_at_all_is_a_data_error(tmp_path):
    data_dir = _noise_folder(tmp_path, {"short.wav": 6.0})
    with pytest.raises(DataError, match=r"_background_noise_: no recording is long enough for a 1 s valid clip"):
        sc.cut_noise_regions(data_dir, tmp_path / "noise")
