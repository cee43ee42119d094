"""read_message: decoding, best text, quotes, forwards, attachments, and never raising."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.intake import Intake, make_incoming
from mailbridge.reading.headers import decode_header_value
from mailbridge.reading.message import (
    ReadLimits,
    ReadMessage,
    decode_bytes,
    html_to_text,
    read_message,
    split_quoted,
)
from mailbridge.runtime.worker import Worker
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import ProcessingSettings, ServiceSettings, SmtpSettings
from mailbridge.store.models import EpisodeMessage, InboundMessage

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def test_headers_are_decoded_and_normalised() -> None:
    raw = (
        b"From: =?iso-8859-1?Q?Ren=E9e_Martin?= <Renee.Martin@Example.ORG>\r\n"
        b'To: a@x.example, "B" <b@x.example>\r\n'
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
    [
        b"Subject",
        b"From",
        b"Date",
        b"Content-Type",
        b"Content-Transfer-Encoding",
        b"Message-ID",
        b"References",
        b"Content-Disposition",
        b"To",
    ]
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


# -- MIME limits and bombs ([reading]) -------------------------------------------------------


def zip_bomb(mebibytes: int = 1024) -> bytes:
    """A real zip whose one member inflates to ``mebibytes`` MiB of zeros (1 GiB in ~1 MB).

    After a full flush deflate forgets its history, so every MiB of zeros compresses to the same
    bytes: one segment repeated, then the final block. Built in about a second.
    """
    zeros = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    assert segment == c.compress(zeros) + c.flush(zlib.Z_FULL_FLUSH)
    data = segment * mebibytes + c.flush()
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    size, name = mebibytes << 20, b"zeros.bin"
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(data), size, len(name), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(data),
        size,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    end = struct.pack(
        "<IHHHHIIH",
        0x06054B50,
        0,
        0,
        1,
        1,
        len(central) + len(name),
        len(local) + len(name) + len(data),
        0,
    )
    return local + name + data + central + name + end


def nested_zip(inner: bytes, levels: int) -> bytes:
    for level in range(levels):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            zf.writestr(f"level{level}.zip", inner)
        inner = buf.getvalue()
    return inner


@pytest.fixture(scope="module")
def bomb() -> bytes:
    built = zip_bomb()
    member = zipfile.ZipFile(io.BytesIO(built)).infolist()[0]
    assert member.file_size == 1 << 30 and len(built) < 2 << 20  # a real 1 GiB bomb, ~1 MB
    return built


HEAD = (
    b"From: Carer <oakview@homes.example>\r\nTo: missing@council.example\r\n"
    b"Subject: Jordan Carter (100231) missing\r\nMessage-ID: <bomb@homes.example>\r\n"
    b"Date: Thu, 26 Nov 2026 21:30:00 +0000\r\nMIME-Version: 1.0\r\n"
)
REPORT_TEXT = b"Jordan Carter (100231) went out at 7pm and has not come back."


def with_attachments(*files: tuple[str, str, bytes], extra: bytes = b"") -> bytes:
    parts = [
        b"--B\r\nContent-Type: text/plain; charset=utf-8\r\n"
        + extra
        + b"\r\n"
        + REPORT_TEXT
        + b"\r\n"
    ]
    for name, ctype, data in files:
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        parts.append(
            f"--B\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'.encode()
            + encoded
        )
    return (
        HEAD
        + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        + b"".join(parts)
        + b"--B--\r\n"
    )


def deep(levels: int) -> bytes:
    opens = b"".join(
        b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--d%d\r\n' % (i, i)
        for i in range(levels)
    )
    closes = b"".join(b"\r\n--d%d--" % i for i in reversed(range(levels)))
    return HEAD + opens + b"Content-Type: text/plain\r\n\r\n" + REPORT_TEXT + closes + b"\r\n"


def many(count: int) -> bytes:
    part = b"--M\r\nContent-Type: text/plain\r\n\r\n" + REPORT_TEXT + b"\r\n"
    return (
        HEAD + b'Content-Type: multipart/mixed; boundary="M"\r\n\r\n' + part * count + b"--M--\r\n"
    )


def timed_read(raw: bytes, limits: ReadLimits | None = None) -> tuple[ReadMessage, float, int]:
    """read_message with its wall time, then (a second run, traced) its peak of memory.

    Without the limits the 1,000-deep and 100,000-part messages take minutes in the stdlib
    parser; with them about a second on an idle machine. The bounds leave room for a busy one.
    """
    started = time.perf_counter()
    msg = read_message(raw, limits)
    took = time.perf_counter() - started
    tracemalloc.start()
    try:
        read_message(raw, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return msg, took, peak


def test_a_zip_bomb_and_nested_zips_are_listed_never_expanded(bomb: bytes) -> None:
    raw = with_attachments(
        ("bomb.zip", "application/zip", bomb),
        ("nested.zip", "application/zip", nested_zip(bomb, 5)),
        ("photo.jpg.gz", "application/gzip", gzip.compress(bytes(1 << 20))),
    )
    msg, took, peak = timed_read(raw)
    assert took < 5, took
    assert peak < 64 << 20, peak  # the bomb alone would be 1 GiB
    assert [a.name for a in msg.attachments] == ["bomb.zip", "nested.zip", "photo.jpg.gz"]
    assert msg.attachments[0].size == len(bomb)  # the bytes as sent, not what they inflate to
    assert REPORT_TEXT.decode() in msg.text


def test_a_content_encoding_is_never_undone() -> None:
    squeezed = gzip.compress(b"Jordan is back home, safe and well." + bytes(1 << 20))
    raw = (
        HEAD
        + b"Content-Type: text/plain; charset=utf-8\r\nContent-Encoding: gzip\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(squeezed)
    )
    msg = read_message(raw)
    assert "back home" not in msg.text  # the gzip stays gzip: read as bytes, never inflated
    assert len(msg.text) <= len(squeezed)


def test_mime_nested_1000_deep_is_read_quickly_and_noted() -> None:
    msg, took, peak = timed_read(deep(1000))
    assert took < 3, took
    assert peak < 64 << 20
    assert msg.limits == [
        "1 MIME part(s) nested deeper than 20 were not read (reading.max_mime_depth)"
    ]
    shallow = read_message(deep(5))
    assert shallow.limits == [] and REPORT_TEXT.decode() in shallow.text


def test_a_message_of_100000_parts_reads_only_the_first_and_says_so() -> None:
    msg, took, peak = timed_read(many(100_000))
    assert took < 5, took
    assert peak < 128 << 20
    assert msg.limits == ["more than 500 MIME parts; the rest were not read (reading.max_parts)"]
    assert REPORT_TEXT.decode() in msg.text
    small = read_message(many(3), ReadLimits(max_parts=2))
    assert small.limits == ["more than 2 MIME parts; the rest were not read (reading.max_parts)"]
    assert small.text.count("Jordan") == 1  # the container and one part


def test_a_delivery_status_of_100000_blocks_counts_against_the_parts() -> None:
    block = b"Final-Recipient: rfc822; a@b.example\r\nAction: failed\r\n\r\n"
    raw = (
        b"From: MAILER-DAEMON@x.example\r\nSubject: Undeliverable\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nbounce\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\n" + block * 100_000 + b"\r\n--R--\r\n"
    )
    msg, took, _ = timed_read(raw)
    assert took < 5, took  # the parser alone takes over ten seconds on this
    assert msg.limits == ["more than 500 MIME parts; the rest were not read (reading.max_parts)"]
    assert msg.report_type == "delivery-status"  # still classified as a bounce


def test_lone_cr_line_ends_cannot_hide_nesting_from_the_limits() -> None:
    msg, took, _ = timed_read(deep(1000).replace(b"\r\n", b"\r"))
    assert took < 3 and msg.limits


def test_an_attachment_above_the_limit_is_listed_not_decoded() -> None:
    raw = with_attachments(("scan.pdf", "application/pdf", bytes(30_000)))
    msg = read_message(raw, ReadLimits(max_attachment_bytes=10_000))
    (pdf,) = msg.attachments
    assert pdf.name == "scan.pdf" and 29_000 < pdf.size < 31_000  # estimated from base64
    assert msg.limits and "reading.max_attachment_bytes" in msg.limits[0]
    assert read_message(raw).attachments[0].size == 30_000  # under the default: decoded


def test_nothing_in_mailbridge_unpacks_archives() -> None:
    """The bomb tests pass because nothing expands; keep it so: no decompressor is imported."""
    root = Path(__file__).resolve().parents[2] / "mailbridge"
    banned = re.compile(
        r"^\s*(?:import|from)\s+(?:zipfile|gzip|zlib|bz2|lzma|tarfile|zstandard|brotli|py7zr|"
        r"rarfile)\b|unpack_archive",
        re.MULTILINE,
    )
    # Writing an archive expands nothing: the subject-access export is a zip we make.
    writers_only = {root / "reports" / "subject_access.py"}
    offenders = [
        str(p)
        for p in root.rglob("*.py")
        if p not in writers_only and banned.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    for path in writers_only:
        text = path.read_text(encoding="utf-8")
        opened = re.findall(r"ZipFile\(\s*\w+\s*,\s*(['\"]\w['\"])", text)
        assert opened and set(opened) <= {'"w"', "'w'"}, f"{path} may only write archives"
        assert ".extract" not in text


def test_hostile_mail_through_the_pipeline_ends_terminal_with_raw_intact(engine, tmp_path, bomb):
    settings = Settings(
        service=ServiceSettings(data_dir=str(tmp_path)),
        smtp=SmtpSettings(addresses=["missing@council.example"]),
    )
    raws = [
        with_attachments(("bomb.zip", "application/zip", bomb)),
        deep(1000).replace(b"<bomb@", b"<deep@"),
        many(100_000).replace(b"<bomb@", b"<many@"),
    ]
    intake = Intake(engine)
    ids = [
        intake.accept(make_incoming(r, source="inject", mail_from=None, rcpt_tos=[], peer=None)).id
        for r in raws
    ]
    started = time.perf_counter()
    Worker(engine, ReadingPipeline(settings), ProcessingSettings()).run_once()
    assert time.perf_counter() - started < 15
    with Session(engine) as s:
        rows = [s.get_one(InboundMessage, i) for i in ids]
        for row, raw in zip(rows, raws, strict=True):
            assert row.status in ("processed", "ignored"), (row.status, row.error)
            assert row.raw == raw and row.sha256 == hashlib.sha256(raw).hexdigest()
        assert rows[0].status == "processed"  # the report beside the bomb is acted on
        assert "[not read:" in (rows[1].reason or "") and "max_mime_depth" in (rows[1].reason or "")
        assert "[not read:" in (rows[2].reason or "") and "max_parts" in (rows[2].reason or "")
        summaries = {
            link.inbound_id: link.summary or {} for link in s.scalars(select(EpisodeMessage))
        }
    if ids[2] in summaries:
        assert summaries[ids[2]]["not_read"] == [
            "more than 500 MIME parts; the rest were not read (reading.max_parts)"
        ]
