"""The timing core: escalations, "still missing" reminders and the return-interview clock.

Pure: every function reads only its arguments (an episode's clock facts, the routing file and a
time that the caller passes in), so every rule is tested with an injected time and no sleeps
(tests/unit/test_timers.py). The scheduler and the database are thin edges around it:

1. Whenever an episode changes (opened, acknowledged, returned, interview recorded) and on every
   scheduler tick, call ``plan(clock, routing, until=now)``. It lists every action that should
   exist for the episode as it stands, whether due or not.
2. Store each action as one row keyed by ``DueAction.key`` under a unique constraint: an insert
   that conflicts is the same action, so a restart, a replay or two instances never make it
   twice. Rows whose key is in ``cancelled(old_plan, new_plan)`` and that have not been sent are
   marked cancelled; ``rescheduled(old_plan, new_plan)`` gives pending rows a new due time.
3. ``due(actions, now)`` is what to perform now. A row claimed and sent is never sent again.
   After downtime an overdue action still fires, once, with ``late_note(action, now)``.
4. For the second escalation step, call ``escalation_roles(action, routing, now)`` at send time:
   an escalation due at 16:30 but sent at 18:00 after downtime goes to the EDT, not to a duty
   desk that has gone home.

Keys are stable: the same episode reference and settings always give the same keys, so planning
again after a restart finds the rows it made before. Still-missing reminders are numbered from
the opening (``still:REF:1`` is the first interval), so the numbering never depends on when the
plan was made.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from mailbridge.routing.rules import Routing

Kind = Literal[
    "escalate_team_manager",
    "escalate_duty",
    "still_missing",
    "interview_reminder",
    "interview_overdue",
]
KINDS: tuple[Kind, ...] = (
    "escalate_team_manager",
    "escalate_duty",
    "still_missing",
    "interview_reminder",
    "interview_overdue",
)
OPEN = "open"
RETURNED = "returned"
TEAM_MANAGER = "team_manager"
DUTY = "duty"
EDT = "edt"
# A scheduler tick or two of delay is not "late"; past this, the alert says it is late.
LATE_GRACE = timedelta(minutes=5)

_NOUNS: dict[Kind, str] = {
    "escalate_team_manager": "escalation",
    "escalate_duty": "escalation",
    "still_missing": "reminder",
    "interview_reminder": "reminder",
    "interview_overdue": "overdue alert",
}


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class DueAction:
    """One thing the scheduler must do once. ``key`` is globally unique and stable.

    ``roles`` are role names and/or fixed addresses, as in a routing ``notify`` list; the
    edge resolves them with the episode's allocations like any other alert.
    """

    key: str
    kind: Kind
    episode_ref: str
    due_at: datetime  # aware, UTC
    roles: tuple[str, ...]
    note: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "due_at", _aware(self.due_at, "DueAction.due_at"))


@dataclass(frozen=True)
class EpisodeClock:
    """The facts about one episode that its timers depend on. Times are aware."""

    reference: str
    status: str  # open / returned
    opened_at: datetime
    risk_level: str | None = None
    returned_at: datetime | None = None
    acknowledged_at: datetime | None = None  # the first acknowledgement by a notified role
    # Completed whole, or a final declined / not-held outcome recorded.
    interview_done: bool = False

    def __post_init__(self) -> None:
        if self.status not in (OPEN, RETURNED):
            raise ValueError(f"EpisodeClock.status must be open or returned, got {self.status!r}")
        object.__setattr__(self, "opened_at", _aware(self.opened_at, "EpisodeClock.opened_at"))
        for name in ("returned_at", "acknowledged_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _aware(value, f"EpisodeClock.{name}"))
        if self.status == RETURNED and self.returned_at is None:
            raise ValueError("EpisodeClock.returned_at is required when the status is returned")


# -- planning -------------------------------------------------------------------------


def plan(clock: EpisodeClock, routing: Routing, *, until: datetime) -> list[DueAction]:
    """Every action that should exist for the episode as it stands, due or not, by due time.

    - While open and unacknowledged: ``esc1`` (team manager) and ``esc2`` (EDT out of hours,
      duty in office hours, judged at the due time), counted from ``opened_at``.
    - While open: a still-missing reminder every interval from ``opened_at``. Only those due up
      to ``until`` plus one interval are listed, so the list is finite and always shows the next.
    - Once returned, until the interview is done: reminders to the interview provider, and the
      overdue alert to the team manager (and the provider) when the interview is due.
    """
    until = _aware(until, "until")
    actions: list[DueAction] = []
    if clock.status == OPEN:
        if clock.acknowledged_at is None:
            actions.extend(_escalations(clock, routing))
        actions.extend(_still_missing(clock, routing, until))
    elif not clock.interview_done:
        actions.extend(_interview(clock, routing))
    return sorted(actions, key=lambda a: (a.due_at, a.key))


def _risk_text(risk: str | None) -> str:
    return f"{risk.lower()} risk" if risk else "risk not stated"


def _escalations(clock: EpisodeClock, routing: Routing) -> list[DueAction]:
    esc = routing.escalation
    ref, risk = clock.reference, clock.risk_level
    first_after, second_after = esc.team_manager_after.after(risk), esc.duty_after.after(risk)
    first_at, second_at = clock.opened_at + first_after, clock.opened_at + second_after
    second_roles = escalation_roles("escalate_duty", routing, second_at)
    desk = "the emergency duty team" if second_roles == (EDT,) else "the duty desk"
    return [
        DueAction(
            key=f"esc1:{ref}",
            kind="escalate_team_manager",
            episode_ref=ref,
            due_at=first_at,
            roles=escalation_roles("escalate_team_manager", routing, first_at),
            note=(
                f"Nobody has acknowledged the alert for {ref} ({_risk_text(risk)}) "
                f"{format_span(first_after)} after it opened: the team manager is alerted."
            ),
        ),
        DueAction(
            key=f"esc2:{ref}",
            kind="escalate_duty",
            episode_ref=ref,
            due_at=second_at,
            roles=second_roles,
            note=(
                f"Still nobody has acknowledged the alert for {ref} ({_risk_text(risk)}) "
                f"{format_span(second_after)} after it opened: {desk} is alerted."
            ),
        ),
    ]


def _still_missing(clock: EpisodeClock, routing: Routing, until: datetime) -> list[DueAction]:
    every = routing.escalation.still_missing_every
    last = math.floor((until + every - clock.opened_at) / every)
    return [
        DueAction(
            key=f"still:{clock.reference}:{n}",
            kind="still_missing",
            episode_ref=clock.reference,
            due_at=clock.opened_at + n * every,
            roles=routing.escalation.still_missing_notify,
            note=(
                f"{clock.reference} is still open: the child has been missing "
                f"{format_span(n * every)} since the episode opened on "
                f"{_local(clock.opened_at, routing)}."
            ),
        )
        for n in range(1, last + 1)
    ]


def _interview(clock: EpisodeClock, routing: Routing) -> list[DueAction]:
    back = clock.returned_at
    if back is None:  # EpisodeClock requires it once returned
        return []
    cfg = routing.interviews
    ref = clock.reference
    due_at = back + cfg.due_after
    out = [
        DueAction(
            key=f"rhi-remind:{ref}:{_hours_label(hours)}h",
            kind="interview_reminder",
            episode_ref=ref,
            due_at=back + timedelta(hours=hours),
            roles=(cfg.provider,),
            note=(
                f"The return home interview for {ref} is due by {_local(due_at, routing)} "
                f"({_hours_label(cfg.due_hours)} h after the child returned on "
                f"{_local(back, routing)}); {_hours_label(hours)} h have passed."
            ),
        )
        for hours in cfg.reminders_hours
    ]
    roles = (TEAM_MANAGER,) if cfg.provider == TEAM_MANAGER else (TEAM_MANAGER, cfg.provider)
    out.append(
        DueAction(
            key=f"rhi-overdue:{ref}",
            kind="interview_overdue",
            episode_ref=ref,
            due_at=due_at,
            roles=roles,
            note=(
                f"The return home interview for {ref} is overdue: none was recorded "
                f"{_hours_label(cfg.due_hours)} h after the child returned on "
                f"{_local(back, routing)}. The episode is flagged."
            ),
        )
    )
    return out


# -- what to do now, and what changed ----------------------------------------------------


def due(actions: Iterable[DueAction], now: datetime) -> list[DueAction]:
    """The actions due at ``now`` (``due_at <= now``), oldest first."""
    now = _aware(now, "now")
    return sorted((a for a in actions if a.due_at <= now), key=lambda a: (a.due_at, a.key))


def upcoming(actions: Iterable[DueAction], now: datetime) -> list[DueAction]:
    """The actions not yet due at ``now``, soonest first (what `mailbridge due` shows next)."""
    now = _aware(now, "now")
    return sorted((a for a in actions if a.due_at > now), key=lambda a: (a.due_at, a.key))


def cancelled(old_plan: Iterable[DueAction], new_plan: Iterable[DueAction]) -> list[str]:
    """Keys planned before that no longer apply (acknowledged, returned, interview done...).

    The edge cancels those rows that are still pending; a row already sent stays sent.
    """
    keep = {a.key for a in new_plan}
    out: list[str] = []
    for action in old_plan:
        if action.key not in keep and action.key not in out:
            out.append(action.key)
    return out


def rescheduled(old_plan: Iterable[DueAction], new_plan: Iterable[DueAction]) -> list[DueAction]:
    """Actions kept under the same key whose due time or roles changed (e.g. a corrected
    ``returned_at`` or edited settings); the edge updates those rows that are still pending."""
    before = {a.key: a for a in old_plan}
    return [
        a
        for a in new_plan
        if a.key in before and (before[a.key].due_at, before[a.key].roles) != (a.due_at, a.roles)
    ]


def escalation_roles(action: DueAction | Kind, routing: Routing, at: datetime) -> tuple[str, ...]:
    """Who an escalation goes to if sent at ``at``.

    The first step goes to the team manager. The second goes to the EDT out of hours (evenings,
    weekends, bank holidays, read in the routing zone) and to duty in office hours; when the
    routing file gives no ``edt`` address, duty takes it at all hours. Other actions keep their
    planned roles.
    """
    kind = action if isinstance(action, str) else action.kind
    if kind == "escalate_team_manager":
        return (TEAM_MANAGER,)
    if kind == "escalate_duty":
        if routing.hours(_aware(at, "at")) == "out_of_hours" and EDT in routing.roles:
            return (EDT,)
        return (DUTY,)
    if isinstance(action, str):
        raise ValueError(f"{kind!r} is not an escalation")
    return action.roles


# -- lateness ---------------------------------------------------------------------------


def lateness(
    action: DueAction, now: datetime, *, grace: timedelta = LATE_GRACE
) -> timedelta | None:
    """How late the action is at ``now``, or None when it is on time (within ``grace``)."""
    late = _aware(now, "now") - action.due_at
    return late if late > grace else None


def late_note(action: DueAction, now: datetime, *, grace: timedelta = LATE_GRACE) -> str | None:
    """E.g. "this reminder is 3 h 12 min late: the service was not running", or None."""
    late = lateness(action, now, grace=grace)
    if late is None:
        return None
    return f"this {_NOUNS[action.kind]} is {format_span(late)} late: the service was not running"


# -- repeat missing ---------------------------------------------------------------------


def repeat_missing(
    episode_starts: Sequence[datetime], now: datetime, routing: Routing
) -> int | None:
    """The child's episode count within the window when it reaches the threshold, else None.

    ``episode_starts`` are the opening times of the child's episodes, the current one included.
    The window is the ``within_days`` days up to ``now``, counted in calendar days in the
    routing zone (so a window across a clock change is not an hour short); the start of the
    window is included, and starts after ``now`` are not counted.
    """
    cfg = routing.repeat_missing
    now = _aware(now, "now")
    since = now.astimezone(routing.tz) - timedelta(days=cfg.within_days)  # wall-clock days
    count = sum(1 for s in episode_starts if since <= _aware(s, "episode start") <= now)
    return count if count >= cfg.episodes else None


def repeat_missing_note(count: int, routing: Routing) -> str:
    """What the alert says when ``repeat_missing`` returned ``count``."""
    days = routing.repeat_missing.within_days
    added = ", ".join(r.replace("_", " ") for r in routing.repeat_missing.add_roles)
    text = f"This is the child's {_ordinal(count)} missing episode in {days} days"
    if added:
        text += f", so the {added} are told too: repeat episodes should prompt a strategy meeting"
    return text + "."


# -- text -------------------------------------------------------------------------------


def format_span(span: timedelta) -> str:
    """3 h 12 min, 2 d 4 h, 45 min; under a minute is "under 1 min"."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return "under 1 min"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(p for p in parts if p)


