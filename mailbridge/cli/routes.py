"""`routes test`: a dry run of the routing rules."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from mailbridge.cli.common import Command, parse_at, print_json, read_store
from mailbridge.directory.records import ChildRecord
from mailbridge.errors import InvalidRequestError, NotFoundError
from mailbridge.routing.explain import routed_json, routed_lines
from mailbridge.routing.rules import KNOWN_EVENTS, event_for_child
from mailbridge.settings.config import (
    Settings,
    load_routing_file,
)
from mailbridge.store import tx
from mailbridge.store.directory import current_allocations, get_child


def add_parsers(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    routes = sub.add_parser(
        "routes",
        help="routing rules (config/routing.yaml)",
        description="The routing rules: who is alerted for each event (routing.file, "
        "docs/routing.md).",
    )
    routesub = routes.add_subparsers(dest="routes_command", metavar="ACTION", required=True)
    rtest = routesub.add_parser(
        "test",
        help="dry run: who would be alerted for an event, and by which rule",
        description="A dry run of the routing rules: who would be alerted for an event about a "
        "child at a given time, and by which rule. Nothing is stored or sent.",
    )
    rtest.add_argument(
        "--event", required=True, help=f"{', '.join(KNOWN_EVENTS)}, or a name under events:"
    )
    rtest.add_argument(
        "--child",
        metavar="CHILD_ID",
        help="from the directory (needed for missing/update/returned)",
    )
    rtest.add_argument("--risk", choices=["high", "medium", "low"], help="default: not stated")
    rtest.add_argument(
        "--placement-authority",
        metavar="CODE",
        help="the child's placement authority (a code in the authorities file), instead of "
        "the directory's; with no --child, a made-up child placed there",
    )
    rtest.add_argument(
        "--at",
        metavar="WHEN",
        help="ISO time, e.g. 2026-11-28T23:00 (no offset: the routing zone); default: now",
    )
    _either(
        rtest,
        ("--sender-known", "the sender is a carer on record (the default when --child is given)"),
        ("--sender-unknown", "the sender is not a carer on record for the child"),
        default=None,
    )
    _either(
        rtest,
        ("--sender-verified", "the sender check passed (docs/trust.md); default: not verified"),
        ("--sender-unverified", "the sender check did not pass (the default)"),
        default=False,
    )
    rtest.add_argument("--json", action="store_true", help="JSON on stdout")


def _either(
    parser: Any, yes: tuple[str, str], no: tuple[str, str], *, default: bool | None
) -> None:
    """Two exclusive options that set one flag (named after the first) True or False."""
    group = parser.add_mutually_exclusive_group()
    dest = yes[0].removeprefix("--").replace("-", "_")
    group.add_argument(
        yes[0], dest=dest, action="store_const", const=True, default=default, help=yes[1]
    )
    group.add_argument(no[0], dest=dest, action="store_const", const=False, help=no[1])


def _child(
    t: tx.Tx, child_id: str
) -> tuple[ChildRecord | None, dict[str, dict[str, str | None]] | None]:
    """The directory's child and their current allocations; (None, None) when unknown."""
    child = get_child(t, child_id)
    return child, (current_allocations(t, child.child_id) if child is not None else None)


def cmd_routes(args: argparse.Namespace, settings: Settings) -> int:
    """`routes test`: route one made-up event against the rules and the directory; no service."""
    routing = load_routing_file(settings)
    known = (*KNOWN_EVENTS, *routing.events)
    if args.event not in known:
        raise InvalidRequestError(f"unknown event {args.event!r} (known: {', '.join(known)})")
    if (
        args.child is None
        and args.placement_authority is None
        and args.event in ("missing", "update", "returned")
    ):
        raise InvalidRequestError(
            f"--child is needed for a {args.event} event (or --placement-authority)"
        )
    if args.placement_authority and routing.authorities.find(args.placement_authority) is None:
        raise NotFoundError(
            f"--placement-authority: {args.placement_authority!r} is not in the authorities file "
            f"({routing.authorities.source})"
        )
    at = parse_at(args.at, routing.tz)
    child = allocations = None
    if args.child is not None:
        child, allocations = read_store(settings, lambda t: _child(t, args.child.strip()))
        if child is None:
            raise NotFoundError(f"no child with id {args.child!r} in the directory")
    if child is None and args.placement_authority:
        # No directory needed: a child known only by where they are placed.
        child = ChildRecord(
            child_id="(test)",
            first_name="Test",
            last_name="Child",
            date_of_birth=None,
            placement_name=None,
            placement_type=None,
            carer_emails=(),
        )
    if child is not None and args.placement_authority:
        child = replace(child, placement_authority=args.placement_authority)
    sender_known = args.sender_known if args.sender_known is not None else child is not None
    event = event_for_child(
        args.event,
        at,
        child,
        allocations,
        risk=args.risk,
        sender_known=sender_known,
        sender_verified=args.sender_verified,
    )
    routed = routing.route(event)
    if args.json:
        print_json(routed_json(routing, event, routed))
    else:
        print("\n".join(routed_lines(routing, event, routed)))
    return 0


COMMANDS: dict[str, Command] = {
    "routes": cmd_routes,
}
