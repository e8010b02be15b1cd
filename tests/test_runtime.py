"""speechrnn.runtime: the torch-free runtime gives the torch model's features, outputs, texts and events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("onnx", reason="onnx not installed (pip install '.[export]')")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install '.[runtime]')")

from helpers import fsdd_missing_reason, fsdd_recordings, randomize_embedding, speechlike  # noqa: E402

from speechrnn import runtime  # noqa: E402
from speechrnn.audio import LogMel  # noqa: E402
from speechrnn.embedding import EMBEDDING_FRONTEND  # noqa: E402
from speechrnn.endpoint import EndpointConfig  # noqa: E402
from speechrnn.errors import ModelError  # noqa: E402
from speechrnn.export import export_onnx  # noqa: E402
from speechrnn.model import BUNDLED_MODEL, ModelConfig, SpeechRNN, load_model  # noqa: E402
from speechrnn.stream import StreamingRecognizer  # noqa: E402

EXAMPLE = Path(__file__).parents[1] / "speechrnn" / "assets" / "example_digits.wav"
FSDD = fsdd_recordings()  # None without a local copy (a fresh clone): the FSDD tests skip
FSDD_CLIPS = sorted(FSDD.glob("*_[0-4].wav")) if FSDD else []  # the official test takes
EMBEDDING = dict(subsampling="embedding", **EMBEDDING_FRONTEND)  # the speech embedding and its front end
MODES = {
    "chunked": dict(chunk_size=4, right_context=2),
    "unidirectional": dict(bidirectional=False),
    "full": dict(),
    "conv-chunked": dict(subsampling="conv", chunk_size=3, right_context=1),
    "utterance-norm": dict(normalization="utterance", chunk_size=2, right_context=1),
    "windowed": dict(chunk_size=4, right_context=2, subsampling="stack", pool_window=10),
    "embedding-full": dict(EMBEDDING),  # a BiGRU + attention classifier over it: the commands model's shape
    "embedding-unidirectional": dict(EMBEDDING, bidirectional=False),
    "embedding-chunked": dict(EMBEDDING, chunk_size=3, right_context=1),
    # the embedding's 25 ms window in a 512-point FFT and its 60 Hz f_min, under a plain log-mel model
    "short-window": dict(n_fft=512, win_length=400, f_min=60.0, f_max=3800.0, chunk_size=4, right_context=2),
}


def make_model(head: str, **overrides) -> SpeechRNN:
    torch.manual_seed(0)
    if head == "ctc":
        overrides.pop("pool_window", None)  # a classifier's setting: "windowed" CTC is the chunked model
    labels = [str(i) for i in range(10)] if head == "ctc" else ["yes", "no", "_unknown_"]
    model = SpeechRNN(ModelConfig(head=head, labels=labels, hidden_size=32, num_layers=2, **overrides)).eval()
    n_mels = model.config.n_mels
    model.normalizer.set_statistics(torch.full((n_mels,), -8.0), torch.full((n_mels,), 4.0))
    if model.config.subsampling == "embedding":
        randomize_embedding(model.subsampling.embedding)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(kind, head) -> (torch model, runtime model); exported once per module."""
    root = tmp_path_factory.mktemp("exports")
    cache = {}

    def get(kind, head="ctc"):
        if (kind, head) not in cache:
            model = load_model(BUNDLED_MODEL) if kind == "digits" else make_model(head, **MODES[kind])
            cache[kind, head] = model, runtime.load(export_onnx(model, root / f"{kind}-{head}"))
        return cache[kind, head]

    return get


FRONTENDS = {  # LogMel settings: the default 25 ms FFT; the embedding's 25 ms window in a 512-point FFT
    "full-window": dict(n_fft=400, n_mels=40, f_max=4000.0),
    "short-window": dict(n_fft=512, win_length=400, n_mels=32, f_min=60.0, f_max=3800.0),
}


