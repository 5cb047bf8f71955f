"""Remote facts: ship the stdlib-only probe to a host's python3 over stdin and parse its JSON.

The probe (``facts_probe.py``) prints exactly ``HostFacts.to_json()``, so checks and
runbooks read remote hosts the same way as the local psutil path. Targets need a
POSIX shell and python3 (3.7+), nothing installed; without python3, a POSIX sh + awk
probe (``facts_probe.sh``) gives the same JSON with small approximations (see there).
"""

from __future__ import annotations

import json
from pathlib import Path

from opskeeper.checks.facts import HostFacts
from opskeeper.errors import OpskeeperError
from opskeeper.remote.interface import CommandResult, Executor

PROBE_SOURCE = (Path(__file__).with_name("facts_probe.py")).read_bytes()
SH_PROBE_SOURCE = (Path(__file__).with_name("facts_probe.sh")).read_bytes()
PROBE_OUTPUT_CAP = 16 * 1024 * 1024  # thousands of process names still fit
_NO_PYTHON_EXIT = 127


class FactsError(OpskeeperError):
    """The fact probe ran but gave no usable facts (no python3, a crash, bad JSON)."""

    exit_code = 1


def probe_command(cpu_sample_s: float = 0.2, python: str = "python3") -> list[str]:
    # -I: ignore the target's PYTHON* env and user site; -S: skip site (faster start, stdlib only).
    return [python, "-I", "-S", "-", f"{cpu_sample_s:g}"]


def sh_probe_command(cpu_sample_s: float = 0.2) -> list[str]:
    return ["sh", "-s", "--", f"{cpu_sample_s:g}"]


def collect(
    executor: Executor, *, cpu_sample_s: float = 0.2, timeout: float = 60.0, python: str = "python3"
) -> HostFacts:
    """Facts of the executor's host (any Executor: SSH, or local through the same probe)."""
    host = executor.host.name
    res = executor.run(probe_command(cpu_sample_s, python), stdin=PROBE_SOURCE, timeout=timeout,
                       output_cap=PROBE_OUTPUT_CAP)
    if res.exit_code == _NO_PYTHON_EXIT:  # "python3: not found" from the login shell
        return collect_sh(executor, cpu_sample_s=cpu_sample_s, timeout=timeout)
    return _facts_of(res, host)


def collect_sh(executor: Executor, *, cpu_sample_s: float = 0.2, timeout: float = 60.0) -> HostFacts:
    """Facts through the POSIX sh + awk probe (hosts without python3)."""
    res = executor.run(sh_probe_command(cpu_sample_s), stdin=SH_PROBE_SOURCE, timeout=timeout,
                       output_cap=PROBE_OUTPUT_CAP)
    return _facts_of(res, executor.host.name)


def _facts_of(res: CommandResult, host: str) -> HostFacts:
    if not res.ok:
        raise FactsError(f"{host}: fact probe exited {res.exit_code}: {res.stderr.strip()[-500:]}")
    if res.stdout_truncated:
        raise FactsError(f"{host}: fact probe output exceeded {PROBE_OUTPUT_CAP} bytes")
    return parse_facts(res.stdout, host)


collect_remote = collect  # the name used by fan-out callers


def parse_facts(text: str, host: str) -> HostFacts:
    try:
        data = json.loads(text)
    except ValueError as e:
        raise FactsError(f"{host}: fact probe printed no JSON ({e}): {text[:200]!r}") from e
    try:
        return HostFacts.from_json(data)
    except (TypeError, KeyError, AttributeError) as e:
        raise FactsError(f"{host}: fact probe JSON does not match HostFacts: {e}") from e
