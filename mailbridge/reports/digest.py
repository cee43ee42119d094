"""The weekly and monthly digest: the period's report, mailed once to the statistics officer
and the managers.

A digest is due once its period has ended and the local send hour has passed, for a period in
which the service was in use (it ends after the first message ever received). Only the most
recent finished period of each kind is considered, so a service that was down for a month
sends one digest when it comes back, not a backlog. The ``digest_runs`` row (unique per kind
and period start) and the outbox rows are written in one transaction: a second instance, or a
second pass, finds the row and sends nothing. The sender then delivers the rows like any alert,
with retries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailbridge.alerts.words import one_line
from mailbridge.reports.report import build_report
from mailbridge.resources import resource_path
from mailbridge.routing.rules import Routing
from mailbridge.settings.config import Settings
from mailbridge.store import inbound, tx
from mailbridge.store import reports as report_store
from mailbridge.store.models import QUEUED

log = logging.getLogger(__name__)

KINDS = ("weekly", "monthly")
EVENT = "digest"
ROLE_ADDRESS = "address"


@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # exclusive

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def key(self) -> str:
        return f"digest:{self.kind}:{self.start.isoformat()}"

    @property
    def label(self) -> str:
        if self.kind == "monthly":
            return self.start.strftime("%B %Y")
        first, last = self.start, self.last_day
        if first.year != last.year:
            return f"{first:%d %b %Y} to {last:%d %b %Y}"
        if first.month != last.month:
            return f"{first:%d %b} to {last:%d %b %Y}"
        return f"{first:%d} to {last:%d %b %Y}"


@dataclass(frozen=True)
class Addressee:
    role: str
    address: str
    name: str | None = None


@dataclass(frozen=True)
class Outcome:
    period: Period
    queued: int  # outbox rows written; 0 with ``skipped`` when already done or nobody to send to
    skipped: str | None = None


class ReportLike(Protocol):
    def html(self) -> str: ...

    def summary_text(self) -> str: ...


# (engine, settings, first day, last day, the report's "now")
ReportBuilder = Callable[[tx.Engine, Settings, date, date, datetime], ReportLike]


def last_finished(kind: str, today: date) -> Period:
    """The most recent whole period that ended before ``today`` (a local date)."""
    if kind == "weekly":
        this_monday = today - timedelta(days=today.weekday())
        return Period(kind, this_monday - timedelta(days=7), this_monday)
    if kind == "monthly":
        first = today.replace(day=1)
        previous = (first - timedelta(days=1)).replace(day=1)
        return Period(kind, previous, first)
    raise ValueError(f"unknown digest kind {kind!r}")


def due_periods(settings: Settings, now: datetime, in_use_since: datetime | None) -> list[Period]:
    """The periods whose digest may be sent at ``now``: ended, past the send hour, and in use.

    ``in_use_since`` is when the first message ever arrived: a period that ended before it
    predates the service, and a new installation does not mail figures for it.
    """
    if in_use_since is None:
        return []
    local = now.astimezone(settings.tz)
    periods = []
    for kind in settings.digest.periods:
        period = last_finished(kind, local.date())
        ends = datetime.combine(period.end, datetime.min.time(), settings.tz)
        if ends <= in_use_since:
            continue
        if local >= ends + timedelta(hours=settings.digest.send_hour):
            periods.append(period)
    return periods


def not_due_reason(
    settings: Settings, period: Period, now: datetime, in_use_since: datetime | None
) -> str | None:
    """Why the digest of ``period`` is not due at ``now`` (None when it is due), in words an
    operator can check: no mail yet, the period predates the first message, or the send hour
    has not come."""
    if in_use_since is None:
        return "no message has been received yet, so there are no figures to send"
    ends = datetime.combine(period.end, datetime.min.time(), settings.tz)
    if ends <= in_use_since:
        first = in_use_since.astimezone(settings.tz)
        return (
            f"the period ended before the first message ({first:%Y-%m-%d %H:%M %Z}); "
            "a new installation sends no figures for time before it"
        )
    send_from = ends + timedelta(hours=settings.digest.send_hour)
    if now.astimezone(settings.tz) < send_from:
        return f"it is sent from {send_from:%Y-%m-%d %H:%M %Z} (digest.send_hour)"
    return None


def in_use_since(engine: tx.Engine) -> datetime | None:
    with tx.read(engine) as session:
        return report_store.first_received(session)


def addressees(session: tx.Tx, routing: Routing, entries: Sequence[str]) -> list[Addressee]:
    """Roles, every current team manager, or plain addresses; each address once."""
    found: list[Addressee] = []
    for entry in entries:
        if "@" in entry:
            found.append(Addressee(ROLE_ADDRESS, entry.strip()))
        elif entry == "team_manager":
            found.extend(
                Addressee("team_manager", email, name)
                for email, name in report_store.team_managers(session)
            )
        elif entry in routing.roles:
            contact = routing.roles[entry]
            found.append(Addressee(entry, contact.address, contact.name))
        else:
            log.warning("digest.recipients: role %r has no address in the routing file", entry)
    seen: set[str] = set()
    unique = []
    for person in found:
        if person.address.lower() not in seen:
            seen.add(person.address.lower())
            unique.append(person)
    return unique


def _environment(settings: Settings) -> Environment:
    folders = [str(resource_path("templates"))]
    if settings.service.templates_dir:
        folders.insert(0, settings.service.templates_dir)
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(folders)]),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class DigestEmail:
    subject: str
    text: str
    html: str
    attachment_name: str
    attachment: bytes


def render(settings: Settings, period: Period, report: ReportLike) -> DigestEmail:
    """The email around the report: a short summary in the body, the report attached."""
    env = _environment(settings)
    context: dict[str, Any] = {
        "kind": period.kind,
        "label": period.label,
        "start": period.start,
        "last_day": period.last_day,
        "summary": report.summary_text().strip().splitlines(),
    }
    subject = one_line(env.get_template("digest/digest.subject.txt").render(context))
    return DigestEmail(
        subject=subject,
        text=env.get_template("digest/digest.txt").render(context),
        html=env.get_template("digest/digest.html").render(context),
        attachment_name=f"mailbridge-{period.kind}-report-{period.start.isoformat()}.html",
        attachment=report.html().encode("utf-8"),
    )


def _default_builder(
    engine: tx.Engine, settings: Settings, start: date, last: date, now: datetime
) -> ReportLike:
    return build_report(engine, settings, start, last, now=now)


def run_due(
    engine: tx.Engine,
    settings: Settings,
    routing: Routing,
    now: datetime,
    *,
    build: ReportBuilder = _default_builder,
    since: datetime | None = None,
) -> list[Outcome]:
    """Queue every due digest that no one has sent; safe to run from several instances.

    ``since``: the first message's arrival when the caller knows it (it never changes once
    set, and finding it scans the messages); None looks it up.
    """
    outcomes = []
    first = since if since is not None else in_use_since(engine)
    for period in due_periods(settings, now, first):
        with tx.read(engine) as session:
            done = report_store.digest_queued(session, period.kind, period.start)
        if done:
            continue
        outcomes.append(send(engine, settings, routing, period, now, build=build))
    return outcomes


def send(
    engine: tx.Engine,
    settings: Settings,
    routing: Routing,
    period: Period,
    now: datetime,
    *,
    build: ReportBuilder = _default_builder,
) -> Outcome:
    """Build the report (outside any transaction: it may take a second), then claim the
    period and queue the emails in one transaction.

    With nobody to send to, nothing is claimed: the period stays due, and the next pass
    after the directory or the routing file names someone sends it.
    """
    with tx.read(engine) as session:
        people = addressees(session, routing, settings.digest.recipients)
    if not people:
        log.warning("digest %s: no recipients resolved; it stays due", period.key)
        return Outcome(period, 0, skipped="no recipients")
    report = build(engine, settings, period.start, period.last_day, now)
    mail = render(settings, period, report)
    domain = settings.from_address.rpartition("@")[2] or "localhost"
    try:
        with tx.write(engine) as session:
            report_store.queue_digest(
                session,
                kind=period.kind,
                period_start=period.start,
                period_end=period.end,
                sent_at=now,
                alerts=[_row(period, person, mail, domain, now) for person in people],
            )
            inbound.audit(
                session,
                at=now,
                actor="digest",
                entity="digest",
                entity_id=period.key,
                action="queued",
                detail={"recipients": len(people), "roles": sorted({p.role for p in people})},
            )
    except report_store.AlreadyQueued:
        # Another instance claimed the period first; it sends, this one does not.
        return Outcome(period, 0, skipped="already sent")
    log.info("digest %s queued for %d recipient(s)", period.key, len(people))
    return Outcome(period, len(people))


def _row(
    period: Period, person: Addressee, mail: DigestEmail, domain: str, now: datetime
) -> dict[str, Any]:
    return {
        "event_key": period.key,
        "event": EVENT,
        "episode_id": None,
        "inbound_id": None,
        "role": person.role,
        "recipient": person.address.lower(),
        "recipient_name": person.name,
        "rule": "digest.recipients",
        "note": None,
        "message_id": f"mb.{uuid.uuid4().hex}@{domain}",
        "subject": mail.subject,
        "body_text": mail.text,
        "body_html": mail.html,
        "headers": {},
        "attach_inbound": False,
        "attachment_name": mail.attachment_name,
        "attachment_type": "text/html",
        "attachment": mail.attachment,
        "status": QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "created_at": now,
        "sent_at": None,
    }
