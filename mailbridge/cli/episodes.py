"""`episodes` and `episode`: the missing episodes, one episode's timeline and history, and the
casework operations staff use to change what mailbridge decided (docs/casework.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mailbridge.cli.common import (
    login_name,
    opened_store,
    print_json,
    print_list,
    read_store,
)
from mailbridge.cli.parsers import Arg, Cmd, arg, command, flag, json_flag
from mailbridge.clock import system_clock
from mailbridge.episodes import casework, decisions
from mailbridge.episodes.absence import CODES as ABSENCE_CODES
from mailbridge.episodes.absence import reclassify
from mailbridge.episodes.timeline import find_episode, list_episodes, render_timeline
from mailbridge.errors import NotFoundError
from mailbridge.settings.config import Settings
from mailbridge.store import episodes as episode_store
from mailbridge.store import tx


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


def _operation(name: str, help_text: str, *args: Arg) -> Cmd:
    """An OPERATION on one episode: REF, --json and --by, and (but for show) --note."""
    common = [
        arg("reference", metavar="REF", help="e.g. MB-2026-00042"),
        json_flag("print JSON on stdout"),
        arg(
            "--by",
            metavar="WHO",
            help="who made the change, for the history (default: your login)",
        ),
    ]
    if name != "show":
        common.append(arg("--note", metavar="TEXT", help="why, kept with the change"))
    return command(name, help_text, help_text, *common, *args)


ABSENCE_TYPE = {"type": str.upper, "choices": ["M", "A"]}

EPISODE = command(
    "episode",
    "one episode: show it, or link, split, merge, void, close, reopen, correct, "
    "confirm it (docs/casework.md)",
    "`mailbridge episode REF` is `mailbridge episode show REF`.",
    # `episode REF` must keep working beside `episode link REF ...`: see _EpisodeParser.
    parser_class=_EpisodeParser,
    dest="episode_command",
    metavar="OPERATION",
    actions=(
        _operation(
            "show",
            "the episode, its timeline and its history of changes",
            arg(
                "--absence-type",
                **ABSENCE_TYPE,
                help="set the SSDA903 code: M missing, A away from placement without "
                "authorisation (audited)",
            ),
        ),
        _operation(
            "link",
            "give an unmatched episode its child; the child's staff are alerted",
            arg("--child", required=True, metavar="ID", help="child ID"),
        ),
        _operation(
            "split",
            "an episode about several children: one per child",
            arg(
                "--child",
                action="append",
                required=True,
                metavar="ID",
                help="each child, twice or more",
            ),
        ),
        _operation(
            "merge",
            "two episodes of one absence become one",
            arg(
                "--into",
                required=True,
                metavar="REF",
                help="the earlier episode, which survives",
            ),
        ),
        _operation(
            "void",
            "not a missing episode: timers off, out of the figures and the return",
            arg("--reason", required=True, help="e.g. duplicate, test, not one of ours"),
        ),
        _operation(
            "returned",
            "close it: the return-interview clock starts",
            arg(
                "--at",
                required=True,
                metavar="WHEN",
                help="14:30 (today, else yesterday), now, or ISO",
            ),
        ),
        _operation(
            "reopen",
            "returned or void back to open",
            arg("--reason", required=True, help="why it is open again, for the history"),
        ),
        _operation(
            "correct",
            "fix facts; the old values are kept in the history",
            arg("--last-seen", metavar="WHEN", help="when the child was last seen"),
            arg("--returned-at", metavar="WHEN", help="when a returned child came back"),
            arg("--police-ref", metavar="TEXT", help="the police reference"),
            arg("--risk", type=str.lower, choices=decisions.RISKS, help="risk level"),
            arg("--absence-type", **ABSENCE_TYPE, help="SSDA903: M missing, A away"),
        ),
        _operation("confirm", "a person checked what the reading was unsure of"),
    ),
    run=cmd_episode,
)
OPERATIONS = tuple(op.name for op in EPISODE.actions)

PARSERS = (
    command(
        "episodes",
        "list missing episodes",
        "List the missing episodes: reference, status, child, when opened, when "
        "last seen and how many messages. `mailbridge episode REF` shows one in full.",
        json_flag("print a JSON array on stdout"),
        flag("--open", "only episodes still open"),
        run=cmd_episodes,
    ),
    EPISODE,
)
