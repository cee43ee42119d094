"""Classes of carers' wording the held-out batch 7 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: out of a window, "He's in.",
through the door, a lone "fine" after a return, a plan to be back on a day or date, a return
interview's summary, a table's heading, a forward quoted the Apple Mail way, and a forward whose
note agrees with the report it passes on (the report keeps its times).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.wording import each, read


@pytest.mark.parametrize("body", ["Dana climbed out of her bedroom window about 1am-ish.",
                                  "dana gone out the bathroom window, not in the garden"])
def test_out_of_a_window_is_missing(body: str) -> None:
    assert read(body, sent="Fri, 08 Jan 2027 02:05:00 +0000")[1].kind == "missing"


def test_hes_in_and_through_the_door_are_returns() -> None:
    fields, cls = read("She's in. Came through the front door at quarter past 11, fine, just "
                       "tired.", sent="Thu, 07 Jan 2027 23:40:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 7, 23, 15, tzinfo=UTC)
    assert fields.safe_and_well is True


def test_in_her_room_alone_is_not_a_return() -> None:
    assert read("Dana is in her room, Priya is still out.")[1].kind == "missing"


@pytest.mark.parametrize("body", [
    "We are away with Dana from Saturday, back home on the 14th about teatime.",
    "Dana is at her gran's, she's back next Tuesday.",
])
def test_a_plan_to_be_back_is_no_return(body: str) -> None:
    assert read(body)[1].kind != "returned"


def test_a_return_on_a_past_day_is_still_a_return() -> None:
    assert read("Dana came back on Wednesday at 9, sorry for the late email.",
                sent="Thu, 07 Jan 2027 10:00:00 +0000")[1].kind == "returned"


def test_a_return_interview_summary_is_not_news() -> None:
    _fields, cls = read("Summary of the return home interview completed with Dana on Monday "
                        "about her episode on 2-3 January. She went missing at 8pm on the "
                        "Saturday and was brought back by police at 2am on the Sunday. She has "
                        "been in every night since.")
    assert cls.kind not in ("missing", "returned")


def test_a_table_heading_asserts_nothing() -> None:
    body = ("Name | Status | Last seen / returned | Notes\n\nDana Hughes | MISSING | Last seen "
            "21:30 | Phone off\n\nPriya Shah | In placement | - | Settled")
    assert each(body) == {"11": "missing"}


def _forward(body: str) -> tuple[str, datetime | None]:
    fields, cls = read(body, subject="Fwd: Dana", sender="duty@agency.example",
                       sent="Fri, 08 Jan 2027 08:15:00 +0000")
    return cls.kind, fields.returned_at


def test_an_apple_mail_forward_is_read_as_the_report_it_passes_on() -> None:
    kind, returned_at = _forward(
        "Forwarding the carer's message for your records. Dana is home.\n\n"
        "Begin forwarded message:\n\n> From: Carer <oakhouse@example.org>\n"
        "> Date: 8 January 2027 at 01:03:22 GMT\n> Subject: Dana\n>\n"
        "> Dana is back home safe, walked in at 10 to 1.\n")
    assert kind == "returned"
    assert returned_at == datetime(2027, 1, 8, 0, 50, tzinfo=UTC)


def test_a_note_that_agrees_keeps_the_passed_on_reports_time() -> None:
    kind, returned_at = _forward(
        "FYI see below from the police. Dana is back, gone to bed.\n\n"
        "---------- Forwarded message ---------\nFrom: Liaison <mfh@police.example>\n"
        "Subject: Dana - located\n\nDana was located by officers and conveyed back, arriving "
        "02:15 hrs.\n\nMissing From Home Liaison\n")
    assert kind == "returned"
    assert returned_at == datetime(2027, 1, 8, 2, 15, tzinfo=UTC)
