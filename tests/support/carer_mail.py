"""A carer's email read as the worker reads it, for the unit examples of the reading rules.

Exists so each rule's examples say only what differs (the words, when it was sent, who sent it):
the headers every such email has, then its fields and classification (or each child's reading,
for an email about several), and a directory row shaped as the reader's ``DirectoryChild``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from mailbridge.reading import read_message
from mailbridge.reading.children import ChildReading, read_each_child
from mailbridge.reading.classify import Classification, classify
from mailbridge.reading.fields import ReportFields, extract_fields
from mailbridge.reading.match import DirectoryChild

LONDON = ZoneInfo("Europe/London")
OAK_HOUSE = "Oak House <oakhouse@example.org>"


def carer_mail(body: str, *, sent: str, subject: str = "Dana", sender: str = OAK_HOUSE) -> bytes:
    """The raw email: ``sent`` is its Date header."""
    return (
        f"From: {sender}\nTo: missing@council.example\nSubject: {subject}\n"
        f"Date: {sent}\n\n{body}\n"
    ).encode()


def read_carer_mail(
    body: str,
    *,
    sent: str,
    received: datetime,
    subject: str = "Dana",
    sender: str = OAK_HOUSE,
) -> tuple[ReportFields, Classification]:
    """The fields and the classification of the email, read in London time at ``received``."""
    msg = read_message(carer_mail(body, sent=sent, subject=subject, sender=sender))
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    return fields, classify(msg, fields)


def read_children(
    body: str,
    *,
    sent: str,
    received: datetime,
    children: Sequence[DirectoryChild],
    subject: str = "Dana",
    sender: str = OAK_HOUSE,
) -> list[ChildReading] | None:
    """Each child's own reading of an email about several (``read_each_child``), read in London
    time at ``received`` against ``children``; None where the email names fewer than two."""
    msg = read_message(carer_mail(body, sent=sent, subject=subject, sender=sender))
    whole = extract_fields(msg, tz=LONDON, received_at=received)
    return read_each_child(msg, whole, sender=msg.from_addr, children=children, tz=LONDON,
                           received_at=received)


@dataclass(frozen=True)
class DirectoryRow:
    """A directory child as the reader sees one (``reading.match.DirectoryChild``)."""

    child_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    placement_name: str | None
    carer_emails: tuple[str, ...]
