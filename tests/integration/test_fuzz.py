"""Hypothesis builds hostile MIME and feeds it to intake, the worker and the readers.

The trees nest multipart/mixed, alternative, related and message/rfc822 at random, with real
and bogus charsets, broken base64 and quoted-printable, and header garbage (long lines, 8-bit
bytes, encoded-words in unknown charsets, NULs, missing and repeated headers). Whatever comes
in: nothing raises, the stored bytes are the bytes received, and the message ends terminal
(DESIGN invariants 1 and 2).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailbridge.episodes.prepare import read
from mailbridge.intake import Intake, make_incoming
from mailbridge.reading.message import read_message
from mailbridge.runtime.serve import make_workers
from mailbridge.store.models import InboundMessage
from tests.support.env import SettingsFactory
from tests.support.relay import import_fixture_directory

TERMINAL_AFTER_ONE_PASS = ("processed", "ignored")
LONDON = ZoneInfo("Europe/London")
RECEIVED = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)

CHARSETS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "koi8-r",
    "shift_jis",
    "gb2312",
    "utf-16",
    "utf-7",
    "x-unknown",
    "unicode-1-1-utf-7",
    "",
    '"utf-8',
    "utf-8\x00",
    "ébrouillé",
]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
WORDS = [
    "missing",
    "Jordan",
    "Carter",
    "100231",
    "not come home",
    "returned",
    "last seen",
    "21:00",
    "MB-2026-00001",
    "police ref CAD 1234 26/11/26",
    "Out of office",
    "Chloé",
    "Ünïcödé",
    "безопасно",
    "\u202e",
    "=?",
    "?=",
    "--",
    ">",
    "\t",
]


def text_bytes() -> st.SearchStrategy[bytes]:
    """Words carers and machines write, stray bytes, and the odd very long line."""
    word = st.sampled_from(WORDS).map(lambda w: w.encode("utf-8"))
    noise = st.binary(max_size=40)
    piece = st.one_of(word, word, noise, st.just(b"\r\n"), st.just(b"\n"), st.just(b" "))
    long_line = st.integers(1000, 5000).map(lambda n: b"x" * n)
    return st.one_of(st.lists(piece, max_size=12).map(b"".join), long_line)


def header_value() -> st.SearchStrategy[bytes]:
    charset = st.sampled_from(CHARSETS).map(lambda c: c.encode("utf-8", "surrogateescape"))
    encoded_word = st.builds(
        lambda cs, kind, body: b"=?" + cs + b"?" + kind + b"?" + body + b"?=",
        charset,
        st.sampled_from([b"B", b"Q", b"b", b"X", b""]),
        st.one_of(st.binary(max_size=30), st.just(b"SGVsbG8"), st.just(b"=E9t=C3=A9")),
    )
    plain = st.text(max_size=16).map(lambda t: t.encode("utf-8", "surrogatepass"))
    piece = st.one_of(
        plain,
        encoded_word,
        st.binary(max_size=20),
        st.just(b"\x00"),
        st.just(b"\r\n "),
        st.just(b"\r\n"),
        st.integers(990, 3000).map(lambda n: b"y" * n),
    )
    return st.lists(piece, max_size=4).map(b" ".join)


HEADER_VALUE = header_value()

HEADER_NAMES = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Reply-To",
    "Auto-Submitted",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "MIME-Version",
    "X-Failed-Recipients",
    "List-Id",
    "Received",
]


def headers() -> st.SearchStrategy[list[tuple[bytes, bytes]]]:
    name = st.one_of(
        st.sampled_from(HEADER_NAMES).map(str.encode),
        st.binary(min_size=1, max_size=12).map(lambda b: b.replace(b":", b"").replace(b"\n", b"")),
    )
    return st.lists(st.tuples(name, HEADER_VALUE), max_size=4)


HEADERS = headers()
TEXT = text_bytes()


def body_for(encoding: str, data: bytes, broken: bool) -> bytes:
    if encoding == "base64":
        good = base64.encodebytes(data)
        return good[: max(len(good) - 3, 0)] + b"!*=" if broken else good
    if encoding == "quoted-printable":
        return data.replace(b"=", b"=3D") + (b"=ZZ=\r\n=" if broken else b"")
    return data


@st.composite
def leaf(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    ctype = draw(
        st.sampled_from(
            ["text/plain", "text/html", "application/octet-stream", "image/png", "text/x-bogus"]
        )
    )
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = draw(TEXT)
    if ctype == "text/html":
        data = b"<html><body><table><tr><td>Name:</td><td>" + data + b"</td></tr></body>"
    head = [
        f"Content-Type: {ctype}; charset={charset}".encode("utf-8", "surrogateescape"),
        f"Content-Transfer-Encoding: {encoding}".encode(),
    ]
    if draw(st.booleans()):
        head.append(b'Content-Disposition: attachment; filename="=?bogus?Q?r=E9port?=.doc"')
    return head, body_for(encoding, data, draw(st.booleans()))


def multipart(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
        sub = draw(st.sampled_from(["mixed", "alternative", "related", "report", "bogus"]))
        parts = draw(st.lists(children, max_size=3))
        boundary = draw(st.sampled_from(["b1", "==_x", "", "a b", "--", "b1"])).encode()
        declared = draw(st.sampled_from([boundary, b"other", None]))
        head = [
            b"Content-Type: multipart/"
            + sub.encode()
            + (b'; boundary="' + declared + b'"' if declared is not None else b"")
        ]
        body = b"preamble\r\n"
        for part_head, part_body in parts:
            body += b"--" + boundary + b"\r\n" + b"\r\n".join(part_head) + b"\r\n\r\n"
            body += part_body + b"\r\n"
        if draw(st.booleans()):
            body += b"--" + boundary + b"--\r\n"  # sometimes the closing boundary is missing
        return head, body

    @st.composite
    def rfc822(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
        inner_head, inner_body = draw(children)
        extra = draw(HEADERS)
        lines = [n + b": " + v for n, v in extra] + inner_head
        return [b"Content-Type: message/rfc822"], b"\r\n".join(lines) + b"\r\n\r\n" + inner_body

    return st.one_of(build(), rfc822())


TREES = st.recursive(leaf(), multipart, max_leaves=4)


@st.composite
def raw_messages(draw: st.DrawFn) -> bytes:
    """A whole message: top headers (maybe missing, repeated or garbage), then a MIME tree."""
    tree_head, tree_body = draw(TREES)
    top = [
        b"From: " + draw(st.sampled_from([b"Carer <carer@homes.example>", b"", b"\xff@\xfe"])),
        b"Subject: " + draw(HEADER_VALUE),
        b"Message-ID: <" + draw(st.binary(max_size=12)).hex().encode() + b"@fuzz>",
        b"Date: " + draw(st.sampled_from([b"Thu, 26 Nov 2026 21:30:00 +0000", b"yesterday", b""])),
        b"MIME-Version: 1.0",
    ]
    top = draw(st.lists(st.sampled_from(top), max_size=7))  # missing, repeated, reordered
    extra = [n + b": " + v for n, v in draw(HEADERS)]
    head = top + extra + tree_head
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    raw = newline.join(head) + newline + newline + tree_body.replace(b"\r\n", newline)
    return raw if draw(st.booleans()) else raw[: draw(st.integers(0, len(raw)))]


# -- the readers on their own -------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(raw_messages(), st.binary(max_size=2000)))
def test_read_message_never_raises(raw: bytes) -> None:
    msg = read_message(raw)
    assert isinstance(msg.text, str)
    assert len(msg.text) <= 100_000


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=raw_messages())
def test_every_pure_stage_never_raises(raw: bytes) -> None:
    reading = read(raw, tz=LONDON, received_at=RECEIVED)
    assert reading.kind in {
        "missing",
        "returned",
        "info",
        "auto_reply",
        "bounce",
        "list",
        "not_a_report",
    }


# -- through intake and the worker --------------------------------------------------------


def test_hostile_mime_is_stored_exactly_and_ends_terminal(
    engine: Engine, make_settings: SettingsFactory
) -> None:
    """SQLite gets the full run; PostgreSQL a shorter one (same code path, slower commits)."""
    import_fixture_directory(engine)
    worker, _sender = make_workers(engine, make_settings())
    intake = Intake(engine)
    examples = 150 if engine.dialect.name == "sqlite" else 30

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(raw=raw_messages())
    def check(raw: bytes) -> None:
        stored = intake.accept(
            make_incoming(raw, source="inject", mail_from=None, rcpt_tos=[], peer="fuzz")
        )
        worker.run_once()
        with Session(engine) as s:
            row = s.scalars(select(InboundMessage).where(InboundMessage.id == stored.id)).one()
            assert row.raw == raw, "stored bytes differ from the bytes received"
            assert row.status in TERMINAL_AFTER_ONE_PASS, (row.status, row.error)
            assert row.error is None, row.error

    check()
