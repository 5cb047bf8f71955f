"""prefect: secret references through a real Prefect Secret block, as the flows and the CLI resolve them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opskeeper.config.secrets import SecretError, SecretRef, redact

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.flow
def test_a_prefect_reference_reads_the_secret_block() -> None:
    from prefect.blocks.system import Secret

    import tasks  # noqa: F401  (what every flow imports: installs the Prefect Secret block resolver)

    Secret(value="block-secret-value-3").save("opskeeper-test-secret", overwrite=True, _sync=True)  # type: ignore[call-arg]
    assert SecretRef.model_validate("prefect:opskeeper-test-secret").resolve() == "block-secret-value-3"
    assert redact("x block-secret-value-3") == "x ***"
    with pytest.raises(SecretError, match="secret prefect:no-such-block: cannot load Prefect Secret block"):
        SecretRef.model_validate("prefect:no-such-block").resolve()


def test_the_opskeeper_command_installs_the_prefect_resolver_at_start_up() -> None:
    code = (
        "import sys\n"
        "import cli\n"
        "from opskeeper.config import secrets\n"
        "sys.argv = ['opskeeper', '--help']\n"
        "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
        "print('installed' if secrets.SecretSource.PREFECT in secrets._RESOLVERS else 'missing', file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PREFECT_API_URL": ""})  # fmt: skip
    assert out.stderr.strip().splitlines()[-1] == "installed", out.stderr
