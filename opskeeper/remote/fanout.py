"""Fan-out: run one piece of work on many jobs at once, bounded, isolated; the core's only one.

Every workflow (maintenance, backup, scan) describes its per-job work as a :class:`Work`
and hands it to a :class:`Runner`: :func:`threaded` here (the CLI, the tests), or the
Prefect runner in ``tasks/fanout.py`` (each job a task run, retries on I/O work only).

    run = threaded(concurrency=32)
    results = run(Work("scan-host", scan_one, label=name_of, crashed=failed_scan), jobs)

:func:`fan_out` is the same threaded runner for ad-hoc work over hosts, with executors:

    with Fleet(estate_hosts, on_security_event=audit_security_events(ledger)) as fleet:
        result = fan_out(select_hosts(estate, role="db"), check_disk, fleet=fleet, locks=host_locks())
    result.status       # ok / partial / failed
    result.by_host()    # per-host HostCall: outcome, value, error, timings

A failing, unreachable, refused or slow host never stops the others: every
exception of the work is caught per job and becomes that job's result. Slow
hosts are bounded by the command timeouts the work passes to its executor.
One :class:`Fleet` per run reuses one SSH connection per host across steps.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic, NoReturn, Protocol, TypeVar

from opskeeper.clock import SYSTEM
from opskeeper.config.estate import Customer, Estate, Host, System
from opskeeper.config.ssh import SSHSettings
from opskeeper.errors import OpskeeperError
from opskeeper.remote.interface import (
    AuthenticationFailed,
    CommandTimeout,
    Executor,
    ExecutorError,
    HostKeyRejected,
    HostUnreachable,
)
from opskeeper.remote.local import LocalExecutor
from opskeeper.remote.locks import DEFAULT_LOCK_TIMEOUT_S, HostBusy, HostLocks
from opskeeper.remote.ssh import SSHPool, SSHTarget
from opskeeper.remote.ssh_hostkeys import SecurityEventHook, audit_security_events

log = logging.getLogger(__name__)

__all__ = ["Fleet", "FanoutResult", "FanoutStatus", "HostCall", "HostOutcome", "HostRef", "Runner", "Work",
           "audit_security_events", "fan_out", "reraise", "select_hosts", "threaded"]

DEFAULT_CONCURRENCY = 32
T = TypeVar("T")
J = TypeVar("J")
R = TypeVar("R")


# -- the runner seam ------------------------------------------------------------------------------------


def _never(_: object) -> bool:
    return False


def reraise(_: object, e: BaseException) -> NoReturn:
    """``crashed`` for work whose failure is the whole run's (recording): the error goes up."""
    raise e


@dataclass(frozen=True)
class Work(Generic[J, R]):
    """One kind of work over many jobs, described so that any runner can run it."""

    name: str  # what the work is: the Prefect task's name, the threads' name prefix
    run: Callable[[J], R]  # one job; failures the work expects are part of its result
    label: Callable[[J], str]  # one job's name: the task run's name
    crashed: Callable[[J, BaseException], R]  # the result of a job whose run raised: its failure alone
    retryable: Callable[[R], bool] = _never  # a result worth another try later (transport trouble)
    retries: int = 0  # how often a runner that can wait retries a job that raised or was retryable
    retry_delay_s: tuple[float, ...] = ()
    serial: bool = False  # one job after the other, in order (writes to a one-writer ledger)


class Runner(Protocol):
    """Runs every job of a work and returns one result per job, in the jobs' order."""

    def __call__(self, work: Work[J, R], jobs: Sequence[J], /) -> list[R]: ...


