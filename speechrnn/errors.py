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


def one_line(error: BaseException) -> str:
    """``str(error)`` on one line.

    An error raised in a DataLoader worker reaches the main process re-raised with the worker's
    whole traceback as its message ("Caught AudioError in DataLoader worker process 0. Original
    Traceback ..."); its last line holds the original message, which is what we report.
    """
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("Caught ") and "Original Traceback" in lines[1]:
        prefix = f"{type(error).__module__}.{type(error).__qualname__}: "
        return lines[-1].removeprefix(prefix)
    return " ".join(line.strip() for line in lines)


def file_error_line(path, error: BaseException) -> str:
    """One line for ``error`` met while processing the file ``path``, starting with the path: the
    per-file report of a batch that goes on (a SpeechRNNError's message, or an OSError's reason)."""
    if isinstance(error, OSError) and not isinstance(error, SpeechRNNError):
        message = f"{error.strerror or error}" + (f": {error.filename}" if error.filename else "")
    else:
        message = one_line(error)
    return message if message.startswith(str(path)) else f"{path}: {message}"
