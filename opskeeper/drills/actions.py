"""Drill actions, registered in the runbook engine's action registry when ``opskeeper.drills`` is imported.

Files and databases live in ``actions_files`` / ``actions_db``; this module adds
the faults on services and backup targets, and imports the others so that one
import registers every drill action.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import Field, model_validator

from opskeeper.config.backup import DirTarget
from opskeeper.config.estate import Service
from opskeeper.drills import actions_db, actions_files  # noqa: F401  (register their actions)
from opskeeper.drills.errors import ActionFailed
from opskeeper.drills.state import state_of
from opskeeper.runbook.actions import ActionContext, ActionOutcome, register
from opskeeper.runbook.params import ActionParams

LOST_SUFFIX = ".drill-lost"


class ServiceParams(ActionParams):
    service: str = Field(description="a service of the system, by name (services[].name)")


class HttpParams(ActionParams):
    url: str = Field("", description="the URL to probe (default: the service's 'http' URL)")
    service: str = Field("", description="a service of the system whose 'http' URL is probed")
    on_host: str = Field("", description="probe the URL as served by this host of the system (by name)")
    replace: str = Field("", description="with on_host: the part of the URL replaced by that host's address")

    @model_validator(mode="after")
    def _url_or_service(self) -> HttpParams:
        if not self.url and not self.service:
            raise ValueError("give 'url' or 'service' (a service with an 'http' URL)")
        return self


class TargetParams(ActionParams):
    target: str = Field("", description="a backup target, by name (backup_targets; default: the system's first)")


def _service(ctx: ActionContext, name: object) -> Service:
    for svc in ctx.system.services:
        if svc.name == name:
            return svc
    raise ActionFailed(f"system {ctx.system.id} has no service {name!r}")


@register("service.stop", ServiceParams)
def service_stop(ctx: ActionContext) -> ActionOutcome:
    """Fault: stop the service by killing what listens on its port on this host (its network namespace only).

    Done only when nothing listens any more: a kill that was not allowed is a failed fault, not a success.
    """
    svc = _service(ctx, ServiceParams.of(ctx).service)
    if not svc.port:
        raise ActionFailed(f"service {svc.name}: stopping needs its 'port'")
    sudo = ctx.sudo or ctx.host.sudo
    port = ["-n", "tcp", str(svc.port)]
    ctx.executor.run(["fuser", "-k", "-TERM", *port], timeout=ctx.timeout, sudo=sudo)
    deadline = time.monotonic() + min(ctx.timeout, 10)
    while True:
        # fuser exits 1 when no process uses the port
        res = ctx.executor.run(["fuser", *port], timeout=ctx.timeout, sudo=sudo)
        if res.exit_code == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    stopped = res.exit_code == 1
    text = f"{svc.name} on {ctx.host.name}:{svc.port} " + ("stopped" if stopped else "still listening")
    return ActionOutcome(stopped, text, {"value": "stopped" if stopped else "running"})


@register("http.status", HttpParams)
def http_status(ctx: ActionContext) -> ActionOutcome:
    """Probe: the HTTP status of a service's URL, seen from opskeeper (as a customer would); value = status."""
    p = HttpParams.of(ctx)
    url = p.url or _service(ctx, p.service).http or ""
    if not url:
        raise ActionFailed(f"http.status: service {p.service!r} has no 'http' URL")
    if p.on_host:  # the service's URL as served by another host (e.g. the standby after fail-over)
        url = url.replace(p.replace, ctx.system.host(p.on_host).address)
    try:
        with urllib.request.urlopen(url, timeout=min(ctx.timeout, 5)) as resp:  # noqa: S310 - estate URL
            status: int | str = int(resp.status)
    except urllib.error.HTTPError as e:
        status = int(e.code)
    except (urllib.error.URLError, OSError) as e:
        status = f"unreachable ({getattr(e, 'reason', e)})"
    return ActionOutcome(status == 200, f"{url} -> {status}", {"value": status})


def _tcp_open(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_reachability(ctx: ActionContext, want: bool) -> ActionOutcome:
    """Poll the host's SSH port from opskeeper until it is (or is not) reachable, up to the step timeout."""
    deadline = time.monotonic() + ctx.timeout
    while (up := _tcp_open(ctx.host.address, ctx.host.port)) != want and time.monotonic() < deadline:
        time.sleep(0.2)
    state = "reachable" if up else "unreachable"
    return ActionOutcome(up == want, f"{ctx.host.name} ({ctx.host.address}:{ctx.host.port}) is {state}",
                         {"value": state})


@register("host.unreachable")
def host_unreachable(ctx: ActionContext) -> ActionOutcome:
    """Fault check: wait until the host is really gone (its SSH port no longer answers)."""
    return _wait_reachability(ctx, want=False)


@register("host.reachable")
def host_reachable(ctx: ActionContext) -> ActionOutcome:
    """Cleanup: wait until the host answers again (e.g. after its dead-man timer healed the link)."""
    return _wait_reachability(ctx, want=True)


@register("target.block", TargetParams)
def target_block(ctx: ActionContext) -> ActionOutcome:
    """Fault: the backup target becomes unreachable (a dir target is moved aside; any target is refused)."""
    state = state_of(ctx.params)
    name = TargetParams.of(ctx).target or (state.backups.targets or [""])[0]
    target = ctx.estate.backup_targets.get(name)
    if target is None:
        raise ActionFailed(f"no backup target {name!r}")
    state.backups.blocked.add(name)
    state.backups._repos.pop(name, None)  # a cached open repository must not outlive the fault
    if isinstance(target, DirTarget) and Path(target.path).exists():
        os.replace(target.path, target.path + LOST_SUFFIX)
    return ActionOutcome(True, f"backup target {name} is now unreachable", {"value": name})


@register("target.unblock", TargetParams)
def target_unblock(ctx: ActionContext) -> ActionOutcome:
    """Cleanup: give the backup target back (idempotent)."""
    state = state_of(ctx.params)
    name = TargetParams.of(ctx).target or (state.backups.targets or [""])[0]
    target = ctx.estate.backup_targets.get(name)
    if isinstance(target, DirTarget) and Path(target.path + LOST_SUFFIX).exists():
        if Path(target.path).exists():
            raise ActionFailed(f"cannot give back {name}: {target.path} exists again and {LOST_SUFFIX} too")
        os.replace(target.path + LOST_SUFFIX, target.path)
    state.backups.blocked.discard(name)
    return ActionOutcome(True, f"backup target {name} is reachable again", {"value": name})


def _reachable(ctx: ActionContext) -> tuple[list[str], list[str]]:
    state = state_of(ctx.params)
    up, down = [], []
    for t in state.backups.targets:
        try:
            state.backups.repo(t)
            up.append(t)
        except ActionFailed:
            down.append(t)
    return up, down


@register("targets.count")
def targets_count(ctx: ActionContext) -> ActionOutcome:
    """Probe: how many of the system's backup targets are reachable; value = the count."""
    up, _ = _reachable(ctx)
    return ActionOutcome(bool(up), f"reachable: {', '.join(up) or 'none'}", {"value": len(up)})


@register("targets.unreachable")
def targets_unreachable(ctx: ActionContext) -> ActionOutcome:
    """Probe: the system's backup targets that cannot be opened; value = their names."""
    _, down = _reachable(ctx)
    return ActionOutcome(not down, f"unreachable: {', '.join(down) or 'none'}", {"value": down})
