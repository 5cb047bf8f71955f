"""``ssh:`` in the estate: how long to wait for a host to connect, and how a dead peer is found.

A connection that stops answering (its link is down, its sshd is frozen) refuses nothing: it only goes
quiet. Every ``keepalive`` a probe that wants a reply goes to the host; after ``keepalive_count``
intervals without the answer the connection is closed, and the step or stream on it fails with
"connection lost" (OpenSSH's ServerAliveInterval and ServerAliveCountMax; see remote/ssh_keepalive.py).
So a dead peer is found within about ``keepalive`` x (``keepalive_count`` + 1), however long its step may run.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opskeeper.config.types import Duration

_MAX = timedelta(hours=1)


class SSHTargetOptions(TypedDict):
    """The fields of ``remote.ssh.SSHTarget`` that these settings give."""

    connect_timeout: float
    keepalive_s: float
    keepalive_count: int


class SSHSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    connect_timeout: Duration = timedelta(seconds=10)  # TCP connect, banner, handshake and login, each
    keepalive: Duration = timedelta(seconds=15)  # a probe wanting a reply this often
    keepalive_count: int = Field(default=3, ge=1, le=100)  # intervals unanswered before the connection is closed

    @field_validator("connect_timeout", "keepalive")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= _MAX:
            raise ValueError(f"must be more than 0s and at most 1h, got {value.total_seconds():g}s")
        return value

    def target_options(self) -> SSHTargetOptions:
        """The ``SSHTarget`` fields these settings give (``SSHTarget.from_host(host, **options)``)."""
        return SSHTargetOptions(connect_timeout=self.connect_timeout.total_seconds(),
                                keepalive_s=self.keepalive.total_seconds(), keepalive_count=self.keepalive_count)
