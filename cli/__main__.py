"""``python -m cli`` is the ``opskeeper`` command."""

from cli import main

main()
