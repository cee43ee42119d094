"""Sender trust: which Authentication-Results header counts, what verifies, DKIM checked here,
and what the episode, its JSON, its alerts and its routing make of the verdict."""

from __future__ import annotations

import base64
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.directory import csv_file
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.episodes.timeline import list_episodes
from mailbridge.errors import ConfigError
from mailbridge.intake import Intake, make_incoming
from mailbridge.reading.trust import aligned, assess
from mailbridge.runtime.worker import Worker
from mailbridge.settings.config import Settings, load_settings
from mailbridge.settings.sections import (
    ProcessingSettings,
    RoutingSettings,
    ServiceSettings,
    SmtpSettings,
    TrustSettings,
)
from mailbridge.store import directory
from mailbridge.store.models import Alert, InboundMessage

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
UPSTREAM = "mx.council.example"
SENT = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


def report(
    *,
    results: list[str] = (),  # type: ignore[assignment]
    sender: str = "oakview@homes.example",
    body: str = "Jordan Carter (100231) went out at 7pm and has not come back. High risk.",
    mid: str = "t1@homes.example",
    extra: str = "",
) -> bytes:
    """A report as our upstream hands it over: its headers on top, in the order given."""
    top = "".join(f"Authentication-Results: {r}\r\n" for r in results)
    return (
        f"{top}Received: from mail.homes.example by {UPSTREAM}; {format_datetime(SENT)}\r\n"
        f"From: Carer <{sender}>\r\nTo: missing@council.example\r\n{extra}"
        f"Subject: Missing: Jordan Carter (100231)\r\nMessage-ID: <{mid}>\r\n"
        f"Date: {format_datetime(SENT)}\r\n\r\n{body}\r\n"
    ).encode()


def check(raw: bytes, ids: tuple[str, ...] = (UPSTREAM,)):
    return assess(raw, authserv_ids=list(ids))


# -- which header counts ---------------------------------------------------------------------


def test_nothing_is_believed_until_an_upstream_is_configured() -> None:
    raw = report(results=[f"{UPSTREAM}; dmarc=pass header.from=homes.example"])
    verdict = check(raw, ids=())
    assert not verdict.verified
    assert "trust.authserv_ids" in verdict.reason


def test_the_trusted_upstream_dmarc_pass_verifies() -> None:
    verdict = check(
        report(results=[f"{UPSTREAM}; dmarc=pass (p=reject) header.from=homes.example"])
    )
    assert verdict.verified and verdict.method == "dmarc"
    assert UPSTREAM in verdict.reason


def test_a_header_from_anyone_else_is_ignored() -> None:
    forged = "mx.attacker.example; dmarc=pass header.from=homes.example; dkim=pass"
    verdict = check(report(results=[forged]))
    assert not verdict.verified
    assert verdict.reason == "no Authentication-Results header from a trusted mail server"


def test_a_forged_header_with_our_id_below_the_upstreams_own_is_never_read() -> None:
    upstream = f"{UPSTREAM}; spf=softfail smtp.mailfrom=attacker.example; dkim=none; dmarc=none"
    forged = f"{UPSTREAM}; dmarc=pass header.from=homes.example"
    verdict = check(report(results=[upstream, forged]))
    assert not verdict.verified
    assert "spf=softfail" in verdict.reason
    # An untrusted stamp above the upstream's is skipped; the upstream's still decides.
    above = "spam.filter.example; dmarc=pass header.from=homes.example"
    assert not check(report(results=[above, upstream, forged])).verified
    assert check(report(results=[above, forged, upstream])).verified  # topmost trusted counts


def test_an_unreadable_topmost_trusted_header_stops_the_search() -> None:
    broken = f"{UPSTREAM}; ; ;"
    lower = f"{UPSTREAM}; dmarc=pass header.from=homes.example"
    verdict = check(report(results=[broken, lower]))
    assert not verdict.verified and "unreadable" in verdict.reason


@pytest.mark.parametrize(
    ("result", "verified"),
    [
        ("dkim=pass header.d=homes.example header.s=s1", True),
        ("dkim=pass header.i=@homes.example", True),
        ("dkim=pass header.d=attacker.example", False),
        ("dkim=pass header.d=evil.homes.example", False),  # a child domain is not the From's
        ("dkim=fail header.d=homes.example", False),
        ("spf=pass smtp.mailfrom=bounces@homes.example", True),
        ("spf=pass smtp.mailfrom=bulk-mailer.example", False),
        ("dkim=pass header.d=homes.example; dmarc=fail header.from=homes.example", False),
        ("dmarc=pass header.from=other.example", False),
        ("none", False),
    ],
)
def test_what_verifies(result: str, verified: bool) -> None:
    assert check(report(results=[f"{UPSTREAM}; {result}"])).verified is verified


