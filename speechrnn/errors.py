"""Project exceptions: a user mistake raises one of these with a one-line message naming the thing."""


class SpeechRNNError(Exception):
    """Base class; the CLI prints ``str(error)`` without a traceback and exits non-zero."""


class AudioError(SpeechRNNError):
    """Audio that is missing, empty, unreadable, truncated or otherwise unusable."""


class ConfigError(SpeechRNNError):
    """A configuration key or value that is not valid."""


class ModelError(SpeechRNNError):
    """A checkpoint that cannot be found, read or rebuilt."""


class DataError(SpeechRNNError):
    """A manifest, dataset folder, download or archive that is not usable."""
