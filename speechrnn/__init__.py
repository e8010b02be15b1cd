"""speechrnn: speech command recognition with recurrent networks.

Names that need torch (``load_model``, ``LogMel``, ``StreamingRecognizer`` ...) are imported on
first use (module ``__getattr__``), so ``speechrnn.runtime`` runs where torch is not installed.
"""

import importlib

__version__ = "0.1.0"

from speechrnn.errors import AudioError, ConfigError, DataError, ModelError, SpeechRNNError  # noqa: E402

_LAZY = {  # name -> module that defines it (imports torch)
    "LogMel": "speechrnn.audio",
    "load_audio": "speechrnn.audio",
    "log_mel": "speechrnn.audio",
    "DecodingOptions": "speechrnn.decode",
    "Transcription": "speechrnn.decode",
    "WordTiming": "speechrnn.decode",
    "ModelConfig": "speechrnn.model",
    "SpeechRNN": "speechrnn.model",
    "load_model": "speechrnn.model",
    "save_checkpoint": "speechrnn.model",
    "StreamingRecognizer": "speechrnn.stream",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'speechrnn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
