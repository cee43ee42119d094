"""Classes of carers' wording the held-out batch 11 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: a question about procedure is not
news, a note on an episode that is over is no report, "brought Dana back", "rocked up", "he's
sound", a past act after "when" ("not until 11 when the police dropped her off"), and the
24-hour clock after "walked in".
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.wording import each, read


def test_a_question_about_procedure_is_not_news() -> None:
    _fields, cls = read("Quick question. If Dana is 20 minutes late back from school, do I report "
                        "her straight away? She isn't missing now, she's home, I'm just asking.")
    assert cls.kind == "not_a_report"


def test_a_note_on_an_episode_that_is_over_is_no_report() -> None:
    _fields, cls = read("For the record: Dana's missing episode on 3rd January (police ref "
                        "27-0103-0771) was discussed today. Return home interview has been "
                        "completed. She has not been missing since.")
    assert cls.kind == "not_a_report"


def test_brought_back_by_name_and_unhurt() -> None:
    fields, cls = read("The police brought Dana back to mine at 02.15 this morning. She was cold "
                       "but unhurt.", sent="Fri, 08 Jan 2027 09:02:00 +0000")
    assert cls.kind == "returned" and fields.safe_and_well is True
    assert fields.returned_at == datetime(2027, 1, 8, 2, 15, tzinfo=UTC)


def test_rocked_up_and_sound() -> None:
    fields, cls = read("dana's rocked up back at ours bout 6ish, she's sound",
                       sent="Thu, 07 Jan 2027 18:30:00 +0000")
    assert cls.kind == "returned" and fields.safe_and_well is True


def test_a_past_act_after_when_is_not_a_plan() -> None:
    assert each("Dana and Priya are both back now. Priya came in about 9, Dana not until gone 11 "
                "when the police dropped her off.") == {"11": "returned", "13": "returned"}


def test_walked_in_with_the_24_hour_clock() -> None:
    fields, _cls = read("shes home. walked in 0105 on her own. all ok",
                        sent="Fri, 08 Jan 2027 01:12:00 +0000")
    assert fields.returned_at == datetime(2027, 1, 8, 1, 5, tzinfo=UTC)


def test_a_return_still_ahead_after_when_is_no_return() -> None:
    for body in ("I'll let you know when the police have dropped her back.",
                 "Please ring when the police dropped her off.",
                 "Call me once the police dropped her off."):
        assert read(body)[1].kind != "returned", body
