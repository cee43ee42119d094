"""acks: signed Reply-To tokens, the acknowledgement decision, and routing interview replies."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.delivery.reply_tokens import (
    ROLE_TAGS,
    Forged,
    Token,
    find_token,
    make_reply_address,
    parse_reply_address,
)
from mailbridge.reading.acks import (
    AckDecision,
    is_acknowledgement_reply,
    looks_like_interview_outcome,
)
from mailbridge.reading.message import Attachment, ReadMessage, read_message

SECRET = b"correct horse battery staple"
BASE = "missing@council.example"
BASES = [BASE, "rhi@council.example"]
ROLES = [*ROLE_TAGS, "provider"]


def addr(alert_id: int = 42, ref: str = "MB-2026-00042", role: str = "iro", **kw: object) -> str:
    base = str(kw.get("base", BASE))
    secret = kw.get("secret", SECRET)
    assert isinstance(secret, bytes)
    return make_reply_address(base, alert_id=alert_id, episode_ref=ref, role=role, secret=secret)


def parse(address: str, secret: bytes | list[bytes] = SECRET) -> Token | Forged | None:
    return parse_reply_address(address, bases=BASES, secret=secret)


# ---------------------------------------------------------------------------------------------
# tokens


def test_shape_of_the_address() -> None:
    address = addr()
    assert re.fullmatch(r"missing\+a42\.mb-2026-00042\.iro\.[a-z2-7]{16}@council\.example", address)
    assert address == address.lower()


@pytest.mark.parametrize("role", ROLES)
def test_round_trip_every_role(role: str) -> None:
    assert parse(addr(7, "MB-2026-00007", role)) == Token(7, "MB-2026-00007", role)


def test_round_trip_on_a_second_base_and_in_a_display_form() -> None:
    address = addr(base="rhi@council.example")
    assert parse(f'"Missing RHI" <{address}>') == Token(42, "MB-2026-00042", "iro")


def test_case_insensitive_both_ways() -> None:
    address = addr(9, "MB-2026-00009", "social_worker")
    assert parse(address.upper()) == Token(9, "MB-2026-00009", "social_worker")
    assert parse(address.lower()) == Token(9, "MB-2026-00009", "social_worker")
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(address))
    assert parse(mixed) == Token(9, "MB-2026-00009", "social_worker")
    # a base configured in capitals still matches
    found = parse_reply_address(address, bases=["Missing@Council.Example"], secret=SECRET)
    assert found == Token(9, "MB-2026-00009", "social_worker")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("+a42.", "+a43."),  # alert id
        ("+a42.", "+a042."),  # same number, different text
        (".mb-2026-00042.", ".mb-2026-00043."),  # episode
        (".mb-2026-00042.", ".mb-2025-00042."),
        (".iro.", ".tm."),  # role
        (".iro.", ".duty."),
    ],
)
def test_tampering_with_any_part_is_forged(old: str, new: str) -> None:
    address = addr()
    assert old in address
    found = parse(address.replace(old, new))
    assert isinstance(found, Forged)
    assert found.reason in {"bad signature", "malformed tag"}


def test_tampering_with_the_signature_is_forged() -> None:
    local, domain = addr().split("@")
    body, sig = local.rsplit(".", 1)
    flipped = ("b" if sig[0] == "a" else "a") + sig[1:]
    assert isinstance(parse(f"{body}.{flipped}@{domain}"), Forged)
    for cut in (sig[:-1], sig[:12], sig[:11], sig + "a"):  # a truncated prefix is not enough
        short = parse(f"{body}.{cut}@{domain}")
        assert isinstance(short, Forged)
        assert "length" in short.reason
    assert isinstance(parse(f"{body}.{sig}{sig}@{domain}"), Forged)
    missing = parse(f"{body}@{domain}")
    assert isinstance(missing, Forged)
    assert missing.address == f"{body}@{domain}"


def test_wrong_secret_is_forged_and_rotation_keeps_old_tokens() -> None:
    address = addr()
    assert isinstance(parse(address, secret=b"another secret"), Forged)
    assert parse(address, secret=[b"new secret", SECRET]) == Token(42, "MB-2026-00042", "iro")
    no_secret = parse(address, secret=b"")
    assert isinstance(no_secret, Forged)
    assert "secret" in no_secret.reason


@pytest.mark.parametrize(
    "address",
    [
        "missing@council.example",  # the base itself
        "missing+news@council.example",  # someone else's sub-address
        "missing+tag.with.dots@council.example",
        "someone@council.example",
        "missing+a42.mb-2026-00042.iro.aaaaaaaaaaaaaaaa@elsewhere.example",  # other domain
        "missingx+a42.mb-2026-00042.iro.aaaaaaaaaaaaaaaa@council.example",  # other local part
        "not an address",
        "",
        "@council.example",
    ],
)
def test_untagged_or_foreign_addresses_are_none(address: str) -> None:
    assert parse(address) is None


def test_malformed_tag_of_our_shape_is_forged() -> None:
    found = parse("missing+a42.MB 2026.iro.x@council.example")
    assert isinstance(found, Forged)


@pytest.mark.parametrize("role", ROLES)
def test_local_part_fits_in_64_for_long_references(role: str) -> None:
    for base in (BASE, "missing-children@council.example", "rhi@x.example"):
        address = addr(99_999_999, "MB-2026-1234567", role, base=base)
        local = address.split("@")[0]
        assert len(local) <= 64, address
        assert parse_reply_address(address, bases=[base], secret=SECRET) == Token(
            99_999_999, "MB-2026-1234567", role
        )


def test_a_long_local_part_gets_a_shorter_signature_and_only_that_one() -> None:
    base = "missing-children@x.example"
    address = addr(99_999_999, "MB-2026-1234567", "provider", base=base)
    local = address.split("@")[0]
    assert len(local) == 64
    sig = local.rsplit(".", 1)[1]
    assert 12 <= len(sig) < 16
    assert parse_reply_address(address, bases=[base], secret=SECRET) == Token(
        99_999_999, "MB-2026-1234567", "provider"
    )
    longer = address.replace(f".{sig}@", f".{sig}a@")
    assert isinstance(parse_reply_address(longer, bases=[base], secret=SECRET), Forged)


def test_a_base_too_long_for_any_signature_is_refused() -> None:
    with pytest.raises(ValueError, match="64"):
        addr(base=("x" * 40) + "@council.example")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alert_id": -1},
        {"alert_id": True},
        {"episode_ref": "MB 2026"},
        {"episode_ref": "MB.2026"},
        {"episode_ref": ""},
        {"role": "Team Manager"},
        {"role": "provider_rhi"},  # over 8 characters
        {"role": "sw"},  # would read back as social_worker
        {"secret": b""},
    ],
)
def test_make_refuses_what_it_cannot_sign(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "alert_id": 1,
        "episode_ref": "MB-2026-00001",
        "role": "iro",
        "secret": SECRET,
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        make_reply_address(BASE, **args)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    found = parse(text)
    assert found is None or isinstance(found, Forged | Token)
    found = parse(f"missing+{text}@council.example")
    assert found is None or isinstance(found, Forged)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**8 - 1),
    st.from_regex(r"MB-20[0-9]{2}-[0-9]{5,7}", fullmatch=True),
    st.sampled_from(ROLES),
    st.binary(min_size=1, max_size=64),
)
def test_round_trip_property(alert_id: int, ref: str, role: str, secret: bytes) -> None:
    address = make_reply_address(BASE, alert_id=alert_id, episode_ref=ref, role=role, secret=secret)
    assert len(address.split("@")[0]) <= 64
    assert parse(address.upper(), secret=secret) == Token(alert_id, ref, role)


# ---------------------------------------------------------------------------------------------
# finding the token in a message


def test_find_token_prefers_envelope_then_headers() -> None:
    good = addr(5, "MB-2026-00005", "duty")
    msg = ReadMessage(to=["missing@council.example"], headers={"delivered-to": good})
    assert find_token(msg, bases=BASES, secret=SECRET) == Token(5, "MB-2026-00005", "duty")
    msg = ReadMessage(to=["boss@council.example", good])  # To and Cc are both in msg.to
    assert find_token(msg, bases=BASES, secret=SECRET) == Token(5, "MB-2026-00005", "duty")
    bcc = ReadMessage(to=["someone@council.example"])
    found = find_token(bcc, bases=BASES, secret=SECRET, candidates=[good])
    assert found == Token(5, "MB-2026-00005", "duty")


def test_find_token_token_beats_forged_and_forged_beats_nothing() -> None:
    good = addr(5, "MB-2026-00005", "duty")
    forged = good.replace("+a5.", "+a6.")
    msg = ReadMessage(to=[forged, good])
    assert find_token(msg, bases=BASES, secret=SECRET) == Token(5, "MB-2026-00005", "duty")
    only_forged = find_token(ReadMessage(to=[forged]), bases=BASES, secret=SECRET)
    assert isinstance(only_forged, Forged)
    assert find_token(ReadMessage(to=[BASE]), bases=BASES, secret=SECRET) is None
    assert find_token(ReadMessage(), bases=BASES, secret=SECRET) is None


def test_find_token_from_real_bytes() -> None:
    good = addr(12, "MB-2026-00012", "team_manager")
    raw = (
        f"Delivered-To: {good}\r\nFrom: Sam <sam@council.example>\r\n"
        f"To: Missing children <{good.upper()}>\r\nSubject: Re: MB-2026-00012 J.B.\r\n"
        "Message-ID: <r1@council.example>\r\nIn-Reply-To: <alert-12@council.example>\r\n\r\n"
        "on it\r\n"
    ).encode()
    msg = read_message(raw)
    assert find_token(msg, bases=BASES, secret=SECRET) == Token(12, "MB-2026-00012", "team_manager")
    assert is_acknowledgement_reply(msg).kind == "ack"


# ---------------------------------------------------------------------------------------------
# is this reply an acknowledgement?


def reply(text: str = "", subject: str = "Re: MB-2026-00042 J.B.", **kw: Any) -> AckDecision:
    msg = ReadMessage(subject=subject, text=text, from_addr="sam@council.example", **kw)
    return is_acknowledgement_reply(msg)


@pytest.mark.parametrize(
    "text",
    ["ACK", "ack", "ok", "On it", "thanks", "Received, calling the carer now.", "", "  \n "],
)
def test_any_human_reply_is_an_ack(text: str) -> None:
    decision = reply(text)
    assert decision.kind == "ack"
    assert decision.counts


def test_empty_body_with_bare_re_subject_is_an_ack() -> None:
    assert reply("", subject="Re:").kind == "ack"
    assert reply("", subject="", in_reply_to="alert-1@council.example").kind == "ack"
    assert reply("", subject="", quoted_text="> J.B. is missing").kind == "ack"
    with_file = reply("", subject="", attachments=[Attachment("a.pdf", "application/pdf", 10)])
    assert with_file.kind == "ack"


def test_nothing_at_all_is_empty_and_does_not_count() -> None:
    decision = reply("", subject="  ")
    assert decision.kind == "empty"
    assert not decision.counts


@pytest.mark.parametrize(
    ("headers", "subject", "text"),
    [
        ({"auto-submitted": "auto-replied"}, "Re: alert", "ACK"),
        ({"auto-submitted": "auto-generated"}, "Re: alert", ""),
        ({"auto-submitted": "auto-notified"}, "Re: alert", "on it"),
        ({"x-auto-response-suppress": "All"}, "Re: alert", "I am away"),
        ({"precedence": "bulk"}, "Re: alert", "thanks"),
        ({"precedence": "junk"}, "Re: alert", "thanks"),
        ({"precedence": "auto_reply"}, "Re: alert", "thanks"),
        ({"precedence": "list"}, "Re: alert", "ok"),
        ({"list-id": "<staff.council.example>"}, "Re: alert", "ok"),
        ({"x-autoreply": "yes"}, "Re: alert", "ok"),
        ({"x-autorespond": "yes"}, "Re: alert", "ok"),
        ({"x-autogenerated": "Reply"}, "Re: alert", "ok"),
        ({"x-fc-machinegenerated": "true"}, "Re: alert", "ok"),
        ({"return-path": "<>"}, "Re: alert", "ok"),
        ({}, "Automatic reply: MB-2026-00042 J.B. missing", "ok"),
        ({}, "Auto: MB-2026-00042", "ok"),
        ({}, "Out of Office: MB-2026-00042", "ok"),
        ({}, "Re: MB-2026-00042 (Out of the office)", "ok"),
        ({}, "Autoreply: MB-2026-00042", "ok"),
        ({}, "Réponse automatique : MB-2026-00042", "ok"),
        ({}, "Read: MB-2026-00042", ""),
        ({}, "Undeliverable: MB-2026-00042", ""),
        ({}, "Re: MB-2026-00042", "I am currently out of the office until Monday 3 March."),
        ({}, "Re: MB-2026-00042", "Thank you for your email. I'm on annual leave until 4/3."),
        ({}, "Re: MB-2026-00042", "This is an automated response. Your message was received."),
    ],
)
def test_auto_replies_never_ack(headers: dict[str, str], subject: str, text: str) -> None:
    decision = reply(text, subject=subject, headers=headers)
    assert decision.kind == "auto_reply", decision
    assert not decision.counts


def test_bounce_and_read_receipt_never_ack() -> None:
    dsn = reply("", content_type="multipart/report", report_type="delivery-status")
    assert dsn.kind == "auto_reply"
    mdn = reply("", content_type="multipart/report", report_type="disposition-notification")
    assert mdn.kind == "auto_reply"
    daemon = is_acknowledgement_reply(
        ReadMessage(subject="Re: alert", text="ok", from_addr="mailer-daemon@council.example")
    )
    assert daemon.kind == "auto_reply"


def test_auto_submitted_no_is_a_person() -> None:
    assert reply("on it", headers={"auto-submitted": "no"}).kind == "ack"


def test_a_person_mentioning_leave_later_in_the_text_still_acks() -> None:
    text = "On it, calling the carer now.\n\n" + "x " * 400 + "I am on leave until Friday."
    assert reply(text).kind == "ack"


def test_out_of_office_from_real_bytes() -> None:
    raw = (
        b"From: Sam <sam@council.example>\r\nTo: missing+x@council.example\r\n"
        b"Subject: Automatic reply: MB-2026-00042 J.B.\r\nAuto-Submitted: auto-replied\r\n"
        b"X-Auto-Response-Suppress: All\r\n\r\nI am out of the office until Monday.\r\n"
    )
    assert is_acknowledgement_reply(read_message(raw)).kind == "auto_reply"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=100))
def test_ack_decision_never_raises(text: str, subject: str) -> None:
    decision = is_acknowledgement_reply(ReadMessage(subject=subject, text=text))
    assert decision.kind in {"ack", "auto_reply", "empty"}


# ---------------------------------------------------------------------------------------------
# a reply to a reminder that carries the interview form


def test_interview_outcome_is_recognised() -> None:
    assert looks_like_interview_outcome("Reference: MB-2026-00042\nResult: completed\n")
    assert looks_like_interview_outcome("Outcome: declined")
    assert looks_like_interview_outcome("Risks identified: none\nActions agreed: none\n")
    assert looks_like_interview_outcome("> Result (offered / accepted): held 14/3")


def test_not_an_interview_outcome() -> None:
    assert not looks_like_interview_outcome("ACK, on it")
    assert not looks_like_interview_outcome("Result:\nDate:\nRisks identified:\n")  # blank form
    assert not looks_like_interview_outcome("Risks identified: older males")  # one part only
    with open("templates/carer-report-form.txt", encoding="utf-8") as fh:
        carer = fh.read()
    filled = carer.replace("Risk notes:", "Risk notes: county lines").replace(
        "Notes:", "Notes: came home by taxi"
    )
    assert not looks_like_interview_outcome(filled)
    with open("templates/return-interview-form.txt", encoding="utf-8") as fh:
        assert not looks_like_interview_outcome(fh.read())  # the blank template


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_looks_like_never_raises(text: str) -> None:
    assert looks_like_interview_outcome(text) in {True, False}
