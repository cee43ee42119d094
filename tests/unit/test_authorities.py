"""The authorities file, the host_authority/police roles, the out_of_area matcher, the outside
templates and the profile decision: pure, no database (docs/out-of-area.md)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.profiles import load_profile
from mailbridge.alerts.render import Renderer
from mailbridge.delivery.transport import relay_is_secure
from mailbridge.directory.csv_file import parse_csv
from mailbridge.directory.records import ChildRecord
from mailbridge.errors import ConfigError
from mailbridge.routing.authorities import Authorities, load_authorities
from mailbridge.routing.loading import load_routing
from mailbridge.routing.rules import Routing, event_for_child
from mailbridge.settings.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
LONDON_NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday, office hours

FILE = """\
authorities:
  WEST:
    name: Westshire County Council
    own: true
  NVALE:
    name: Northvale Borough Council
    missing_address: missing.team@northvale.example.gov.uk
    police_force: Northvale Constabulary
    police_address: mfc@northvale.example.police.uk
    return_interviews: host
  EPORT:
    name: Eastport City Council
    missing_address: mcteam@eastport.example.gov.uk
"""

RULES = """\
roles:
  duty: {address: duty@council.example, name: Duty desk}
routes:
  - name: host
    match: {event: [missing, returned], out_of_area: true}
    notify: [host_authority]
    continue: true
  - name: police
    match: {event: [missing], out_of_area: true}
    notify: [police]
    continue: true
  - name: in-area
    match: {event: [missing], out_of_area: false}
    notify: [in.area@council.example]
"""


def authorities() -> Authorities:
    return load_authorities(FILE, source="authorities.yaml")


def routing() -> Routing:
    r = load_routing(RULES, source="routing.yaml")
    return dataclasses.replace(r, authorities=authorities())


def child(placed: str | None, child_id: str = "100231") -> ChildRecord:
    return ChildRecord(
        child_id=child_id,
        first_name="Jordan",
        last_name="Carter",
        date_of_birth=date(2011, 3, 14),
        placement_name="Oakview House",
        placement_type=None,
        carer_emails=(),
        placement_authority=placed,
    )


def recipients(placed: str | None, event: str = "missing") -> list[tuple[str, str, str | None]]:
    r = routing()
    routed = r.route(event_for_child(event, LONDON_NOON, child(placed)))
    return [(x.role, x.address, x.note) for x in routed.recipients]


# -- the file -------------------------------------------------------------------------------


def test_the_shipped_example_is_valid_and_names_one_own_council() -> None:
    shipped = load_authorities(
        (ROOT / "config" / "authorities.yaml").read_text(encoding="utf-8"), source="shipped"
    )
    own = shipped.own
    assert own is not None and own.code == "E10000099"
    assert len(shipped.by_code) >= 3
    for address in shipped.addresses():
        assert ".example." in address  # made up, never a real council's inbox


def test_other_spellings_and_shapes_of_the_file_are_read_alike() -> None:
    """A list of entries, other key names from the issue's wording, a nested police entry."""
    listed = load_authorities(
        """\
authorities:
  - code: WEST
    name: Westshire County Council
    is_own: "yes"
  - code: NVALE
    name: Northvale Borough Council
    missing_children_email: missing.team@northvale.example.gov.uk
    police: {force: Northvale Constabulary, email: mfc@northvale.example.police.uk}
    return_interviews: Host
  - code: 1234
    contact: team@numbered.example.gov.uk
    police_email: police@numbered.example.police.uk
""",
        source="list.yaml",
    )
    nvale = listed.find("NVALE")
    assert nvale is not None
    assert nvale.missing_address == "missing.team@northvale.example.gov.uk"
    assert (nvale.police_force, nvale.police_address) == (
        "Northvale Constabulary",
        "mfc@northvale.example.police.uk",
    )
    assert nvale.return_interviews == "host"
    own = listed.own
    assert own is not None and own.code == "WEST"
    numbered = listed.find("1234")
    assert numbered is not None and numbered.name == "1234"
    assert numbered.police_force == "Police for 1234"
    # The codes at the top of the file, with no own entry: every coded child is out of area.
    bare = load_authorities(
        "NVALE:\n  name: Northvale\n  missing_address: m@northvale.example.gov.uk\n",
        source="bare.yaml",
    )
    assert bare.own is None and bare.out_of_area("NVALE") and not bare.out_of_area(None)
    assert bare.interviewer("NVALE") is None


