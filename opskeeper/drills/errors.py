"""Errors of the drill area."""

from __future__ import annotations

from opskeeper.errors import InputError, OpskeeperError, WorkFailed


class DrillError(OpskeeperError):
    """Base error of the drill area."""

    exit_code = 1


class DrillRefused(DrillError, InputError):
    """Preflight refused the drill (blackout, no usable backup, unknown role): nothing was faulted."""

    exit_code = 2


class ApprovalRefused(DrillError, InputError):
    """The fault needs an approver and none approved it: nothing was faulted."""

    exit_code = 2


class DrillFailed(DrillError, WorkFailed):
    """The drill ran and its verdict is fail (or its cleanup failed)."""

    exit_code = 1


class DrillCrashed(DrillError, WorkFailed):
    """An unexpected exception stopped the drill; it is recorded as error (the cause is chained)."""

    exit_code = 1


class ActionFailed(DrillError):
    """A drill action could not do its work (the message names the host and the thing)."""

    exit_code = 1
