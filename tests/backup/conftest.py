"""Backup fixtures: a data tree, repositories on a directory and on a real moto S3 server on loopback."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from opskeeper.backup.repo import Repository
from opskeeper.backup.store.dir import DirStore
from opskeeper.backup.store.s3 import S3Settings, S3Store

PASSPHRASE = "test passphrase: correct horse"
SMALL_PACKS = 256 * 1024  # many packs from little data, so faults land mid-upload


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_tree(root: Path, *, files: int = 30, big: int = 2, seed: int = 1) -> Path:
    """Small text and random files, a nested directory, a symlink and an empty file."""
    rng = random.Random(seed)
    (root / "sub" / "deep").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        d = root if i % 3 == 0 else root / "sub" if i % 3 == 1 else root / "sub" / "deep"
        data = (f"line {i} " * rng.randint(10, 400)).encode() if i % 2 else rng.randbytes(rng.randint(1, 9000))
        (d / f"f{i:03d}.txt").write_bytes(data)
    for i in range(big):
        (root / f"big{i}.bin").write_bytes(rng.randbytes(700_000 + i * 1000))
    (root / "empty").write_bytes(b"")
    (root / "link").symlink_to("sub/f001.txt")
    return root


def assert_same_tree(src: Path, restored: Path) -> None:
    """Byte-for-byte comparison of every file, and the same set of paths."""
    def listing(base: Path) -> dict[str, Path]:
        return {str(p.relative_to(base)): p for p in base.rglob("*")}
    a, b = listing(src), listing(restored)
    assert sorted(a) == sorted(b)
    for rel, p in a.items():
        q = b[rel]
        if p.is_symlink():
            assert os.readlink(p) == os.readlink(q)
        elif p.is_file():
            assert p.read_bytes() == q.read_bytes(), rel
            assert p.stat().st_mode == q.stat().st_mode, rel


def interruptible() -> None:
    """``preexec_fn`` for a child that a test stops with Ctrl-C: SIGINT as a terminal leaves it (default).

    A process started in the background of a non-interactive shell (``make test &``, some CI runners) has
    SIGINT ignored, its children inherit that, and Python then installs no KeyboardInterrupt handler.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def restored_root(out: Path, src: Path) -> Path:
    return out / str(src.resolve()).lstrip("/")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "data")


@pytest.fixture
def dir_store(tmp_path: Path) -> DirStore:
    return DirStore(tmp_path / "repo")


@pytest.fixture
def dir_repo(dir_store: DirStore) -> Iterator[Repository]:
    repo = Repository.init(dir_store, PASSPHRASE, pack_size=SMALL_PACKS)
    yield repo
    repo.close()


class MotoServer:
    """A real moto S3 server process on 127.0.0.1 (stoppable, for the fault tests)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


S3Factory = Callable[..., S3Store]


@pytest.fixture
def s3_store_factory(moto_server: MotoServer) -> S3Factory:
    """A fresh bucket per call; ``object_lock=True`` creates it with Object Lock enabled."""
    def make(*, object_lock: bool = False, server: MotoServer | None = None, **kw: object) -> S3Store:
        srv = server or moto_server
        bucket = f"b-{os.urandom(6).hex()}"
        client = boto3.client("s3", endpoint_url=srv.url, region_name="us-east-1",
                              aws_access_key_id="test", aws_secret_access_key="test")
        client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=object_lock)
        settings = S3Settings(bucket=bucket, prefix="repo", endpoint_url=srv.url, access_key="test",
                              secret_key="test", **kw)  # type: ignore[arg-type]
        return S3Store(settings)
    return make
