"""Where the sender hands an email: an SMTP relay (smtplib: SMTPS, STARTTLS, AUTH or XOAUTH2,
certificates verified) or an .eml file in DATA_DIR/outbox/ (written, fsynced, renamed).

A transport's failures are one of three kinds, so the sender knows what to do with the row:
``PermanentFailure`` (5xx: give up), ``TemporaryFailure`` (4xx, a lost connection: retry with
backoff) and ``LocalFailure`` (our own disk: retry, never give up). Microsoft Graph sendMail is
graph.py, chosen by ``make_transport``.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import smtplib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from mailbridge.delivery.message import POLICY
from mailbridge.ops import oauth2, oauth2_providers, tls
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import is_graph_url

log = logging.getLogger(__name__)
_FILE_POLICY = POLICY.clone(linesep="\r\n")


class TemporaryFailure(Exception):
    """4xx, refused, timed out, disk full: worth trying again later."""


class PermanentFailure(Exception):
    """5xx: this recipient will not take this message."""


class LocalFailure(TemporaryFailure):
    """Our own side failed (the outbox disk is full or unwritable). The recipient was never
    tried, so this never uses up relay.max_attempts: the alert waits, queued, for the disk."""


class Connection(Protocol):
    def send(self, message: Message, recipient: str) -> None: ...


class Transport(Protocol):
    def open(self) -> AbstractContextManager[Connection]: ...


# -- transports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def parse_relay_url(url: str) -> RelayTarget:
    """`smtp://[user:pass@]host:port`, `smtps://…`, or `?starttls=1` (DESIGN.md contract)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    implicit = parts.scheme == "smtps"
    return RelayTarget(
        host=parts.hostname or "localhost",
        port=parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes"),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class _SmtpConnection:
    def __init__(self, client: smtplib.SMTP, sender: str) -> None:
        self.client = client
        self.sender = sender

    def send(self, message: Message, recipient: str) -> None:
        try:
            refused = self.client.send_message(message, self.sender, [recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = exc.recipients.get(recipient, (550, b"refused"))
            raise _classify(code, reply) from exc
        except smtplib.SMTPResponseException as exc:
            raise _classify(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"relay connection failed: {exc}") from exc
        if refused:
            code, reply = refused[recipient]
            raise _classify(code, reply)


def _classify(code: int, reply: bytes | str) -> Exception:
    text = _text(reply)
    if 500 <= code < 600:
        return PermanentFailure(f"{code} {text}")
    return TemporaryFailure(f"{code} {text}")


class SmtpTransport:
    """smtplib in the sender's thread: STARTTLS, SMTPS and AUTH, certificates verified.

    With ``tokens`` (relay.auth = xoauth2) the login is AUTH XOAUTH2 for the URL's user, as
    smtp.office365.com and smtp.gmail.com take it; a refused token is renewed once and retried.
    """

    def __init__(
        self,
        url: str,
        *,
        sender: str,
        verify_tls: bool,
        timeout: float,
        ca_file: str = "",
        tokens: oauth2.TokenSource | None = None,
    ) -> None:
        self.target = parse_relay_url(url)
        self.tokens = tokens
        self.sender = sender
        self.timeout = timeout
        self.context = tls.client_context(verify=verify_tls, ca_file=ca_file)
        if not verify_tls:
            log.warning(
                "%s", tls.insecure_warning("relay.verify_tls", f"the relay {self.target.host}")
            )
        t = self.target
        if not (t.implicit_tls or t.starttls) and not tls.is_loopback(t.host):
            # Children's details, and the relay password if any, would cross in clear text.
            log.warning(
                "relay.url has no TLS (use smtps:// or ?starttls=1): alerts%s to %s travel in "
                "clear text",
                " and the relay password" if t.username else "",
                t.host,
            )

    @contextmanager
    def open(self) -> Iterator[Connection]:
        t = self.target
        try:
            client: smtplib.SMTP
            if t.implicit_tls:
                client = smtplib.SMTP_SSL(
                    t.host, t.port, timeout=self.timeout, context=self.context
                )
            else:
                client = smtplib.SMTP(t.host, t.port, timeout=self.timeout)
            client.ehlo()
            if t.starttls:
                client.starttls(context=self.context)
                client.ehlo()
            if self.tokens is not None:
                if not (t.implicit_tls or t.starttls) and not tls.is_loopback(t.host):
                    raise TemporaryFailure(
                        f"relay {t.host}:{t.port} has no TLS: an OAuth2 token is never sent in "
                        "clear text (use ?starttls=1 or smtps://)"
                    )
                self._xoauth2(client)
            elif t.username:
                client.login(t.username, t.password or "")
        except TemporaryFailure:
            client.close()  # the OAuth2 login failed; say why (the message) and hang up
            raise
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"relay refused our login: {exc.smtp_code}") from exc
        except smtplib.SMTPResponseException as exc:
            raise TemporaryFailure(f"relay answered {exc.smtp_code} on connect") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"cannot reach relay {t.host}:{t.port}: {exc}") from exc
        try:
            yield _SmtpConnection(client, self.sender)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


    def _xoauth2(self, client: smtplib.SMTP) -> None:
        """AUTH XOAUTH2; TemporaryFailure says what to fix when no token is had or taken."""
        assert self.tokens is not None
        user = self.target.username or ""
        refusal = ""

        def login(token: str) -> None:
            nonlocal refusal

            def answer(challenge: bytes | None = None) -> str:
                # The server's JSON error comes as a challenge; an empty reply ends the exchange.
                return oauth2.xoauth2(user, token) if challenge is None else ""

            try:
                client.auth("XOAUTH2", answer)
            except smtplib.SMTPAuthenticationError as exc:
                refusal = f"{exc.smtp_code} {_text(exc.smtp_error)}"
                raise oauth2.TokenRefused(refusal) from exc

        try:
            self.tokens.call(user, login)
        except oauth2.OAuth2Error as exc:
            raise TemporaryFailure(f"relay {user}: no OAuth2 token: {exc}") from exc
        except oauth2.TokenRefused as exc:
            advice = oauth2.refused_advice(self.tokens, user, "SMTP")
            raise TemporaryFailure(
                f"relay {self.target.host}:{self.target.port} refused a fresh OAuth2 token for "
                f"{user} ({refusal}): {advice}"
            ) from exc

    def check(self) -> list[str]:
        """Connect, secure and log in as the sender would, send nothing; one line per fact.

        Raises TemporaryFailure whose message says in one line what is wrong.
        """
        t = self.target
        security = "SMTPS" if t.implicit_tls else ("STARTTLS" if t.starttls else "NONE")
        lines = [f"relay:      {t.host}:{t.port} ({security})"]
        with self.open():
            if self.tokens is not None:
                lines.append(
                    f"login:      XOAUTH2 as {t.username}: "
                    + oauth2.describe(self.tokens, t.username or "")
                )
            elif t.username:
                lines.append(f"login:      password as {t.username}")
            else:
                lines.append("login:      none (the relay takes mail without AUTH)")
        return lines


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply).strip()