@pytest.mark.parametrize("frontend", sorted(FRONTENDS))
def test_logmel_equals_torch_logmel_and_streams_exactly(frontend):
    settings = FRONTENDS[frontend]
    torch_logmel = LogMel(16000, hop_length=160, **settings)
    n_fft, n_mels = settings["n_fft"], settings["n_mels"]
    logmel = runtime.LogMel(torch_logmel.mel_basis.numpy(), n_fft, 160, win_length=settings.get("win_length"))
    np.testing.assert_allclose(logmel.window, torch_logmel.window.numpy(), atol=1e-6)  # float32 rounding
    rng = np.random.default_rng(0)
    for audio in (speechlike(1.3, 1), np.zeros(5, np.float32), rng.uniform(-1, 1, 401).astype(np.float32)):
        want = torch_logmel(torch.from_numpy(audio)[None])[0].numpy()
        got = logmel(audio)
        assert got.shape == want.shape == (1 + audio.size // 160, n_mels)
        np.testing.assert_allclose(got, want, atol=1e-4)  # torch's float32 STFT is the farther from exact
        stream = runtime.StreamingLogMel(logmel)
        pieces, begin = [], 0
        while begin < audio.size:
            size = int(rng.integers(1, 700))
            pieces.append(stream.accept(audio[begin : begin + size]))
            begin += size
        np.testing.assert_array_equal(np.concatenate([*pieces, stream.finalize()]), got)


def _float64_logmel(audio, filters, n_fft=400, hop=160, floor=1e-10, win_length=None):
    """Centred log-mels from librosa's float64 STFT and the whole filterbank: the reference the float32
    runtime is held to."""
    import librosa

    options = {"window": "hann", "center": True, "pad_mode": "constant", "dtype": np.complex128}
    spectrum = librosa.stft(
        audio.astype(np.float64), n_fft=n_fft, hop_length=hop, win_length=win_length, **options
    )  # (bins, frames)
    return np.log(np.maximum(filters.astype(np.float64) @ np.abs(spectrum) ** 2, floor)).T


@pytest.mark.parametrize(
    "settings",
    [dict(f_max=4000.0), dict(f_max=None), dict(n_fft=512, win_length=400, n_mels=32, f_min=60.0, f_max=3800.0)],
    ids=["f_max-4000", "f_max-none", "short-window"],
)
def test_logmel_float32_fft_and_skipped_bins_match_a_float64_reference(settings):
    settings = {"n_fft": 400, "n_mels": 40, **settings}
    filters = LogMel(16000, hop_length=160, **settings).mel_basis.numpy()
    n_fft, win_length = settings["n_fft"], settings.get("win_length")
    logmel = runtime.LogMel(filters, n_fft, 160, win_length=win_length)
    top = np.flatnonzero(filters.any(axis=0))[-1]  # the highest FFT bin with any weight
    assert logmel.bins == top + 1 < n_fft // 2 + 1  # bins above it are skipped, none below it
    rng = np.random.default_rng(1)
    for audio in (speechlike(1.3, 1), 0.01 * speechlike(2.0, 5), rng.uniform(-1, 1, 4001).astype(np.float32)):
        want = _float64_logmel(audio, filters, n_fft, win_length=win_length)
        np.testing.assert_allclose(logmel(audio), want, atol=5e-5)


@pytest.mark.parametrize("head", ["ctc", "classify"])
@pytest.mark.parametrize("kind", sorted(MODES))
def test_offline_outputs_and_results_equal_torch(exported, kind, head):
    model, onnx_model = exported(kind, head)
    audio = speechlike(2.1, seed=3)
    with torch.no_grad():
        want, _ = model(torch.from_numpy(audio))
    np.testing.assert_allclose(onnx_model.outputs(audio), want[0].numpy(), atol=1e-4)
    a, b = onnx_model.transcribe(audio), model.transcribe(audio)
    assert a.text == b.text and a.label == b.label and a.duration == b.duration
    assert [(w.word, w.start, w.end) for w in a.words] == [(w.word, w.start, w.end) for w in b.words]
    if head == "classify":
        assert a.score == pytest.approx(b.score, abs=1e-5)


def test_embedding_steps_stream_for_any_chunking_and_equal_torch(exported):
    """The speech embedding's encoder inputs: offline == streamed (audio from 1 sample to seconds at a
    time, frames 1 to 20 at a time) == torch's, for utterances ending anywhere in an 8-frame step."""
    model, onnx_model = exported("embedding-chunked")
    rng = np.random.default_rng(8)
    audio = np.concatenate([speechlike(1.2, 7), np.zeros(4000, np.float32), speechlike(0.8, 8)])
    for samples in (3200, 15200, 15360, 16000 + 7 * 160, audio.size):  # 21, 96, 97, 108, 331 frames
        clip = audio[:samples]
        frames = onnx_model.logmel(clip)
        offline = onnx_model.subsample(onnx_model.normalize(frames))
        with torch.no_grad():
            feats, lengths = model.features(torch.from_numpy(clip)[None], torch.tensor([samples]))
            want = model.subsampling(feats, lengths)[0].numpy()
        assert offline.shape == want.shape == (-(-frames.shape[0] // 8), 96)
        assert np.abs(want).max() > 5  # the random embedding is as lively as the pretrained one
        np.testing.assert_allclose(offline, want, rtol=1e-5, atol=1e-4)  # embeddings reach 40: rtol for their size
        subsampler = onnx_model.streaming_subsampler()
        pieces, begin = [], 0
        while begin < frames.shape[0]:
            size = int(rng.integers(1, 21))
            pieces.append(subsampler.accept(onnx_model.normalize(frames[begin : begin + size])))
            begin += size
        np.testing.assert_allclose(np.concatenate([*pieces, subsampler.finalize()]), offline, atol=1e-4)
    features, subsampler = runtime.StreamingLogMel(onnx_model.logmel), onnx_model.streaming_subsampler()
    for sizes in ([1, 2, 3, 160], [int(s) for s in rng.integers(1, 16000, size=5)], [48000]):
        pieces, begin, i = [], 0, 0
        while begin < audio.size:
            pieces.append(subsampler.accept(features.accept(audio[begin : begin + sizes[i % len(sizes)]])))
            begin, i = begin + sizes[i % len(sizes)], i + 1
        pieces += [subsampler.accept(features.finalize()), subsampler.finalize()]
        np.testing.assert_allclose(np.concatenate(pieces), offline, atol=1e-4)  # offline: the whole audio's


def test_a_format_1_export_still_loads(exported, tmp_path):
    """Exports from before win_length (format 1) use the window of the whole FFT."""
    import shutil

    _, onnx_model = exported("chunked")
    folder = Path(shutil.copytree(onnx_model.directory, tmp_path / "old"))
    config = json.loads((folder / "config.json").read_text())
    assert config["format_version"] == 1 and config["features"]["win_length"] == 400
    del config["features"]["win_length"]
    (folder / "config.json").write_text(json.dumps(config))
    old = runtime.load(folder)
    np.testing.assert_array_equal(old.logmel.window, onnx_model.logmel.window)
    audio = speechlike(0.7, 1)
    np.testing.assert_array_equal(old.outputs(audio), onnx_model.outputs(audio))


def event_key(event):
    words = tuple((w.word, round(w.start, 6), round(w.end, 6)) for w in event.words)
    score = None if event.score is None else round(event.score, 4)
    return event.kind, event.text, round(event.start, 6), round(event.end, 6), words, event.label, score, event.reason


def stream(recognizer, audio, rate, sizes):
    events, begin, i = [], 0, 0
    while begin < audio.size:
        events += recognizer.accept_waveform(audio[begin : begin + sizes[i % len(sizes)]], rate)
        begin += sizes[i % len(sizes)]
        i += 1
    return events + recognizer.finish()


STREAMED = ["chunked", "unidirectional", "full", "conv-chunked", "utterance-norm", "digits", "short-window"]


@pytest.mark.parametrize("kind", STREAMED + ["embedding-full", "embedding-unidirectional", "embedding-chunked"])
def test_stream_events_equal_torch_for_random_chunkings(exported, kind):
    model, onnx_model = exported(kind)
    rng = np.random.default_rng(len(kind))
    audio = np.concatenate([speechlike(1.7, 1), np.zeros(20000, np.float32), speechlike(1.1, 2)])
    cut = EndpointConfig(rule2_min_trailing_silence=0.5)
    for rate, endpoint, sizes in [
        (16000, None, [1, 2, 3, 160]),  # one sample at a time and a little more
        (8000, cut, [int(s) for s in rng.integers(1, 16000, size=5)]),
        (44100, cut, [44100 * 3]),  # seconds at once
    ]:
        times = np.arange(0, audio.size, 16000 / rate)
        samples = np.interp(times, np.arange(audio.size), audio).astype(np.float32)
        want = stream(StreamingRecognizer(model, endpoint=endpoint), samples, rate, sizes)
        got = stream(runtime.StreamingRecognizer(onnx_model, endpoint=endpoint), samples, rate, sizes)
        assert [event_key(e) for e in got] == [event_key(e) for e in want]
        assert any(e.kind == "final" for e in got)


@pytest.mark.parametrize("kind", ["chunked", "windowed", "embedding-full"])
def test_classifier_stream_final_and_int16_input(exported, kind):
    model, onnx_model = exported(kind, "classify")
    audio = (speechlike(1.5, 4) * 32767).astype(np.int16)
    want = stream(StreamingRecognizer(model), audio, 16000, [1234])
    got = stream(runtime.StreamingRecognizer(onnx_model), audio, 16000, [1234])
    assert [event_key(e) for e in got] == [event_key(e) for e in want]
    recognizer = runtime.StreamingRecognizer(onnx_model)
    recognizer.accept_waveform(audio[:3000])
    recognizer.reset()
    recognizer.accept_waveform(audio)
    assert recognizer.finalize().label == model.transcribe(audio.astype(np.float32) / 32768).label


def test_an_embedding_classifier_classifies_cut_utterances_from_its_spotters_steps_as_torch(exported):
    """The commands model's shape with endpointing: both recognisers read their finals from the
    spotter's embedding steps (no second front end), and give the same finals and detections."""
    from speechrnn.kws import KeywordConfig

    model, onnx_model = exported("embedding-full", "classify")
    audio = np.concatenate([speechlike(1.2, 7), np.zeros(16000, np.float32), speechlike(1.4, 8)])
    cut, keywords = EndpointConfig(rule2_min_trailing_silence=0.5), KeywordConfig(threshold=0.34, refractory=0.3)
    torch_recognizer = StreamingRecognizer(model, endpoint=cut, keywords=keywords)
    onnx_recognizer = runtime.StreamingRecognizer(onnx_model, endpoint=cut, keywords=keywords)
    assert torch_recognizer.shared_inputs and onnx_recognizer.shared_inputs
    want = stream(torch_recognizer, audio, 16000, [999])
    got = stream(onnx_recognizer, audio, 16000, [999])
    assert [e.reason for e in want if e.kind == "final"] == ["rule2", "end"]
    assert any(e.kind == "detection" for e in want)
    assert [event_key(e) for e in got] == [event_key(e) for e in want]


@pytest.mark.parametrize("kind", ["windowed", "chunked", "embedding-full"])
def test_spotter_windows_and_detections_equal_torch(exported, kind):
    """An encoder-stream spotter (windowed model), a sliding one (chunked) and an input-stream one (a
    full-utterance classifier over the speech embedding) score the same windows as torch's."""
    from speechrnn.kws import KeywordConfig, KeywordSpotter

    model, onnx_model = exported(kind, "classify")
    audio = np.concatenate([speechlike(1.3, 5), np.zeros(8000, np.float32), speechlike(2.2, 6)])
    settings = dict(hop=0.1, smoothing=2, threshold=0.34, refractory=0.3)
    torch_spotter, onnx_spotter = (
        KeywordSpotter(model, KeywordConfig(**settings)),
        runtime.KeywordSpotter(onnx_model, KeywordConfig(**settings)),
    )
    assert (torch_spotter.encoder_stream is None) == (onnx_spotter.encoder_stream is None) == (kind != "windowed")
    assert (torch_spotter.input_stream is None) == (onnx_spotter.input_stream is None) == (kind != "embedding-full")
    assert onnx_spotter.hop == pytest.approx(torch_spotter.hop)
    want, got, want_events, got_events = [], [], [], []
    for begin in range(0, audio.size, 777):
        piece = audio[begin : begin + 777]
        want += torch_spotter.windows(piece)
        got += onnx_spotter.windows(piece)
    assert [end for end, _ in got] == pytest.approx([end for end, _ in want])
    np.testing.assert_allclose(np.stack([p for _, p in got]), np.stack([p.numpy() for _, p in want]), atol=1e-4)
    torch_spotter.reset(), onnx_spotter.reset()
    for begin in range(0, audio.size, 1600):
        want_events += torch_spotter.accept(audio[begin : begin + 1600])
        got_events += onnx_spotter.accept(audio[begin : begin + 1600])
    assert want_events and [event_key(e) for e in got_events] == [event_key(e) for e in want_events]


@pytest.mark.skipif(not FSDD_CLIPS, reason=fsdd_missing_reason())
def test_bundled_model_on_fsdd_test_clips(exported):
    model, onnx_model = exported("digits")
    for path in FSDD_CLIPS[::10]:  # a tenth here; scripts/runtime_parity.py runs every clip
        want = model.transcribe(path).text
        assert onnx_model.transcribe(path).text == want, path
        recognizer = runtime.StreamingRecognizer(onnx_model)
        audio, rate = sf.read(path, dtype="int16")
        for begin in range(0, audio.size, 800):
            recognizer.accept_waveform(audio[begin : begin + 800], rate)
        assert recognizer.finalize().text == want, path


def run_runtime(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "speechrnn.runtime", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture(scope="module")
def digits_dir(exported, tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits-onnx") / "digits"
    return export_onnx(load_model(BUNDLED_MODEL), folder)


def test_runtime_process_never_imports_torch(digits_dir, exported, tmp_path):
    """A meta-path hook makes `import torch` fail, as on a machine without torch, and the run still works:
    the digits model, and a speech-embedding classifier (its network an onnxruntime graph too)."""
    embedding_model, embedding_onnx = exported("embedding-full", "classify")
    embedding_dir = embedding_onnx.directory
    script = tmp_path / "no_torch.py"
    script.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch is blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from speechrnn.runtime.cli import main\n"
        f"code = main(['transcribe', '--model', {str(digits_dir)!r}, {str(EXAMPLE)!r}])\n"
        f"code |= main(['transcribe', '--stream', '--model', {str(digits_dir)!r}, {str(EXAMPLE)!r}])\n"
        f"code |= main(['transcribe', '--model', {str(embedding_dir)!r}, {str(EXAMPLE)!r}])\n"
        f"code |= main(['transcribe', '--stream', '--model', {str(embedding_dir)!r}, {str(EXAMPLE)!r}])\n"
        "import speechrnn\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "print('torch' in sys.modules)\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    text = load_model(BUNDLED_MODEL).transcribe(EXAMPLE).text
    end = lines.index(f"[0.00-2.25] {text}")  # the digits stream's final
    assert lines[0] == text and lines[-1] == "False"
    label = embedding_model.transcribe(EXAMPLE).text
    assert lines[end + 1] == label and any(line.endswith(f"] {label}") for line in lines[end + 2 : -1])


def test_cli_output_equals_speechrnn_transcribe(digits_dir, tmp_path, capsys):
    from speechrnn.cli import main

    second = tmp_path / "b.wav"
    sf.write(second, (speechlike(0.8, 5) * 20000).astype(np.int16)[::2], 8000)
    for args in (["--format", "json"], ["--stream"]):
        ours = run_runtime("transcribe", "--model", str(digits_dir), *args, str(EXAMPLE), str(second))
        assert main(["transcribe", *args, str(EXAMPLE), str(second)]) == 0
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == capsys.readouterr().out


def test_cli_error_lines(digits_dir, tmp_path):
    missing = tmp_path / "nothing"
    done = run_runtime("transcribe", "--model", str(missing), str(EXAMPLE))
    prog = "speechrnn.runtime transcribe: error:"
    assert (done.returncode, done.stderr) == (1, f"{prog} {missing}: no such model folder\n")
    assert done.stdout == ""
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_runtime("transcribe", "--model", str(empty), str(EXAMPLE))
    assert done.stderr == f"{prog} {empty}: not an exported speechrnn model (no config.json)\n"
    # a graph that does not match its config.json (another export's encoder.onnx)
    mismatched = tmp_path / "mismatched"
    export_onnx(load_model(BUNDLED_MODEL), mismatched)
    other = export_onnx(make_model("ctc", **MODES["full"]), tmp_path / "other")
    (mismatched / "encoder.onnx").write_bytes((other / "encoder.onnx").read_bytes())
    done = run_runtime("transcribe", "--model", str(mismatched), str(EXAMPLE))
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith(f"{prog} {mismatched / 'encoder.onnx'}: graph does not match config.json")
    (mismatched / "encoder.onnx").write_bytes(b"truncated")
    done = run_runtime("transcribe", "--model", str(mismatched), str(EXAMPLE))
    assert done.stderr.startswith(f"{prog} {mismatched / 'encoder.onnx'}: not a readable ONNX graph")
    config = json.loads((digits_dir / "config.json").read_text())
    old = tmp_path / "old"
    export_onnx(load_model(BUNDLED_MODEL), old)
    (old / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    done = run_runtime("transcribe", "--model", str(old), str(EXAMPLE))
    assert "export format version 99 is not one of 1, 2, 3; re-export" in done.stderr and done.returncode == 1
    # format 2's embedding graph re-ran whole windows (the bundled digits model has the embedding): refused
    (old / "config.json").write_text(json.dumps({**config, "format_version": 2}))
    done = run_runtime("transcribe", "--model", str(old), str(EXAMPLE))
    assert done.returncode == 1 and done.stderr == (
        f"{prog} {old}: exported by an earlier speechrnn (format 2, an embedding graph without state); "
        "re-export it with speechrnn export\n"
    )
    # one bad file: its line, the others go on, exit 1
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    done = run_runtime("transcribe", "--model", str(digits_dir), str(bad), str(EXAMPLE))
    assert done.returncode == 1
    assert done.stderr.startswith(f"speechrnn.runtime transcribe: error: {bad}: not a readable audio file")
    assert done.stdout == f"{EXAMPLE}\tfour two seven one\n"
    streamed = run_runtime("transcribe", "--stream", "--model", str(digits_dir), str(bad), str(EXAMPLE))
    assert streamed.returncode == 1
    assert streamed.stderr.startswith(f"speechrnn.runtime transcribe: error: {bad}: not a readable audio file")
    assert streamed.stdout.splitlines()[-1] == f"{EXAMPLE}: [0.00-2.25] four two seven one"
    with pytest.raises(ModelError, match="no such model folder"):
        runtime.load(missing)


def test_runtime_installs_without_torch_dependencies_declared():
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]["runtime"]) >= {"numpy>=1.24", "soundfile>=0.12", "soxr>=0.3"}
    assert any(dep.startswith("onnxruntime") for dep in project["optional-dependencies"]["runtime"])
    assert os.path.isfile(Path(__file__).parents[1] / "speechrnn" / "runtime" / "__main__.py")
