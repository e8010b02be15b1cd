"""StreamingRecognizer: final results equal offline transcription for any chunking, any input rate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import fsdd_missing_reason, fsdd_recordings, speechlike

import speechrnn
from speechrnn.audio import load_audio
from speechrnn.commands.transcribe import transcribe_stream_cli
from speechrnn.errors import AudioError, ConfigError
from speechrnn.model import ModelConfig, SpeechRNN
from speechrnn.stream import StreamingRecognizer

torch.set_num_threads(1)
DIGITS = [str(i) for i in range(10)]
RECORDING = (fsdd_recordings() or Path("/nonexistent")) / "3_theo_0.wav"
needs_fsdd = pytest.mark.skipif(not RECORDING.is_file(), reason=fsdd_missing_reason())

MODEL_KINDS = {
    "chunked": dict(chunk_size=4, right_context=2),
    "unidirectional": dict(bidirectional=False),
    "full-bidirectional": dict(),
    "conv-chunked": dict(subsampling="conv", chunk_size=3, right_context=1),
    "utterance-norm": dict(normalization="utterance", chunk_size=2, right_context=1),
}


def make_model(head: str = "ctc", **overrides) -> SpeechRNN:
    torch.manual_seed(0)
    labels = DIGITS if head == "ctc" else ["yes", "no", "_unknown_"]
    model = SpeechRNN(ModelConfig(head=head, labels=labels, hidden_size=32, num_layers=2, **overrides)).eval()
    model.normalizer.set_statistics(torch.full((80,), -8.0), torch.full((80,), 4.0))
    return model


def stream_in_chunks(recognizer, audio, rate, sizes):
    """Feed ``audio`` in chunks cycling through ``sizes``; return (events, final Transcription)."""
    events, begin, i = [], 0, 0
    while begin < audio.size:
        size = sizes[i % len(sizes)]
        events += recognizer.accept_waveform(audio[begin : begin + size], rate)
        begin += size
        i += 1
    return events, recognizer.finalize()


def assert_same_result(streamed, offline):
    assert streamed.text == offline.text
    assert len(streamed.words) == len(offline.words)
    for a, b in zip(streamed.words, offline.words):
        assert a.word == b.word
        assert a.start == pytest.approx(b.start, abs=1e-6) and a.end == pytest.approx(b.end, abs=1e-6)


@pytest.mark.parametrize("kind", sorted(MODEL_KINDS))
def test_final_equals_offline_for_random_chunkings(kind):
    model = make_model(**MODEL_KINDS[kind])
    audio = speechlike(1.3, seed=1)
    offline = model.transcribe(audio)
    assert offline.text  # a random model still emits tokens on this signal: the comparison is not vacuous
    rng = np.random.default_rng(len(kind))
    for sizes in ([int(s) for s in rng.integers(1, 5000, size=20)], [160], [16000 * 5]):
        _, streamed = stream_in_chunks(StreamingRecognizer(model), audio, 16000, sizes)
        assert_same_result(streamed, offline)


@needs_fsdd
@pytest.mark.parametrize("kind", ["chunked", "full-bidirectional"])
def test_one_sample_chunks_of_an_8khz_file_equal_transcribe(kind):
    model = make_model(**MODEL_KINDS[kind])
    audio, rate = sf.read(RECORDING, dtype="float32")
    assert rate == 8000
    offline = model.transcribe(str(RECORDING))
    _, streamed = stream_in_chunks(StreamingRecognizer(model), audio[:2400], rate, [1])
    assert_same_result(streamed, model.transcribe(audio[:2400], sample_rate=rate))
    _, whole = stream_in_chunks(StreamingRecognizer(model), audio, rate, [37, 1, 503])
    assert_same_result(whole, offline)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_high_rate_stream_is_resampled_statefully(rate):
    import soxr

    model = make_model(**MODEL_KINDS["chunked"])
    audio = soxr.resample(speechlike(1.0, seed=2), 16000, rate).astype(np.float32)
    offline = model.transcribe(audio, sample_rate=rate)
    events, streamed = stream_in_chunks(StreamingRecognizer(model), audio, rate, [rate // 10, 999, 1, 4410])
    assert_same_result(streamed, offline)
    assert streamed.duration == pytest.approx(1.0, abs=1e-3)
    assert any(e.kind == "partial" for e in events)


def test_int16_samples_equal_their_float_values():
    model = make_model(**MODEL_KINDS["unidirectional"])
    pcm = (speechlike(0.8, seed=3) * 32767).astype(np.int16)
    as_float = pcm.astype(np.float32) / 32768
    _, from_int = stream_in_chunks(StreamingRecognizer(model), pcm, 16000, [800])
    _, from_float = stream_in_chunks(StreamingRecognizer(model), as_float, 16000, [1234])
    assert_same_result(from_int, from_float)
    assert_same_result(from_int, model.transcribe(as_float))


def test_partials_grow_into_the_greedy_final():
    model = make_model(**MODEL_KINDS["chunked"])
    audio = speechlike(2.0, seed=4)
    events, final = stream_in_chunks(StreamingRecognizer(model), audio, 16000, [1600])
    partials = [e for e in events if e.kind == "partial"]
    assert len(partials) >= 2
    texts = [p.text for p in partials]
    assert len(set(texts)) == len(texts)  # only changes are reported
    final_words = [w.word for w in final.words]
    for partial in partials:
        words = partial.text.split()
        assert final_words[: len(words)] == words  # chunked CTC partials never revise settled words
        assert partial.start == 0.0 and 0 < partial.end <= 2.0


def test_reset_forgets_audio_and_finalize_starts_a_new_stream():
    model = make_model(**MODEL_KINDS["chunked"])
    audio = speechlike(1.0, seed=5)
    offline = model.transcribe(audio)
    recognizer = StreamingRecognizer(model)
    recognizer.accept_waveform(speechlike(0.7, seed=6), 16000)
    recognizer.reset()
    assert recognizer.time == 0.0
    _, first = stream_in_chunks(recognizer, audio, 16000, [3000])
    _, second = stream_in_chunks(recognizer, audio, 16000, [777])  # after finalize: time restarts at 0
    assert_same_result(first, offline)
    assert_same_result(second, offline)


def test_classifier_final_equals_offline_classification():
    model = make_model(head="classify")
    audio = speechlike(1.2, seed=7)
    offline = model.transcribe(audio)
    _, streamed = stream_in_chunks(StreamingRecognizer(model), audio, 16000, [1600, 5])
    assert streamed.label == offline.label
    assert streamed.scores == pytest.approx(offline.scores, abs=1e-5)


@pytest.mark.parametrize(
    ("samples", "rate", "message"),
    [
        (np.zeros(100, dtype=np.int64), 16000, "unsupported sample type int64"),
        (np.zeros(100, dtype=np.complex64), 16000, "unsupported sample type complex64"),
        (np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, "NaN"),
        (np.array([0.1, np.inf], dtype=np.float64), 16000, "NaN or infinite"),
        (np.zeros(100, dtype=np.float32), 0, "sample rate must be a positive integer, got 0"),
        (np.zeros(100, dtype=np.float32), -8000, "got -8000"),
        (np.zeros(100, dtype=np.float32), 16000.5, "got 16000.5"),
        ([0.0, 0.1], 16000, "expected a numpy array or torch tensor, got list"),
        (np.zeros((2, 3, 4), dtype=np.float32), 16000, "expected \\(samples,\\)"),
    ],
)
def test_bad_input_raises_audio_error(samples, rate, message):
    recognizer = StreamingRecognizer(make_model(**MODEL_KINDS["unidirectional"]))
    with pytest.raises(AudioError, match=message):
        recognizer.accept_waveform(samples, rate)


def test_rate_change_within_a_stream_is_an_error_and_finalize_allows_it():
    recognizer = StreamingRecognizer(make_model(**MODEL_KINDS["unidirectional"]))
    recognizer.accept_waveform(np.zeros(4800, dtype=np.float32), 48000)
    with pytest.raises(AudioError, match="sample rate changed from 48000 to 44100"):
        recognizer.accept_waveform(np.zeros(441, dtype=np.float32), 44100)
    recognizer.finalize()
    recognizer.accept_waveform(np.zeros(441, dtype=np.float32), 44100.0)  # a whole float rate is fine


def test_top_level_export():
    assert speechrnn.StreamingRecognizer is StreamingRecognizer


def _cli_args(paths, fmt="txt", chunk_ms=100):
    return argparse.Namespace(
        audio=[str(p) for p in paths], format=fmt, chunk_ms=chunk_ms, quiet=True, decoder="greedy", beam_size=8
    )


def test_cli_json_events_and_text_finals(tmp_path, capsys):
    model = make_model(**MODEL_KINDS["chunked"])
    first, second = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(first, speechlike(1.0, seed=8), 16000)
    sf.write(second, (speechlike(0.9, seed=9) * 32767).astype(np.int16)[::2], 8000)  # 8 kHz PCM file
    assert transcribe_stream_cli(_cli_args([first, second], "json"), model) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for path in (first, second):
        finals = [e for e in events if e["file"] == str(path) and e["type"] == "final"]
        assert len(finals) == 1
        assert finals[0]["text"] == model.transcribe(str(path)).text
        assert finals[0]["reason"] == "end" and finals[0]["start"] == 0.0
    assert any(e["type"] == "partial" for e in events)

    assert transcribe_stream_cli(_cli_args([first], "txt", chunk_ms=20), model) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"[0.00-1.00] {model.transcribe(str(first)).text}"
    assert all(line.startswith("partial: ") for line in lines[:-1])


def test_cli_errors(tmp_path, capsys):
    model = make_model(**MODEL_KINDS["chunked"])
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    sf.write(tmp_path / "ok.wav", speechlike(0.2, seed=1), 16000)
    files = [tmp_path / "missing.wav", tmp_path / "bad.wav", tmp_path / "ok.wav"]
    assert transcribe_stream_cli(_cli_args(files), model) == 1  # the bad files fail, the batch goes on
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and "missing.wav: no such file" in errors[0] and "bad.wav" in errors[1]
    sf.write(tmp_path / "ok.wav", speechlike(0.2, seed=1), 16000)
    with pytest.raises(ConfigError, match="chunk-ms"):
        transcribe_stream_cli(_cli_args([tmp_path / "ok.wav"], chunk_ms=-5), model)


def test_load_audio_agrees_with_streamed_duration(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, speechlike(0.5, seed=3), 22050)
    model = make_model(**MODEL_KINDS["unidirectional"])
    audio, rate = sf.read(path, dtype="float32")
    _, streamed = stream_in_chunks(StreamingRecognizer(model), audio, rate, [1000])
    assert streamed.duration == pytest.approx(load_audio(path).size / 16000, abs=1 / 16000)


def test_shell_command_streams_files(tmp_path, capsys):
    from speechrnn.cli import main
    from speechrnn.model import save_checkpoint

    model = make_model(**MODEL_KINDS["chunked"])
    save_checkpoint(tmp_path / "m.pt", model)
    wav = tmp_path / "a.wav"
    sf.write(wav, speechlike(0.7, seed=11), 16000)
    code = main(
        ["transcribe", "--stream", "--chunk-ms", "30", "--format", "json", "--model", str(tmp_path / "m.pt"), str(wav)]
    )
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["type"] == "final" and events[-1]["text"] == model.transcribe(str(wav)).text


def test_bench_stream_script_reports_equal_streaming_and_offline_wer(tmp_path):
    import importlib.util
    from pathlib import Path

    from speechrnn.data.manifest import Utterance, write_manifest
    from speechrnn.model import save_checkpoint

    spec = importlib.util.spec_from_file_location(
        "bench_stream", Path(__file__).parents[1] / "scripts" / "bench_stream.py"
    )
    bench_stream = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_stream)
    model = make_model(**MODEL_KINDS["chunked"])
    save_checkpoint(tmp_path / "m.pt", model)
    utterances = []
    for i in range(3):
        sf.write(tmp_path / f"{i}.wav", speechlike(0.6 + 0.3 * i, seed=20 + i), 16000)
        utterances.append(Utterance(audio=f"{i}.wav", duration=0.6 + 0.3 * i, text="1 2 3"))
    write_manifest(tmp_path / "test.jsonl", utterances)
    args = [
        "--model",
        str(tmp_path / "m.pt"),
        "--manifest",
        str(tmp_path / "test.jsonl"),
        "--json",
        str(tmp_path / "r.json"),
    ]
    assert bench_stream.main([*args, "--quiet"]) == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["utterances"] == 3 and results["identical_hypotheses"] == 3
    assert results["streaming_wer"] == results["offline_wer"] > 0
    assert 0 < results["rtf"] < 5 and results["chunk_compute_ms_p50"] <= results["chunk_compute_ms_p99"]


def test_beam_decoding_of_finals_equals_offline_beam():
    model = make_model(**MODEL_KINDS["chunked"])
    audio = speechlike(1.5, seed=12)
    offline = model.transcribe(audio, method="beam", beam_size=4)
    _, streamed = stream_in_chunks(
        StreamingRecognizer(model, decoding={"method": "beam", "beam_size": 4}), audio, 16000, [999]
    )
    assert_same_result(streamed, offline)


@pytest.mark.parametrize("sizes", [[1], [160, 7], [3333]])
def test_incremental_greedy_runs_equal_the_greedy_path_of_all_steps(sizes):
    """The partials/endpointer keep CTC runs incrementally; after every call they equal a full re-collapse."""
    from speechrnn.decode import greedy_path

    model = make_model(**MODEL_KINDS["unidirectional"])
    recognizer = StreamingRecognizer(model)
    audio = speechlike(1.0, seed=13)
    begin, i, checked = 0, 0, 0
    while begin < audio.size:
        size = sizes[i % len(sizes)]
        recognizer.accept_waveform(audio[begin : begin + size], 16000)
        begin, i = begin + size, i + 1
        if recognizer._outputs and (i % 97 == 0 or size > 1):
            assert recognizer._runs == greedy_path(torch.cat(recognizer._outputs))
            checked += 1
    assert checked and len(recognizer._runs) >= 2  # runs exist, so merging across calls was exercised
