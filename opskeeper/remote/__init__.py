"""Executors: run commands and move files on the estate's hosts, locally or over SSH."""

from __future__ import annotations

from typing import TYPE_CHECKING

from opskeeper.config.estate import Estate, Host
from opskeeper.config.ssh import SSHSettings
from opskeeper.remote.interface import Executor, ExecutorError
from opskeeper.remote.local import LocalExecutor
from opskeeper.remote.ssh import SSHExecutor

if TYPE_CHECKING:
    from opskeeper.ledger import Ledger


def connect(
    host: Host, *, ledger: Ledger | None = None, estate: Estate | None = None, ssh: SSHSettings | None = None
) -> Executor:
    """An executor for ``host``: local for ``local: true`` hosts, else SSH with its pinned host key.

    With ``ledger``, a refused host key is recorded as a security event in the audit trail;
    with ``estate``, a jump host named by ``host.jump`` is resolved; ``ssh``: connect timeout and
    keepalive (the defaults of :class:`SSHSettings` without it).
    """
    ssh = ssh or (estate.ssh if estate is not None else SSHSettings())
    if host.local:
        return LocalExecutor(host.name)
    jump = None
    if host.jump:
        if estate is None:
            raise ExecutorError(f"host {host.name}: jump host {host.jump!r} needs the estate to resolve")
        from opskeeper.remote.fanout import Fleet  # fanout imports this package's modules

        # Fleet resolves the whole jump chain and names an unknown or looping jump host.
        jump = Fleet.for_estate(estate, ssh=ssh).target(host).jump
    return SSHExecutor.from_host(host, ledger=ledger, jump=jump, **ssh.target_options())
