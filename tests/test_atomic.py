"""atomic_write: content, permissions that follow the umask, nothing left behind on failure."""

from __future__ import annotations

import os
import signal
import stat
import time

import pytest

from speechrnn.atomic import atomic_write, publish_mode


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_bytes_and_text_and_creates_folders(tmp_path):
    binary = tmp_path / "a" / "b" / "blob.bin"
    with atomic_write(binary) as f:
        f.write(b"\x00\x01payload")
    assert binary.read_bytes() == b"\x00\x01payload"

    text = tmp_path / "notes.txt"
    with atomic_write(text, "w", encoding="utf-8") as f:
        f.write("héllo\n")
    assert text.read_text(encoding="utf-8") == "héllo\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "notes.txt"]


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o002])
def test_mode_follows_the_umask_not_mkstemp(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = tmp_path / "out.json"
        with atomic_write(path, "w") as f:
            f.write("{}")
    finally:
        os.umask(old)
    assert _mode(path) == 0o666 & ~umask
    assert _mode(path) != 0o600


def test_replacing_an_existing_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("old")
    with atomic_write(path, "w") as f:
        f.write("new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_exception_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path, "w") as f:
            f.write("half written")
            f.flush()
            assert len(list(tmp_path.iterdir())) == 2  # the temp file exists next to the target meanwhile
            raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_exception_without_an_old_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "new.bin") as f:
            f.write(b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_bad_open_arguments_leave_nothing(tmp_path):
    with pytest.raises(LookupError):
        with atomic_write(tmp_path / "x.txt", "w", encoding="no-such-codec"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_publish_mode_on_a_folder(tmp_path, umask_027):
    folder = tmp_path / "d"
    folder.mkdir(mode=0o700)
    publish_mode(folder)
    assert _mode(folder) == 0o777 & ~umask_027


def test_a_sigterm_while_the_temp_file_is_created_arrives_after_it_is_guarded():
    """The temp file is made with SIGTERM/SIGINT held back, so a signal there cannot strand it."""
    from speechrnn.atomic import _signals_held

    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("term"))
    try:
        with _signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.01)
            assert seen == []  # held back inside
        time.sleep(0.01)
        assert seen == ["term"]  # delivered once the block ends
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_sigterm_just_as_the_temp_file_is_made_leaves_no_temp_file(tmp_path, monkeypatch):
    """A real SIGTERM sent the moment the temp file exists (the window before ``atomic_write`` knows its
    name) ends the write with the handler's exception and strands nothing."""
    import speechrnn.atomic as atomic

    real_mkstemp = atomic.tempfile.mkstemp

    def mkstemp_then_sigterm(*args, **kwargs):
        made = real_mkstemp(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)
        return made

    def terminated(*_):
        raise RuntimeError("terminated")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", mkstemp_then_sigterm)
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        with pytest.raises(RuntimeError, match="terminated"):
            with atomic_write(tmp_path / "out.txt", "w") as f:
                f.write("never")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == []
