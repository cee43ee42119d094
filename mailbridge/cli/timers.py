"""`due` and `interviews`: escalations, reminders and return home interviews."""


from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from mailbridge.alerts.outbox import Notifier
from mailbridge.cli.common import (
    opened_store,
    parse_at,
    print_delivery,
    print_json,
    print_list,
    read_store,
)
from mailbridge.cli.parsers import as_of, command, flag, json_flag, one_of
from mailbridge.clock import system_clock
from mailbridge.runtime import triage
from mailbridge.runtime.serve import make_runner, make_workers
from mailbridge.settings.config import Settings
from mailbridge.store import listings
from mailbridge.timers.runner import late_note_for


def cmd_due(args: argparse.Namespace, settings: Settings) -> int:
    with opened_store(settings) as engine:
        at = parse_at(args.at, settings.tz)
        runner = make_runner(engine, settings)
        performed = []
        if args.run:
            performed = runner.run_due(at)
            triage.summarise(engine, Notifier(settings, routing=runner.routing), settings, at)
            _worker, sender = make_workers(engine, settings)
            delivery = sender.deliver_due()
        rows: list[dict[str, Any]] = [
            {
                "key": action.key,
                "kind": action.kind,
                "episode": reference,
                "due_at": action.due_at.isoformat(),
                "due": action.due_at <= at,
                "late": late_note_for(action, at),
                "roles": action.roles,
            }
            for action, reference in runner.upcoming()
        ]
    if args.json:
        print_json(
            {
                "at": at.isoformat(),
                "performed": [p.__dict__ for p in performed],
                "pending": rows,
            }
        )
        return 0
    for p in performed:
        print(
            f"done  {p.key:<32} {p.kind:<22} to {', '.join(p.roles)}"
            f"{'  (' + p.late + ')' if p.late else ''}"
        )
    if args.run:
        print_delivery(delivery)
    for r in rows:
        mark = "DUE " if r["due"] else "    "
        local = datetime.fromisoformat(r["due_at"]).astimezone(settings.tz)
        print(
            f"{mark} {local:%Y-%m-%d %H:%M %Z}  {r['key']:<32} {r['kind']:<22} "
            f"{', '.join(r['roles'])}"
        )
    if not rows and not performed:
        print("nothing pending")
    return 0


def cmd_interviews(args: argparse.Namespace, settings: Settings) -> int:
    now = system_clock()
    rows = read_store(settings, listings.interviews)
    data: list[dict[str, Any]] = []
    for iv, reference, child_id, returned_at in rows:
        final = iv.status in ("completed", "declined")
        overdue = iv.overdue or (not final and iv.due_at <= now)
        if args.due and final:
            continue
        if args.overdue and not overdue:
            continue
        data.append(
            {
                "episode": reference,
                "child_id": child_id,
                "returned_at": returned_at.isoformat() if returned_at else None,
                "due_at": iv.due_at.isoformat(),
                "status": iv.status,
                "overdue": overdue,
                "held_on": iv.held_on.isoformat() if iv.held_on else None,
                "interviewer": iv.interviewer,
                # Who holds it: an authorities-file code (docs/out-of-area.md).
                "by_authority": iv.by_authority,
                "reason_codes": iv.reason_codes,
                "sent_back": iv.sent_back,
                "recorded_at": iv.recorded_at.isoformat() if iv.recorded_at else None,
            }
        )
    return print_list(data, as_json=args.json, line=_interview_line, empty="no interviews")


def _interview_line(d: dict[str, Any]) -> str:
    return (
        f"{d['episode']:<15} {d['child_id'] or 'UNMATCHED':<10} due {d['due_at'][:16]}  "
        f"{d['status']:<10}{'  OVERDUE' if d['overdue'] else ''}"
        f"{'  sent back x' + str(d['sent_back']) if d['sent_back'] else ''}"
    )


PARSERS = (
    command(
        "due",
        "escalations, reminders and interview deadlines pending; --run performs them",
        "List the escalations, reminders and interview deadlines pending, and when "
        "each is due (docs/clocks.md); --run performs what is due, as `serve`'s timers do.",
        as_of(),
        flag("--run", "perform what is due (and the triage summaries), then deliver"),
        json_flag("the actions as JSON on stdout"),
        run=cmd_due,
    ),
    command(
        "interviews",
        "return home interviews owed and recorded",
        "Return home interviews: owed after each return, their deadline, and those "
        "recorded.",
        one_of(
            flag("--due", "only those not yet done"),
            flag("--overdue", "only those past their deadline"),
        ),
        json_flag("the interviews as JSON on stdout"),
        run=cmd_interviews,
    ),
)
