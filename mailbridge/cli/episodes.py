"""`episodes` and `episode`: the missing episodes, one episode's timeline and history, and the
casework operations staff use to change what mailbridge decided (docs/casework.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mailbridge.cli.common import (
    Command,
    login_name,
    opened_store,
    print_json,
    print_list,
    read_store,
)
from mailbridge.clock import system_clock
from mailbridge.episodes import casework, decisions
from mailbridge.episodes.absence import CODES as ABSENCE_CODES
from mailbridge.episodes.absence import reclassify
from mailbridge.episodes.timeline import find_episode, list_episodes, render_timeline
from mailbridge.errors import NotFoundError
from mailbridge.settings.config import Settings
from mailbridge.store import episodes as episode_store
from mailbridge.store import tx


def add_parsers(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    episodes = sub.add_parser(
        "episodes",
        help="list missing episodes",
        description="List the missing episodes: reference, status, child, when opened, when "
        "last seen and how many messages. `mailbridge episode REF` shows one in full.",
    )
    episodes.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    episodes.add_argument("--open", action="store_true", help="only episodes still open")

    episode = sub.add_parser(
        "episode",
        help="one episode: show it, or link, split, merge, void, close, reopen, correct, "
        "confirm it (docs/casework.md)",
        description="`mailbridge episode REF` is `mailbridge episode show REF`.",
    )
    # `episode REF` must keep working beside `episode link REF ...`: see _EpisodeParser.
    episode.__class__ = _EpisodeParser
    ops = episode.add_subparsers(
        dest="episode_command",
        metavar="OPERATION",
        required=True,
        parser_class=argparse.ArgumentParser,
    )
    show = _operation(ops, "show", "the episode, its timeline and its history of changes")
    show.add_argument(
        "--absence-type",
        type=str.upper,
        choices=["M", "A"],
        help="set the SSDA903 code: M missing, A away from placement without authorisation "
        "(audited)",
    )
    _operation(ops, "link", "give an unmatched episode its child; the child's staff are alerted")
    ops.choices["link"].add_argument("--child", required=True, metavar="ID", help="child ID")
    split = _operation(ops, "split", "an episode about several children: one per child")
    split.add_argument(
        "--child", action="append", required=True, metavar="ID", help="each child, twice or more"
    )
    merge = _operation(ops, "merge", "two episodes of one absence become one")
    merge.add_argument(
        "--into", required=True, metavar="REF", help="the earlier episode, which survives"
    )
    void = _operation(
        ops, "void", "not a missing episode: timers off, out of the figures and the return"
    )
    void.add_argument("--reason", required=True, help="e.g. duplicate, test, not one of ours")
    returned = _operation(ops, "returned", "close it: the return-interview clock starts")
    returned.add_argument(
        "--at", required=True, metavar="WHEN", help="14:30 (today, else yesterday), now, or ISO"
    )
    reopen = _operation(ops, "reopen", "returned or void back to open")
    reopen.add_argument("--reason", required=True, help="why it is open again, for the history")
    correct = _operation(ops, "correct", "fix facts; the old values are kept in the history")
    correct.add_argument("--last-seen", metavar="WHEN", help="when the child was last seen")
    correct.add_argument("--returned-at", metavar="WHEN", help="when a returned child came back")
    correct.add_argument("--police-ref", metavar="TEXT", help="the police reference")
    correct.add_argument("--risk", type=str.lower, choices=decisions.RISKS, help="risk level")
    correct.add_argument(
        "--absence-type", type=str.upper, choices=["M", "A"], help="SSDA903: M missing, A away"
    )
    _operation(ops, "confirm", "a person checked what the reading was unsure of")


class _EpisodeParser(argparse.ArgumentParser):
    """`episode REF [...]` reads as `episode show REF [...]`: the old form keeps working."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        items = list(sys.argv[1:] if args is None else args)
        first = next((a for a in items if not a.startswith("-")), None)
        if first is not None and first not in OPERATIONS:
            items = ["show", *items]
        return super().parse_known_args(items, namespace)


