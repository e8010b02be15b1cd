"""LibriSpeech preparation on small archives with the real layout, served over loopback HTTP."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest
import soundfile as sf
from helpers import audio_bytes, tar_gz

from speechrnn.data import librispeech as ls
from speechrnn.data.download import is_done, read_marker
from speechrnn.data.manifest import read_manifest
from speechrnn.data.vocab import CHAR_VOCABULARY, check_text, read_vocabulary
from speechrnn.errors import DataError

# part -> [(speaker, chapter, utterance, seconds, transcript)]
UTTERANCES = {
    "train-clean-100": [
        (19, 198, 0, 1.5, "NORTHANGER ABBEY"),
        (19, 198, 1, 0.5, "OH"),  # below --min-duration: dropped
        (19, 198, 2, 2.5, "THAT WAS DONE BY HER FATHER'S SISTER"),
        (26, 495, 0, 2.0, "AND THE   CHILDREN CAME"),
        (26, 495, 1, 3.5, "A TALE TOO LONG FOR THE LIMIT"),  # above --max-duration 3: dropped
    ],
    "dev-clean": [
        (84, 121123, 0, 0.5, "GO DO YOU HEAR"),  # dev parts are kept whole
        (84, 121123, 1, 3.5, "BUT IN LESS THAN FIVE MINUTES THE STAIRCASE GROANED"),
    ],
}


def _flac_bytes(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return audio_bytes((0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), format="FLAC")


def librispeech_archive(part: str, extra: dict[str, bytes] | None = None) -> bytes:
    """A <part>.tar.gz laid out like OpenSLR's: LibriSpeech/<part>/<spk>/<chapter>/..."""
    members: dict[str, bytes] = {"LibriSpeech/README.TXT": b"LibriSpeech\n", "LibriSpeech/SPEAKERS.TXT": b";\n"}
    chapters: dict[tuple[int, int], list[str]] = {}
    for speaker, chapter, utt, seconds, text in UTTERANCES[part]:
        uid = f"{speaker}-{chapter}-{utt:04d}"
        members[f"LibriSpeech/{part}/{speaker}/{chapter}/{uid}.flac"] = _flac_bytes(seconds, utt + speaker)
        chapters.setdefault((speaker, chapter), []).append(f"{uid} {text}")
    for (speaker, chapter), lines in chapters.items():
        members[f"LibriSpeech/{part}/{speaker}/{chapter}/{speaker}-{chapter}.trans.txt"] = (
            "\n".join(lines) + "\n"
        ).encode()
    members.update(extra or {})
    return tar_gz(members)


@pytest.fixture(scope="module")
def archives() -> dict[str, bytes]:
    return {part: librispeech_archive(part) for part in UTTERANCES}


def _serve(http_server, archives) -> tuple[str, dict[str, str]]:
    for part, payload in archives.items():
        http_server.add(f"/12/{part}.tar.gz", payload)
    return http_server.url("/12/"), {p: hashlib.sha256(a).hexdigest() for p, a in archives.items()}


def test_prepare_two_parts(http_server, archives, tmp_path):
    base, sums = _serve(http_server, archives)
    http_server.drop_after["/12/dev-clean.tar.gz"] = [500]  # the first response hangs up: resumed
    manifest_dir = ls.prepare(
        tmp_path, ["train-clean-100", "dev-clean"], url_base=base, sha256=sums, max_duration=3.0, quiet=True
    )
    assert http_server.range_requests("/12/dev-clean.tar.gz") == ["bytes=500-"]

    train = read_manifest(manifest_dir / "train-clean-100.jsonl")
    assert [u.id for u in train] == ["19-198-0000", "19-198-0002", "26-495-0000"]
    assert [u.text for u in train] == [
        "northanger abbey",
        "that was done by her father's sister",
        "and the children came",
    ]
    assert [u.duration for u in train] == [1.5, 2.5, 2.0]
    assert [u.speaker for u in train] == ["19", "19", "26"]
    assert all(u.audio.endswith(".flac") and sf.info(u.audio).samplerate == 16000 for u in train)
    assert read_marker(tmp_path, "manifest-train-clean-100")["dropped"] == 2

    dev = read_manifest(manifest_dir / "dev-clean.jsonl")
    assert [u.duration for u in dev] == [0.5, 3.5]  # evaluation parts are not filtered
    assert read_vocabulary(manifest_dir / "chars.txt") == list(CHAR_VOCABULARY)
    assert (tmp_path / "LibriSpeech" / "train-clean-100" / "19" / "198").is_dir()  # both parts side by side
    assert (tmp_path / "LibriSpeech" / "dev-clean" / "84").is_dir()

    # a re-run downloads nothing and keeps the manifests
    requests = len(http_server.requests)
    mtime = (manifest_dir / "dev-clean.jsonl").stat().st_mtime_ns
    ls.prepare(tmp_path, ["train-clean-100", "dev-clean"], url_base=base, quiet=True)
    assert len(http_server.requests) == requests
    assert (manifest_dir / "dev-clean.jsonl").stat().st_mtime_ns == mtime


