"""Bundled models by name ("digits", "commands"), ``speechrnn transcribe --model NAME``, and the
real-speech benchmark ``scripts/eval_real.py`` on shared real clips."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from speechrnn.data.realspeech import DIGITS, ENV, TEST_SET, commands_set, digits_set, split_set
from speechrnn.data.sc_layouts import TASK12_LABELS
from speechrnn.data.speakers import split_key, split_of
from speechrnn.errors import ModelError
from speechrnn.model import BUNDLED_MODELS, ModelConfig, SpeechRNN, load_model, resolve_model, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get(ENV) or ROOT.parent / "shared/data/realspeech")
needs_shared = pytest.mark.skipif(not (SHARED / TEST_SET).is_dir(), reason=f"shared real speech not at {SHARED}")
COMMANDS_PT = BUNDLED_MODELS["commands"]
needs_commands = pytest.mark.skipif(
    not COMMANDS_PT.is_file(), reason=f"bundled commands model {COMMANDS_PT} not built yet (issue 15 item 3)"
)
needs_digits = pytest.mark.skipif(not BUNDLED_MODELS["digits"].is_file(), reason="bundled digits model missing")


def _tiny_classifier(path: Path) -> Path:
    """An untrained 12-class BiGRU classifier (enough to exercise the plumbing)."""
    torch.manual_seed(0)
    config = ModelConfig(head="classify", labels=list(TASK12_LABELS), hidden_size=16, num_layers=1, dropout=0.0)
    save_checkpoint(path, SpeechRNN(config))
    return path


def _transcribe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "speechrnn", "transcribe", *args], capture_output=True, text=True, timeout=300
    )


# --------------------------------------------------------------------------- names


@needs_digits
def test_digits_is_the_default_name():
    assert resolve_model() == resolve_model("digits") == BUNDLED_MODELS["digits"]
    default, named = load_model(), load_model("digits")
    assert default.config == named.config and default.config.head == "ctc"
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), named.state_dict().values()))


def test_a_path_still_works_as_str_or_path(tmp_path):
    path = _tiny_classifier(tmp_path / "mine.pt")
    assert load_model(str(path)).labels == load_model(path).labels == list(TASK12_LABELS)
    with pytest.raises(ModelError, match=r"none\.pt: no such model file"):
        load_model(tmp_path / "none.pt")


def test_an_unknown_name_lists_the_bundled_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError) as error:
        load_model("comands")
    assert str(error.value) == "unknown model 'comands': no such file, and not a bundled model (digits, commands)"
    (tmp_path / "comands").write_bytes(b"")  # a file of that name is a path again
    with pytest.raises(ModelError, match="comands: not a speechrnn checkpoint"):
        load_model("comands")
    result = _transcribe("--model", "nosuch", str(ROOT / "speechrnn/assets/example_digits.wav"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "speechrnn transcribe: error: unknown model 'nosuch': no such file, and not a bundled model (digits, commands)"
    ]


def test_the_commands_name_loads_the_commands_asset(tmp_path, monkeypatch):
    if not COMMANDS_PT.is_file():
        with pytest.raises(ModelError, match="bundled model 'commands' missing at .*commands.pt"):
            load_model("commands")
    monkeypatch.setitem(BUNDLED_MODELS, "commands", _tiny_classifier(tmp_path / "commands.pt"))
    model = load_model("commands")
    assert model.config.head == "classify" and model.labels == list(TASK12_LABELS)


# --------------------------------------------------------------------------- transcribe on real clips


def _shared_clips(label_set, per_label: int = 1) -> list:
    """The first ``per_label`` valid-split clips of each label (shared data)."""
    clips, seen = [], {}
    for clip in split_set(label_set(SHARED), "valid"):
        label = clip.utterance.label
        if seen.get(label, 0) < per_label:
            seen[label] = seen.get(label, 0) + 1
            clips.append(clip)
    return clips


@needs_shared
def test_a_classifier_prints_labels_and_json_label_score(tmp_path):
    model = _tiny_classifier(tmp_path / "c.pt")
    paths = [c.utterance.audio for c in _shared_clips(commands_set)[:4]]
    text = _transcribe("--model", str(model), *paths)
    assert text.returncode == 0, text.stderr
    printed = [line.split("\t") for line in text.stdout.splitlines()]
    assert [p for p, _ in printed] == paths and all(label in TASK12_LABELS for _, label in printed)
    as_json = _transcribe("--model", str(model), "--format", "json", *paths)
    objects = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [o["label"] for o in objects] == [label for _, label in printed]
    for o in objects:
        assert o["text"] == o["label"] and "words" not in o
        assert o["score"] == pytest.approx(o["scores"][o["label"]]) == pytest.approx(max(o["scores"].values()))


@needs_shared
@needs_commands
def test_transcribe_model_commands_gives_the_labels_of_real_clips():
    clips = _shared_clips(commands_set, per_label=4)  # 48 clips of validation speakers
    result = _transcribe("--model", "commands", "--format", "json", *[c.utterance.audio for c in clips])
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert {o["label"] for o in objects} <= set(TASK12_LABELS)
    correct = sum(o["label"] == c.utterance.label for o, c in zip(objects, clips, strict=True))
    # 40 of these 48 (83 %; two of the first speakers are hard), 91 % over the whole validation split
    assert correct >= 0.8 * len(clips), [(c.utterance.id, o["label"]) for o, c in zip(objects, clips)]


@needs_shared
@needs_digits
def test_the_digits_model_on_real_digit_clips():
    clips = _shared_clips(digits_set, per_label=2)
    result = _transcribe("--model", "digits", *[c.utterance.audio for c in clips])
    assert result.returncode == 0, result.stderr
    texts = [line.split("\t")[1] for line in result.stdout.splitlines()]
    correct = sum(t == c.utterance.text for t, c in zip(texts, clips, strict=True))
    assert correct >= 0.7 * len(clips), list(zip([c.utterance.text for c in clips], texts))  # the old model: 22/28


# --------------------------------------------------------------------------- scripts/eval_real.py


def _eval_real(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / "eval_real.py"), "--data-root", str(SHARED), "--quiet", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


@needs_shared
def test_eval_real_scores_a_classifier_per_class_and_source(tmp_path):
    model = _tiny_classifier(tmp_path / "tiny.pt")
    result = _eval_real("--model", str(model), "--per-class", "2", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "out" / "tiny"
    report = json.loads((folder / "report.json").read_text())
    predictions = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    n = report["num_utterances"]
    per_group = Counter((c.source, c.utterance.label) for c in split_set(commands_set(SHARED), "valid"))
    assert n == len(predictions) == sum(min(2, k) for k in per_group.values())  # --per-class 2 of each source
    assert report["split"] == "valid" and report["task"].startswith("commands")
    assert sum(r["total"] for r in report["per_source"].values()) == n
    assert set(report["per_source"]) == {"sc_v0.02_test", "sc_v0.01_sample"}
    assert set(report["per_class"]) == set(TASK12_LABELS)
    assert report["accuracy"] == pytest.approx(sum(p["prediction"] == p["reference"] for p in predictions) / n)
    assert sum(map(sum, report["confusion_matrix"]["counts"])) == n
    assert (folder / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"
    for p in predictions:  # speakers (silence: files, "_silence_/<n>") of the valid split only
        assert split_of(p["speaker"] or p["id"]) == "valid"
    assert f"accuracy {100 * report['accuracy']:.2f}%" in result.stdout and "per source" in result.stdout
    low, high = report["interval"]  # 95 %, speakers resampled
    assert report["interval_level"] == 0.95 and low <= report["accuracy"] <= high
    assert f"95 % interval {100 * low:.1f}-{100 * high:.1f} %, speakers resampled" in result.stdout
    for source, row in report["per_source"].items():  # no interval from fewer than 5 speakers
        speakers = {p["speaker"] or p["id"] for p in predictions if p["source"] == source}
        if len(speakers) < 5:
            assert row["interval"] is None
        else:
            assert row["interval"][0] <= row["accuracy"] <= row["interval"][1]


def _eval_real_module():
    spec = importlib.util.spec_from_file_location("eval_real", ROOT / "scripts" / "eval_real.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eval_real_gives_checkpoints_that_share_a_file_name_their_own_folders(tmp_path):
    folders = _eval_real_module().output_folders(["digits", "exp/a/best.pt", "exp/b/best.pt", "c/last.pt"], tmp_path)
    assert folders == {"digits": tmp_path / "digits", "exp/a/best.pt": tmp_path / "a_best",
                       "exp/b/best.pt": tmp_path / "b_best", "c/last.pt": tmp_path / "last"}  # fmt: skip


@needs_shared
def test_eval_real_writes_both_reports_of_two_best_pt(tmp_path):
    """exp/a/best.pt and exp/b/best.pt: neither report overwrites the other."""
    models = [_tiny_classifier((tmp_path / d).mkdir() or tmp_path / d / "best.pt") for d in ("a", "b")]
    result = _eval_real("--model", *map(str, models), "--per-class", "1", "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    for name, model in zip(("a_best", "b_best"), models, strict=True):
        assert json.loads((tmp_path / "out" / name / "report.json").read_text())["model"] == str(model)


@needs_shared
@needs_digits
def test_eval_real_scores_the_digits_model_by_exact_transcript(tmp_path):
    result = _eval_real("--model", "digits", "--split", "all", "--per-class", "1", "--output-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "digits" / "report.json").read_text())
    assert report["head"] == "ctc" and report["decoder"] == "greedy" and report["num_utterances"] == 20
    assert list(report["per_class"]) == list(DIGITS)
    assert report["confusion_matrix"]["labels"] == [*DIGITS, "(other)"]
    assert report["accuracy"] >= 0.6  # the model before issue 15: 15/20
    # other words and noise, where no digit is the right answer: one clip per class and source
    other = report["other_speech"]
    per_group = {(c.source, c.utterance.label) for c in commands_set(SHARED) if c.utterance.text not in DIGITS}
    assert other["num_utterances"] == len(per_group)
    heard = sum(other["digits_heard"].values())
    assert set(other["digits_heard"]) <= set(DIGITS) and (heard > 0) == (other["empty"] < other["num_utterances"])
    assert f"no digit in {100 * other['empty_rate']:.2f}% ({other['empty']})" in result.stdout


@needs_shared
def test_eval_real_with_a_closed_stdout_writes_its_reports_and_ends_quietly_with_141(tmp_path):
    """`eval_real.py ... | head -1` where the reader has gone before the summary: no traceback."""
    model = _tiny_classifier(tmp_path / "tiny.pt")
    command = [sys.executable, str(ROOT / "scripts" / "eval_real.py"), "--data-root", str(SHARED), "--quiet"]
    command += ["--model", str(model), "--per-class", "1", "--output-dir", str(tmp_path / "out")]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        process.stdout.close()  # the reader goes away before the first line
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=300) == 141, stderr
    assert stderr == ""  # and every report was written before the summary that found no reader
    assert {p.name for p in (tmp_path / "out" / "tiny").iterdir()} >= {"report.json", "predictions.jsonl"}


@needs_shared
def test_eval_real_reports_a_missing_model_in_one_line(tmp_path):
    result = _eval_real("--model", str(tmp_path / "none.pt"), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"eval_real: error: {tmp_path / 'none.pt'}: no such model file"]
    assert not (tmp_path / "out").exists()


def test_eval_real_without_the_data_is_one_line(tmp_path):
    command = [sys.executable, str(ROOT / "scripts" / "eval_real.py"), "--data-root", str(tmp_path / "none")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("eval_real: error: real speech data not found")


def test_the_valid_split_of_the_benchmark_is_speaker_disjoint_from_train():
    if not (SHARED / TEST_SET).is_dir():
        pytest.skip(f"shared real speech not at {SHARED}")
    clips = commands_set(SHARED)
    valid = {split_key(c.utterance) for c in split_set(clips, "valid")}
    train = {split_key(c.utterance) for c in split_set(clips, "train")}
    assert valid and train and not valid & train
    assert len(split_set(clips, "all")) == len(clips) == 2963 + 192
