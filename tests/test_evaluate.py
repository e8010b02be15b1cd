"""speechrnn evaluate: metric helpers on known cases, batched evaluation equal to per-file results, CLI."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.cli import main
from speechrnn.data.manifest import Utterance, write_manifest
from speechrnn.errors import ConfigError, DataError
from speechrnn.evaluate import evaluate, format_summary, write_report
from speechrnn.metrics import (
    EditCounts,
    char_counts,
    classification_scores,
    confusion_matrix,
    error_rates,
    format_class_table,
    plot_confusion_matrix,
    speaker_bootstrap_interval,
    word_counts,
)
from speechrnn.model import ModelConfig, SpeechRNN, load_model, save_checkpoint

torch.set_num_threads(1)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- fixtures ------------------------------------------------------------------------------------


def tiny_model(head: str, labels: list[str], seed: int = 0) -> SpeechRNN:
    torch.manual_seed(seed)
    config = ModelConfig(head=head, labels=labels, hidden_size=24, num_layers=2, normalization="utterance")
    return SpeechRNN(config).eval()


@pytest.fixture
def recordings(tmp_path) -> list[Utterance]:
    """Eight WAVs of different lengths (0.2-1.6 s) and content; one is 8 kHz (resampled on load)."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "wavs"
    folder.mkdir()
    utterances = []
    for i, seconds in enumerate([0.9, 0.2, 1.6, 0.5, 1.1, 0.35, 1.3, 0.7]):
        rate = 8000 if i == 3 else 16000
        t = np.arange(int(seconds * rate)) / rate
        tone = 0.3 * np.sin(2 * np.pi * (200 + 150 * i) * t) * np.hanning(len(t))
        audio = (tone + 0.02 * (i + 1) * rng.standard_normal(len(t))).astype(np.float32)
        path = folder / f"utt{i}.wav"
        sf.write(path, audio, rate, subtype="PCM_16")
        utterances.append(Utterance(audio=str(path), duration=seconds, speaker="s", id=f"utt{i}"))
    return utterances


def with_fields(utterances: list[Utterance], **per_field: list) -> list[Utterance]:
    return [
        Utterance(**{**u.__dict__, **{name: values[i] for name, values in per_field.items()}})
        for i, u in enumerate(utterances)
    ]


# --- metric helpers ------------------------------------------------------------------------------


def test_word_and_char_counts_on_known_pairs():
    refs = ["one two three", "four five", ""]
    hyps = ["one too three four", "  five ", "six"]
    assert word_counts(refs[0], hyps[0]) == EditCounts(substitutions=1, deletions=0, insertions=1, hits=2)
    assert word_counts(refs[1], hyps[1]) == EditCounts(substitutions=0, deletions=1, insertions=0, hits=1)
    assert word_counts(refs[2], hyps[2]) == EditCounts(insertions=1)
    result = error_rates(refs, hyps)
    assert result["words"] == {
        "substitutions": 1,
        "deletions": 1,
        "insertions": 2,
        "hits": 3,
        "reference_length": 5,
        "errors": 4,
    }
    assert result["wer"] == pytest.approx(4 / 5)
    # characters: "two"->"too" (1) + " four" (5); "four " deleted (5); "six" (3); refs 13 + 9 + 0 chars
    assert char_counts(refs[0], hyps[0]).errors == 6
    assert result["chars"]["errors"] == 14
    assert result["chars"]["reference_length"] == 22
    assert result["cer"] == pytest.approx(14 / 22)


def test_whitespace_is_normalised_and_perfect_match_scores_zero():
    result = error_rates(["  seven   eight "], ["seven eight"])
    assert result["wer"] == 0.0 and result["cer"] == 0.0
    assert EditCounts(insertions=2).rate == 2.0  # empty reference counts as length 1


