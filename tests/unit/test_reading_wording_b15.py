"""Classes of carers' wording the held-out batch 15 showed the reader missing (issue 13).

Rules for a class of wording each, with examples of our own: signatures as people sign (a name
on the closing line with a role in brackets, a role line then the name, "Role - Name", "Role:
Name", a name under "-- ", a first name with a job after it, the phone's own line left out), a
grading said as a verb ("graded him medium", "put her down as high") or in a table row, the
forwarder's later grading over the forwarded one, "hasn't gone missing since December" is no
report, "last time we see her 3 oclock" is a sighting, "they give me number 4477" is the
reference, and a cut or a walk-in centre is not safe and well.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.wording import read

BODY = "Dana went out at 8 and has not come back. Police told, log 1873 of 07/01/27.\n\n"


def test_signatures_as_people_sign_them() -> None:
    for tail, name in (("Thanks, Bev (night staff)", "Bev"),
                       ("Nights - Oak House\nSean McCarthy (RSW)", "Sean McCarthy"),
                       ("Regards\n\nRes Support Worker | Oak House\nLiam Ferris", "Liam Ferris"),
                       ("Regards,\n\nSenior Residential Worker - Darren Kellett\nOak House",
                        "Darren Kellett"),
                       ("Support Worker: Aisha Begum\nOak House Supported Lodgings", "Aisha Begum"),
                       ("Tom (waking nights)\n\nSent from my Samsung Galaxy smartphone.", "Tom"),
                       ("Kind regards,\n\n--\nPriya Sandhu\nSupervising Social Worker (Duty)\n"
                        "Oak Fostering Ltd | Tel 0161 496 0731", "Priya Sandhu")):
        fields, _cls = read(BODY + tail, sender="Oak House Nights <nights@oak.example>")
        assert fields.reporter_name == name, tail
    # a place or a team on its own is no person
    fields, _cls = read(BODY + "Oak Lodge Nights", sender="nights@oak.example")
    assert fields.reporter_name != "Oak"


def test_a_grading_said_as_a_verb_or_in_a_table() -> None:
    for words, level in (("They have graded him medium.", "medium"),
                         ("Police have been informed and have graded her as high.", "high"),
                         ("They've put her down as medium.", "medium"),
                         ("Risk grading\tHigh (police)", "high")):
        fields, _cls = read(f"Dana has not come back since 8.\n{words}")
        assert fields.risk_level == level, words


def test_the_forwarders_later_grading_wins() -> None:
    fields, _cls = read("Dana is still not home. The police came at 7 and have now graded her "
                        "high risk.\n\n---------- Forwarded message ---------\nFrom: Ann "
                        "<ann@example.org>\nSubject: Dana\n\nDana did not come back at 9. Police "
                        "say she is medium risk for now.", subject="Fwd: Dana")
    assert fields.risk_level == "high"


def test_not_gone_missing_since_is_no_report() -> None:
    _fields, cls = read("Is Dana's review still at 2pm on Thursday? She hasn't gone missing since "
                        "the beginning of December, so we'd like to talk about her curfew.",
                        subject="Dana - review")
    assert cls.kind == "not_a_report"
    # a missing child is still missing
    _fields, cls = read("Dana has gone missing again, not seen since 8.")
    assert cls.kind == "missing"


def test_esol_sighting_and_reference() -> None:
    fields, cls = read("Dana not come back from school today we wait for her. last time we see "
                       "her 3 oclock at bus stop. we call police they give me number 4477",
                       sent="Tue, 15 Dec 2026 20:30:00 +0000")
    assert cls.kind == "missing"
    assert fields.last_seen_at == datetime(2026, 12, 15, 15, 0, tzinfo=UTC)
    assert fields.police_reference == "4477"


def test_a_cut_or_a_walk_in_centre_is_not_safe_and_well() -> None:
    for body in ("Dana came back at about 4. She has a cut on her hand and was very upset, so "
                 "I've taken her to the walk-in centre.",
                 "Dana came back at 4 with bruising on her arm."):
        fields, cls = read(body, sent="Wed, 02 Sep 2026 17:20:00 +0100")
        assert cls.kind == "returned" and fields.safe_and_well is False, body
