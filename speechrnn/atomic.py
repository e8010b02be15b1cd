"""Atomic file writing: the one place that does "temp file next to the target, then ``os.replace``".

``atomic_write(path)`` yields a file object for a temp file in ``path``'s folder; when the block ends
without an exception the file gets the usual permissions (0666 minus the umask: ``mkstemp`` makes it
0600) and is renamed onto ``path``, so a reader sees the old file or the whole new one, never a part.
On an exception the temp file is removed and ``path`` is left as it was; an OSError that names no
file (a write to a full disk) is raised again naming ``path``.
"""

from __future__ import annotations

import os
import tempfile
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)  # reopened by name below, so a bad mode or encoding cannot leak the descriptor
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
        publish_mode(tmp)
        os.replace(tmp, path)
    except OSError as error:
        Path(tmp).unlink(missing_ok=True)
        if error.filename is None:  # a write that failed (full disk): name the file it was for
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    except BaseException:
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
