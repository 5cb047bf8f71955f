"""A store on S3 (or an S3-compatible server): boto3, retries with backoff, Object Lock on request.

Every object is written with a single PUT or, above ``multipart_threshold``, a
multipart upload whose part size keeps under S3's 10,000-part limit; either way
S3 makes it visible atomically. Uploads abandoned by a killed process are aborted
by ``cleanup_incomplete``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from opskeeper.backup.store.interface import (
    BackupStore,
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    ObjectRetained,
    StoreError,
)
from opskeeper.clock import SYSTEM
from opskeeper.config.backup import S3Target

MAX_PARTS = 10_000
MIN_PART = 8 * 1024 * 1024
_T = TypeVar("_T")


class LockMode(StrEnum):
    GOVERNANCE = "GOVERNANCE"
    COMPLIANCE = "COMPLIANCE"


@dataclass(frozen=True)
class S3Settings:
    """Where and how to talk to S3; credentials already resolved."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    lock_mode: LockMode | None = None
    lock_days: int = 0
    max_attempts: int = 5
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    multipart_threshold: int = 64 * 1024 * 1024

    @classmethod
    def from_target(cls, target: S3Target) -> S3Settings:
        """Settings from the estate's target; secret references are resolved now."""
        lock = target.object_lock
        return cls(
            bucket=target.bucket, prefix=target.prefix, endpoint_url=target.endpoint_url, region=target.region,
            access_key=target.access_key.resolve() if target.access_key else None,
            secret_key=target.secret_key.resolve() if target.secret_key else None,
            lock_mode=LockMode(lock.mode) if lock else None, lock_days=lock.days if lock else 0,
        )


def transfer_config_for(size: int, threshold: int) -> TransferConfig:
    """A TransferConfig whose part size keeps ``size`` within 10,000 parts."""
    part = max(MIN_PART, math.ceil(size / (MAX_PARTS - 1)))
    part = math.ceil(part / (1024 * 1024)) * 1024 * 1024
    return TransferConfig(multipart_threshold=threshold, multipart_chunksize=part, max_concurrency=4)


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


