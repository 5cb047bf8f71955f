"""The outbox: each message is an ``.eml`` file, the embedded default channel (``make demo``).

The file name comes from the idempotency key, and files are written to a temporary name and
renamed, so a re-run after a crash replaces the same file instead of adding a second one.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from opskeeper.notify.channels.email import build_email
from opskeeper.notify.interface import Channel, DeliveryError, Message


def outbox_name(message: Message) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{message.customer_id}-{message.event}-{message.language}")
    return f"{safe}-{message.key[:16]}.eml"


class OutboxChannel(Channel):
    name = "outbox"

    def __init__(self, directory: Path, sender: str) -> None:
        self.dir = Path(directory)
        self.sender = sender

    def path_for(self, message: Message) -> Path:
        return self.dir / outbox_name(message)

    def send(self, message: Message) -> None:
        target = self.path_for(message)
        data = build_email(message, self.sender, readable=True).as_bytes()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".eml")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except OSError as e:
            raise DeliveryError(f"cannot write {target}: {e.strerror or e}") from e
