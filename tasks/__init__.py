"""Prefect tasks: thin, typed wrappers that do I/O through opskeeper. Importing the package
installs the Prefect-side seams every flow needs (the Prefect Secret block resolver)."""

from tasks import secrets

secrets.install()
