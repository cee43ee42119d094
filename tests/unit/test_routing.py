"""The routing tree: pure, no I/O. The shipped rules are exercised end to end in test_cli_routes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbridge.errors import ConfigError
from mailbridge.routing.explain import routed_json, routed_lines
from mailbridge.routing.loading import load_routing
from mailbridge.routing.rules import Event, Routing, event_for_child

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")

BASE = """
timezone: Europe/London
office_hours:
  mon: "09:00-17:00"
  tue: "09:00-17:00"
  wed: "09:00-17:00"
  thu: "09:00-17:00"
  fri: ["09:00-12:30", "13:30-16:00"]
bank_holidays: [2026-12-25, "2026-12-28"]
roles:
  duty: {address: duty@council.example, name: Duty desk}
  apprentice: apprentice@council.example
  edt: edt@council.example
"""

ALLOCATIONS: dict[str, dict[str, str | None]] = {
    "social_worker": {"name": "Sam Patel", "email": "sam.patel@council.example"},
    "iro": {"name": "Ruth Okafor", "email": "ruth.okafor@council.example"},
    "team_manager": {"name": None, "email": "tm.north@council.example"},
}
# Thursday 26 November 2026, 10:00 in London (GMT): office hours.
OFFICE = datetime(2026, 11, 26, 10, 0, tzinfo=LONDON)
NIGHT = datetime(2026, 11, 28, 23, 0, tzinfo=LONDON)  # a Saturday


def rules(text: str) -> Routing:
    return load_routing(BASE + text, source="test.yaml")


def event(name: str = "missing", at: datetime = OFFICE, **kw: object) -> Event:
    kw.setdefault("child_id", "100231")
    kw.setdefault("allocations", ALLOCATIONS)
    return Event(name=name, at=at, **kw)  # type: ignore[arg-type]


def who(routing: Routing, ev: Event) -> list[tuple[str, str, str]]:
    return [(r.role, r.address, r.rule) for r in routing.route(ev).recipients]


def problems(text: str, *, base: str = BASE) -> str:
    with pytest.raises(ConfigError) as err:
        load_routing(base + text, source="bad.yaml")
    assert all(p.startswith("bad.yaml: ") for p in err.value.problems)
    return "\n".join(err.value.problems)


# -- matchers -------------------------------------------------------------------------


def test_event_matcher_one_name_or_a_list():
    r = rules(
        """
routes:
  - {name: one, match: {event: returned}, notify: [apprentice]}
  - {name: many, match: {event: [missing, update]}, notify: [social_worker]}
"""
    )
    assert who(r, event("returned")) == [("apprentice", "apprentice@council.example", "one")]
    assert who(r, event("update"))[0][2] == "many"
    assert who(r, event("unmatched"))[0][2] == "default"


def test_risk_matcher_and_unknown_risk():
    r = rules(
        """
routes:
  - {name: high, match: {risk: [high]}, notify: [team_manager]}
  - {name: unstated, match: {risk: [unknown]}, notify: [duty]}
  - {name: rest, match: {risk: [medium, low]}, notify: [apprentice]}
"""
    )
    assert who(r, event(risk="high"))[0][2] == "high"
    assert who(r, event(risk="HIGH"))[0][2] == "high"
    assert who(r, event(risk=None))[0][2] == "unstated"
    assert who(r, event(risk="low"))[0][2] == "rest"


def test_sender_known_matcher():
    r = rules(
        """
routes:
  - {name: stranger, match: {sender_known: false}, notify: [duty]}
  - {name: carer, match: {sender_known: true}, notify: [social_worker]}
"""
    )
    assert who(r, event(sender_known=False))[0][2] == "stranger"
    assert who(r, event(sender_known=True))[0][2] == "carer"


def test_sender_verified_matcher_and_its_labels():
    r = rules(
        """
routes:
  - {name: unverified-copy, match: {event: missing, sender_verified: "false"}, notify: [duty],
     continue: true}
  - {name: verified, match: {sender_verified: true}, notify: [social_worker]}
  - {name: rest, match: {event: missing}, notify: [iro]}