def test_classification_scores_from_known_matrix():
    refs = [0, 0, 0, 1, 1, 1, 2]
    preds = [0, 0, 1, 1, 1, 1, 0]
    matrix = confusion_matrix(refs, preds, 4)
    assert matrix.tolist() == [[2, 1, 0, 0], [0, 3, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    scores = classification_scores(matrix, ["a", "b", "c", "d"])
    assert scores["accuracy"] == pytest.approx(5 / 7)
    a, b, c, d = (scores["per_class"][k] for k in "abcd")
    assert (a["precision"], a["recall"], a["f1"], a["support"]) == pytest.approx((2 / 3, 2 / 3, 2 / 3, 3))
    assert (b["precision"], b["recall"], b["f1"], b["support"]) == pytest.approx((3 / 4, 1.0, 6 / 7, 3))
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 1)  # never predicted
    assert d["support"] == 0
    # macro averages over classes present in the references (a, b, c), not d
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 6 / 7 + 0) / 3)
    assert scores["macro_recall"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    table = format_class_table(scores)
    assert "accuracy 0.7143 (7 utterances)" in table
    assert table.splitlines()[2].split() == ["b", "0.750", "1.000", "0.857", "3"]


def _slow_speaker_bootstrap(correct, speakers, level, draws, seed):
    """The cluster bootstrap written out speaker by speaker, with the same random draws."""
    names = sorted(set(speakers))
    picks = np.random.default_rng(seed).integers(0, len(names), size=(draws, len(names)))
    accuracies = []
    for row in picks:
        clips = [c for i in row for c, s in zip(correct, speakers) if s == names[i]]
        accuracies.append(sum(clips) / len(clips))
    tail = 100 * (1 - level) / 2
    return tuple(np.percentile(accuracies, [tail, 100 - tail]))


def test_speaker_bootstrap_interval_equals_resampling_speaker_by_speaker():
    rng = np.random.default_rng(3)
    speakers = [f"s{rng.integers(0, 9)}" for _ in range(60)]
    correct = [bool(rng.random() < 0.8) for _ in speakers]
    low, high = speaker_bootstrap_interval(correct, speakers, level=0.9, draws=300, seed=5)
    assert (low, high) == pytest.approx(_slow_speaker_bootstrap(correct, speakers, 0.9, 300, 5), abs=1e-12)
    assert low <= sum(correct) / len(correct) <= high
    assert speaker_bootstrap_interval(correct, speakers, level=0.9, draws=300, seed=5) == (low, high)  # seeded


def test_speaker_bootstrap_interval_of_a_ratio_weights_clips_by_their_totals():
    """WER: word errors over reference words, summed over the drawn speakers' clips."""
    rng = np.random.default_rng(4)
    speakers = [f"s{rng.integers(0, 6)}" for _ in range(40)]
    words = [int(rng.integers(1, 8)) for _ in speakers]
    errors = [int(rng.integers(0, w + 1)) for w in words]
    names = sorted(set(speakers))
    picks = np.random.default_rng(2).integers(0, len(names), size=(200, len(names)))
    rates = []
    for row in picks:
        drawn = [i for n in row for i, s in enumerate(speakers) if s == names[n]]
        rates.append(sum(errors[i] for i in drawn) / sum(words[i] for i in drawn))
    expected = tuple(np.percentile(rates, [2.5, 97.5]))
    interval = speaker_bootstrap_interval(errors, speakers, draws=200, seed=2, totals=words)
    assert interval == pytest.approx(expected, abs=1e-12)
    assert interval[0] <= sum(errors) / sum(words) <= interval[1]


def test_speaker_bootstrap_interval_widens_when_a_speakers_clips_go_together():
    """20 speakers of 10 clips, 16 speakers all right and 4 all wrong: the clips are not 200
    independent trials, so the interval is wider than if every clip were its own speaker."""
    speakers = [f"s{i // 10}" for i in range(200)]
    correct = [i < 160 for i in range(200)]
    clustered = speaker_bootstrap_interval(correct, speakers)
    independent = speaker_bootstrap_interval(correct, [str(i) for i in range(200)])
    assert clustered[0] < independent[0] <= 0.8 <= independent[1] < clustered[1]
    assert speaker_bootstrap_interval([True] * 5, list("aabbc")) == (1.0, 1.0)  # nothing to vary


@pytest.mark.parametrize(
    ("correct", "speakers", "level", "message"),
    [([True], ["a", "b"], 0.95, "1 outcomes but 2 speakers"), ([], [], 0.95, "no clips"),
     ([True], ["a"], 1.0, "level must be in (0, 1)")],
)  # fmt: skip
def test_speaker_bootstrap_interval_refuses_bad_input(correct, speakers, level, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        speaker_bootstrap_interval(correct, speakers, level)


def test_confusion_png_is_a_valid_image_written_atomically(tmp_path):
    matrix = np.array([[5, 1], [2, 7]])
    path = plot_confusion_matrix(matrix, ["yes", "no"], tmp_path / "out" / "cm.png", title="t")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert [p.name for p in path.parent.iterdir()] == ["cm.png"]  # no temp file left


# --- evaluate(): batched results equal per-file transcription --------------------------------------


def test_classify_evaluation_matches_per_file_predictions(recordings):
    labels = ["down", "go", "up"]
    model = tiny_model("classify", labels, seed=3)
    per_file = [model.transcribe(u.audio).label for u in recordings]
    # references: right for utterances 0, 2, 4, 6; a different (known) label for the others
    references = [p if i % 2 == 0 else labels[(labels.index(p) + 1) % 3] for i, p in enumerate(per_file)]
    utterances = with_fields(recordings, label=references)

    report = evaluate(model, utterances, max_seconds=3.5, quiet=True)  # several padded batches

    assert report["timing"]["batches"] > 2
    assert [p["prediction"] for p in report["predictions"]] == per_file
    metrics = report["metrics"]
    assert metrics["accuracy"] == 0.5
    expected = np.zeros((3, 3), dtype=int)
    for ref, pred in zip(references, per_file, strict=True):
        expected[labels.index(ref), labels.index(pred)] += 1
    assert metrics["confusion_matrix"] == {"labels": labels, "counts": expected.tolist()}
    assert metrics["per_class"] == classification_scores(expected, labels)["per_class"]
    assert report["num_utterances"] == 8 and report["device"] == "cpu" and report["head"] == "classify"
    timing = report["timing"]
    assert timing["audio_seconds"] == pytest.approx(sum(u.duration for u in recordings), abs=1e-3)
    assert timing["real_time_factor"] == pytest.approx(timing["seconds"] / timing["audio_seconds"])
    assert "accuracy 0.5000 (8 utterances)" in format_summary(report)
    # one speaker: no interval; eight (two clips each of four right and four wrong speakers): resampled
    assert metrics["accuracy_interval"] is None and "interval: none (1 speakers" in format_summary(report)
    speakers = [f"p{i // 2}" if i % 2 == 0 else f"q{i // 2}" for i in range(8)]
    report = evaluate(model, with_fields(utterances, speaker=speakers), quiet=True)
    right = [ref == pred for ref, pred in zip(references, per_file, strict=True)]
    low, high = speaker_bootstrap_interval(right, speakers)
    assert report["metrics"]["accuracy_interval"] == [low, high] and low < 0.5 < high
    assert f"95 % interval {100 * low:.2f}-{100 * high:.2f}% (8 speakers resampled)" in format_summary(report)


def test_ctc_evaluation_matches_per_file_greedy_and_beam(recordings):
    labels = ["no", "off", "on", "yes"]
    model = tiny_model("ctc", labels, seed=5)
    greedy = [model.transcribe(u.audio).text for u in recordings]
    beam = [model.transcribe(u.audio, method="beam", beam_size=4).text for u in recordings]
    assert any(greedy), "the random model should emit some words"
    references = [g if i % 2 == 0 else "yes no yes" for i, g in enumerate(greedy)]
    utterances = with_fields(recordings, text=references)

    report = evaluate(model, utterances, beam_size=4, max_seconds=3.5, quiet=True, worst=2)

    assert [p["greedy"] for p in report["predictions"]] == greedy
    assert [p["beam"] for p in report["predictions"]] == beam
    for name, hyps in (("greedy", greedy), ("beam", beam)):
        metrics = report["metrics"][name]
        expected = error_rates(references, hyps)
        assert metrics["wer"] == expected["wer"] and metrics["cer"] == expected["cer"]
        assert metrics["words"] == expected["words"] and metrics["chars"] == expected["chars"]
    # greedy errors can only come from the odd utterances, whose references were replaced
    errors = [(word_counts(r, g).errors, f"utt{i}") for i, (r, g) in enumerate(zip(references, greedy, strict=True))]
    wrong = sorted((e for e in errors if e[0]), key=lambda e: -e[0])
    assert {e[1] for e in wrong} <= {"utt1", "utt3", "utt5", "utt7"}
    worst = report["metrics"]["greedy"]["worst"]
    assert len(worst) == min(2, len(wrong))
    assert [w["word_errors"] for w in worst] == [e[0] for e in wrong[:2]]
    assert all(w["reference"] == "yes no yes" for w in worst)
    assert report["metrics"]["greedy"]["utterances_with_errors"] == len(wrong)
    assert report["metrics"]["greedy"]["wer_interval"] is None  # one speaker
    # a speaker each: the WER interval resamples them, weighting each by its reference words
    report = evaluate(model, with_fields(utterances, speaker=[f"p{i}" for i in range(8)]), quiet=True)
    interval = speaker_bootstrap_interval(
        [word_counts(r, g).errors for r, g in zip(references, greedy, strict=True)], [f"p{i}" for i in range(8)],
        totals=[len(r.split()) for r in references],
    )  # fmt: skip
    assert report["metrics"]["greedy"]["wer_interval"] == list(interval)
    assert f"WER 95 % interval {100 * interval[0]:.2f}-{100 * interval[1]:.2f}%" in format_summary(report)


def test_ctc_perfect_references_score_zero(recordings):
    model = tiny_model("ctc", ["a", "b"], seed=2)
    utterances = with_fields(recordings, text=[model.transcribe(u.audio).text for u in recordings])
    metrics = evaluate(model, utterances, decoders=("greedy",), quiet=True)["metrics"]
    assert set(metrics) == {"greedy"}
    assert metrics["greedy"]["wer"] == 0.0 and metrics["greedy"]["cer"] == 0.0
    assert metrics["greedy"]["worst"] == []


def test_offset_segments_are_cut_from_the_file(tmp_path):
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal(32000)).astype(np.float32)
    path = tmp_path / "long.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    segments = [(0.25, 0.5), (1.0, 0.75), (0.0, 2.0)]
    utterances = [
        Utterance(str(path), dur, label="x", offset=off, id=f"seg{i}") for i, (off, dur) in enumerate(segments)
    ]
    model = tiny_model("classify", ["x", "y", "z"], seed=4)
    report = evaluate(model, utterances, quiet=True)
    model_scores = []
    for off, dur in segments:
        part = audio[int(off * 16000) : int((off + dur) * 16000)]
        model_scores.append(model.transcribe(part, sample_rate=16000).score)
    assert [p["score"] for p in report["predictions"]] == pytest.approx(model_scores, abs=1e-5)
    assert report["timing"]["audio_seconds"] == pytest.approx(3.25)


def test_label_unknown_to_the_model_is_named(recordings):
    model = tiny_model("classify", ["a", "b"])
    utterances = with_fields(recordings, label=["a", "b", "a", "cat", "a", "b", "a", "b"])
    with pytest.raises(DataError, match=r"utt3: label 'cat' is not one of the model's labels \(a, b\)"):
        evaluate(model, utterances, quiet=True)


def test_bad_decoder_and_empty_input_are_rejected(recordings):
    model = tiny_model("ctc", ["a", "b"])
    utterances = with_fields(recordings, text=["a"] * 8)
    with pytest.raises(ConfigError, match="decoder must be one of greedy, beam, closed_set, got 'viterbi'"):
        evaluate(model, utterances, decoders=("viterbi",), quiet=True)
    with pytest.raises(ConfigError, match="beam size must be >= 1, got 0"):
        evaluate(model, utterances, decoders=("beam",), beam_size=0, quiet=True)
    with pytest.raises(DataError, match="no utterances"):
        evaluate(model, [], quiet=True)


def test_write_report_files(tmp_path, recordings):
    model = tiny_model("classify", ["a", "b"])
    utterances = with_fields(recordings, label=["a", "b"] * 4)
    report = evaluate(model, utterances, quiet=True)
    paths = write_report(report, tmp_path / "out")
    assert (
        sorted(p.name for p in (tmp_path / "out").iterdir())
        == sorted(p.name for p in paths)
        == [
            "confusion_matrix.png",
            "predictions.jsonl",
            "report.json",
        ]
    )
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "predictions" not in saved and saved["metrics"]["accuracy"] == report["metrics"]["accuracy"]
    lines = (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [f"utt{i}" for i in range(8)]


# --- CLI -----------------------------------------------------------------------------------------


def test_cli_classify_report(tmp_path, recordings, capsys):
    model = tiny_model("classify", ["a", "b"], seed=1)
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, model)
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, with_fields(recordings, label=["a", "b"] * 4))
    out = tmp_path / "report"
    code = main(["evaluate", "--model", str(checkpoint), "--manifest", str(manifest), "--output-dir", str(out),
                 "--device", "cpu", "--quiet", "--max-seconds", "2"])  # fmt: skip
    assert code == 0
    stdout = capsys.readouterr().out
    assert "precision  recall" in stdout and "accuracy" in stdout
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {"model", "manifest", "num_utterances", "metrics", "timing", "device"}
    assert report["model"] == str(checkpoint) and report["manifest"] == str(manifest)
    assert report["num_utterances"] == 8 and report["device"] == "cpu"
    assert set(report["timing"]) >= {"seconds", "real_time_factor"}
    per_file = [load_model(checkpoint).transcribe(u.audio).label for u in recordings]
    assert report["metrics"]["accuracy"] == sum(p == r for p, r in zip(per_file, ["a", "b"] * 4, strict=True)) / 8
    assert (out / "confusion_matrix.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sum(map(sum, report["metrics"]["confusion_matrix"]["counts"])) == 8


def test_cli_ctc_greedy_only(tmp_path, recordings, capsys):
    model = tiny_model("ctc", ["a", "b"], seed=1)
    checkpoint = tmp_path / "ctc.pt"
    save_checkpoint(checkpoint, model)
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, with_fields(recordings, text=["a b"] * 8))
    code = main(["evaluate", "--model", str(checkpoint), "--manifest", str(manifest), "--output-dir",
                 str(tmp_path / "out"), "--decoder", "greedy", "--quiet", "--device", "cpu"])  # fmt: skip
    assert code == 0
    assert "greedy: WER" in capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(report["metrics"]) == {"greedy"}
    assert set(report["metrics"]["greedy"]) >= {"wer", "cer", "words", "chars", "worst"}
    assert not (tmp_path / "out" / "confusion_matrix.png").exists()


