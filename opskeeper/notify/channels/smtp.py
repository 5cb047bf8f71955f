"""SMTP: SSL (implicit TLS) or STARTTLS, login from a secret reference, a stable Message-ID."""

from __future__ import annotations

import smtplib
import ssl

from opskeeper.config.notify import SmtpSettings
from opskeeper.notify.channels.email import build_email
from opskeeper.notify.interface import Channel, DeliveryError, Message, PermanentDeliveryError


class SmtpChannel(Channel):
    name = "smtp"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.send_timeout = settings.timeout

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.timeout.total_seconds()
        if s.security == "ssl":
            return smtplib.SMTP_SSL(s.host, s.port, timeout=timeout, context=self._tls())
        client = smtplib.SMTP(s.host, s.port, timeout=timeout)
        if s.security == "starttls":
            client.starttls(context=self._tls())
        return client

    def send(self, message: Message) -> None:
        s = self.settings
        where = f"SMTP {s.host}:{s.port} for {message.address}"
        mail = build_email(message, s.sender)
        try:
            with self._connect() as client:
                if s.username and s.password:
                    client.login(s.username, s.password.resolve())
                refused = client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as e:
            raise PermanentDeliveryError(f"{where}: recipient refused: {_codes(e.recipients)}") from e
        except smtplib.SMTPAuthenticationError as e:
            raise PermanentDeliveryError(f"{where}: login refused ({e.smtp_code})") from e
        except smtplib.SMTPResponseException as e:
            error = PermanentDeliveryError if 500 <= e.smtp_code < 600 else DeliveryError
            detail = (
                e.smtp_error.decode(errors="replace")
                if isinstance(e.smtp_error, bytes)
                else str(e.smtp_error)
            )
            raise error(f"{where}: {e.smtp_code} {detail}") from e
        except (TimeoutError, smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"{where}: {e.__class__.__name__}: {e}") from e
        if refused:
            raise PermanentDeliveryError(f"{where}: recipient refused: {_codes(refused)}")


def _codes(refused: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} {code} {msg.decode(errors='replace')}" for addr, (code, msg) in refused.items())
