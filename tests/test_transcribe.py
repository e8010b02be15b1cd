"""``speechrnn transcribe``: CLI mechanics through a real subprocess, output writers, the bundled model."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speechrnn.decode import Transcription, WordTiming
from speechrnn.errors import ConfigError
from speechrnn.model import BUNDLED_MODEL, ModelConfig, SpeechRNN, load_model, save_checkpoint
from speechrnn.writers import FORMATS, format_timestamp, get_writer, segments

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "speechrnn" / "assets" / "example_digits.wav"
EXAMPLE_TEXT = "four two seven one"  # what scripts/make_example.py synthesised
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def speechrnn(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "speechrnn", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny random CTC digits model and a tiny yes/no classifier, as checkpoints."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    ctc = SpeechRNN(ModelConfig(labels=DIGITS, hidden_size=16, num_layers=1, dropout=0.0))
    classify = SpeechRNN(ModelConfig(head="classify", labels=["no", "yes"], hidden_size=16, num_layers=1))
    save_checkpoint(folder / "ctc.pt", ctc)
    save_checkpoint(folder / "classify.pt", classify)
    return {"ctc": folder / "ctc.pt", "classify": folder / "classify.pt"}


@pytest.fixture(scope="module")
def expected(models) -> dict[str, Transcription]:
    model = load_model(models["ctc"])
    return {
        "greedy": model.transcribe(EXAMPLE),
        "beam": model.transcribe(EXAMPLE, method="beam", beam_size=4),
    }


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


# --- CLI through a subprocess -------------------------------------------------------------------


def test_single_file_prints_text(models, expected):
    done = speechrnn("transcribe", EXAMPLE, "--model", models["ctc"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected["greedy"].text + "\n"
    assert done.stderr == ""


def test_several_files_prefix_path_and_beam_decoder(models, expected, tmp_path):
    copy = tmp_path / "copy.wav"
    copy.write_bytes(EXAMPLE.read_bytes())
    done = speechrnn("transcribe", EXAMPLE, copy, "--model", models["ctc"], "--decoder", "beam", "--beam-size", "4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"{EXAMPLE}\t{expected['beam'].text}", f"{copy}\t{expected['beam'].text}"]


def test_bad_file_among_good_ones(models, expected, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all\n")
    missing = tmp_path / "missing.wav"
    done = speechrnn("transcribe", EXAMPLE, bad, missing, EXAMPLE, "--model", models["ctc"], "--format", "json")
    assert done.returncode == 1
    errors = error_lines(done.stderr)
    assert len(errors) == 2, done.stderr
    assert errors[0].startswith(f"speechrnn transcribe: error: {bad}: ")
    assert errors[1] == f"speechrnn transcribe: error: {missing}: no such file"
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["path"] for r in results] == [str(EXAMPLE), str(EXAMPLE)]
    greedy = expected["greedy"]
    for result in results:
        assert result["text"] == greedy.text
        assert result["duration"] == pytest.approx(greedy.duration, abs=1e-3)
        assert [w["word"] for w in result["words"]] == greedy.text.split()
        assert all(0 <= w["start"] < w["end"] <= greedy.duration + 0.1 for w in result["words"])


def test_closed_stdout_ends_the_batch_quietly_with_141(models):
    """`speechrnn transcribe ... | head -1`: once the reader has gone, no error line blaming a file and
    no traceback; the exit status is a Unix tool's killed by SIGPIPE (128 + 13)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for extra in ([], ["--stream"]):
        command = [sys.executable, "-m", "speechrnn", "transcribe", "--model", str(models["ctc"]), *extra]
        with subprocess.Popen(
            [*command, *[str(EXAMPLE)] * 40], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        ) as process:
            first = process.stdout.readline()
            process.stdout.close()  # the reader goes away after one line
            stderr = process.stderr.read().decode()
            assert process.wait(timeout=300) == 141, stderr
        assert first.strip() and stderr == ""


def test_classifier_json_has_label_and_score(models):
    done = speechrnn("transcribe", EXAMPLE, "--model", models["classify"], "--format", "json")
    assert done.returncode == 0, done.stderr
    (result,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert result["label"] in ("no", "yes") and result["text"] == result["label"]
    assert result["score"] == pytest.approx(max(result["scores"].values()))
    assert sum(result["scores"].values()) == pytest.approx(1.0)


def test_output_dir_writes_every_format(models, expected, tmp_path):
    out = tmp_path / "out"
    done = speechrnn("transcribe", EXAMPLE, "--model", models["ctc"], "--output-dir", out, "--format", "all")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == sorted(f"example_digits.{ext}" for ext in FORMATS)
    text = expected["greedy"].text
    assert (out / "example_digits.txt").read_text() == text + "\n"
    assert json.loads((out / "example_digits.json").read_text())["text"] == text
    srt = (out / "example_digits.srt").read_text()
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n", srt)
    assert (out / "example_digits.vtt").read_text().startswith("WEBVTT\n\n00:00:")
    tsv = (out / "example_digits.tsv").read_text().splitlines()
    assert tsv[0] == "start\tend\ttext"
    if text:
        assert " ".join(row.split("\t")[2] for row in tsv[1:]) == text


def test_model_errors_are_one_line(tmp_path):
    missing = tmp_path / "nothing.pt"
    done = speechrnn("transcribe", EXAMPLE, "--model", missing)
    assert done.returncode == 1
    assert error_lines(done.stderr) == [f"speechrnn transcribe: error: {missing}: no such model file"]
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    done = speechrnn("transcribe", EXAMPLE, "--model", garbage, "--format", "srt")  # srt: checked first
    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        "speechrnn transcribe: error: --format srt needs --output-dir (stdout takes txt or json)"
    ]
    done = speechrnn("transcribe", EXAMPLE, "--model", garbage)
    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert line.startswith(f"speechrnn transcribe: error: {garbage}: not a speechrnn checkpoint")
    assert done.stdout == ""


