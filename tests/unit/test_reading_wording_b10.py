"""Classes of carers' wording the held-out batch 10 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: a hard-wrapped paragraph is one
text ("returned to Oak House\\nat 03:20hrs"), "10.40pm" at the start of a wrapped line is no list
item, "dropped Lily back", "on her way back" second-hand beside "still out", a summary's subject
is a title, "fine just tired", and no match from the sender alone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from mailbridge.directory.records import ChildRecord
from mailbridge.reading import extract_fields, read_message
from mailbridge.reading.match import match_child
from mailbridge.reading.quoting import unwrap
from tests.support.wording import LONDON, OAK, each, read


def test_a_hard_wrapped_paragraph_is_read_as_one() -> None:
    body = ("FYI from the police: Dana was located by patrols at the bus station and was returned\n"
            "to Oak House at 03:20hrs by officers. She appeared safe and well.")
    fields, cls = read(body, sent="Fri, 08 Jan 2027 08:45:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 8, 3, 20, tzinfo=UTC)


def test_unwrap_keeps_labels_lists_and_tables_on_their_own_lines() -> None:
    text = ("Notes: she went to the shop and did not come back, phone off, staff out looking\n"
            "Risk level: High\n- first point that is long enough to have been wrapped by a mailer\n"
            "- second point\nName | Status | Last seen, a table row long enough to be wrapped\n"
            "Dana | MISSING | 21:30")
    assert unwrap(text) == text


def test_a_time_at_the_start_of_a_wrapped_line_is_no_list_item() -> None:
    fields, _cls = read("Update on Dana: she remains missing. She was last seen on Wednesday "
                        "evening at\n10.40pm when she went out to the garden and didn't come "
                        "back in.",
                        sent="Fri, 08 Jan 2027 09:15:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 6, 22, 40, tzinfo=UTC)


def test_dropped_back_by_name_beside_a_sibling_still_out() -> None:
    assert each("Dana and Priya went to their dad's. Their dad dropped Priya back at 8 and "
                "she's fine, but Dana refused to get in the car. So Dana is still out.") == {
        "13": "returned", "11": "missing"}


def test_on_her_way_back_second_hand_is_a_doubt_while_still_out() -> None:
    _fields, cls = read("Her friend messaged to say Dana is on her way back now. We have not seen "
                        "her and she still isn't picking up.")
    assert cls.kind == "missing" and cls.doubts


def test_a_summary_subject_is_a_title() -> None:
    _fields, cls = read("Monthly summary for Dana for December:\n- 3rd: out past curfew, returned "
                        "23:40 the same night, RHI done.\nNo other episodes. She's in and settled.",
                        subject="FW: December missing summary - Dana")
    assert cls.kind not in ("missing", "returned")


def test_fine_just_tired() -> None:
    fields, cls = read("shes back. came in at 10 to 1. fine just tired and cold x",
                       sent="Fri, 08 Jan 2027 00:58:00 +0000")
    assert cls.kind == "returned" and fields.safe_and_well is True


def test_no_name_from_the_carer_of_one_child_is_still_no_match() -> None:
    # a guess from the sender alone would be a guess (the pipeline's pdf_only scenario): the
    # duty desk links it; the only child at a placement is not assumed
    only = ChildRecord("31", "Niamh", "Gallagher", date(2012, 1, 1), "Aunt's", "Kinship",
                       ("aunt@example.org",), {})
    raw = (b"From: aunt@example.org\nTo: m@example.org\nSubject: Re: Missing child report\n"
           b"Date: Fri, 08 Jan 2027 00:58:00 +0000\n\nshes back. came in at 10 to 1.\n")
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=datetime(2027, 1, 8, 0, 59, tzinfo=UTC))
    got = match_child(subject=msg.subject, text=msg.text, fields=fields, sender=msg.from_addr,
                      children=[*OAK, only])
    assert got.child_id is None
