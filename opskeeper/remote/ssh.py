"""SSHExecutor: the Executor seam over SSH (paramiko), with pinned host keys.

One paramiko ``Transport`` per host, opened on first use and reused by every
command, stream and SFTP transfer of a run (channels are multiplexed on it).
:class:`SSHPool` holds the executors of one run: it caches decoded private
keys (an encrypted key costs ~0.1 s of bcrypt per decode) and shares jump-host
connections. Host keys are pinned (estate line or a known_hosts file); an
unknown or changed key refuses the host (``HostKeyRejected``) and is reported
to ``on_security_event`` so the caller can record it in the audit trail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import shlex
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import paramiko

from opskeeper.config.secrets import SecretRef
from opskeeper.config.ssh import SSHSettings
from opskeeper.remote.interface import (
    DEFAULT_OUTPUT_CAP,
    AuthenticationFailed,
    CommandResult,
    CommandStream,
    CommandTimeout,
    Executor,
    ExecutorError,
    HostInfo,
    HostUnreachable,
    OutputCallback,
)
from opskeeper.remote.ssh_hostkeys import (
    Auditor,
    SecurityEvent,
    SecurityEventHook,
    audit_security_events,
    check_host_key,
    expected_host_keys,
)
from opskeeper.remote.ssh_io import Capture, SSHStream, collect_output, kill_remote, load_private_key
from opskeeper.remote.ssh_keepalive import KeepaliveWatchdog

log = logging.getLogger(__name__)
# Refused host keys, one line each: with no logging set up (the CLI) Python prints WARNING records on
# stderr as they are; under Prefect its console handler shows them, and a flow run's log keeps them.
security_log = logging.getLogger("opskeeper.security")

__all__ = ["SSHExecutor", "SSHPool", "SSHTarget", "SecurityEvent", "audit_security_events", "build_command"]

_TRANSPORT_ERRORS = (paramiko.SSHException, EOFError, OSError)
_SFTP_IDLE_TIMEOUT_S = 120.0
_SSH_DEFAULTS = SSHSettings()


@dataclass(frozen=True)
class SSHTarget:
    """Everything needed to reach one host over SSH (built from the estate's Host)."""

    name: str
    address: str
    user: str
    key: SecretRef
    port: int = 22
    key_passphrase: SecretRef | None = None
    host_key: str | None = None  # pinned "ssh-ed25519 AAAA..."
    known_hosts: str | None = None  # or a known_hosts file pinning it
    sudo: bool = False  # the user may `sudo -n` (used for uploads to paths the user cannot write)
    jump: SSHTarget | None = None
    # The estate's ``ssh:`` settings (SSHSettings.target_options()); these defaults are its defaults.
    connect_timeout: float = _SSH_DEFAULTS.connect_timeout.total_seconds()
    keepalive_s: float = _SSH_DEFAULTS.keepalive.total_seconds()  # a probe wanting a reply this often; the
    keepalive_count: int = _SSH_DEFAULTS.keepalive_count  # connection is closed after this many unanswered

    @property
    def endpoint(self) -> str:
        return f"{self.name} ({self.user}@{self.address}:{self.port})"

    @classmethod
    def from_host(cls, host: object, *, jump: SSHTarget | None = None, **options: object) -> SSHTarget:
        """From an estate ``Host`` (duck-typed: name, address, port, user, key, ...)."""
        h = host
        if getattr(h, "key", None) is None or not getattr(h, "user", None):
            raise ExecutorError(f"host {getattr(h, 'name', '?')}: SSH needs 'user' and 'key' in the estate")
        return cls(
            name=h.name, address=h.address, port=h.port, user=h.user, key=h.key,  # type: ignore[attr-defined]
            key_passphrase=h.key_passphrase, host_key=h.host_key,  # type: ignore[attr-defined]
            known_hosts=h.known_hosts, sudo=h.sudo, jump=jump, **options,  # type: ignore[attr-defined,arg-type]
        )


# A signal request runs kill() as the login user, which cannot signal sudo's root processes. So a sudo
# command also gets a remote `timeout` (when the target has one) a little after ours: it cleans up there.
_SUDO_TIMEOUT_WRAPPER = 'command -v timeout >/dev/null 2>&1 && exec timeout -k 2 "$0" "$@"; exec "$@"'
_REMOTE_TIMEOUT_GRACE_S = 1.0


def build_command(
    argv: Sequence[str] | str,
    *,
    env: Mapping[str, str] | None = None,
    sudo: bool = False,
    timeout: float | None = None,
) -> str:
    """The remote command line: every word quoted; a ``str`` runs under ``sh -c`` as on the local side."""
    words = ["sh", "-c", argv] if isinstance(argv, str) else list(argv)
    if env:
        for k in env:
            if not k.isidentifier():
                raise ExecutorError(f"environment variable name {k!r} is not valid")
        words = ["env", *(f"{k}={v}" for k, v in env.items()), *words]
    if sudo:
        if timeout is not None:
            words = ["sh", "-c", _SUDO_TIMEOUT_WRAPPER, f"{timeout + _REMOTE_TIMEOUT_GRACE_S:.1f}", *words]
        words = ["sudo", "-n", "--", *words]
    return " ".join(shlex.quote(w) for w in words)


class SSHPool:
    """The SSH connections of one run: one executor per host name, closed together."""

    def __init__(self, *, on_security_event: SecurityEventHook | None = None) -> None:
        self.on_security_event = on_security_event
        self._executors: dict[str, SSHExecutor] = {}
        self._keys: dict[tuple[str, str | None], paramiko.PKey] = {}
        self._lock = threading.Lock()
        self._key_lock = threading.Lock()

    def executor(self, target: SSHTarget) -> SSHExecutor:
        with self._lock:
            ex = self._executors.get(target.name)
            if ex is not None and ex.target == target:
                return ex
            if ex is not None:
                ex.close()  # the host's settings changed within the run: do not leak the old connection
            ex = self._executors[target.name] = SSHExecutor(target, pool=self)
            return ex

    def private_key(self, target: SSHTarget) -> paramiko.PKey:
        cache_key = (target.key.ref, target.key_passphrase.ref if target.key_passphrase else None)
        with self._key_lock:
            if cache_key not in self._keys:
                self._keys[cache_key] = load_private_key(target.key, target.key_passphrase, target.endpoint)
            return self._keys[cache_key]

    def report(self, event: SecurityEvent) -> None:
        """Say the refusal on the console (one line, both fingerprints), then hand it to the hook (the
        audit trail); an observer can never break the run."""
        security_log.warning("%s", event.line)
        if self.on_security_event is None:
            return
        try:
            self.on_security_event(event)
        except Exception:  # noqa: BLE001 - observers must not break the run
            log.exception("security event hook failed for %s", event.host)

    def close(self) -> None:
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for ex in executors:  # jump hosts last would be nicer; closing twice is harmless
            ex.close()

    def __enter__(self) -> SSHPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SSHExecutor(Executor):
    """Runs commands on one host over one reused SSH connection."""

    def __init__(self, target: SSHTarget, *, pool: SSHPool | None = None,
                 on_security_event: SecurityEventHook | None = None) -> None:
        self.target = target
        self.host = HostInfo(name=target.name, address=target.address, extra={"port": str(target.port)})
        self._own_pool = pool is None
        self._pool = pool or SSHPool(on_security_event=on_security_event)
        self._transport: paramiko.Transport | None = None
        self._keepalive: KeepaliveWatchdog | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_host(
        cls,
        host: object,
        *,
        ledger: Auditor | None = None,
        on_security_event: SecurityEventHook | None = None,
        jump: SSHTarget | None = None,
        pool: SSHPool | None = None,
        **options: object,
    ) -> SSHExecutor:
        """An executor for an estate ``Host``. Nothing connects until the first use (or :meth:`connect`).

        With ``ledger``, refused host keys are written to its audit trail. A host behind a jump host
        needs ``jump`` (or use ``fanout.Fleet``, which resolves jump names from the estate).
        """
        if getattr(host, "jump", None) and jump is None:
            raise ExecutorError(f"host {getattr(host, 'name', '?')}: jump host {host.jump!r} "  # type: ignore[attr-defined]
                                "must be given (fanout.Fleet resolves it from the estate)")
        hook = on_security_event or (audit_security_events(ledger) if ledger is not None else None)
        return cls(SSHTarget.from_host(host, jump=jump, **options), pool=pool, on_security_event=hook)

    # -- connection -------------------------------------------------------------------------------------

    def connect(self) -> paramiko.Transport:
        """The live transport, connecting (or reconnecting after a drop) when needed."""
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self._transport
            self._drop()
            self._transport = self._connect()
            t = self.target
            self._keepalive = KeepaliveWatchdog(self._transport, interval_s=t.keepalive_s,
                                                count=t.keepalive_count, endpoint=t.endpoint).start()
            return self._transport

    def _connect(self) -> paramiko.Transport:
        t = self.target
        expected = expected_host_keys(t)
        sock = self._open_socket()
        transport = paramiko.Transport(sock)
        transport.banner_timeout = transport.auth_timeout = t.connect_timeout
        opts = transport.get_security_options()
        preferred = [k for k in expected.key_types if k in opts.key_types]
        opts.key_types = preferred + [k for k in opts.key_types if k not in preferred]
        try:
            transport.start_client(timeout=t.connect_timeout)
        except _TRANSPORT_ERRORS as e:
            transport.close()
            raise HostUnreachable(f"{t.endpoint}: SSH handshake failed: {e or type(e).__name__}") from e
        try:
            event = check_host_key(t, expected, transport.get_remote_server_key())
            if event is not None:
                self._pool.report(event)
                raise event.error()
            transport.auth_publickey(t.user, self._pool.private_key(t))
        except paramiko.AuthenticationException as e:
            transport.close()
            raise AuthenticationFailed(f"{t.endpoint}: public key {t.key} refused: {e}") from e
        except _TRANSPORT_ERRORS as e:
            transport.close()
            raise HostUnreachable(f"{t.endpoint}: connection lost during login: {e or type(e).__name__}") from e
        except BaseException:
            transport.close()
            raise
        return transport

    def _open_socket(self) -> socket.socket | paramiko.Channel:
        t = self.target
        if t.jump is not None:
            jump = self._pool.executor(t.jump).connect()
            try:
                return jump.open_channel("direct-tcpip", (t.address, t.port), ("127.0.0.1", 0),
                                         timeout=t.connect_timeout)
            except _TRANSPORT_ERRORS as e:
                raise HostUnreachable(
                    f"{t.endpoint}: jump host {t.jump.name} could not connect to {t.address}:{t.port}: {e}"
                ) from e
        try:
            sock = socket.create_connection((t.address, t.port), timeout=t.connect_timeout)
        except TimeoutError as e:
            raise HostUnreachable(f"{t.endpoint}: connect timed out after {t.connect_timeout:g}s") from e
        except OSError as e:
            raise HostUnreachable(f"{t.endpoint}: cannot connect: {e.strerror or e}") from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # small request/reply packets: no Nagle stalls
        return sock

    def _session(self) -> paramiko.Channel:
        transport = self.connect()
        try:
            return transport.open_session(timeout=self.target.connect_timeout)
        except _TRANSPORT_ERRORS as e:
            raise HostUnreachable(f"{self.target.endpoint}: cannot open a session: {e}") from e

    @property
    def keepalive(self) -> KeepaliveWatchdog | None:
        """The watchdog of the live connection (None before the first connect and after close)."""
        return self._keepalive

    def _lost(self, e: BaseException | None, doing: str) -> HostUnreachable:
        watchdog = self._keepalive
        why = (watchdog.verdict if watchdog is not None else None) or e or "closed by peer"
        return HostUnreachable(f"{self.target.endpoint}: connection lost {doing}: {why}")

    # -- commands ---------------------------------------------------------------------------------------

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
        shown = ("sh", "-c", argv) if isinstance(argv, str) else tuple(argv)
        command = build_command(argv, env=env, sudo=sudo and self.target.user != "root", timeout=timeout)
        start = time.monotonic()
        deadline = start + timeout
        chan = self._session()
        out, err = Capture("stdout", output_cap, on_output), Capture("stderr", output_cap, on_output)
        try:
            chan.exec_command(command)
            feeder = _feed_stdin(chan, stdin)
            finished = collect_output(chan, out, err, deadline)
            if not finished:
                kill_remote(chan)
                raise CommandTimeout(f"{self.target.endpoint}: command timed out after {timeout:g}s: "
                                     f"{shlex.join(shown)[:200]}")
            if not chan.status_event.wait(max(0.0, deadline - time.monotonic())):
                kill_remote(chan)
                raise CommandTimeout(f"{self.target.endpoint}: no exit status within {timeout:g}s")
            if not chan.exit_status_ready() or (chan.exit_status == -1 and not chan.transport.is_active()):
                raise self._lost(None, "while running a command")
            if feeder is not None:
                feeder.join(timeout=1.0)
        except _TRANSPORT_ERRORS as e:
            raise self._lost(e, "while running a command") from e
        finally:
            chan.close()
        return CommandResult(
            argv=shown, exit_code=chan.exit_status, stdout=out.text(), stderr=err.text(),
            duration_s=time.monotonic() - start, stdout_truncated=out.truncated, stderr_truncated=err.truncated,
        )

    def open_stream(self, argv: Sequence[str] | str, *, sudo: bool = False) -> CommandStream:
        shown = ("sh", "-c", argv) if isinstance(argv, str) else tuple(argv)
        chan = self._session()
        try:
            chan.exec_command(build_command(argv, sudo=sudo and self.target.user != "root"))
        except _TRANSPORT_ERRORS as e:
            chan.close()
            raise self._lost(e, "starting a stream") from e
        return SSHStream(chan, shown, self.target.endpoint)

    # -- files ------------------------------------------------------------------------------------------

    def _sftp_client(self) -> paramiko.SFTPClient:
        transport = self.connect()
        with self._lock:
            if self._sftp is None or self._sftp.get_channel().closed:
                try:
                    self._sftp = paramiko.SFTPClient.from_transport(transport)
                    # SFTP calls have no timeout of their own: a host that goes dark would block forever.
                    self._sftp.get_channel().settimeout(_SFTP_IDLE_TIMEOUT_S)
                except _TRANSPORT_ERRORS as e:
                    raise HostUnreachable(f"{self.target.endpoint}: cannot start SFTP: {e}") from e
            assert self._sftp is not None
            return self._sftp

    def put_file(self, local_path: str, remote_path: str, *, mode: int | None = None) -> None:
        """Upload to a temporary name beside the target, then rename over it (readers never see half a file)."""
        sftp = self._sftp_client()
        tmp = posixpath.join(posixpath.dirname(remote_path) or ".",
                             f".{posixpath.basename(remote_path)}.opskeeper-{uuid.uuid4().hex[:8]}")
        try:
            sftp.put(local_path, tmp, confirm=True)
            if mode is not None:
                sftp.chmod(tmp, mode)
            sftp.posix_rename(tmp, remote_path)
        except PermissionError as e:
            _remove_quietly(sftp, tmp)
            if not self.target.sudo:
                raise ExecutorError(f"{self.target.endpoint}: upload to {remote_path}: permission denied") from e
            self._put_with_sudo(local_path, remote_path, mode)
        except (OSError, paramiko.SSHException) as e:
            _remove_quietly(sftp, tmp)
            if not self.connect_alive():
                raise self._lost(e, f"uploading {remote_path}") from e
            raise ExecutorError(f"{self.target.endpoint}: upload {local_path} -> {remote_path} failed: {e}") from e

    def _put_with_sudo(self, local_path: str, remote_path: str, mode: int | None) -> None:
        # The login user cannot write there: stage in its home, then `sudo mv` (same atomic rename on the host).
        staged = f".opskeeper-upload-{uuid.uuid4().hex[:8]}"
        sftp = self._sftp_client()
        try:
            sftp.put(local_path, staged, confirm=True)
        except (OSError, paramiko.SSHException) as e:
            _remove_quietly(sftp, staged)
            raise ExecutorError(f"{self.target.endpoint}: upload to {remote_path}: cannot stage the file "
                                f"in {self.target.user}'s home for sudo: {e}") from e
        tmp = f"{remote_path}.opskeeper-{uuid.uuid4().hex[:8]}"
        script = f"cp -- {shlex.quote(staged)} {shlex.quote(tmp)} && rm -f -- {shlex.quote(staged)}"
        if mode is not None:
            script += f" && chmod {mode:o} {shlex.quote(tmp)}"
        script += f" && mv -f -- {shlex.quote(tmp)} {shlex.quote(remote_path)}"
        res = self.run(script, sudo=True, timeout=120)
        if not res.ok:
            _remove_quietly(sftp, staged)  # a copy of the file must not linger in the login user's home
            raise ExecutorError(f"{self.target.endpoint}: upload to {remote_path} via sudo failed: {res.stderr[-300:]}")

    def get_file(self, remote_path: str, local_path: str) -> None:
        sftp = self._sftp_client()
        tmp = f"{local_path}.opskeeper-{uuid.uuid4().hex[:8]}"
        try:
            sftp.get(remote_path, tmp)
            os.replace(tmp, local_path)
        except (OSError, paramiko.SSHException) as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if not self.connect_alive():
                raise self._lost(e, f"downloading {remote_path}") from e
            raise ExecutorError(f"{self.target.endpoint}: download {remote_path} -> {local_path} failed: {e}") from e

    def connect_alive(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    # -- teardown ---------------------------------------------------------------------------------------

    def _drop(self) -> None:
        if self._keepalive is not None:
            self._keepalive.stop()
            self._keepalive = None
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def close(self) -> None:
        with self._lock:
            self._drop()
        if self._own_pool:
            self._pool.close()


def _feed_stdin(chan: paramiko.Channel, data: bytes | None) -> threading.Thread | None:
    """Send stdin then EOF; large inputs from a thread so a chatty command cannot deadlock us."""
    if data is None or len(data) <= 64 * 1024:
        if data:
            chan.sendall(data)
        chan.shutdown_write()
        return None

    def feed() -> None:
        try:
            chan.sendall(data)
            chan.shutdown_write()
        except _TRANSPORT_ERRORS:
            pass  # the reader sees the failure

    thread = threading.Thread(target=feed, daemon=True, name="ssh-stdin")
    thread.start()
    return thread


def _remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    with contextlib.suppress(OSError, paramiko.SSHException):
        sftp.remove(path)

