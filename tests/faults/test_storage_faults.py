"""Storage faults on real parts: an S3 server that answers 500 and then is gone mid-upload.

The backup runs in its own process (``tests.backup.backup_proc``) against a real HTTP proxy in front
of the moto S3 server; the proxy turns the faults on. Each test ends the same way: the repository is
valid (no half snapshot), a re-run finishes and reuses what was uploaded, and restores byte for byte.
The target disk filling up mid-restore is ``tests/backup/test_faults.py::test_disk_full_during_restore``
(it ends with the re-run in place after room is made).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from opskeeper.backup.backup import backup
from opskeeper.backup.prune import prune
from opskeeper.backup.repo import Repository
from opskeeper.backup.restore import restore
from opskeeper.backup.sources import DirSource
from opskeeper.backup.verify import verify
from opskeeper.config.backup import Retention
from tests.backup.conftest import (
    PASSPHRASE,
    SMALL_PACKS,
    MotoServer,
    S3Factory,
    assert_same_tree,
    restored_root,
)
from tests.backup.test_faults import start_backup, wait_for_puts

pytestmark = pytest.mark.s3

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
_S3_500 = b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>InternalError</Code></Error>"


class FaultyProxy:
    """An HTTP proxy on loopback in front of an S3 server, with faults switched on by the test.

    ``flaky``: the first attempt of each request is answered 500 InternalError; a PUT is stored first
    (the worst 5xx: the write happened, the client is told it did not). ``down()``: the port is
    closed and the open connections cut, so every request fails at once and every retry is refused.
    Connections are kept alive (HTTP/1.1), as a real server does: a client never meets a socket the
    server closed between two requests, which would spend one of its retries before any fault.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.flaky = False
        self.served_500 = 0
        self._seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _first_attempt(self, method: str, path: str) -> bool:
        with self._lock:
            first = self.flaky and (method, path) not in self._seen
            if self.flaky:
                self._seen.add((method, path))
            if first:
                self.served_500 += 1
            return first

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        conn = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=30)
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheaders(), resp.read()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._open.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._open.discard(self.connection)
                super().finish()

            def log_message(self, *_a: object) -> None:
                return

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                if proxy._first_attempt(self.command, self.path):
                    if self.command == "PUT":
                        proxy._forward(self.command, self.path, headers, body)
                    status, reply, data = 500, [("Content-Type", "application/xml")], _S3_500
                else:
                    status, reply, data = proxy._forward(self.command, self.path, headers, body)
                self.send_response(status)
                for k, v in reply:
                    if k.lower() not in _HOP or (self.command == "HEAD" and k.lower() == "content-length"):
                        self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay  # noqa: N815

        return Handler

    def down(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)


def test_s3_500s_then_unreachable_mid_upload(
    moto_server: MotoServer,
    s3_store_factory: S3Factory,
    big_data: Path,
    tmp_path: Path,
) -> None:
    store = s3_store_factory()
    Repository.init(store, PASSPHRASE, pack_size=SMALL_PACKS)
    proxy = FaultyProxy(moto_server.port)
    proc = start_backup(f"s3://{proxy.port}/{store.s.bucket}", big_data, slow=0.2)  # 2 attempts, 1 s timeouts
    try:
        before = wait_for_puts(proc, 2)
        proxy.flaky = True
        during = wait_for_puts(proc, 2)  # the upload goes on through the 500s: each retried once
        assert proxy.served_500 >= 2
        proxy.down()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, (out, err)
    assert "ERROR" in out and store.s.bucket in out, (out, err)  # a clean failure that names the target
    assert "SNAPSHOT" not in out and "Traceback" not in err, err

    repo = Repository.open(store, PASSPHRASE)  # straight to the server: it is the proxy that is gone
    assert repo.snapshot_ids() == []  # nothing half-committed
    assert verify(repo, read_pct=100).ok
    stored = {o.name.rsplit("/", 1)[-1] for o in repo.store.list("data/")}
    assert {p.rsplit("/", 1)[-1] for p in before + during} <= stored  # the 500-answered writes are whole

    snap = backup(repo, DirSource([big_data]))  # the re-run (the dead process's lock is stale)
    assert 0 < snap.stats.new_bytes < snap.stats.bytes  # it reused the packs already uploaded
    assert repo.snapshot_ids() == [snap.id]
    prune(repo, Retention())  # orphans of the failed run go; nothing the snapshot uses does
    assert verify(repo, read_pct=100).ok
    restore(repo, snap.id, tmp_path / "out")
    assert_same_tree(big_data, restored_root(tmp_path / "out", big_data))
