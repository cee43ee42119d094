"""A reply to one of our own alerts that has lost its Reply-To token (sent to the shared address
by hand): the quoted alert and its subject are our words, so only the new words may make it a
report (issue 13: a social worker's "Thanks - I'm aware" opened a missing episode)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mailbridge.episodes.prepare import read
from mailbridge.reading.loops import OwnMail, answers_own

OWN = OwnMail.of(["missing@council.example"], "council.example")
LONDON = ZoneInfo("Europe/London")
ALERT = ("\n\n________________________________\n"
         "From: Missing Children <missing@council.example>\n"
         "Sent: 07 January 2027 21:00\nTo: Sam Reid\n"
         "Subject: MISSING: Dana Hughes (100201) - Oak House\n\n"
         "Dana Hughes (100201) has been reported missing from Oak House.\n"
         "Last seen: 07/01/2027 20:10\nPolice reference: PR/27/1234\n")


def _reply(words: str, sender: str = "sam.reid@council.example") -> bytes:
    return (f"From: {sender}\nTo: missing@council.example\n"
            "Subject: RE: MISSING: Dana Hughes (100201) - Oak House\n"
            "Date: Thu, 07 Jan 2027 21:20:00 +0000\n\n" + words + ALERT).encode()


def _kind(raw: bytes) -> str:
    return read(raw, tz=LONDON, received_at=datetime(2027, 1, 7, 21, 21, tzinfo=UTC),
                own=OWN).kind


def test_a_reply_with_no_news_under_our_alert_is_no_report() -> None:
    assert _kind(_reply("Thanks - I'm aware, the home rang me. I'll ring them when I'm back in "
                        "the office.\n\nSam")) == "not_a_report"


def test_news_in_the_new_words_still_counts() -> None:
    assert _kind(_reply("She's back, walked in at 21:15.\n\nSam")) == "returned"
    assert _kind(_reply("Police have given a new reference, 26000012345.\n\nSam")) == "info"
    assert _kind(_reply("Still no sign of her.\n\nSam")) == "missing"


def test_only_our_own_mail_quoted_counts() -> None:
    # the same reply under a carer's report (not our mail) is read as before: the report's
    # facts are the carer's, and dropping them could lose a report sent only to staff
    raw = _reply("Thanks - adding the missing team.").replace(
        b"Missing Children <missing@council.example>", b"Oak House <oakhouse@example.org>")
    assert _kind(raw) != "not_a_report"


def test_answers_own_reads_the_quote_header_and_message_ids() -> None:
    from mailbridge.reading import read_message
    assert answers_own(read_message(_reply("ok")), OWN)
    other = read_message(b"From: a@b.example\nTo: missing@council.example\nSubject: x\n\nhello\n"
                         b"\nOn Thu, 7 Jan 2027, Oak House <oakhouse@example.org> wrote:\n> hi\n")
    assert not answers_own(other, OWN)
    ours = read_message(b"From: a@b.example\nTo: missing@council.example\nSubject: Re: x\n"
                        b"In-Reply-To: <mb.0123456789abcdef0123456789abcdef@council.example>\n"
                        b"\nok\n")
    assert answers_own(ours, OWN)