def test_unwritable_output_dir_fails_each_file_in_one_line(models, tmp_path, capsys):
    from speechrnn.cli import main

    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should go")
    code = main(["transcribe", str(EXAMPLE), str(EXAMPLE), "--model", str(models["ctc"]), "--output-dir", str(blocker)])
    captured = capsys.readouterr()
    assert code == 1
    lines = error_lines(captured.err)
    assert len(lines) == 2
    assert all(re.fullmatch(rf"speechrnn transcribe: error: {EXAMPLE}: [A-Za-z ]+: {blocker}", line) for line in lines)
    assert captured.out == ""


def test_same_named_inputs_do_not_overwrite_each_other(models, tmp_path, capsys):
    from speechrnn.cli import main

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(EXAMPLE, tmp_path / folder / "take.wav")
    first, second, out = tmp_path / "a/take.wav", tmp_path / "b/take.wav", tmp_path / "out"
    code = main(["transcribe", str(first), str(second), str(first), "--model", str(models["ctc"]),
                 "--output-dir", str(out), "--quiet"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert error_lines(captured.err) == [
        f"speechrnn transcribe: error: {second}: its output {out / 'take'}.* would overwrite that of {first} "
        "(same file name; transcribe it into another --output-dir)"
    ]
    assert sorted(p.name for p in out.iterdir()) == ["take.txt"]  # the first input's, written once


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason=f"bundled model {BUNDLED_MODEL.name} not trained yet")
def test_bundled_model_transcribes_example():
    done = speechrnn("transcribe", "speechrnn/assets/example_digits.wav", cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == EXAMPLE_TEXT


# --- writers (in process) -------------------------------------------------------------------------


def ctc_result() -> Transcription:
    words = (WordTiming("four", 0.3, 0.6), WordTiming("two", 0.7, 0.9), WordTiming("seven", 2.5, 2.9))
    return Transcription(text="four two seven", words=words, duration=3.2)


def test_segments_split_at_long_pauses():
    result = ctc_result()
    assert [(s.start, s.end, s.text) for s in segments(result)] == [(0.3, 0.9, "four two"), (2.5, 2.9, "seven")]
    assert [s.text for s in segments(result, max_gap=5.0)] == ["four two seven"]
    assert segments(Transcription(text="", duration=1.0)) == []
    label = Transcription(text="yes", label="yes", score=0.9, scores={"yes": 0.9, "no": 0.1}, duration=1.0)
    assert [(s.start, s.end, s.text) for s in segments(label)] == [(0.0, 1.0, "yes")]


def test_format_timestamp():
    assert format_timestamp(0.0) == "00:00:00.000"
    assert format_timestamp(3725.5004, decimal_marker=",") == "01:02:05,500"
    assert format_timestamp(65.25, always_include_hours=False) == "01:05.250"


def test_writer_refuses_a_second_input_with_the_same_file_name(tmp_path):
    write = get_writer("all", tmp_path / "out")
    written = write(ctc_result(), "a/take.wav")
    assert write(ctc_result(), "a/take.wav") == written  # the same input again rewrites its own files
    with pytest.raises(ConfigError, match=r"^b/take\.flac: its output .*take\.\* would overwrite that of a/take\.wav"):
        write(Transcription(text="nine", duration=1.0), "b/take.flac")
    assert (tmp_path / "out/take.txt").read_text() == "four two seven\n"


def test_writers_contents(tmp_path):
    written = get_writer("all", tmp_path)(ctc_result(), "/data/clip.flac")
    assert sorted(p.name for p in written) == sorted(f"clip.{ext}" for ext in FORMATS)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no temp files
    assert (tmp_path / "clip.srt").read_text() == (
        "1\n00:00:00,300 --> 00:00:00,900\nfour two\n\n2\n00:00:02,500 --> 00:00:02,900\nseven\n"
    )
    assert (tmp_path / "clip.vtt").read_text() == (
        "WEBVTT\n\n00:00:00.300 --> 00:00:00.900\nfour two\n\n00:00:02.500 --> 00:00:02.900\nseven\n"
    )
    assert (tmp_path / "clip.tsv").read_text() == "start\tend\ttext\n300\t900\tfour two\n2500\t2900\tseven\n"
    entry = json.loads((tmp_path / "clip.json").read_text())
    assert entry["path"] == "/data/clip.flac" and entry["duration"] == 3.2
    assert entry["words"][2] == {"word": "seven", "start": 2.5, "end": 2.9}


def test_classifier_tsv_and_unknown_format(tmp_path):
    result = Transcription(text="yes", label="yes", score=0.875, scores={"yes": 0.875, "no": 0.125}, duration=1.0)
    (path,) = get_writer("tsv", tmp_path)(result, "a.wav")
    assert path.read_text() == "start\tend\ttext\tscore\n0\t1000\tyes\t0.8750\n"
    with pytest.raises(ConfigError, match="unknown output format 'doc'"):
        get_writer("doc", tmp_path)
