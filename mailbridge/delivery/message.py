"""An alert row as a MIME email: text and HTML, a police profile or the original message
attached when the row asks for it, and the headers that make it ours (Message-ID, Reply-To,
Auto-Submitted, X-Mailbridge-Alert).
"""

from __future__ import annotations

import email
import re
from email._policybase import Compat32
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr

from mailbridge.store.models import Alert

# The text part in quoted-printable, not base64: an alert read as a raw file or mail source
# still reads as text (the README shows one); the HTML part stays base64.
_READABLE = Charset("utf-8")
_READABLE.body_encoding = QP


# A header value that compat32 folding writes back exactly as it is: printable ASCII words with
# single spaces between them (no tab, no line break, no leading, trailing or doubled space).
_PLAIN_VALUE = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")


class _Compat32Fast(Compat32):
    """compat32, except that a header which needs no folding is written without it.

    compat32 passes every header of every part through ``email.header.Header.encode`` (a
    quarter of sending's CPU). A value of plain ASCII words that fits on its line comes out of
    that unchanged, so it is written as ``Name: value`` straight away; anything else (long,
    8-bit, tabs or odd spaces, a ``Header`` object) takes compat32's own path.
    """

    def _plain(self, name: str, value: object) -> bool:
        limit = self.max_line_length
        return (
            isinstance(value, str)
            and value.isascii()
            and (limit is None or len(name) + 2 + len(value) <= limit)
            and (value == "" or _PLAIN_VALUE.fullmatch(value) is not None)
        )

    def fold(self, name: str, value: str) -> str:
        if self._plain(name, value):
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if self._plain(name, value):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


#: compat32 with the fast path for headers that need no folding; every alert is built with it,
#: and the transports that choose their own policy clone it (the bytes are compat32's)
POLICY = _Compat32Fast()


def _header(value: str) -> str:
    """ASCII stays as it is; anything else is RFC 2047-encoded (names like Chloé in a note)."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_email(
    alert: Alert,
    *,
    sender: str,
    reply_to: str,
    original: bytes | None,
    attachment: bool = True,
) -> Message:
    """The alert as a MIME message, built with the compat32 classes.

    ``email.policy.default`` costs about 20 ms an alert to build and flatten here, more than
    the relay round trip; the legacy classes do the same job in a fraction of that.
    """
    body = MIMEMultipart("alternative")
    text = MIMENonMultipart("text", "plain")
    text.set_payload(alert.body_text, _READABLE)
    body.attach(text)
    body.attach(MIMEText(alert.body_html, "html", "utf-8"))
    msg: Message = body
    if attachment and alert.attachment_name and alert.attachment is not None:
        msg = MIMEMultipart("mixed")
        msg.attach(body)
        maintype, _, subtype = (alert.attachment_type or "application/octet-stream").partition("/")
        part = MIMEBase(maintype, subtype or "octet-stream")
        part.set_payload(alert.attachment)
        encode_base64(part)
        part.add_header("Content-Disposition", "attachment", filename=alert.attachment_name)
        msg.attach(part)
    if alert.attach_inbound and original is not None:
        if msg is body:
            msg = MIMEMultipart("mixed")
            msg.attach(body)
        # RFC 2046 5.2.1: a message/rfc822 part is never base64 (readers then cannot open it).
        # Parsed with compat32, the original is written back (8bit) almost byte for byte.
        inner = MIMEMessage(email.message_from_bytes(original, policy=compat32))
        inner.add_header("Content-Disposition", "attachment", filename="original-message.eml")
        msg.attach(inner)
    msg["From"] = formataddr(("mailbridge", sender))
    msg["To"] = alert.recipient
    msg["Subject"] = _header(alert.subject)
    msg["Message-ID"] = f"<{alert.message_id}>"
    msg["Date"] = format_datetime(alert.created_at)
    msg["Reply-To"] = reply_to
    # RFC 3834: machine-sent; receipts say auto-replied (set in headers), alerts auto-generated.
    headers = dict(alert.headers or {})
    msg["Auto-Submitted"] = headers.pop("Auto-Submitted", "auto-generated")
    for name, value in headers.items():
        msg[name] = _header(value)
    msg["X-Mailbridge-Alert"] = str(alert.id)
    msg.policy = POLICY  # the generator takes the outermost message's policy for every part
    return msg