"""
    )
    assert [w[2] for w in who(r, event(sender_verified=False))] == ["unverified-copy", "rest"]
    assert [w[2] for w in who(r, event(sender_verified=True))] == ["verified"]
    with pytest.raises(ConfigError) as err:
        rules("routes:\n  - {name: x, match: {sender_verified: maybe}, notify: [duty]}\n")
    assert "routes[0].match.sender_verified: must be true or false, got 'maybe'" in str(err.value)


def test_hours_matcher():
    r = rules(
        """
routes:
  - {name: day, match: {hours: office}, notify: [apprentice]}
  - {name: night, match: {hours: out_of_hours}, notify: [edt]}
"""
    )
    assert who(r, event(at=OFFICE))[0][2] == "day"
    assert who(r, event(at=NIGHT))[0][2] == "night"


def test_child_matcher_on_placement_type_extra_columns_and_child_id():
    r = rules(
        """
routes:
  - name: home-north
    match: {child: {placement_type: ["Children's home"], locality: North}}
    notify: [edt]
  - {name: by-id, match: {child: {child_id: 100232}}, notify: [iro]}
  - {name: by-placement, match: {child: {placement: Willow Lodge}}, notify: [apprentice]}
"""
    )
    home = event(placement_type="Children's home", child={"locality": "North"})
    assert who(r, home)[0][2] == "home-north"
    # A curly apostrophe and other case still match; a different locality does not.
    curly = event(placement_type="children\u2019s  HOME", child={"locality": "north"})
    assert who(r, curly)[0][2] == "home-north"
    assert who(r, event(placement_type="Children's home", child={"locality": "South"}))[0][2] == (
        "default"
    )
    assert who(r, event(child_id="100232"))[0][2] == "by-id"
    assert who(r, event(placement_name="Willow Lodge"))[0][2] == "by-placement"
    # An unmatched event has no child: a child matcher never holds for it.
    assert who(r, event("unmatched", child_id=None, allocations={}))[0][2] == "default"


def test_all_matchers_of_a_route_must_hold():
    r = rules(
        """
routes:
  - name: night-high
    match: {event: missing, risk: [high], hours: out_of_hours, sender_known: true}
    notify: [edt]
"""
    )
    assert who(r, event(at=NIGHT, risk="high", sender_known=True))[0][2] == "night-high"
    assert who(r, event(at=OFFICE, risk="high", sender_known=True))[0][2] == "default"
    assert who(r, event(at=NIGHT, risk="low", sender_known=True))[0][2] == "default"
    assert who(r, event(at=NIGHT, risk="high", sender_known=False))[0][2] == "default"


# -- the tree -------------------------------------------------------------------------


def test_first_match_wins_among_siblings():
    r = rules(
        """
routes:
  - {name: first, match: {event: missing}, notify: [social_worker]}
  - {name: second, match: {event: missing}, notify: [iro]}
"""
    )
    routed = r.route(event())
    assert routed.matched == ("first",)
    assert [x.role for x in routed.recipients] == ["social_worker"]


def test_continue_tries_the_following_siblings():
    r = rules(
        """
routes:
  - {name: first, match: {event: missing}, notify: [social_worker], continue: true}
  - {name: skipped, match: {event: update}, notify: [duty]}
  - {name: second, match: {event: missing}, notify: [iro]}
  - {name: third, match: {event: missing}, notify: [apprentice]}
"""
    )
    routed = r.route(event())
    assert routed.matched == ("first", "second")
    assert [x.role for x in routed.recipients] == ["social_worker", "iro"]


def test_nested_routes_add_to_their_parent_depth_first():
    r = rules(
        """
routes:
  - name: episode
    match: {event: [missing, update, returned]}
    notify: [social_worker, iro, apprentice]
    continue: true
    routes:
      - {name: high-risk, match: {risk: [high]}, notify: [team_manager]}
      - {name: never, match: {risk: [high]}, notify: [duty]}
  - {name: out-of-hours, match: {hours: out_of_hours}, notify: [edt]}
"""
    )
    routed = r.route(event(at=NIGHT, risk="high"))
    assert routed.matched == ("episode", "high-risk", "out-of-hours")
    assert [x.role for x in routed.recipients] == [
        "social_worker",
        "iro",
        "apprentice",
        "team_manager",
        "edt",
    ]
    assert routed.hours == "out_of_hours"
    # Without continue on the parent the sibling would not be tried.
    r2 = rules(
        """
