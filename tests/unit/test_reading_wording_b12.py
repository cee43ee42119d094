"""Classes of carers' wording the held-out batch 12 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: a name given with its short form
in brackets is one mention ("Marcus (Marc) and Priya"), "to confirm that" reports rather than
plans, the dialect past with a bare verb ("Dana come back in about ten"), Scots and northern
time words ("aboot hauf eleven", "last neet"), "right as rain" and "nowt wrong wi' her",
somebody's guess at a sighting is a doubt, and a thank-you for help with an episode is no news.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.wording import each, read


def test_a_short_form_in_brackets_keeps_two_children_together() -> None:
    got = each("Marcus (Marc) and Priya went to town together and should have been back by "
               "8. Neither of them has come back. Dana is in the home.")
    assert got == {"12": "missing", "13": "missing"}


def test_to_confirm_that_is_the_writers_report_not_a_plan() -> None:
    fields, cls = read("We write to confirm that Dana Hughes returned to her placement with "
                       "Mrs Patel at 21:40 hours on Thursday 7 January 2027. She is safe and well.")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 7, 21, 40, tzinfo=UTC)
    for plan in ("We have asked her to confirm that she will be back at 9.",
                 "Please remember to come home by 10."):
        assert read(plan)[1].kind != "returned", plan


def test_the_dialect_past_with_a_bare_verb() -> None:
    fields, cls = read("Dana come back in about twenty past nine last neet, she were right as "
                       "rain.", sent="Fri, 08 Jan 2027 08:10:00 +0000")
    assert cls.kind == "returned" and fields.safe_and_well is True
    assert fields.returned_at == datetime(2027, 1, 7, 21, 20, tzinfo=UTC)
    # the bare verb as a request or a question is no return
    for body in ("Dana, come back home now please.", "Has Dana come back at all?"):
        assert read(body)[1].kind != "returned", body


def test_scots_time_words_and_nothing_wrong() -> None:
    fields, cls = read("She's hame. Came in the door aboot hauf ten last nicht, nowt wrong wi' "
                       "her.", sent="Fri, 08 Jan 2027 07:45:00 +0000")
    assert cls.kind == "returned" and fields.safe_and_well is True
    assert fields.returned_at == datetime(2027, 1, 7, 22, 30, tzinfo=UTC)


def test_somebodys_guess_at_a_sighting_is_a_doubt() -> None:
    for body in ("My neighbour thinks she saw Dana go in our back door about an hour ago. I "
                 "can't check till I'm home.",
                 "My son thinks he heard Dana come in at about 10 but her door is shut."):
        fields, cls = read(body)
        assert cls.kind == "missing" and (cls.doubts or fields.doubts), body


def test_a_thank_you_for_help_with_an_episode_is_no_news() -> None:
    _fields, cls = read("Thank you to everyone who helped on Friday night when Dana went "
                        "missing. As you know she came home on the Saturday and is doing well.")
    assert cls.kind == "not_a_report"
    # a thank-you with news of a new episode is a report
    _fields, cls = read("Thanks for your help when Dana went missing last week. She has gone "
                        "missing again tonight, last seen at 8.")
    assert cls.kind == "missing"
