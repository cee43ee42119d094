"""Children placed in another council's area, end to end (docs/out-of-area.md).

Carers' reports go over SMTP to the real `serve` (aiosmtpd listener); alerts come out at a real
SMTP sink relay, plain or TLS (trustme certificates); `alerts --json`, `check-config` and
`routes test` run as an operator types them. Every test runs on SQLite and, when configured,
PostgreSQL.
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailbridge.delivery.sender import Sender
from mailbridge.directory import csv_file
from mailbridge.reports.report import build_report
from mailbridge.store import directory
from mailbridge.store.models import QUEUED, Alert
from tests.support.e2e import fetch
from tests.support.env import CliRunner, RunningService, SettingsFactory, TlsFiles
from tests.support.relay import Received, Sink, SinkHandler
from tests.support.tls import TlsSink

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SHIPPED_ROUTING = ROOT / "config" / "routing.yaml"
ADDRESS = "missing@council.example"
CARER = "oakview@homes.example"  # Jordan Carter's home (100231)
RIVERSIDE = "riverside.carers@fostering.example"  # Chloé Dubois's carers (100232)
HOST = "missing.team@northvale.example.gov.uk"
HOST_POLICE = "mfc@northvale.example.police.uk"
OWN_POLICE = "mfc@westshire.example.police.uk"
DUTY = "duty@council.example"
OUTSIDE = {HOST, HOST_POLICE, OWN_POLICE}
LONDON = ZoneInfo("Europe/London")

AUTHORITIES = f"""\
authorities:
  WEST:
    name: Westshire County Council
    own: true
    police_force: Westshire Police
    police_address: {OWN_POLICE}
  NVALE:
    name: Northvale Borough Council
    missing_address: {HOST}
    police_force: Northvale Constabulary
    police_address: {HOST_POLICE}
    return_interviews: host
"""

# The shipped rules with the documented police route switched on, and a fixed address beside
# it that must never receive the profile.
POLICE_ON = """\
  - name: police
    match:
      event: [missing]
      out_of_area: true
    notify: [police, records@council.example]
    continue: true

  # A message nobody could match"""

PROFILE = b"%PDF-1.4\n% Philomena profile of J.C. (test document)\n%%EOF\n"


def directory_csv(tmp_path: Path, *, jordan: str = "NVALE", chloe: str = "WEST") -> Path:
    """The fixture directory with the out-of-area columns: Jordan placed in Northvale (with a
    profile), Chloé in the council's own area."""
    lines = (FIXTURES / "directory.csv").read_text(encoding="utf-8").splitlines()
    out = [lines[0] + ",placement_authority,placement_postcode,profile_file"]
    for line in lines[1:]:
        if line.startswith("100231,"):
            out.append(line + f",{jordan},nv1 4qq,jordan-philomena.pdf")
        elif line.startswith("100232,"):
            out.append(line + f",{chloe},,")
        else:
            out.append(line + ",,,")
    path = tmp_path / "directory.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def import_directory(engine: Engine, path: Path) -> None:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv(path.read_text(encoding="utf-8"))
        assert not parsed.errors, parsed.errors
        directory.import_directory(s, parsed, now=datetime.now(UTC), actor="test")


def toml(tmp_path: Path, *, police: bool = False, relay_extra: str = "") -> str:
    authorities = tmp_path / "authorities.yaml"
    authorities.write_text(AUTHORITIES, encoding="utf-8")
    profiles = tmp_path / "profiles"
    profiles.mkdir(exist_ok=True)
    (profiles / "jordan-philomena.pdf").write_bytes(PROFILE)
    text = (
        "[processing]\npoll_seconds = 30\n"
        f"[relay]\ntimeout_seconds = 5\n{relay_extra}"
        f'[authorities]\nfile = "{authorities.as_posix()}"\n'
        f'profiles_dir = "{profiles.as_posix()}"\n'
    )
    if police:
        rules = tmp_path / "routing.yaml"
        shipped = SHIPPED_ROUTING.read_text(encoding="utf-8")
        marker = "  # A message nobody could match"
        assert shipped.count(marker) == 1
        rules.write_text(shipped.replace(marker, POLICE_ON), encoding="utf-8")
        text += f'[routing]\nfile = "{rules.as_posix()}"\n'
    return text


