"""The pure casework decisions (mailbridge/episodes/decisions.py): every operation's changes and
every refusal, on plain facts, with no database and no clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from mailbridge.episodes import decisions as d
from mailbridge.episodes.decisions import Change, Facts
from mailbridge.errors import CaseworkRefused, MailbridgeError

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
OPENED = datetime(2026, 12, 1, 22, 40, tzinfo=UTC)
SEEN = datetime(2026, 12, 1, 21, 50, tzinfo=UTC)
UNMATCHED = Facts("MB-2026-00007", None, "open", OPENED, last_seen_at=SEEN)
LINKED = replace(UNMATCHED, child_id="100231")


def refused(match: str) -> Any:
    return pytest.raises(CaseworkRefused, match=match)


def test_refusal_is_a_mailbridge_error_so_the_cli_exits_1_with_one_line() -> None:
    assert issubclass(CaseworkRefused, MailbridgeError)


def test_link() -> None:
    assert d.link(UNMATCHED, " 100231 ", known_child=True) == (
        Change("child_id", None, "100231"),
        Change("match_method", None, "staff"),
    )
    with refused("already linked to child 100231"):
        d.link(LINKED, "100232", known_child=True)
    with refused("no child with ID '999999'"):
        d.link(UNMATCHED, "999999", known_child=False)
    with refused("void; reopen it first"):
        d.link(replace(UNMATCHED, status="void"), "100231", known_child=True)


def test_returned_and_its_refusals() -> None:
    at = datetime(2026, 12, 2, 14, 30, tzinfo=UTC)
    assert d.returned(LINKED, at, by="Priya Shah", now=NOW) == (
        Change("status", "open", "returned"),
        Change("returned_at", None, at),
        Change("returned_by", None, "Priya Shah"),
    )
    with refused("before the last sighting"):
        d.returned(LINKED, SEEN - timedelta(minutes=1), by="x", now=NOW)
    with refused("in the future"):
        d.returned(LINKED, NOW + timedelta(minutes=1), by="x", now=NOW)
    with refused("already returned"):
        d.returned(replace(LINKED, status="returned", returned_at=at), at, by="x", now=NOW)
    with refused("cannot close it"):
        d.returned(replace(LINKED, status="void"), at, by="x", now=NOW)


def test_void_and_reopen() -> None:
    assert d.void(LINKED, "  not   one of ours ") == (
        Change("status", "open", "void"),
        Change("void_reason", None, "not one of ours"),
    )
    with refused("needs a reason"):
        d.void(LINKED, "  ")
    voided = replace(LINKED, status="void", void_reason="test")
    with refused("already void"):
        d.void(voided, "again")
    assert d.reopen(voided, "it was ours") == (
        Change("status", "void", "open"),
        Change("void_reason", "test", None),
    )
    back = replace(LINKED, status="returned", returned_at=NOW, returned_by="carer")
    assert d.reopen(back, "gone again within the hour") == (
        Change("status", "returned", "open"),
        Change("returned_at", NOW, None),
        Change("returned_by", "carer", None),
    )
    with refused("already open"):
        d.reopen(LINKED, "why")
    with refused("needs a reason"):
        d.reopen(back, "")
    with refused("merged into MB-2026-00001: reopen that one"):
        d.reopen(replace(voided, merged_into="MB-2026-00001"), "why")


def test_correct_changes_only_what_differs_and_checks_times() -> None:
    changes = d.correct(
        LINKED, now=NOW, police_reference=" LOG 55 ", risk_level="HIGH", absence_type="a"
    )
    assert changes == (
        Change("police_reference", None, "LOG 55"),
        Change("risk_level", None, "high"),
        Change("absence_type", "M", "A"),
    )
    earlier = SEEN - timedelta(hours=1)
    assert d.correct(LINKED, now=NOW, last_seen_at=earlier) == (
        Change("last_seen_at", SEEN, earlier),
    )
    with refused("nothing to correct"):
        d.correct(LINKED, now=NOW)
    with refused("already has those values"):
        d.correct(LINKED, now=NOW, absence_type="M")
    with refused("in the future"):
        d.correct(LINKED, now=NOW, last_seen_at=NOW + timedelta(hours=1))
    back = replace(LINKED, status="returned", returned_at=NOW - timedelta(hours=2))
    with refused("after the return"):
        d.correct(back, now=NOW, last_seen_at=NOW - timedelta(hours=1))
    with refused("record a return with"):
        d.correct(LINKED, now=NOW, returned_at=NOW)
    with refused("before the last sighting"):
        d.correct(back, now=NOW, returned_at=SEEN - timedelta(minutes=5))
    assert d.correct(back, now=NOW, returned_at=NOW) == (
        Change("returned_at", NOW - timedelta(hours=2), NOW),
    )
    with refused("risk must be one of"):
        d.correct(LINKED, now=NOW, risk_level="extreme")


def test_confirm() -> None:
    unsure = replace(LINKED, needs_confirmation=True, confirmation_reason="return from a stranger")
    assert d.confirm(unsure) == (
        Change("needs_confirmation", True, False),
        Change("confirmation_reason", "return from a stranger", None),
    )
    with refused("does not need confirmation"):
        d.confirm(LINKED)


def test_split() -> None:
    plan = d.split(UNMATCHED, ["100231", "100232", "100233"], unknown=[])
    assert plan.keep == "100231"
    assert plan.new_children == ("100232", "100233")
    assert plan.changes == (
        Change("child_id", None, "100231"),
        Change("match_method", None, "staff"),
    )
    kept = d.split(LINKED, ["100232", "100231"], unknown=[])
    assert (kept.keep, kept.new_children, kept.changes) == ("100231", ("100232",), ())
    with refused("no child with ID '4'"):
        d.split(UNMATCHED, ["100231", "4"], unknown=["4"])
    with refused("two or more children"):
        d.split(UNMATCHED, ["100231"], unknown=[])
    with refused("named twice"):
        d.split(UNMATCHED, ["100231", "100231"], unknown=[])
    with refused("who is not among"):
        d.split(LINKED, ["100232", "100233"], unknown=[])


def test_merge_the_earlier_survives_and_on_doubt_stays_open() -> None:
    first = replace(LINKED, reference="MB-2026-00001", police_reference=None)
    later = replace(
        LINKED,
        reference="MB-2026-00009",
        opened_at=OPENED + timedelta(hours=1),
        police_reference="LOG 9",
    )
    plan = d.merge(later, first)
    assert plan.gone == (
        Change("status", "open", "void"),
        Change("merged_into", None, "MB-2026-00001"),
        Change("void_reason", None, "merged into MB-2026-00001"),
    )
    assert plan.survivor == (Change("police_reference", None, "LOG 9"),)
    with refused("began first and its reference survives: merge MB-2026-00009 --into"):
        d.merge(first, later)
    with refused("into itself"):
        d.merge(first, first)
    with refused("only one child's episodes merge"):
        d.merge(replace(later, child_id="100232"), first)
    with refused("not linked to a child: link it first"):
        d.merge(replace(later, child_id=None), first)
    # the survivor was closed, the later record is still open: open (a false return is worse)
    closed = replace(first, status="returned", returned_at=NOW, returned_by="carer")
    reopened = d.merge(later, closed).survivor
    assert Change("status", "returned", "open") in reopened
    assert Change("returned_at", NOW, None) in reopened
    # the later record saw the return: the survivor closes with it
    back = replace(later, status="returned", returned_at=NOW, returned_by="carer")
    assert Change("status", "open", "returned") in d.merge(back, first).survivor


def test_parse_when() -> None:
    now = datetime(2026, 7, 2, 13, 0, tzinfo=UTC)  # 14:00 BST
    assert d.parse_when("13:30", tz=LONDON, now=now) == datetime(2026, 7, 2, 12, 30, tzinfo=UTC)
    # later than now today: yesterday's
    assert d.parse_when("14:30", tz=LONDON, now=now) == datetime(2026, 7, 1, 13, 30, tzinfo=UTC)
    assert d.parse_when("now", tz=LONDON, now=now) == now
    iso = d.parse_when("2026-07-01T09:00", tz=LONDON, now=now)
    assert iso == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    for bad in ("25:00", "teatime", ""):
        with refused("not a time"):
            d.parse_when(bad, tz=LONDON, now=now)
