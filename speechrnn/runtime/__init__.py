"""Run exported speechrnn models (``speechrnn export``) with numpy, soundfile, soxr and onnxruntime only.

    from speechrnn import runtime
    model = runtime.load("digits-onnx")
    model.transcribe("clip.wav").text
    recognizer = runtime.StreamingRecognizer(model)
    events = recognizer.accept_waveform(samples, 44100); result = recognizer.finalize()

Nothing here imports torch; ``python -m speechrnn.runtime transcribe`` is the command line.
"""

from speechrnn.runtime.features import LogMel, StreamingLogMel
from speechrnn.runtime.model import OnnxModel, load
from speechrnn.runtime.results import StreamEvent, Transcription, WordTiming
from speechrnn.runtime.stream import KeywordSpotter, StreamingRecognizer

__all__ = [
    "KeywordSpotter",
    "LogMel",
    "OnnxModel",
    "StreamEvent",
    "StreamingLogMel",
    "StreamingRecognizer",
    "Transcription",
    "WordTiming",
    "load",
]
