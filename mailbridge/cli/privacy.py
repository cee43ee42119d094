"""`purge` and `subject-access`: retention and the rights of the people in the data."""


from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mailbridge.cli.common import (
    Command,
    opened_store,
    parse_day,
    print_json,
    print_list,
    read_store,
)
from mailbridge.clock import system_clock
from mailbridge.errors import InvalidRequestError
from mailbridge.reports import retention, subject_access
from mailbridge.settings.config import Settings


def add_parsers(sub: Any) -> None:
    """Add this group's commands to the top-level subparsers."""
    purge = sub.add_parser(
        "purge",
        help="retention: purge raw mail and free text older than retention.days",
        description="Purge raw mail and free-text details older than retention.days "
        "(docs/privacy.md); the facts the statistics and the SSDA903 return need are kept. "
        "`serve` does this daily at retention.hour.",
    )
    purge.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    purge.add_argument(
        "--before",
        metavar="DATE",
        help="purge what is older than DATE (YYYY-MM-DD, service zone) instead of retention.days",
    )
    purge.add_argument("--json", action="store_true", help="the counts as JSON on stdout")

    sar = sub.add_parser(
        "subject-access",
        help="find and export everything held about a child",
        description="Answer a subject-access request (docs/privacy.md): find a child, then "
        "export everything held about them.",
    )
    sarsub = sar.add_subparsers(dest="sar_command", metavar="ACTION", required=True)
    sar_search = sarsub.add_parser(
        "search",
        help="children by id, name (partial), date of birth, carer email or police ref",
        description="Find children by id, name (partial), date of birth, carer email or "
        "police reference.",
    )
    sar_search.add_argument("term", help="what to look for")
    sar_search.add_argument("--json", action="store_true", help="JSON on stdout")
    sar_export = sarsub.add_parser(
        "export",
        help="write a zip of everything held about one child (special-category data)",
        description="Write a zip of everything held about one child: directory record, "
        "episodes, messages, alerts and audit rows. It holds special-category data; the "
        "export is audited.",
    )
    sar_export.add_argument("child_id", metavar="CHILD_ID", help="the child's ID in the directory")
    sar_export.add_argument("--out", required=True, metavar="PATH", help="the .zip to write")
    sar_export.add_argument(
        "--requested-by", required=True, metavar="WHO", help="who asked, for the audit log"
    )


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    now = system_clock()
    if args.before:
        day = parse_day("--before", args.before)
        cutoff = retention.cutoff_before(day, settings.tz)
        if cutoff > now:
            raise InvalidRequestError(f"--before: {args.before} is in the future")
    else:
        cutoff = retention.cutoff_for(now, settings.retention.days)
    with opened_store(settings) as engine:
        report = retention.purge(
            engine,
            cutoff=cutoff,
            now=now,
            batch_size=settings.retention.batch_size,
            dry_run=args.dry_run,
            actor="cli",
            outbox=settings.data_dir / "outbox",
        )
    if args.json:
        print_json(report.as_json())
        return 0
    verb = "would purge" if args.dry_run else "purged"
    print(f"{verb} before {cutoff.astimezone(settings.tz):%Y-%m-%d %H:%M %Z}:")
    for table, count in report.counts.items():
        print(f"  {table:<17} {count}")
    return 0


def cmd_subject_access(args: argparse.Namespace, settings: Settings) -> int:
    if args.sar_command == "search":
        return print_list(
            read_store(settings, lambda t: subject_access.search(t, args.term)),
            as_json=args.json,
            line=lambda m: "  ".join(subject_access.match_line(m)),
            empty="no match",
            jsonable=lambda m: m.as_json(),
        )
    with opened_store(settings) as engine:
        summary = subject_access.export(
            engine,
            args.child_id.strip(),
            Path(args.out),
            requested_by=args.requested_by,
            now=system_clock(),
        )
    print(
        f"wrote {args.out}: {summary['counts']['episodes']} episode(s), "
        f"{summary['counts']['messages']} message(s), {summary['counts']['alerts']} alert(s); "
        "it holds special-category data: keep it safe, delete it once sent"
    )
    return 0


COMMANDS: dict[str, Command] = {
    "purge": cmd_purge,
    "subject-access": cmd_subject_access,
}