def test_codes_and_names_are_found_and_the_own_area_is_not_out_of_area() -> None:
    a = authorities()
    nvale = a.find("nvale")
    assert nvale is not None and nvale.code == "NVALE"
    assert a.find(" Northvale  Borough Council ") is nvale
    assert a.find("") is None and a.find(None) is None
    assert a.out_of_area("NVALE") is True
    assert a.out_of_area("Westshire County Council") is False
    assert a.out_of_area("") is False and a.out_of_area(None) is False  # a blank asserts nothing
    assert a.out_of_area("SOUTHX") is True  # unknown: out of area, so duty hears of it
    held_by_host = a.interviewer("NVALE")
    held_by_us = a.interviewer("EPORT")
    assert held_by_host is not None and held_by_host.code == "NVALE"
    assert held_by_us is not None and held_by_us.code == "WEST"
    assert a.addresses() == {
        "missing.team@northvale.example.gov.uk",
        "mfc@northvale.example.police.uk",
        "mcteam@eastport.example.gov.uk",
    }
    (problem,) = a.unknown([("100231", "NVALE"), ("100232", "SOUTHX"), ("100233", "SOUTHX")])
    assert "unknown authority code 'SOUTHX'" in problem and "100232, 100233" in problem


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (FILE + "  SECOND:\n    name: Second\n    own: true\n", "found 2 (WEST, SECOND)"),
        (FILE.replace("missing_address: mcteam", "missing_adress: mcteam"), "EPORT.missing_adress"),
        (
            FILE.replace("mcteam@eastport.example.gov.uk", "mcteam at eastport"),
            "authorities.EPORT.missing_address: must be an email address",
        ),
        (
            FILE.replace("return_interviews: host", "return_interviews: them"),
            "authorities.NVALE.return_interviews: must be placing or host",
        ),
        (
            FILE.replace("    own: true\n", "    own: perhaps\n"),
            "authorities.WEST.own: must be true or false, got 'perhaps'",
        ),
        ("authorities:\n  EPORT: {name: Eastport}\n", "EPORT.missing_address: required"),
        ("authorities:\n  EPORT: {missing_address: ''}\n", "EPORT.missing_address: required"),
        (
            "authorities:\n  EPORT: {missing_address: a@x.example, email: b@x.example}\n",
            "authorities.EPORT.email: gives missing_address again (already as missing_address)",
        ),
        ("authorities: [a, b]\n", "authorities[0]: an entry of the list needs its `code`"),
        ("councils: 3\n", "councils: unknown key"),
        ("authorities: {", "not valid YAML"),
    ],
)
def test_every_problem_is_named_by_key(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_authorities(text, source="a.yaml")
    assert problem in str(caught.value)
    assert str(caught.value).count("a.yaml") >= 1


# -- routing --------------------------------------------------------------------------------


def test_an_out_of_area_child_reaches_the_host_authority_and_its_police() -> None:
    assert recipients("NVALE") == [
        ("host_authority", "missing.team@northvale.example.gov.uk", None),
        ("police", "mfc@northvale.example.police.uk", None),
    ]
    assert recipients("NVALE", "returned") == [
        ("host_authority", "missing.team@northvale.example.gov.uk", None)
    ]
    r = routing()
    routed = r.route(event_for_child("missing", LONDON_NOON, child("NVALE")))
    assert routed.recipients[0].name == "Northvale Borough Council missing children"
    assert routed.matched == ("host", "police")


def test_a_child_in_the_own_area_or_with_no_authority_reaches_no_one_outside() -> None:
    for placed in ("WEST", None, ""):
        assert recipients(placed) == [("address", "in.area@council.example", None)]


def test_a_gap_in_the_file_alerts_duty_with_a_note_and_never_goes_quiet() -> None:
    unknown = recipients("SOUTHX")
    assert [(role, address) for role, address, _ in unknown] == [("duty", "duty@council.example")]
    note = unknown[0][2] or ""
    assert "placement authority 'SOUTHX' of child 100231 is not in the authorities file" in note
    # Eastport has no police address: the police role falls to duty, naming the gap.
    eport = recipients("EPORT")
    assert eport[0][:2] == ("host_authority", "mcteam@eastport.example.gov.uk")
    assert eport[1][:2] == ("duty", "duty@council.example")
    assert "no police address for EPORT (Eastport City Council)" in (eport[1][2] or "")


def test_the_routing_file_checks_the_new_matcher_and_keeps_the_roles_for_the_file() -> None:
    bad = RULES.replace(
        "out_of_area: true}\n    notify: [police]", "out_of_area: yes please}\n    notify: [police]"
    )
    with pytest.raises(
        ConfigError, match=r"routes\[1\]\.match\.out_of_area: must be true or false"
    ):
        load_routing(bad, source="r.yaml")
    with pytest.raises(ConfigError, match=r"roles\.police: comes from the authorities file"):
        load_routing(RULES.replace("roles:\n", "roles:\n  police: p@x.example\n"), source="r.yaml")
    shipped = load_routing(
        (ROOT / "config" / "routing.yaml").read_text(encoding="utf-8"), source="shipped"
    )
    assert "host-authority" in shipped.rule_names()
    assert "police" not in shipped.rule_names()  # off by default, documented in the file


# -- what they receive -------------------------------------------------------------------------


def facts(event: str = "missing", **more: object) -> AlertFacts:
    values: dict[str, object] = {
        "event": event,
        "received_at": LONDON_NOON,
        "reference": "MB-2026-00042",
        "child_id": "100231",
        "child_first_name": "Jordan",
        "child_last_name": "Carter",
        "placement_name": "Oakview House",
        "risk_level": "high",
        "last_seen_at": LONDON_NOON,
        "last_seen_location": "the bus station",
        "police_reference": "log 1123",
        "carer_text": "Jordan kicked off again, the other boy in the home is scared of him.",
        "date_of_birth": date(2011, 3, 14),
        "placement_postcode": "NV1 4QQ",
        "placement_authority_name": "Northvale Borough Council",
        "placing_council": "Westshire County Council",
        "placing_contacts": ("Sam Patel, allocated social worker: sam.patel@council.example",),
        "note": "repeat missing: 3 episodes in 90 days",
    }
    values.update(more)
    return AlertFacts(**values)  # type: ignore[arg-type]


def test_the_host_authority_alert_says_what_they_need_and_nothing_of_the_carers_words() -> None:
    renderer = Renderer(tz=ZoneInfo("Europe/London"))
    out = renderer.render_alert(facts(), role="host_authority", recipient_name="Northvale")
    assert out.subject == "[MB-2026-00042] MISSING: child placed in your area, J.C. HIGH RISK"
    for fact in (
        "Jordan Carter",
        "14/03/2011",
        "Oakview House",
        "NV1 4QQ",
        "Northvale Borough Council",
        "Westshire County Council",
        "the bus station",
        "HIGH",
        "log 1123",
        "sam.patel@council.example",
    ):
        assert fact in out.text and fact in out.html, fact
    for private in ("kicked off", "other boy", "repeat missing"):
        assert private not in out.text and private not in out.html
    back = renderer.render_alert(
        facts("returned", returned_at=LONDON_NOON, interview_by="Northvale Borough Council"),
        role="host_authority",
        recipient_name=None,
    )
    assert back.subject.startswith("[MB-2026-00042] RETURNED: child placed in your area, J.C.")
    assert "Northvale Borough Council will hold the return home interview" in back.text
    staff = renderer.render_alert(facts(), role="social_worker", recipient_name=None)
    assert "kicked off" in staff.text  # staff still see everything, as before


def test_the_police_alert_says_what_became_of_the_profile() -> None:
    renderer = Renderer(tz=ZoneInfo("Europe/London"))
    out = renderer.render_alert(
        facts(profile_note="attached (jordan.pdf)."), role="police", recipient_name="Northvale"
    )
    assert "PHILOMENA PROFILE: attached (jordan.pdf)." in out.text
    assert "Jordan" not in out.subject and "J.C." in out.subject
    assert renderer.check() == []


# -- the profile ---------------------------------------------------------------------------------


def settings_with(tmp_path: Path, relay: str, extra: str = "") -> Settings:
    config = tmp_path / "mb.toml"
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    config.write_text(
        f'[relay]\nurl = "{relay}"\n{extra}[authorities]\nprofiles_dir = "{profiles}"\n'
        "max_profile_bytes = 64\n",
        encoding="utf-8",
    )
    return load_settings(str(config), {})


def test_the_profile_goes_only_over_a_verified_tls_relay(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "jc.pdf").write_bytes(b"%PDF-1.4 profile")
    (tmp_path / "profiles" / "big.pdf").write_bytes(b"x" * 65)
    plain = settings_with(tmp_path, "smtp://relay.council.example:25")
    tls = settings_with(tmp_path, "smtp://relay.council.example:587?starttls=1")
    unverified = settings_with(tmp_path, "smtps://relay.council.example", "verify_tls = false\n")
    assert [relay_is_secure(s) for s in (plain, tls, unverified)] == [False, True, False]

    sent = load_profile(tls, "jc.pdf")
    assert sent is not None and sent.data == b"%PDF-1.4 profile" and sent.withheld is None
    assert sent.content_type == "application/pdf" and sent.name == "jc.pdf"
    for settings in (plain, unverified):
        held = load_profile(settings, "jc.pdf")
        assert held is not None and held.data is None
        assert "not encrypted and verified" in (held.withheld or "")
    missing = load_profile(tls, "nobody.pdf")
    assert missing is not None and missing.data is None and "nobody.pdf" in (missing.withheld or "")
    big = load_profile(tls, "big.pdf")
    assert big is not None and big.data is None and "max_profile_bytes" in (big.withheld or "")
    assert load_profile(tls, None) is None


def test_the_directory_reads_the_out_of_area_columns() -> None:
    header = (
        "child_id,first_name,last_name,date_of_birth,placement_name,carer_emails,"
        "social_worker_name,social_worker_email,iro_name,iro_email,team_manager_email"
    )
    row = "100231,Jordan,Carter,2011-03-14,Oakview House,,,,,,"
    parsed = parse_csv(
        f"{header},Placement Authority,placement_postcode,profile_file,locality\n"
        f"{row},NVALE,nv1 4qq,profiles/jc.pdf,North\n"
        f"{'100232,Chloé,Dubois,2009-07-02,Riverside,,,,,,'},,,,South\n"
    )
    assert not parsed.errors
    jordan, chloe = parsed.rows
    assert (jordan.placement_authority, jordan.placement_postcode, jordan.profile_file) == (
        "NVALE",
        "NV1 4QQ",
        "profiles/jc.pdf",
    )
    assert (chloe.placement_authority, chloe.placement_postcode, chloe.profile_file) == (
        None,
        None,
        None,
    )
    assert jordan.attributes == {"locality": "North"}  # not among the free attributes
    assert parsed.out_of_area_columns == (
        "placement_authority",
        "placement_postcode",
        "profile_file",
    )
    older = parse_csv(f"{header}\n{row}\n")
    assert older.out_of_area_columns == ()
