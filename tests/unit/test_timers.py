"""The timing core: every rule with an injected time, never a sleep; and its routing sections."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbridge.errors import ConfigError
from mailbridge.routing.loading import load_routing
from mailbridge.routing.reason_codes import DEFAULT_REASON_CODES
from mailbridge.routing.rules import Routing
from mailbridge.timers.plan import (
    DueAction,
    EpisodeClock,
    acknowledge_reminder,
    cancelled,
    due,
    escalation_roles,
    format_span,
    late_note,
    lateness,
    plan,
    repeat_missing,
    repeat_missing_note,
    rescheduled,
    upcoming,
)

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")
REF = "MB-2026-00001"

BASE = """
timezone: Europe/London
office_hours:
  mon: "09:00-17:00"
  tue: "09:00-17:00"
  wed: "09:00-17:00"
  thu: "09:00-17:00"
  fri: "09:00-17:00"
bank_holidays: [2026-12-25, 2026-12-28]
roles:
  duty: {address: duty@council.example, name: Duty desk}
  apprentice: apprentice@council.example
  edt: edt@council.example
"""

# Thursday 26 November 2026, 10:00 in London (GMT): office hours.
THU_10 = datetime(2026, 11, 26, 10, 0, tzinfo=LONDON)
HOUR = timedelta(hours=1)
MIN = timedelta(minutes=1)


def rules(text: str = "", *, base: str = BASE) -> Routing:
    return load_routing(base + text, source="test.yaml")


def problems(text: str, *, base: str = BASE) -> str:
    with pytest.raises(ConfigError) as err:
        load_routing(base + text, source="bad.yaml")
    assert all(p.startswith("bad.yaml: ") for p in err.value.problems)
    return "\n".join(err.value.problems)


def clock(**kw: object) -> EpisodeClock:
    kw.setdefault("reference", REF)
    kw.setdefault("status", "open")
    kw.setdefault("opened_at", THU_10)
    return EpisodeClock(**kw)  # type: ignore[arg-type]


def by_key(actions: list[DueAction]) -> dict[str, DueAction]:
    return {a.key: a for a in actions}


def local(at: datetime) -> datetime:
    return at.astimezone(LONDON).replace(tzinfo=None)


# -- escalation -----------------------------------------------------------------------


def test_high_risk_escalates_after_30_and_60_minutes():
    actions = by_key(plan(clock(risk_level="high"), rules(), until=THU_10))
    esc1, esc2 = actions[f"esc1:{REF}"], actions[f"esc2:{REF}"]
    assert (esc1.kind, esc1.roles) == ("escalate_team_manager", ("team_manager",))
    assert esc1.due_at == THU_10 + 30 * MIN
    assert esc1.due_at.tzinfo is UTC
    assert (esc2.kind, esc2.roles) == ("escalate_duty", ("duty",))  # 11:00 Thursday: office
    assert esc2.due_at == THU_10 + 60 * MIN
    assert "30 min after it opened: the team manager is alerted" in esc1.note
    assert "high risk" in esc1.note
    assert "1 h after it opened: the duty desk is alerted" in esc2.note


@pytest.mark.parametrize("risk", [None, "medium", "low", "unknown", "HIGHISH"])
def test_other_risk_levels_use_the_default_60_and_120_minutes(risk):
    actions = by_key(plan(clock(risk_level=risk), rules(), until=THU_10))
    assert actions[f"esc1:{REF}"].due_at == THU_10 + 60 * MIN
    assert actions[f"esc2:{REF}"].due_at == THU_10 + 120 * MIN


def test_thresholds_are_configurable_per_level_or_as_one_number():
    r = rules(
        "escalation:\n"
        "  team_manager_after_minutes: {high: 15, medium: 45}\n"
        "  duty_after_minutes: 90\n"
    )
    assert r.escalation.team_manager_after.minutes("high") == 15
    assert r.escalation.team_manager_after.minutes("medium") == 45
    assert r.escalation.team_manager_after.minutes(None) == 60  # the shipped default kept
    assert {r.escalation.duty_after.minutes(x) for x in ("high", "low", None)} == {90}
    actions = by_key(plan(clock(risk_level="High"), r, until=THU_10))
    assert actions[f"esc1:{REF}"].due_at == THU_10 + 15 * MIN
    assert actions[f"esc2:{REF}"].due_at == THU_10 + 90 * MIN


@pytest.mark.parametrize(
    ("opened", "risk", "expected"),
    [
        # Thursday 16:30 GMT, high: esc2 at 17:30, after the office closes.
        (datetime(2026, 11, 26, 16, 30, tzinfo=LONDON), "high", ("edt",)),
        # Thursday 15:00 GMT, default: esc2 at 17:00 exactly; the end of office is excluded.
        (datetime(2026, 11, 26, 15, 0, tzinfo=LONDON), None, ("edt",)),
        # Thursday 14:59: esc2 at 16:59, still office.
        (datetime(2026, 11, 26, 14, 59, tzinfo=LONDON), None, ("duty",)),
        # Saturday mid-morning: a weekend.
        (datetime(2026, 11, 28, 10, 0, tzinfo=LONDON), "high", ("edt",)),
        # Monday 07:30, high: esc2 at 08:30, before the office opens.
        (datetime(2026, 11, 30, 7, 30, tzinfo=LONDON), "high", ("edt",)),
        # Christmas Day 2026 is a Friday and a bank holiday: out of hours all day.
        (datetime(2026, 12, 25, 10, 0, tzinfo=LONDON), "high", ("edt",)),
        # Monday 28 December 2026 is the substitute Boxing Day.
        (datetime(2026, 12, 28, 13, 0, tzinfo=LONDON), None, ("edt",)),
        # Tuesday 29 December: an ordinary working day again.
        (datetime(2026, 12, 29, 13, 0, tzinfo=LONDON), None, ("duty",)),
    ],
)
def test_second_step_goes_to_edt_out_of_hours_and_duty_in_office_hours(opened, risk, expected):
    actions = by_key(plan(clock(opened_at=opened, risk_level=risk), rules(), until=opened))
    esc2 = actions[f"esc2:{REF}"]
    assert esc2.roles == expected
    desk = "the emergency duty team" if expected == ("edt",) else "the duty desk"
    assert esc2.note.endswith(f"{desk} is alerted.")


def test_office_hours_for_the_second_step_are_read_in_london_across_bst():
    r = rules()
    # Wednesday 15 July 2026 is in BST (UTC+1). Opened 07:30 UTC (08:30 BST), high risk:
    # esc2 at 08:30 UTC, which is 09:30 in London: office, so duty (UTC would say 08:30: EDT).
    morning = datetime(2026, 7, 15, 7, 30, tzinfo=UTC)
    esc2 = by_key(plan(clock(opened_at=morning, risk_level="high"), r, until=morning))
    assert esc2[f"esc2:{REF}"].roles == ("duty",)
    assert esc2[f"esc2:{REF}"].due_at == datetime(2026, 7, 15, 8, 30, tzinfo=UTC)
    # Opened 15:30 UTC (16:30 BST): esc2 at 16:30 UTC, 17:30 in London: the EDT
    # (UTC would say 16:30: office).
    afternoon = datetime(2026, 7, 15, 15, 30, tzinfo=UTC)
    esc2 = by_key(plan(clock(opened_at=afternoon, risk_level="high"), r, until=afternoon))
    assert esc2[f"esc2:{REF}"].roles == ("edt",)
    # The clocks went forward on Sunday 29 March 2026: Monday 08:00 UTC is 09:00 BST, office.
    sunday_night = datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    esc2 = by_key(plan(clock(opened_at=sunday_night, risk_level="high"), r, until=sunday_night))
    assert esc2[f"esc2:{REF}"].roles == ("duty",)


def test_without_an_edt_address_duty_takes_the_second_step_at_night():
    r = rules(base="roles: {duty: d@x.example}\n")
    night = datetime(2026, 11, 28, 23, 0, tzinfo=LONDON)
    assert by_key(plan(clock(opened_at=night), r, until=night))[f"esc2:{REF}"].roles == ("duty",)


def test_escalation_roles_at_send_time_follow_the_hours_then():
    r = rules()
    # Planned for 16:00 on a Thursday (office: duty); sent at 18:00 after downtime: the EDT.
    esc2 = by_key(plan(clock(opened_at=THU_10 + 4 * HOUR), r, until=THU_10))[f"esc2:{REF}"]
    assert esc2.roles == ("duty",)
    assert escalation_roles(esc2, r, THU_10 + 8 * HOUR) == ("edt",)
    assert escalation_roles("escalate_duty", r, THU_10) == ("duty",)
    assert escalation_roles("escalate_team_manager", r, THU_10 + 12 * HOUR) == ("team_manager",)
    still = by_key(plan(clock(), r, until=THU_10))[f"still:{REF}:1"]
    assert escalation_roles(still, r, THU_10) == still.roles
    with pytest.raises(ValueError, match="not an escalation"):
        escalation_roles("still_missing", r, THU_10)


def test_acknowledgement_stops_both_escalations_but_not_still_missing():
    r = rules()
    now = THU_10 + 20 * MIN
    before = plan(clock(risk_level="high"), r, until=now)
    after = plan(clock(risk_level="high", acknowledged_at=now), r, until=now)
    assert cancelled(before, after) == [f"esc1:{REF}", f"esc2:{REF}"]
    assert [a.key for a in after] == [f"still:{REF}:1"]
    assert rescheduled(before, after) == []
    # An acknowledgement after the first step stops the second: nothing escalates twice.
    late_ack = plan(clock(risk_level="high", acknowledged_at=THU_10 + 45 * MIN), r, until=now)
    assert not [a for a in late_ack if a.kind.startswith("escalate")]


# -- still missing --------------------------------------------------------------------


def test_still_missing_reminders_every_24_hours_up_to_one_interval_past_until():
    r = rules()
    c = clock()
    keys = [a.key for a in plan(c, r, until=THU_10) if a.kind == "still_missing"]
    assert keys == [f"still:{REF}:1"]  # the next one is always listed
    listed = [a for a in plan(c, r, until=THU_10 + 50 * HOUR) if a.kind == "still_missing"]
    assert [a.key for a in listed] == [f"still:{REF}:{n}" for n in (1, 2, 3)]
    assert [a.due_at for a in listed] == [THU_10 + n * 24 * HOUR for n in (1, 2, 3)]
    assert all(a.roles == ("social_worker", "team_manager") for a in listed)
    assert "missing 2 d since the episode opened on Thu 26 Nov 2026 10:00 GMT" in listed[1].note
    # Exactly on a boundary: due_at == until + interval is listed.
    edge = plan(c, r, until=THU_10 + 48 * HOUR)
    assert [a.key for a in edge if a.kind == "still_missing"][-1] == f"still:{REF}:3"


def test_still_missing_interval_and_recipients_are_configurable():
    r = rules("escalation:\n  still_missing_every_hours: 6\n  still_missing_notify: [duty]\n")
    listed = [a for a in plan(clock(), r, until=THU_10 + 13 * HOUR) if a.kind == "still_missing"]
    assert [a.due_at - THU_10 for a in listed] == [6 * HOUR, 12 * HOUR, 18 * HOUR]
    assert {a.roles for a in listed} == {("duty",)}
    assert "missing 6 h since" in listed[0].note


# -- return and the interview clock ---------------------------------------------------


def test_return_cancels_escalation_and_still_missing_and_starts_the_interview_clock():
    r = rules()
    back = THU_10 + 50 * HOUR
    before = plan(clock(risk_level="high"), r, until=back)
    after = plan(clock(status="returned", returned_at=back, risk_level="high"), r, until=back)
    assert cancelled(before, after) == [
        f"esc1:{REF}",
        f"esc2:{REF}",
        f"still:{REF}:1",
        f"still:{REF}:2",
        f"still:{REF}:3",
    ]
    assert [(a.key, a.kind, a.due_at - back, a.roles) for a in after] == [
        (f"rhi-remind:{REF}:24h", "interview_reminder", 24 * HOUR, ("social_worker",)),
        (f"rhi-remind:{REF}:48h", "interview_reminder", 48 * HOUR, ("social_worker",)),
        (f"rhi-overdue:{REF}", "interview_overdue", 72 * HOUR, ("team_manager", "social_worker")),
    ]
    # Returned Sat 28 Nov 12:00 GMT: due by Tue 1 Dec 12:00.
    assert "due by Tue 01 Dec 2026 12:00 GMT" in after[0].note
    assert "24 h have passed" in after[0].note
    assert "is overdue" in after[2].note
    assert "The episode is flagged." in after[2].note


def test_the_interview_clock_is_configurable():
    r = rules(
        "interviews:\n"
        "  due_hours: 96\n"
        "  reminders_hours: [72, 12.5]\n"
        "  provider: rhi@provider.example\n"
    )
    back = THU_10
    actions = plan(clock(status="returned", returned_at=back), r, until=back)
    assert [(a.key, a.due_at - back, a.roles) for a in actions] == [
        (f"rhi-remind:{REF}:12.5h", timedelta(hours=12.5), ("rhi@provider.example",)),
        (f"rhi-remind:{REF}:72h", 72 * HOUR, ("rhi@provider.example",)),
        (f"rhi-overdue:{REF}", 96 * HOUR, ("team_manager", "rhi@provider.example")),
    ]
    # With the team manager as provider, the overdue alert names them once.
    tm = rules("interviews: {provider: team_manager}\n")
    overdue = plan(clock(status="returned", returned_at=back), tm, until=back)[-1]
    assert overdue.roles == ("team_manager",)


def test_a_done_interview_cancels_its_reminders_and_the_overdue_alert():
    r = rules()
    back = THU_10
    before = plan(clock(status="returned", returned_at=back), r, until=back + 30 * HOUR)
    after = plan(
        clock(status="returned", returned_at=back, interview_done=True), r, until=back + 30 * HOUR
    )
    assert after == []
    assert cancelled(before, after) == [
        f"rhi-remind:{REF}:24h",
        f"rhi-remind:{REF}:48h",
        f"rhi-overdue:{REF}",
    ]


def test_an_episode_recorded_already_returned_has_no_escalation():
    back = THU_10
    actions = plan(
        clock(status="returned", returned_at=back, risk_level="high"), rules(), until=back
    )
    assert {a.kind for a in actions} == {"interview_reminder", "interview_overdue"}


def test_a_corrected_return_time_keeps_the_keys_and_moves_the_rows():
    r = rules()
    first = plan(clock(status="returned", returned_at=THU_10), r, until=THU_10)
    fixed = plan(clock(status="returned", returned_at=THU_10 - 2 * HOUR), r, until=THU_10)
    assert cancelled(first, fixed) == []
    assert [a.key for a in rescheduled(first, fixed)] == [a.key for a in first]
    assert all(a.due_at == b.due_at - 2 * HOUR for a, b in zip(fixed, first, strict=True))


# -- keys, due, restart ---------------------------------------------------------------


def test_keys_are_stable_across_re_planning_and_a_restart():
    r = rules()
    c = clock(risk_level="high")
    now = THU_10 + 30 * HOUR
    assert plan(c, r, until=now) == plan(c, r, until=now)
    # After a restart the episode is read back from the database: UTC datetimes, a fresh
    # routing object, and a later "now". Every action planned before has the same key and time.
    reloaded = EpisodeClock(
        reference=REF,
        status="open",
        opened_at=THU_10.astimezone(UTC),
        risk_level="high",
    )
    later = plan(reloaded, rules(), until=now + 3 * HOUR)
    old = by_key(plan(c, r, until=now))
    assert {k: (a.due_at, a.roles) for k, a in by_key(later).items() if k in old} == {
        k: (a.due_at, a.roles) for k, a in old.items()
    }
    assert cancelled(plan(c, r, until=now), later) == []
    # Keys are unique within a plan and name the episode.
    keys = [a.key for a in later]
    assert len(keys) == len(set(keys))
    assert all(REF in k for k in keys)


def test_due_and_upcoming_split_a_plan_at_now():
    actions = plan(clock(risk_level="high"), rules(), until=THU_10 + 45 * MIN)
    now = THU_10 + 45 * MIN
    assert [a.key for a in due(actions, now)] == [f"esc1:{REF}"]
    assert [a.key for a in upcoming(actions, now)] == [f"esc2:{REF}", f"still:{REF}:1"]
    # due_at == now is due.
    assert [a.key for a in due(actions, THU_10 + 60 * MIN)] == [f"esc1:{REF}", f"esc2:{REF}"]
    with pytest.raises(ValueError, match="timezone-aware"):
        due(actions, datetime(2026, 11, 26, 12, 0))


def test_a_whole_story_with_downtime_sends_each_action_once_and_says_when_it_is_late():
    """A fake of the database rows: one per key; the scheduler ticks every 5 minutes."""
    r = rules()
    rows: dict[str, DueAction] = {}  # key -> action (the unique constraint)
    sent: list[tuple[str, str | None]] = []
    done: set[str] = set()
    cancelled_keys: set[str] = set()
    previous: list[DueAction] = []

    def facts(now: datetime) -> EpisodeClock:
        back = THU_10 + 30 * HOUR
        if now >= back:
            return clock(risk_level="high", status="returned", returned_at=back)
        return clock(risk_level="high")

    def tick(now: datetime) -> None:
        nonlocal previous
        current = plan(facts(now), r, until=now)
        for action in current:
            rows.setdefault(action.key, action)  # INSERT ... ON CONFLICT DO NOTHING
        cancelled_keys.update(k for k in cancelled(previous, current) if k not in done)
        previous = current
        for action in due(current, now):
            if action.key not in done:  # claimed once
                done.add(action.key)
                sent.append((action.key, late_note(action, now)))

    now = THU_10
    while now <= THU_10 + 5 * 24 * HOUR:
        # The service is down from 10:20 to 13:32 on the first day: a "restart" then means a
        # fresh plan from the same facts, and the rows that already exist.
        if not (THU_10 + 20 * MIN < now < THU_10 + 3 * HOUR + 32 * MIN):
            tick(now)
            tick(now)  # a second instance at the same moment changes nothing
        now += 5 * MIN
    assert [k for k, _ in sent] == [
        f"esc1:{REF}",
        f"esc2:{REF}",
        f"still:{REF}:1",
        f"rhi-remind:{REF}:24h",
        f"rhi-remind:{REF}:48h",
        f"rhi-overdue:{REF}",
    ]
    notes = dict(sent)
    assert notes[f"esc1:{REF}"] == (
        "this escalation is 3 h 5 min late: the service was not running"
    )
    assert notes[f"esc2:{REF}"] == (
        "this escalation is 2 h 35 min late: the service was not running"
    )
    assert notes[f"still:{REF}:1"] is None
    assert f"still:{REF}:2" in cancelled_keys  # the child came back before it was due


def test_late_note_and_lateness():
    a = DueAction(
        key=f"still:{REF}:1",
        kind="still_missing",
        episode_ref=REF,
        due_at=THU_10,
        roles=("social_worker",),
        note="",
    )
    assert lateness(a, THU_10 + 3 * HOUR + 12 * MIN) == 3 * HOUR + 12 * MIN
    assert late_note(a, THU_10 + 3 * HOUR + 12 * MIN) == (
        "this reminder is 3 h 12 min late: the service was not running"
    )
    # A scheduler tick's delay is not late; the grace is adjustable.
    assert lateness(a, THU_10 + 4 * MIN) is None
    assert late_note(a, THU_10 + 5 * MIN) is None
    assert late_note(a, THU_10 + 4 * MIN, grace=timedelta(0)) == (
        "this reminder is 4 min late: the service was not running"
    )
    overdue = dataclasses.replace(a, kind="interview_overdue")
    assert late_note(overdue, THU_10 + 26 * HOUR) == (
        "this overdue alert is 1 d 2 h late: the service was not running"
    )
    assert lateness(a, THU_10 - HOUR) is None


def test_format_span():
    assert format_span(timedelta(seconds=59)) == "under 1 min"
    assert format_span(45 * MIN) == "45 min"
    assert format_span(2 * HOUR) == "2 h"
    assert format_span(timedelta(days=2, minutes=3)) == "2 d 3 min"


def test_times_must_be_aware_and_states_known():
    with pytest.raises(ValueError, match="opened_at must be timezone-aware"):
        clock(opened_at=datetime(2026, 11, 26, 10, 0))
    with pytest.raises(ValueError, match="returned_at is required"):
        clock(status="returned")
    with pytest.raises(ValueError, match="open or returned"):
        clock(status="closed")
    with pytest.raises(ValueError, match="until must be timezone-aware"):
        plan(clock(), rules(), until=datetime(2026, 11, 26, 10, 0))
    # Aware times in any zone are stored in UTC.
    c = clock(acknowledged_at=THU_10)
    assert c.acknowledged_at is not None
    assert c.acknowledged_at.tzinfo is UTC


# -- repeat missing -------------------------------------------------------------------


def test_three_episodes_within_90_days_is_a_repeat():
    r = rules()
    now = THU_10
    starts = [now - timedelta(days=80), now - timedelta(days=30), now]
    assert repeat_missing(starts, now, r) == 3
    assert repeat_missing([*starts, now - timedelta(days=10)], now, r) == 4
    # The window's edge is inclusive: exactly 90 days ago counts, by the London clock, although
    # the clocks went back in between (28 August 10:00 BST to 26 November 10:00 GMT is 90 days
    # and 1 hour).
    ninety = datetime(2026, 8, 28, 10, 0, tzinfo=LONDON)
    assert repeat_missing([ninety, now - HOUR, now], now, r) == 3
    assert repeat_missing([ninety - MIN, now - HOUR, now], now, r) is None
    assert repeat_missing([ninety, now - HOUR, now], now.astimezone(UTC), r) == 3
    note = repeat_missing_note(3, r)
    assert note == (
        "This is the child's 3rd missing episode in 90 days, so the team manager, iro are told "
        "too: repeat episodes should prompt a strategy meeting."
    )


def test_three_episodes_spread_over_100_days_is_not():
    r = rules()
    now = THU_10
    assert (
        repeat_missing([now - timedelta(days=100), now - timedelta(days=50), now], now, r) is None
    )
    assert repeat_missing([now - HOUR, now], now, r) is None
    # Starts after "now" (a replay of older mail) are not counted.
    assert repeat_missing([now - HOUR, now, now + HOUR], now, r) is None


def test_repeat_missing_is_configurable():
    r = rules("repeat_missing: {episodes: 2, within_days: 30, add_roles: [duty]}\n")
    now = THU_10
    assert repeat_missing([now - timedelta(days=29), now], now, r) == 2
    assert repeat_missing([now - timedelta(days=31), now], now, r) is None
    assert r.repeat_missing.add_roles == ("duty",)
    assert repeat_missing_note(2, rules("repeat_missing: {add_roles: []}\n")) == (
        "This is the child's 2nd missing episode in 90 days."
    )


# -- the routing sections -------------------------------------------------------------


def test_an_older_file_without_the_sections_gets_the_defaults():
    r = rules()
    assert r.escalation.team_manager_after.minutes("high") == 30
    assert r.escalation.team_manager_after.minutes("low") == 60
    assert r.escalation.duty_after.minutes("high") == 60
    assert r.escalation.duty_after.minutes(None) == 120
    assert r.escalation.still_missing_every == 24 * HOUR
    assert r.interviews.due_hours == 72
    assert list(r.interviews.reminders_hours) == [24, 48]
    assert r.interviews.provider == "social_worker"
    assert set(r.interviews.reason_codes) == {
        "placement_conflict",
        "family_contact",
        "friends",
        "exploitation_cse",
        "exploitation_cce",
        "substance_use",
        "bullying",
        "mental_health",
        "relationship",
        "unknown",
        "other",
    }
    assert (r.repeat_missing.episodes, r.repeat_missing.within_days) == (3, 90)
    assert r.repeat_missing.add_roles == ("team_manager", "iro")


def test_the_shipped_file_states_the_defaults():
    shipped = load_routing(
        (ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"), source="routing.yaml"
    )
    defaults = rules()
    assert shipped.escalation == defaults.escalation
    assert shipped.escalation.team_manager_after.by_risk == {"high": 30}
    assert shipped.escalation.duty_after.by_risk == {"high": 60}
    assert shipped.interviews == defaults.interviews
    assert dict(shipped.interviews.reason_codes) == dict(DEFAULT_REASON_CODES)
    assert shipped.repeat_missing == defaults.repeat_missing


def test_reason_codes_read_a_code_or_a_synonym():
    cfg = rules().interviews
    assert cfg.reason_code("County  Lines") == "exploitation_cce"
    assert cfg.reason_code("placement-conflict") == "placement_conflict"
    assert cfg.reason_code("CSE") == "exploitation_cse"
    assert cfg.reason_code("Don\u2019t know") == "unknown"
    assert cfg.reason_code("went to the moon") is None
    own = rules(
        "interviews:\n  reason_codes:\n    push: [row at home]\n    pull: [mates, Boyfriend]\n"
        "    unknown:\n"
    ).interviews
    assert own.reason_code("boyfriend") == "pull"
    assert own.reason_code("unknown") == "unknown"
    assert own.reason_code("bullying") is None  # the list replaces the defaults


def test_bad_timer_sections_are_named_by_key():
    text = problems(
        """
