"""scripts/mic_demo.py against a real audio server.

The fixture starts a private PulseAudio daemon whose default source is the monitor of a
null sink; a test plays a WAV into the sink with ``paplay`` while the demo records from
the default device (sounddevice -> PortAudio -> ALSA -> PulseAudio, usually at 44.1 kHz).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import fsdd_missing_reason, fsdd_recordings

from speechrnn.model import BUNDLED_MODEL, BUNDLED_MODELS, ModelConfig, SpeechRNN, save_checkpoint

FSDD = fsdd_recordings()

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "mic_demo.py"
SINK = "speechrnn_null"


def _portaudio_missing() -> str | None:
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install pulseaudio pulseaudio-utils)"
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as error:
        return f"sounddevice/PortAudio not usable: {error}"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_portaudio_missing() is not None, reason=str(_portaudio_missing()))]


@pytest.fixture
def pulse():
    """A private PulseAudio server: yields the environment for its clients; killed afterwards."""
    runtime = Path(tempfile.mkdtemp(prefix="pa-", dir="/tmp"))  # short: the socket path must fit in 108 bytes
    env = {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "HOME": str(runtime),
        "PULSE_SERVER": f"unix:{runtime}/pulse/native",
    }
    env.pop("PULSE_SINK", None), env.pop("PULSE_SOURCE", None)
    subprocess.run(
        ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--use-pid-file=yes",
         "-L", "module-native-protocol-unix auth-anonymous=1", "-L", f"module-null-sink sink_name={SINK}"],
        env=env, check=True, timeout=30, capture_output=True,
    )  # fmt: skip
    try:
        for _ in range(50):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-source", f"{SINK}.monitor"], env=env, check=True, timeout=10)
        yield env
    finally:
        pid_file = runtime / "pulse" / "pid"
        if pid_file.is_file():
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
        shutil.rmtree(runtime, ignore_errors=True)


def _random_model(path: Path) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(labels=[str(i) for i in range(10)], hidden_size=32, chunk_size=4, right_context=2)
    save_checkpoint(path, SpeechRNN(config))
    return path


def _run_demo_and_play(env: dict, wav: Path, *args: str) -> tuple[int, str, str]:
    """Start the demo, play ``wav`` into the null sink once it listens, then Ctrl-C it."""
    log = Path(tempfile.mkstemp(prefix="demo-", suffix=".err")[1])
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(DEMO), "--format", "json", *args],
            env=env, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, f"demo never listened: {log.read_text()}"
            time.sleep(0.1)
        time.sleep(0.5)
        subprocess.run(["paplay", f"--device={SINK}", str(wav)], env=env, check=True, timeout=60)
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    errors = log.read_text()
    log.unlink()
    return proc.returncode, stdout, errors


def _finals(stdout: str) -> list[dict]:
    return [event for line in stdout.splitlines() if (event := json.loads(line))["type"] == "final"]


def test_demo_records_from_pulseaudio_and_stops_cleanly_on_ctrl_c(pulse, tmp_path):
    wav = tmp_path / "tone.wav"
    t = np.arange(16000) / 16000
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t) * (t < 0.6)).astype(np.float32), 16000)
    code, stdout, stderr = _run_demo_and_play(pulse, wav, "--model", str(_random_model(tmp_path / "m.pt")))
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert "at 44100 Hz" in stderr or "at 48000 Hz" in stderr  # captured at the device rate, then resampled
    finals = _finals(stdout)
    assert finals, stdout
    assert finals[-1]["end"] >= 1.0  # the whole playback (1 s) was heard
    assert "mic_demo: stopped after" in stderr


@pytest.mark.skipif(not BUNDLED_MODEL.is_file(), reason="bundled model speechrnn/assets/digits_ctc.pt not built yet")
@pytest.mark.skipif(FSDD is None or not FSDD.is_dir(), reason=fsdd_missing_reason())
def test_demo_prints_the_digits_it_hears(pulse, tmp_path):
    digits = ["three", "seven", "one"]
    pieces = []
    for digit in (3, 7, 1):  # official test-split takes (indices 0-4)
        audio, rate = sf.read(FSDD / f"{digit}_jackson_1.wav", dtype="float32")
        pieces += [audio, np.zeros(rate * 3 // 10, dtype=np.float32)]
    wav = tmp_path / "digits.wav"
    sf.write(wav, np.concatenate(pieces), rate)
    code, stdout, stderr = _run_demo_and_play(pulse, wav)
    assert code == 0, stderr
    text = " ".join(final["text"] for final in _finals(stdout)).split()
    assert text == digits, stdout


def test_list_devices_shows_the_pulse_device(pulse):
    out = subprocess.run(
        [sys.executable, str(DEMO), "--list-devices"], env=pulse, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and ("pulse" in out.stdout or "default" in out.stdout)


def test_no_input_device_is_one_line(tmp_path):
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": f"unix:{tmp_path}/no-such-socket"}
    out = subprocess.run([sys.executable, str(DEMO)], env=env, capture_output=True, text=True, timeout=60)
    if out.returncode == 0 or "no input audio device" not in out.stderr:
        pytest.skip("this machine has a real input device")
    assert out.returncode == 1
    lines = [
        line for line in out.stderr.splitlines() if line.strip() and not line.startswith(("ALSA lib", "Expression"))
    ]
    assert lines == ["mic_demo: no input audio device found (see --list-devices)"]


def test_missing_model_is_one_line(pulse, tmp_path):
    out = subprocess.run(
        [sys.executable, str(DEMO), "--model", str(tmp_path / "none.pt")],
        env=pulse,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == f"mic_demo: {tmp_path / 'none.pt'}: no such model file"


REALSPEECH = (
    Path(os.environ.get("SPEECHRNN_REALSPEECH") or Path(__file__).resolve().parents[2] / "shared/data/realspeech")
)
COMMAND_CLIPS = REALSPEECH / "speech_commands_test_set_v0.02"


def _command_clips(tmp_path: Path, labels: list[str]) -> Path:
    """The first shared clip of each label, 1 s of silence after each, as one 16 kHz WAV."""
    pieces = []
    for label in labels:
        audio, rate = sf.read(sorted((COMMAND_CLIPS / label).glob("*.wav"))[0], dtype="float32")
        pieces += [audio, np.zeros(rate, dtype=np.float32)]
    wav = tmp_path / "commands.wav"
    sf.write(wav, np.concatenate(pieces), rate)
    return wav


@pytest.mark.skipif(not COMMAND_CLIPS.is_dir(), reason=f"shared real speech not found at {COMMAND_CLIPS}")
def test_demo_shows_a_classifiers_labels(pulse, tmp_path):
    from speechrnn.data.sc_layouts import TASK12_LABELS

    torch.manual_seed(0)
    model = tmp_path / "c.pt"
    save_checkpoint(model, SpeechRNN(ModelConfig(head="classify", labels=list(TASK12_LABELS), hidden_size=16)))
    code, stdout, stderr = _run_demo_and_play(pulse, _command_clips(tmp_path, ["yes"]), "--model", str(model))
    assert code == 0, stderr
    finals = _finals(stdout)
    assert finals, stdout
    assert all(f["label"] in TASK12_LABELS and f["text"] == f["label"] and 0 < f["score"] <= 1 for f in finals)


@pytest.mark.skipif(not COMMAND_CLIPS.is_dir(), reason=f"shared real speech not found at {COMMAND_CLIPS}")
@pytest.mark.skipif(not BUNDLED_MODELS["commands"].is_file(), reason="bundled commands model not built yet (issue 15)")
def test_demo_model_commands_shows_the_commands_it_hears(pulse, tmp_path):
    wav = _command_clips(tmp_path, ["yes", "stop", "left"])
    code, stdout, stderr = _run_demo_and_play(pulse, wav, "--model", "commands", "--trailing-silence", "0.5")
    assert code == 0, stderr
    labels = [f["label"] for f in _finals(stdout) if f["label"] not in ("_silence_", "_unknown_")]
    assert labels == ["yes", "stop", "left"], stdout


def test_case07_audio_server_dying_after_audio_arrived_stops_with_one_line(pulse, tmp_path):
    """Issue 18 case 7: the demo kept running silently when PulseAudio died mid-stream."""
    wav = tmp_path / "tone.wav"
    t = np.arange(16000) / 16000
    sf.write(wav, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    log = tmp_path / "demo.err"
    with open(log, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(DEMO), "--format", "json", "--model", str(_random_model(tmp_path / "m.pt"))],
            env=pulse, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts slowly
        while "listening on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, f"demo never listened: {log.read_text()}"
            time.sleep(0.1)
        time.sleep(0.5)
        subprocess.run(["paplay", f"--device={SINK}", str(wav)], env=pulse, check=True, timeout=60)
        time.sleep(0.5)  # the tone has arrived (as in the Ctrl-C test above)
        pid_file = Path(pulse["XDG_RUNTIME_DIR"]) / "pulse" / "pid"
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)  # the audio server dies
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    errors = log.read_text()
    assert proc.returncode == 1, errors
    assert "Traceback" not in errors
    ours = [line for line in errors.splitlines() if line.startswith("mic_demo:")]
    assert len(ours) == 1 and ours[0].startswith("mic_demo: audio stopped arriving from"), errors


def test_case07_list_devices_says_when_there_are_none(tmp_path):
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "PULSE_SERVER": f"unix:{tmp_path}/no-such-socket"}
    out = subprocess.run([sys.executable, str(DEMO), "--list-devices"], env=env, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    if out.returncode == 0 and out.stdout.strip():
        pytest.skip("this machine has audio devices without a server")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.strip().splitlines()[-1] == (
        "mic_demo: no audio devices found (is an audio server such as PulseAudio running?)"
    )
