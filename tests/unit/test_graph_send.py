"""The Graph sender's pure parts: which URL means Graph, and the one-recipient guard."""

from __future__ import annotations

import base64
from email.mime.text import MIMEText

import pytest

from mailbridge.delivery.graph import mime_bytes, only_recipient
from mailbridge.delivery.transport import PermanentFailure
from mailbridge.settings.sections import graph_mailbox, is_graph_url


def test_graph_urls_name_the_sending_mailbox() -> None:
    assert is_graph_url("graph://missing-reports@council.gov.uk")
    assert not is_graph_url("smtp://relay.council.gov.uk:25") and not is_graph_url("")
    assert graph_mailbox("graph://missing-reports@Council.gov.uk") == (
        "missing-reports@council.gov.uk"
    )
    assert graph_mailbox("graph://missing%2Breports@council.gov.uk") == (
        "missing+reports@council.gov.uk"
    )
    assert graph_mailbox("graph://council.gov.uk") == ""


def message(to: str, **headers: str) -> MIMEText:
    m = MIMEText("Jordan is missing.", "plain", "utf-8")
    m["From"] = "missing@council.example"
    m["To"] = to
    for name, value in headers.items():
        m[name] = value
    return m


def test_only_the_rows_recipient_may_be_in_the_headers() -> None:
    only_recipient(message("SW <sw@council.example>"), "sw@council.example")
    only_recipient(message("SW@Council.example"), "sw@council.example")
    for bad in (
        message("sw@council.example, iro@council.example"),
        message("sw@council.example", Cc="manager@council.example"),
        message("sw@council.example", Bcc="manager@council.example"),
        message("iro@council.example"),
    ):
        with pytest.raises(PermanentFailure, match="other recipients"):
            only_recipient(bad, "sw@council.example")


def test_the_mime_given_to_graph_is_the_message_with_crlf() -> None:
    raw = mime_bytes(message("sw@council.example"))
    assert b"\r\nTo: sw@council.example\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b"")
    assert base64.b64decode(base64.b64encode(raw)) == raw
