"""`routes test`: a dry run of the routing rules."""

from __future__ import annotations

import argparse
from dataclasses import replace

from mailbridge.cli.common import parse_at, print_json, read_store
from mailbridge.cli.parsers import OneOf, arg, command, json_flag, one_of
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


def _either(yes: tuple[str, str], no: tuple[str, str], *, default: bool | None) -> OneOf:
    """Two exclusive options that set one flag (named after the first) True or False."""
    dest = yes[0].removeprefix("--").replace("-", "_")
    return one_of(
        arg(yes[0], dest=dest, action="store_const", const=True, default=default, help=yes[1]),
        arg(no[0], dest=dest, action="store_const", const=False, help=no[1]),
    )


PARSERS = (
    command(
        "routes",
        "routing rules (config/routing.yaml)",
        "The routing rules: who is alerted for each event (routing.file, docs/routing.md).",
        dest="routes_command",
        actions=(
            command(
                "test",
                "dry run: who would be alerted for an event, and by which rule",
                "A dry run of the routing rules: who would be alerted for an event about a "
                "child at a given time, and by which rule. Nothing is stored or sent.",
                arg(
                    "--event",
                    required=True,
                    help=f"{', '.join(KNOWN_EVENTS)}, or a name under events:",
                ),
                arg(
                    "--child",
                    metavar="CHILD_ID",
                    help="from the directory (needed for missing/update/returned)",
                ),
                arg("--risk", choices=["high", "medium", "low"], help="default: not stated"),
                arg(
                    "--placement-authority",
                    metavar="CODE",
                    help="the child's placement authority (a code in the authorities file), "
                    "instead of the directory's; with no --child, a made-up child placed there",
                ),
                arg(
                    "--at",
                    metavar="WHEN",
                    help="ISO time, e.g. 2026-11-28T23:00 (no offset: the routing zone); "
                    "default: now",
                ),
                _either(
                    (
                        "--sender-known",
                        "the sender is a carer on record (the default when --child is given)",
                    ),
                    ("--sender-unknown", "the sender is not a carer on record for the child"),
                    default=None,
                ),
                _either(
                    (
                        "--sender-verified",
                        "the sender check passed (docs/trust.md); default: not verified",
                    ),
                    ("--sender-unverified", "the sender check did not pass (the default)"),
                    default=False,
                ),
                json_flag(),
            ),
        ),
        run=cmd_routes,
    ),
)
