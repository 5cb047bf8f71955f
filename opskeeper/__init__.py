"""opskeeper: ops runbooks, maintenance, backups, scans and DR drills under service contracts."""

__version__ = "0.1.0"