def mail(mid: str, subject: str, body: str, *, sender: str = CARER, reply_to: str = "") -> bytes:
    thread = f"In-Reply-To: <{reply_to}>\r\nReferences: <{reply_to}>\r\n" if reply_to else ""
    return (
        f"From: Carer <{sender}>\r\nTo: {ADDRESS}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{mid}>\r\nDate: {format_datetime(datetime.now(UTC))}\r\n{thread}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + body.replace("\n", "\r\n")
        + "\r\n"
    ).encode()


def send(port: int, raw: bytes, sender: str = CARER) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
        client.sendmail(sender, [ADDRESS], raw)


def received(handler: SinkHandler) -> list[Received]:
    with handler.lock:
        return list(handler.received)


def wait_sent(url: str, handler: SinkHandler, mid: str, timeout: float = 30) -> list[Any]:
    """Every alert row raised by message ``mid``, once all are sent and at the sink."""
    deadline = time.monotonic() + timeout
    rows: list[Any] = []
    while time.monotonic() < deadline:
        status = fetch(url, "SELECT status FROM inbound_messages WHERE message_id = :m", m=mid)
        rows = fetch(
            url,
            "SELECT a.id, a.role, a.recipient, a.status, a.message_id, a.event, a.note "
            "FROM alerts a JOIN inbound_messages m ON m.id = a.inbound_id "
            "WHERE m.message_id = :m ORDER BY a.id",
            m=mid,
        )
        if status and status[0][0] != "pending" and rows and all(r.status == "sent" for r in rows):
            at_sink = {r.message_id for r in received(handler)}
            if all(r.message_id in at_sink for r in rows):
                return rows
        time.sleep(0.05)
    pytest.fail(f"alerts for {mid} not all delivered within {timeout} s: {rows}")


def delivered_to(handler: SinkHandler, rows: list[Any], address: str) -> EmailMessage:
    wanted = {r.message_id for r in rows if r.recipient == address}
    assert len(wanted) == 1, f"expected one alert to {address}, rows: {rows}"
    (got,) = [m for m in received(handler) if m.message_id in wanted]
    assert got.rcpt_tos == [address]
    return got.parsed()


def plain(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def attachments(msg: EmailMessage) -> list[tuple[str | None, bytes]]:
    out = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True)
        out.append((part.get_filename(), payload if isinstance(payload, bytes) else b""))
    return out


def minutes_ago(n: int) -> str:
    return f"{(datetime.now(UTC) - timedelta(minutes=n)).astimezone(LONDON):%H:%M}"


@pytest.fixture
def relay() -> Iterator[Sink]:
    sink = Sink().start()
    yield sink
    sink.stop()


