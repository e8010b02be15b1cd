"""Resumable, verified downloads, safe archive extraction and stage completion markers.

* ``download_file`` streams a URL to ``<destination>.part`` with ``urllib`` (no extra dependency),
  resumes an interrupted transfer with an HTTP ``Range`` request, retries connection errors and short
  reads with exponential backoff, checks an optional SHA-256 and renames the result into place.
* ``extract_archive`` unpacks tar (plain, gz, bz2, xz) and zip archives after refusing members that
  would write outside the target folder (absolute paths, ``..``, escaping links, devices, fifos);
  it extracts into a temporary folder and renames into place so an interruption leaves nothing.
* ``is_done`` / ``mark_done`` keep ``<folder>/.done-<stage>`` JSON markers so re-runs skip work.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from speechrnn.atomic import atomic_write, publish_mode
from speechrnn.errors import DataError

CHUNK_SIZE = 1 << 16
BACKOFF_SECONDS = 0.5  # first retry waits this long, then doubles (capped at 8 s)
USER_AGENT = "speechrnn-downloader/0.1"


def sha256sum(path: str | os.PathLike) -> str:
    """Hex SHA-256 digest of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def progress_disabled(quiet: bool) -> bool:
    """True when tqdm bars should be off: ``quiet`` asked for, or stderr is not a terminal."""
    return quiet or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


class _RetryableError(Exception):
    """A failure worth another attempt (connection reset, short read, 5xx)."""


def _parse_content_range_total(value: str | None) -> int | None:
    """Total size from ``Content-Range: bytes a-b/total`` (None when absent or ``*``)."""
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None


