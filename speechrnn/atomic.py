"""Atomic file writing: the one place that does "temp file next to the target, then ``os.replace``".

``atomic_write(path)`` yields a file object for a temp file in ``path``'s folder; when the block ends
without an exception the file gets the usual permissions (0666 minus the umask: ``mkstemp`` makes it
0600) and is renamed onto ``path``, so a reader sees the old file or the whole new one, never a part.
On an exception the temp file is removed and ``path`` is left as it was; an OSError that names no
file (a write to a full disk) is raised again naming ``path``.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def publish_mode(path: str | os.PathLike) -> None:
    """Give a temp file or folder (``mkstemp``/``mkdtemp`` make them private) the usual permissions:
    0666 (files) or 0777 (folders) minus the umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~umask)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back within the block: their Python handlers run after it (main thread
    only, where Python runs signal handlers; a signal mask would not do, other threads take the signal)."""
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    if threading.current_thread() is not threading.main_thread() or not held:
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in pending:
            signal.raise_signal(s)


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """Write ``path`` atomically: ``with atomic_write(p, "w", encoding="utf-8") as f: f.write(text)``.

    Args:
        path: the file to write; its parent folders are created.
        mode: an ``open`` mode for writing ("wb", "w", ...).
        **open_kwargs: passed to ``open`` (``encoding``, ``newline``, ...).

    Yields:
        the open temp file (``.<name>.XXXX.tmp`` next to ``path``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = ""
    try:
        with _signals_held():  # a SIGTERM/Ctrl-C before ``tmp`` is set would strand the file: it is raised here
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)  # reopened by name below, so a bad mode or encoding cannot leak the descriptor
        with open(tmp, mode, **open_kwargs) as f:
            yield f
        publish_mode(tmp)
        os.replace(tmp, path)
    except OSError as error:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if error.filename is None:  # a write that failed (full disk): name the file it was for
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    except BaseException:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise


def remove_temp_files(folder: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """Delete the ``.<name>.XXXX.tmp`` files ``atomic_write`` left in ``folder`` for each of ``names``
    when its process was killed (SIGKILL runs no cleanup); returns what was deleted.

    Only for a folder no other process is writing those names in (a run directory being resumed).
    """
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


__all__ = ["atomic_write", "publish_mode", "remove_temp_files"]