class S3Store(BackupStore):
    """Objects under ``s3://bucket/prefix/``."""

    def __init__(self, settings: S3Settings) -> None:
        self.s = settings
        self.prefix = settings.prefix.strip("/") + "/" if settings.prefix.strip("/") else ""
        self.location = f"s3://{settings.bucket}/{self.prefix}"
        cfg = Config(
            retries={"max_attempts": settings.max_attempts, "mode": "standard"},
            connect_timeout=settings.connect_timeout_s,
            read_timeout=settings.read_timeout_s,
            s3={"addressing_style": "path"},
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region or "us-east-1",
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            config=cfg,
        )

    def _key(self, name: str) -> str:
        return self.prefix + name

    def _call(self, what: str, name: str, fn: Callable[[], _T]) -> _T:
        """Run one S3 call; botocore already retried with backoff; translate what is left."""
        try:
            return fn()
        except ClientError as e:
            code = _code(e)
            if code in {"NoSuchKey", "404", "NotFound"}:
                raise ObjectNotFound(f"{name} not found in {self.location}") from e
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                raise ObjectExists(f"{name} already exists in {self.location}") from e
            if code == "AccessDenied" and what == "delete":
                raise ObjectRetained(f"{name} in {self.location} is under Object Lock retention") from e
            raise StoreError(f"cannot {what} {name} in {self.location}: {code} {e}") from e
        except (BotoCoreError, OSError) as e:
            raise StoreError(f"cannot {what} {name} in {self.location}: {e}") from e

    def _lock_args(self, retain: bool) -> dict[str, object]:
        if not retain or self.s.lock_mode is None or self.s.lock_days <= 0:
            return {}
        until = SYSTEM.now() + timedelta(days=self.s.lock_days)  # S3 holds it by its own real clock
        return {"ObjectLockMode": self.s.lock_mode.value, "ObjectLockRetainUntilDate": until}

    def put(self, name: str, data: bytes, *, retain: bool = True) -> None:
        key, extra = self._key(name), self._lock_args(retain)
        if len(data) < self.s.multipart_threshold:
            self._call(
                "write",
                name,
                lambda: self.client.put_object(Bucket=self.s.bucket, Key=key, Body=data, **extra),
            )  # type: ignore[arg-type]
            return
        cfg = transfer_config_for(len(data), self.s.multipart_threshold)
        # boto3 aborts its own multipart upload when a part fails; a kill -9 leaves one for cleanup.
        self._call(
            "write",
            name,
            lambda: self.client.upload_fileobj(
                io.BytesIO(data), self.s.bucket, key, ExtraArgs=extra or None, Config=cfg
            ),
        )

    def put_new(self, name: str, data: bytes) -> None:
        key = self._key(name)
        self._call(
            "write",
            name,
            lambda: self.client.put_object(Bucket=self.s.bucket, Key=key, Body=data, IfNoneMatch="*"),
        )

    def get(self, name: str) -> bytes:
        key = self._key(name)
        return self._call(
            "read", name, lambda: self.client.get_object(Bucket=self.s.bucket, Key=key)["Body"].read()
        )

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        key, rng = self._key(name), f"bytes={offset}-{offset + length - 1}"
        return self._call(
            "read",
            name,
            lambda: self.client.get_object(Bucket=self.s.bucket, Key=key, Range=rng)["Body"].read(),
        )

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.s.bucket, Prefix=self._key(prefix))
        it = iter(pages)
        while True:
            page = self._call("list", prefix, lambda: next(it, None))
            if page is None:
                return
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"][len(self.prefix) :], int(obj["Size"]), obj.get("LastModified"))

    def delete(self, name: str) -> None:
        key = self._key(name)
        until = self.retained_until(name)
        if until is not None and until > SYSTEM.now():
            raise ObjectRetained(f"{name} in {self.location} is retained until {until.isoformat()}")
        if self.s.lock_mode is not None:
            # A versioned (Object Lock) bucket keeps old versions: remove every version, not just hide it.
            versions = self._call(
                "list versions of",
                name,
                lambda: self.client.list_object_versions(Bucket=self.s.bucket, Prefix=key),
            )
            for v in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                if v["Key"] == key:
                    self._delete_version(name, key, str(v["VersionId"]))
            return
        self._call("delete", name, lambda: self.client.delete_object(Bucket=self.s.bucket, Key=key))

    def _delete_version(self, name: str, key: str, version: str) -> None:
        def call() -> object:
            return self.client.delete_object(Bucket=self.s.bucket, Key=key, VersionId=version)

        self._call("delete", name, call)

    def _abort(self, key: str, upload_id: str) -> None:
        def call() -> object:
            return self.client.abort_multipart_upload(Bucket=self.s.bucket, Key=key, UploadId=upload_id)

        self._call("abort upload", key, call)

    def exists(self, name: str) -> bool:
        try:
            self._call(
                "stat", name, lambda: self.client.head_object(Bucket=self.s.bucket, Key=self._key(name))
            )
        except ObjectNotFound:
            return False
        return True

    def retained_until(self, name: str) -> datetime | None:
        if self.s.lock_mode is None:
            return None
        try:
            head = self._call(
                "stat", name, lambda: self.client.head_object(Bucket=self.s.bucket, Key=self._key(name))
            )
        except ObjectNotFound:
            return None
        until = head.get("ObjectLockRetainUntilDate")
        return until if isinstance(until, datetime) else None

    def cleanup_incomplete(self, older_than_s: float) -> int:
        cutoff = SYSTEM.now() - timedelta(seconds=older_than_s)  # the store's object times are real
        resp = self._call(
            "list uploads under",
            self.prefix or "/",
            lambda: self.client.list_multipart_uploads(Bucket=self.s.bucket, Prefix=self.prefix),
        )
        aborted = 0
        for up in resp.get("Uploads", []):
            if up["Initiated"] < cutoff:
                self._abort(str(up["Key"]), str(up["UploadId"]))
                aborted += 1
        return aborted

    def close(self) -> None:
        self.client.close()

