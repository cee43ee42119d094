"""Classes of carers' wording the held-out batch 13 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: a name signed with no closing
word, found and at the police station or on the way to be collected is not back, a worker's
note on a past episode is no report, "to" before a new clause's subject is no plan, a child
said to be somewhere known is missing with a doubt, "ten minutes to nine", "went AWOL at",
ESOL "go out", a clock time beats "5 mins ago", "assessed by the duty worker as MEDIUM",
"gave us 58821 as the reference", and a child in their room is not reported on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.wording import each, read


def test_a_name_signed_with_no_closing_word_is_the_reporter() -> None:
    fields, _cls = read("Dana went out at 7 and has not come back.\n\nAnn Lee\nOak House",
                        sent="Thu, 07 Jan 2027 22:30:00 +0000")
    assert fields.reporter_name == "Ann Lee"
    fields, _cls = read("Dana is still out.\n\nHandover written by: Sam Okoro")
    assert fields.reporter_name == "Sam Okoro"
    # a place, a team or a job is not a person
    fields, _cls = read("Dana is still out.\n\nOak House Nights\nChildren's Home")
    assert fields.reporter_name != "Oak House Nights"


def test_found_but_at_the_police_station_or_being_collected_is_not_back() -> None:
    for body in ("Police have found Dana in Leeds at 20:10. She is at the police station "
                 "there. We are driving over now to collect her.",
                 "Dana has been located in town. Two of us are heading down to pick her up."):
        fields, cls = read(body)
        assert cls.kind == "missing" and fields.returned_at is None, body
        assert cls.doubts, body


def test_a_note_on_a_past_episode_is_no_report() -> None:
    _fields, cls = read("Visited Oak House today. We talked about her missing episode of 2/1 "
                        "(out from 20:00, returned 23:40). She has been in every night since.")
    assert cls.kind == "not_a_report"


def test_somewhere_known_but_not_back_is_missing_with_a_doubt() -> None:
    fields, cls = read("Her friend's mum phoned to say Dana is at their house and she'll drop "
                       "her back in the morning. We haven't spoken to Dana and she is not "
                       "answering her phone.")
    assert cls.kind == "missing" and fields.returned_at is None and cls.doubts


def test_to_before_a_new_clause_is_no_plan() -> None:
    _fields, cls = read("We haven't spoken to Dana herself and she is not answering her phone.")
    assert cls.kind == "missing"


def test_minutes_spelled_out_and_awol_and_esol_go_out() -> None:
    sent = "Thu, 07 Jan 2027 22:30:00 +0000"
    fields, _cls = read("Dana left the house at approximately ten minutes to nine. She did not "
                        "return.", sent=sent)
    assert fields.last_seen_at == datetime(2027, 1, 7, 20, 50, tzinfo=UTC)
    fields, _cls = read("Dana went AWOL from school at ten to four this afternoon.", sent=sent)
    assert fields.last_seen_at == datetime(2027, 1, 7, 15, 50, tzinfo=UTC)
    fields, _cls = read("Dana go out at 19:05, she not answer the phone.", sent=sent)
    assert fields.last_seen_at == datetime(2027, 1, 7, 19, 5, tzinfo=UTC)


def test_a_clock_time_beats_minutes_ago() -> None:
    fields, _cls = read("dana back!! walked in 5 mins ago about 10 past 10 shes fine",
                        sent="Thu, 07 Jan 2027 22:16:00 +0000")
    assert fields.returned_at == datetime(2027, 1, 7, 22, 10, tzinfo=UTC)


def test_risk_assessed_by_someone_and_a_reference_given_as_the_reference() -> None:
    fields, _cls = read("Dana is missing. Risk assessed by the duty social worker as MEDIUM. "
                        "Police gave us 58821 as the reference.")
    assert fields.risk_level == "medium" and fields.police_reference == "58821"


def test_a_child_in_their_room_is_not_reported_on() -> None:
    assert each("Dana has absconded via the fire door at 01:50. Marcus and Priya are both in "
                "their rooms and accounted for. Police called at 01:58, CAD 0118.") == {
        "11": "missing"}
