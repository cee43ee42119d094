"""Casework: a person links, splits, merges, voids, closes, reopens, corrects or confirms.

One public function per operation. Each takes the store (an Engine, then it is its own
transaction, or a ``store.tx.Tx``, then it runs inside the caller's) and the settings, and in ONE
transaction: locks the episode row (SELECT ... FOR UPDATE, so two instances take turns), asks the
pure ``episodes.decisions`` what changes (or raises ``CaseworkRefused`` with the reason), applies
it, writes the history (``episode_changes``) and an audit row, re-plans the timers and queues the
alerts through the outbox. It returns a ``Result`` (casework_result.py): what changed and who
was told, which the CLI prints, the email commands answer with and the web app shows.
docs/casework.md says what each operation changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Unpack, cast

from mailbridge.alerts.outbox import Notifier
from mailbridge.alerts.words import format_clock, format_local
from mailbridge.episodes import decisions
from mailbridge.episodes.casework_result import (
    Asked,
    FieldChange,
    Request,
    Result,
    Told,
    show_value,
)
from mailbridge.episodes.decisions import Change, Facts
from mailbridge.errors import CaseworkRefused
from mailbridge.routing.rules import Recipient
from mailbridge.settings.config import Settings
from mailbridge.store import directory, tx
from mailbridge.store import episodes as episode_store
from mailbridge.store.models import Episode, InboundMessage
from mailbridge.timers.runner import replan

__all__ = [
    "Asked",
    "CaseworkRefused",
    "FieldChange",
    "Request",
    "Result",
    "Told",
    "confirm",
    "correct",
    "link",
    "merge",
    "reopen",
    "returned",
    "split",
    "void",
]

Store = tx.Engine | tx.Tx
P = ParamSpec("P")


# -- the glue ------------------------------------------------------------------------------


class _Work:
    """One operation's transaction: the session, who, when, and what it has done so far."""

    def __init__(
        self,
        session: tx.Tx,
        settings: Settings,
        notifier: Notifier,
        operation: str,
        request: Request,
    ) -> None:
        self.session = session
        self.settings = settings
        self.notifier = notifier
        self.operation = operation
        self.by = request.by
        self.note = request.note
        self.source = request.source
        self.now = request.now
        self.changes: list[FieldChange] = []
        self.told: list[Told] = []
        self.first_change: int | None = None

    def lock(self, reference: str) -> Episode:
        ep = episode_store.lock(self.session, reference)
        if ep is None:
            raise CaseworkRefused(f"no episode with reference {reference.strip().upper()}")
        return ep

    def apply(
        self, ep: Episode, changes: Sequence[Change], *, operation_note: str | None = None
    ) -> None:
        """Set the fields, keep each change in the history, audit it, re-plan the timers."""
        note = "; ".join(filter(None, (operation_note, self.note))) or None
        for change in changes:
            if hasattr(Episode, change.field) and change.field != "id":
                setattr(ep, change.field, change.new)
            row = episode_store.record_change(
                self.session,
                ep,
                at=self.now,
                actor=self.by,
                operation=self.operation,
                field=change.field,
                old=change.old,
                new=change.new,
                note=note,
                source=self.source,
            )
            if self.first_change is None:
                self.first_change = row.id
            self.changes.append(FieldChange(ep.reference, change.field, row.old, row.new))
        ep.updated_at = self.now
        episode_store.audit(
            self.session,
            ep,
            f"casework_{self.operation}",
            actor=self.by,
            at=self.now,
            detail={
                "changes": [
                    {
                        "field": c.field,
                        "old": episode_store.jsonable(c.old),
                        "new": episode_store.jsonable(c.new),
                    }
                    for c in changes
                ],
                "note": note,
                "source": self.source,
            },
        )
        episode_store.send_changes(self.session)
        replan(self.session, ep, self.notifier.routing, self.now)

    def tell(
        self,
        ep: Episode,
        event: str,
        *,
        text: str,
        route_at: datetime | None = None,
        also: Sequence[tuple[str, str, str | None]] = (),
        original: InboundMessage | None = None,
    ) -> None:
        """Queue the alerts: routed (``route_at``), and to everyone told of it before."""
        told = episode_store.told_before(self.session, ep.id) + list(also)
        note = f"{text} Note: {self.note}" if self.note else text
        recipients: list[Recipient] = self.notifier.casework_event(
            self.session,
            event=event,
            episode=ep,
            key=f"case:{self.first_change}:{ep.reference}:{event}",
            note=note,
            now=self.now,
            route_at=route_at,
            told=told,
            original=original,
        )
        self.told += [Told(ep.reference, event, r.role, r.address, r.name) for r in recipients]

    def result(self, ep: Episode, summary: str, *, created: tuple[str, ...] = ()) -> Result:
        return Result(
            operation=self.operation,
            reference=ep.reference,
            by=self.by,
            at=self.now,
            summary=summary,
            changes=tuple(self.changes),
            told=tuple(self.told),
            created=created,
        )


