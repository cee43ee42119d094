"""`episodes` and `episode`: the missing episodes and one episode's timeline."""


from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbridge.cli.common import Command, login_name, print_json
from mailbridge.clock import system_clock
from mailbridge.episodes.absence import CODES as ABSENCE_CODES
from mailbridge.episodes.absence import reclassify
from mailbridge.episodes.timeline import find_episode, list_episodes, render_timeline
from mailbridge.errors import MailbridgeError
from mailbridge.runtime.serve import open_store
from mailbridge.settings.config import (
    Settings,
)
from mailbridge.store.models import Episode


def add_parsers(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    episodes = sub.add_parser("episodes", help="list missing episodes")
    episodes.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    episodes.add_argument("--open", action="store_true", help="only episodes still open")

    episode = sub.add_parser(
        "episode", help="one episode and its timeline; --absence-type sets its SSDA903 code"
    )
    episode.add_argument("reference", help="e.g. MB-2026-00042")
    episode.add_argument("--json", action="store_true", help="the episode as JSON on stdout")
    episode.add_argument(
        "--absence-type",
        type=str.upper,
        choices=["M", "A"],
        help="set the SSDA903 code: M missing, A away from placement without authorisation "
        "(audited)",
    )
    episode.add_argument(
        "--by", metavar="WHO", help="who asked for the change, for the audit (default: your login)"
    )


def cmd_episodes(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    with Session(engine) as session:
        data = list_episodes(session, open_only=args.open)
    engine.dispose()
    if args.json:
        print_json(data)
        return 0
    for e in data:
        print(
            f"{e['reference']:<15} {e['status']:<9} {e['child_id'] or 'UNMATCHED':<10} "
            f"opened {e['opened_at'][:16]}  last seen {(e['last_seen_at'] or 'not stated')[:16]}"
            f"  {len(e['message_ids'])} message(s)"
        )
    if not data:
        print("no episodes")
    return 0


def cmd_episode(args: argparse.Namespace, settings: Settings) -> int:
    engine = open_store(settings)
    try:
        if args.absence_type:
            with Session(engine) as session, session.begin():
                _set_absence_type(session, args)
        with Session(engine) as session:
            data = find_episode(session, args.reference)
    finally:
        engine.dispose()
    if data is None:
        raise MailbridgeError(f"no episode with reference {args.reference}")
    if args.json:
        print_json(data)
    else:
        print(render_timeline(data))
    return 0


def _set_absence_type(session: Session, args: argparse.Namespace) -> None:
    """`episode REF --absence-type M|A`: staff reclassify by hand; audited as who asked."""
    ep = session.scalars(
        select(Episode).where(Episode.reference == args.reference.upper()).with_for_update()
    ).first()
    if ep is None:
        raise MailbridgeError(f"no episode with reference {args.reference}")
    who = args.by or login_name()
    changed = reclassify(
        session, ep, args.absence_type, actor=f"cli:{who}", at=system_clock(), source="cli"
    )
    if changed:
        print(
            f"{ep.reference}: absence type {changed} ({ABSENCE_CODES[ep.absence_type]})",
            file=sys.stderr,
        )
    else:
        print(
            f"{ep.reference}: absence type already {ep.absence_type}; nothing changed",
            file=sys.stderr,
        )


COMMANDS: dict[str, Command] = {
    "episodes": cmd_episodes,
    "episode": cmd_episode,
}
