"""Reclassifying an episode (SSDA903 M / A): a staff reply over SMTP, and the CLI; audited."""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.delivery.reply_tokens import make_reply_address
from mailbridge.directory import csv_file
from mailbridge.store import directory
from mailbridge.store.models import Acknowledgement, Alert, AuditEntry, Episode, InboundMessage
from tests.support.env import CliRunner, SettingsFactory, plain_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BASE = "missing@council.example"
CARER = "oakview@homes.example"
SW = "sam.patel@council.example"


def _wait(predicate: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + 20
    while not (found := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def _audit(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with Session(engine) as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "absence_type").order_by(AuditEntry.id)
        )
        return [(r.entity_id, r.actor, dict(r.detail or {})) for r in rows]


def _episode(engine: Engine) -> Episode:
    with Session(engine) as s:
        return s.scalars(select(Episode)).one()


def test_a_staff_reply_over_smtp_acknowledges_and_sets_away(
    engine: Engine, make_settings: SettingsFactory, run_service: Any
) -> None:
    with Session(engine) as s, s.begin():
        parsed = csv_file.parse_csv((FIXTURES / "directory.csv").read_text(encoding="utf-8"))
        directory.import_directory(s, parsed, now=datetime.now(UTC), actor="test")
    settings = make_settings("[processing]\npoll_seconds = 0.2\ntimer_seconds = 3600\n")
    svc = run_service(settings)

    with smtplib.SMTP(svc.host, svc.port) as c:
        c.sendmail(
            CARER,
            [BASE],
            (
                f"From: {CARER}\r\nTo: {BASE}\r\nSubject: Missing: Jordan Carter (100231)\r\n"
                "Message-ID: <abs-1@x>\r\n\r\nJordan has not come home.\r\n"
            ).encode(),
        )

    def sw_alert() -> tuple[Alert, str] | None:
        with Session(engine) as s:
            found = s.execute(
                select(Alert, Episode.reference)
                .join(Episode, Episode.id == Alert.episode_id)
                .where(Alert.event == "missing", Alert.recipient == SW)
            ).first()
            return (found[0], found[1]) if found else None

    alert, ref = _wait(sw_alert)
    assert _episode(engine).absence_type == "M"
    token = make_reply_address(
        BASE, alert_id=alert.id, episode_ref=ref, role=alert.role, secret=reply_secret(settings)
    )
    with smtplib.SMTP(svc.host, svc.port) as c:
        c.sendmail(
            SW,
            [token],
            (
                f"From: {SW}\r\nTo: {token}\r\nSubject: Re: {alert.subject}\r\n"
                "Message-ID: <abs-2@x>\r\n\r\n"
                "Spoke to the carer: he is at his dad's, we know where.\r\n"
                "Missing or away: away\r\n"
            ).encode(),
        )

    def reply_done() -> InboundMessage | None:
        with Session(engine) as s:
            row = s.scalars(select(InboundMessage).where(InboundMessage.message_id == "abs-2@x"))
            found = row.first()
            return found if found is not None and found.status != "pending" else None

    reply = _wait(reply_done)
    assert reply.status == "processed"
    assert reply.reason == f"acknowledged {ref} as social_worker; absence type M→A"
    with Session(engine) as s:
        (ack,) = s.scalars(select(Acknowledgement))
        assert (ack.role, ack.address) == ("social_worker", SW)
        # the acknowledgement is not a report: no second round of alerts
        assert s.scalars(select(Alert).where(Alert.inbound_id == reply.id)).all() == []
    assert _episode(engine).absence_type == "A"
    ((entity, actor, detail),) = _audit(engine)
    assert (entity, actor) == (ref, SW)
    assert detail == {"old": "M", "new": "A", "source": "reply", "message": reply.id}


@pytest.fixture
def cli(
    engine: Engine,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliRunner:
    return plain_cli(database_url, tmp_path, monkeypatch, capsys)


def test_the_cli_reclassifies_audited_as_who_asked(
    engine: Engine, cli: CliRunner, tmp_path: Path
) -> None:
    assert cli("directory", "import", str(FIXTURES / "directory.csv"))[0] == 0
    report = tmp_path / "report.eml"
    report.write_bytes(
        (
            f"From: {CARER}\r\nTo: {BASE}\r\nSubject: Missing: Jordan Carter (100231)\r\n"
            "Message-ID: <abs-cli@x>\r\n\r\nJordan has not come home.\r\n"
        ).encode()
    )
    assert cli("inject", str(report))[0] == 0
    ref = _episode(engine).reference

    code, out, err = cli("episode", ref.lower(), "--absence-type", "a", "--by", "Tm North")
    assert code == 0, err
    assert f"{ref}: absence type M→A" in err
    assert "absence:     A (SSDA903: away from placement)" in out
    ((entity, actor, detail),) = _audit(engine)
    assert (entity, actor, detail) == (
        ref,
        "cli:Tm North",
        {"old": "M", "new": "A", "source": "cli"},
    )

    code, out, err = cli("episode", ref, "--absence-type", "A", "--json")
    assert code == 0, err
    assert json.loads(out)["absence_type"] == "A"
    assert "already A; nothing changed" in err
    assert len(_audit(engine)) == 1  # no change, no audit row

    assert cli("episode", ref, "--absence-type", "M")[0] == 0
    assert _episode(engine).absence_type == "M"
    assert [d["new"] for _e, _a, d in _audit(engine)] == ["A", "M"]

    code, _out, err = cli("episode", "MB-2026-99999", "--absence-type", "A")
    assert code == 1 and "no episode with reference MB-2026-99999" in err
    with pytest.raises(SystemExit):
        cli("episode", ref, "--absence-type", "X")
