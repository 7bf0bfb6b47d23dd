"""Mail to people: password-reset tokens and invitations. The sender is chosen by configuration: `SMTP_URL` set
means SMTP through the standard library; unset means none, and an operator prints the token with the CLI
(`smartcompute users reset-password`, `smartcompute invitations issue`) to hand over another way.

`smtps://user:password@host:465` is TLS from the start; `smtp://host:25` upgrades with STARTTLS when the
server offers it, and never sends a user name and password over a connection that did not.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

TIMEOUT_SECONDS = 10


class MailSender(Protocol):
    def send(self, to: str, subject: str, text: str) -> None:
        """Deliver the message or raise (OSError, smtplib.SMTPException)."""
        ...


class SmtpSender:
    def __init__(self, url: str, sender: str):
        parts = urlsplit(url)
        self._tls, self._host = parts.scheme == "smtps", parts.hostname or "localhost"
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password or "")
        self._sender = sender

    def send(self, to: str, subject: str, text: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self._sender, to, subject
        message.set_content(text)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self._tls:
            client = smtplib.SMTP_SSL(self._host, self._port, timeout=TIMEOUT_SECONDS, context=context)
        else:
            client = smtplib.SMTP(self._host, self._port, timeout=TIMEOUT_SECONDS)
        with client:
            client.ehlo()
            encrypted = self._tls
            if not self._tls and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
                encrypted = True
            if self._user is not None:
                if not encrypted:
                    raise smtplib.SMTPException(f"{self._host} offers no STARTTLS: its credentials are not sent")
                client.login(self._user, self._password)
            client.send_message(message)


def configured_sender(smtp_url: str | None, mail_from: str | None) -> MailSender | None:
    return SmtpSender(smtp_url, mail_from) if smtp_url and mail_from else None