def _hours_label(hours: float) -> str:
    return f"{hours:g}"


def _local(at: datetime, routing: Routing) -> str:
    return f"{at.astimezone(routing.tz):%a %d %b %Y %H:%M %Z}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


_TOLD = {TEAM_MANAGER: "the team manager", DUTY: "the duty desk", EDT: "the emergency duty team"}


def acknowledge_reminder(clock: EpisodeClock, routing: Routing, *, now: datetime) -> str:
    """The alert footer's first line: how to acknowledge, and who is told, when, if nobody does.

    "Reply to this email to acknowledge it. If nobody does, the team manager is told at
    Thu 26 Nov 2026 12:00 GMT, then the duty desk at 14:00." Steps already past are left out.
    """
    ack = "Reply to this email to acknowledge it"
    if clock.status != OPEN:
        return f"{ack}. The child is back, so nobody else is told if nobody does."
    if clock.acknowledged_at is not None:
        return f"{ack}; it has been acknowledged, so the escalation has stopped."
    now = _aware(now, "now")
    steps = [a for a in _escalations(clock, routing) if a.due_at > now]
    if not steps:
        return f"{ack}: nobody has yet, and the escalation has already gone out."
    told = [
        " or ".join(_TOLD.get(r, r) for r in step.roles)
        + f" is told at {_local(step.due_at, routing)}"
        for step in steps
    ]
    return f"{ack}. If nobody does, {', then '.join(told)}."