@pytest.mark.parametrize("missing", ["model", "manifest"])
def test_cli_missing_input_exits_1_with_one_line(tmp_path, recordings, capsys, missing):
    checkpoint = tmp_path / "model.pt"
    manifest = tmp_path / "test.jsonl"
    if missing != "model":
        save_checkpoint(checkpoint, tiny_model("classify", ["a", "b"]))
    if missing != "manifest":
        write_manifest(manifest, with_fields(recordings, label=["a"] * 8))
    code = main(["evaluate", "--model", str(checkpoint), "--manifest", str(manifest), "--quiet",
                 "--output-dir", str(tmp_path / "out"), "--device", "cpu"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(checkpoint if missing == "model" else manifest) in err
    assert not (tmp_path / "out").exists()


def test_loader_workers_give_the_same_report_and_name_a_missing_audio_file(tmp_path, recordings, capsys):
    model = tiny_model("classify", ["a", "b"], seed=2)
    utterances = with_fields(recordings, label=["a", "b"] * 4)
    inline = evaluate(model, utterances, max_seconds=3.5, quiet=True)
    workers = evaluate(model, utterances, max_seconds=3.5, quiet=True, num_workers=2)
    assert workers["predictions"] == inline["predictions"] and workers["metrics"] == inline["metrics"]

    checkpoint, manifest = tmp_path / "model.pt", tmp_path / "test.jsonl"
    save_checkpoint(checkpoint, model)
    gone = tmp_path / "gone.wav"
    write_manifest(manifest, [*utterances, Utterance(audio=str(gone), duration=1.0, label="a")])
    code = main(["evaluate", "--model", str(checkpoint), "--manifest", str(manifest), "--quiet",
                 "--num-workers", "1", "--output-dir", str(tmp_path / "out")])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(gone) in err
    assert not (tmp_path / "out").exists()


def test_cli_unknown_label_exits_1(tmp_path, recordings, capsys):
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, tiny_model("classify", ["a", "b"]))
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, with_fields(recordings, label=["a"] * 7 + ["zebra"]))
    assert (
        main(["evaluate", "--model", str(checkpoint), "--manifest", str(manifest), "--quiet", "--device", "cpu"]) == 1
    )
    assert "label 'zebra' is not one of the model's labels" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_cli_unavailable_device_exits_1(tmp_path, recordings, capsys):
    checkpoint = tmp_path / "model.pt"
    save_checkpoint(checkpoint, tiny_model("classify", ["a", "b"]))
    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, with_fields(recordings, label=["a"] * 8))
    code = main(["evaluate", "--model", str(checkpoint), "--manifest", str(manifest), "--quiet", "--device", "cuda"])
    assert code == 1
    assert "--device=cuda but CUDA is not available" in capsys.readouterr().err