escalation:
  team_manager_after_minutes: {high: -5, extreme: 10, default: "soon"}
  duty_after_minutes: {medium: 20, low: 1.5}
  still_missing_every_hours: 0
  still_missing_notify: [chief]
  cadence: daily
interviews:
  due_hours: -72
  reminders_hours: [24, 24, 80, true]
  provider: rhi_team
  reason_codes:
    Bad-Code: [x]
    friends: [mates]
    pals: mates
    peers: [Friends, MATES]
    family: [7]
repeat_missing:
  episodes: 1
  within_days: 2.5
  add_roles: [team_manager, boss, not@an@address]
"""
    )
    expected = [
        "escalation.team_manager_after_minutes.high: must be more than 0, got -5",
        "escalation.team_manager_after_minutes.extreme: unknown risk level (known: default, high,",
        "escalation.team_manager_after_minutes.default: must be a whole number, got 'soon'",
        "escalation.duty_after_minutes.low: must be a whole number, got 1.5",
        "escalation.duty_after_minutes.medium: 20 must be later than "
        "team_manager_after_minutes.medium (60)",
        "escalation.still_missing_every_hours: must be more than 0, got 0",
        "escalation.still_missing_notify[0]: unknown role 'chief'",
        "escalation.cadence: unknown key (known: team_manager_after_minutes,",
        "interviews.due_hours: must be more than 0, got -72",
        "interviews.reminders_hours[1]: 24 h is given twice",
        "interviews.reminders_hours[2]: 80 h is not before due_hours (72)",
        "interviews.reminders_hours[3]: must be a number, got True",
        "interviews.provider: unknown role 'rhi_team' "
        "(known: apprentice, duty, edt, host_authority, iro,",
        "interviews.reason_codes.Bad-Code: a code is lower_case_with_underscores",
        "interviews.reason_codes.pals: must be a list of synonyms, got 'mates'",
        "interviews.reason_codes.peers[0]: 'Friends' already means 'friends'",
        "interviews.reason_codes.peers[1]: 'MATES' already means 'friends'",
        "interviews.reason_codes.family[0]: a synonym must be text, got 7",
        "repeat_missing.episodes: must be 2 or more, got 1",
        "repeat_missing.within_days: must be a whole number, got 2.5",
        "repeat_missing.add_roles[1]: unknown role 'boss'",
        "repeat_missing.add_roles[2]: not an email address: 'not@an@address'",
    ]
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    assert len(text.splitlines()) == len(expected), text


def test_wrong_shapes_of_the_timer_sections():
    text = problems(
        "escalation: 30\ninterviews: [72]\nrepeat_missing: yes\n"
        "routes:\n  - {match: {event: missing}, notify: [duty]}\n"
    )
    assert "escalation: must be a mapping (team_manager_after_minutes," in text
    assert "interviews: must be a mapping (due_hours," in text
    assert "repeat_missing: must be a mapping (episodes, within_days, add_roles)" in text
    text = problems(
        "escalation:\n  duty_after_minutes: {high: 30}\n  team_manager_after_minutes: .inf\n"
        "interviews:\n  reminders_hours: 24\n  provider: [social_worker]\n  reason_codes: []\n"
    )
    assert "escalation.team_manager_after_minutes: must be a whole number, got inf" in text
    assert "escalation.duty_after_minutes.high: 30 must be later than" in text
    assert "interviews.reminders_hours: must be a list of hours, got 24" in text
    assert "interviews.provider: must be a role or an email address, got ['social_worker']" in text
    assert "interviews.reason_codes: must map codes to lists of synonyms" in text
    text = problems("interviews: {due_hours: .inf, provider: 'x@@y'}\n")
    assert "interviews.due_hours: inf is too large (at most 100,000)" in text
    assert "interviews.provider: not an email address: 'x@@y'" in text
    # An empty section is the defaults.
    assert rules("escalation:\ninterviews: {}\n").interviews.due_hours == 72


def test_the_acknowledgement_reminder_names_who_is_told_and_when():
    """The alert footer (issue 15): how to acknowledge, and who is told, when, if nobody does."""
    r = rules()
    opened = THU_10.astimezone(UTC)
    clock = EpisodeClock(REF, "open", opened, risk_level="high")
    assert acknowledge_reminder(clock, r, now=opened) == (
        "Reply to this email to acknowledge it. If nobody does, the team manager is told at "
        "Thu 26 Nov 2026 10:30 GMT, then the duty desk is told at Thu 26 Nov 2026 11:00 GMT."
    )
    # at 16:30 the second step falls out of hours: the emergency duty team
    late = EpisodeClock(REF, "open", datetime(2026, 11, 26, 15, 30, tzinfo=UTC))
    assert acknowledge_reminder(late, r, now=late.opened_at).endswith(
        "then the emergency duty team is told at Thu 26 Nov 2026 17:30 GMT."
    )
    # steps already past are left out; none left, it says so
    assert "then" not in acknowledge_reminder(clock, r, now=opened + 40 * MIN)
    assert acknowledge_reminder(clock, r, now=opened + 2 * HOUR).endswith(
        "nobody has yet, and the escalation has already gone out."
    )
    acked = EpisodeClock(REF, "open", opened, acknowledged_at=opened + MIN)
    assert acknowledge_reminder(acked, r, now=opened).endswith("the escalation has stopped.")
    back = EpisodeClock(REF, "returned", opened, returned_at=opened + HOUR)
    assert acknowledge_reminder(back, r, now=opened) == (
        "Reply to this email to acknowledge it. The child is back, so nobody else is told if "
        "nobody does."
    )
