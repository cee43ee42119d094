"""Classes of wording found in held-out batches 42 and 43, each with our own examples both ways.

A find told alone ("Officers have located Dana at a friend's flat", "Police found her at her
mum's") is where the child is, not a return; nor is a child who "is not going back to her foster
carers" or "is refusing to go with them", nor one whose return the writer has "NOT had
confirmation" of. A return told as "took her back to her lodgings", "walked back with her", "my
sister picked her up" is a return. A home's question about lateness it treats "as late rather than
missing", and "nobody from the duty team has come back to me", are no report. A school's "she
will report Dana missing to the police straight away" and "let us know as soon as she is found"
report an absence; "went off with some lads" and "not picking up her phone" too.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailbridge.reading import read_message
from mailbridge.reading.classify import Classification
from mailbridge.reading.fields import ReportFields, extract_fields
from mailbridge.reading.match import match_child
from tests.support.carer_mail import LONDON, OAK_HOUSE, DirectoryRow, read_carer_mail

SENT = "Mon, 17 Feb 2031 14:05:00 +0000"
RECEIVED = datetime(2031, 2, 17, 14, 6, tzinfo=UTC)


def read(body: str, *, subject: str = "Dana", sender: str = OAK_HOUSE,
         sent: str = SENT, received: datetime = RECEIVED,
         ) -> tuple[ReportFields, Classification]:
    return read_carer_mail(body, sent=sent, received=received, subject=subject, sender=sender)


@pytest.mark.parametrize(
    "body",
    [
        "Update on Dana. Durham Constabulary phoned EDT at 00:55. Officers have located Dana at a "
        "friend's flat in Shildon.",
        "Dana went missing last night. Police found her at her mum's at 2am.",
        "Officers have located Dana at a friend's flat. She is refusing to go with them at the "
        "moment and staff are driving over.",
        "I am Dana's nana. Dana turned up at my house last night about half eleven. She says she "
        "is not going back to her foster carers because of a row over her phone.",
        "Police rang at 00:55. As of sending this I have NOT had confirmation that Dana is back "
        "at Fernlea.",
        "Dana has come back, the taxi firm says. It has not been confirmed that she is home.",
    ],
)
def test_found_or_unconfirmed_is_the_safe_state(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Cleveland Police found Dana in Thornaby at around 01:30 and brought her back to Holly "
        "Lodge at 02:15. She is in the home with staff now.",
        "Dana was found by our neighbour at 19:05 sitting in the bus shelter, and she walked back "
        "with her. She was home at 19:10.",
        "Dana found at her nan's in Wellingborough, my sister picked her up at 9.50. She's ok.",
        "Dana was located by officers at 08:05 at an address in Grange Park. Officers took her "
        "back to her lodgings, arriving at approximately 08:40.",
        "Dana came back to us at 10pm, she is in bed.",
        "Police found Dana at 2am. She is home now.",
    ],
)
def test_a_return_told_is_a_return(body: str) -> None:
    _fields, cls = read(body)
    assert (cls.kind, cls.doubts) == ("returned", ())


def test_took_her_back_to_the_station_is_no_return() -> None:
    _fields, cls = read("Dana was found in town at 11. Police took her back to the station.")
    assert cls.kind == "missing"
    assert cls.doubts


@pytest.mark.parametrize(
    "body",
    [
        "Dana has been coming back 20 to 40 minutes after her 9pm curfew most nights, and she "
        "has walked in under her own steam. Under our protocol we treat that as \"late\" rather "
        "than missing. Could you confirm whether you want a notification for lateness?",
        "Dana has asked to stay at her boyfriend's family's over the weekend. Her social worker is "
        "on leave and nobody from the duty team has come back to me yet. Do I need to send you "
        "anything beforehand?",
    ],
)
def test_a_question_is_no_report(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "not_a_report"


@pytest.mark.parametrize(
    "body",
    [
        "Dana did not sit her exam at 13:30. Her foster carer has told me she will report Dana "
        "missing to Essex Police straight away.",
        "Dana did not arrive for her GCSE paper this morning and staff have checked the site. "
        "Please let us know as soon as she is found.",
        "hi its dawn danas foster carer she went out at 6 with her friend chloe chloes mam has "
        "just rang me chloe came home on her own and says dana went off with some lads in a car "
        "shes not picking up her phone",
    ],
)
def test_an_absence_told_another_way_is_a_report(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind == "missing"


@pytest.mark.parametrize(
    "body",
    [
        "If she is not back by 10 I will report her missing.",
        "Dana came home at 10, she went off with some lads earlier but she's in bed now.",
    ],
)
def test_a_plan_or_a_return_is_no_absence(body: str) -> None:
    _fields, cls = read(body)
    assert cls.kind != "missing"


def test_a_small_hours_return_after_an_afternoon_sighting_is_the_next_morning() -> None:
    # the last sighting's day ("yesterday, Friday") must not carry to the return at 00:50
    fields, cls = read(
        "Dana was reported missing earlier (last seen 16:00 yesterday, Friday, in town). Her "
        "carer reports that Dana came back home at 00:50, dropped at the door by a friend's mum.",
        sent="Sat, 15 Feb 2031 01:30:00 +0000", received=datetime(2031, 2, 15, 1, 31, tzinfo=UTC))
    assert fields.last_seen_at == datetime(2031, 2, 14, 16, 0, tzinfo=UTC)
    assert fields.returned_at == datetime(2031, 2, 15, 0, 50, tzinfo=UTC)
    assert (cls.kind, cls.doubts) == ("returned", ())


def test_a_morning_sighting_never_rolls_a_small_hours_return_forward() -> None:
    # seen at 09:00, "back at 02:00" is no return 17 hours later: the conflict stays
    fields, cls = read("Dana was last seen at 09:00 yesterday. She came back at 02:00 yesterday.",
                       sent="Sat, 15 Feb 2031 08:30:00 +0000",
                       received=datetime(2031, 2, 15, 8, 31, tzinfo=UTC))
    assert fields.returned_at is None
    assert cls.kind == "missing"


def test_the_councils_own_number_is_not_the_police_reference() -> None:
    fields, _cls = read("Young person: Dana Smith\nPlacing authority ref: 204353\n\nDana went out "
                        "at 17:30 and has not come back. Reported to the Met, reference given: "
                        "CAD 9137/01MAY32.")
    assert fields.police_reference == "CAD 9137/01MAY32"


def test_an_officers_signature_with_a_rank_names_the_officer() -> None:
    fields, _cls = read(
        "Dana was conveyed back to her placement, arriving at 01:25 hrs.\n\n"
        "Please quote the CAD above on any correspondence.\n\n"
        "DC Aaron Fletcher\nMissing Persons Unit\nCentral South BCU\nMetropolitan Police Service"
        "\n\nEmail: aaron.fletcher@met.police.example",
        sender="Fletcher Aaron <aaron.fletcher@met.police.example>")
    assert fields.reporter_name == "Aaron Fletcher"


def test_a_forwarded_carers_report_names_the_child_by_the_carers_address() -> None:
    """The social worker forwards the carer's "Ruby not back": the forward's From line keeps its
    display name, and the carer's address in it still finds Ruby at her placement."""
    raw = (
        b"From: Hannah Lockey <hannah.lockey@council.example>\nTo: missing@council.example\n"
        b"Subject: Fwd: Ruby not back\nDate: Fri, 22 Aug 2031 18:40:00 +0100\n\n"
        b"FYI - forwarding this from Ruby's foster carer.\n\n"
        b"---------- Forwarded message ---------\n"
        b"From: Sharon Hume <sharon.hume@mailbox.example>\nDate: Fri, 22 Aug 2031 at 18:02\n"
        b"Subject: Ruby not back\nTo: Hannah Lockey <hannah.lockey@council.example>\n\n"
        b"Hi Hannah, just to let you know Ruby hasn't come back from town.\n\nSharon\n"
    )
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=datetime(2031, 8, 22, 17, 41, tzinfo=UTC))
    ruby = DirectoryRow("204267", "Ruby", "Ingledew", None, "Hume family",
                        ("sharon.hume@mailbox.example",))
    other = DirectoryRow("204268", "Ruby", "Else", None, "Elsewhere", ("else@example.net",))
    m = match_child(subject=msg.subject, text=msg.text, fields=fields, sender=msg.from_addr,
                    children=[ruby, other], forwarded_from=msg.forwarded_from)
    assert m.child_id == "204267"


