"""Pytest fixtures for the fleet test bed (real sshd hosts in network namespaces).

``fleet_factory(n, **kw)`` builds beds destroyed at the end of the test; ``fleet3``
is a module-scoped bed of 3 hosts (tests that fault it must repair it). Tests that
use either are marked ``sshd`` automatically. Several pytest sessions may run at
once: each bed has its own subnet and names. Needs root, ``ip`` and ``sshd``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest

from testbed import TestBed

FLEET_FIXTURES = {"fleet_factory", "fleet3"}


def _require_testbed() -> None:
    if os.geteuid() != 0:
        pytest.skip("the fleet test bed needs root (ip netns, mounts)")
    for tool in ("ip", "/usr/sbin/sshd", "sudo"):
        if not shutil.which(tool):
            pytest.skip(f"the fleet test bed needs {tool} (make system-deps testbed-deps)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if FLEET_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sshd)


@pytest.fixture
def fleet_factory() -> Iterator[Callable[..., TestBed]]:
    """Build test beds: ``bed = fleet_factory(5)``; every bed is destroyed after the test."""
    _require_testbed()
    beds: list[TestBed] = []

    def make(n: int = 3, **kwargs: object) -> TestBed:
        bed = TestBed.create(n, **kwargs)  # type: ignore[arg-type]
        beds.append(bed)
        return bed

    yield make
    for bed in beds:
        bed.destroy()


@pytest.fixture(scope="module")
def fleet3() -> Iterator[TestBed]:
    """Three hosts shared by a module's tests (roles primary, standby, app)."""
    _require_testbed()
    bed = TestBed.create(3)
    yield bed
    bed.destroy()
