"""LocalExecutor: commands on this machine through subprocess, with timeouts and output caps."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import IO, BinaryIO

from opskeeper.remote.interface import (
    DEFAULT_OUTPUT_CAP,
    CommandResult,
    CommandStream,
    CommandTimeout,
    Executor,
    ExecutorError,
    HostInfo,
    OutputCallback,
)

PIPE_GRACE_S = 2.0  # how long output may still arrive after the command itself exited


def _argv(argv: Sequence[str] | str, sudo: bool) -> list[str]:
    cmd = ["/bin/sh", "-c", argv] if isinstance(argv, str) else list(argv)
    if sudo and os.geteuid() != 0:
        cmd = ["sudo", "-n", "--", *cmd]
    return cmd


class _Capture:
    """Reads a pipe in a thread, keeps at most ``cap`` bytes, counts the rest."""

    def __init__(self, name: str, pipe: IO[bytes], cap: int, callback: OutputCallback | None) -> None:
        self.name, self.pipe, self.cap, self.callback = name, pipe, cap, callback
        self.buf = bytearray()
        self.truncated = False
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        for chunk in iter(lambda: self.pipe.read1(65536) if hasattr(self.pipe, "read1") else b"", b""):
            room = self.cap - len(self.buf)
            if room > 0:
                self.buf += chunk[:room]
            if len(chunk) > room:
                self.truncated = True
            if self.callback:
                self.callback(self.name, chunk.decode("utf-8", "replace"))
        self.pipe.close()

    def text(self, wait: float | None = None) -> str:
        self.thread.join(wait)
        return bytes(self.buf).decode("utf-8", "replace")


class LocalExecutor(Executor):
    """Runs on this machine. ``sudo`` uses ``sudo -n`` unless already root."""

    def __init__(self, name: str = "localhost") -> None:
        self.host = HostInfo(name=name, address="localhost", extra={"hostname": socket.gethostname()})

    def run(
        self,
        argv: Sequence[str] | str,
        *,
        timeout: float = 300.0,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        sudo: bool = False,
        output_cap: int = DEFAULT_OUTPUT_CAP,
        on_output: OutputCallback | None = None,
    ) -> CommandResult:
        cmd = _argv(argv, sudo)
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **env} if env else None,
                start_new_session=True,  # so a timeout kills the whole process group
            )
        except OSError as e:
            raise ExecutorError(f"{self.host.name}: cannot start {cmd[0]!r}: {e.strerror}") from e
        assert proc.stdout and proc.stderr
        out = _Capture("stdout", proc.stdout, output_cap, on_output)
        err = _Capture("stderr", proc.stderr, output_cap, on_output)
        if stdin is not None and proc.stdin:
            # In a thread: a command that does not read would block the write, and the timeout with it.
            threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            _kill_group(proc)
            raise CommandTimeout(
                f"{self.host.name}: command timed out after {timeout:g}s: {shlex.join(cmd)[:200]}"
            ) from e
        # A process the command left running in the background (a daemon it started) may hold the
        # pipes open: the command's result is in once it exits, so do not wait for that one.
        grace = min(max(0.0, timeout - (time.monotonic() - started)), PIPE_GRACE_S)
        until = time.monotonic() + grace
        stdout, stderr = out.text(grace), err.text(max(0.0, until - time.monotonic()))
        return CommandResult(
            argv=tuple(cmd),
            exit_code=code,
            stdout=stdout,
            stderr=stderr,
            duration_s=time.monotonic() - started,
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
        )

    def open_stream(self, argv: Sequence[str] | str, *, sudo: bool = False) -> CommandStream:
        return _LocalStream(self.host.name, _argv(argv, sudo))

    def put_file(self, local_path: str, remote_path: str, *, mode: int | None = None) -> None:
        # A unique temp name beside the target: threads copying to one path never share a half-written file.
        tmp = f"{remote_path}.opskeeper-tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copyfile(local_path, tmp)
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, remote_path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ExecutorError(f"{self.host.name}: cannot copy {local_path} to {remote_path}: {e}") from e

    def get_file(self, remote_path: str, local_path: str) -> None:
        self.put_file(remote_path, local_path)

    def close(self) -> None:
        return None


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, ValueError, OSError):  # the command exited or was killed first
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class _LocalStream(CommandStream):
    def __init__(self, host: str, cmd: list[str]) -> None:
        self.host, self.cmd = host, cmd
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as e:
            raise ExecutorError(f"{host}: cannot start {cmd[0]!r}: {e.strerror}") from e
        assert self.proc.stdout and self.proc.stderr
        self.stdout: BinaryIO = self.proc.stdout  # type: ignore[assignment]
        self._err = _Capture("stderr", self.proc.stderr, DEFAULT_OUTPUT_CAP, None)

    def write_stdin(self, data: bytes) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(data)

    def close_stdin(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def wait(self, timeout: float | None = None) -> CommandResult:
        self.close_stdin()
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            _kill_group(self.proc)
            raise CommandTimeout(
                f"{self.host}: stream command timed out: {shlex.join(self.cmd)[:200]}"
            ) from e
        return CommandResult(
            argv=tuple(self.cmd),
            exit_code=code,
            stdout="",
            stderr=self._err.text(),
            duration_s=time.monotonic() - self.started,
            stderr_truncated=self._err.truncated,
        )
