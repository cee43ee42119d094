"""Classes of carers' wording the held-out batch 14 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: a thing that is back is not the
child, the writer's own coming home is not the child's return, a return the writer infers but
has not seen is unsure, an absence told in the simple past before the return that ended it is
no conflict, "came in from school" is a day's routine, "back in contact" is not back, "went back
out" is gone again, the last of several sightings is the last seen, "saw Dana at 16:45" is a
sighting, a child with the writer is not reported on, "she's safe" after a return, and a form's
"Reported by" keeps the name without the job.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.wording import each, read

SUMMER = "Mon, 20 Jul 2026 23:10:00 +0100"


def test_a_thing_that_is_back_is_not_the_child() -> None:
    for body in ("Dana's phone is back on but she is not answering it.",
                 "Her coat is back on the hook, no sign of her though.",
                 "The car is back but Dana is still out."):
        fields, cls = read(body)
        assert cls.kind == "missing" and fields.returned_at is None, body
    # the child (or "the young person") still is
    _fields, cls = read("The young person is back, came in at 22:15, fine.")
    assert cls.kind == "returned"


def test_the_writers_own_coming_home_is_not_the_childs_return() -> None:
    for body in ("Went out at 7 to the shop and hasn't come back. I drove round the estate "
                 "for two hours, got back at 10 and still nothing.",
                 "Dana went out at 7. We went looking for her in town (we got home at 21:40) "
                 "but she's not answering.",
                 "Dana went out at 7 and is not answering. (I got in from work at 9.30.)"):
        fields, cls = read(body)
        assert cls.kind == "missing" and fields.returned_at is None, body
    # the writer brought the child home: that return, at that time
    fields, cls = read("Found Dana at the bus station. I collected her and we got home at "
                       "21:50. She's ok.")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 7, 21, 50, tzinfo=UTC)
    # a child's own arrival after the writer's name
    _fields, cls = read("I was out looking and Dana got back at 10, she's fine.")
    assert cls.kind == "returned"


def test_a_return_the_writer_infers_but_has_not_seen_is_unsure() -> None:
    for body in ("Her shoes are in the hall so I think she's come in, but her door is shut "
                 "and she won't answer.",
                 "Someone came in around 2. I can't say she's back for definite until I see "
                 "her.",
                 "I can't be sure she's home, her light is off."):
        fields, cls = read(body, sent=SUMMER)
        assert cls.kind == "missing" and fields.returned_at is None, body
        assert cls.doubts, body


def test_an_absence_told_in_the_past_before_its_return_is_no_conflict() -> None:
    fields, cls = read("Dana went out at 4 yesterday and didn't come home last night. She came "
                       "home at 11 this morning and seems fine.",
                       sent="Sun, 10 May 2026 11:40:00 +0100")
    assert cls.kind == "returned" and not cls.doubts
    assert fields.returned_at == datetime(2026, 5, 10, 10, 0, tzinfo=UTC)
    # said after the return, it is news: she is out again
    _fields, cls = read("She came home at 11 this morning. Then went to the shop and never came "
                        "back.", sent="Sun, 10 May 2026 16:40:00 +0100")
    assert cls.kind == "missing"
    # "hasn't come back" is now, whatever its place
    _fields, cls = read("She hasn't come back. She came home at 11 this morning.",
                        sent="Sun, 10 May 2026 16:40:00 +0100")
    assert cls.kind == "missing" and cls.doubts


def test_coming_in_from_school_is_routine_and_going_back_out_is_gone_again() -> None:
    fields, cls = read("Dana came in from school at 4 as usual, then went back out at half 6 "
                       "and is not answering.", sent="Fri, 25 Sep 2026 21:40:00 +0100")
    assert cls.kind == "missing" and not cls.doubts and fields.returned_at is None
    assert fields.last_seen_at == datetime(2026, 9, 25, 17, 30, tzinfo=UTC)
    # a return from somewhere else is a return
    _fields, cls = read("Dana came back from town at 22:10, she's fine.")
    assert cls.kind == "returned"


def test_back_in_contact_is_not_back() -> None:
    fields, cls = read("Dana is back in contact, she messaged at 20:10 saying she's safe. She "
                       "won't say where she is.")
    assert cls.kind != "returned" and fields.returned_at is None
    assert fields.safe_and_well is None


def test_the_last_of_several_sightings_is_the_last_seen() -> None:
    fields, _cls = read("Dana left here about 4 to go to her friend's. Her friend's mum says she "
                        "left theirs at 7. She hasn't come back.",
                        sent="Fri, 10 Jul 2026 22:10:00 +0100")
    assert fields.last_seen_at == datetime(2026, 7, 10, 18, 0, tzinfo=UTC)
    fields, _cls = read("Update: Dana still missing. Our worker Sam saw Dana at 16:45 today by the "
                        "Co-op; she would not come back with him.",
                        sent="Wed, 21 Jan 2026 17:20:00 +0000")
    assert fields.last_seen_at == datetime(2026, 1, 21, 16, 45, tzinfo=UTC)
    # "hasn't seen Dana at all" is no sighting
    fields, _cls = read("Dana went out at 6. Her friend hasn't seen Dana at all today.",
                        sent="Wed, 21 Jan 2026 20:20:00 +0000")
    assert fields.last_seen_at == datetime(2026, 1, 21, 18, 0, tzinfo=UTC)


def test_a_child_with_the_writer_is_not_reported_on() -> None:
    got = each("Found Dana at the station at 8 and brought her home. Priya was with me in the "
               "car the whole time.")
    assert got == {"11": "returned"}
    got = each("Dana and Marcus came back together at 22:15. Priya has been in all night.")
    assert got == {"11": "returned", "12": "returned"}
    got = each("Dana is still out. Marcus is at home with me.")
    assert got == {"11": "missing"}


def test_shes_safe_after_a_return_is_safe_and_well() -> None:
    fields, cls = read("Dana came back at 7.15pm, she's safe, she'd been at the shops.")
    assert cls.kind == "returned" and fields.safe_and_well is True
    # safe somewhere else is where she is, not how she came back
    fields, _cls = read("Her friend's mum says she's safe at theirs. She is not back.")
    assert fields.safe_and_well is not True


def test_a_forms_reported_by_keeps_the_name_without_the_job() -> None:
    for value, name in (("Marcia Thompson, Senior RSW", "Marcia Thompson"),
                        ("Ann Lee (night staff)", "Ann Lee"),
                        ("Sam Okoro - Deputy Manager", "Sam Okoro"),
                        ("Jo Smith-Jones", "Jo Smith-Jones")):
        fields, _cls = read(f"Child's name: Dana Hughes\nReported by: {value}\nLast seen: 21:00\n"
                            "Dana is still out.")
        assert fields.reporter_name == name, value
