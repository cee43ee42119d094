"""read_message: decoding, best text, quotes, forwards, attachments, and never raising."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbridge.reading.message import (
    decode_bytes,
    decode_header_value,
    html_to_text,
    read_message,
    split_quoted,
)

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def test_headers_are_decoded_and_normalised() -> None:
    raw = (
        b"From: =?iso-8859-1?Q?Ren=E9e_Martin?= <Renee.Martin@Example.ORG>\r\n"
        b"To: a@x.example, \"B\" <b@x.example>\r\n"
        b"Subject: =?UTF-8?B?Q2hsb8OpIG1pc3Npbmc=?=\r\n"
        b"Date: Tue, 14 Jul 2026 08:30:00 +0100\r\n"
        b"Message-ID: <abc@x.example>\r\n"
        b"In-Reply-To: <prev@x.example>\r\n"
        b"References: <one@x.example>\r\n <prev@x.example>\r\n"
        b"\r\nhello\r\n"
    )
    msg = read_message(raw)
    assert msg.from_addr == "renee.martin@example.org"
    assert msg.from_name == "Renée Martin"
    assert msg.subject == "Chloé missing"
    assert msg.to == ["a@x.example", "b@x.example"]
    assert msg.date == datetime(2026, 7, 14, 7, 30, tzinfo=UTC)
    assert msg.message_id == "abc@x.example"
    assert msg.in_reply_to == "prev@x.example"
    assert msg.references == ["one@x.example", "prev@x.example"]
    assert msg.text == "hello"


def test_missing_and_bad_date_are_none() -> None:
    assert read_message(b"Subject: x\r\n\r\nbody").date is None
    msg = read_message(b"Date: the day after tomorrow\r\n\r\nbody")
    assert msg.date is None
    assert "unparseable Date header" in msg.defects


def test_eight_bit_header_falls_back_to_cp1252() -> None:
    msg = read_message(b"Subject: Zo\xeb is back\r\nFrom: Zo\xc3\xab <z@x.example>\r\n\r\nhi")
    assert msg.subject == "Zoë is back"
    assert msg.from_name == "Zoë"


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("Chloé".encode("cp1252"), "iso-8859-1", "Chloé"),
        ("it’s".encode("cp1252"), "iso-8859-1", "it’s"),  # cp1252 labelled latin-1
        ("Chloé".encode(), "iso-8859-1", "Chloé"),  # UTF-8 mislabelled: mojibake overruled
        ("Chloé".encode("cp1252"), "utf-8", "Chloé"),  # bytes are not UTF-8
        ("Chloé".encode("cp1252"), "x-no-such-charset", "Chloé"),
        ("Chloé".encode(), None, "Chloé"),
        (b"\x81\x8d", "utf-8", "\ufffd\ufffd"),
    ],
)
def test_decode_bytes(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


def test_html_table_rows_become_label_value_lines() -> None:
    html = (
        "<p>Hello</p><table><tr><td><b>Name</b></td><td>Jo Bloggs</td></tr>"
        "<tr><td>DOB:</td><td>01/02/2011</td></tr><tr><td>a</td><td>b</td><td>c</td></tr>"
        "</table><script>x()</script><p>Bye&nbsp;now</p>"
    )
    text = html_to_text(html)
    assert "Name: Jo Bloggs" in text
    assert "DOB: 01/02/2011" in text
    assert "a | b | c" in text
    assert "x()" not in text


def test_html_blockquote_is_quoted() -> None:
    raw = (
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<div>He is back.</div><blockquote>He is missing</blockquote>"
    )
    msg = read_message(raw)
    assert msg.text == "He is back."
    assert "He is missing" in msg.quoted_text
    assert msg.text_from_html


@pytest.mark.parametrize(
    "quote",
    [
        "On Thu, 26 Nov 2026 at 23:05, Sue <s@x.example> wrote:\n> missing",
        "On Thu, 26 Nov 2026 at 23:05, Sue Carter\n<s@x.example> wrote:\nmissing",
        "-----Original Message-----\nFrom: Sue\nmissing",
        "From: Sue Carter <s@x.example>\nSent: 26 November 2026 23:05\nTo: m@x.example\n"
        "Subject: missing\n\nmissing",
        "________________________________\nFrom: Sue\nSent: today\nSubject: x\nmissing",
        "-- \nSue Carter\nmissing children's champion",
        "Sent from my iPhone\n\nmissing",
        "> missing",
    ],
)
def test_split_quoted_removes_old_text(quote: str) -> None:
    new, quoted = split_quoted(f"He came back at 2am.\n\n{quote}")
    assert new == "He came back at 2am."
    assert "missing" in quoted


def test_inline_forward_body_is_the_report() -> None:
    raw = (
        b"Subject: Fwd: Tyler\r\n\r\nSee below.\r\n\r\n"
        b"---------- Forwarded message ---------\r\nFrom: Mark <m@x.example>\r\n"
        b"Date: today\r\nSubject: Tyler\r\n\r\nTyler is missing.\r\n"
        b"\r\nOn Mon, Bob <b@x.example> wrote:\r\n> older news\r\n"
    )
    msg = read_message(raw)
    assert msg.forwarded
    assert msg.forwarded_from == "Mark <m@x.example>"
    assert msg.text.startswith("Tyler is missing.")
    assert "See below." in msg.text
    assert "older news" not in msg.text


def test_forward_marker_inside_a_quote_is_not_a_forward() -> None:
    raw = (
        b"Subject: Re: x\r\n\r\nShe is back.\r\n\r\nOn Mon, Bob <b@x.example> wrote:\r\n"
        b"---------- Forwarded message ---------\r\nFrom: A\r\n\r\nShe is missing.\r\n"
    )
    msg = read_message(raw)
    assert not msg.forwarded
    assert msg.text == "She is back."


def test_attachments_are_listed_not_inlined() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
        b'Content-Type: application/pdf; name="r.pdf"\r\nContent-Transfer-Encoding: base64\r\n'
        b'Content-Disposition: attachment; filename="r.pdf"\r\n\r\nJVBERi0xLjQK\r\n'
        b"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=n.txt\r\n"
        b"\r\nsecret notes\r\n--b--\r\n"
    )
    msg = read_message(raw)
    assert msg.text == "see attached"
    assert [(a.name, a.content_type, a.size) for a in msg.attachments] == [
        ("r.pdf", "application/pdf", 9),
        ("n.txt", "text/plain", 12),
    ]


def test_auto_submitted_and_return_path_facts() -> None:
    msg = read_message(b"Auto-Submitted: Auto-Replied\r\nReturn-Path: <>\r\n\r\nx")
    assert msg.auto_submitted == "auto-replied"
    assert msg.return_path == ""


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary",
        b'Content-Type: multipart/mixed; boundary="a"\r\n\r\n--a\r\n' * 50,
        b"Content-Type: message/rfc822\r\n\r\n" * 40 + b"hi",
        b"Subject: =?utf-8?q?broken=ZZ?=\r\nFrom: <<<@@@>>>\r\n\r\n",
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!!====",
    ],
)
def test_hostile_inputs_do_not_raise(raw: bytes) -> None:
    read_message(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_read_message_never_raises_on_bytes(raw: bytes) -> None:
    read_message(raw)


_HEADERS = st.sampled_from(
    [b"Subject", b"From", b"Date", b"Content-Type", b"Content-Transfer-Encoding", b"Message-ID",
     b"References", b"Content-Disposition", b"To"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_HEADERS, st.binary(max_size=80)), max_size=8), st.binary(max_size=500))
def test_read_message_never_raises_on_mail_shaped_bytes(
    headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    raw = b"".join(k + b": " + v.replace(b"\n", b" ") + b"\r\n" for k, v in headers)
    read_message(raw + b"\r\n" + body)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400), st.one_of(st.none(), st.text(max_size=20)))
def test_header_and_charset_decoding_never_raise(value: str, charset: str | None) -> None:
    decode_header_value(value)
    decode_bytes(value.encode("utf-8", "surrogatepass"), charset)
    html_to_text(value)


def test_decode_header_value_handles_surrogates() -> None:
    assert decode_header_value("caf\udce9") == "café"
    assert decode_header_value("=?x-unknown?q?caf=E9?=") == "café"


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"shared corpus not found at {CORPUS}")
def test_corpus_reads_quickly() -> None:
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".md"):
        started = time.perf_counter()
        read_message(path.read_bytes())
        assert time.perf_counter() - started < 5, path
