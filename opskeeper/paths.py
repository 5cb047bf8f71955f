"""Where state lives: ``$OPSKEEPER_HOME`` (default ``./var``) and the bundled files."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
EXAMPLE_ESTATE = REPO_DIR / "examples" / "opskeeper.yaml"
RUNBOOKS_DIR = REPO_DIR / "runbooks"
TEMPLATES_DIR = RUNBOOKS_DIR / "templates"


def home_dir() -> Path:
    """State directory: ledger, local backups, outbox, locks, reports."""
    return Path(os.environ.get("OPSKEEPER_HOME", "var")).resolve()


def state_path(*parts: str) -> Path:
    path = home_dir().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def config_path(explicit: str | Path | None = None) -> Path:
    """--config, else $OPSKEEPER_CONFIG, else ./opskeeper.yaml, else the bundled example estate."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("OPSKEEPER_CONFIG")
    if env:
        return Path(env)
    local = Path("opskeeper.yaml")
    return local if local.exists() else EXAMPLE_ESTATE
