"""Reading a carer's wording in unit tests: one email built from a body, read as processing
reads it, against a small children's home of three (two of them siblings)."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from mailbridge.directory.records import ChildRecord
from mailbridge.reading import classify, extract_fields, read_message
from mailbridge.reading.children import read_each_child
from mailbridge.reading.classify import Classification
from mailbridge.reading.fields import ReportFields

LONDON = ZoneInfo("Europe/London")
HOME = "oakhouse@example.org"


def read(body: str, *, subject: str = "Dana", sent: str = "Thu, 07 Jan 2027 22:30:00 +0000",
         sender: str = HOME) -> tuple[ReportFields, Classification]:
    raw = (f"From: {sender}\nTo: missing@council.example\nSubject: {subject}\n"
           f"Date: {sent}\n\n{body}\n").encode()
    msg = read_message(raw)
    assert msg.date is not None
    fields = extract_fields(msg, tz=LONDON, received_at=msg.date + timedelta(minutes=1))
    return fields, classify(msg, fields)


def kid(cid: str, first: str, last: str, dob: date, known: str = "") -> ChildRecord:
    return ChildRecord(cid, first, last, dob, "Oak House", "Children's home", (HOME,),
                       {"known_as": known} if known else {})


DANA = kid("11", "Dana", "Hughes", date(2010, 4, 1))
MARCUS = kid("12", "Marcus", "Hughes", date(2012, 6, 9), known="Marc")
PRIYA = kid("13", "Priya", "Shah", date(2011, 2, 17))
OAK = [DANA, MARCUS, PRIYA]


def each(body: str, sent: str = "Thu, 07 Jan 2027 22:30:00 +0000") -> dict[str, str]:
    raw = (f"From: {HOME}\nTo: m@example.org\nSubject: update\nDate: {sent}\n\n{body}\n").encode()
    msg = read_message(raw)
    assert msg.date is not None
    received = msg.date + timedelta(minutes=1)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    got = read_each_child(msg, fields, sender=HOME, children=OAK, tz=LONDON, received_at=received)
    assert got is not None
    return {r.child_id: r.classification.kind for r in got}
