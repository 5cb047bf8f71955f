"""The ``opskeeper`` command: the composition root at the edge, beside ``flows/`` and ``deployments/``.

``main`` is the console-script entry point (``python -m cli`` runs it too). It installs the edges the core
resolves through seams (the Prefect secret resolver), then runs the typer app; the commands start the
maintenance flow and the local Prefect server. The core (``opskeeper/``) never imports this package.
"""

import os
import sys

from opskeeper.paths import home_dir


def _prefect_defaults() -> None:
    """Embedded defaults: no telemetry; without a Prefect server, an ephemeral one kept under $OPSKEEPER_HOME."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if not os.environ.get("PREFECT_API_URL"):
        prefect_home = home_dir() / "prefect"
        prefect_home.mkdir(parents=True, exist_ok=True)  # Prefect does not create parents itself
        os.environ.setdefault("PREFECT_HOME", str(prefect_home))
        # The progress display and summary say what happened; Prefect's own chatter is for --verbose.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def hoist_config(argv: list[str]) -> list[str]:
    """Accept ``-c FILE`` / ``--config FILE`` anywhere (``opskeeper validate -c x.yaml``), as the root option."""
    rest, front, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-c", "--config") and i + 1 < len(argv):
            front += [arg, argv[i + 1]]
            i += 2
            continue
        if arg.startswith("--config="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    sys.argv[1:] = hoist_config(sys.argv[1:])
    _prefect_defaults()
    # The edge installs what the core resolves through Prefect (prefect: secret references); it does not
    # import Prefect until a block is read.
    from tasks.secrets import install as install_prefect_secrets

    install_prefect_secrets()
    from cli.main import app  # after the environment is set: Prefect reads it on import

    app(prog_name="opskeeper")  # usage and help name the command, also under `python -m cli`


__all__ = ["main"]
