"""Audio loading and the log-mel front end: librosa parity, padding invariance, clear errors."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from speechrnn.audio import HOP_LENGTH, N_FFT, N_MELS, SAMPLE_RATE, LogMel, load_audio, num_frames
from speechrnn.errors import AudioError, DataError

torch.set_num_threads(1)

EXAMPLE = Path(__file__).resolve().parents[1] / "speechrnn" / "assets" / "example_digits.wav"
FSDD_CLIPS = [
    "0_george_0.wav",
    "3_jackson_12.wav",
    "7_lucas_30.wav",
    "9_nicolas_4.wav",
    "4_theo_45.wav",
    "2_yweweler_7.wav",
]


def fsdd_recordings() -> Path:
    from speechrnn.data.fsdd import fsdd_root

    try:
        return fsdd_root() / "recordings"
    except DataError as error:
        pytest.skip(f"FSDD not available: {error}")


def librosa_power(audio: np.ndarray) -> np.ndarray:
    """(frames, n_mels) mel power from librosa with the library's settings."""
    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=N_MELS, power=2.0, center=True
    )
    return mel.T


def assert_matches_librosa(audio: np.ndarray, device: str = "cpu") -> None:
    reference = librosa_power(audio)
    ours = LogMel().to(device)(torch.from_numpy(audio).to(device).unsqueeze(0))[0].cpu().double().numpy()
    assert ours.shape == reference.shape == (num_frames(len(audio)), N_MELS)
    loud = reference > 1e-4
    assert loud.mean() > 0.1  # a good share of the bins is compared (8 kHz FSDD has nothing above 4 kHz)
    error = np.abs(ours[loud] - np.log(reference[loud]))
    assert error.max() < 1e-3, f"max |log difference| {error.max():.2e}"


# --- LogMel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FSDD_CLIPS)
def test_logmel_matches_librosa_on_fsdd(name):
    path = fsdd_recordings() / name
    if not path.is_file():
        pytest.skip(f"{path} missing from the local FSDD copy")
    assert_matches_librosa(load_audio(path))


def test_logmel_matches_librosa_on_example_file():
    assert_matches_librosa(load_audio(EXAMPLE))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_logmel_matches_librosa_on_cuda():
    assert_matches_librosa(load_audio(EXAMPLE), device="cuda")
    audio = torch.from_numpy(load_audio(EXAMPLE)).unsqueeze(0)
    cpu = LogMel()(audio)
    cuda = LogMel().cuda()(audio.cuda()).cpu()
    loud = cpu > np.log(1e-4)
    assert torch.allclose(cpu[loud], cuda[loud], atol=1e-3)


def test_logmel_attributes_and_shape():
    module = LogMel()
    assert (module.sample_rate, module.n_fft, module.hop_length, module.n_mels) == (16000, 400, 160, 80)
    assert module.mel_basis.shape == (80, 201)
    assert module(torch.zeros(2, 16000)).shape == (2, 101, 80)
    assert module(torch.zeros(1599)).shape == (1, 10, 80)
    assert "mel_basis" not in module.state_dict()  # rebuilt from the config, not saved


def test_logmel_padding_does_not_change_frames():
    generator = torch.Generator().manual_seed(0)
    lengths = [16000, 9137, 4321, 160]
    batch = torch.zeros(len(lengths), max(lengths))
    items = [torch.randn(n, generator=generator) * 0.1 for n in lengths]
    for i, item in enumerate(items):
        batch[i, : len(item)] = item
    module = LogMel()
    batched = module(batch)
    for i, item in enumerate(items):
        alone = module(item.unsqueeze(0))[0]
        frames = num_frames(len(item))
        assert alone.shape[0] == frames
        torch.testing.assert_close(batched[i, :frames], alone, atol=2e-4, rtol=1e-5)


