"""A hand-built set of episodes whose every report figure is worked out by hand below.

Period: 1 March to 30 April 2026, Europe/London. BST starts on 29 March 2026 at 01:00 UTC.
Report time (``NOW``): 10 May 2026 12:00 UTC.

Episodes (start = last seen, else opened; local times):

====  =====  =====================  ==========================  ======================
ep    child  start (UTC)            local start                 outcome
====  =====  =====================  ==========================  ======================
E1    C1     03-05 10:00            Thu 05 Mar 10:00 GMT        returned +10 h
E2    C1     03-15 23:30 (opened)   Sun 15 Mar 23:30 GMT        returned +26 h
E3    C1     04-10 23:30            Sat 11 Apr 00:30 BST        returned +96 h
E4    C2     03-29 00:30            Sun 29 Mar 00:30 GMT        returned +240 h
E5    C3     04-20 23:15            Tue 21 Apr 00:15 BST        open (still missing)
E6    C2     04-30 22:30            Thu 30 Apr 23:30 BST        returned 05-02 (+36 h)
E7    C2     04-30 23:30            Fri 01 May 00:30: outside
E8    C3     02-28 23:30            Sat 28 Feb 23:30: outside
E9    C4     03-01 00:00 (opened)   Sun 01 Mar 00:00 GMT        returned +5 h
E10   -      04-02 12:00 (opened)   Thu 02 Apr 13:00 BST        returned +6 h, unmatched
E11   C4*    03-29 01:30 (opened)   Sun 29 Mar 02:30 BST        open; matched later
E12   C5     01-10 (opened)         outside, open
E14   C5     03-10 12:00            Tue 10 Mar 12:00 GMT        returned 1 h *before*
E15   -      05-05 (opened)         outside, open, unmatched
====  =====  =====================  ==========================  ======================

Children: C1 Amy Adams, born 2016-04-11 (9 on 5 and 15 March, 10 on the local 11 April,
still 9 by the UTC date), Oak House (residential). C2 Ben Brown, 2010-06-01, Elm Foster
(foster). C3 Cara Clark, 2009-01-01, Oak House. C4 Dan Drew, no date of birth, no placement.
C5 Eve Evans, 2012-07-01, Birch Lodge (no type).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from mailbridge.store.models import (
    Acknowledgement,
    Alert,
    AuditEntry,
    Child,
    DueAction,
    Episode,
    InboundMessage,
    Interview,
    Placement,
)

START = date(2026, 3, 1)
END = date(2026, 4, 30)
NOW = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
NAMES = {
    "C1": ("Amy", "Adams"),
    "C2": ("Ben", "Brown"),
    "C3": ("Cara", "Clark"),
    "C4": ("Dan", "Drew"),
    "C5": ("Eve", "Evans"),
}


def utc(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# What every figure must be, worked out from the table above.
EXPECTED: dict[str, Any] = {
    "episodes": 10,  # E1-E6, E9, E10, E11, E14
    "children": 5,
    "episodes_per_child": 1.8,  # 9 matched episodes / 5 children
    "children_2plus": 3,  # C1 (3), C2 (2), C4 (2)
    "children_3plus": 1,
    "missing_now_children": 3,  # C3 (E5), C4 (E11), C5 (E12)
    "missing_now_unmatched": 1,  # E15
    "returned": 8,
    "still_missing": 2,  # E5, E11
    "duration_bands": {"< 24 h": 3, "1–2 days": 2, "2–7 days": 1, "> 7 days": 1},
    "duration_invalid": 1,  # E14
    # 5, 6, 10, 26, 36, 96, 240 h: median 26; p90 at 5.4 -> 96 + 0.4 * 144
    "duration_median": 26.0,
    "duration_p90": 153.6,
    "by_age_band": {"under 10": 2, "10–15": 4, "16+": 1, "unknown DOB": 2, "unmatched": 1},
    "by_placement": [
        ("Oak House", "residential", 4),
        ("(no placement)", "(no placement)", 2),
        ("Elm Foster", "foster", 2),
        ("(unmatched)", "(unmatched)", 1),
        ("Birch Lodge", "(type not recorded)", 1),
    ],
    "by_placement_type": {
        "residential": 4,
        "(no placement)": 2,
        "foster": 2,
        "(type not recorded)": 1,
        "(unmatched)": 1,
    },
    "by_hour": {0: 4, 2: 1, 10: 1, 12: 1, 13: 1, 23: 2},
    "by_weekday": [0, 2, 0, 3, 0, 1, 4],  # Mon..Sun
    "by_month": [("2026-03", 6), ("2026-04", 4)],
    "police_reference": 4,  # E1, E4, E9, E10 (E3's is blank)
    "interviews_owed": 8,
    "interviews_by_status": {"due": 1, "offered": 1, "accepted": 1, "declined": 1, "completed": 4},
    "interviews_offered": 7,
    "completed_in_time": 2,  # E1; E3 held on the local due date (the UTC date is a day earlier)
    "completed_late": 1,  # E2
    "completed_undated": 1,  # E14
    "overdue_open": 3,  # E6, E9, E10
    "reasons": [("family_contact", 3), ("placement_conflict", 2), ("exploitation", 1)],
    "interviews_with_reasons": 4,
    # role: (alerted, acknowledged, median h, p90 h); social worker waits 0.5, 2, 4 h
    "acks": {"social_worker": (4, 3, 2.0, 3.6), "team_manager": (1, 1, 2.0, 2.0)},
    "escalations": {"esc1": 2, "esc2": 1},
    "episodes_escalated": 2,
    "unmatched": (2, 1, 1),  # reported, matched later, still unmatched
    "failed": (4, 1, 1, 1, 1),  # failed, still failed, processed, ignored, pending
    "repeat_children": [("C1", 3), ("C4", 2), ("C2", 2)],
}


def seed(engine: Engine) -> None:
    """Insert the rows of the table above, directly with the models."""
    with Session(engine) as s, s.begin():
        oak = Placement(name="Oak House", placement_type="residential")
        elm = Placement(name="Elm Foster", placement_type="foster")
        birch = Placement(name="Birch Lodge", placement_type=None)
        s.add_all([oak, elm, birch])
        s.flush()
        kids = {
            "C1": (date(2016, 4, 11), oak.id),
            "C2": (date(2010, 6, 1), elm.id),
            "C3": (date(2009, 1, 1), oak.id),
            "C4": (None, None),
            "C5": (date(2012, 7, 1), birch.id),
        }
        for cid, (dob, placement) in kids.items():
            first, last = NAMES[cid]
            s.add(
                Child(
                    child_id=cid,
                    first_name=first,
                    last_name=last,
                    date_of_birth=dob,
                    placement_id=placement,
                    carer_emails=[],
                    attributes={},
                    updated_at=NOW,
                )
            )
        s.flush()

        eps: dict[str, Episode] = {}

        def ep(
            name: str,
            child: str | None,
            *,
            opened: datetime,
            seen: datetime | None = None,
            returned: datetime | None = None,
            police: str | None = None,
            method: str = "child_id",
        ) -> None:
            e = Episode(
                reference=f"MB-2026-{len(eps) + 1:05d}",
                child_id=child,
                status="returned" if returned else "open",
                opened_at=opened,
                last_seen_at=seen,
                returned_at=returned,
                police_reference=police,
                sender_known=True,
                match_method=method,
                match_confidence=1.0,
                allocations={},
                absence_type="M",
                updated_at=opened,
            )
            s.add(e)
            eps[name] = e

        ep(
            "E1",
            "C1",
            seen=utc(3, 5, 10),
            opened=utc(3, 5, 10, 30),
            returned=utc(3, 5, 20),
            police="PR1",
        )
        ep("E2", "C1", opened=utc(3, 15, 23, 30), returned=utc(3, 17, 1, 30))
        ep(
            "E3",
            "C1",
            seen=utc(4, 10, 23, 30),
            opened=utc(4, 11),
            returned=utc(4, 14, 23, 30),
            police="",
        )
        ep(
            "E4",
            "C2",
            seen=utc(3, 29, 0, 30),
            opened=utc(3, 29, 1),
            returned=utc(4, 8, 0, 30),
            police="PR4",
        )
        ep("E5", "C3", seen=utc(4, 20, 23, 15), opened=utc(4, 21, 1))
        ep("E6", "C2", seen=utc(4, 30, 22, 30), opened=utc(4, 30, 23), returned=utc(5, 2, 10, 30))
        ep("E7", "C2", seen=utc(4, 30, 23, 30), opened=utc(5, 1, 0), returned=utc(5, 1, 6))
        ep("E8", "C3", seen=utc(2, 28, 23, 30), opened=utc(3, 1, 0, 30), returned=utc(3, 1, 2))
        ep("E9", "C4", opened=utc(3, 1), returned=utc(3, 1, 5), police="PR9")
        ep("E10", None, opened=utc(4, 2, 12), returned=utc(4, 2, 18), police="PR10", method="none")
        ep("E11", "C4", opened=utc(3, 29, 1, 30), method="ambiguous")
        ep("E12", "C5", opened=utc(1, 10))
        ep("E14", "C5", seen=utc(3, 10, 12), opened=utc(3, 10, 13), returned=utc(3, 10, 11))
        ep("E15", None, opened=utc(5, 5), method="none")
        s.flush()

        def iv(name: str, status: str, held: date | None = None, codes: tuple[str, ...] = ()):
            e = eps[name]
            assert e.returned_at is not None
            s.add(
                Interview(
                    episode_id=e.id,
                    due_at=e.returned_at + timedelta(hours=72),
                    status=status,
                    overdue=False,
                    held_on=held,
                    reason_codes=list(codes),
                    sent_back=0,
                )
            )

        iv("E1", "completed", date(2026, 3, 8), ("placement_conflict", "family_contact"))
        iv("E2", "completed", date(2026, 3, 21), ("family_contact",))
        iv("E3", "completed", date(2026, 4, 18), ("placement_conflict",))
        iv("E4", "declined")
        iv("E6", "offered")
        iv("E9", "accepted")
        iv("E10", "due")
        iv("E14", "completed", None, ("family_contact", "exploitation"))
        iv("E8", "completed", date(2026, 3, 2), ("exploitation",))

        n_alert = 0

        def alert(name: str, role: str, at: datetime) -> Alert:
            nonlocal n_alert
            n_alert += 1
            a = Alert(
                event_key=f"k{n_alert}",
                event="missing",
                episode_id=eps[name].id,
                role=role,
                recipient=f"{role}{n_alert}@council.example",
                message_id=f"<a{n_alert}@mb>",
                subject="s",
                body_text="t",
                body_html="h",
                headers={},
                attach_inbound=False,
                status="sent",
                attempts=1,
                next_attempt_at=at,
                created_at=at,
            )
            s.add(a)
            return a

        def ack(name: str, role: str, address: str, at: datetime) -> None:
            s.add(Acknowledgement(episode_id=eps[name].id, role=role, address=address, at=at))

        alert("E1", "social_worker", utc(3, 5, 10, 31))
        alert("E1", "team_manager", utc(3, 5, 10, 31))
        alert("E1", "reporter", utc(3, 5, 10, 31))
        alert("E1", "social_worker", utc(3, 5, 11))
        ack("E1", "social_worker", "sw1@council.example", utc(3, 5, 11, 1))
        ack("E1", "social_worker", "sw2@council.example", utc(3, 5, 12))
        ack("E1", "team_manager", "tm@council.example", utc(3, 5, 12, 31))
        alert("E2", "social_worker", utc(3, 15, 23, 31))
        ack("E2", "social_worker", "sw1@council.example", utc(3, 16, 1, 31))
        alert("E3", "social_worker", utc(4, 11, 0, 1))
        ack("E3", "social_worker", "sw1@council.example", utc(4, 11, 4, 1))
        alert("E4", "social_worker", utc(3, 29, 1, 1))
        alert("E8", "social_worker", utc(3, 1, 0, 31))
        ack("E8", "social_worker", "sw1@council.example", utc(3, 1, 0, 32))

        def due(name: str, kind: str, status: str) -> None:
            e = eps[name]
            s.add(
                DueAction(
                    key=f"{kind}:{e.reference}",
                    kind=kind,
                    episode_id=e.id,
                    due_at=e.opened_at,
                    roles=[],
                    status=status,
                    done_at=e.opened_at if status == "done" else None,
                )
            )

        due("E4", "escalate_team_manager", "done")
        due("E4", "escalate_duty", "done")
        due("E5", "escalate_team_manager", "done")
        due("E5", "escalate_duty", "pending")
        due("E5", "still_missing", "done")
        due("E6", "escalate_team_manager", "cancelled")
        due("E8", "escalate_team_manager", "done")

        def message(n: int, at: datetime, status: str, *actions: str) -> None:
            m = InboundMessage(
                message_id=f"<m{n}@x>",
                dedupe_key=f"m:{n}",
                sha256="0" * 64,
                raw=b"x",
                size=1,
                rcpt_tos=[],
                source="smtp",
                received_at=at,
                status=status,
                attempts=1,
            )
            s.add(m)
            s.flush()
            for i, action in enumerate(actions):
                s.add(
                    AuditEntry(
                        at=at + timedelta(minutes=i),
                        actor="worker",
                        entity="message",
                        entity_id=str(m.id),
                        action=action,
                    )
                )

        message(1, utc(3, 10), "failed", "failed")
        message(2, utc(4, 1), "processed", "failed", "reprocess", "processed")
        message(3, utc(4, 2), "ignored", "failed", "reprocess", "ignored")
        message(4, utc(4, 3), "pending", "failed", "reprocess")
        message(5, utc(4, 4), "processed", "retry", "processed")
        message(6, utc(2, 27), "failed", "failed")
        message(7, utc(4, 30, 23, 30), "failed", "failed")
