"""TLS contexts on real handshakes: the relay (aiosmtpd sink with a trustme certificate, STARTTLS
and SMTPS), the IMAP context, and the checks of the files."""

from __future__ import annotations

import email
import logging
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from mailbridge.delivery.transport import SmtpTransport, TemporaryFailure, make_transport
from mailbridge.ingress.imap.client import tls_context as imap_tls_context
from mailbridge.ops import tls
from mailbridge.settings.config import load_settings
from mailbridge.settings.sections import ImapSettings
from tests.support.tls import TlsSink


@pytest.fixture(params=["starttls", "smtps"])
def tls_sink(request, tls_files) -> Iterator[TlsSink]:
    sink = TlsSink(
        tls_files.cert_file, tls_files.key_file, implicit=request.param == "smtps"
    ).start()
    yield sink
    sink.stop()


def alert(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "missing@council.example"
    msg["To"] = "duty@council.example"
    msg["Subject"] = f"MB-2026-0000{n}"
    msg["Message-ID"] = f"<tls-{n}@mailbridge>"
    msg.set_content("An alert.")
    return msg


def send(transport: SmtpTransport, n: int) -> None:
    with transport.open() as conn:
        conn.send(alert(n), "duty@council.example")


def test_relay_with_an_unknown_ca_is_refused(tls_sink):
    transport = SmtpTransport(tls_sink.url, sender="m@c.example", verify_tls=True, timeout=5)
    with pytest.raises(TemporaryFailure, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
        send(transport, 1)
    assert tls_sink.handler.received == []


def test_relay_with_ca_file_from_the_settings_is_accepted(tls_sink, tls_files, tmp_path):
    config = tmp_path / "mb.toml"
    config.write_text(f'[relay]\nurl = "{tls_sink.url}"\nca_file = "{tls_files.ca_file}"\n')
    settings = load_settings(str(config), {"MAILBRIDGE_DATA_DIR": str(tmp_path)})
    transport = make_transport(settings)
    assert isinstance(transport, SmtpTransport)
    send(transport, 2)
    (got,) = tls_sink.handler.received
    assert email.message_from_bytes(got.content)["Message-ID"] == "<tls-2@mailbridge>"


def test_relay_without_verification_is_accepted_and_warned(tls_sink, caplog):
    caplog.set_level(logging.WARNING, logger="mailbridge")
    transport = SmtpTransport(tls_sink.url, sender="m@c.example", verify_tls=False, timeout=5)
    send(transport, 3)
    assert len(tls_sink.handler.received) == 1
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("relay.verify_tls = false" in r.getMessage() for r in warned)


def test_relay_certificate_must_name_the_host(tls_files, tmp_path):
    """The CA is trusted, but the relay's certificate names another host."""
    other = tls_files.ca.issue_cert("relay.other.example")
    cert, key = tmp_path / "other.pem", tmp_path / "other.key"
    other.cert_chain_pems[0].write_to_path(str(cert))
    other.private_key_pem.write_to_path(str(key))
    sink = TlsSink(str(cert), str(key), implicit=False).start()
    try:
        transport = SmtpTransport(
            sink.url, sender="m@c.example", verify_tls=True, timeout=5, ca_file=tls_files.ca_file
        )
        with pytest.raises(TemporaryFailure, match=r"match|mismatch"):
            send(transport, 4)
    finally:
        sink.stop()


def _handshake(context: ssl.SSLContext, port: int) -> str | None:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        return sock.version()


@pytest.fixture
def smtps_port(tls_files) -> Iterator[int]:
    sink = TlsSink(tls_files.cert_file, tls_files.key_file, implicit=True).start()
    yield sink.port
    sink.stop()


def test_imap_context_trusts_imap_ca_file(smtps_port, tls_files):
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(imap_tls_context(ImapSettings()), smtps_port)
    assert _handshake(imap_tls_context(ImapSettings(ca_file=tls_files.ca_file)), smtps_port)
    assert _handshake(imap_tls_context(ImapSettings(verify_tls=False)), smtps_port)


def test_file_checks_name_the_problem(tls_files, tmp_path):
    assert tls.check_server_files(tls_files.cert_file, tls_files.key_file) is None
    assert tls.check_server_files(str(tmp_path / "none.pem"), tls_files.key_file)
    other = tmp_path / "other.key"
    import trustme

    trustme.CA().issue_cert("x.example").private_key_pem.write_to_path(str(other))
    assert "KEY_VALUES_MISMATCH" in (tls.check_server_files(tls_files.cert_file, str(other)) or "")
    assert tls.check_ca_file(tls_files.ca_file) is None
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    assert tls.check_ca_file(str(garbage))
