"""`purge` and `subject-access`: retention and the rights of the people in the data."""

from __future__ import annotations

import argparse
from pathlib import Path

from mailbridge.cli.common import (
    opened_store,
    parse_day,
    print_json,
    print_list,
    read_store,
)
from mailbridge.cli.parsers import arg, command, flag, json_flag
from mailbridge.clock import system_clock
from mailbridge.errors import InvalidRequestError
from mailbridge.reports import retention, subject_access
from mailbridge.settings.config import Settings


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


PARSERS = (
    command(
        "purge",
        "retention: purge raw mail and free text older than retention.days",
        "Purge raw mail and free-text details older than retention.days "
        "(docs/privacy.md); the facts the statistics and the SSDA903 return need are kept. "
        "`serve` does this daily at retention.hour.",
        flag("--dry-run", "only count what would be purged"),
        arg(
            "--before",
            metavar="DATE",
            help="purge what is older than DATE (YYYY-MM-DD, service zone) instead of "
            "retention.days",
        ),
        json_flag("the counts as JSON on stdout"),
        run=cmd_purge,
    ),
    command(
        "subject-access",
        "find and export everything held about a child",
        "Answer a subject-access request (docs/privacy.md): find a child, then "
        "export everything held about them.",
        dest="sar_command",
        actions=(
            command(
                "search",
                "children by id, name (partial), date of birth, carer email or police ref",
                "Find children by id, name (partial), date of birth, carer email or "
                "police reference.",
                arg("term", help="what to look for"),
                json_flag(),
            ),
            command(
                "export",
                "write a zip of everything held about one child (special-category data)",
                "Write a zip of everything held about one child: directory record, "
                "episodes, messages, alerts and audit rows. It holds special-category data; the "
                "export is audited.",
                arg("child_id", metavar="CHILD_ID", help="the child's ID in the directory"),
                arg("--out", required=True, metavar="PATH", help="the .zip to write"),
                arg(
                    "--requested-by",
                    required=True,
                    metavar="WHO",
                    help="who asked, for the audit log",
                ),
            ),
        ),
        run=cmd_subject_access,
    ),
)