def _operation(
    work: Callable[Concatenate[_Work, P], Result],
) -> Callable[Concatenate[Store, Settings, P], Result]:
    """``work(w, ...)`` as the public operation ``name(store, settings, ..., **asked)``.

    The operation is named after ``work``. It runs in the caller's transaction (a Tx) or in
    one of its own (an Engine). ``work`` declares ``**asked`` only so that the operation's
    signature has it; what it asks for is read here, into ``w``.
    """
    operation = work.__name__

    @functools.wraps(work)
    def run(store: Store, settings: Settings, /, *args: P.args, **kwargs: P.kwargs) -> Result:
        asked = cast(Asked, kwargs)
        notifier = asked.get("notifier") or Notifier(settings)
        request = Request.of(asked)
        if isinstance(store, tx.Tx):
            return work(_Work(store, settings, notifier, operation, request), *args, **kwargs)
        with tx.write(store) as session:
            return work(_Work(session, settings, notifier, operation, request), *args, **kwargs)

    return run


# -- the operations -----------------------------------------------------------------------


@_operation
def link(w: _Work, reference: str, child_id: str, **asked: Unpack[Asked]) -> Result:
    """Give an unmatched episode its child; the child's staff get the MISSING alert, late."""
    ep = w.lock(reference)
    known = directory.get_child(w.session, child_id.strip()) is not None
    w.apply(ep, decisions.link(_facts(ep), child_id, known_child=known))
    _attach_child(w, ep)
    when = format_local(ep.opened_at, w.settings.tz)
    w.tell(
        ep,
        "missing",
        route_at=ep.opened_at,
        original=episode_store.first_message(w.session, ep.id),
        text=f"Matched late by {w.by}: reported missing at {when}, matched to child "
        f"{ep.child_id} only now. The clocks run from the original report.",
    )
    return w.result(ep, f"{ep.reference} linked to child {ep.child_id} by {w.by}")


@_operation
def split(w: _Work, reference: str, child_ids: Sequence[str], **asked: Unpack[Asked]) -> Result:
    """One episode per child, each with every message; each child's staff are alerted."""
    ep = w.lock(reference)
    ids = [c.strip() for c in child_ids]
    unknown = [c for c in ids if c and directory.get_child(w.session, c) is None]
    plan = decisions.split(_facts(ep), ids, unknown=unknown)
    if plan.changes:
        w.apply(ep, plan.changes)
        _attach_child(w, ep)
        w.tell(
            ep,
            _alert_event(ep),
            route_at=ep.opened_at,
            original=episode_store.first_message(w.session, ep.id),
            text=f"Split by {w.by}: this report was about several children; "
            f"this episode is now child {ep.child_id}'s alone.",
        )
    created: list[Episode] = []
    for child in plan.new_children:
        new = _copy(w, ep, child)
        created.append(new)
        w.apply(
            new, (Change("child_id", None, child),), operation_note=f"split from {ep.reference}"
        )
        w.tell(
            new,
            _alert_event(new),
            route_at=ep.opened_at,
            original=episode_store.first_message(w.session, new.id),
            text=f"Split by {w.by} from {ep.reference}, which reported several "
            f"children: this is child {child}'s episode.",
        )
    refs = [n.reference for n in created]
    w.apply(ep, (Change("split_into", None, refs),))
    return w.result(
        ep,
        f"{ep.reference} split by {w.by}: {ep.reference} child {ep.child_id}, "
        + ", ".join(f"{n.reference} child {n.child_id}" for n in created),
        created=tuple(refs),
    )


