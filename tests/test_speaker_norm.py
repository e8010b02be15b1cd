"""Speaker normalisation: speech-frame statistics, the mapping onto the reference, training and evaluate."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import speechrnn
from speechrnn.audio import load_audio
from speechrnn.cli import main
from speechrnn.config import load_config
from speechrnn.data.manifest import Utterance, read_manifest, write_manifest
from speechrnn.errors import ConfigError, DataError
from speechrnn.evaluate import evaluate
from speechrnn.model import ModelConfig, SpeechRNN, export_model, load_checkpoint, save_checkpoint
from speechrnn.speaker_norm import (
    FeatureStats,
    SpeakerAccumulator,
    enrol,
    reference_statistics,
    speaker_statistics,
    speech_frames,
)
from speechrnn.stream import StreamingRecognizer
from speechrnn.train import train

RATE = 16000
GAIN_DB = 12.0  # speaker "loud" is speaker "soft" through a microphone 12 dB hotter
LOG_GAIN = GAIN_DB * math.log(10) / 10  # natural-log mel power shift of that gain: 2.763
WORDS = {"low": (220.0, 500.0), "high": (330.0, 1800.0)}  # (pitch, formant) of two tone "words"


def vowel(word: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A harmonic tone with one formant, plus a noise floor: (samples,) float32."""
    pitch, formant = WORDS[word]
    t = np.arange(int(seconds * RATE)) / RATE
    harmonics = [
        np.exp(-(((k * pitch - formant) / 400) ** 2)) * np.sin(2 * np.pi * k * pitch * t) for k in range(1, 20)
    ]
    return (0.2 * sum(harmonics) + 1e-3 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def speakers(tmp_path_factory):
    """Isolated tone words by two 'speakers' with the same takes, one 12 dB louder; 300 ms of quiet around each."""
    root = tmp_path_factory.mktemp("speakers")
    rng = np.random.default_rng(0)
    utterances = []
    quiet = lambda: 1e-4 * rng.standard_normal(int(0.3 * RATE)).astype(np.float32)  # noqa: E731
    for i in range(16):
        word = list(WORDS)[i % 2]
        take = np.concatenate([quiet(), vowel(word, rng.uniform(0.3, 0.5), rng), quiet()])
        for speaker, gain in (("soft", 1.0), ("loud", 10 ** (GAIN_DB / 20))):
            path = root / f"{speaker}_{i}.wav"
            sf.write(path, take * gain, RATE, subtype="FLOAT")
            utterances.append(Utterance(audio=str(path), duration=len(take) / RATE, speaker=speaker, label=word))
    write_manifest(root / "all.jsonl", utterances)
    write_manifest(root / "train.jsonl", utterances[:24])
    write_manifest(root / "valid.jsonl", utterances[24:])
    return root


def frontend(n_mels: int = 20) -> torch.nn.Module:
    return SpeechRNN(ModelConfig(head="classify", labels=list(WORDS), n_mels=n_mels)).frontend


def test_speech_frames_leave_out_the_quiet_around_a_word():
    rng = np.random.default_rng(1)
    audio = np.concatenate([1e-4 * rng.standard_normal(8000), vowel("low", 0.5, rng)]).astype(np.float32)
    feats = frontend()(torch.from_numpy(audio)[None])[0]
    mask = speech_frames(feats)
    assert not mask[:45].any()  # 0.5 s of quiet, 70 dB down (frames reaching into the vowel excepted)
    assert mask[55:-5].all()


def test_speaker_statistics_move_by_the_gain_and_skip_unnamed_speakers(speakers):
    utterances = read_manifest(speakers / "all.jsonl")
    unnamed = Utterance(audio=utterances[0].audio, duration=utterances[0].duration, label="low")
    stats = speaker_statistics(frontend(), [*utterances, unnamed], RATE)
    assert sorted(stats) == ["loud", "soft"]
    torch.testing.assert_close(stats["loud"].mean - stats["soft"].mean, torch.full((20,), LOG_GAIN), atol=1e-3, rtol=0)
    torch.testing.assert_close(stats["loud"].std, stats["soft"].std, atol=1e-3, rtol=0)
    subset = speaker_statistics(frontend(), utterances, RATE, max_per_speaker=3, seed=5)
    assert torch.equal(subset["soft"].mean, speaker_statistics(frontend(), utterances, RATE, 3, seed=5)["soft"].mean)
    assert not torch.allclose(subset["soft"].mean, stats["soft"].mean)
    reference = reference_statistics(stats)
    torch.testing.assert_close(reference.mean, (stats["loud"].mean + stats["soft"].mean) / 2)


def test_a_speaker_with_only_silence_is_named(tmp_path):
    path = tmp_path / "zeros.wav"
    sf.write(path, np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.raises(DataError, match="speaker 'mute': no speech in 1 utterance"):
        speaker_statistics(frontend(), [Utterance(audio=str(path), duration=1.0, speaker="mute", label="low")], RATE)
    with pytest.raises(DataError, match="no manifest entry has a 'speaker'"):
        reference_statistics({})


@pytest.mark.parametrize("mode", ["mean", "meanvar"])
def test_adapted_statistics_map_a_speaker_onto_the_reference(mode):
    torch.manual_seed(0)
    model = SpeechRNN(ModelConfig(head="classify", labels=list(WORDS), n_mels=20, speaker_norm=mode))
    normalizer = model.normalizer
    normalizer.set_statistics(torch.randn(20), torch.rand(20) + 0.5)
    normalizer.set_reference(torch.randn(20), torch.rand(20) + 0.5)
    speaker = FeatureStats(torch.randn(20), torch.rand(20) + 0.5)
    feats, lengths = torch.randn(1, 30, 20), torch.tensor([30])
    ratio = normalizer.reference_std / speaker.std if mode == "meanvar" else 1.0
    mapped = (feats - speaker.mean) * ratio + normalizer.reference_mean  # the speaker as the reference speaker
    expected = (mapped - normalizer.mean) / normalizer.std
    adapted = normalizer.adapted(speaker)
    torch.testing.assert_close(normalizer(feats, lengths, adapted[None]), expected, atol=1e-5, rtol=1e-5)
    as_reference = normalizer.adapted(FeatureStats(normalizer.reference_mean, normalizer.reference_std))
    torch.testing.assert_close(as_reference, torch.stack([normalizer.mean, normalizer.std]))


def test_speaker_norm_config_is_checked():
    with pytest.raises(ConfigError, match="model.speaker_norm must be one of none, mean, meanvar"):
        ModelConfig(labels=["a"], speaker_norm="cmvn")
    with pytest.raises(ConfigError, match="model.speaker_norm needs model.normalization='global'"):
        ModelConfig(labels=["a"], speaker_norm="mean", normalization="utterance")
    with pytest.raises(ConfigError, match="this model has no speaker normalisation"):
        SpeechRNN(ModelConfig(labels=["a"])).normalizer.adapted(FeatureStats(torch.zeros(80), torch.ones(80)))


def loss_from_predictions(predictions: list[dict]) -> float:
    """Mean cross-entropy of two-class predictions: the reference's probability is the score or 1 - score."""
    return -np.mean(np.log([p["score"] if p["prediction"] == p["reference"] else 1 - p["score"] for p in predictions]))


def logged(out_dir, column: str) -> list[float]:
    rows = [line.split(",") for line in (out_dir / "log.csv").read_text().splitlines()]
    return [float(row[rows[0].index(column)]) for row in rows[1:]]


FP32 = ("train.amp=false",)  # on CUDA: losses logged in float32, as evaluate computes them (not bf16)


def speaker_config(root, out_dir, mode: str, *extra: str):
    return load_config(None, [
        "model.head=classify", f"model.speaker_norm={mode}", "model.hidden_size=16", "model.num_layers=1",
        "model.n_mels=20", f"data.train={root / 'train.jsonl'}", f"data.valid={root / 'valid.jsonl'}",
        "data.num_workers=0", "data.max_seconds=4.0", f"train.out_dir={out_dir}", "train.epochs=2",
        "train.threads=1", *extra,
    ])  # fmt: skip


def test_a_speaker_normalised_model_trains_saves_its_reference_and_ignores_the_microphone_gain(speakers, tmp_path):
    """Training sets the reference from the training speakers; the checkpoint round-trips it; with
    "mean" a speaker 12 dB louder gives exactly the same outputs once each speaker is normalised."""
    best = train(speaker_config(speakers, tmp_path / "run", "mean"), quiet=True)
    model = speechrnn.load_model(best)
    stats = speaker_statistics(model.frontend, read_manifest(speakers / "train.jsonl"), RATE, 100, seed=0)
    torch.testing.assert_close(model.normalizer.reference_mean, reference_statistics(stats).mean)
    saved = load_checkpoint(best)["state_dict"]["normalizer.reference_mean"]
    assert torch.equal(saved, model.normalizer.reference_mean)

    utterances = read_manifest(speakers / "all.jsonl")
    report = evaluate(model, utterances, quiet=True)
    assert report["speaker_norm"] == ["loud", "soft"]
    scores = {(p["id"], p["score"]) for p in report["predictions"]}
    by_take = {}
    for utterance, prediction in zip(utterances, report["predictions"], strict=True):
        take = utterance.audio.rsplit("_", 1)[1]
        by_take.setdefault(take, []).append((prediction["prediction"], prediction["score"]))
    for (soft_label, soft_score), (loud_label, loud_score) in by_take.values():
        assert soft_label == loud_label and soft_score == pytest.approx(loud_score, abs=1e-4)
    plain = evaluate(model, utterances, quiet=True, speaker_norm=False)
    assert plain["speaker_norm"] is None
    assert {(p["id"], p["score"]) for p in plain["predictions"]} != scores


def test_fine_tuning_on_one_new_speaker_keeps_the_reference_its_weights_learnt(speakers, tmp_path):
    """train.init_from a speaker-normalised model, on the loud speaker alone: the reference stays the
    training speakers' average (refitting it would make it the loud speaker's own statistics, and
    normalising that speaker would become the identity); with lr 0 the model is unchanged."""
    first = speechrnn.load_model(train(speaker_config(speakers, tmp_path / "run", "meanvar"), quiet=True))
    loud = [u for u in read_manifest(speakers / "train.jsonl") if u.speaker == "loud"]
    write_manifest(tmp_path / "loud.jsonl", loud)
    start = tmp_path / "run" / "best.pt"
    config = speaker_config(speakers, tmp_path / "tuned", "meanvar", f"data.train={tmp_path / 'loud.jsonl'}",
                            f"train.init_from={start}", "optim.lr=0", "train.epochs=1")  # fmt: skip
    tuned = speechrnn.load_model(train(config, quiet=True))
    for name, value in first.state_dict().items():
        torch.testing.assert_close(tuned.state_dict()[name], value, rtol=0, atol=0, msg=name)
    loud_stats = speaker_statistics(first.frontend, loud, RATE)["loud"]
    assert not torch.allclose(first.normalizer.reference_mean, loud_stats.mean, atol=0.5)


def test_evaluate_cli_says_which_speakers_it_normalised(speakers, tmp_path, capsys):
    best = train(speaker_config(speakers, tmp_path / "run", "meanvar", "train.epochs=1", *FP32), quiet=True)
    manifest = str(speakers / "valid.jsonl")
    assert main(["evaluate", "--model", str(best), "--manifest", manifest, "--output-dir", str(tmp_path / "ev")]) == 0
    assert "speaker normalisation from each speaker's own audio: loud, soft" in capsys.readouterr().out
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    predictions = [json.loads(line) for line in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert report["speaker_norm"] == ["loud", "soft"]
    # validation in training normalised each speaker as evaluate does: the same loss
    assert logged(tmp_path / "run", "valid_loss")[-1] == pytest.approx(loss_from_predictions(predictions), rel=1e-4)
    assert main(["evaluate", "--model", str(best), "--manifest", manifest, "--no-speaker-norm"]) == 0
    assert "speaker normalisation" not in capsys.readouterr().out


def test_training_batches_normalise_each_speaker_as_evaluate_does(speakers, tmp_path):
    """With a zero learning rate the logged training loss is the initial model's loss on the training
    set, which evaluate reproduces only if training normalised every speaker by its own statistics."""
    out = tmp_path / "run"
    config = speaker_config(speakers, out, "meanvar", "train.epochs=1", "optim.lr=0", "model.dropout=0", *FP32)
    best = train(config, quiet=True)
    report = evaluate(speechrnn.load_model(best), read_manifest(speakers / "train.jsonl"), quiet=True)
    assert logged(out, "train_loss") == [pytest.approx(loss_from_predictions(report["predictions"]), rel=1e-4)]


def test_a_model_trained_without_it_gets_speaker_normalisation_afterwards(speakers, tmp_path, capsys):
    """``speechrnn speaker-norm``: the reference speaker's audio gives the original model's outputs,
    and a speaker 12 dB louder gives them too ("mean")."""
    best = train(speaker_config(speakers, tmp_path / "run", "none", "train.epochs=1"), quiet=True)
    soft = [u for u in read_manifest(speakers / "all.jsonl") if u.speaker == "soft"]
    write_manifest(tmp_path / "soft.jsonl", soft)
    output = tmp_path / "adapted.pt"
    argv = ["speaker-norm", "--model", str(best), "--manifest", str(tmp_path / "soft.jsonl"), "--mode", "mean"]
    assert main([*argv, "--output", str(output)]) == 0
    assert "speaker normalisation (mean) onto the average of 1 speakers" in capsys.readouterr().out
    original, adapted = speechrnn.load_model(best), speechrnn.load_model(output)
    assert adapted.config.speaker_norm == "mean" and original.config.speaker_norm == "none"
    export_model(output, tmp_path / "shipped.pt")  # a shipped copy still says where its reference came from
    shipped = load_checkpoint(tmp_path / "shipped.pt")
    assert shipped["speaker_reference_manifests"] == [str(tmp_path / "soft.jsonl")]
    assert shipped["train_config"] == load_checkpoint(best)["train_config"]
    plain = evaluate(original, read_manifest(speakers / "all.jsonl"), quiet=True)["predictions"]
    normalised = evaluate(adapted, read_manifest(speakers / "all.jsonl"), quiet=True)["predictions"]
    by_name = {Path(p["id"]).stem: p for p in plain}
    for after in normalised:
        reference = by_name["soft_" + Path(after["id"]).stem.split("_")[1]]  # the same take, as recorded by soft
        assert after["prediction"] == reference["prediction"]
        assert after["score"] == pytest.approx(reference["score"], abs=1e-4)
    assert any(p["score"] != pytest.approx(q["score"], abs=1e-3) for p, q in zip(plain, normalised, strict=True))

    train(speaker_config(speakers, tmp_path / "utt", "none", "train.epochs=1", "model.normalization=utterance"),
          quiet=True)  # fmt: skip
    assert main([*argv, "--output", str(tmp_path / "x.pt"), "--model", str(tmp_path / "utt/best.pt")]) == 1
    assert "needs a model with global feature normalisation" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_statistics_can_come_from_a_separate_enrolment_set(speakers, tmp_path, capsys):
    """--speaker-manifest: each speaker's statistics from a few of its clips (here takes 0-3); a
    speaker missing from it runs as the reference speaker."""
    best = train(speaker_config(speakers, tmp_path / "run", "mean", "train.epochs=1"), quiet=True)
    model = speechrnn.load_model(best)
    scored = read_manifest(speakers / "all.jsonl")
    enrolment = [u for u in scored if int(Path(u.audio).stem.split("_")[1]) < 4]
    report = evaluate(model, scored, quiet=True, speaker_utterances=enrolment)
    assert report["speaker_norm"] == ["loud", "soft"]
    by_name = {Path(p["id"]).stem: p for p in report["predictions"]}
    for take in range(16):
        assert by_name[f"loud_{take}"]["score"] == pytest.approx(by_name[f"soft_{take}"]["score"], abs=1e-4)
    full = evaluate(model, scored, quiet=True)
    assert [p["score"] for p in full["predictions"]] != pytest.approx([p["score"] for p in report["predictions"]])

    write_manifest(tmp_path / "soft.jsonl", [u for u in enrolment if u.speaker == "soft"])
    argv = ["evaluate", "--model", str(best), "--manifest", str(speakers / "all.jsonl")]
    assert main([*argv, "--speaker-manifest", str(tmp_path / "soft.jsonl")]) == 0
    assert "speaker normalisation from each speaker's own audio: soft\n" in capsys.readouterr().out


def test_transcribe_normalises_every_input_as_the_enrolled_speaker(speakers, tmp_path, capsys):
    """``speechrnn transcribe --speaker-audio``: a louder speaker's takes, each enrolled from four of
    its own clips, score as the soft speaker's; bad uses are one-line errors."""
    best = train(speaker_config(speakers, tmp_path / "run", "mean", "train.epochs=1"), quiet=True)

    def scores(speaker: str) -> list[dict]:
        takes = [str(speakers / f"{speaker}_{i}.wav") for i in range(4, 10)]
        enrolment = [str(speakers / f"{speaker}_{i}.wav") for i in range(4)]
        argv = ["transcribe", *takes, "--model", str(best), "--format", "json", "--speaker-audio", *enrolment]
        assert main(argv) == 0
        return [json.loads(line)["scores"] for line in capsys.readouterr().out.splitlines()]

    loud, soft = scores("loud"), scores("soft")
    for a, b in zip(loud, soft, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
    plain = speechrnn.load_model(best).transcribe(str(speakers / "loud_4.wav"))
    assert dict(plain.scores) != pytest.approx(loud[0], abs=1e-3)  # without enrolment: not the same

    take = str(speakers / "soft_4.wav")
    assert main(["transcribe", take, "--model", str(best), "--speaker-audio", str(tmp_path / "none.wav")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(tmp_path / "none.wav") in err
    plain_model = train(speaker_config(speakers, tmp_path / "plain", "none", "train.epochs=1"), quiet=True)
    assert main(["transcribe", take, "--model", str(plain_model), "--speaker-audio", take]) == 1
    assert "give it a reference with `speechrnn speaker-norm`" in capsys.readouterr().err


# ---------------------------------------------------------------------- streaming
def random_speaker_model(**overrides) -> SpeechRNN:
    """An untrained speaker-normalised classifier with a reference far from any real speaker."""
    torch.manual_seed(0)
    config = ModelConfig(head="classify", labels=list(WORDS), n_mels=20, hidden_size=16, speaker_norm="meanvar")
    model = SpeechRNN(dataclasses.replace(config, **overrides)).eval()
    model.normalizer.set_statistics(torch.full((20,), -6.0), torch.full((20,), 3.0))
    if model.config.speaker_norm != "none":
        model.normalizer.set_reference(torch.linspace(-9.0, -3.0, 20), torch.linspace(1.0, 3.0, 20))
    return model


def streamed_scores(recognizer, path) -> dict:
    audio = load_audio(str(path), RATE)
    for begin in range(0, audio.size, 1000):
        recognizer.accept_waveform(audio[begin : begin + 1000], RATE)
    return dict(recognizer.finalize().scores)


def test_speaker_accumulator_is_a_map_estimate_from_its_prior():
    prior = FeatureStats(torch.tensor([1.0, -2.0]), torch.tensor([0.5, 2.0]))
    frames = torch.tensor([[3.0, 0.0], [5.0, 2.0]])  # both frames are speech (equal energy range)
    accumulator = SpeakerAccumulator(prior, prior_frames=2)
    assert accumulator.statistics() is prior  # before any speech frame: the prior itself
    accumulator.add(frames)
    mean = (2 * prior.mean + frames.sum(0)) / 4
    second = (2 * (prior.std**2 + prior.mean**2) + (frames**2).sum(0)) / 4
    stats = accumulator.statistics()
    assert torch.allclose(stats.mean, mean) and torch.allclose(stats.std, (second - mean**2).sqrt())
    without_prior = SpeakerAccumulator()
    assert without_prior.statistics() is None
    without_prior.add(frames)
    assert torch.allclose(without_prior.statistics().mean, frames.mean(0))
    accumulator.reset()
    assert accumulator.statistics() is prior
    with pytest.raises(ConfigError, match="prior_frames must be >= 0"):
        SpeakerAccumulator(prior, prior_frames=-1)


@pytest.mark.parametrize("kind", [dict(bidirectional=False), dict()], ids=["step-by-step", "re-run"])
def test_streaming_normalises_as_the_enrolled_speaker_like_transcribe(speakers, kind):
    model = random_speaker_model(**kind)
    stats = enrol(model, [str(speakers / f"loud_{i}.wav") for i in range(4)])
    take = speakers / "loud_5.wav"
    streamed = streamed_scores(StreamingRecognizer(model, speaker=stats), take)
    assert streamed == pytest.approx(dict(model.transcribe(str(take), speaker=stats).scores), abs=1e-5)
    reference = dict(model.transcribe(str(take)).scores)
    assert streamed != pytest.approx(reference, abs=1e-3)
    assert streamed_scores(StreamingRecognizer(model), take) == pytest.approx(reference, abs=1e-5)


@pytest.mark.parametrize("kind", [dict(bidirectional=False), dict()], ids=["step-by-step", "re-run"])
def test_streaming_adapts_to_the_speaker_after_each_utterance(speakers, kind):
    """Utterance k is normalised with the speaker's statistics of utterances 1..k-1 (and the prior);
    with no prior, a speaker 12 dB louder then scores exactly as the soft one; reset() forgets."""
    model = random_speaker_model(**kind)
    first, second = (speakers / f"loud_{i}.wav" for i in (0, 4))
    recognizer = StreamingRecognizer(model, adapt_speaker=True, prior_frames=0)
    opening = streamed_scores(recognizer, first)  # no statistics yet: the reference speaker
    assert opening == pytest.approx(dict(model.transcribe(str(first)).scores), abs=1e-5)
    heard = enrol(model, [str(first)])
    assert streamed_scores(recognizer, second) == pytest.approx(
        dict(model.transcribe(str(second), speaker=heard).scores), abs=1e-5
    )
    recognizer.reset()
    assert streamed_scores(recognizer, first) == pytest.approx(opening, abs=1e-5)

    soft = StreamingRecognizer(model, adapt_speaker=True, prior_frames=0)
    streamed_scores(soft, speakers / "soft_0.wav")
    recognizer.reset()
    streamed_scores(recognizer, first)
    assert streamed_scores(soft, speakers / "soft_4.wav") == pytest.approx(
        streamed_scores(recognizer, second), abs=1e-4
    )
    prior = StreamingRecognizer(model, adapt_speaker=True)  # 200 frames of the reference: part of the way
    streamed_scores(prior, first)
    partway = reference_then(model, first)
    assert not torch.allclose(partway.mean, heard.mean, atol=0.1)
    assert streamed_scores(prior, second) == pytest.approx(
        dict(model.transcribe(str(second), speaker=partway).scores), abs=1e-5
    )


def reference_then(model, path) -> FeatureStats:
    """The default prior (the reference speaker, 200 frames) updated with one recording."""
    statistics = SpeakerAccumulator(model.normalizer.reference_statistics(), 200)
    statistics.add(model.frontend(torch.from_numpy(load_audio(str(path), RATE))[None])[0])
    return statistics.statistics()


def test_streaming_speaker_options_need_a_speaker_normalised_model():
    model = random_speaker_model(speaker_norm="none")
    for options in (dict(adapt_speaker=True), dict(speaker=FeatureStats(torch.zeros(20), torch.ones(20)))):
        with pytest.raises(ConfigError, match="this model has no speaker normalisation"):
            StreamingRecognizer(model, **options)


def test_transcribe_stream_takes_the_enrolled_or_adapted_speaker(speakers, tmp_path, capsys):
    model = random_speaker_model(bidirectional=False)
    path = tmp_path / "model.pt"
    save_checkpoint(path, model)
    takes = [str(speakers / f"loud_{i}.wav") for i in (0, 4)]
    enrolment = [str(speakers / f"loud_{i}.wav") for i in range(4)]

    def finals(*extra: str) -> list[dict]:
        argv = ["transcribe", *takes, "--model", str(path), "--stream", "--format", "json", *extra]
        assert main(argv) == 0
        return [e for e in map(json.loads, capsys.readouterr().out.splitlines()) if e["type"] == "final"]

    enrolled = finals("--speaker-audio", *enrolment)
    stats = enrol(model, enrolment)
    for event, take in zip(enrolled, takes, strict=True):
        assert event["score"] == pytest.approx(model.transcribe(take, speaker=stats).score, abs=1e-4)
    adapted = finals("--adapt-speaker")  # the second file is normalised with what the first taught
    expected = model.transcribe(takes[1], speaker=reference_then(model, takes[0]))
    assert adapted[1]["label"] == expected.label and adapted[1]["score"] == pytest.approx(expected.score, abs=1e-4)
    assert main(["transcribe", takes[0], "--model", str(path), "--adapt-speaker"]) == 1
    assert "--adapt-speaker needs --stream" in capsys.readouterr().err