class _FileConnection:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: Message, recipient: str) -> None:
        name = str(message["Message-ID"]).strip("<>").replace("/", "_")
        target = self.directory / f"{name}.eml"
        tmp = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            buffer = io.BytesIO()
            buffer.write(f"X-Mailbridge-Envelope-To: {recipient}\r\n".encode())
            BytesGenerator(buffer, policy=_FILE_POLICY).flatten(message)
            # Unbuffered: the one write reaches the file before the fsync, no flush needed.
            with open(tmp, "wb", buffering=0) as fh:
                rest = memoryview(buffer.getvalue())
                while rest:  # a raw write may be short (a nearly full disk)
                    written = fh.write(rest)
                    if not written:
                        raise OSError(errno.ENOSPC, "no progress writing the outbox file")
                    rest = rest[written:]
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            # Cleanup must not mask the error: the unlink fails too when the outbox is a file.
            with suppress(OSError):
                tmp.unlink(missing_ok=True)
            # The reason comes first: the retry log line keeps only the text before a colon.
            raise LocalFailure(
                f"cannot write the outbox ({exc.strerror or exc}): {target}"
            ) from exc


class FileTransport:
    """The embedded default: each alert becomes an .eml file in DATA_DIR/outbox/."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @contextmanager
    def open(self) -> Iterator[Connection]:
        yield _FileConnection(self.directory)


def relay_is_secure(settings: Settings) -> bool:
    """An encrypted, verified hop to the relay. No relay (.eml files) is not a secure send."""
    if not settings.relay.url:
        return False
    if is_graph_url(settings.relay.url):  # HTTPS, certificates always verified
        return settings.graph.base_url.startswith("https://")
    target = parse_relay_url(settings.relay.url)
    return (target.implicit_tls or target.starttls) and settings.relay.verify_tls


def make_transport(settings: Settings) -> Transport:
    """SMTP relay, Microsoft Graph sendMail (``graph://mailbox``) or .eml files."""
    from mailbridge.delivery import graph  # noqa: PLC0415 - graph imports this module

    if is_graph_url(settings.relay.url):
        return graph.make_graph_transport(
            settings.relay.url,
            settings.graph,
            settings.oauth2,
            timeout=settings.relay.timeout_seconds,
            ca_file=settings.relay.ca_file,
        )
    if settings.relay.url:
        return SmtpTransport(
            settings.relay.url,
            sender=settings.from_address,
            verify_tls=settings.relay.verify_tls,
            timeout=settings.relay.timeout_seconds,
            ca_file=settings.relay.ca_file,
            tokens=oauth2_providers.source_from_settings(settings.oauth2, settings.relay.auth),
        )
    return FileTransport(settings.data_dir / "outbox")