def test_the_reason_quoting_header_values_stays_short() -> None:
    long_domain = "x" * 3000 + ".example"
    verdict = check(report(results=[f"{UPSTREAM}; dkim=pass header.d={long_domain}"]))
    assert not verdict.verified and len(verdict.reason) <= 300


def test_more_than_one_from_address_verifies_nothing() -> None:
    raw = report(
        results=[f"{UPSTREAM}; dmarc=pass header.from=homes.example"],
        sender="oakview@homes.example>, <someone@attacker.example",
    )
    verdict = check(raw)
    assert not verdict.verified and "From" in verdict.reason


@pytest.mark.parametrize(
    ("domain", "from_domain", "ok"),
    [
        ("homes.example", "homes.example", True),
        ("homes.example", "mail.homes.example", True),
        ("HOMES.example.", "homes.example", True),
        ("mail.homes.example", "homes.example", False),
        ("xhomes.example", "homes.example", False),
        ("example", "homes.example", False),
        (None, "homes.example", False),
    ],
)
def test_alignment(domain: str | None, from_domain: str, ok: bool) -> None:
    assert aligned(domain, from_domain) is ok


def test_a_hostile_header_is_read_quickly() -> None:
    hostile = f"{UPSTREAM}; " + "dkim=pass (" * 2000 + "x"
    started = time.perf_counter()
    assert not check(report(results=[hostile])).verified
    assert time.perf_counter() - started < 2