def threaded(concurrency: int = DEFAULT_CONCURRENCY) -> Runner:
    """The core's runner: up to ``concurrency`` jobs at once in threads; no retries (nobody waits here)."""

    def run(work: Work[J, R], jobs: Sequence[J], /) -> list[R]:
        def guarded(job: J) -> R:
            try:
                return work.run(job)
            except Exception as e:  # noqa: BLE001 - one job's crash must not stop the others
                log.debug("%s crashed on %s", work.name, work.label(job), exc_info=True)
                return work.crashed(job, e)

        if work.serial or len(jobs) <= 1:
            return [guarded(j) for j in jobs]
        workers = max(1, min(concurrency, len(jobs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=work.name) as pool:
            return list(pool.map(guarded, jobs))

    return run


class HostOutcome(StrEnum):
    OK = "ok"
    FAILED = "failed"  # the work ran and failed (an OpskeeperError raised by the work)
    UNREACHABLE = "unreachable"  # connect failed or the connection dropped
    REFUSED = "refused"  # host key unknown/changed, or our key was refused
    TIMEOUT = "timeout"  # a command exceeded its timeout
    BUSY = "busy"  # another run holds the host's lock
    ERROR = "error"  # an unexpected exception: a bug, with its traceback


class FanoutStatus(StrEnum):
    """Same words as the ledger's RunStatus for a finished run."""

    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


@dataclass(frozen=True)
class HostCall(Generic[T]):
    """One call of ad-hoc work on one host: its outcome, value or error, and timings."""

    host: str
    outcome: HostOutcome
    started_at: datetime
    duration_s: float
    value: T | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is HostOutcome.OK


@dataclass(frozen=True)
class FanoutResult(Generic[T]):
    results: tuple[HostCall[T], ...]  # in the order the hosts were given
    duration_s: float

    @property
    def status(self) -> FanoutStatus:
        ok = sum(r.ok for r in self.results)
        if ok == len(self.results):
            return FanoutStatus.OK
        return FanoutStatus.FAILED if ok == 0 else FanoutStatus.PARTIAL

    def by_host(self) -> dict[str, HostCall[T]]:
        return {r.host: r for r in self.results}

    @property
    def failed(self) -> list[HostCall[T]]:
        return [r for r in self.results if not r.ok]


# -- selection ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostRef:
    customer: Customer
    system: System
    host: Host


def select_hosts(
    estate: Estate,
    *,
    customer: str | None = None,
    system: str | None = None,
    role: str | None = None,
    labels: Iterable[str] = (),
    names: Iterable[str] = (),
) -> list[HostRef]:
    """Hosts matching every given criterion (labels: all must be present), in estate order."""
    want_labels, want_names = set(labels), set(names)
    return [
        HostRef(c, s, h)
        for c, s, h in estate.all_hosts()
        if (customer is None or c.id == customer)
        and (system is None or s.id == system)
        and (role is None or h.role == role)
        and want_labels <= set(h.labels)
        and (not want_names or h.name in want_names)
    ]


# -- executors of a run ---------------------------------------------------------------------------------


class Fleet:
    """The executors of one run: local hosts run here, the others over one reused SSH connection each."""

    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        on_security_event: SecurityEventHook | None = None,
        ssh: SSHSettings | None = None,
    ) -> None:
        self._hosts = {h.name: h for h in hosts}  # every host a jump may name
        self._pool = SSHPool(on_security_event=on_security_event)
        self._ssh_options = (ssh or SSHSettings()).target_options()
        self._local: dict[str, LocalExecutor] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_estate(cls, estate: Estate, **kwargs: object) -> Fleet:
        kwargs.setdefault("ssh", estate.ssh)  # the estate's connect timeout and keepalive
        return cls((h for _, _, h in estate.all_hosts()), **kwargs)  # type: ignore[arg-type]

    def target(self, host: Host, _seen: frozenset[str] = frozenset()) -> SSHTarget:
        jump = None
        if host.jump:
            if host.jump in _seen or host.jump not in self._hosts:
                raise ExecutorError(f"host {host.name}: jump host {host.jump!r} is unknown or loops")
            jump = self.target(self._hosts[host.jump], _seen | {host.name})
        return SSHTarget.from_host(host, jump=jump, **self._ssh_options)

    def executor(self, host: Host) -> Executor:
        if host.local:
            with self._lock:
                return self._local.setdefault(host.name, LocalExecutor(host.name))
        self._hosts.setdefault(host.name, host)
        return self._pool.executor(self.target(host))

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- fan-out --------------------------------------------------------------------------------------------

HostWork = Callable[[Host, Executor], T]


def fan_out(
    hosts: Sequence[Host | HostRef],
    work: HostWork[T],
    *,
    fleet: Fleet,
    concurrency: int = DEFAULT_CONCURRENCY,
    locks: HostLocks | None = None,
    lock_owner: str = "",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT_S,
    on_result: Callable[[HostCall[T]], None] | None = None,
) -> FanoutResult[T]:
    """Run ``work(host, executor)`` on every host, ``concurrency`` at a time; one result per host."""
    plain = [h.host if isinstance(h, HostRef) else h for h in hosts]
    names = [h.name for h in plain]
    if len(set(names)) != len(names):
        raise ExecutorError(f"fan-out: a host is selected twice: {sorted(n for n in names if names.count(n) > 1)}")
    start = time.monotonic()

    def one(host: Host) -> HostCall[T]:
        result = _run_one(host, work, fleet, locks, lock_owner, lock_timeout)
        if on_result is not None:
            try:
                on_result(result)
            except Exception:  # noqa: BLE001 - observers never break a run
                log.exception("fan-out result observer failed for %s", host.name)
        return result

    calls = Work("fanout", one, label=lambda h: h.name, crashed=lambda h, e: _crashed(h, e, SYSTEM.now(), 0.0))
    results = tuple(threaded(concurrency)(calls, plain))
    return FanoutResult(results, time.monotonic() - start)


def _crashed(host: Host, e: BaseException, started: datetime, duration_s: float) -> HostCall[T]:
    tb = "".join(traceback.format_exception_only(type(e), e)).strip()
    return HostCall(host.name, HostOutcome.ERROR, started, duration_s, error=f"{host.name}: unexpected {tb}")


def _run_one(
    host: Host, work: HostWork[T], fleet: Fleet, locks: HostLocks | None, owner: str, lock_timeout: float
) -> HostCall[T]:
    started, t0 = SYSTEM.now(), time.monotonic()

    def done(outcome: HostOutcome, value: T | None = None, error: str | None = None) -> HostCall[T]:
        return HostCall(host.name, outcome, started, time.monotonic() - t0, value, error)

    try:
        if locks is None:
            return done(HostOutcome.OK, work(host, fleet.executor(host)))
        with locks.hold(host.name, owner=owner, timeout=lock_timeout):
            return done(HostOutcome.OK, work(host, fleet.executor(host)))
    except (HostKeyRejected, AuthenticationFailed) as e:
        return done(HostOutcome.REFUSED, error=str(e))
    except HostUnreachable as e:
        return done(HostOutcome.UNREACHABLE, error=str(e))
    except CommandTimeout as e:
        return done(HostOutcome.TIMEOUT, error=str(e))
    except HostBusy as e:
        return done(HostOutcome.BUSY, error=str(e))
    except OpskeeperError as e:
        return done(HostOutcome.FAILED, error=str(e))
    except Exception as e:  # noqa: BLE001 - one host's bug must not stop the others
        log.exception("fan-out work crashed on %s", host.name)
        return _crashed(host, e, started, time.monotonic() - t0)
