"""Channel-level helpers of the SSH executor: output capture, timeouts, remote kill, streams, keys."""

from __future__ import annotations

import codecs
import io
import logging
import select
import threading
import time

import paramiko
from paramiko.common import cMSG_CHANNEL_REQUEST

from opskeeper.config.secrets import SecretRef
from opskeeper.remote.interface import (
    DEFAULT_OUTPUT_CAP,
    AuthenticationFailed,
    CommandResult,
    CommandStream,
    CommandTimeout,
    HostUnreachable,
    OutputCallback,
)

log = logging.getLogger(__name__)

_READ = 65536
_STREAM_IDLE_TIMEOUT_S = 600.0  # a stream with no byte for this long is a dead host, not a slow one
_KILL_GRACE_S = 1.0


class Capture:
    """Keeps the first ``cap`` bytes of a stream, counts the rest, and feeds text to a callback."""

    def __init__(self, name: str, cap: int, on_output: OutputCallback | None) -> None:
        self.name = name
        self.cap = cap
        self.total = 0
        self._buf = bytearray()
        self._on_output = on_output
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def add(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - len(self._buf)
        if room > 0:
            self._buf += data[:room]
        if self._on_output is not None:
            text = self._decoder.decode(data)
            if text:
                try:
                    self._on_output(self.name, text)
                except Exception:  # noqa: BLE001 - an output observer must not break the command
                    log.exception("output callback failed")

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    def text(self) -> str:
        return self._buf.decode("utf-8", "replace")


def collect_output(chan: paramiko.Channel, out: Capture, err: Capture, deadline: float) -> bool:
    """Read stdout/stderr until EOF (or the channel closes); False if the deadline passed first."""
    poller = select.poll()
    poller.register(chan.fileno(), select.POLLIN)  # paramiko sets this pipe on data, EOF and close
    while True:
        while chan.recv_ready():
            out.add(chan.recv(_READ))
        while chan.recv_stderr_ready():
            err.add(chan.recv_stderr(_READ))
        if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        poller.poll(min(remaining, 1.0) * 1000)


def send_signal(chan: paramiko.Channel, name: str) -> None:
    """RFC 4254 6.9 "signal" request; OpenSSH delivers it to the session's process group."""
    if chan.closed or not chan.transport.is_active():
        return
    m = paramiko.Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(chan.remote_chanid)
    m.add_string("signal")
    m.add_boolean(False)
    m.add_string(name)
    chan.transport._send_user_message(m)  # no public API for it in paramiko


def kill_remote(chan: paramiko.Channel) -> None:
    """TERM (sudo relays it to its root child), then KILL; the channel is closed afterwards by the caller."""
    try:
        send_signal(chan, "TERM")
        if not chan.status_event.wait(_KILL_GRACE_S):
            send_signal(chan, "KILL")
    except (paramiko.SSHException, EOFError, OSError):
        pass  # the connection is gone: nothing left to kill from here


def load_private_key(ref: SecretRef, passphrase: SecretRef | None, where: str) -> paramiko.PKey:
    """Decode the private key text behind ``ref`` (ed25519, ecdsa or rsa; OpenSSH or PEM)."""
    text = ref.resolve()
    if not text.endswith("\n"):
        text += "\n"
    password = passphrase.resolve() if passphrase else None
    last: Exception | None = None
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=password)
        except paramiko.PasswordRequiredException as e:
            raise AuthenticationFailed(f"{where}: private key {ref} is encrypted; set 'key_passphrase'") from e
        except (paramiko.SSHException, ValueError, TypeError) as e:
            last = e
    hint = "wrong passphrase, or not" if password else "not"
    raise AuthenticationFailed(f"{where}: private key {ref}: {hint} an ed25519/ecdsa/rsa key ({last})")


class _ChannelReader(io.RawIOBase):
    """stdout of a channel as a raw byte stream; a dropped connection raises instead of looking like EOF."""

    def __init__(self, chan: paramiko.Channel, endpoint: str) -> None:
        self._chan = chan
        self._endpoint = endpoint

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._chan.recv(len(b))
        except TimeoutError as e:
            raise HostUnreachable(f"{self._endpoint}: stream stalled for {_STREAM_IDLE_TIMEOUT_S:g}s") from e
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(f"{self._endpoint}: connection lost while streaming: {e}") from e
        # paramiko's exit_status_ready() is also true once the channel is closed: only an EOF from the
        # host says the output is complete.
        if not data and not self._chan.eof_received and not self._chan.transport.is_active():
            raise HostUnreachable(f"{self._endpoint}: connection lost while streaming (output is incomplete)")
        n = len(data)
        b[:n] = data
        return n


class SSHStream(CommandStream):
    """A remote command whose stdout is read as bytes; stderr is drained in the background (capped)."""

    def __init__(self, chan: paramiko.Channel, argv: tuple[str, ...], endpoint: str) -> None:
        self._chan = chan
        self._argv = argv
        self._endpoint = endpoint
        self._start = time.monotonic()
        chan.settimeout(_STREAM_IDLE_TIMEOUT_S)
        self.stdout = io.BufferedReader(_ChannelReader(chan, endpoint), buffer_size=_READ)  # type: ignore[assignment]
        self._stderr = Capture("stderr", DEFAULT_OUTPUT_CAP, None)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True, name="ssh-stderr")
        self._stderr_thread.start()

    def _drain_stderr(self) -> None:
        while True:
            try:
                data = self._chan.recv_stderr(_READ)
            except TimeoutError:
                if self._chan.closed:
                    return
                continue  # a quiet stderr during a long stream is normal
            except (paramiko.SSHException, EOFError, OSError):
                return
            if not data:
                return
            self._stderr.add(data)

    def write_stdin(self, data: bytes) -> None:
        try:
            self._chan.sendall(data)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(f"{self._endpoint}: connection lost while sending input: {e}") from e

    def close_stdin(self) -> None:
        try:
            self._chan.shutdown_write()
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise HostUnreachable(f"{self._endpoint}: connection lost while closing input: {e}") from e

    def wait(self, timeout: float | None = None) -> CommandResult:
        try:
            if not self._chan.status_event.wait(timeout):
                kill_remote(self._chan)
                raise CommandTimeout(f"{self._endpoint}: stream command still running after {timeout:g}s")
            self._stderr_thread.join(timeout=5.0)
            if not self._chan.exit_status_ready() or (
                self._chan.exit_status == -1 and not self._chan.transport.is_active()
            ):
                raise HostUnreachable(f"{self._endpoint}: connection lost before the command finished")
            return CommandResult(argv=self._argv, exit_code=self._chan.exit_status, stdout="",
                                 stderr=self._stderr.text(), duration_s=time.monotonic() - self._start,
                                 stderr_truncated=self._stderr.truncated)
        finally:
            self._chan.close()