def test_cli_reports_the_filtered_count(http_server, archives, tmp_path, capsys):
    import argparse

    from speechrnn.commands.prepare import librispeech as command

    base, sums = _serve(http_server, archives)
    parser = argparse.ArgumentParser()
    command.add_prepare_arguments(parser)
    args = parser.parse_args(
        ["--root", str(tmp_path), "--parts", "train-clean-100", "--url-base", base, "--max-duration", "3"]
        + ["--sha256", f"train-clean-100={sums['train-clean-100']}"]
    )
    assert command.run_prepare(args) == 0
    out = capsys.readouterr().out
    assert "train-clean-100: 3 utterances" in out and "dropped 2 outside [1, 3] s" in out


def test_checksum_mismatch(http_server, archives, tmp_path):
    base, _ = _serve(http_server, archives)
    with pytest.raises(DataError, match="checksum mismatch"):
        ls.prepare(tmp_path, ["dev-clean"], url_base=base, sha256={"dev-clean": "f" * 64}, quiet=True)
    assert not list(tmp_path.glob("dev-clean.tar.gz*")) and not is_done(tmp_path, "download-dev-clean")


def test_default_url_base_checks_the_published_checksums(http_server, archives, tmp_path, monkeypatch):
    base, _ = _serve(http_server, archives)
    monkeypatch.setattr(ls, "URL_BASE", base)
    with pytest.raises(DataError, match=ls.ARCHIVES["dev-clean"][1]):
        ls.prepare(tmp_path, ["dev-clean"], url_base=base, quiet=True)


def test_link_leaving_the_folder_is_refused(http_server, tmp_path):
    payload = librispeech_archive("dev-clean")
    buffer = io.BytesIO(payload)
    # append a symlink pointing outside the extraction folder
    evil = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="r:gz") as source, tarfile.open(fileobj=evil, mode="w:gz") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        link = tarfile.TarInfo("LibriSpeech/dev-clean/84/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../../etc/passwd"
        target.addfile(link)
    url_base = http_server.url("/")
    http_server.add("/dev-clean.tar.gz", evil.getvalue())
    with pytest.raises(DataError, match="passwd"):
        ls.prepare(tmp_path, ["dev-clean"], url_base=url_base, quiet=True)
    assert not (tmp_path / "LibriSpeech").exists() and not is_done(tmp_path, "extract-dev-clean")


def test_bad_requests_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="unknown LibriSpeech part 'train-clean-99'"):
        ls.prepare(tmp_path, ["train-clean-99"], quiet=True)
    with pytest.raises(DataError, match="--min-duration 5"):
        ls.prepare(tmp_path, ["dev-clean"], min_duration=5, max_duration=2, quiet=True)
    with pytest.raises(DataError, match=r"x\.trans\.txt:3: character '#'"):
        check_text("HELLO # WORLD", where="x.trans.txt:3")
    assert check_text("  DON'T\tStop ") == "don't stop"


def test_recipe_run_sh_prepares_trains_and_evaluates(http_server, archives, tmp_path):
    """run.sh stages 0-2 on the fixture parts: the 22M-parameter recipe config shrunk with --set, one epoch."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from speechrnn.model import load_model

    base, _ = _serve(http_server, archives)
    data, exp = tmp_path / "data", tmp_path / "exp"
    recipe = Path(__file__).resolve().parents[1] / "recipes" / "librispeech" / "run.sh"
    shrink = {
        "data.num_workers": 0,
        "data.max_seconds": 10.0,
        "model.hidden_size": 16,
        "model.num_layers": 1,
        "model.conv_channels": 4,
        "optim.warmup_steps": 1,
        "train.epochs": 1,
    }
    command = ["bash", str(recipe), "--data", str(data), "--exp", str(exp), "--url-base", base]
    command += ["--parts", "train-clean-100,dev-clean", "--test-sets", "dev-clean", "--"]
    command += [a for k, v in shrink.items() for a in ("--set", f"{k}={v}")]
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "dropped 1 outside [1, 20] s" in result.stdout  # run.sh filters with --min-duration 1 --max-duration 20

    model = load_model(exp / "best.pt")
    assert model.labels == list(CHAR_VOCABULARY) and model.config.unit == "char"
    assert model.config.subsampling == "conv" and model.config.bidirectional
    report = json.loads((exp / "eval_dev-clean" / "report.json").read_text())
    assert report["num_utterances"] == 2
    assert {"greedy", "beam"} <= set(report["metrics"]) and report["metrics"]["greedy"]["wer"] >= 0
