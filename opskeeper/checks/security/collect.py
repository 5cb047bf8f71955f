"""Collect a host's facts: ship gather.py to the host's python3 over stdin, probe TLS endpoints from here."""

from __future__ import annotations

import json
import socket
import ssl
from importlib import resources
from typing import Any

from opskeeper.checks.security.model import Facts, ScanError, ScanTarget, Section
from opskeeper.remote.interface import Executor, ExecutorError

PARAMS_LINE = "PARAMS: dict = {}  # replaced by the caller"
TLS_TIMEOUT_S = 5.0


def gather_script(target: ScanTarget, sections: list[str]) -> str:
    """The gather script with this target's parameters baked in (data as a JSON string literal, never code)."""
    p = target.policy
    params = {
        "sections": sections,
        "suid_paths": p.suid_paths,
        "world_writable_paths": p.world_writable_paths,
        "cert_paths": p.cert_paths,
        "integrity_paths": p.integrity_paths,
        "sysctl_keys": sorted(p.expected_sysctl()),
        "step_timeout": p.step_timeout_s,
    }
    source = resources.files("opskeeper.checks.security").joinpath("gather.py").read_text()
    if PARAMS_LINE not in source:
        raise ScanError("gather.py lost its PARAMS line; cannot parameterise the fact gathering")
    return source.replace(PARAMS_LINE, f"PARAMS = json.loads({json.dumps(json.dumps(params))})", 1)


def collect(executor: Executor, target: ScanTarget, sections: list[str], *, sudo: bool) -> Facts:
    """Run the gather script on the host; transport errors propagate as ExecutorError."""
    script = gather_script(target, sections)
    budget = target.policy.step_timeout_s * max(1, len(sections)) + 30
    result = executor.run(["python3", "-"], stdin=script.encode(), sudo=sudo, timeout=budget)
    if result.exit_code != 0:
        hint = "python3 is required on the host" if result.exit_code == 127 else result.stderr.strip()[-400:]
        raise ScanError(f"{target.host}: fact gathering exited {result.exit_code}: {hint}")
    if result.stdout_truncated:
        raise ScanError(f"{target.host}: fact output exceeded the executor's cap; narrow suid/cert paths")
    try:
        doc = json.loads(result.stdout)
        sects = {k: Section(v["ok"], v["error"], v["data"]) for k, v in doc["sections"].items()}
        facts = Facts(euid=int(doc["euid"]), sections=sects)
    except (ValueError, KeyError, TypeError) as e:
        raise ScanError(f"{target.host}: unreadable fact output ({e}): {result.stdout[:200]!r}") from e
    if target.policy.tls_endpoints and "certs" in sections:
        facts = Facts(
            facts.euid, facts.sections, {"tls_endpoints": probe_endpoints(target.policy.tls_endpoints)}
        )
    return facts


def probe_endpoints(endpoints: list[str]) -> list[dict[str, Any]]:
    """Fetch each endpoint's certificate without verifying it: we judge its dates, not its trust."""
    out = []
    for ep in endpoints:
        host, _, port = ep.rpartition(":")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            name = host.strip("[]")
            with (
                socket.create_connection((name, int(port)), timeout=TLS_TIMEOUT_S) as raw,
                ctx.wrap_socket(raw, server_hostname=name) as tls,
            ):
                der = tls.getpeercert(binary_form=True)
            out.append(
                {"endpoint": ep, "pem": ssl.DER_cert_to_PEM_cert(der) if der else None, "error": "no cert"}
            )
        except (OSError, ValueError) as e:
            out.append({"endpoint": ep, "pem": None, "error": f"{type(e).__name__}: {e}"})
    return out


__all__ = ["ExecutorError", "collect", "gather_script", "probe_endpoints"]
