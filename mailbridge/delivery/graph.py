"""Alerts sent through Microsoft Graph ``sendMail``, for tenants where SMTP AUTH is switched off.

``relay.url = "graph://missing-reports@council.gov.uk"`` sends every alert as that mailbox:
``POST /users/{mailbox}/sendMail`` with the alert's MIME, base64-encoded, as ``text/plain``
(Graph's documented way to send a MIME message; it answers ``202 Accepted``). The token is
app-only from ``[oauth2]`` (provider microsoft, application permission **Mail.Send**, limited to
the mailbox by an application access policy). The MIME is the one the SMTP relay would get,
Reply-To token and attachments included.

Graph takes the recipients from the MIME headers, not from an envelope, so a message goes out
only when its ``To`` is exactly the one recipient of the row and it has no ``Cc`` or ``Bcc``:
anything else would send a child's details to someone the routing did not choose.

Outcomes map onto the sender's retry rules (delivery is at least once, as with SMTP):
- ``202``: sent;
- ``400`` and ``413`` (this message is refused: bad MIME, too large): permanent, the row fails;
- ``401`` after one renewal, ``403`` (no Mail.Send, mailbox outside the access policy,
  send-as refused), ``404`` (no such mailbox): temporary with the fix named, so the alerts wait
  for IT rather than fail one by one;
- ``429``/``503``/``504`` beyond the longest Retry-After, ``5xx``, no network: temporary.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from email.generator import BytesGenerator
from email.message import Message
from email.utils import getaddresses
from io import BytesIO
from urllib.parse import quote

from mailbridge.delivery.message import POLICY
from mailbridge.delivery.transport import PermanentFailure, TemporaryFailure
from mailbridge.ops import oauth2, oauth2_providers
from mailbridge.ops.graph import GraphClient, GraphError
from mailbridge.settings.sections import GraphSettings, OAuth2Settings, graph_mailbox

#: the application permission a sending app needs (Microsoft Graph, not Exchange Online)
SEND_ROLE = "Mail.Send"

_POLICY = POLICY.clone(linesep="\r\n")  # as the .eml files: byte for byte
_PERMANENT = (400, 413)


def mime_bytes(message: Message) -> bytes:
    """The message as sent on the wire (CRLF), the bytes Graph is given."""
    out = BytesIO()
    BytesGenerator(out, policy=_POLICY).flatten(message)
    return out.getvalue()


def only_recipient(message: Message, recipient: str) -> None:
    """Refuse a message whose headers would send it to anyone but ``recipient``."""
    to = [a.lower() for _name, a in getaddresses(message.get_all("To", []))]
    if to != [recipient.lower()] or message.get_all("Cc") or message.get_all("Bcc"):
        raise PermanentFailure(
            "the alert's headers name other recipients than its row: not sent through Graph, "
            "which sends to every header recipient"
        )


class _GraphConnection:
    def __init__(self, client: GraphClient, mailbox: str) -> None:
        self.client = client
        self.path = f"/users/{quote(mailbox)}/sendMail"

    def send(self, message: Message, recipient: str) -> None:
        only_recipient(message, recipient)
        raw = base64.b64encode(mime_bytes(message))
        try:
            self.client.request("POST", self.path, raw=raw, content_type="text/plain")
        except oauth2.TokenRefused as exc:
            raise TemporaryFailure(
                "Microsoft Graph refused a fresh token: "
                + oauth2.refused_advice(
                    self.client.tokens, self.client.settings.mailbox, "GraphSend"
                )
            ) from exc
        except oauth2.OAuth2Error as exc:
            raise TemporaryFailure(f"no OAuth2 token for Microsoft Graph: {exc}") from exc
        except GraphError as exc:
            if exc.status in _PERMANENT:
                raise PermanentFailure(str(exc)) from exc
            if exc.status in (403, 404):
                raise TemporaryFailure(f"{exc}; {_advice(exc.status)}") from exc
            raise TemporaryFailure(str(exc)) from exc


def _advice(status: int) -> str:
    if status == 404:
        return "the mailbox in relay.url does not exist in the tenant"
    return (
        "the app lacks Mail.Send (with admin consent), the application access policy leaves "
        "this mailbox out, or the From address is not the mailbox (docs/m365.md)"
    )


class GraphTransport:
    """The sender's transport for ``relay.url = graph://mailbox``: one HTTPS client, reused."""

    def __init__(
        self,
        mailbox: str,
        graph: GraphSettings,
        tokens: oauth2.TokenSource,
        *,
        ca_file: str = "",
        timeout: float = 30.0,
    ) -> None:
        self.mailbox = mailbox
        settings = dataclasses.replace(graph, mailbox=mailbox, timeout_seconds=timeout)
        self.client = GraphClient(settings, tokens, ca_file=ca_file)

    @contextmanager
    def open(self) -> Iterator[_GraphConnection]:
        yield _GraphConnection(self.client, self.mailbox)

    def check(self) -> list[str]:
        """`relay check`: a token with Mail.Send for the mailbox; sends nothing.

        Graph has no way to test send rights without sending, so the mailbox permission and
        the access policy are proved by the first alert.
        """
        tokens = self.client.tokens
        try:
            token = tokens.token(self.mailbox)
        except oauth2.OAuth2Error as exc:
            raise TemporaryFailure(f"no OAuth2 token for Microsoft Graph: {exc}") from exc
        lines = [
            f"relay:      Microsoft Graph sendMail as {self.mailbox} ({self.client.base})",
            f"login:      {oauth2.describe(tokens, self.mailbox)}",
        ]
        if token.roles and SEND_ROLE not in token.roles:
            raise TemporaryFailure(oauth2.refused_advice(tokens, self.mailbox, "GraphSend"))
        return lines


def make_graph_transport(
    url: str, graph: GraphSettings, settings: OAuth2Settings, *, timeout: float, ca_file: str
) -> GraphTransport:
    """The transport for a ``graph://`` relay.url; OAuth2Error if [oauth2] cannot serve it."""
    return GraphTransport(
        graph_mailbox(url),
        graph,
        oauth2_providers.graph_source(settings),
        ca_file=ca_file or settings.ca_file,
        timeout=timeout,
    )