def _transfer(url: str, part: Path, timeout: float, quiet: bool) -> None:
    """One attempt: fetch the rest of ``url`` into ``part`` (resuming from its current size)."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # Range not satisfiable: the .part is already complete (or longer than the file).
            total = _parse_content_range_total(error.headers.get("Content-Range"))
            error.close()
            if total == offset:
                return
            part.unlink(missing_ok=True)
            raise _RetryableError(f"stale partial download of {offset} bytes") from None
        error.close()
        if error.code >= 500 or error.code in (408, 429):
            raise _RetryableError(f"HTTP {error.code} {error.reason}") from None
        raise DataError(f"{url}: download failed with HTTP {error.code} {error.reason}") from None
    except ValueError as error:  # malformed or unsupported URL
        raise DataError(f"{url}: not a valid download URL ({error})") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise _RetryableError(str(reason)) from None

    with response:
        status = getattr(response, "status", None) or 200
        content_range = response.headers.get("Content-Range") or ""
        if offset and status == 206 and not content_range.startswith(f"bytes {offset}-"):
            part.unlink(missing_ok=True)  # a range we did not ask for: start again from zero
            raise _RetryableError(f"unexpected Content-Range {content_range!r} for offset {offset}")
        if offset and status == 206:
            mode = "ab"
            expected_total = _parse_content_range_total(response.headers.get("Content-Range"))
        else:  # a fresh start, or a server that ignored the Range header: restart from zero
            mode, offset = "wb", 0
            expected_total = None
        length = response.headers.get("Content-Length")
        if expected_total is None and length is not None and length.isdigit():
            expected_total = offset + int(length)
        try:
            received = _receive(response, part, mode, url, expected_total, offset, quiet)
        except OSError as error:  # a full or read-only disk: a .part cut short there is no resumable download
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
            raise DataError(f"{part}: cannot write the download ({error.strerror or error})") from None
    if expected_total is not None and received < expected_total:
        raise _RetryableError(f"short read: {received} of {expected_total} bytes")


def _receive(response, part: Path, mode: str, url: str, expected_total: int | None, offset: int, quiet: bool) -> int:
    """Write ``response``'s body to ``part`` (``mode`` "ab" after ``offset`` bytes, or "wb") with a
    progress bar; returns the bytes ``part`` then holds. A lost connection is a _RetryableError; a
    local write error (OSError: full or read-only disk) is left to the caller."""
    received = offset
    with (
        open(part, mode) as f,
        tqdm(
            total=expected_total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=Path(urllib.request.urlparse(url).path).name or "download",
            disable=progress_disabled(quiet),
            leave=False,
        ) as bar,
    ):
        while True:
            try:
                block = response.read(CHUNK_SIZE)
            except (OSError, http.client.HTTPException) as error:
                raise _RetryableError(f"connection lost after {received} bytes ({error!r})") from None
            if not block:
                break
            f.write(block)
            received += len(block)
            bar.update(len(block))
    return received


def download_file(
    url: str,
    destination: str | os.PathLike,
    *,
    sha256: str | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    quiet: bool = False,
    check=None,
) -> Path:
    """Download ``url`` to ``destination`` (atomically), resuming and verifying as needed.

    Args:
        url: http(s) (or file) URL.
        destination: the final file path; its folder is created.
        sha256: expected hex digest; when given, a mismatch is an error and an existing
            ``destination`` is only reused if it matches.
        retries: further attempts after a connection error, short read or 5xx response.
        timeout: socket timeout in seconds for each attempt.
        quiet: disable the progress bar (it is also off when stderr is not a TTY).
        check: ``check(path)`` raises DataError unless the file is usable (e.g. ``check_archive``); a
            download that fails it is deleted, and an existing ``destination`` that fails it is
            fetched again, so an HTML error page served with status 200 is never kept.

    Returns:
        ``destination`` as a Path.

    Raises:
        DataError: HTTP error (404 ...), retries exhausted, or a checksum mismatch
            (the partial file is deleted; the message names the URL and both digests).
    """
    destination = Path(destination)
    check_url(url)
    expected = sha256.lower() if sha256 else None
    if destination.is_file() and (expected is None or sha256sum(destination) == expected):
        try:
            if check is not None:
                check(destination)
            return destination
        except DataError:
            destination.unlink()  # not what was asked for (an earlier run's error page): fetch again
    destination.parent.mkdir(parents=True, exist_ok=True)
    part = destination.with_name(destination.name + ".part")

    attempt = 0
    while True:
        try:
            _transfer(url, part, timeout, quiet)
            break
        except _RetryableError as error:
            if attempt >= retries:
                raise DataError(f"{url}: download failed after {attempt + 1} attempts ({error})") from None
            time.sleep(min(BACKOFF_SECONDS * 2**attempt, 8.0))
            attempt += 1

    if expected is not None:
        actual = sha256sum(part)
        if actual != expected:
            part.unlink(missing_ok=True)
            raise DataError(f"{url}: checksum mismatch (expected sha256 {expected}, got {actual})")
    if check is not None:
        try:
            check(part)
        except DataError as error:
            part.unlink(missing_ok=True)
            raise DataError(f"{url}: {error}") from None
    os.replace(part, destination)
    return destination


def check_url(url: str) -> None:
    """DataError unless ``url`` is an http(s) URL with a host, or a file URL."""
    parts = urllib.parse.urlparse(url)
    if not ((parts.scheme in ("http", "https") and parts.netloc) or (parts.scheme == "file" and parts.path)):
        raise DataError(f"{url}: not a valid download URL (expected http://, https:// or file://)")


def check_archive(path: str | os.PathLike) -> None:
    """DataError unless ``path`` is the tar or zip archive its name says (the ``check`` of a download)."""
    path = Path(path)
    name = path.name.removesuffix(".part")
    kind = _archive_kind(Path(name))
    try:
        usable = zipfile.is_zipfile(path) if kind == "zip" else tarfile.is_tarfile(path)
        with open(path, "rb") as f:
            start = f.read(512).lstrip().lower()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    if not usable:
        looks = " (an HTML page)" if start.startswith((b"<!doctype html", b"<html")) else ""
        raise DataError(f"got {path.stat().st_size} bytes that are not a {kind} archive{looks}")


# --------------------------------------------------------------------------- extraction


def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    for suffix in (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz"):
        if name.endswith(suffix):
            return "tar"
    raise DataError(f"{archive}: unsupported archive type (expected .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz or .zip)")


def _check_member_name(archive: Path, name: str) -> PurePosixPath:
    """Refuse absolute names and '..' components; return the normalised relative path."""
    unified = name.replace("\\", "/")
    path = PurePosixPath(unified)
    if unified.startswith("/") or (len(unified) > 1 and unified[1] == ":"):
        raise DataError(f"{archive}: refusing member {name!r} with an absolute path")
    if ".." in path.parts:
        raise DataError(f"{archive}: refusing member {name!r} with a '..' component")
    return path


def _escaping_link(archive: Path, name: str, target: str) -> str:
    return f"{archive}: refusing link {name!r} -> {target!r} (target leaves the folder)"


def _inside(root: str, candidate: str) -> bool:
    return candidate == root or candidate.startswith(root + os.sep)


def _check_tar_member(archive: Path, member: tarfile.TarInfo, root: str) -> None:
    """Static checks on one tar member against the extraction root (an absolute, real path)."""
    relative = _check_member_name(archive, member.name)
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise DataError(f"{archive}: refusing member {member.name!r}: device, fifo or special file")
    if member.issym() or member.islnk():
        link = member.linkname.replace("\\", "/")
        if link.startswith("/") or (len(link) > 1 and link[1] == ":"):
            raise DataError(f"{archive}: refusing link {member.name!r} -> {member.linkname!r} (absolute target)")
        # Symlink targets are relative to the link's folder; hard link targets to the archive root.
        base = os.path.join(root, *relative.parent.parts) if member.issym() else root
        if not _inside(root, os.path.normpath(os.path.join(base, link))):
            raise DataError(_escaping_link(archive, member.name, member.linkname))


def _check_on_disk(archive: Path, name: str, root: str, link_target: str | None = None, hard: bool = False) -> None:
    """Resolve existing symlinks on disk: the member (and a link's target) must stay inside ``root``."""
    destination = os.path.join(root, *PurePosixPath(name.replace("\\", "/")).parts)
    if not _inside(root, os.path.realpath(os.path.dirname(destination))):
        raise DataError(f"{archive}: refusing member {name!r}: it would be written through a link leaving the folder")
    if link_target is not None:
        base = root if hard else os.path.dirname(destination)
        if not _inside(root, os.path.realpath(os.path.join(base, link_target))):
            raise DataError(_escaping_link(archive, name, link_target))


def _check_links_after(archive: Path, root: str) -> None:
    """Final sweep: every symlink now on disk must resolve inside ``root`` (catches link chains)."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and not _inside(root, os.path.realpath(path)):
                member = os.path.relpath(path, root)
                raise DataError(_escaping_link(archive, member, os.readlink(path)))


class _WriteError(Exception):
    """Extraction could not write (full or read-only disk), as opposed to a bad archive."""


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def _raise_write_error(error: OSError) -> None:
    if error.errno in _WRITE_ERRNOS:
        raise _WriteError(error.strerror or str(error)) from None


def _extract_tar(archive: Path, root: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:  # validate everything before writing anything
                _check_tar_member(archive, member, root)
            # Our own checks above replace tarfile's filters (absent before Python 3.12 / 3.11.4).
            extra = {"filter": "fully_trusted"} if hasattr(tarfile, "data_filter") else {}
            for member in members:
                link = member.linkname if (member.issym() or member.islnk()) else None
                _check_on_disk(archive, member.name, root, link, hard=member.islnk())
                tar.extract(member, root, set_attrs=member.isreg(), **extra)
    except OSError as error:
        _raise_write_error(error)
        raise DataError(f"{archive}: not a readable archive ({error})") from None
    except (tarfile.TarError, EOFError) as error:
        raise DataError(f"{archive}: not a readable archive ({error})") from None
    _check_links_after(archive, root)


def _extract_zip(archive: Path, root: str) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            for info in infos:
                _check_member_name(archive, info.filename)
                kind = stat.S_IFMT(info.external_attr >> 16)
                if kind and kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK):
                    raise DataError(f"{archive}: refusing member {info.filename!r}: device, fifo or special file")
            for info in infos:
                _check_on_disk(archive, info.filename, root)
                zf.extract(info, root)  # zip symlinks are written as small regular files, never followed
    except OSError as error:
        _raise_write_error(error)
        raise DataError(f"{archive}: not a readable archive ({error})") from None
    except (zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{archive}: not a readable archive ({error})") from None


def extract_archive(archive: str | os.PathLike, target_dir: str | os.PathLike, *, quiet: bool = False) -> Path:
    """Safely extract a .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz or .zip archive into ``target_dir``.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    symlinks or hard links whose target leaves the folder, and device/fifo members raise
    ``DataError`` naming the member. Extraction happens in a temporary folder next to
    ``target_dir``; on success its top-level entries are renamed into ``target_dir`` (created if
    needed; an existing entry of the same name is replaced), so an interrupted or refused
    extraction leaves nothing behind.

    Returns:
        ``target_dir`` as a Path.
    """
    archive, target_dir = Path(archive), Path(target_dir)
    if not archive.is_file():
        raise DataError(f"{archive}: no such archive")
    kind = _archive_kind(archive)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target_dir.name}.extract-"
    for stale in target_dir.parent.glob(f"{prefix}*"):  # left by an extraction that was killed
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=target_dir.parent, prefix=prefix))
    try:
        root = os.path.realpath(staging)
        with tqdm(desc=f"extracting {archive.name}", disable=progress_disabled(quiet), leave=False, total=None) as bar:
            try:
                (_extract_zip if kind == "zip" else _extract_tar)(archive, root)
            except _WriteError as error:
                raise DataError(f"{target_dir.parent}: cannot extract {archive.name} there ({error})") from None
            bar.update(1)
        if not target_dir.exists():
            publish_mode(staging)
            os.rename(staging, target_dir)
            return target_dir
        if not target_dir.is_dir():
            raise DataError(f"{target_dir}: exists and is not a folder")
        for entry in sorted(staging.iterdir()):
            final = target_dir / entry.name
            if final.is_symlink() or final.is_file():
                final.unlink()
            elif final.exists():
                trash = Path(tempfile.mkdtemp(dir=target_dir, prefix=".replaced-"))
                os.rename(final, trash / entry.name)
                shutil.rmtree(trash)
            os.rename(entry, final)
        return target_dir
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------- markers


def _marker_path(folder: Path, stage: str) -> Path:
    if not stage or "/" in stage or "\\" in stage or stage.startswith("."):
        raise DataError(f"invalid stage name {stage!r}")
    return Path(folder) / f".done-{stage}"


def is_done(folder: str | os.PathLike, stage: str) -> bool:
    """True when ``mark_done(folder, stage)`` has completed."""
    return _marker_path(Path(folder), stage).is_file()


def read_marker(folder: str | os.PathLike, stage: str) -> dict | None:
    """The info dict stored by ``mark_done`` (None when the stage is not done or the marker is unreadable)."""
    path = _marker_path(Path(folder), stage)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content.get("info") if isinstance(content, dict) else None


def mark_done(folder: str | os.PathLike, stage: str, info: dict | None = None) -> Path:
    """Atomically write ``<folder>/.done-<stage>`` as JSON {"stage", "time", "info"}; returns its path."""
    path = _marker_path(Path(folder), stage)
    payload = {"stage": stage, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "info": info or {}}
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, sort_keys=True)
        f.write("\n")
    return path


__all__ = [
    "check_archive",
    "check_url",
    "download_file",
    "extract_archive",
    "is_done",
    "mark_done",
    "progress_disabled",
    "publish_mode",
    "read_marker",
    "sha256sum",
]
