"""Base errors. Each error class carries its exit code; only the CLI exits."""

from __future__ import annotations


class OpskeeperError(Exception):
    """Base of every error opskeeper raises on purpose."""

    exit_code: int = 1


class InputError(OpskeeperError):
    """Bad input: nothing was run. Exit code 2."""

    exit_code = 2


class WorkFailed(OpskeeperError):
    """The work ran and failed. Exit code 1."""

    exit_code = 1


class Refused(OpskeeperError):
    """The work was refused (a closed window, a blackout, a missing approval): what was refused did not run,
    and nothing failed. Exit code 3: run it again when it is allowed (or approved)."""

    exit_code = 3
