"""Ways of saying a child left that carry the last sighting: slang ("did a runner", "did one",
"legged it"), the signing-out book ("signed out at 2") and a room check that found the child
("At the 10pm room check Marcus was in his room"); a check that found the room empty is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.carer_mail import read_carer_mail


def last_seen(body: str) -> datetime | None:
    fields, _cls = read_carer_mail(
        body,
        sent="Wed, 20 Jan 2027 23:20:00 +0000",
        received=datetime(2027, 1, 20, 23, 21, tzinfo=UTC),
    )
    return fields.last_seen_at


@pytest.mark.parametrize(
    "body",
    [
        "Dana did a runner out the back fire door about 20 past 4 this aft. Police informed.",
        "dana did one at about 20 past 4 after a row, not answering her phone",
        "Dana legged it from the shop at 16:20 when staff turned round. Not back.",
        "dana not back. signed out at 4.20 said she was going to her mates, not answering since 6",
    ],
)
def test_slang_and_the_signing_out_book_give_the_time_she_left(body: str) -> None:
    assert last_seen(body) == datetime(2027, 1, 20, 16, 20, tzinfo=UTC)


def test_the_last_check_that_found_the_child_is_the_last_sighting() -> None:
    body = (
        "Marcus is missing. At the 10pm room check Marcus was in his room on his PlayStation. "
        "At the 11pm check his room was empty and the window was open."
    )
    assert last_seen(body) == datetime(2027, 1, 20, 22, 0, tzinfo=UTC)
