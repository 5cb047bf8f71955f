"""Demos on the example estate: ``python -m demos.estate`` (``make demo``), ``python -m demos.drill`` (``make demo-drill``).

Outside the core package: they drive the ``opskeeper`` command and the core as a user would.
"""
