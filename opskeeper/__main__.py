"""``python -m opskeeper`` is the ``opskeeper`` command."""

from opskeeper.cli import main

main()