routes:
  - {name: episode, match: {event: missing}, notify: [social_worker]}
  - {name: out-of-hours, match: {hours: out_of_hours}, notify: [edt]}
"""
    )
    assert r2.route(event(at=NIGHT)).matched == ("episode",)


def test_catch_all_reaches_duty_with_a_note():
    r = rules("routes:\n  - {name: only, match: {event: missing}, notify: [iro]}\n")
    routed = r.route(event("escalation_2h"))
    assert routed.matched == ("default",)
    [duty] = routed.recipients
    assert (duty.role, duty.address, duty.rule) == ("duty", "duty@council.example", "default")
    assert duty.note is not None and "escalation_2h" in duty.note


def test_catch_all_when_matching_routes_choose_nobody():
    r = rules(
        """
routes:
  - name: parent
    match: {event: missing}
    routes:
      - {name: high, match: {risk: [high]}, notify: [team_manager]}
"""
    )
    routed = r.route(event(risk="low"))
    assert routed.matched == ("parent", "default")
    assert [x.role for x in routed.recipients] == ["duty"]


def test_default_section_sets_the_catch_all():
    r = rules("default: [duty, apprentice]\n")
    assert [x.role for x in r.route(event()).recipients] == ["duty", "apprentice"]


def test_no_routes_at_all_still_reaches_duty():
    r = rules("")
    assert who(r, event()) == [("duty", "duty@council.example", "default")]


# -- roles ----------------------------------------------------------------------------


def test_roles_from_allocations_and_config_and_fixed_addresses():
    r = rules(
        """
routes:
  - match: {event: missing}
    notify: [social_worker, iro, team_manager, apprentice, edt, stats@council.example]
"""
    )
    got = r.route(event()).recipients
    assert [(x.role, x.address, x.name) for x in got] == [
        ("social_worker", "sam.patel@council.example", "Sam Patel"),
        ("iro", "ruth.okafor@council.example", "Ruth Okafor"),
        ("team_manager", "tm.north@council.example", None),
        ("apprentice", "apprentice@council.example", None),
        ("edt", "edt@council.example", None),
        ("address", "stats@council.example", None),
    ]
    assert {x.rule for x in got} == {"routes[0]"}  # an unnamed rule is named by its path


def test_unresolved_role_alerts_duty_with_a_note():
    r = rules("routes:\n  - {name: ep, match: {event: missing}, notify: [social_worker, iro]}\n")
    no_iro = {"social_worker": ALLOCATIONS["social_worker"]}
    got = r.route(event(child_id="100233", allocations=no_iro)).recipients
    assert [x.role for x in got] == ["social_worker", "duty"]
    assert got[1].address == "duty@council.example"
    assert got[1].name == "Duty desk"
    assert got[1].rule == "ep"
    assert got[1].note == "no iro on record for child 100233"


def test_role_with_a_name_but_no_email_and_an_event_without_a_child():
    r = rules("routes:\n  - {name: ep, match: {}, notify: [iro]}\n")
    nameless = {"iro": {"name": "Grace Mensah", "email": None}}
    [duty] = r.route(event(child_id="100234", allocations=nameless)).recipients
    assert duty.note == "no email for iro Grace Mensah on record for child 100234"
    [duty] = r.route(event("unmatched", child_id=None, allocations={})).recipients
    assert duty.note == "no iro: the event has no matched child"


def test_recipients_are_deduplicated_by_address_keeping_every_role_and_rule():
    r = rules(
        """
routes:
  - name: ep
    match: {event: missing}
    notify: [social_worker, iro, team_manager, duty]
    continue: true
  - {name: extra, match: {event: missing}, notify: [SAM.PATEL@council.example, duty]}