@_operation
def merge(w: _Work, reference: str, into: str, **asked: Unpack[Asked]) -> Result:
    """Two episodes of one absence become one: the earlier survives, the later points to it."""
    eps = episode_store.lock_many(w.session, [reference, into])
    gone, survivor = (eps.get(r.strip().upper()) for r in (reference, into))
    if gone is None or survivor is None:
        missing = reference if gone is None else into
        raise CaseworkRefused(f"no episode with reference {missing.strip().upper()}")
    plan = decisions.merge(_facts(gone), _facts(survivor))
    w.apply(gone, plan.gone)
    moved = episode_store.attach_messages(w.session, gone.id, survivor.id, move=True)
    w.apply(survivor, (Change("merged", None, gone.reference), *plan.survivor))
    w.tell(
        survivor,
        "merged",
        also=episode_store.told_before(w.session, gone.id),
        text=f"{gone.reference} merged into {survivor.reference} by {w.by}: one "
        f"absence, one record. {moved} message(s) moved; {gone.reference} is void "
        "and points here.",
    )
    return w.result(survivor, f"{gone.reference} merged into {survivor.reference} by {w.by}")


@_operation
def void(w: _Work, reference: str, reason: str, **asked: Unpack[Asked]) -> Result:
    """Not a missing episode: timers cancelled, out of the figures and the return, still listed."""
    ep = w.lock(reference)
    w.apply(ep, decisions.void(_facts(ep), reason))
    w.tell(
        ep,
        "void",
        text=f"Voided by {w.by}: {ep.void_reason}. No more reminders; it is out of "
        "the figures and the SSDA903 return.",
    )
    return w.result(ep, f"{ep.reference} void by {w.by}: {ep.void_reason}")


@_operation
def returned(w: _Work, reference: str, at: datetime, **asked: Unpack[Asked]) -> Result:
    """Close an open episode at ``at``: routed as a carer's return; the interview clock starts."""
    ep = w.lock(reference)
    w.apply(ep, decisions.returned(_facts(ep), at, by=w.by, now=w.now))
    when = _when(ep.returned_at, w.now, w.settings)
    w.tell(
        ep,
        "returned",
        route_at=w.now,
        text=f"Recorded as returned at {when} by {w.by}. The return home interview "
        "clock has started.",
    )
    return w.result(ep, f"{ep.reference} closed at {when} by {w.by}")


@_operation
def reopen(w: _Work, reference: str, reason: str, **asked: Unpack[Asked]) -> Result:
    """Returned or void back to open, with a reason; the clocks are planned again."""
    ep = w.lock(reference)
    said = " ".join(reason.split())
    w.apply(ep, decisions.reopen(_facts(ep), reason), operation_note=said)
    w.tell(
        ep,
        "reopened",
        text=f"Reopened by {w.by}: {said}. The child is treated "
        "as missing again and the reminders resume.",
    )
    return w.result(ep, f"{ep.reference} reopened by {w.by}")


