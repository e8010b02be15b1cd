"""FSDD: locating the data, the verified download path, manifest preparation and the CLI.

Real-data tests use the local copy (``fsdd_root()``) and skip when it is absent; the download, CLI
and small-corpus tests use a synthetic corpus in the real file layout built here.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speechrnn.data import fsdd
from speechrnn.data.fsdd import DIGIT_WORDS, download_fsdd, fsdd_root, prepare_fsdd, recordings_digest
from speechrnn.data.manifest import read_manifest
from speechrnn.errors import DataError

REPO = Path(__file__).resolve().parents[1]
SMALL = {"connected_train": 24, "connected_valid": 8, "connected_test": 8, "max_digits": 4}
STAGES = ["isolated", "connected-train", "connected-valid", "connected-test"]


def _real_root() -> Path:
    try:
        return fsdd_root()
    except DataError as error:
        pytest.skip(f"local FSDD copy not available: {error}")


def _synthetic_recordings(folder: Path, speakers=("anna", "bert"), indices=range(7)) -> Path:
    """{digit}_{speaker}_{index}.wav, 8 kHz 16-bit tones of 0.1-0.2 s (distinct content per file)."""
    folder.mkdir(parents=True, exist_ok=True)
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for index in indices:
                n = 800 + 40 * index
                t = np.arange(n) / 8000
                tone = 0.3 * np.sin(2 * np.pi * (200 + 30 * digit + 7 * index + 3 * s) * t)
                sf.write(folder / f"{digit}_{speaker}_{index}.wav", tone, 8000, subtype="PCM_16")
    return folder


def _manifest_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- fsdd_root


def test_fsdd_root_prefers_env(tmp_path, monkeypatch):
    (tmp_path / "mine" / "recordings").mkdir(parents=True)
    monkeypatch.setenv("SPEECHRNN_FSDD", str(tmp_path / "mine"))
    assert fsdd_root() == tmp_path / "mine"


def test_fsdd_root_error_names_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("SPEECHRNN_FSDD", str(tmp_path / "nowhere"))
    monkeypatch.setattr(fsdd, "__file__", str(tmp_path / "a" / "b" / "repo" / "speechrnn" / "data" / "fsdd.py"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="SPEECHRNN_FSDD") as info:
        fsdd_root()
    assert str(tmp_path / "nowhere") in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- download


def _fsdd_archive(tmp_path: Path) -> tuple[bytes, int, str]:
    """A .tar.gz in the GitHub layout (top folder + recordings/ + other files); returns (bytes, count, digest)."""
    recordings = _synthetic_recordings(tmp_path / "src" / "recordings", speakers=("anna",), indices=range(2))
    count, digest = recordings_digest(recordings)
    buffer = io.BytesIO()
    top = f"free-spoken-digit-dataset-{fsdd.COMMIT}"
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(recordings, arcname=f"{top}/recordings")
        readme = b"FSDD\n"
        info = tarfile.TarInfo(f"{top}/README.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
    return buffer.getvalue(), count, digest


def test_download_fsdd_verifies_and_installs(http_server, tmp_path):
    archive, count, digest = _fsdd_archive(tmp_path)
    url = http_server.add(f"/archive/{fsdd.COMMIT}.tar.gz", archive)
    target = tmp_path / "fsdd"
    assert download_fsdd(target, url, expected_count=count, expected_digest=digest, quiet=True) == target
    assert recordings_digest(target / "recordings") == (count, digest) and count == 20
    assert sorted(p.name for p in target.iterdir()) == [".done-download", "recordings"]  # archive removed
    download_fsdd(target, url, expected_count=count, expected_digest=digest, quiet=True)
    assert len(http_server.requests) == 1  # second call skipped by the marker


def test_download_fsdd_resumes_after_drop(http_server, tmp_path):
    archive, count, digest = _fsdd_archive(tmp_path)
    url = http_server.add("/fsdd.tar.gz", archive)
    http_server.drop_after["/fsdd.tar.gz"] = [len(archive) // 2]
    download_fsdd(tmp_path / "fsdd", url, expected_count=count, expected_digest=digest, quiet=True)
    assert http_server.range_requests("/fsdd.tar.gz") == [f"bytes={len(archive) // 2}-"]
    assert recordings_digest(tmp_path / "fsdd" / "recordings") == (count, digest)


def test_download_fsdd_rejects_wrong_recordings(http_server, tmp_path):
    archive, count, _ = _fsdd_archive(tmp_path)
    url = http_server.add("/fsdd.tar.gz", archive)
    target = tmp_path / "fsdd"
    with pytest.raises(DataError, match="do not match the pinned FSDD commit") as info:
        download_fsdd(target, url, expected_count=count, expected_digest="f" * 64, quiet=True)
    assert url in str(info.value)
    assert sorted(p.name for p in target.iterdir()) == []  # no recordings, no archive, no staging


def test_default_url_is_pinned_commit():
    assert fsdd.URL == (
        "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/26eb9aaf76e81b692f806f9140c2d2777410d7a1.tar.gz"
    )


def test_local_copy_matches_pinned_digest():
    root = _real_root()
    assert recordings_digest(root / "recordings") == (fsdd.RECORDING_COUNT, fsdd.RECORDINGS_SHA256)


# --------------------------------------------------------------------------- preparation on the real data


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = _real_root()
    output = tmp_path_factory.mktemp("fsdd_prepared")
    result = prepare_fsdd(root, output, seed=3, quiet=True, **SMALL)
    return root, output, result


def test_isolated_split_counts(prepared):
    root, output, result = prepared
    counts = result["manifests"]
    assert counts["isolated/official/train.jsonl"] == 2700 and counts["isolated/official/test.jsonl"] == 300
    for speaker in fsdd.SPEAKERS:
        assert counts[f"isolated/loso/{speaker}/train.jsonl"] == 2250
        assert counts[f"isolated/loso/{speaker}/valid.jsonl"] == 250
        assert counts[f"isolated/loso/{speaker}/test.jsonl"] == 500
    assert counts["connected/train.jsonl"] == SMALL["connected_train"]


def test_isolated_manifests_content(prepared):
    root, output, _ = prepared
    official_test = read_manifest(output / "isolated/official/test.jsonl")
    official_train = read_manifest(output / "isolated/official/train.jsonl")
    assert {int(u.id.split("_")[2]) for u in official_test} == set(range(5))
    assert {int(u.id.split("_")[2]) for u in official_train} == set(range(5, 50))
    assert not {u.audio for u in official_test} & {u.audio for u in official_train}
    for u in official_test[:50]:
        assert Path(u.audio).is_absolute() and Path(u.audio).is_file()
        assert u.label == DIGIT_WORDS[int(Path(u.audio).name[0])] and u.speaker == u.id.split("_")[1]
        assert u.duration == pytest.approx(sf.info(u.audio).duration, abs=1e-6)
    theo = {split: read_manifest(output / f"isolated/loso/theo/{split}.jsonl") for split in ("train", "valid", "test")}
    assert {u.speaker for u in theo["test"]} == {"theo"}
    assert "theo" not in {u.speaker for u in theo["train"] + theo["valid"]}
    assert {int(u.id.split("_")[2]) for u in theo["valid"]} == set(range(5))
    assert not {u.audio for u in theo["train"]} & {u.audio for u in theo["valid"]}


def test_connected_speakers_texts_and_clips(prepared):
    root, output, _ = prepared
    clips = {}
    for split in ("train", "valid", "test"):
        utterances = read_manifest(output / "connected" / f"{split}.jsonl")
        alignments = {a["id"]: a["words"] for a in _manifest_lines(output / "connected" / f"{split}_alignments.jsonl")}
        speakers = {u.speaker for u in utterances}
        if split == "test":
            assert speakers == {"theo"}
        else:
            assert "theo" not in speakers and speakers <= set(fsdd.SPEAKERS)
        clips[split] = set()
        for u in utterances:
            words = u.text.split()
            assert 1 <= len(words) <= SMALL["max_digits"] and set(words) <= set(DIGIT_WORDS)
            aligned = alignments[u.id]
            assert [w["word"] for w in aligned] == words
            for w in aligned:
                digit, speaker, index = w["clip"][:-4].split("_")
                assert DIGIT_WORDS[int(digit)] == w["word"] and speaker == u.speaker
                assert (int(index) < 5) == (split == "valid") or split == "test"
                clips[split].add(w["clip"])
            starts_ends = [(w["start"], w["end"]) for w in aligned]
            assert all(0.05 <= s < e for s, e in starts_ends) and starts_ends[-1][1] < u.duration
            assert all(b[0] - a[1] >= 0.059 for a, b in zip(starts_ends, starts_ends[1:]))
    assert not clips["train"] & clips["valid"] and not (clips["train"] | clips["valid"]) & clips["test"]


def test_connected_wavs_are_16k_and_match_durations(prepared):
    root, output, _ = prepared
    for split in ("train", "valid", "test"):
        for u in read_manifest(output / "connected" / f"{split}.jsonl"):
            info = sf.info(u.audio)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert info.frames / 16000 == pytest.approx(u.duration, abs=1e-6)
    wavs = sorted((output / "connected" / "wav").rglob("*"))
    assert all(not p.name.startswith(".") for p in wavs)  # no temp files left


def test_same_seed_same_bytes_other_seed_differs(prepared, tmp_path):
    root, output, _ = prepared
    again = tmp_path / "again"
    prepare_fsdd(root, again, seed=3, quiet=True, **SMALL)
    for relative in [
        "connected/train.jsonl",
        "connected/test.jsonl",
        "connected/valid_alignments.jsonl",
        "isolated/official/train.jsonl",
        "isolated/loso/lucas/valid.jsonl",
    ]:
        assert (again / relative).read_bytes() == (output / relative).read_bytes(), relative
    for wav in sorted((output / "connected" / "wav").rglob("*.wav")):
        assert (again / wav.relative_to(output)).read_bytes() == wav.read_bytes(), wav.name
    other = tmp_path / "other"
    prepare_fsdd(root, other, seed=4, quiet=True, **SMALL)
    texts = lambda folder: [u.text for u in read_manifest(folder / "connected/train.jsonl")]  # noqa: E731
    assert texts(other) != texts(output)


def test_edge_crop_trims_train_clips_only(prepared, tmp_path):
    root, output, _ = prepared
    cropped = tmp_path / "cropped"
    prepare_fsdd(root, cropped, seed=3, quiet=True, edge_crop_ms=80, **SMALL)
    for split in ("valid", "test"):  # only the train split is cropped
        name = f"connected/{split}_alignments.jsonl"
        assert (cropped / name).read_bytes() == (output / name).read_bytes()
    recordings = Path(fsdd._recordings_folder(root))
    shortened = 0
    for row in _manifest_lines(cropped / "connected/train_alignments.jsonl"):
        for word in row["words"]:
            full = sf.info(recordings / word["clip"]).duration
            kept = word["end"] - word["start"]
            assert 0.6 * full - 1e-3 <= kept <= full + 1e-3
            shortened += kept < full - 1e-3
    assert shortened > 10
    with pytest.raises(DataError, match="edge_crop_ms"):
        prepare_fsdd(root, tmp_path / "bad", quiet=True, edge_crop_ms=-1, **SMALL)


def test_edge_crop_fraction_bounds_each_cut(prepared, tmp_path):
    root, _, _ = prepared
    deep = tmp_path / "deep"
    prepare_fsdd(root, deep, seed=3, quiet=True, edge_crop_ms=1000, edge_crop_fraction=0.4, **SMALL)
    recordings = Path(fsdd._recordings_folder(root))
    kept_fractions = [
        (word["end"] - word["start"]) / sf.info(recordings / word["clip"]).duration
        for row in _manifest_lines(deep / "connected/train_alignments.jsonl")
        for word in row["words"]
    ]
    assert min(kept_fractions) >= 0.2 - 1e-3  # at most 40 % off each side
    assert sum(k < 0.6 for k in kept_fractions) > 5  # deeper than the default fraction allows
    again = prepare_fsdd(root, deep, seed=3, quiet=True, edge_crop_ms=1000, edge_crop_fraction=0.3, **SMALL)
    assert "connected-train" not in again["skipped"]  # another fraction is another train split
    for bad in (0.0, 0.5):
        with pytest.raises(DataError, match="edge_crop_fraction"):
            prepare_fsdd(root, tmp_path / "bad", quiet=True, edge_crop_ms=80, edge_crop_fraction=bad, **SMALL)


def test_rerun_skips_finished_stages(prepared):
    root, output, first = prepared
    assert first["skipped"] == []
    wav = output / "connected/wav/train/train_00000.wav"
    stamp = wav.stat().st_mtime_ns
    again = prepare_fsdd(root, output, seed=3, quiet=True, **SMALL)
    assert again["skipped"] == STAGES and again["manifests"] == first["manifests"]
    assert wav.stat().st_mtime_ns == stamp


def test_unknown_test_speaker_and_missing_source(tmp_path):
    source = _synthetic_recordings(tmp_path / "src" / "recordings", indices=range(6))
    with pytest.raises(DataError, match="test speaker 'theo' is not in"):
        prepare_fsdd(tmp_path / "src", tmp_path / "out", quiet=True)
    with pytest.raises(DataError, match="no such folder"):
        prepare_fsdd(tmp_path / "absent", tmp_path / "out", test_speaker="anna", quiet=True)
    (source / "notes.wav").write_bytes(b"x")
    with pytest.raises(DataError, match="notes.wav: not an FSDD recording name"):
        prepare_fsdd(tmp_path / "src", tmp_path / "out", test_speaker="anna", quiet=True)


def test_changed_parameters_redo_only_that_stage(tmp_path):
    _synthetic_recordings(tmp_path / "src" / "recordings", indices=range(6))
    kwargs = dict(test_speaker="anna", connected_train=6, connected_valid=3, connected_test=3, quiet=True)
    prepare_fsdd(tmp_path / "src", tmp_path / "out", **kwargs)
    result = prepare_fsdd(tmp_path / "src", tmp_path / "out", **{**kwargs, "connected_train": 4})
    assert result["skipped"] == ["isolated", "connected-valid", "connected-test"]
    assert result["manifests"]["connected/train.jsonl"] == 4
    assert len(list((tmp_path / "out/connected/wav/train").iterdir())) == 4  # stale WAVs removed
    assert result["manifests"]["isolated/official/train.jsonl"] == 2 * 10 * 1  # index 5 only
    assert result["manifests"]["isolated/loso/bert/test.jsonl"] == 60


def test_no_test_speaker_puts_every_speaker_in_connected_train(tmp_path):
    """test_speaker="none": connected train/valid from all speakers (the official split), no test."""
    _synthetic_recordings(tmp_path / "src" / "recordings", indices=range(7))
    result = prepare_fsdd(
        tmp_path / "src",
        tmp_path / "out",
        test_speaker="none",
        connected_train=8,
        connected_valid=4,
        connected_test=5,
        quiet=True,
    )
    train = _manifest_lines(tmp_path / "out/connected/train.jsonl")
    assert {u["speaker"] for u in train} == {"anna", "bert"}
    assert {u["speaker"] for u in _manifest_lines(tmp_path / "out/connected/valid.jsonl")} == {"anna", "bert"}
    assert result["manifests"].get("connected/test.jsonl", 0) == 0


# --------------------------------------------------------------------------- CLI


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "speechrnn", "prepare", "fsdd", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


def test_cli_prepare_succeeds(tmp_path):
    _synthetic_recordings(tmp_path / "src" / "recordings", indices=range(6))
    out = tmp_path / "out"
    done = _cli(
        "--output",
        str(out),
        "--source",
        str(tmp_path / "src"),
        "--test-speaker",
        "bert",
        "--connected-train",
        "5",
        "--connected-valid",
        "2",
        "--connected-test",
        "2",
        "--seed",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert f"{out / 'connected/train.jsonl'}" in done.stdout
    assert len(read_manifest(out / "connected/train.jsonl")) == 5
    assert {u.speaker for u in read_manifest(out / "connected/test.jsonl")} == {"bert"}


def test_cli_missing_source_is_one_line_error(tmp_path):
    done = _cli("--output", str(tmp_path / "out"), "--source", str(tmp_path / "absent"), "--quiet")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "no such folder" in done.stderr and str(tmp_path / "absent") in done.stderr


def test_cli_download_with_wrong_recordings_fails_cleanly(http_server, tmp_path):
    archive, _, _ = _fsdd_archive(tmp_path)
    url = http_server.add("/fsdd.tar.gz", archive)
    done = _cli("--output", str(tmp_path / "out"), "--download", "--url", url, "--quiet")
    assert done.returncode == 1, done.stderr
    assert "do not match the pinned FSDD commit" in done.stderr and done.stderr.strip().count("\n") == 0
    assert not (tmp_path / "out" / "source" / "recordings").exists()


def test_recipe_refuses_an_unknown_option_before_doing_anything(tmp_path):
    """run.sh takes only its own options (--loso-runs went with the unreported systems): one line, exit 2."""
    done = subprocess.run(
        ["bash", str(REPO / "recipes/fsdd/run.sh"), "--data", str(tmp_path / "data"), "--loso-runs", "c c2 f x v"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["run.sh: unknown option --loso-runs"]
    assert not (tmp_path / "data").exists()


def _closed_set_report(folder: Path, accuracy: float) -> None:
    folder.mkdir(parents=True)
    folder.joinpath("report.json").write_text(json.dumps({"metrics": {"closed_set": {"utterance_accuracy": accuracy}}}))


def test_results_script_tabulates_the_reported_system_per_fold(tmp_path):
    """scripts/fsdd_results.py: V2's mean over the six folds, and each round's pseudo-labels checked after the fact."""
    for i, speaker in enumerate(fsdd.SPEAKERS):
        for run, accuracy in (("cnc2nfnxn", 0.90), ("v1", 0.93), ("v2", 0.94 + 0.01 * i)):
            _closed_set_report(tmp_path / f"loso_{run}_{speaker}" / "eval_test", accuracy)
    pseudo = [{"id": "0", "label": "four"}, {"id": "1", "label": "three"}]  # the second is wrong
    truth = [
        {"id": "0", "reference": "four", "closed_set": "four"},
        {"id": "1", "reference": "two", "closed_set": "two"},
    ]
    run = tmp_path / "loso_v1_george"
    run.joinpath("pseudo.jsonl").write_text("".join(json.dumps(u) + "\n" for u in pseudo))
    run.joinpath("eval_test/predictions.jsonl").write_text("".join(json.dumps(p) + "\n" for p in truth))
    done = subprocess.run([sys.executable, str(REPO / "scripts/fsdd_results.py"), "--exp", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    v2 = next(line for line in lines if line.startswith("| isolated digits | V2"))
    assert "leave-one-speaker-out, mean of 6 folds | accuracy 96.50 % |" in v2
    assert "| george | 90.0 % | 2, 50.0 % | 93.0 % | - | 94.0 % |" in lines
    assert "| mean | 90.00 % | | 93.00 % | | 96.50 % |" in lines


def test_results_script_counts_the_reported_systems_confusions(tmp_path):
    """scripts/fsdd_results.py: the reported system's errors per held-out speaker, most frequent first."""
    scored = tmp_path / "loso_v2_nicolas" / "eval_test"
    scored.mkdir(parents=True)
    heard = [("four", "five")] * 3 + [("two", "three")] * 2 + [("six", "three"), ("one", "one"), ("nine", "nine")]
    lines = (json.dumps({"id": str(i), "reference": ref, "closed_set": hyp}) for i, (ref, hyp) in enumerate(heard))
    scored.joinpath("predictions.jsonl").write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, str(REPO / "scripts/fsdd_results.py"), "--exp", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| nicolas | 6 | four -> five (3), two -> three (2), six -> three (1) |" in done.stdout.splitlines()
    assert not any(line.startswith("| george | ") and "->" in line for line in done.stdout.splitlines())
