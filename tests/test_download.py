"""Downloads over a real loopback HTTP server, safe extraction and completion markers."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from speechrnn.data import download
from speechrnn.data.download import download_file, extract_archive, is_done, mark_done, read_marker, sha256sum
from speechrnn.errors import DataError

PAYLOAD = os.urandom(200_000)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch):
    monkeypatch.setattr(download, "BACKOFF_SECONDS", 0.01)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --------------------------------------------------------------------------- downloads


def test_sha256sum_matches_hashlib(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(PAYLOAD)
    assert sha256sum(path) == PAYLOAD_SHA


def test_plain_download_with_checksum_then_skip(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    destination = tmp_path / "sub" / "blob.bin"
    assert download_file(url, destination, sha256=PAYLOAD_SHA, quiet=True) == destination
    assert destination.read_bytes() == PAYLOAD
    assert _leftovers(destination.parent) == ["blob.bin"]
    assert len(http_server.requests) == 1 and "Range" not in http_server.requests[0][1]

    # Already there and matching: no new request.
    download_file(url, destination, sha256=PAYLOAD_SHA.upper(), quiet=True)
    download_file(url, destination, quiet=True)
    assert len(http_server.requests) == 1


def test_existing_file_with_wrong_digest_is_downloaded_again(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    destination = tmp_path / "blob.bin"
    destination.write_bytes(b"stale")
    download_file(url, destination, sha256=PAYLOAD_SHA, quiet=True)
    assert destination.read_bytes() == PAYLOAD


def test_resume_after_dropped_connection_uses_range(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    http_server.drop_after["/blob.bin"] = [70_000]
    destination = tmp_path / "blob.bin"
    download_file(url, destination, sha256=PAYLOAD_SHA, quiet=True)
    assert sha256sum(destination) == PAYLOAD_SHA
    assert len(http_server.requests) == 2
    assert "Range" not in http_server.requests[0][1]
    assert http_server.range_requests("/blob.bin") == ["bytes=70000-"]
    assert _leftovers(tmp_path) == ["blob.bin"]


def test_resume_from_part_file_left_by_earlier_run(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    destination = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD[:12_345])
    download_file(url, destination, sha256=PAYLOAD_SHA, quiet=True)
    assert destination.read_bytes() == PAYLOAD
    assert http_server.range_requests("/blob.bin") == ["bytes=12345-"]


def test_complete_part_file_gets_416_and_is_kept(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    destination = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(PAYLOAD)
    download_file(url, destination, sha256=PAYLOAD_SHA, quiet=True)
    assert destination.read_bytes() == PAYLOAD
    assert len(http_server.requests) == 1


def test_server_ignoring_range_restarts_from_zero(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    http_server.ignore_range = True
    destination = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(b"garbage that must not be kept")
    download_file(url, destination, sha256=PAYLOAD_SHA, quiet=True)
    assert destination.read_bytes() == PAYLOAD
    assert http_server.range_requests("/blob.bin") == ["bytes=29-"]


def test_checksum_mismatch_raises_and_leaves_nothing(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    wrong = "0" * 64
    with pytest.raises(DataError) as info:
        download_file(url, tmp_path / "blob.bin", sha256=wrong, quiet=True)
    message = str(info.value)
    assert url in message and wrong in message and PAYLOAD_SHA in message and "\n" not in message
    assert _leftovers(tmp_path) == []


def test_404_raises_without_retrying(http_server, tmp_path):
    url = http_server.url("/missing.tar.gz")
    with pytest.raises(DataError, match="HTTP 404") as info:
        download_file(url, tmp_path / "missing.tar.gz", quiet=True)
    assert url in str(info.value)
    assert len(http_server.requests) == 1
    assert _leftovers(tmp_path) == []


def test_gives_up_after_retries(http_server, tmp_path):
    url = http_server.add("/blob.bin", PAYLOAD)
    http_server.drop_after["/blob.bin"] = [1000, 1000, 1000, 1000]
    with pytest.raises(DataError, match="after 3 attempts"):
        download_file(url, tmp_path / "blob.bin", retries=2, quiet=True)
    assert len(http_server.requests) == 3
    assert not (tmp_path / "blob.bin").exists()
    # The partial data is kept for a later resume.
    assert (tmp_path / "blob.bin.part").read_bytes() == PAYLOAD[:3000]


def test_connection_refused_is_a_data_error(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="download failed after 1 attempts"):
        download_file(f"http://127.0.0.1:{port}/x", tmp_path / "x", retries=0, quiet=True)


# --------------------------------------------------------------------------- extraction


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _add_link(tar: tarfile.TarFile, name: str, target: str, kind=tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    tar.addfile(info)


def _make_tar(path: Path, build, mode="w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        build(tar)
    return path


GOOD_FILES = {"top/readme.txt": b"hello\n", "top/sub/data.bin": bytes(range(256)) * 10}


@pytest.mark.parametrize("suffix,mode", [(".tar.gz", "w:gz"), (".tar", "w"), (".tar.bz2", "w:bz2"), (".tgz", "w:gz")])
def test_extract_good_tar(tmp_path, suffix, mode):
    def build(tar):
        for name, data in GOOD_FILES.items():
            _add_bytes(tar, name, data)
        _add_link(tar, "top/sub/alias.bin", "data.bin")  # a symlink that stays inside is fine

    archive = _make_tar(tmp_path / f"good{suffix}", build, mode)
    target = tmp_path / "out"
    assert extract_archive(archive, target, quiet=True) == target
    for name, data in GOOD_FILES.items():
        assert (target / name).read_bytes() == data
    assert (target / "top/sub/alias.bin").read_bytes() == GOOD_FILES["top/sub/data.bin"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # not the private mode of a temp folder
    assert _leftovers(tmp_path) == sorted([archive.name, "out"])


def test_extract_good_zip_into_existing_folder(tmp_path):
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in GOOD_FILES.items():
            zf.writestr(name, data)
    target = tmp_path / "out"
    (target / "top").mkdir(parents=True)
    (target / "top" / "stale.txt").write_text("old")
    (target / "keep.txt").write_text("unrelated")
    extract_archive(archive, target, quiet=True)
    for name, data in GOOD_FILES.items():
        assert (target / name).read_bytes() == data
    assert not (target / "top" / "stale.txt").exists()  # the entry "top" was replaced as a whole
    assert (target / "keep.txt").read_text() == "unrelated"
    assert _leftovers(target) == ["keep.txt", "top"]


def _assert_refused(tmp_path: Path, archive: Path, member_text: str) -> None:
    target = tmp_path / "box" / "out"
    with pytest.raises(DataError) as info:
        extract_archive(archive, target, quiet=True)
    message = str(info.value)
    assert member_text in message and "refusing" in message and "\n" not in message
    assert not target.exists()
    assert _leftovers(tmp_path / "box") == []  # no staging folder left behind
    assert not (tmp_path / "evil").exists() and not (tmp_path / "box" / "evil").exists()


@pytest.mark.parametrize(
    "name,build",
    [
        ("absolute", lambda tar, tmp: _add_bytes(tar, str(tmp / "evil"), b"x")),
        ("dotdot", lambda tar, tmp: _add_bytes(tar, "ok/../../evil", b"x")),
        ("dotdot-first", lambda tar, tmp: (_add_bytes(tar, "fine.txt", b"x"), _add_bytes(tar, "../evil", b"x"))),
        ("symlink-out", lambda tar, tmp: _add_link(tar, "link", "../../evil")),
        ("symlink-abs", lambda tar, tmp: _add_link(tar, "link", str(tmp))),
        ("hardlink-out", lambda tar, tmp: _add_link(tar, "hard", "../evil", tarfile.LNKTYPE)),
    ],
)
def test_malicious_tar_refused(tmp_path, name, build):
    (tmp_path / "box").mkdir()
    archive = _make_tar(tmp_path / f"{name}.tar.gz", lambda tar: build(tar, tmp_path))
    member = {"absolute": "evil", "dotdot": "../evil", "dotdot-first": "../evil"}.get(name, "link")
    if name == "hardlink-out":
        member = "hard"
    _assert_refused(tmp_path, archive, member)


def test_symlink_then_write_through_it_refused(tmp_path):
    (tmp_path / "box").mkdir()

    def build(tar):
        _add_link(tar, "escape", "..")  # points at box/, outside the target
        _add_bytes(tar, "escape/evil", b"x")

    _assert_refused(tmp_path, _make_tar(tmp_path / "a.tar", build, "w"), "escape")


def test_link_chain_escape_refused(tmp_path):
    """Each link looks harmless alone; together ``l`` resolves outside (``d`` -> ``.`` makes ``d/..`` = parent)."""
    (tmp_path / "box").mkdir()

    def build(tar):
        _add_link(tar, "l", "d/..")
        _add_link(tar, "d", ".")

    _assert_refused(tmp_path, _make_tar(tmp_path / "chain.tar", build, "w"), "'l'")


def test_fifo_member_refused(tmp_path):
    (tmp_path / "box").mkdir()

    def build(tar):
        info = tarfile.TarInfo("pipe")
        info.type = tarfile.FIFOTYPE
        tar.addfile(info)

    _assert_refused(tmp_path, _make_tar(tmp_path / "fifo.tar", build, "w"), "'pipe'")


@pytest.mark.parametrize("member", ["../evil", "/tmp/evil", "a/../../evil"])
def test_malicious_zip_refused(tmp_path, member):
    (tmp_path / "box").mkdir()
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("fine.txt", b"x")
        zf.writestr(member, b"x")
    _assert_refused(tmp_path, archive, member)


def test_unsupported_and_corrupt_archives(tmp_path):
    odd = tmp_path / "data.rar"
    odd.write_bytes(b"x")
    with pytest.raises(DataError, match="unsupported archive type"):
        extract_archive(odd, tmp_path / "out")
    corrupt = tmp_path / "data.tar.gz"
    corrupt.write_bytes(b"not a tarball at all" * 10)
    with pytest.raises(DataError, match="not a readable archive"):
        extract_archive(corrupt, tmp_path / "out")
    with pytest.raises(DataError, match="no such archive"):
        extract_archive(tmp_path / "absent.zip", tmp_path / "out")
    assert _leftovers(tmp_path) == ["data.rar", "data.tar.gz"]


# --------------------------------------------------------------------------- markers


def test_markers_round_trip(tmp_path):
    folder = tmp_path / "corpus"
    assert not is_done(folder, "extract")
    assert read_marker(folder, "extract") is None
    path = mark_done(folder, "extract", {"files": 3, "seed": 0})
    assert path == folder / ".done-extract"
    assert is_done(folder, "extract") and not is_done(folder, "prepare")
    assert read_marker(folder, "extract") == {"files": 3, "seed": 0}
    assert json.loads(path.read_text())["stage"] == "extract"
    assert _leftovers(folder) == [".done-extract"]  # no temp file left
    with pytest.raises(DataError, match="invalid stage name"):
        mark_done(folder, "../x")
