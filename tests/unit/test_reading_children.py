"""Several children in one email, known-as names, initials with a date of birth (issue 13)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from mailbridge.directory.records import ChildRecord
from mailbridge.reading import children, extract_fields, read_message
from mailbridge.reading.children import read_each_child, split_by_child
from mailbridge.reading.match import match_child
from tests.support.carer_mail import read_children

LONDON = ZoneInfo("Europe/London")
HOME = "fern@example.net"


def child(cid: str, first: str, last: str, dob: date, *, known: str = "",
          carers: tuple[str, ...] = (HOME,)) -> ChildRecord:
    return ChildRecord(cid, first, last, dob, "Fern Close", "Foster placement", carers,
                       {"known_as": known} if known else {})


SAM = child("1", "Samuel", "Okoro", date(2011, 5, 14), known="Sam;Sammy")
ELLIE = child("2", "Ellie", "Okoro", date(2013, 1, 30))
KJ = child("3", "Kayden", "Murphy", date(2012, 9, 2), known="KJ", carers=("other@example.org",))
DIRECTORY = [SAM, ELLIE, KJ]


def each(body: str, sender: str = HOME) -> dict[str, str]:
    got = read_children(body, sent="Sat, 05 Dec 2026 19:15:00 +0000", subject="update",
                        received=datetime(2026, 12, 5, 19, 16, tzinfo=UTC), children=DIRECTORY,
                        sender=sender)
    assert got is not None
    return {r.child_id: r.classification.kind for r in got}


def test_siblings_not_back_are_two_missing_reports() -> None:
    assert each("Sam and Ellie are not back from contact. They were due back at 6.") == {
        "1": "missing", "2": "missing"}


def test_one_back_and_one_still_out_are_two_different_events() -> None:
    assert each("Ellie is home safe, she turned up at 7.10. Sam is still out.") == {
        "2": "returned", "1": "missing"}
    assert each("Sam is back but Ellie is still out") == {"1": "returned", "2": "missing"}


def test_a_child_named_but_not_reported_on_gets_nothing() -> None:
    assert each("Sam has gone missing, left at 5pm. Ellie is fine, in bed.") == {"1": "missing"}


def test_clauses_follow_the_last_child_named() -> None:
    parts = split_by_child("Handover. Sam is back. Safe and well. Ellie is still out. Last seen "
                           "at 20:30.", [SAM, ELLIE], HOME)
    assert "Safe and well." in parts["1"] and "Safe and well." not in parts["2"]
    assert "Last seen at 20:30." in parts["2"]
    assert parts["1"].startswith("Handover.") and parts["2"].startswith("Handover.")


def test_first_and_known_as_names_only_count_from_the_childs_carers() -> None:
    raw = (b"From: stranger@example.com\nTo: m@example.org\nSubject: Sam\n"
           b"Date: Sat, 05 Dec 2026 19:15:00 +0000\n\nSam has not come home.\n")
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=datetime(2026, 12, 5, 19, 16, tzinfo=UTC))
    assert match_child(subject=msg.subject, text=msg.text, fields=fields,
                       sender="stranger@example.com", children=DIRECTORY).child_id is None
    assert match_child(subject=msg.subject, text=msg.text, fields=fields, sender=HOME,
                       children=DIRECTORY).child_id == "1"


def test_known_as_with_surname_and_initials_with_dob_match_anywhere() -> None:
    for body, want in (("KJ Murphy has gone missing.", "3"),
                       ("Re K.M., DOB 02/09/2012 - absconded at 21:10.", "3")):
        raw = (f"From: duty@agency.example\nTo: m@example.org\nSubject: report\n"
               f"Date: Sat, 05 Dec 2026 22:15:00 +0000\n\n{body}\n").encode()
        msg = read_message(raw)
        fields = extract_fields(msg, tz=LONDON,
                                received_at=datetime(2026, 12, 5, 22, 16, tzinfo=UTC))
        m = match_child(subject=msg.subject, text=msg.text, fields=fields,
                        sender="duty@agency.example", children=DIRECTORY)
        assert m.child_id == want, body


def test_a_full_name_is_not_also_another_childs_first_name() -> None:
    """Two Olivers at one home: "Oliver Turner (3) has not come home" is about one child."""
    turner = child("8", "Oliver", "Turner", date(2012, 1, 1))
    okafor = child("9", "Oliver", "Okafor", date(2013, 1, 1))
    raw = (f"From: {HOME}\nTo: m@example.org\nSubject: Oliver\n"
           "Date: Sat, 05 Dec 2026 19:15:00 +0000\n\nOliver Turner (8) has not come home.\n"
           ).encode()
    msg = read_message(raw)
    received = datetime(2026, 12, 5, 19, 16, tzinfo=UTC)
    whole = extract_fields(msg, tz=LONDON, received_at=received)
    got = read_each_child(msg, whole, sender=HOME, children=[turner, okafor], tz=LONDON,
                          received_at=received)
    assert got is None or [r.child_id for r in got] == ["8"]


def test_gone_again_after_a_return_is_still_missing() -> None:
    assert each("Sam came back for his charger at 9 and left again straight away. "
                "Ellie is home safe.") == {"1": "missing", "2": "returned"}


def _doubts(body: str) -> dict[str, tuple[str, ...]]:
    got = read_children(body, sent="Sat, 05 Dec 2026 07:15:00 +0000", subject="Night handover",
                        received=datetime(2026, 12, 5, 7, 16, tzinfo=UTC), children=DIRECTORY,
                        sender=HOME) or []
    return {r.child_id: r.classification.doubts + r.fields.doubts for r in got}


def test_a_pronoun_keeping_a_child_open_raises_no_doubt_of_whose_it_is() -> None:
    # the directory has no gender column: "he" after Sam is Sam's, as far as the reader can tell.
    # Whose absence it is needs no confirming (it keeps someone open); whose return it is does.
    still = _doubts("Ellie\nSettled by 22:00.\n\nSam\nWent out at 21:00. He has not come back.")
    assert still == {"1": ()}
    back = _doubts("Ellie\nSettled by 22:00.\n\nSam\nWent out at 21:00. He came in at 01:10.")
    assert any("may not mean" in d for d in back["1"])


def test_a_failure_reading_each_child_is_logged_not_silent(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A fault in splitting the email by child falls back to the one-child reading (a reader
    never raises), and says so in the log for IT to see."""
    def broken(*_a: object, **_k: object) -> object:
        raise RuntimeError("injected")

    monkeypatch.setattr(children, "_split", broken)
    with caplog.at_level(logging.ERROR, logger="mailbridge.reading.children"):
        got = read_children("Sam and Ellie are not back from contact.",
                            sent="Sat, 05 Dec 2026 19:15:00 +0000", subject="update",
                            received=datetime(2026, 12, 5, 19, 16, tzinfo=UTC),
                            children=DIRECTORY, sender=HOME)
    assert got is None
    assert any("read as about one child" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_writer_who_shares_a_childs_name_is_not_a_child_the_email_is_about() -> None:
    """A police officer signing "PC 21907 Ellie Okoro" from ellie.okoro@... beside a report about
    Sam: the namesake in the directory is the writer, not a second child."""
    got = read_children("Sam was located at the hospital this morning and is not back yet.\n\n"
                        "PC 21907 Ellie Okoro", sent="Sat, 05 Dec 2026 19:15:00 +0000",
                        subject="Samuel Okoro located",
                        received=datetime(2026, 12, 5, 19, 16, tzinfo=UTC), children=DIRECTORY,
                        sender="ellie.okoro@police.example")
    assert got is None  # one child: the one-child reading