# -- DKIM checked here ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> tuple[bytes, bytes]:
    """(private key PEM, the DNS TXT record publishing its public half)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dns_for(record: bytes, name: bytes = b"s1._domainkey.homes.example."):
    asked: list[bytes] = []

    def lookup(qname: bytes, timeout: int = 5) -> bytes | None:
        asked.append(qname)
        return record if qname == name else None

    return lookup, asked


def sign(raw: bytes, pem: bytes, domain: bytes = b"homes.example", **kw: object) -> bytes:
    headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    return dkim.sign(raw, b"s1", domain, pem, include_headers=headers, **kw) + raw  # type: ignore[no-any-return]


def test_a_valid_dkim_signature_verifies_when_checked_here(key) -> None:
    pem, record = key
    lookup, asked = dns_for(record)
    signed = sign(report(), pem)
    verdict = assess(signed, authserv_ids=[], dkim_verify=True, dnsfunc=lookup)
    assert verdict.verified and verdict.method == "dkim (checked here)"
    assert asked == [b"s1._domainkey.homes.example."]
    # Off by default: the same message is not verified without the setting.
    assert not assess(signed, authserv_ids=[], dnsfunc=lookup).verified


def test_tampered_unaligned_or_length_limited_signatures_do_not_verify(key) -> None:
    pem, record = key
    lookup, _ = dns_for(record)
    tampered = sign(report(), pem).replace(b"has not come back", b"has come back home")
    assert not assess(tampered, authserv_ids=[], dkim_verify=True, dnsfunc=lookup).verified
    other, _ = dns_for(record, b"s1._domainkey.attacker.example.")
    by_other = sign(report(), pem, domain=b"attacker.example")
    assert not assess(by_other, authserv_ids=[], dkim_verify=True, dnsfunc=other).verified
    limited = sign(report(), pem, length=True)  # l=: text appended later would not be signed
    assert not assess(limited, authserv_ids=[], dkim_verify=True, dnsfunc=lookup).verified


def test_many_signatures_cost_at_most_three_lookups(key) -> None:
    pem, record = key
    lookup, asked = dns_for(record, b"none.")
    signed = sign(report(), pem, domain=b"attacker.example")
    header, _, rest = signed.partition(b"From:")
    flood = header * 50 + b"From:" + rest
    assert not assess(flood, authserv_ids=[], dkim_verify=True, dnsfunc=lookup).verified
    assert 1 <= len(asked) <= 3


def test_settings_section_and_checks(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[trust]\nauthserv_ids = ["mx.council.example"]\ndkim_verify = true\n')
    s = load_settings(str(good), environ={})
    assert s.trust.authserv_ids == ["mx.council.example"] and s.trust.dkim_verify
    bad = tmp_path / "bad.toml"
    bad.write_text('[trust]\nauthserv_ids = ["mx council; x"]\ndkim_verify = "perhaps"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(str(bad), environ={})
    text = str(err.value)
    assert "trust.authserv_ids" in text and "trust.dkim_verify" in text


# -- through the pipeline: episode, JSON, alert, routing ---------------------------------------

CHECKS = "checks@council.example"


@pytest.fixture
def world(engine, tmp_path: Path):
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=SENT, actor="test")
    shipped = (ROOT / "config" / "routing.yaml").read_text(encoding="utf-8")
    copy_route = (
        "routes:\n  - name: unverified-copy\n"
        "    match: {event: [missing], sender_verified: false}\n"
        f"    notify: [{CHECKS}]\n    continue: true\n"
    )
    assert "\nroutes:\n" in shipped
    routing = tmp_path / "routing.yaml"
    routing.write_text(shipped.replace("\nroutes:\n", "\n" + copy_route, 1), encoding="utf-8")
    settings = Settings(
        service=ServiceSettings(data_dir=str(tmp_path)),
        smtp=SmtpSettings(addresses=["missing@council.example"]),
        trust=TrustSettings(authserv_ids=[UPSTREAM]),
        routing=RoutingSettings(file=str(routing)),
    )
    return engine, settings


def process(world, raw: bytes, **pipeline_kw) -> tuple[InboundMessage, dict[str, Any], list[Alert]]:
    engine, settings = world
    # received minutes after SENT: mail a day late is late mail (no receipt; issue 15)
    incoming = make_incoming(
        raw, source="smtp", mail_from=None, rcpt_tos=[], peer=None,
        clock=lambda: SENT + timedelta(minutes=2),
    )
    stored = Intake(engine).accept(incoming)
    Worker(engine, ReadingPipeline(settings, **pipeline_kw), ProcessingSettings()).run_once()
    with Session(engine) as s:
        row = s.get_one(InboundMessage, stored.id)
        alerts = list(s.scalars(select(Alert).where(Alert.inbound_id == stored.id)))
        (episode,) = list_episodes(s)
        s.expunge_all()
    return row, episode, alerts


def test_a_verified_report_is_stored_and_alerted_as_verified(world):
    raw = report(results=[f"{UPSTREAM}; dkim=pass header.d=homes.example; dmarc=pass"])
    row, episode, alerts = process(world, raw)
    assert row.status == "processed"
    assert episode["sender_verified"] is True
    assert episode["messages"][0]["sender_verified"] is True
    social = next(a for a in alerts if a.role == "social_worker")
    assert "SENDER NOT VERIFIED" not in social.body_text
    assert "Sender check:" in social.body_text and "verified: dkim=pass" in social.body_text
    assert CHECKS not in {a.recipient for a in alerts}


def test_a_forged_report_is_still_alerted_but_says_plainly_it_is_not_verified(world):
    forged = "mx.attacker.example; dmarc=pass header.from=homes.example"
    row, episode, alerts = process(world, report(results=[forged]))
    assert row.status == "processed"  # a child's safety first: the report is acted on
    assert episode["sender_known"] is True and episode["sender_verified"] is False
    by_role = {a.role: a for a in alerts}
    social = by_role["social_worker"]
    for body in (social.body_text, social.body_html):
        assert "SENDER NOT VERIFIED" in body
        assert "no Authentication-Results header from a trusted mail server" in body
    assert "NOT VERIFIED" not in social.subject
    # Routing treats it differently: the unverified-copy route adds the checks desk.
    copy = [a for a in alerts if a.recipient == CHECKS]
    assert len(copy) == 1 and copy[0].rule == "unverified-copy"
    assert {"social_worker", "reporter"} <= set(by_role)


def test_with_no_check_configured_alerts_carry_no_sender_check_warning(world):
    engine, settings = world
    unconfigured = (engine, dataclasses.replace(settings, trust=TrustSettings()))
    forged = "mx.attacker.example; dmarc=pass header.from=homes.example"
    row, episode, alerts = process(unconfigured, report(results=[forged]))
    assert row.status == "processed"
    assert episode["sender_verified"] is False  # the record stays honest: nothing verified it
    social = next(a for a in alerts if a.role == "social_worker")
    for body in (social.body_text, social.body_html):
        assert "SENDER NOT VERIFIED" not in body and "Sender check" not in body


def test_dkim_checked_here_verifies_through_the_pipeline(world, key):
    engine, settings = world
    pem, record = key
    lookup, asked = dns_for(record)
    dkim_world = (
        engine,
        dataclasses.replace(settings, trust=TrustSettings(dkim_verify=True)),
    )
    row, episode, _ = process(dkim_world, sign(report(mid="d1@homes.example"), pem), dnsfunc=lookup)
    assert row.status == "processed"
    assert episode["sender_verified"] is True
    assert asked