OPERATIONS = ("show", "link", "split", "merge", "void", "returned", "reopen", "correct", "confirm")


def _operation(ops: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = ops.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("reference", metavar="REF", help="e.g. MB-2026-00042")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.add_argument(
        "--by", metavar="WHO", help="who made the change, for the history (default: your login)"
    )
    if name != "show":
        parser.add_argument("--note", metavar="TEXT", help="why, kept with the change")
    return parser


def cmd_episodes(args: argparse.Namespace, settings: Settings) -> int:
    data = read_store(settings, lambda t: list_episodes(t, open_only=args.open))
    return print_list(data, as_json=args.json, line=_episode_line, empty="no episodes")


def _episode_line(e: dict[str, Any]) -> str:
    return (
        f"{e['reference']:<15} {e['status']:<9} {e['child_id'] or 'UNMATCHED':<10} "
        f"opened {e['opened_at'][:16]}  last seen {(e['last_seen_at'] or 'not stated')[:16]}"
        f"  {len(e['message_ids'])} message(s)"
    )


def cmd_episode(args: argparse.Namespace, settings: Settings) -> int:
    if args.episode_command != "show":
        return _operate(args, settings)
    with opened_store(settings) as engine:
        if args.absence_type:
            with tx.write(engine) as t:
                _set_absence_type(t, args)
        with tx.read(engine) as t:
            data = find_episode(t, args.reference)
            found = episode_store.by_reference(t, args.reference)
            if data is not None and found is not None:
                data["history"] = episode_store.history(t, found.id)
    if data is None:
        raise NotFoundError(f"no episode with reference {args.reference}")
    if args.json:
        print_json(data)
    else:
        print(render_timeline(data))
    return 0


def _operate(args: argparse.Namespace, settings: Settings) -> int:
    """One casework operation; prints what changed and who was told."""
    now = system_clock()
    common: dict[str, Any] = {"by": args.by or login_name(), "note": args.note, "source": "cli"}

    def when(text: str | None) -> datetime | None:
        return decisions.parse_when(text, tz=settings.tz, now=now) if text else None

    with opened_store(settings) as engine:
        ref = args.reference
        match args.episode_command:
            case "link":
                result = casework.link(engine, settings, ref, args.child, now=now, **common)
            case "split":
                result = casework.split(engine, settings, ref, args.child, now=now, **common)
            case "merge":
                result = casework.merge(engine, settings, ref, args.into, now=now, **common)
            case "void":
                result = casework.void(engine, settings, ref, args.reason, now=now, **common)
            case "returned":
                at = when(args.at)
                assert at is not None
                result = casework.returned(engine, settings, ref, at, now=now, **common)
            case "reopen":
                result = casework.reopen(engine, settings, ref, args.reason, now=now, **common)
            case "correct":
                result = casework.correct(
                    engine,
                    settings,
                    ref,
                    last_seen_at=when(args.last_seen),
                    returned_at=when(args.returned_at),
                    police_reference=args.police_ref,
                    risk_level=args.risk,
                    absence_type=args.absence_type,
                    now=now,
                    **common,
                )
            case _:
                result = casework.confirm(engine, settings, ref, now=now, **common)
    if args.json:
        print_json(result.as_json())
    else:
        print("\n".join(result.lines()))
    return 0


def _set_absence_type(t: tx.Tx, args: argparse.Namespace) -> None:
    """`episode REF --absence-type M|A`: staff reclassify by hand; audited as who asked."""
    ep = episode_store.lock(t, args.reference)
    if ep is None:
        raise NotFoundError(f"no episode with reference {args.reference}")
    who = args.by or login_name()
    changed = reclassify(
        t, ep, args.absence_type, actor=f"cli:{who}", at=system_clock(), source="cli"
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
