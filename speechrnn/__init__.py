"""speechrnn: speech command recognition with recurrent networks."""

__version__ = "0.1.0"

from speechrnn.audio import LogMel, load_audio, log_mel  # noqa: E402
from speechrnn.decode import DecodingOptions, Transcription, WordTiming  # noqa: E402
from speechrnn.errors import AudioError, ConfigError, DataError, ModelError, SpeechRNNError  # noqa: E402
from speechrnn.model import ModelConfig, SpeechRNN, load_model, save_checkpoint  # noqa: E402
from speechrnn.stream import StreamingRecognizer  # noqa: E402

__all__ = [
    "AudioError",
    "ConfigError",
    "DataError",
    "DecodingOptions",
    "LogMel",
    "ModelConfig",
    "ModelError",
    "SpeechRNN",
    "SpeechRNNError",
    "StreamingRecognizer",
    "Transcription",
    "WordTiming",
    "load_audio",
    "load_model",
    "log_mel",
    "save_checkpoint",
]
