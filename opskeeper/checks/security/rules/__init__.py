"""Built-in security checks: one module per area. Importing this package registers them (``@check``).

A new area's module is imported below; the registry imports this package at first use.
"""

from opskeeper.checks.security.rules import accounts, files, network, ssh, tls, updates

__all__ = ["accounts", "files", "network", "ssh", "tls", "updates"]
