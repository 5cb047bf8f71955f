"""Security checks: gather facts on a host (no agent), judge them with registered checks.

``registry`` holds the checks (``rules/`` modules register them), ``collect`` ships
``gather.py`` to the host, ``scan.scan_host`` returns results; the finding
lifecycle lives in ``opskeeper.ledger.findings``.
"""
