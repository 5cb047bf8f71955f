"""Prefect Secret blocks as a secret source: ``prefect:BLOCK`` references, resolved through Prefect.

The core (``opskeeper.config.secrets``) never imports Prefect; it resolves ``prefect:``
references with whatever resolver this process installed. ``install()`` installs this one:
importing ``tasks`` does it for every flow, and the ``opskeeper`` command does it at start-up.
"""

from __future__ import annotations

from opskeeper.config.secrets import SecretError, SecretSource, install_resolver


def read_secret_block(name: str) -> str:
    """The value of the Prefect Secret block ``name`` (from the Prefect API this process is set up for)."""
    # Imported here: the CLI installs this resolver at start-up and must not pay Prefect's import then.
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name, _sync=True)  # type: ignore[call-arg]  # async_dispatch: force sync
        return str(block.get())  # type: ignore[union-attr]
    except Exception as e:  # prefect raises ValueError / ObjectNotFound, httpx errors without a server
        raise SecretError(f"secret prefect:{name}: cannot load Prefect Secret block {name!r}: {e}") from e


def install() -> None:
    """Resolve ``prefect:`` secret references through Prefect Secret blocks in this process."""
    install_resolver(SecretSource.PREFECT, read_secret_block)
