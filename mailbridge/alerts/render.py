"""Alert and receipt emails rendered from plain facts with Jinja2 templates: pure, no I/O but
reading the templates.

The caller (delivery/processing) builds one ``AlertFacts`` per event (``alert_facts.py``), then
asks a ``Renderer`` for a ``Rendered`` (subject, text, HTML) per recipient. Sending, headers and
the outbox are not this module's job, nor what a template sees of the facts: that is
``template_context.py`` (the body's context, and the subject's restricted one). This module
loads the templates, picks the set, renders and falls back.

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
- Subject templates see a restricted context (``template_context.subject_context``):
  reference, event, initials, child ID, risk level, sender address, message number; never a
  full name nor the carer's text. Every value and the rendered subject are folded onto one
  line, so CR/LF cannot inject headers.

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

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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

from mailbridge.alerts.alert_facts import AlertFacts
from mailbridge.alerts.template_context import (
    ROLE_TEMPLATES,
    alert_context,
    facts_context,
    receipt_context,
)
from mailbridge.alerts.words import (
    format_clock,
    format_local,
    html_lines,
    match_label,
    not_stated,
    one_line,
    percent,
    quote,
    size,
    yes_no,
)
from mailbridge.resources import resource_path

__all__ = ["EVENTS", "Rendered", "Renderer"]

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
PARTS = ("subject.txt", "txt", "html")
MAX_SUBJECT = 200
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


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
        context, subject = alert_context(facts, self.tz, role, recipient_name, note)
        name = role if role in ROLE_TEMPLATES else _template_event(facts.event)
        return self._render(name, context, subject)

    def render_alerts(
        self, facts: AlertFacts, recipients: Sequence[tuple[str, str | None, str | None]]
    ) -> list[Rendered]:
        """``render_alert`` for each (role, name, note) of one event, the same emails; the
        facts table and the subject are rendered once for them all, not once each."""
        batch = _Batch(facts_context(facts, self.tz))
        out = []
        for role, recipient_name, note in recipients:
            context, subject = alert_context(
                facts, self.tz, role, recipient_name, note, base=batch.base
            )
            name = role if role in ROLE_TEMPLATES else _template_event(facts.event)
            out.append(self._render(name, context, subject, batch))
        return out

    def render_receipt(self, facts: AlertFacts, *, passed_to: list[str]) -> Rendered:
        """The carer's receipt. Initials appear only when the sender is on the child's record,
        so an unknown sender learns nothing from the directory."""
        context, subject = receipt_context(facts, self.tz, passed_to)
        return self._render("receipt", context, subject)

    def check(self) -> list[str]:
        """Render every shipped set with sample facts, overrides included and without the
        packaged fallback; the problems found, one line each (for check-config)."""
        problems: list[str] = []
        now = datetime(2026, 1, 1, tzinfo=UTC)
        for event in (*EVENTS, "receipt", *ROLE_TEMPLATES):
            facts = AlertFacts(event=event, received_at=now)
            if event == "receipt":
                context, subject = receipt_context(facts, self.tz, ["the duty desk"])
            elif event in ROLE_TEMPLATES:
                facts = AlertFacts(event="missing", received_at=now)
                context, subject = alert_context(facts, self.tz, event, None, None)
            else:
                context, subject = alert_context(facts, self.tz, "duty", None, None)
            try:
                # Through a batch, as alerts are rendered: a facts-table override that reads
                # the recipient (which it is not given) is named here.
                self._render_with(
                    self._env, event, context, subject, _Batch(facts_context(facts, self.tz))
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

        # The subject sees no recipient (subject_context): one per event and environment.
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


def _override_root(override_dir: Path | None) -> Path | None:
    if override_dir is None:
        return None
    nested = override_dir / "alerts"
    return nested if nested.is_dir() else override_dir


def _template_event(event: str) -> str:
    """Only a plain name picks a template set; anything else renders as default."""
    return event if _EVENT_NAME.match(event) and event not in ("receipt", "default") else "default"
