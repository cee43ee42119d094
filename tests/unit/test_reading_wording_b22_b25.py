"""Classes of carers' wording the held-out batches 22 to 25 showed the reader missing (issue 13).

Batches 22, 24 and 25 were realistic months (first scores 86.2%, 85.6% and 93.6%); batch 23 the
hard, safety-relevant days (83.9%). Unsafe at first score: batch 23, a missing report that also
said a sibling "came home at 7 ... like he was supposed to"; batch 25, a friend who "came home on
his own" read as the child's return. Two missing reports typed without stops, or told as "gone
out over the flat roof", read as no report at all. Examples are our own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from mailbridge.directory.records import ChildRecord
from mailbridge.reading import extract_fields, read_message
from mailbridge.reading.children import read_each_child
from mailbridge.reading.match import match_child
from mailbridge.reading.times import read_when
from tests.support.wording import LONDON, OAK, each, read


def test_a_sibling_home_as_planned_is_no_return() -> None:
    _fields, cls = read("I need to report Dana Hughes missing. She and Marcus went to the park at "
                        "5. Marcus came home at 6.30 on his own, like he was supposed to. Dana "
                        "went off with some girls at about 6 and her phone is off.")
    assert cls.kind == "missing"
    # and the same words without the plan are still a return
    _fields, cls = read("Dana came home at 6.30 on her own.")
    assert cls.kind == "returned"


def test_quoted_speech_is_not_the_writers_word() -> None:
    _fields, cls = read('This is not a missing report - Dana is here with staff. She told her key '
                        'worker this morning that she is going to run off to her cousin\'s at the '
                        'weekend "and not come back this time".')
    assert cls.kind == "not_a_report"


def test_evening_times_are_afternoon_hours() -> None:
    base = datetime(2027, 6, 14, 22, 15, tzinfo=LONDON)
    for phrase, hour, minute in (("left at quarter to six this evening", 17, 45),
                                 ("went out at 5.45 this evening", 17, 45),
                                 ("yesterday evening at 7", 19, 0)):
        when, _why = read_when(phrase, base)
        assert when is not None and (when.hour, when.minute) == (hour, minute), phrase


def test_a_signature_above_the_small_print_is_the_reporter() -> None:
    fields, _cls = read("Dana has not come back from school and is not answering.\n\n"
                        "Kim Osei\nSenior RSW, Oak House\n\n"
                        "This email and any attachments are confidential and intended solely for "
                        "the addressee. Oak House is registered with Ofsted.",
                        sender="Oak House <oakhouse@example.org>")
    assert fields.reporter_name == "Kim Osei"
    fields, _cls = read("Dana has not come back.\n\nKim Osei\nNight RSW\nOak House\n0113 496 0001",
                        sender="Oak House Nights <oakhouse@example.org>")
    assert fields.reporter_name == "Kim Osei"
    fields, _cls = read("Dana walked in at 9.40pm, safe and well.\nKim - nights",
                        sender="Oak House Nights <oakhouse@example.org>")
    assert fields.reporter_name == "Kim"


def test_a_sighting_taken_back_is_not_the_last_seen() -> None:
    fields, _cls = read("Dana left at twenty past 7 this evening. At about 10 one of the lads said "
                        "he'd seen Dana by the shop. We went straight down and it wasn't her. Dana "
                        "is still out.", sent="Thu, 07 Jan 2027 23:30:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 7, 19, 20, tzinfo=UTC)


def test_back_then_gone_again_is_missing_without_a_conflict() -> None:
    fields, cls = read("You had my email on Monday night. The police brought her home yesterday "
                       "at 7am. Tonight she's gone again: she went back out at about quarter to 9 "
                       "and has not come back. They gave me a log number, 1377 of 07/01/27.",
                       sent="Thu, 07 Jan 2027 23:05:00 +0000")
    assert cls.kind == "missing" and not cls.doubts
    assert fields.last_seen_at == datetime(2027, 1, 7, 20, 45, tzinfo=UTC)
    assert fields.police_reference == "log 1377 of 07/01/2027"


def test_a_form_return_part_answered_not_yet_is_blank() -> None:
    fields, cls = read("--- MISSING ---\nChild's name: Dana Hughes\nDate and time last seen: "
                       "07/01/2027 21:40\nWhere last seen: her room\n\n--- RETURN (when the child "
                       "is back) ---\nChild's name: Dana Hughes\nDate and time returned: not "
                       "returned yet\nSafe and well: don't know\n",
                       sent="Thu, 07 Jan 2027 23:30:00 +0000")
    assert cls.kind == "missing" and not cls.doubts
    assert fields.form_report_type == "missing"


def test_a_sibling_said_only_to_be_home_is_not_read() -> None:
    got = each("Dana Hughes hasn't come home. She was last seen at 20:15 by the Co-op.\n\n"
               "Marcus is home. Priya is fine and in bed.")
    assert got == {"11": "missing"}


def test_a_message_typed_without_stops_keeps_its_cues() -> None:
    fields, cls = read("hi its dana's nan she has not come home she was ment to be in for her tea "
                       "at 6 its gone 7 now ive rang her phone about 20 times it just rings out "
                       "her friend says they was at the park till about 4 oclock then dana went "
                       "off on her own and nobody has seen her since then",
                       sent="Thu, 07 Jan 2027 19:10:00 +0000")
    assert cls.kind == "missing"
    assert fields.last_seen_at == datetime(2027, 1, 7, 16, 0, tzinfo=UTC)


def test_an_escape_over_the_roof_is_an_absence_of_both() -> None:
    got = each("both of them have gone out tonight dana and marcus. the window was wide open and "
               "they have gone out over the flat roof. i rang 999.")
    assert got == {"11": "missing", "12": "missing"}


def test_a_second_hand_missing_the_writer_denies_is_no_report() -> None:
    _fields, cls = read("A police officer came to the door at 10 last night. He said someone had "
                        "rung in to say she was missing. Dana has NOT been missing at any point; "
                        "she was in bed.")
    assert cls.kind == "not_a_report"
    # "hasn't been missing long" is a report
    _fields, cls = read("Dana hasn't been missing long, she went out at 9 and is not back.")
    assert cls.kind == "missing"


def test_telegraph_returns_and_things_that_are_not_returns() -> None:
    fields, cls = read("Dana home 9.20. All ok.", subject="Re: Dana missing")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 7, 21, 20, tzinfo=UTC)
    _fields, cls = read("Dana has gone missing again. She went out at half twelve. NB the clocks "
                        "went back at 2 tonight.", sent="Sun, 31 Oct 2027 03:20:00 +0000")
    assert cls.kind == "missing" and not cls.doubts
    _fields, cls = read("Dana went to the shop at 12.40 and has not come back. The assistant said "
                        "a girl matching her description came in and left with a lad.")
    assert cls.kind == "missing" and not cls.doubts


def test_risk_raised_and_the_last_time_i_actually_saw() -> None:
    fields, _cls = read("Update on Dana: her risk level has been raised to HIGH by police.")
    assert fields.risk_level == "high"
    fields, _cls = read("Update on Dana: Dana's risk level is now medium.")
    assert fields.risk_level == "medium"
    fields, _cls = read("The last time I actually saw Dana was this morning about 11 o'clock. She "
                        "has not come home and texted me at half ten last night.",
                        sent="Thu, 07 Jan 2027 20:00:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 7, 11, 0, tzinfo=UTC)


def test_a_deadline_before_a_timed_return_is_the_story() -> None:
    fields, cls = read("Dana went out at 21:00, not back by curfew (22:00), reported to police "
                       "22:20. Returned 00:35 by taxi. Safe and well.",
                       sent="Fri, 08 Jan 2027 07:40:00 +0000")
    assert cls.kind == "returned" and not cls.doubts
    assert fields.returned_at == datetime(2027, 1, 8, 0, 35, tzinfo=UTC)
    # with no time to the return, the two still disagree: the safe state
    _fields, cls = read("Dana was not back by curfew. She came back, I think.")
    assert cls.kind == "missing"


def test_a_check_that_found_the_child_and_going_into_a_place() -> None:
    fields, _cls = read("Dana has gone out through her window. I checked on her at 00:50 and she "
                        "was in bed. At 2.30 her room was empty.", sent="Fri, 08 Jan 2027 03:00:00 "
                        "+0000")
    assert fields.last_seen_at == datetime(2027, 1, 8, 0, 50, tzinfo=UTC)
    fields, _cls = read("Dana went into the toilets in the shopping centre at about ten to 2 and "
                        "didn't come out.", sent="Thu, 07 Jan 2027 16:00:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 7, 13, 50, tzinfo=UTC)


def _home(cid: str, first: str, last: str, emails: tuple[str, ...]) -> ChildRecord:
    return ChildRecord(cid, first, last, date(2011, 1, 1), "Westcote", "Children's home", emails,
                       {})


def _match(body: str, sender: str, children: list[ChildRecord]) -> str | None:
    raw = f"From: {sender}\nTo: m@example.org\nSubject: update\n\n{body}\n".encode()
    msg = read_message(raw)
    fields = extract_fields(msg, tz=LONDON, received_at=datetime(2027, 1, 7, 12, tzinfo=UTC))
    return match_child(subject=msg.subject, text=msg.text, fields=fields, sender=msg.from_addr,
                       children=children).child_id


def test_a_homes_staff_from_the_homes_domain_and_initials() -> None:
    home = [_home("21", "Bradley", "Cole", ("office@westcote.example",)),
            _home("22", "Jade", "Wynn", ("office@westcote.example",))]
    assert _match("Bradley is back.", "m.zed@westcote.example", home) == "21"
    assert _match("JW came back at 10.30. SW informed.", "office@westcote.example", home) == "22"
    # a public mailbox domain says nothing of where the sender works
    gmail = [_home("23", "Bradley", "Cole", ("carer.one@gmail.com",))]
    assert _match("Bradley is back.", "someone.else@gmail.com", gmail) is None


def test_a_siblings_police_reference_quoted_below_a_reply_is_not_their_news() -> None:
    raw = (b"From: oakhouse@example.org\nTo: m@example.org\nSubject: Re: Dana missing\n"
           b"Date: Fri, 08 Jan 2027 07:00:00 +0000\n\n"
           b"Dana came in at half 1 this morning, safe and well.\n\n"
           b"Marcus and Priya off to school as normal.\n\n"
           b"On Thu, 7 Jan 2027 at 22:00, Oak House wrote:\n"
           b"> Dana is missing. Police ref 26000012345.\n")
    msg = read_message(raw)
    received = datetime(2027, 1, 8, 7, 1, tzinfo=UTC)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    got = read_each_child(msg, fields, sender="oakhouse@example.org", children=OAK, tz=LONDON,
                          received_at=received)
    assert {r.child_id: r.classification.kind for r in got or []} == {"11": "returned"}


def test_news_told_again_in_a_request_is_no_report() -> None:
    _fields, cls = read("Please could you book Dana's return home interview. She went missing on "
                        "Friday night and came back on Saturday at about 2pm; the home reported "
                        "both at the time.", sender="sw@council.example")
    assert cls.kind == "not_a_report"
    # a return report that asks for the interview is still a return
    _fields, cls = read("Dana came back at 9.15pm, safe and well. Please can you request the "
                        "return home interview.")
    assert cls.kind == "returned"


def test_what_the_child_says_counts_when_the_writer_sees_them_home() -> None:
    fields, cls = read("Aye she's in her bed. She says she came in at twenty past two. She's fine.",
                       subject="Re: Dana not back", sent="Fri, 08 Jan 2027 09:00:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 8, 2, 20, tzinfo=UTC)
    # asleep somewhere else is not home
    _fields, cls = read("Her friend's mum says Dana came in to theirs at 2. She's asleep at "
                        "theirs now.", subject="Re: Dana not back")
    assert cls.kind != "returned"


def test_an_old_date_is_never_the_day_of_a_sighting() -> None:
    fields, _cls = read("Dana Hughes (01/04/2010) and Priya Shah (17/02/2011) are both missing. "
                        "They were last seen by staff at 20:40 by the shop.",
                        sent="Thu, 07 Jan 2027 23:00:00 +0000")
    assert fields.last_seen_at == datetime(2027, 1, 7, 20, 40, tzinfo=UTC)


def test_a_seasons_greeting_is_no_name_and_a_first_name_takes_the_senders_surname() -> None:
    fields, _cls = read("Dana came back at ten to three, police brought her. She is ok.\n\n"
                        "Merry Christmas\nKim", sender="Kim Osei <kim.osei@example.org>")
    assert fields.reporter_name == "Kim Osei"


def test_a_reply_naming_a_friend_who_came_home_keeps_the_child_missing() -> None:
    _fields, cls = read("Dana went to the fair with her friend Rory at 2. She was supposed to be "
                        "home by 8. Rory came home on his own at half 7 and says they split up.",
                        sent="Thu, 07 Jan 2027 22:00:00 +0000")
    assert cls.kind == "missing" and cls.doubts


def test_police_in_scots_and_a_reference_after_a_comma() -> None:
    fields, _cls = read("Dana's no back. I phoned the polis and the number is PS-20270107-0157.")
    assert fields.police_reference == "PS-20270107-0157"
    fields, _cls = read("Dana has not come home. Police gave me an occurrence number, 2700438817.")
    assert fields.police_reference == "2700438817"
    fields, _cls = read("Dana not back. They gave me a log number, 1377 of 07/01/27.")
    assert fields.police_reference == "log 1377 of 07/01/2027"


def test_the_arrival_told_after_the_return_gives_its_time() -> None:
    fields, cls = read("Dana's back. A taxi dropped her at the front at 1.10, she won't say whose "
                       "it was. She's fine.", sent="Fri, 08 Jan 2027 02:00:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 8, 1, 10, tzinfo=UTC)
    fields, cls = read("Dana rang the doorbell at ten past 1, she walked back on her own.",
                       sent="Fri, 08 Jan 2027 02:00:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 8, 1, 10, tzinfo=UTC)
    _fields, cls = read("Dana is still out. Police knocked on the door at 2 to ask for a photo.",
                        sent="Fri, 08 Jan 2027 02:30:00 +0000")
    assert cls.kind == "missing"


def test_batches_26_and_27_classes() -> None:
    fields, cls = read("hello again its dana's nan. police brought dana home at 20 past 12 she is "
                       "ok just cold", subject="Re: dana", sent="Fri, 08 Jan 2027 01:00:00 +0000")
    assert cls.kind == "returned"
    assert fields.returned_at == datetime(2027, 1, 8, 0, 20, tzinfo=UTC)
    _fields, cls = read("Dana has gone out without permission, over the back gate at half 12.",
                        sent="Fri, 08 Jan 2027 01:00:00 +0000")
    assert cls.kind == "missing"
    fields, _cls = read("Dana is still not back. I spoke to her carer and we agreed the risk as "
                        "MEDIUM.")
    assert fields.risk_level == "medium"
    fields, _cls = read("Dana Hughes's risk level for missing episodes has been raised to HIGH.")
    assert fields.risk_level == "high"
    # someone else who was not in is not the child
    _fields, cls = read("Dana is home. She walked in at twenty past 3. She'd been to her old house "
                        "but her mum wasn't in so she sat in the park.",
                        sent="Thu, 07 Jan 2027 16:00:00 +0000")
    assert cls.kind == "returned" and not cls.doubts
    # the writer's word that the child was never reported missing
    _fields, cls = read("For information only. Dana's carer rang at 20:55 because Dana was late "
                        "back; she rang back at 21:20 to say Dana had walked in. Dana was never "
                        "reported missing.")
    assert cls.kind == "not_a_report"


def test_asleep_somewhere_the_writer_cannot_see_is_no_return() -> None:
    _fields, cls = read("Her friend's mum says Dana is back at theirs. She's asleep.",
                        subject="Re: Dana not back")
    assert cls.kind != "returned"


def test_someone_elses_return_never_ends_the_story_of_the_absence() -> None:
    # "not back by curfew" before a timed return is the story only when the return is the
    # child's: another person's return leaves the child missing
    _fields, cls = read("Dana went out at 7 with her sister. Dana was not back by curfew (22:00). "
                        "Her sister came back at 23:10 without her.",
                        sent="Thu, 07 Jan 2027 23:30:00 +0000")
    assert cls.kind == "missing"
    _fields, cls = read("Dana and her sister came back at 23:10.", sent="Thu, 07 Jan 2027 23:30:00 "
                        "+0000")
    assert cls.kind == "returned"
    _fields, cls = read("Dana came home at 11 without her phone.", sent="Thu, 07 Jan 2027 23:30:00 "
                        "+0000")
    assert cls.kind == "returned"


def test_not_missing_before_is_no_denial() -> None:
    _fields, cls = read("Dana went out at 9. She has not been missing before, so I am worried.")
    assert cls.reason != "the writer says the child is not missing"