def test_logmel_from_padded_equals_centred_forward():
    audio = torch.from_numpy(load_audio(EXAMPLE)).unsqueeze(0)
    module = LogMel()
    padded = torch.nn.functional.pad(audio, (N_FFT // 2, N_FFT // 2))
    torch.testing.assert_close(module.logmel_from_padded(padded), module(audio))


# --- load_audio ------------------------------------------------------------------------------------


def sine(frequency: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def dominant_frequency(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()])


def test_load_audio_resamples_8k_to_16k(tmp_path):
    path = tmp_path / "tone8k.wav"
    sf.write(path, sine(1000, 8000), 8000, subtype="PCM_16")
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.shape == (16000,)
    assert dominant_frequency(audio, 16000) == pytest.approx(1000, abs=2)
    middle = audio[2000:-2000]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)  # amplitude kept


def test_load_audio_resamples_44k1(tmp_path):
    path = tmp_path / "tone44k.flac"
    sf.write(path, sine(440, 44100, 2.0), 44100)
    audio = load_audio(path)
    assert audio.shape == (32000,)
    assert dominant_frequency(audio, 16000) == pytest.approx(440, abs=1)


def test_load_audio_stereo_is_channel_mean(tmp_path):
    left, right = sine(300, 16000), sine(700, 16000) * 0.5
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), (left + right) / 2, atol=1e-6)


def test_load_audio_int16_scaling(tmp_path):
    samples = np.array([0, 16384, -16384, 32767, -32768] * 100, dtype=np.int16)
    path = tmp_path / "pcm16.wav"
    sf.write(path, samples, 16000, subtype="PCM_16")
    audio = load_audio(path)
    np.testing.assert_allclose(audio[:5], [0.0, 0.5, -0.5, 32767 / 32768, -1.0], atol=1e-7)
    np.testing.assert_allclose(load_audio(samples), audio, atol=1e-7)  # arrays scale the same way


def test_load_audio_array_with_source_rate():
    tone = sine(1000, 8000)
    audio = load_audio(tone, source_rate=8000)
    assert audio.shape == (16000,)
    assert dominant_frequency(audio, 16000) == pytest.approx(1000, abs=2)
    np.testing.assert_array_equal(load_audio(tone), tone)  # no rate: taken as 16 kHz already
    tensor = load_audio(torch.from_numpy(np.stack([tone, tone], axis=1)), source_rate=8000)
    np.testing.assert_allclose(tensor, audio, atol=1e-6)


def test_load_audio_example_file():
    audio = load_audio(EXAMPLE)
    info = sf.info(EXAMPLE)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert EXAMPLE.stat().st_size < 200_000
    assert audio.shape == (info.frames,) and np.abs(audio).max() <= 1.0
    assert np.sqrt(np.mean(audio**2)) > 0.02


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_text("hello, this is not audio\n" * 20), "not a readable audio file"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
    ],
    ids=["empty", "text", "missing", "directory"],
)
def test_load_audio_bad_files_name_the_file(tmp_path, make, message):
    path = tmp_path / "input.wav"
    make(path)
    with pytest.raises(AudioError) as raised:
        load_audio(path)
    text = str(raised.value)
    assert text.startswith(str(path)) and message in text
    assert "\n" not in text


def test_load_audio_truncated_wav(tmp_path):
    whole = tmp_path / "whole.wav"
    sf.write(whole, sine(500, 16000), 16000, subtype="PCM_16")
    truncated = tmp_path / "cut.wav"
    truncated.write_bytes(whole.read_bytes()[:10000])
    with pytest.raises(AudioError, match=r"cut\.wav: truncated WAV file"):
        load_audio(truncated)


def test_load_audio_nan_float_wav(tmp_path):
    audio = sine(500, 16000)
    audio[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan\.wav: contains NaN or infinite samples"):
        load_audio(path)
    with pytest.raises(AudioError, match="NaN"):
        load_audio(audio)


def test_load_audio_empty_array_and_bad_shape():
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError, match="shape"):
        load_audio(np.zeros((2, 3, 4), dtype=np.float32))
