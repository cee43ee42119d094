"""Loop protection: our own alerts and receipts coming back are ignored, never re-alerted.

The pure rules first, then the real round trip: a report is processed, its alerts and receipt are
written as .eml files by the real sender, and those very bytes (or a person's forward or reply
of them) come back in through the intake, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbridge.delivery.sender import Sender
from mailbridge.directory import csv_file
from mailbridge.episodes.prepare import own_mail
from mailbridge.episodes.processing import ReadingPipeline
from mailbridge.episodes.timeline import list_episodes
from mailbridge.intake import Intake, make_incoming
from mailbridge.reading.loops import OwnMail, echo, relayed, without_own_forward
from mailbridge.reading.message import read_message
from mailbridge.runtime.worker import Worker
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import ProcessingSettings, ServiceSettings, SmtpSettings
from mailbridge.store import directory
from mailbridge.store.models import Acknowledgement, Alert, EpisodeMessage, InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OWN = OwnMail.of(["missing@council.example"], "council.example")
OUR_ID = "mb.0123456789abcdef0123456789abcdef@council.example"
SENT = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


def mail(body: str, *, sender: str = "sam.patel@council.example", headers: str = "") -> bytes:
    head = (
        f"From: Someone <{sender}>\r\nTo: missing@council.example\r\n"
        "Subject: FW: [MB-2026-00001] MISSING: J.C. (100231)\r\n"
        "Message-ID: <x1@council.example>\r\n"
        f"Date: {format_datetime(SENT)}\r\nMIME-Version: 1.0\r\n"
    )
    if "content-type" not in headers.lower():
        head += "Content-Type: text/plain; charset=utf-8\r\n"
    return (head + headers + "\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")).encode()


ALERT_TEXT = (
    "Sam Patel,\n\nMISSING - HIGH RISK: MB-2026-00001\nA child has been reported missing from "
    "care.\n\nCHILD\n  Name: Jordan Carter\n\nReply to this email with any update; quote the "
    "reference MB-2026-00001.\n"
)
INLINE_FORWARD = (
    "{note}\n\n-----Original Message-----\nFrom: mailbridge <missing@council.example>\n"
    "Sent: 26 November 2026 21:31\nTo: sam.patel@council.example\n"
    "Subject: [MB-2026-00001] MISSING: J.C. (100231)\n\n" + ALERT_TEXT
)


# -- the pure rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (mail("hi", headers="X-Mailbridge-Alert: 17\r\n"), "X-Mailbridge-Alert"),
        (
            mail("hi").replace(b"x1@council.example", OUR_ID.encode()),
            "Message-ID",
        ),
        (mail("hi", sender="missing@council.example"), "our own address"),
        (mail("hi", sender="Missing+a1.ab.sw.xyz@Council.Example"), "our own address"),
    ],
)
def test_echo_of_our_own_mail(raw: bytes, why: str) -> None:
    loop = echo(read_message(raw), OWN)
    assert loop is not None and why in loop.reason


def test_a_carer_or_a_lookalike_is_not_an_echo() -> None:
    assert echo(read_message(mail("Jordan is missing", sender="carer@homes.example")), OWN) is None
    for mid in ("mb.123@council.example", OUR_ID.replace("council", "other")):
        lookalike = mail("hi").replace(b"x1@council.example", mid.encode())
        assert read_message(lookalike).message_id == mid
        assert echo(read_message(lookalike), OWN) is None  # not mb.<32 hex>@our domain


def test_a_bare_inline_forward_of_our_alert_is_relayed() -> None:
    msg = read_message(mail(INLINE_FORWARD.format(note="")))
    assert msg.forwarded
    loop = relayed(msg, OWN)
    assert loop is not None and "forwards our own mail" in loop.reason


def test_a_forward_with_a_note_is_not_a_loop_and_reads_only_the_note() -> None:
    msg = read_message(mail(INLINE_FORWARD.format(note="Police now say he was seen in town.")))
    assert relayed(msg, OWN) is None
    note_only = without_own_forward(msg, OWN)
    assert note_only.text == "Police now say he was seen in town."
    assert "reported missing from care" not in note_only.text


def test_an_attached_alert_with_nothing_added_is_relayed() -> None:
    inner = (
        "From: mailbridge <missing@council.example>\r\nTo: sam.patel@council.example\r\n"
        f"Subject: [MB-2026-00001] MISSING\r\nMessage-ID: <{OUR_ID}>\r\n"
        "X-Mailbridge-Alert: 3\r\nAuto-Submitted: auto-generated\r\n\r\n"
        + ALERT_TEXT.replace("\n", "\r\n")
    )
    outer = (
        'Content-Type: multipart/mixed; boundary="b"\r\n',
        f"--b\r\nContent-Type: text/plain\r\n\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
        f"{inner}\r\n--b--\r\n",
    )
    msg = read_message(mail(outer[1], headers=outer[0]))
    assert msg.attached_messages and relayed(msg, OWN) is not None
    # The same with a few words of the sender's own is theirs to tell us.
    worded = outer[1].replace("\r\n\r\n\r\n--b", "\r\n\r\nStill missing, please call.\r\n--b", 1)
    assert relayed(read_message(mail(worded, headers=outer[0])), OWN) is None


def test_an_empty_answer_to_our_mail_is_relayed_but_not_one_with_words_or_a_photo() -> None:
    refs = f"In-Reply-To: <{OUR_ID}>\r\nReferences: <{OUR_ID}>\r\n"
    empty = read_message(mail("\n> quoted alert text\n", headers=refs))
    assert relayed(empty, OWN) is not None
    assert relayed(read_message(mail("He is back home now.", headers=refs)), OWN) is None
    # A phone reply typed only in the subject is the sender's words, not our mail.
    typed = mail("", headers=refs).replace(
        b"Subject: FW: [MB-2026-00001] MISSING: J.C. (100231)", b"Subject: Re: Jordan back at 10"
    )
    assert relayed(read_message(typed), OWN) is None
    photo = (
        'Content-Type: multipart/mixed; boundary="p"\r\n' + refs,
        "--p\r\nContent-Type: text/plain\r\n\r\n\r\n--p\r\nContent-Type: image/jpeg\r\n"
        "Content-Disposition: attachment; filename=seen.jpg\r\n\r\nxxxx\r\n--p--\r\n",
    )
    assert relayed(read_message(mail(photo[1], headers=photo[0])), OWN) is None


def test_own_mail_markers_come_from_the_settings() -> None:
    settings = Settings(
        smtp=SmtpSettings(addresses=["missing@council.example", "mfh@other.example"])
    )
    own = own_mail(settings)
    assert own.addresses == {"missing@council.example", "mfh@other.example"}
    assert own.domain == "council.example"


# -- the round trip through the real pipeline and sender -----------------------------------------


@pytest.fixture
def world(engine, tmp_path: Path):
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=SENT, actor="test")
    settings = Settings(
        service=ServiceSettings(data_dir=str(tmp_path)),
        smtp=SmtpSettings(addresses=["missing@council.example"]),
    )
    return engine, settings


def inject(world, raw: bytes, rcpt: str = "missing@council.example") -> InboundMessage:
    engine, settings = world
    # received minutes after SENT: mail a day late is late mail (no receipt; issue 15)
    incoming = make_incoming(
        raw, source="smtp", mail_from=None, rcpt_tos=[rcpt], peer=None,
        clock=lambda: SENT + timedelta(minutes=2),
    )
    stored = Intake(engine).accept(incoming)
    Worker(engine, ReadingPipeline(settings), ProcessingSettings()).run_once()
    Sender(engine, settings).deliver_due()
    with Session(engine) as s:
        return s.get_one(InboundMessage, stored.id)


def counts(engine) -> tuple[int, int]:
    with Session(engine) as s:
        return (
            s.scalar(select(func.count()).select_from(Alert)) or 0,
            s.scalar(select(func.count()).select_from(EpisodeMessage)) or 0,
        )


def outbox(world) -> dict[str, bytes]:
    """Delivered mail by recipient, as the real sender wrote it (envelope line removed)."""
    _, settings = world
    out: dict[str, bytes] = {}
    for path in sorted((Path(settings.service.data_dir) / "outbox").glob("*.eml")):
        raw = path.read_bytes()
        first, _, rest = raw.partition(b"\r\n")
        out[first.decode().split(": ", 1)[1]] = rest
    return out


REPORT = (
    "From: Carer <oakview@homes.example>\r\nTo: missing@council.example\r\n"
    "Subject: Missing: Jordan Carter (100231)\r\nMessage-ID: <r1@homes.example>\r\n"
    f"Date: {format_datetime(SENT)}\r\n\r\nJordan went out at 7pm and has not come back. "
    "High risk.\r\n"
).encode()


def parsed(raw: bytes) -> Message:
    return message_from_bytes(raw, policy=default_policy)


def test_our_alert_and_receipt_redirected_back_are_ignored_as_loops(world):
    engine, _ = world
    assert inject(world, REPORT).status == "processed"
    mail_out = outbox(world)
    alert, receipt = mail_out["sam.patel@council.example"], mail_out["oakview@homes.example"]
    before = counts(engine)
    for raw in (alert, receipt):
        back = inject(world, raw)
        assert back.status == "ignored"
        assert back.reason is not None and back.reason.startswith("loop: ")
    assert counts(engine) == before  # no alert, no receipt, no episode change
    # With the markers stripped by a forwarding server, the From address still gives it away.
    bare = b"\r\n".join(
        line
        for line in alert.split(b"\r\n")
        if not line.lower().startswith((b"x-mailbridge-alert", b"message-id", b"auto-submitted"))
    )
    back = inject(world, bare)
    assert back.status == "ignored" and back.reason == "loop: sent from our own address"
    assert counts(engine) == before


def test_a_staff_mailbox_forwarding_the_alert_back_does_not_loop(world):
    engine, _ = world
    inject(world, REPORT)
    before = counts(engine)
    back = inject(world, mail(INLINE_FORWARD.format(note="")))
    assert back.status == "ignored"
    assert back.reason == "loop: forwards our own mail with nothing added"
    assert counts(engine) == before
    (ep,) = list_episodes_of(engine)
    assert ep["message_ids"] == ["r1@homes.example"]


def list_episodes_of(engine):
    with Session(engine) as s:
        return list_episodes(s)


def test_a_carer_forwarding_our_receipt_with_a_new_report_above_is_read(world):
    engine, _ = world
    inject(world, REPORT)
    receipt = parsed(outbox(world)["oakview@homes.example"])
    receipt_text = receipt.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    forward = (
        "From: Carer <oakview@homes.example>\r\nTo: missing@council.example\r\n"
        f"Subject: FW: {receipt['Subject']}\r\nMessage-ID: <r2@homes.example>\r\n"
        f"Date: {format_datetime(SENT)}\r\n\r\n"
        "Jordan came back at 21:10, safe and well.\r\n\r\n"
        "---------- Forwarded message ---------\r\n"
        f"From: mailbridge <missing@council.example>\r\nDate: {receipt['Date']}\r\n"
        f"Subject: {receipt['Subject']}\r\nTo: oakview@homes.example\r\n\r\n"
        + receipt_text.replace("\n", "\r\n")
    ).encode()
    alerts_before, _ = counts(engine)
    back = inject(world, forward)
    assert back.status == "processed", back.reason
    assert back.reason is not None and back.reason.startswith("returned MB-")
    alerts_after, _ = counts(engine)
    assert alerts_after > alerts_before  # the return is alerted, and the carer gets a receipt
    (ep,) = list_episodes_of(engine)
    assert ep["status"] == "returned"


def test_a_staff_reply_to_an_alert_is_still_an_acknowledgement(world):
    engine, _ = world
    inject(world, REPORT)
    alert = parsed(outbox(world)["sam.patel@council.example"])
    token_address = str(alert["Reply-To"])
    assert "+" in token_address
    quoted = "\r\n".join("> " + line for line in ALERT_TEXT.split("\n"))
    reply = (
        f"From: Sam Patel <sam.patel@council.example>\r\nTo: {token_address}\r\n"
        f"Subject: RE: {alert['Subject']}\r\nMessage-ID: <ack1@council.example>\r\n"
        f"In-Reply-To: {alert['Message-ID']}\r\nReferences: {alert['Message-ID']}\r\n"
        f"Date: {format_datetime(SENT)}\r\n\r\n{quoted}\r\n"  # nothing typed: still a reply
    ).encode()
    back = inject(world, reply, rcpt=token_address)
    assert back.status == "processed" and back.reason is not None
    assert back.reason.startswith("acknowledged MB-")
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Acknowledgement)) == 1


def test_a_reply_typed_below_the_quote_of_our_receipt_is_read_not_dropped() -> None:
    quoted = (
        "On Thu, 26 Nov 2026 at 21:30, mailbridge <missing@council.example> wrote:\n"
        "> Thank you. Your report about the child you named is MB-2026-00001.\n"
        "\n"
    )
    headers = f"In-Reply-To: <{OUR_ID}>\r\nReferences: <{OUR_ID}>\r\n"
    below = mail(
        quoted + "Jordan came home at 23:10, safe and well.\n",
        sender="oakview@homes.example",
        headers=headers,
    )
    assert relayed(read_message(below), OWN) is None
    # With nothing typed at all, the bare quote is still our mail coming back.
    bare = mail(quoted, sender="oakview@homes.example", headers=headers)
    loop = relayed(read_message(bare), OWN)
    assert loop is not None and "nothing added" in loop.reason
