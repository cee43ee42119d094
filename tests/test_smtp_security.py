"""The listener's defences over real sockets: STARTTLS, AUTH, connection, header and rate limits,
and SMTP smuggling. Each test fails when its defence is taken out."""

from __future__ import annotations

import base64
import logging
import smtplib
import socket
import time

import pytest

from mailbridge.ops import passwords
from tests.conftest import sample_report
from tests.test_smtp import stored

ADDR = "missing@council.example"
USER, PASSWORD = "relay-1", "correct horse battery staple"


def plain_auth(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def client(svc, **kwargs) -> smtplib.SMTP:
    return smtplib.SMTP(svc.host, svc.port, timeout=30, **kwargs)


def secure(c: smtplib.SMTP, tls_files) -> None:
    c.ehlo()
    code, _ = c.starttls(context=tls_files.client_context())
    assert code == 220
    c.ehlo()


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: these defences act before the store; test_smtp.py covers both databases."""
    return f"sqlite:///{tmp_path / 'mailbridge.db'}"


@pytest.fixture
def tls_service(make_settings, run_service, tls_files, tmp_path):
    """A listener with STARTTLS; extra [smtp] lines and an optional auth file per test."""

    def start(extra: str = "", *, auth: bool = False):
        lines = tls_files.toml() + extra
        if auth:
            path = tmp_path / "smtp-users"
            path.write_text(f"# known systems\n{USER}:{passwords.hash_password(PASSWORD)}\n")
            lines += f'auth_file = "{path}"\n'
        return run_service(make_settings(f"[smtp]\n{lines}", addresses=ADDR))

    return start


@pytest.fixture
def plain_service(make_settings, run_service):
    def start(extra: str = ""):
        return run_service(make_settings(f"[smtp]\n{extra}", addresses=ADDR))

    return start


# -- STARTTLS and AUTH ------------------------------------------------------------------------


def test_starttls_is_offered_and_mail_over_it_is_stored(tls_service, tls_files):
    svc = tls_service()
    with client(svc) as c:
        c.ehlo()
        assert c.has_extn("starttls")
        assert not c.has_extn("auth")  # no auth file: nothing to log in to, before or after TLS
        secure(c, tls_files)
        assert not c.has_extn("starttls") and not c.has_extn("auth")
        c.sendmail("carer@homes.example", [ADDR], sample_report(1))
        cipher = c.sock.cipher()  # type: ignore[union-attr]
    assert cipher is not None
    (row,) = stored(svc)
    assert row.raw == sample_report(1)


def test_require_tls_refuses_mail_with_530_until_starttls(tls_service, tls_files):
    svc = tls_service("require_tls = true\n")
    with client(svc) as c:
        c.ehlo()
        code, _ = c.mail("carer@homes.example")
        assert code == 530
        secure(c, tls_files)
        c.sendmail("carer@homes.example", [ADDR], sample_report(2))
    (row,) = stored(svc)
    assert row.message_id == "report-2@carer.example"


def test_without_require_tls_plain_mail_still_delivers(tls_service):
    svc = tls_service()
    with client(svc) as c:
        c.sendmail("carer@homes.example", [ADDR], sample_report(3))
    assert len(stored(svc)) == 1


def test_auth_is_not_offered_nor_accepted_before_tls(tls_service):
    svc = tls_service(auth=True)
    with client(svc) as c:
        c.ehlo()
        assert not c.has_extn("auth")
        code, _ = c.docmd("AUTH", "PLAIN " + plain_auth(USER, PASSWORD))
        assert code == 538  # encryption required


def test_auth_after_tls_535_on_bad_password_then_235(tls_service, tls_files, caplog):
    caplog.set_level(logging.WARNING, logger="mailbridge")
    svc = tls_service(auth=True)
    with client(svc) as c:
        secure(c, tls_files)
        assert set(c.esmtp_features["auth"].split()) == {"LOGIN", "PLAIN"}
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            c.login(USER, "wrong password")
        assert err.value.smtp_code == 535
        code, _ = c.login(USER, PASSWORD)
        assert code == 235
        c.sendmail("system@council.example", [ADDR], sample_report(4))
    assert len(stored(svc)) == 1
    failed = [r.getMessage() for r in caplog.records if "AUTH" in r.getMessage()]
    assert any("failed" in m and USER in m for m in failed)
    assert not any("wrong password" in r.getMessage() for r in caplog.records)


def test_auth_login_mechanism_and_unknown_user(tls_service, tls_files):
    svc = tls_service(auth=True)
    with client(svc) as c:
        secure(c, tls_files)
        c.user, c.password = "nobody", PASSWORD
        with pytest.raises(smtplib.SMTPAuthenticationError) as err:
            c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert err.value.smtp_code == 535
        c.user, c.password = USER, PASSWORD
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        assert code == 235


def test_repeated_auth_failures_close_the_connection(tls_service, tls_files):
    svc = tls_service(auth=True)
    with client(svc) as c:
        secure(c, tls_files)
        for n in range(3):
            assert c.docmd("AUTH", "PLAIN " + plain_auth(USER, f"guess {n}"))[0] == 535
        code, _ = c.docmd("AUTH", "PLAIN " + plain_auth(USER, PASSWORD))
        assert code == 421


def test_authenticated_session_is_exempt_from_the_rate_limit(tls_service, tls_files):
    svc = tls_service("rate_limit_per_sender = 1\nrate_limit_per_ip = 1\n", auth=True)
    with client(svc) as c:
        secure(c, tls_files)
        c.login(USER, PASSWORD)
        for n in range(3):
            c.sendmail("system@council.example", [ADDR], sample_report(10 + n))
    with client(svc) as c:  # the same sender, not logged in: the window holds nothing from above
        c.sendmail("system@council.example", [ADDR], sample_report(20))
        code, _ = c.mail("system@council.example")
        assert code == 451
    assert len(stored(svc)) == 4


# -- connection and command limits -------------------------------------------------------------


def _wait_until_accepted(svc, **kwargs) -> smtplib.SMTP:
    """A closed session frees its slot a moment after the client's QUIT; wait for that."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return client(svc, **kwargs)
        except smtplib.SMTPConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_connections_over_the_total_get_421_and_a_freed_slot_is_reused(plain_service):
    svc = plain_service("max_connections = 2\nmax_connections_per_ip = 2\n")
    first, second = client(svc), client(svc)
    with pytest.raises(smtplib.SMTPConnectError) as err:
        client(svc)
    assert err.value.smtp_code == 421
    first.quit()
    with _wait_until_accepted(svc) as third:
        third.sendmail("carer@homes.example", [ADDR], sample_report(30))
    second.quit()
    assert len(stored(svc)) == 1


def test_connections_over_the_per_ip_limit_get_421_other_ips_pass(plain_service):
    svc = plain_service("max_connections = 10\nmax_connections_per_ip = 1\n")
    with client(svc) as first:
        with pytest.raises(smtplib.SMTPConnectError) as err:
            client(svc)
        assert err.value.smtp_code == 421
        with client(svc, source_address=("127.0.0.2", 0)) as other:
            assert other.noop()[0] == 250
        assert first.noop()[0] == 250


def test_commands_per_connection_are_limited(plain_service):
    svc = plain_service("max_commands = 10\n")
    with client(svc) as c:
        for _ in range(10):
            assert c.noop()[0] == 250
        code, _ = c.noop()
        assert code == 421
        with pytest.raises(smtplib.SMTPServerDisconnected):
            c.noop()


# -- header size -----------------------------------------------------------------------------


def _with_header(n: int, filler: int) -> bytes:
    folded = "X-Filler: " + "\r\n ".join(["y" * 70] * (filler // 73 + 1))
    raw = sample_report(n)
    return raw.replace(b"MIME-Version", folded.encode() + b"\r\nMIME-Version", 1)


def test_oversized_header_block_gets_552_and_nothing_is_stored(plain_service):
    svc = plain_service("max_header_bytes = 4096\n")
    big_header = _with_header(40, 5000)
    big_body = sample_report(41) + (b"z" * 70 + b"\r\n") * 200  # 14 KB body, small header
    with client(svc) as c:
        c.ehlo()
        c.mail("carer@homes.example")
        c.rcpt(ADDR)
        code, reply = c.data(big_header)
        assert (code, reply[:5]) == (552, b"5.3.4")
        c.sendmail("carer@homes.example", [ADDR], big_body)
        c.sendmail("carer@homes.example", [ADDR], _with_header(42, 3000))
    assert [r.message_id for r in stored(svc)] == [
        "report-41@carer.example",
        "report-42@carer.example",
    ]


# -- rate limits -----------------------------------------------------------------------------


def test_sender_rate_limit_defers_with_451_and_a_new_sender_passes(plain_service, caplog):
    caplog.set_level(logging.WARNING, logger="mailbridge")
    svc = plain_service("rate_limit_per_sender = 2\nrate_limit_per_ip = 100\n")
    with client(svc) as c:
        c.sendmail("Carer@Homes.example", [ADDR], sample_report(50))
        c.sendmail("carer@homes.example", [ADDR], sample_report(51))
        code, reply = c.mail("carer@homes.example")
        assert (code, reply[:5]) == (451, b"4.7.1")
        c.rset()
        c.sendmail("other.carer@homes.example", [ADDR], sample_report(52))
    assert len(stored(svc)) == 3
    assert any("rate limit (sender)" in r.getMessage() for r in caplog.records)


def test_ip_rate_limit_defers_repeat_senders_never_a_first_report(plain_service):
    svc = plain_service("rate_limit_per_sender = 100\nrate_limit_per_ip = 2\n")
    with client(svc) as c:
        c.sendmail("a@homes.example", [ADDR], sample_report(60))
        c.sendmail("b@homes.example", [ADDR], sample_report(61))
        code, _ = c.mail("a@homes.example")
        assert code == 451
        c.rset()
        for n, new_sender in enumerate(["c@homes.example", "d@homes.example"]):
            c.sendmail(new_sender, [ADDR], sample_report(62 + n))  # first reports: always 250
    assert len(stored(svc)) == 4


def test_refused_messages_do_not_count_against_the_sender(plain_service):
    svc = plain_service("rate_limit_per_sender = 1\n")
    with client(svc) as c:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            c.sendmail("carer@homes.example", ["nobody@else.example"], sample_report(70))
        c.sendmail("carer@homes.example", [ADDR], sample_report(71))
    assert len(stored(svc)) == 1


# -- SMTP smuggling --------------------------------------------------------------------------


def _converse(svc, payload: bytes) -> bytes:
    """Speak SMTP over a raw socket, as an attacker would, and return everything answered."""
    with socket.create_connection((svc.host, svc.port), timeout=10) as sock:
        sock.recv(1024)
        sock.sendall(b"EHLO attacker.example\r\n")
        time.sleep(0.1)
        sock.recv(4096)
        sock.sendall(
            b"MAIL FROM:<carer@homes.example>\r\n" + f"RCPT TO:<{ADDR}>\r\n".encode() + b"DATA\r\n"
        )
        time.sleep(0.1)
        sock.sendall(payload + b"QUIT\r\n")
        replies = b""
        while chunk := sock.recv(4096):
            replies += chunk
    return replies


@pytest.mark.parametrize(
    ("fake_end", "flagged"),
    [
        (b"\n.\r\n", True),
        (b"\n.\n", True),
        (b"\r.\r\n", True),
        (b"\r.\n", True),
        # ".<LF>MAIL…<CRLF>" is one line starting with a dot: unstuffed, nothing left to flag.
        (b"\r\n.\n", False),
    ],
    ids=["LF.CRLF", "LF.LF", "CR.CRLF", "CR.LF", "CRLF.LF"],
)
def test_smuggled_second_message_stays_inside_the_first(plain_service, fake_end, flagged, caplog):
    caplog.set_level(logging.WARNING, logger="mailbridge")
    svc = plain_service()
    smuggled = (
        b"MAIL FROM:<intruder@evil.example>\r\n"
        + f"RCPT TO:<{ADDR}>\r\n".encode()
        + b"DATA\r\n"
        + b"From: Director <director@council.example>\r\nSubject: SMUGGLED\r\n\r\nSMUGGLED\r\n"
    )
    payload = (
        b"From: Carer <carer@homes.example>\r\nSubject: report\r\nMessage-ID: <smuggle@x>\r\n\r\n"
        b"Jordan has not come home." + fake_end + smuggled + b"\r\n.\r\n"
    )
    replies = _converse(svc, payload)
    assert replies.count(b"250 2.0.0 OK stored as") == 1
    rows = stored(svc)
    assert len(rows) == 1
    assert rows[0].mail_from == "carer@homes.example"
    raw = rows[0].raw or b""
    assert b"SMUGGLED" in raw and b"intruder@evil.example" in raw
    assert any("smuggling" in r.getMessage() for r in caplog.records) == flagged