SUNDAY_NIGHT = "Sun, 10 Aug 2031 21:43:00 +0100"
SUNDAY_RECEIVED = datetime(2031, 8, 10, 20, 44, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "seen_bst"),
    [
        # a neighbour's later sighting is the last sighting, after the carer's "I last saw"
        ("Dana left the house at 2 o'clock to go to the fair. I last saw her when she went out of "
         "the door at 2. My neighbour saw Dana at about half past eight sitting on the wall "
         "outside the amusements.", (20, 30)),
        # the carer's own later sighting beats when the child went out
        ("Dana went out at 17:30 saying she was off to the beach. I saw her myself at 19:40 on "
         "the seafront by the fair. Curfew was 21:00 and she hasn't come back.", (19, 40)),
        # a call's time is not a sighting's
        ("I last saw Dana at 7.50 this morning when she left for college. Her mum rang me at 6 "
         "to say Dana was seen getting into a silver car near the retail park this afternoon.",
         (7, 50)),
    ],
)
def test_the_last_sighting_is_the_latest_sighting_not_a_call(
        body: str, seen_bst: tuple[int, int]) -> None:
    fields, _cls = read(body, sent=SUNDAY_NIGHT, received=SUNDAY_RECEIVED)
    assert fields.last_seen_at is not None
    local = fields.last_seen_at.astimezone(LONDON)
    assert (local.date().isoformat(), local.hour, local.minute) == ("2031-08-10", *seen_bst)
