"""Global concurrency limits ``host:<name>`` (one maintenance per host at a time), created on first use."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

_known: set[str] = set()
_lock = threading.Lock()


def ensure_host_limits(hosts: Iterable[str]) -> None:
    names = [f"host:{h}" for h in hosts]
    with _lock:
        missing = [n for n in names if n not in _known]
        if not missing:
            return
        with get_client(sync_client=True) as client:
            for name in missing:
                try:
                    client.read_global_concurrency_limit_by_name(name)
                except ObjectNotFound:
                    try:
                        client.create_global_concurrency_limit(
                            GlobalConcurrencyLimitCreate(name=name, limit=1)
                        )
                    except ObjectAlreadyExists:
                        pass
                _known.add(name)