"""
    )
    same = {
        "social_worker": {"name": "Sam Patel", "email": "sam.patel@council.example"},
        "team_manager": {"name": None, "email": "sam.patel@council.example"},
    }
    got = r.route(event(child_id="100233", allocations=same)).recipients
    assert [x.address for x in got] == ["sam.patel@council.example", "duty@council.example"]
    sam, duty = got
    assert sam.roles == ("social_worker", "team_manager", "address")
    assert sam.rules == ("ep", "extra")
    assert (sam.role, sam.rule, sam.name) == ("social_worker", "ep", "Sam Patel")
    # duty: the stand-in for the missing IRO, chosen by name too; the note survives the merge.
    assert duty.roles == ("duty",)
    assert duty.rules == ("ep", "extra")
    assert duty.note == "no iro on record for child 100233"


# -- time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-11-26T08:59:59", "out_of_hours"),
        ("2026-11-26T09:00:00", "office"),  # start included
        ("2026-11-26T16:59:59", "office"),
        ("2026-11-26T17:00:00", "out_of_hours"),  # end excluded
        ("2026-11-27T12:45:00", "out_of_hours"),  # Friday lunch: between two windows
        ("2026-11-27T13:30:00", "office"),
        ("2026-11-27T16:00:00", "out_of_hours"),
        ("2026-11-28T12:00:00", "out_of_hours"),  # Saturday: not listed
        ("2026-12-25T12:00:00", "out_of_hours"),  # bank holiday (Friday), given as a date
        ("2026-12-28T12:00:00", "out_of_hours"),  # bank holiday (Monday), given as a string
        ("2026-12-29T12:00:00", "office"),
    ],
)
def test_office_hours_boundaries(local, expected):
    r = rules("")
    assert r.hours(datetime.fromisoformat(local).replace(tzinfo=LONDON)) == expected


def test_office_hours_are_read_in_the_routing_zone_across_bst():
    r = rules("")
    # Summer (BST, UTC+1): 08:30 UTC is 09:30 in London, office; 16:30 UTC is 17:30, not.
    assert r.hours(datetime(2026, 7, 1, 8, 30, tzinfo=UTC)) == "office"
    assert r.hours(datetime(2026, 7, 1, 16, 30, tzinfo=UTC)) == "out_of_hours"
    # Winter (GMT): 08:30 UTC is 08:30 in London, not yet office.
    assert r.hours(datetime(2026, 11, 26, 8, 30, tzinfo=UTC)) == "out_of_hours"
    assert r.hours(datetime(2026, 11, 26, 16, 30, tzinfo=UTC)) == "office"
    # The Monday after the clocks go forward (29 March 2026): 08:00 UTC is 09:00 BST.
    assert r.hours(datetime(2026, 3, 30, 8, 0, tzinfo=UTC)) == "office"
    assert r.hours(datetime(2026, 3, 30, 7, 59, tzinfo=UTC)) == "out_of_hours"
    # The Monday after they go back (25 October 2026): 08:00 UTC is 08:00 GMT.
    assert r.hours(datetime(2026, 10, 26, 8, 0, tzinfo=UTC)) == "out_of_hours"
    # A bank holiday is judged by the London date: 23:30 UTC on 24 Dec is still the 24th in
    # London (GMT), while 00:30 on the 25th in London is the holiday.
    assert r.hours(datetime(2026, 12, 25, 0, 30, tzinfo=LONDON)) == "out_of_hours"


def test_other_zone_and_24_hour_days():
    r = load_routing(
        'timezone: Asia/Tokyo\noffice_hours: {sun: "00:00-24:00"}\nroles: {duty: d@x.example}\n',
        source="t",
    )
    assert r.hours(datetime(2026, 11, 28, 15, 0, tzinfo=UTC)) == "office"  # Sunday 00:00 Tokyo
    assert r.hours(datetime(2026, 11, 28, 14, 59, tzinfo=UTC)) == "out_of_hours"


def test_timezone_defaults_to_the_service_zone():
    r = load_routing("roles: {duty: d@x.example}\n", source="t", default_timezone="UTC")
    assert r.timezone == "UTC"
    assert r.bank_holidays == frozenset()
    assert r.hours(OFFICE) == "out_of_hours"  # no office hours given: always out of hours


def test_event_needs_an_aware_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        Event(name="missing", at=datetime(2026, 11, 26, 10, 0))


# -- validation -----------------------------------------------------------------------


def test_every_problem_is_named_by_key_path():
    text = problems(
        """
