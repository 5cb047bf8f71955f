"""Fleet test bed: hosts as network namespaces with real sshd, for tests, demos and benchmarks.

Needs root (``ip netns``, mounts). See :mod:`testbed.bed` for the layout.
"""

from testbed.bed import TestBed, destroy_all, reap_stale
from testbed.host import TestHost
from testbed.netns import TestbedError

__all__ = ["TestBed", "TestHost", "TestbedError", "destroy_all", "reap_stale"]
