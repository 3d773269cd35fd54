"""Fixtures for the data tests: a local HTTP server on 127.0.0.1 and isolated data folders.

The server runs in a thread and serves only the files a test gives it. Switches per path:
``wrong_content`` (serve other bytes), ``drop_after`` (announce the full length, send only the
first bytes, then close the connection), ``errors`` (answer with an HTTP status), ``stall_after``
(send the first bytes, then nothing until the server stops), ``drip`` (one byte every so many
seconds) and ``silent`` (accept the request and never answer).
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.wrong_content: set[str] = set()
        self.drop_after: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.stall_after: dict[str, int] = {}
        self.drip: dict[str, float] = {}
        self.silent: set[str] = set()
        self.requests: list[str] = []
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                path = self.path
                server.requests.append(path)
                if path in server.silent:
                    server.stopping.wait()
                    return
                if path in server.errors:
                    self.send_error(server.errors[path])
                    return
                if path not in server.files:
                    self.send_error(404)
                    return
                body = server.files[path]
                if path in server.wrong_content:
                    body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path in server.drop_after:
                    self.wfile.write(body[:server.drop_after[path]])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if path in server.stall_after:
                    self.wfile.write(body[:server.stall_after[path]])
                    self.wfile.flush()
                    server.stopping.wait()
                    return
                if path in server.drip:
                    for index in range(len(body)):
                        if server.stopping.is_set():
                            return
                        self.wfile.write(body[index:index + 1])
                        self.wfile.flush()
                        time.sleep(server.drip[path])
                    return
                self.wfile.write(body)

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def file_server(monkeypatch):
    """A running local HTTP server; ``file_server.files['/m1/x.gz'] = data`` serves a file."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = FileServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def isolated_data_folders(tmp_path, monkeypatch):
    """No test reads the user's GIAGRAD_DATA or writes the real cache."""
    monkeypatch.delenv("GIAGRAD_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