colour: blue
events: [escalation_2h, Bad-Name]
fallback: nobody
default: [duty, nobody]
routes:
  - name: ok
    match: {event: missing}
    notify: [social_worker]
  - name: ok
    match: {event: mising, risk: [extreme], hours: night, sender_known: maybe, colour: red}
    notify: [social_worker, chief, not@an@address, 7]
    continue: perhaps
    extra: 1
  - name: nested
    match: {event: escalation_2h, child: {placement_type: [], locality: [1.5]}}
    notify: [duty]
    routes:
      - {name: bad name!, match: {risk: high}, notify: [duty]}
      - notify: [duty]
      - just a string
  - name: silent
    match: {event: update}
  - match: {child: []}
    notify: []
""",
        base=BASE.replace('fri: ["09:00-12:30", "13:30-16:00"]', "fri: [09:00-12:30, 540]")
        .replace('tue: "09:00-17:00"', 'tue: "17:00-09:00"')
        .replace('wed: "09:00-17:00"', 'wed: "25:00-26:00"')
        .replace('thu: "09:00-17:00"', 'someday: "09:00-17:00"')
        .replace("[2026-12-25,", "[2026-13-25,")
        .replace("timezone: Europe/London", "timezone: Europe/Londres")
        .replace("apprentice: apprentice@council.example", "apprentice: [a@x.example]")
        .replace("edt: edt@council.example", "edt: {address: edt@council.example, phone: 1}")
        + "  iro: iro@council.example\n",
    )
    expected = [
        "colour: unknown key",
        "timezone: unknown time zone 'Europe/Londres'",
        "office_hours.tue: the end must be after the start",
        "office_hours.wed: not a time of day",
        "office_hours.someday: unknown day",
        'office_hours.fri[1]: must be "HH:MM-HH:MM" or closed, got 540 (quote it',
        "bank_holidays[0]: not a date (YYYY-MM-DD): '2026-13-25'",
        "roles.apprentice: must be an email address",
        "roles.edt.phone: unknown key",
        "roles.iro: comes from the child's allocations",
        "events[1]: an event name is lower_case_with_underscores",
        "fallback: must be an email address, got 'nobody'",
        "default[1]: unknown role 'nobody'",
        "routes[1].name: 'ok' is already used",
        "routes[1].match.event: unknown event 'mising'",
        "routes[1].match.risk: unknown level 'extreme'",
        "routes[1].match.hours: must be office or out_of_hours, got 'night'",
        "routes[1].match.sender_known: must be true or false, got 'maybe'",
        "routes[1].match.colour: unknown matcher",
        "routes[1].notify[1]: unknown role 'chief'",
        "routes[1].notify[2]: not an email address: 'not@an@address'",
        "routes[1].notify[3]: must be a role or an email address, got 7",
        "routes[1].continue: must be true or false, got 'perhaps'",
        "routes[1].extra: unknown key",
        "routes[2].match.child.placement_type: must not be empty",
        "routes[2].match.child.locality: must be a string or a list of strings",
        "routes[2].routes[0].name: letters, digits",
        "routes[2].routes[1].match: required",
        "routes[2].routes[2]: must be a mapping",
        "routes[3]: notifies nobody",
        "routes[4].match.child: must map attributes to values",
    ]
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"
    # Declared events are accepted; the roles section without edt names it as unknown.
    assert "escalation_2h" not in text.split("events[1]")[0]
    assert len(text.splitlines()) == len(expected)


def test_role_without_an_address_is_named():
    text = problems(
        "routes:\n  - {match: {event: missing}, notify: [edt]}\n",
        base="roles: {duty: d@x.example}\n",
    )
    assert "routes[0].notify[0]: unknown role 'edt' (give its address under roles:)" in text


def test_duty_is_required_and_the_catch_all_must_notify_someone():
    text = problems("default: []\n", base="roles: {edt: e@x.example}\n")
    assert "roles.duty: required" in text
    assert "default: the catch-all must notify someone" in text


def test_broken_yaml_and_wrong_shapes():
    assert "not valid YAML" in problems("routes: [\n")
    assert "must be a mapping of keys" in problems("", base="- a\n- b\n")
    assert "routes: must be a list of routes" in problems("routes: {a: 1}\n")
    assert "office_hours: must map weekdays" in problems(
        "", base="office_hours: 9\nroles: {duty: d@x.example}\n"
    )
    text = problems("", base="roles: nobody\nbank_holidays: 2026-12-25\nevents: x\n")
    assert "roles: must map role names" in text
    assert "bank_holidays: must be a list of dates" in text
    assert "events: must be a list of event names" in text


def test_a_key_given_twice_is_a_problem():
    text = problems(
        "routes:\n  - name: a\n    match: {event: missing}\n    notify: [duty]\n    notify: [iro]\n"
    )
    assert "key 'notify' given twice" in text


def test_an_empty_file_routes_to_duty_only_if_duty_is_given():
    assert "roles.duty: required" in problems("", base="")
    r = load_routing("roles:\n  duty: d@x.example\n", source="t")
    assert r.fallback == "d@x.example"
    assert [x.address for x in r.route(event()).recipients] == ["d@x.example"]


# -- helpers and the shipped file -----------------------------------------------------


def test_event_for_child_from_a_directory_record():
    from mailbridge.directory.records import ChildRecord

    record = ChildRecord(
        child_id="100231",
        first_name="Jordan",
        last_name="Carter",
        date_of_birth=date(2011, 3, 14),
        placement_name="Oakview House",
        placement_type="Children's home",
        carer_emails=("oakview@homes.example",),
        attributes={"locality": "North"},
    )
    ev = event_for_child("missing", OFFICE, record, ALLOCATIONS, risk="high", sender_known=True)
    assert ev.attribute("locality") == "North"
    assert ev.attribute("placement_type") == "Children's home"
    assert ev.attribute("placement") == "Oakview House"
    assert ev.attribute("child_id") == "100231"
    assert ev.allocations["iro"]["email"] == "ruth.okafor@council.example"
    bare = event_for_child("unmatched", OFFICE, None)
    assert bare.child_id is None and bare.allocations == {}


def test_dry_run_text_and_json_carry_roles_rules_and_notes():
    r = rules("routes:\n  - {name: ep, match: {event: missing}, notify: [social_worker, iro]}\n")
    ev = event(child_id="100233", allocations={"social_worker": ALLOCATIONS["social_worker"]})
    routed = r.route(ev)
    text = "\n".join(routed_lines(r, ev, routed))
    assert "Thu 2026-11-26 10:00 GMT" in text and "office" in text
    assert "social_worker  Sam Patel <sam.patel@council.example>" in text
    assert "(no iro on record for child 100233)" in text
    data = routed_json(r, ev, routed)
    assert data["matched"] == ["ep"]
    assert data["hours"] == "office"
    assert data["recipients"][1]["role"] == "duty"
    assert data["recipients"][1]["note"] == "no iro on record for child 100233"


def test_shipped_routing_file_is_valid():
    r = load_routing(
        (ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"), source="routing.yaml"
    )
    assert r.timezone == "Europe/London"
    assert set(r.roles) == {"apprentice", "duty", "edt"}
    assert date(2026, 12, 28) in r.bank_holidays and date(2027, 12, 27) in r.bank_holidays
    assert r.rule_names() == [
        "default",
        "episode",
        "high-risk",
        "host-authority",
        "triage",
        "out-of-hours",
    ]
    # Monday to Friday 09:00-17:00; weekends closed.
    assert r.hours(datetime(2026, 11, 30, 9, 0, tzinfo=LONDON)) == "office"
    assert r.hours(datetime(2026, 11, 29, 12, 0, tzinfo=LONDON)) == "out_of_hours"


def test_the_routing_file_is_read_once_per_process_until_it_changes(tmp_path, monkeypatch):
    """The worker, the timers and the sender share one parsed Routing; an edit is seen."""
    import os

    from mailbridge.settings.config import load_routing_file, load_settings

    rules = tmp_path / "routing.yaml"
    rules.write_text((ROOT / "config" / "routing.yaml").read_text())
    (tmp_path / "mb.toml").write_text(f'[routing]\nfile = "{rules}"\n')
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings(str(tmp_path / "mb.toml"))
    first = load_routing_file(settings)
    assert load_routing_file(settings) is first
    rules.write_text(rules.read_text() + "\n# edited\n")
    stat = rules.stat()
    os.utime(rules, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert load_routing_file(settings) is not first
