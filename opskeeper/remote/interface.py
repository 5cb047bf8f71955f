"""The Executor seam: run commands and move files on a host, local or remote.

Implementations: ``LocalExecutor`` (subprocess) in ``local.py`` and
``SSHExecutor`` (paramiko) in ``ssh.py``. A non-zero exit code is data, not an
error: an ``Expectation`` judges it. Only transport failures and timeouts raise.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from opskeeper.errors import OpskeeperError

if TYPE_CHECKING:
    from opskeeper.remote.ssh_hostkeys import SecurityEvent

DEFAULT_OUTPUT_CAP = 1024 * 1024  # bytes kept per stream; the rest is counted, not kept


class ExecutorError(OpskeeperError):
    """Base error of the executor seam (transport, not the command's own failure)."""

    exit_code = 1


class HostUnreachable(ExecutorError):
    """The host could not be reached or the connection dropped."""


class HostKeyRejected(ExecutorError):
    """The host presented an unknown or changed host key: refused.

    ``event`` (a ``ssh_hostkeys.SecurityEvent``) is the refusal as the console and the audit trail saw
    it; None when no key could be checked (an unreadable known_hosts file, a malformed pin).
    """

    def __init__(self, message: str, *, event: SecurityEvent | None = None) -> None:
        super().__init__(message)
        self.event = event


class AuthenticationFailed(ExecutorError):
    """The host refused our credentials."""


class CommandTimeout(ExecutorError):
    """The command did not finish within its timeout; it was killed."""


@dataclass(frozen=True)
class CommandResult:
    """What a command did: its exit code and (capped) output."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


OutputCallback = Callable[[str, str], None]
"""Called with (stream name "stdout"/"stderr", text chunk) as output arrives."""


@dataclass(frozen=True)
class HostInfo:
    """Who we are talking to, for records and locks."""

    name: str
    address: str = "localhost"
    extra: Mapping[str, str] = field(default_factory=dict)


class Executor(abc.ABC):
    """Runs commands on one host. One instance per host, reused across a run's steps."""

    host: HostInfo

    @abc.abstractmethod
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
        """Run a command. ``argv`` as a list is quoted safely; a ``str`` is run by ``sh -c``."""

    @abc.abstractmethod
    def open_stream(self, argv: Sequence[str] | str, *, sudo: bool = False) -> CommandStream:
        """Start a command and return its stdout as a binary stream (for large data, e.g. tar, pg_dump)."""

    @abc.abstractmethod
    def put_file(self, local_path: str, remote_path: str, *, mode: int | None = None) -> None:
        """Copy a local file to the host (atomically: temp name then rename)."""

    @abc.abstractmethod
    def get_file(self, remote_path: str, local_path: str) -> None:
        """Copy a file from the host to a local path."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection. Safe to call twice."""

    def connect(self) -> object:
        """Connect now rather than at first use, so an unreachable host fails once, up front.

        Raises HostUnreachable, HostKeyRejected or AuthenticationFailed. Local executors need nothing.
        """
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CommandStream(abc.ABC):
    """A running command whose stdout is read as a byte stream; ``wait`` gives its result."""

    stdout: BinaryIO

    @abc.abstractmethod
    def write_stdin(self, data: bytes) -> None:
        """Send bytes to the command's stdin."""

    @abc.abstractmethod
    def close_stdin(self) -> None:
        """Signal end of input."""

    @abc.abstractmethod
    def wait(self, timeout: float | None = None) -> CommandResult:
        """Wait for exit; stdout in the result is empty (it was streamed), stderr is kept."""
