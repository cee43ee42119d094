"""interview_form: the return home interview outcome form, its variants and quality rules."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbridge.reading import interview_form
from mailbridge.reading.interview_form import (
    DEFAULT_REASON_CODES,
    InterviewOutcome,
    filled_fields,
    match_reason_codes,
    parse_interview_outcome,
)

TODAY = date(2026, 3, 20)
TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "return-interview-form.txt"

COMPLETE = """\
Reference: MB-2026-00042
Result: completed
Date: 18/03/2026
Interviewer: Sam Patel (Children's Society)
Reasons for going missing: family_contact, friends
Reason notes: Wanted to see her mum.
Risks identified: none
Actions agreed: SW to review contact plan by 27/03
"""


def parse(text: str, **kw: object) -> InterviewOutcome:
    return parse_interview_outcome(text, today=TODAY, **kw)  # type: ignore[arg-type]


def fill(answers: dict[str, str]) -> str:
    """The shipped template with answers written after the labels (hints left in place)."""
    lines = []
    for line in TEMPLATE.read_text(encoding="utf-8").splitlines():
        filled = line
        for label, answer in answers.items():
            if line.startswith(label) and line.rstrip().endswith(":"):
                filled = f"{line} {answer}"
        lines.append(filled)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# the template


def test_blank_template_reads_as_nothing() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert filled_fields(text) == frozenset()
    outcome = parse(text)
    assert outcome.result is None
    assert outcome.missing_parts == ("result", "date")
    assert outcome.reference is None  # "MB-YYYY-NNNNN" in the hints is not a reference


def test_template_lists_every_default_code_and_every_field() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    for code in DEFAULT_REASON_CODES:
        assert f"  {code} " in text
    labelled = {line.split(":")[0] for line in text.splitlines() if line.rstrip().endswith(":")}
    fields = {interview_form._label_of(label) for label in labelled} - {None}
    assert fields == set(interview_form.INTERVIEW_FIELDS)


def test_filled_template_parses() -> None:
    text = fill(
        {
            "Reference": "MB-2026-00042",
            "Result": "completed",
            "Date": "18/03/2026",
            "Interviewer": "Sam Patel, Children's Society",
            "Reasons for going missing": "placement_conflict, exploitation_cce; substance_use",
            "Reason notes": "Said he was told to carry a bag to Leeds.",
            "Risks identified": "County lines involvement; older males.",
            "Actions agreed": "NRM referral by SW; strategy meeting 21/03.",
        }
    )
    outcome = parse(text)
    assert outcome == InterviewOutcome(
        reference="MB-2026-00042",
        result="completed",
        date=date(2026, 3, 18),
        reason_not_held=None,
        interviewer="Sam Patel, Children's Society",
        reason_codes=("placement_conflict", "exploitation_cce", "substance_use"),
        unknown_reasons=(),
        reason_notes="Said he was told to carry a bag to Leeds.",
        risks="County lines involvement; older males.",
        actions="NRM referral by SW; strategy meeting 21/03.",
        missing_parts=(),
    )
    assert outcome.complete
    assert outcome.counts_as_completed


def test_filled_template_declined() -> None:
    text = fill(
        {
            "Reference": "mb-2026-00042",
            "Result": "declined",
            "Date": "19 March",
            "Reason not held": "Child said she did not want to talk to anyone.",
        }
    )
    outcome = parse(text)
    assert outcome.result == "declined"
    assert outcome.reference == "MB-2026-00042"
    assert outcome.date == date(2026, 3, 19)
    assert outcome.reason_not_held == "Child said she did not want to talk to anyone."
    assert outcome.missing_parts == ()
    assert outcome.complete
    assert not outcome.counts_as_completed


# ---------------------------------------------------------------------------------------------
# results and their variants


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("offered", "offered"),
        ("Offered - letter sent", "offered"),
        ("interview arranged for Friday", "offered"),
        ("accepted", "accepted"),
        ("offered and accepted", "accepted"),
        ("Agreed to meet", "accepted"),
        ("declined", "declined"),
        ("Offered, declined", "declined"),
        ("refused", "declined"),
        ("child refused to engage", "declined"),
        ("not held", "declined"),
        ("Not completed", "declined"),
        ("did not attend", "declined"),
        ("DNA", "declined"),
        ("didn't turn up", "declined"),
        ("completed", "completed"),
        ("Complete", "completed"),
        ("done", "completed"),
        ("held", "completed"),
        ("Interview held 18/03", "completed"),
        ("RHI completed by Barnardo's", "completed"),
        ("took place at school", "completed"),
        ("not yet held, offered for 25/03", "offered"),
        ("incomplete", None),
        ("who knows", None),
    ],
)
def test_result_variants(value: str, expected: str | None) -> None:
    assert parse(f"Result: {value}").result == expected


@pytest.mark.parametrize(
    "label",
    ["Result", "Outcome", "Interview outcome", "RHI outcome", "RESULT", "result (offered etc)"],
)
def test_result_label_variants(label: str) -> None:
    assert parse(f"{label}: completed").result == "completed"


def test_labels_are_case_and_punctuation_insensitive() -> None:
    text = COMPLETE.replace("Reasons for going missing", "REASONS FOR GOING MISSING").replace(
        "Risks identified", "risks-identified"
    )
    text = text.replace("Actions agreed:", "* Actions Agreed :")
    assert parse(text).missing_parts == ()


def test_quoted_and_bulleted_lines_are_read() -> None:
    text = "\n".join(f"> {line}" for line in COMPLETE.splitlines())
    assert parse(text).missing_parts == ()


def test_answers_on_the_lines_below_the_label() -> None:
    text = """\
Reference: MB-2026-00042
Result:
completed
Date:
18/03/2026
Interviewer: Sam Patel
Reasons for going missing:
- friends
- drugs
Risks identified:
Staying out late with older peers.
Possible cannabis use.

Actions agreed:
1. Safety plan updated
2. Referral to substance misuse service
Some prose after a blank line is not part of the form.
"""
    outcome = parse(text)
    assert outcome.result == "completed"
    assert outcome.date == date(2026, 3, 18)
    assert outcome.reason_codes == ("friends", "substance_use")
    assert outcome.risks == "Staying out late with older peers.\nPossible cannabis use."
    assert outcome.actions is not None
    assert outcome.actions.startswith("1. Safety plan updated\n2. Referral")
    assert outcome.missing_parts == ()


# ---------------------------------------------------------------------------------------------
# dates


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("18/03/2026", date(2026, 3, 18)),
        ("18/3/26", date(2026, 3, 18)),
        ("18.03.2026", date(2026, 3, 18)),
        ("2026-03-18", date(2026, 3, 18)),
        ("18th March 2026", date(2026, 3, 18)),
        ("Wed 18 March", date(2026, 3, 18)),
        ("01/03", date(2026, 3, 1)),  # day first: 1 March, not 3 January
        ("today", TODAY),
        ("yesterday", date(2026, 3, 19)),
        ("18/03/2026 at 15:30", date(2026, 3, 18)),
        ("next week sometime", None),
    ],
)
def test_dates_day_first(value: str, expected: date | None) -> None:
    assert parse(f"Result: offered\nDate: {value}").date == expected


def test_a_date_without_a_year_takes_the_nearest_year() -> None:
    new_year = date(2026, 1, 3)
    outcome = parse_interview_outcome("Result: completed\nDate: 30/12", today=new_year)
    assert outcome.date == date(2025, 12, 30)
    outcome = parse_interview_outcome("Result: offered\nDate: 5/1", today=date(2025, 12, 20))
    assert outcome.date == date(2026, 1, 5)


def test_the_date_can_ride_on_the_result_line() -> None:
    outcome = parse("Result: completed on 18/03/2026")
    assert outcome.result == "completed"
    assert outcome.date == date(2026, 3, 18)


# ---------------------------------------------------------------------------------------------
# quality rules


def test_complete_outcome_has_nothing_missing() -> None:
    outcome = parse(COMPLETE)
    assert outcome.missing_parts == ()
    assert outcome.risks == "none"  # "None" is an answer


@pytest.mark.parametrize(
    ("drop", "missing"),
    [
        ("Reasons for going missing", ("reasons",)),
        ("Risks identified", ("risks identified",)),
        ("Actions agreed", ("actions agreed",)),
        ("Interviewer", ("interviewer",)),
        ("Date", ("date",)),
    ],
)
def test_completed_missing_one_part(drop: str, missing: tuple[str, ...]) -> None:
    text = "\n".join(line for line in COMPLETE.splitlines() if not line.startswith(drop + ":"))
    outcome = parse(text)
    assert outcome.result == "completed"
    assert outcome.missing_parts == missing
    assert not outcome.counts_as_completed


def test_completed_missing_several_parts_names_them_all() -> None:
    outcome = parse("Reference: MB-2026-00042\nResult: done\nDate: 18/3/2026\nInterviewer: Sam")
    assert outcome.missing_parts == ("reasons", "risks identified", "actions agreed")


@pytest.mark.parametrize("non_answer", ["N/A", "n/a", "tbc", "-", "?", "[ ]", "___"])
def test_non_answers_do_not_fill_a_part(non_answer: str) -> None:
    text = COMPLETE.replace("Risks identified: none", f"Risks identified: {non_answer}")
    assert parse(text).missing_parts == ("risks identified",)


def test_declined_needs_a_reason_not_held() -> None:
    outcome = parse("Reference: MB-2026-00042\nResult: declined\nDate: 19/03/2026")
    assert outcome.missing_parts == ("reason not held",)
    assert not outcome.complete
    outcome = parse("Result: not held\nDate: 19/03/2026\nReason not held: YP did not attend x2")
    assert outcome.result == "declined"
    assert outcome.missing_parts == ()


def test_bare_reason_label_follows_the_result() -> None:
    declined = parse("Result: refused\nDate: 19/3/2026\nReason: did not want to talk")
    assert declined.reason_not_held == "did not want to talk"
    assert declined.missing_parts == ()
    completed = parse(COMPLETE.replace("Reasons for going missing:", "Reason:"))
    assert completed.reason_codes == ("family_contact", "friends")
    assert completed.missing_parts == ()


def test_offered_and_accepted_need_only_a_date() -> None:
    assert parse("Result: offered\nDate: 25/03/2026").missing_parts == ()
    assert parse("Result: accepted").missing_parts == ("date",)


def test_no_result_is_missing() -> None:
    assert parse("Date: 18/03/2026\nRisks identified: none").missing_parts == ("result",)


def test_a_completed_interview_cannot_be_in_the_future() -> None:
    outcome = parse(COMPLETE.replace("18/03/2026", "28/03/2026"))
    assert outcome.missing_parts == ("date (not in the future)",)
    assert parse("Result: offered\nDate: 28/03/2026").missing_parts == ()


def test_reference_is_found_in_the_text_when_not_labelled() -> None:
    text = "Re: MB 2026 00042\n" + "\n".join(COMPLETE.splitlines()[1:])
    assert parse(text).reference == "MB-2026-00042"
    assert parse("Result: done").reference is None


# ---------------------------------------------------------------------------------------------
# reasons for going missing


@pytest.mark.parametrize(
    ("value", "codes"),
    [
        ("CSE", ("exploitation_cse",)),
        ("child sexual exploitation", ("exploitation_cse",)),
        ("CCE", ("exploitation_cce",)),
        ("county lines", ("exploitation_cce",)),
        ("CSE/CCE", ("exploitation_cse", "exploitation_cce")),
        ("drugs", ("substance_use",)),
        ("alcohol", ("substance_use",)),
        ("drugs and alcohol", ("substance_use",)),
        ("wanted to see mum", ("family_contact",)),
        ("wanted to see family", ("family_contact",)),
        ("argument with carer", ("placement_conflict",)),
        ("Placement conflict", ("placement_conflict",)),
        ("placement_conflict", ("placement_conflict",)),
        ("Exploitation (CSE)", ("exploitation_cse",)),
        ("bullied at school", ("bullying",)),
        ("friends; bullying\nmental health", ("friends", "bullying", "mental_health")),
        ("went to see boyfriend", ("relationship",)),
        ("would not say", ("unknown",)),
        ("unknown", ("unknown",)),
        ("other", ("other",)),
    ],
)
def test_reason_variants(value: str, codes: tuple[str, ...]) -> None:
    found, unknown = match_reason_codes(value)
    assert found == codes
    assert unknown == ()


def test_unknown_reasons_are_reported() -> None:
    text = COMPLETE.replace("family_contact, friends", "friends, boredom, ufo sighting")
    outcome = parse(text)
    assert outcome.reason_codes == ("friends",)
    assert outcome.unknown_reasons == ("boredom", "ufo sighting")
    assert outcome.missing_parts == ()


def test_only_unknown_reasons_means_reasons_are_missing() -> None:
    outcome = parse(COMPLETE.replace("family_contact, friends", "boredom"))
    assert outcome.reason_codes == ()
    assert outcome.unknown_reasons == ("boredom",)
    assert outcome.missing_parts == ("reasons",)


def test_codes_are_configurable() -> None:
    codes = {"school": ["school", "exclusion", "excluded"], "unknown": ["not known"]}
    text = COMPLETE.replace("family_contact, friends", "excluded from school, friends")
    outcome = parse(text, codes=codes)
    assert outcome.reason_codes == ("school",)
    assert outcome.unknown_reasons == ("friends",)
    # a synonym given as a bare string is one synonym, not letters
    found, _ = match_reason_codes("excluded", {"school": "excluded"})
    assert found == ("school",)


def test_duplicate_reasons_are_kept_once() -> None:
    found, unknown = match_reason_codes("CSE, child sexual exploitation, cse, boredom, boredom")
    assert found == ("exploitation_cse",)
    assert unknown == ("boredom",)


# ---------------------------------------------------------------------------------------------
# never raises


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000))
def test_the_reader_itself_never_raises(text: str) -> None:
    # the private reader, so the public guard cannot hide a bug
    outcome = interview_form._parse_outcome(text, DEFAULT_REASON_CODES, TODAY)
    assert isinstance(outcome.missing_parts, tuple)


_LABEL_WORDS = st.sampled_from(
    [
        "Result",
        "Date",
        "Reference",
        "Reasons for going missing",
        "Reason",
        "Risks identified",
        "Actions agreed",
        "Interviewer",
        "Reason not held",
        "Notes",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_LABEL_WORDS, st.text(max_size=60), st.sampled_from([":", "\t", "?", " :"])),
        max_size=12,
    ),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)),
)
def test_form_shaped_fuzz_never_raises(rows: list[tuple[str, str, str]], today: date) -> None:
    text = "\n".join(f"{label}{sep} {value}" for label, value, sep in rows)
    outcome = interview_form._parse_outcome(text, DEFAULT_REASON_CODES, today)
    assert outcome.result in {None, "offered", "accepted", "declined", "completed"}
    assert parse_interview_outcome(text, today=today) == outcome


def test_public_parser_survives_bad_input() -> None:
    assert parse_interview_outcome(None, today=TODAY).missing_parts == ("result", "date")  # type: ignore[arg-type]
    weird_codes = {"x": None}
    assert parse(COMPLETE, codes=weird_codes).result == "completed"
