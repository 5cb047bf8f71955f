"""Backup targets, data sets and policies (owned by the backup area).

The estate holds ``backup_targets: {name: BackupTarget}`` and, per system,
``datasets: [DataSet]`` and ``backup: BackupPolicy``. Credentials and the
passphrase are SecretRefs, resolved only when a repository is opened.
"""

from __future__ import annotations

import posixpath
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from opskeeper.config.secrets import SecretRef


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DirTarget(_Model):
    """A repository in a local directory (or a mounted file system)."""

    kind: Literal["dir"]
    path: str


class ObjectLock(_Model):
    """S3 Object Lock retention set on every data object; the bucket must have Object Lock enabled."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"]
    days: int = Field(ge=1)


class S3Target(_Model):
    """A repository under ``s3://bucket/prefix`` on AWS or any S3-compatible endpoint."""

    kind: Literal["s3"]
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: SecretRef | None = None
    secret_key: SecretRef | None = None
    object_lock: ObjectLock | None = None


BackupTarget = Annotated[DirTarget | S3Target, Field(discriminator="kind")]


def _contained_path(path: str) -> str:
    """An absolute path that names what it says: no ``..`` that climbs out of it (after ``${OPSKEEPER_HOME}``).

    A snapshot stores ``/srv/app`` as ``srv/app``; a restore relocated under a directory puts it back there.
    ``/srv/app/../../etc`` would back up ``/etc`` under another name and restore outside the relocation root.
    """
    if not posixpath.isabs(path):
        raise ValueError(f"data set path {path!r} must be absolute (it is read on the host, not here)")
    if ".." in path.split("/"):
        raise ValueError(f"data set path {path!r} climbs out of itself with '..'; write the directory it means "
                         f"({posixpath.normpath(path)!r})")  # fmt: skip
    return path


def _plain_name(name: str) -> str:
    """A name that is also safe as one file name (a PostgreSQL dump is restored as ``<dbname>.pgdump``)."""
    if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"database name {name!r} must be a plain name (no '/', '\\' or NUL; not '.' or '..'): "
                         "its dump is restored as '<dbname>.pgdump'")  # fmt: skip
    return name


DataSetName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
DataSetPath = Annotated[str, AfterValidator(_contained_path)]


class DirDataSet(_Model):
    """Directories; on ``host`` (over SSH, tar streamed) or, without a host, on the machine running opskeeper."""

    kind: Literal["dir"]
    name: DataSetName
    paths: list[DataSetPath] = Field(min_length=1)
    excludes: list[str] = Field(default_factory=list)
    host: str | None = None


class PostgresDataSet(_Model):
    """A PostgreSQL database dumped with ``pg_dump`` on ``host`` (an estate host; default: locally)."""

    kind: Literal["postgres"]
    name: DataSetName
    dbname: Annotated[str, AfterValidator(_plain_name)]
    host: str | None = None  # opskeeper host name to run pg_dump on (default: local)
    db_host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"


DataSet = Annotated[DirDataSet | PostgresDataSet, Field(discriminator="kind")]


class Retention(_Model):
    """GFS retention: the newest N, then one per day / ISO week / month / year, in the customer's zone."""

    keep_last: int = Field(default=3, ge=0)
    keep_daily: int = Field(default=7, ge=0)
    keep_weekly: int = Field(default=4, ge=0)
    keep_monthly: int = Field(default=12, ge=0)
    keep_yearly: int = Field(default=3, ge=0)


class BackupCadence(StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"


_INTERVALS = {
    BackupCadence.HOURLY: timedelta(hours=1),
    BackupCadence.DAILY: timedelta(days=1),
    BackupCadence.WEEKLY: timedelta(weeks=1),
}


class BackupPolicy(_Model):
    """How a system is backed up: where, with which key, how often, how long kept, how much re-read."""

    targets: list[str] = Field(min_length=1)
    passphrase: SecretRef
    schedule: BackupCadence = BackupCadence.DAILY
    retention: Retention = Field(default_factory=Retention)
    verify_fraction: float = Field(default=0.1, ge=0, le=1)

    @property
    def interval(self) -> timedelta:
        """How old the newest snapshot may be before a backup is due (used by the tick)."""
        return _INTERVALS[self.schedule]
