"""A first name signed alone is widened to the full name only where the email says who that is
(the display name, the signature under it, the sender's own address), never to another person."""

from __future__ import annotations

import pytest

from mailbridge.reading.names import signed_in_full


def test_the_signature_block_under_the_name_gives_the_surname() -> None:
    text = "Reported to police.\n\nThanks\nNathan\n\nNathan Coupe\nShift Leader\nCalderbrook House"
    assert signed_in_full("Nathan", text, "Calderbrook House", "staff@home.example") == (
        "Nathan Coupe"
    )


def test_the_senders_own_address_gives_the_surname() -> None:
    text = "He's fine, been at his mate's.\n\nDes\n\nSent from my iPad"
    assert signed_in_full("Des", text, None, "des.mulcahy@example.net") == "Des Mulcahy"


def test_the_display_name_gives_the_surname() -> None:
    assert signed_in_full("Alison", "ok\n\nThanks, Alison", "Alison Colquhoun", None) == (
        "Alison Colquhoun"
    )


@pytest.mark.parametrize(
    ("text", "from_name", "from_addr"),
    [
        # another person's name under the signature, a team's name, another first name
        ("ok\n\nNathan\n\nJayce Hinchliffe\nResident", "Calderbrook House", "staff@x.example"),
        ("ok\n\nNathan\n\nNathan Nights Team", None, "staff@x.example"),
        ("ok\n\nDes", "Brenda Mulcahy", "brenda.mulcahy@example.net"),
        ("ok\n\nDes", None, "nights.ashgrove@example.net"),
        ("ok\n\nDes", None, "des@example.net"),
        ("ok\n\nDes", "Ashgrove Nights", "des.x.y@example.net"),
    ],
)
def test_a_first_name_is_not_widened_to_someone_else(
    text: str, from_name: str | None, from_addr: str | None
) -> None:
    first = "Nathan" if "Nathan" in text else "Des"
    assert signed_in_full(first, text, from_name, from_addr) == first


@pytest.mark.parametrize(
    "footer",
    [
        "OFFICIAL-SENSITIVE. This e-mail is intended for the addressee(s) only. If you are not "
        "the intended recipient, please notify the sender immediately and delete it.",
        "The council may monitor e-mail traffic for compliance purposes.",
    ],
)
def test_a_council_disclaimer_under_the_signature_is_not_the_signature(footer: str) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from mailbridge.reading import read_message
    from mailbridge.reading.fields import extract_fields

    raw = (
        "From: Emergency Duty Team <edt@council.example>\nTo: missing@council.example\n"
        "Subject: EDT call\nDate: Sun, 01 Nov 2026 01:40:00 +0000\n\n"
        "Call from the carer at 01:20: Precious has not come home, last seen 13:00 yesterday.\n\n"
        f"Rosalie Dunmore\nEDT Social Worker\n\n{footer}\n"
    ).encode()
    fields = extract_fields(
        read_message(raw),
        tz=ZoneInfo("Europe/London"),
        received_at=datetime(2026, 11, 1, 1, 41, tzinfo=UTC),
    )
    assert fields.reporter_name == "Rosalie Dunmore"