@_operation
def correct(
    w: _Work,
    reference: str,
    *,
    last_seen_at: datetime | None = None,
    returned_at: datetime | None = None,
    police_reference: str | None = None,
    risk_level: str | None = None,
    absence_type: str | None = None,
    **asked: Unpack[Asked],
) -> Result:
    """Fix last seen, return time, police reference, risk or absence type; old values kept."""
    ep = w.lock(reference)
    changes = decisions.correct(
        _facts(ep),
        now=w.now,
        last_seen_at=last_seen_at,
        returned_at=returned_at,
        police_reference=police_reference,
        risk_level=risk_level,
        absence_type=absence_type,
    )
    w.apply(ep, changes)
    what = "; ".join(
        f"{c.field.replace('_', ' ')} {_plain(c.old, w.settings)} -> {_plain(c.new, w.settings)}"
        for c in changes
    )
    w.tell(ep, "corrected", text=f"Corrected by {w.by}: {what}.")
    return w.result(ep, f"{ep.reference} corrected by {w.by}")


@_operation
def confirm(w: _Work, reference: str, **asked: Unpack[Asked]) -> Result:
    """A person checked what the reading was unsure of: needs_confirmation is cleared."""
    ep = w.lock(reference)
    facts = _facts(ep)
    w.apply(ep, decisions.confirm(facts))
    w.tell(
        ep,
        "confirmed",
        text=f"Confirmed by {w.by}: {facts.confirmation_reason or 'the reading'} was checked.",
    )
    return w.result(ep, f"{ep.reference} confirmed by {w.by}")


def _facts(ep: Episode) -> Facts:
    return Facts(
        reference=ep.reference,
        child_id=ep.child_id,
        status=ep.status,
        opened_at=ep.opened_at,
        last_seen_at=ep.last_seen_at,
        returned_at=ep.returned_at,
        returned_by=ep.returned_by,
        police_reference=ep.police_reference,
        risk_level=ep.risk_level,
        absence_type=ep.absence_type,
        needs_confirmation=bool(ep.needs_confirmation),
        confirmation_reason=ep.confirmation_reason,
        merged_into=ep.merged_into,
        void_reason=ep.void_reason,
    )


def _alert_event(ep: Episode) -> str:
    return "missing" if ep.status == decisions.OPEN else "returned"


def _when(value: datetime | None, now: datetime, settings: Settings) -> str:
    """ "14:30" on the day of ``now`` (local), else "1 Dec 2026 14:30 GMT"."""
    if (
        value is not None
        and value.astimezone(settings.tz).date() == now.astimezone(settings.tz).date()
    ):
        return format_clock(value, settings.tz)
    return format_local(value, settings.tz)


def _plain(value: Any, settings: Settings) -> str:
    if isinstance(value, datetime):
        return format_local(value, settings.tz)
    return show_value(value)


def _attach_child(w: _Work, ep: Episode) -> None:
    """A newly linked child: its staff on the record, and whether the reporter is its carer."""
    assert ep.child_id is not None
    ep.allocations = dict(directory.current_allocations(w.session, ep.child_id))
    child = directory.get_child(w.session, ep.child_id)
    carers = {a.lower() for a in child.carer_emails} if child is not None else set()
    ep.sender_known = bool(ep.reported_by and ep.reported_by.lower() in carers)
    ep.match_confidence = 1.0
    episode_store.send_changes(w.session)


def _copy(w: _Work, ep: Episode, child_id: str) -> Episode:
    """A new episode for one child of a split: the same facts and the same messages."""
    year = ep.opened_at.astimezone(w.settings.tz).year
    new = episode_store.add(
        w.session,
        reference=episode_store.next_reference(w.session, year),
        child_id=child_id,
        updated_at=w.now,
        match_method="staff",
        **{
            name: getattr(ep, name)
            for name in (
                "status",
                "opened_at",
                "last_seen_at",
                "last_seen_text",
                "last_seen_location",
                "returned_at",
                "returned_by",
                "safe_and_well",
                "police_reference",
                "risk_level",
                "risk_notes",
                "description",
                "clothing",
                "reported_by",
                "reporter_name",
                "reporter_phone",
                "sender_known",
                "sender_verified",
                "child_name_given",
                "match_confidence",
                "allocations",
                "absence_type",
                "needs_confirmation",
                "confirmation_reason",
            )
        },
    )
    episode_store.attach_messages(w.session, ep.id, new.id, move=False)
    _attach_child(w, new)
    return new
