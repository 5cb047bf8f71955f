"""Keepalive watchdog of an SSH connection: OpenSSH's ServerAliveInterval/ServerAliveCountMax for paramiko.

paramiko's own ``set_keepalive`` sends a request that wants no reply, so a peer that stops answering
(its link is down, its sshd is frozen) looks the same as a quiet one: a command or stream waits for its
own timeout (minutes, hours for a long step). Here a probe that wants a reply
(``keepalive@openssh.com``; a refusal is an answer too) is outstanding at all times; each interval
that passes without its answer is counted, and after ``count`` such intervals the transport is closed,
which ends every command, stream and transfer on it with "connection lost".

A live host answers within milliseconds whatever its commands are doing, so a slow command is never cut.
"""

from __future__ import annotations

import logging
import threading

import paramiko

log = logging.getLogger(__name__)

_PROBE = "keepalive@openssh.com"


class KeepaliveWatchdog:
    """One per transport: started after login, stopped (or ended by itself) when the transport closes."""

    def __init__(self, transport: paramiko.Transport, *, interval_s: float, count: int, endpoint: str) -> None:
        if interval_s <= 0 or count < 1:
            raise ValueError(f"{endpoint}: keepalive needs an interval > 0 and a count >= 1 "
                             f"(got {interval_s!r} x {count!r})")
        self.interval_s = interval_s
        self.count = count
        self.endpoint = endpoint
        self.verdict: str | None = None  # why the watchdog closed the connection, once it has
        self.answers = 0  # probes answered so far (one is outstanding at a time)
        self._transport = transport
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name=f"ssh-keepalive {endpoint}")

    def start(self) -> KeepaliveWatchdog:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Ends the watchdog (the caller closes the transport, which ends an outstanding probe)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval_s + 1.0)

    def _watch(self) -> None:
        answered = threading.Event()
        answered.set()  # nothing outstanding yet
        missed = 0
        while not self._stop.wait(self.interval_s):
            if not self._transport.is_active():
                return
            if answered.is_set():
                missed = 0
                answered = self._probe()
                continue
            missed += 1
            if missed >= self.count:
                self.verdict = (f"no answer to a keepalive in {missed * self.interval_s:g}s "
                                f"({self.count} x {self.interval_s:g}s)")
                log.warning("%s: %s: closing the connection", self.endpoint, self.verdict)
                self._transport.close()  # also ends the probe still waiting
                return

    def _probe(self) -> threading.Event:
        """Send one probe from its own thread: a reply, or the transport closing, sets the event.

        ``global_request(wait=True)`` blocks until either happens, so it never runs on the watchdog's thread.
        """
        answered = threading.Event()

        def probe() -> None:
            try:
                self._transport.global_request(_PROBE, wait=True)
            except (paramiko.SSHException, EOFError, OSError):
                return  # the transport is failing: the watchdog, or the reader, sees it close
            self.answers += 1
            answered.set()

        threading.Thread(target=probe, daemon=True, name=f"ssh-keepalive-probe {self.endpoint}").start()
        return answered