@pytest.fixture
def cli(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[[str], CliRunner]:
    """`mailbridge --config FILE ...` on the test's database, with the given TOML."""
    monkeypatch.setenv("MAILBRIDGE_DATABASE_URL", database_url)
    monkeypatch.setenv("MAILBRIDGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MAILBRIDGE_ADDRESSES", ADDRESS)
    monkeypatch.delenv("MAILBRIDGE_CONFIG", raising=False)

    def make(text: str) -> CliRunner:
        config = tmp_path / "cli.toml"
        config.write_text(text, encoding="utf-8")
        return CliRunner(config, capsys)

    return make


# -- missing and return ---------------------------------------------------------------------


def test_out_of_area_missing_and_return_tell_the_host_authority(
    *,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    relay: Sink,
    cli: Callable[[str], CliRunner],
) -> None:
    import_directory(engine, directory_csv(tmp_path))
    settings_toml = toml(tmp_path)
    svc = run_service(make_settings(settings_toml, relay_url=relay.url))

    send(
        svc.port,
        mail(
            "oa-missing@homes.example",
            "Jordan Carter missing",
            f"Jordan Carter (100231) went out at {minutes_ago(90)} and has not come back.\n"
            "He was last seen at the bus station wearing a red coat. High risk.\n"
            "Police reference 1123 of today.",
        ),
    )
    rows = wait_sent(database_url, relay.handler, "oa-missing@homes.example")
    host_rows = [r for r in rows if r.role == "host_authority"]
    assert [r.recipient for r in host_rows] == [HOST]
    assert HOST_POLICE not in {r.recipient for r in rows}  # the police route is off by default

    msg = delivered_to(relay.handler, rows, HOST)
    subject = str(msg["Subject"])
    assert "J.C." in subject and "placed in your area" in subject
    assert "Jordan" not in subject and "Carter" not in subject
    body = plain(msg)
    for fact in (
        "Jordan Carter",  # who (the body, not the subject)
        "14/03/2011",
        "Oakview House",  # where placed
        "NV1 4QQ",
        "Northvale Borough Council",
        "Westshire County Council",  # the placing council
        "bus station",  # where last seen
        "red coat",
        "HIGH",  # risk
        "1123",  # police reference
        "sam.patel@council.example",  # a contact at the placing council
        DUTY,
    ):
        assert fact in body, f"{fact!r} missing from the host authority's alert"
    # Never the carer's own words, nor a reply token that would count as our acknowledgement.
    assert "WHAT THE SENDER WROTE" not in body and "\n> " not in body
    assert msg["Reply-To"] == ADDRESS
    assert not attachments(msg)

    send(
        svc.port,
        mail(
            "oa-back@homes.example",
            "Re: Jordan Carter missing",
            f"Jordan came home at {minutes_ago(5)}, safe and well.",
            reply_to="oa-missing@homes.example",
        ),
    )
    rows = wait_sent(database_url, relay.handler, "oa-back@homes.example")
    assert {r.event for r in rows if r.role == "host_authority"} == {"returned"}
    back = delivered_to(relay.handler, rows, HOST)
    assert str(back["Subject"]).split("] ", 1)[1].startswith("RETURNED: child placed in your area")
    body = plain(back)
    assert "Northvale Borough Council (host authority) will hold the return home interview" in body

    # The interview is recorded as held by the host authority, as its entry says.
    (interview,) = fetch(database_url, "SELECT by_authority FROM interviews")
    assert interview.by_authority == "NVALE"
    (episode,) = fetch(database_url, "SELECT placement_authority, status FROM episodes")
    assert episode.placement_authority == "NVALE" and episode.status == "returned"

    # `alerts --json`: the role host_authority, both events, to the address from the file.
    run = cli(settings_toml)
    alerts = run.json("alerts", "--json")
    host = [a for a in alerts if a["role"] == "host_authority"]
    assert sorted((a["event"], a["recipient"], a["status"]) for a in host) == [
        ("missing", HOST, "sent"),
        ("returned", HOST, "sent"),
    ]

    (interview,) = run.json("interviews", "--json")
    assert interview["by_authority"] == "NVALE"
    (episode_json,) = run.json("episodes", "--json")
    assert episode_json["placement_authority"] == "NVALE"

    # The figures count the episode apart, by host authority: report (JSON, HTML) and digest.
    today = datetime.now(LONDON).date()
    span = ("--from", (today - timedelta(days=1)).isoformat(), "--to", today.isoformat())
    figures = run.json("report", *span, "--format", "json")
    assert figures["out_of_area"] == 1
    assert figures["by_host_authority"] == [
        {"authority": "Northvale Borough Council (NVALE)", "episodes": 1}
    ]
    code, page, err = run("report", *span)
    assert code == 0, err
    assert "Placed out of area: by host authority" in page
    assert '<td>Northvale Borough Council (NVALE)</td><td class="n">1</td>' in page
    summary = build_report(
        engine, make_settings(settings_toml), today - timedelta(days=1), today
    ).summary_text()
    assert "Placed out of area: 1 of 1 episode(s) (Northvale Borough Council (NVALE) 1)." in (
        summary
    )


def test_a_child_placed_in_the_councils_own_area_alerts_no_one_outside(
    *,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    relay: Sink,
) -> None:
    import_directory(engine, directory_csv(tmp_path))
    # The police route on as well: an in-area child still reaches nobody outside.
    settings = make_settings(toml(tmp_path, police=True), relay_url=relay.url)
    svc = run_service(settings)
    send(
        svc.port,
        mail(
            "own-missing@fostering.example",
            "Chloé Dubois missing",
            f"Chloé Dubois (100232) left at {minutes_ago(60)} and has not returned.",
            sender=RIVERSIDE,
        ),
        sender=RIVERSIDE,
    )
    rows = wait_sent(database_url, relay.handler, "own-missing@fostering.example")
    assert {"amy.jones@council.example", "ruth.okafor@council.example"} <= {
        r.recipient for r in rows
    }
    assert not {r.role for r in rows} & {"host_authority", "police"}
    assert not {r.recipient for r in rows} & OUTSIDE
    assert not [m for m in received(relay.handler) if set(m.rcpt_tos) & OUTSIDE]
    (interview_count,) = fetch(database_url, "SELECT count(*) AS n FROM interviews")
    assert interview_count.n == 0
    today = datetime.now(LONDON).date()
    report = build_report(engine, settings, today - timedelta(days=1), today)
    assert report.figures.episodes == 1 and report.figures.out_of_area == 0
    assert report.figures.by_host_authority == []


# -- the police and the profile ----------------------------------------------------------------


@pytest.fixture
def tls_relay(tls_files: TlsFiles) -> Iterator[TlsSink]:
    sink = TlsSink(tls_files.cert_file, tls_files.key_file, implicit=False).start()
    yield sink
    sink.stop()


def test_police_route_carries_the_profile_over_tls_and_only_to_the_police(
    *,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    tls_relay: TlsSink,
    tls_files: TlsFiles,
) -> None:
    import_directory(engine, directory_csv(tmp_path))
    settings = make_settings(
        toml(tmp_path, police=True, relay_extra=f'ca_file = "{tls_files.ca_file}"\n'),
        relay_url=tls_relay.url,
    )
    svc = run_service(settings)
    send(
        svc.port,
        mail(
            "police-tls@homes.example",
            "Jordan Carter missing",
            f"Jordan Carter (100231) has been missing since {minutes_ago(120)}. High risk.",
        ),
    )
    rows = wait_sent(database_url, tls_relay.handler, "police-tls@homes.example")
    police = [r for r in rows if r.role == "police"]
    assert [r.recipient for r in police] == [HOST_POLICE]
    msg = delivered_to(tls_relay.handler, rows, HOST_POLICE)
    assert attachments(msg) == [("jordan-philomena.pdf", PROFILE)]
    assert "Philomena profile: attached" in plain(msg).replace(
        "PHILOMENA PROFILE", "Philomena profile"
    )
    assert "Jordan" not in str(msg["Subject"])
    # Nobody else gets the profile: not the fixed address on the same route, not the host
    # authority, not the staff.
    for row in rows:
        if row.recipient != HOST_POLICE:
            assert not attachments(delivered_to(tls_relay.handler, rows, row.recipient)), row
    assert "records@council.example" in {r.recipient for r in rows}


def test_without_tls_the_police_are_told_without_the_profile_and_duty_is_asked_to_send_it(
    *,
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    make_settings: SettingsFactory,
    run_service: Callable[[Any], RunningService],
    relay: Sink,
) -> None:
    import_directory(engine, directory_csv(tmp_path))
    svc = run_service(make_settings(toml(tmp_path, police=True), relay_url=relay.url))
    send(
        svc.port,
        mail(
            "police-plain@homes.example",
            "Jordan Carter missing",
            f"Jordan Carter (100231) has been missing since {minutes_ago(120)}.",
        ),
    )
    rows = wait_sent(database_url, relay.handler, "police-plain@homes.example")
    msg = delivered_to(relay.handler, rows, HOST_POLICE)
    assert not attachments(msg)  # a child's profile never crosses an unencrypted hop
    assert "not attached" in plain(msg)
    duty = [r for r in rows if r.recipient == DUTY]
    assert len(duty) == 1 and "Philomena profile of child 100231 was not sent" in duty[0].note
    duty_mail = plain(delivered_to(relay.handler, rows, DUTY))
    assert "not encrypted and verified" in duty_mail
    assert not any(attachments(m.parsed()) for m in received(relay.handler))


# -- the operator's commands ---------------------------------------------------------------------


def test_check_config_names_an_unknown_code_and_routes_test_shows_the_host_route(
    *,
    engine: Engine,
    tmp_path: Path,
    cli: Callable[[str], CliRunner],
) -> None:
    settings_toml = toml(tmp_path)
    run = cli(settings_toml)
    code, out, err = run("directory", "import", str(directory_csv(tmp_path, chloe="SOUTHX")))
    assert code == 0, err
    assert "unknown authority code 'SOUTHX'" in err  # the import warns, the rows are in

    code, out, err = run("check-config")
    assert code == 2
    assert "configuration OK" not in out
    assert "unknown authority code 'SOUTHX'" in err and "100232" in err

    code, out, err = run("directory", "import", str(directory_csv(tmp_path)))
    assert code == 0 and "unknown authority" not in err
    code, out, err = run("check-config")
    assert code == 0, err
    assert "2 authorities; this council is WEST, Westshire County Council" in out

    at = "2026-12-01T11:00"
    data = run.json(
        "routes", "test", "--json", "--event", "missing", "--child", "100231", "--at", at
    )
    assert data["out_of_area"] is True and data["placement_authority"] == "NVALE"
    assert "host-authority" in data["matched"]
    host = [r for r in data["recipients"] if r["role"] == "host_authority"]
    assert [(r["address"], r["rule"]) for r in host] == [(HOST, "host-authority")]

    code, out, err = run("routes", "test", "--event", "returned", "--child", "100231", "--at", at)
    assert code == 0, err
    assert "placed in Northvale Borough Council (out of area)" in out
    assert f"host_authority  Northvale Borough Council missing children <{HOST}>" in out

    data = run.json(
        "routes", "test", "--json", "--event", "missing", "--child", "100232", "--at", at
    )
    assert data["out_of_area"] is False
    assert not [r for r in data["recipients"] if r["role"] == "host_authority"]

    # Without a directory: a made-up child placed with the given authority.
    data = run.json(
        "routes",
        "test",
        "--json",
        "--event",
        "missing",
        "--placement-authority",
        "NVALE",
        "--at",
        at,
    )
    assert HOST in {r["address"] for r in data["recipients"]}
    code, out, err = run(
        "routes", "test", "--event", "missing", "--placement-authority", "NOPE", "--at", at
    )
    assert code == 1 and "'NOPE' is not in the authorities file" in err

    # A broken authorities file is named by key, and stops check-config.
    (tmp_path / "authorities.yaml").write_text(
        AUTHORITIES.replace("missing_address:", "missing_adress:"), encoding="utf-8"
    )
    code, out, err = run("check-config")
    assert code == 2
    assert "authorities.NVALE.missing_adress: unknown key" in err


def test_a_profile_queued_over_tls_is_not_sent_once_the_relay_is_plain(
    *,
    engine: Engine,
    make_settings: SettingsFactory,
    relay: Sink,
) -> None:
    """The relay was changed to plain text with a police alert still queued: it goes, the
    profile stays behind."""
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        s.add(
            Alert(
                event_key="test:police",
                event="missing",
                role="police",
                recipient=HOST_POLICE,
                message_id="mb.queued-profile@council.example",
                subject="[MB-2026-00001] MISSING: child placed in your area, J.C.",
                body_text="PHILOMENA PROFILE: attached (jordan-philomena.pdf).",
                body_html="<p>attached</p>",
                headers={},
                attach_inbound=False,
                attachment_name="jordan-philomena.pdf",
                attachment_type="application/pdf",
                attachment=PROFILE,
                status=QUEUED,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    sender = Sender(engine, make_settings(relay_url=relay.url))
    assert sender.deliver_due().sent == 1
    (got,) = received(relay.handler)
    assert got.rcpt_tos == [HOST_POLICE]
    assert not attachments(got.parsed())


def test_a_directory_without_the_columns_leaves_them_alone(
    *, engine: Engine, tmp_path: Path
) -> None:
    import_directory(engine, directory_csv(tmp_path))
    import_directory(engine, FIXTURES / "directory.csv")  # an older export: no such columns
    with Session(engine) as s:
        jordan = directory.get_child(s, "100231")
        assert jordan is not None
        assert (jordan.placement_authority, jordan.placement_postcode, jordan.profile_file) == (
            "NVALE",
            "NV1 4QQ",
            "jordan-philomena.pdf",
        )
        assert "placement_authority" not in jordan.attributes
    import_directory(engine, directory_csv(tmp_path, jordan="WEST"))  # moved home
    with Session(engine) as s:
        jordan = directory.get_child(s, "100231")
        assert jordan is not None and jordan.placement_authority == "WEST"
        detail = directory.describe_child(s, "100231")
        assert detail is not None and detail["placement_postcode"] == "NV1 4QQ"
