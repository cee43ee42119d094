"""Alert and receipt emails rendered from plain facts with Jinja2 templates: pure, no I/O but
reading the templates.

The caller (delivery/processing) builds one ``AlertFacts`` per event, then asks a ``Renderer``
for a ``Rendered`` (subject, text, HTML) per recipient. Sending, headers and the outbox are not
this module's job.

Templates live in ``templates/alerts/`` as ``<event>.subject.txt``, ``<event>.txt`` and
``<event>.html``. An event without its own set (escalation, reminder, ...) uses ``default.*``,
so later events need no new templates. A deployment overrides any of them, one file at a time,
by putting a file with the same name in its override directory (laid out like
``templates/alerts``; a directory laid out like ``templates/`` with an ``alerts/`` folder is
accepted too). A broken override never stops an alert: the packaged template is used instead
and the failure is logged (never the body).

Safety:

- The carer's words (``carer_text``, ``subject_given``, every extracted fact) are only ever
  passed to templates as data; nothing a carer writes is compiled as a template.
- HTML templates are autoescaped; the carer's text is shown inside ``<blockquote>``, escaped,
  with newlines as ``<br>``. The environment is sandboxed (immutable) as well.
- Subject templates see a restricted context: reference, event, initials, child ID, risk level,
  sender address, message number; never a full name nor the carer's text. Every value and the
  rendered subject are folded onto one line, so CR/LF cannot inject headers.

Extra keys read by the shipped templates (all optional, ``AlertFacts.extra``):

- ``delivery_failed``: ``failed_event``, ``failed_role``, ``failed_address``, ``attempts``,
  ``alert_id``; ``error`` carries the relay's answer.
- any event: every other key is listed in the body under "Other details".

Recipients outside the council (docs/out-of-area.md) get their own template set whatever the
event: ``host_authority.*`` for the host authority's missing-children team and ``police.*`` for
the police; each says what the outside body needs (who, where placed, when and where last seen,
risk, police reference, a contact here; on return, who holds the return home interview) and
never the carer's own words.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailbridge.alerts.words import (
    NOT_STATED,
    born,
    format_clock,
    format_local,
    html_lines,
    human_list,
    initials,
    match_label,
    not_stated,
    one_line,
    percent,
    quote,
    size,
    yes_no,
)
from mailbridge.resources import resource_path

__all__ = ["EVENTS", "AlertFacts", "Rendered", "Renderer"]

log = logging.getLogger(__name__)

# Events with their own shipped template set; any other name renders with default.*.
EVENTS = (
    "missing",
    "update",
    "returned",
    "unmatched",
    "not_a_report",
    "failed",
    "delivery_failed",
    "smtp_refusals",
    "triage_summary",
    "interview_incomplete",
)
# Roles outside the council: one template set each, for every event (docs/out-of-area.md).
ROLE_TEMPLATES = ("host_authority", "police")
PARTS = ("subject.txt", "txt", "html")
MAX_SUBJECT = 200
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

ROLE_LABELS = {
    "social_worker": "allocated social worker",
    "iro": "independent reviewing officer (IRO)",
    "apprentice": "missing-children apprentice",
    "team_manager": "team manager",
    "duty": "duty desk",
    "edt": "emergency duty team",
    "reporter": "person who made the report",
    "address": "named recipient",
    "fallback": "fallback address for undelivered alerts",
    "host_authority": "missing-children contact of the area where the child is placed",
    "police": "police force for the area where the child is placed",
}


# -- the data -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AlertFacts:
    """Everything an alert or receipt may show, as plain values. None means "not stated".

    Datetimes should be aware (UTC); a naive one is read as UTC. ``attachments`` are
    ``(name, content_type, size)``; ``carer_text`` is the carer's new text, shown quoted.
    """

    event: str
    received_at: datetime
    reference: str | None = None
    child_id: str | None = None
    child_first_name: str | None = None
    child_last_name: str | None = None
    child_name_given: str | None = None  # the name as the carer wrote it (unmatched reports)
    child_date_of_birth: date | None = None  # from the directory; the age is worked out from it
    placement_name: str | None = None
    risk_level: str | None = None
    risk_notes: str | None = None
    last_seen_at: datetime | None = None
    last_seen_text: str | None = None
    last_seen_location: str | None = None
    police_reference: str | None = None
    description: str | None = None
    clothing: str | None = None
    reported_by: str | None = None  # the sender's address
    reporter_name: str | None = None
    reporter_phone: str | None = None
    sender_known: bool = False
    # The sender check (docs/trust.md): True verified, False not verified, None not applicable.
    sender_verified: bool | None = None
    sender_check: str | None = None  # why, e.g. "dmarc=pass reported by mx.council.example"
    returned_at: datetime | None = None
    returned_by: str | None = None
    safe_and_well: bool | None = None
    match_method: str | None = None
    match_confidence: float | None = None
    match_note: str | None = None
    carer_text: str = ""
    subject_given: str = ""
    attachments: Sequence[tuple[str | None, str, int]] = field(default=(), hash=False)
    episode_status: str | None = None
    note: str | None = None  # e.g. the routing note "no IRO on record: duty alerted instead"
    error: str | None = None  # why processing (or delivery) failed
    message_id: str | None = None  # Message-ID of the carer's message
    inbound_id: int | None = None  # the stored message's row id ("message 17")
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)
    # The footer's reminder to staff: how to acknowledge and who is told, when, if nobody does
    # (timers.plan.acknowledge_reminder); None on mail that is not a staff alert.
    reminder: str | None = None
    # For a child placed in another council's area (host_authority and police alerts).
    date_of_birth: date | None = None
    placement_postcode: str | None = None
    placement_authority_name: str | None = None  # the host authority
    placing_council: str | None = None  # this council, the authorities file's own entry
    placing_contacts: Sequence[str] = field(default=(), hash=False)  # who to call here
    interview_by: str | None = None  # who holds the return home interview
    profile_note: str | None = None  # the Philomena profile: attached, or why not


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


# -- lines made of the facts ------------------------------------------------------------


def reporter_line(facts: AlertFacts) -> str | None:
    """Who sent this and how to call them, on one line: name, phone, address, standing."""
    if not (facts.reported_by or facts.reporter_name or facts.reporter_phone):
        return None
    parts = [one_line(facts.reporter_name)] if facts.reporter_name else []
    parts.append(f"phone {one_line(facts.reporter_phone) or NOT_STATED}")
    if facts.reported_by:
        standing = "known carer" if facts.sender_known else "SENDER UNVERIFIED"
        parts.append(f"{one_line(facts.reported_by)} ({standing})")
    return ", ".join(parts)


def identifiers_line(facts: AlertFacts) -> str | None:
    """The internal identifiers, for the footer: message number, Message-ID, match confidence."""
    parts = []
    if facts.inbound_id is not None:
        parts.append(f"message {facts.inbound_id}")
    if facts.message_id:
        parts.append(f"Message-ID <{one_line(facts.message_id).strip('<>')}>")
    if facts.match_confidence is not None:
        parts.append(f"match confidence {percent(facts.match_confidence)}")
    return " · ".join(parts) or None


# -- the renderer -----------------------------------------------------------------------


class _OnceTable:
    """One event's facts table (``_facts.txt`` or ``_facts.html``), rendered at most once for
    all of the event's recipients: the table shows the event's facts, never the recipient,
    and it is the dearest part of an alert to render (a macro call per row)."""

    def __init__(self, template: Any, context: Mapping[str, Any]) -> None:
        self._template = template
        self._context = context
        self._out: str | None = None

    def _render(self) -> str:
        if self._out is None:
            self._out = str(self._template.render(self._context))
        return self._out

    def __html__(self) -> str:  # the HTML table comes from an autoescaped template
        return self._render()

    def __str__(self) -> str:
        return self._render()


class _Batch:
    """What the recipients of one event share: the recipient-free context, and per template
    environment the facts tables and the subject (an override and its packaged fallback
    never share a rendering)."""

    def __init__(self, base: dict[str, Any]) -> None:
        self.base = base
        self.tables: dict[tuple[int, str], _OnceTable] = {}
        self.subjects: dict[tuple[int, str], str] = {}


def packaged_dir() -> Path:
    return resource_path("templates") / "alerts"


class Renderer:
    """Renders alerts and receipts; one per process is enough (templates are cached)."""

    def __init__(self, *, tz: ZoneInfo, override_dir: Path | None = None) -> None:
        self.tz = tz
        self.override_dir = _override_root(override_dir)
        loaders: list[BaseLoader] = []
        if self.override_dir is not None:
            loaders.append(FileSystemLoader(str(self.override_dir)))
        loaders.append(FileSystemLoader(str(packaged_dir())))
        # The packaged templates are our own code; a deployment's overrides run sandboxed.
        # (The sandbox doubles the cost of a render, so it is paid only where it protects.)
        self._packaged = self._environment(
            FileSystemLoader(str(packaged_dir())), sandboxed=False
        )
        self._env = (
            self._environment(ChoiceLoader(loaders), sandboxed=True)
            if self.override_dir is not None
            else self._packaged
        )

    def _environment(self, loader: BaseLoader, *, sandboxed: bool) -> Environment:
        kind = ImmutableSandboxedEnvironment if sandboxed else Environment
        env = kind(
            loader=loader,
            autoescape=select_autoescape(["html"], default_for_string=False, default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        tz = self.tz
        filters: dict[str, Callable[..., Any]] = {
            "ns": not_stated,
            "when": lambda v: format_local(v, tz),
            "clock": lambda v: format_clock(v, tz),
            "yesno": yes_no,
            "percent": percent,
            "size": size,
            "quote": quote,
            "html_lines": html_lines,
            "match_label": match_label,
            "one_line": one_line,
            "split_lines": lambda v: [one_line(x) for x in str(v or "").split("\n") if x.strip()],
        }
        env.filters.update(filters)
        return env

    # -- public -----------------------------------------------------------------------

    def render_alert(
        self,
        facts: AlertFacts,
        *,
        role: str,
        recipient_name: str | None,
        note: str | None = None,
    ) -> Rendered:
        """The alert for one recipient. ``note`` (e.g. ``Recipient.note``) joins ``facts.note``."""
        context, subject = self._alert_context(facts, role, recipient_name, note)
        name = role if role in ROLE_TEMPLATES else _template_event(facts.event)
        return self._render(name, context, subject)

    def render_alerts(
        self, facts: AlertFacts, recipients: Sequence[tuple[str, str | None, str | None]]
    ) -> list[Rendered]:
        """``render_alert`` for each (role, name, note) of one event, the same emails; the
        facts table and the subject are rendered once for them all, not once each."""
        batch = _Batch(self._context(facts))
        out = []
        for role, recipient_name, note in recipients:
            context, subject = self._alert_context(facts, role, recipient_name, note, batch.base)
            name = role if role in ROLE_TEMPLATES else _template_event(facts.event)
            out.append(self._render(name, context, subject, batch))
        return out

    def render_receipt(self, facts: AlertFacts, *, passed_to: list[str]) -> Rendered:
        """The carer's receipt. Initials appear only when the sender is on the child's record,
        so an unknown sender learns nothing from the directory."""
        context, subject = self._receipt_context(facts, passed_to)
        return self._render("receipt", context, subject)

    def check(self) -> list[str]:
        """Render every shipped set with sample facts, overrides included and without the
        packaged fallback; the problems found, one line each (for check-config)."""
        problems: list[str] = []
        now = datetime(2026, 1, 1, tzinfo=UTC)
        for event in (*EVENTS, "receipt", *ROLE_TEMPLATES):
            facts = AlertFacts(event=event, received_at=now)
            if event == "receipt":
                context, subject = self._receipt_context(facts, ["the duty desk"])
            elif event in ROLE_TEMPLATES:
                facts = AlertFacts(event="missing", received_at=now)
                context, subject = self._alert_context(facts, event, None, None)
            else:
                context, subject = self._alert_context(facts, "duty", None, None)
            try:
                # Through a batch, as alerts are rendered: a facts-table override that reads
                # the recipient (which it is not given) is named here.
                self._render_with(
                    self._env, event, context, subject, _Batch(self._context(facts))
                )
            except Exception as exc:  # report every broken set, not only the first
                problems.append(f"{event}: {type(exc).__name__}: {one_line(exc)}")
        return problems

    # -- internals --------------------------------------------------------------------

    def _render(
        self,
        event: str,
        context: dict[str, Any],
        subject_context: dict[str, Any],
        batch: _Batch | None = None,
    ) -> Rendered:
        try:
            return self._render_with(self._env, event, context, subject_context, batch)
        except Exception as exc:
            if self._packaged is self._env:
                raise
            # Name the failure, never the content: an error's text can quote the facts (a
            # missing key named by a child's name), so only its type; check-config says more.
            log.warning(
                "override template for %s failed (%s); using the packaged one; "
                "`mailbridge check-config` names the fault",
                event,
                type(exc).__name__,
            )
            return self._render_with(self._packaged, event, context, subject_context, batch)

    def _render_with(
        self,
        env: Environment,
        event: str,
        context: dict[str, Any],
        subject_context: dict[str, Any],
        batch: _Batch | None = None,
    ) -> Rendered:
        def template(part: str) -> Any:
            try:
                return env.get_template(f"{event}.{part}")
            except TemplateNotFound:
                return env.get_template(f"default.{part}")

        # The subject sees no recipient (_subject_context): one per event and environment.
        key = (id(env), event)
        subject = batch.subjects.get(key) if batch is not None else None
        if subject is None:
            subject = one_line(template("subject.txt").render(subject_context))
            if len(subject) > MAX_SUBJECT:
                subject = subject[: MAX_SUBJECT - 3].rstrip() + "..."
            if batch is not None:
                batch.subjects[key] = subject
        context = dict(context, subject=subject)
        if batch is not None:
            for part in ("txt", "html"):
                table = batch.tables.get((id(env), part))
                if table is None:
                    table = _OnceTable(env.get_template(f"_facts.{part}"), batch.base)
                    batch.tables[(id(env), part)] = table
                context[f"facts_table_{part}"] = table
        text = template("txt").render(context)
        html = template("html").render(context)
        return Rendered(subject=subject, text=text, html=html)

    def _alert_context(
        self,
        facts: AlertFacts,
        role: str,
        recipient_name: str | None,
        note: str | None,
        base: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        context = dict(base) if base is not None else self._context(facts)
        context.update(
            role=role,
            role_label=ROLE_LABELS.get(role, one_line(role).replace("_", " ")),
            recipient_name=recipient_name,
            # An outside body sees only its own routing note, never our internal ones.
            notes=[
                n
                for n in ((note,) if role in ROLE_TEMPLATES else (facts.note, note))
                if n and n.strip()
            ],
        )
        return context, _subject_context(facts)

    def _receipt_context(
        self, facts: AlertFacts, passed_to: Sequence[str]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        context = self._context(facts)
        known_child = bool(context["child_initials"]) and facts.sender_known
        context.update(
            role="reporter",
            role_label=ROLE_LABELS["reporter"],
            recipient_name=facts.reporter_name,
            notes=[],
            about=context["child_initials"] if known_child else "the child you named",
            passed_to=human_list(passed_to) or "the duty desk",
        )
        subject = _subject_context(facts)
        if not known_child:
            subject["child_initials"] = ""
        return context, subject

    def _context(self, facts: AlertFacts) -> dict[str, Any]:
        ctx: dict[str, Any] = {f.name: getattr(facts, f.name) for f in dataclasses.fields(facts)}
        ctx["attachments"] = [
            {"name": n or "(no name)", "content_type": c, "size": s}
            for n, c, s in facts.attachments
        ]
        ctx["extra"] = dict(facts.extra)
        ctx["child_initials"] = initials(facts.child_first_name, facts.child_last_name)
        full = " ".join(n for n in (facts.child_first_name, facts.child_last_name) if n)
        ctx["child_name"] = full or None
        ctx["event_label"] = _event_label(facts.event)
        ctx["timezone"] = str(self.tz.key)
        ctx["child_born"] = born(facts.child_date_of_birth, facts.received_at, self.tz)
        ctx["reporter"] = reporter_line(facts)
        ctx["identifiers"] = identifiers_line(facts)
        return ctx


def _override_root(override_dir: Path | None) -> Path | None:
    if override_dir is None:
        return None
    nested = override_dir / "alerts"
    return nested if nested.is_dir() else override_dir


def _template_event(event: str) -> str:
    """Only a plain name picks a template set; anything else renders as default."""
    return event if _EVENT_NAME.match(event) and event not in ("receipt", "default") else "default"


def _event_label(event: str) -> str:
    return one_line(event).replace("_", " ").upper() or "ALERT"


def _subject_context(facts: AlertFacts) -> dict[str, Any]:
    """What a subject may say: no full name, no carer text; every value on one line."""
    return {
        "event": one_line(facts.event),
        "event_label": _event_label(facts.event),
        "reference": one_line(facts.reference) or None,
        "child_initials": initials(facts.child_first_name, facts.child_last_name),
        "child_id": one_line(facts.child_id) or None,
        "risk_level": one_line(facts.risk_level).lower() or None,
        "sender": one_line(facts.reported_by) or None,
        "message": facts.inbound_id
        if facts.inbound_id is not None
        else (one_line(facts.message_id) or None),
        "extra": {k: one_line(v) for k, v in facts.extra.items()},
    }
