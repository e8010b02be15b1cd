"""Shared fixtures.

``http_server``: a real HTTP server on 127.0.0.1 (``http.server`` in a thread) serving in-memory
files. It honours ``Range: bytes=N-`` (206 + Content-Range), answers 404 for unknown paths, records
every request's path and headers, and can misbehave on demand::

    def test_x(http_server):
        url = http_server.add("/data.tar.gz", payload)      # -> "http://127.0.0.1:PORT/data.tar.gz"
        http_server.drop_after["/data.tar.gz"] = [1000]      # next response: 1000 bytes, then hang up
        http_server.ignore_range = True                      # always answer 200 with the whole file
        http_server.requests                                 # [(path, {header: value}), ...]

``loopback_server()`` is the same server as a context manager, for module-scoped fixtures.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    """Two shared CPU cores: keep every test to one intra-op thread."""
    torch.set_num_threads(1)


class LoopbackServer:
    """State shared between a test and the request handler thread."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.drop_after: dict[str, list[int]] = {}  # path -> byte counts, one per upcoming response
        self.ignore_range = False
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.base_url = ""

    def add(self, path: str, content: bytes) -> str:
        """Serve ``content`` at ``path`` (leading '/'); returns its full URL."""
        self.files[path] = content
        return self.url(path)

    def url(self, path: str) -> str:
        return self.base_url + path

    def range_requests(self, path: str) -> list[str]:
        """The Range header values sent for ``path`` (in order; absent headers are skipped)."""
        return [headers["Range"] for p, headers in self.requests if p == path and "Range" in headers]


def _make_handler(state: LoopbackServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            path = self.path.split("?", 1)[0]
            state.requests.append((path, dict(self.headers.items())))
            content = state.files.get(path)
            if content is None:
                body = b"not found\n"
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            start = 0
            range_header = self.headers.get("Range")
            if range_header and not state.ignore_range and range_header.startswith("bytes="):
                first = range_header[len("bytes=") :].split("-", 1)[0]
                start = int(first) if first.isdigit() else 0
            if start >= len(content) and start > 0:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(content)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = content[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            drops = state.drop_after.get(path)
            if drops:
                limit = drops.pop(0)
                self.wfile.write(body[:limit])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def loopback_server() -> Iterator[LoopbackServer]:
    """A running ``LoopbackServer`` on 127.0.0.1 with an ephemeral port; stopped on exit."""
    state = LoopbackServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_server():
    """``loopback_server()`` for one test."""
    with loopback_server() as state:
        yield state
