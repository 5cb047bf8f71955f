"""Building the e-mail (MIME) form of a message, shared by the outbox and SMTP channels."""

from __future__ import annotations

from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from opskeeper.notify.interface import Message

# Headers are encoded but not folded (RFC 5322 allows 998 characters): CPython's folding of encoded
# words drops the space after a colon in a Russian or Chinese subject ("Проверка безопасности:серьёзная").
_POLICY = policy.default.clone(max_line_length=998)


def build_email(message: Message, sender: str, *, readable: bool = False) -> EmailMessage:
    """The MIME message; ``readable`` keeps bodies as 8-bit UTF-8 (outbox files a person can read)."""
    cte = "8bit" if readable else None
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = sender
    mail["To"] = formataddr((message.recipient_name, message.address))
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    # Stable across retries: a receiving system that already has this Message-ID drops the copy.
    mail["Message-ID"] = message.message_id
    mail["Content-Language"] = message.language
    mail["X-Opskeeper-Key"] = message.key
    mail["X-Opskeeper-Event"] = message.event
    if message.drill:
        mail["X-Opskeeper-Drill"] = "yes"
    mail.set_content(message.text, charset="utf-8", cte=cte)
    mail.add_alternative(message.html, subtype="html", charset="utf-8", cte=cte)
    return mail


def check_address(address: str) -> None:
    """Raises ValueError for an address that no server would take."""
    local, _, domain = address.rpartition("@")
    Address(username=local, domain=domain)
    if not local or not domain:
        raise ValueError(f"not an e-mail address: {address!r}")
