"""`report`, `digest` and `export ssda903`: figures and returns."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mailbridge.cli.common import (
    opened_store,
    parse_at,
    parse_day,
    print_delivery,
    print_json,
    read_store,
)
from mailbridge.cli.parsers import arg, as_of, command, flag, json_flag
from mailbridge.errors import FileAccessError, InvalidRequestError
from mailbridge.reports import digest, ssda903
from mailbridge.reports.report import build_report
from mailbridge.runtime.serve import make_runner, make_workers
from mailbridge.settings.config import Settings
from mailbridge.store import listings, tx


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """`export ssda903`: the valid rows, every episode left out listed with its reason (exit 0);
    with --strict, every violation on stderr and exit 1 with no output unless all are valid."""
    year = ssda903.parse_year(args.year)
    first, last = year.first_day, year.last_day
    print(
        f"SSDA903 Missing table {year.label}: episodes starting {first:%d/%m/%Y} to "
        f"{last:%d/%m/%Y} ({settings.tz.key})",
        file=sys.stderr,
    )
    rows = read_store(settings, lambda t: ssda903.load_rows(t, year, settings.tz))
    problems = ssda903.validate(rows, year)
    if problems and args.strict:
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(
            f"mailbridge: error: {len(problems)} problem(s) in {len(rows)} episode(s); "
            "fix them (see docs/ssda903.md) and run again; no file written",
            file=sys.stderr,
        )
        return 1
    valid, excluded = ssda903.split_valid(rows, problems)
    left_out = len({p.reference for p in excluded})
    if excluded:
        print(f"{left_out} episode(s) left out of the return:", file=sys.stderr)
        for problem in excluded:
            print(f"  excluded {problem}", file=sys.stderr)
    text = ssda903.render_csv(valid, year)
    if args.out:
        out = Path(args.out)
        beside = out.with_name(f"{out.stem}-excluded.csv")
        try:
            ssda903.write_atomic(out, text)
            if excluded:
                ssda903.write_atomic(beside, ssda903.render_excluded(excluded))
            else:
                beside.unlink(missing_ok=True)  # an old list would say episodes are missing
        except OSError as exc:
            raise FileAccessError(f"--out {out}: {exc.strerror or exc}") from exc
        print(f"wrote {len(valid)} episode(s) to {out}", file=sys.stderr)
        if excluded:
            print(f"listed {left_out} excluded episode(s) in {beside}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"{len(valid)} episode(s)", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    start, end = parse_day("--from", args.start), parse_day("--to", args.end)
    if start > end:
        raise InvalidRequestError(f"--from {start} is after --to {end}")
    with opened_store(settings) as engine:
        built = build_report(engine, settings, start, end, names=args.names)
    if args.format == "json" and not args.out:
        print_json(built.as_json())
        return 0
    if args.format == "json":
        text = json.dumps(built.as_json(), indent=2, ensure_ascii=False) + "\n"
    else:
        text = built.html() if args.format == "html" else built.csv()
    if not args.out:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise FileAccessError(f"--out {args.out}: {exc.strerror or exc}") from None
    print(f"report {start} to {end} written to {args.out} ({args.format})", file=sys.stderr)
    return 0


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    with opened_store(settings) as engine:
        at = parse_at(args.at, settings.tz)
        routing = make_runner(engine, settings).routing
        outcomes: list[digest.Outcome] = []
        if args.send:
            outcomes = digest.run_due(engine, settings, routing, at)
            _worker, sender = make_workers(engine, settings)
            delivery = sender.deliver_due()
        since = digest.in_use_since(engine)
        with tx.read(engine) as t:
            sent = listings.digests_sent(t)
    due = digest.due_periods(settings, at, since)
    rows = []
    for kind in settings.digest.periods:
        period = digest.last_finished(kind, at.astimezone(settings.tz).date())
        when = sent.get((kind, period.start))
        rows.append(
            {
                "kind": kind,
                "from": period.start.isoformat(),
                "to": period.last_day.isoformat(),
                "sent_at": when.isoformat() if when else None,
                "due": when is None and period in due,
                "why_not_due": (
                    None if when else digest.not_due_reason(settings, period, at, since)
                ),
            }
        )
    if args.json:
        print_json(
            {
                "at": at.isoformat(),
                "queued": [
                    {
                        "kind": o.period.kind,
                        "from": o.period.start.isoformat(),
                        "recipients": o.queued,
                        "skipped": o.skipped,
                    }
                    for o in outcomes
                ],
                "periods": rows,
            }
        )
        return 0
    for o in outcomes:
        print(
            f"queued {o.period.key} for {o.queued} recipient(s)"
            + (f" ({o.skipped})" if o.skipped else "")
        )
    if args.send:
        print_delivery(delivery)
    if not rows:
        print("no digests configured (digest.periods is empty)")
    for r in rows:
        state = (
            f"sent {r['sent_at']}"
            if r["sent_at"]
            else ("DUE" if r["due"] else f"not due: {r['why_not_due']}")
        )
        print(f"{r['kind']:<8} {r['from']} to {r['to']}  {state}")
    return 0


PARSERS = (
    command(
        "export",
        "returns for the Department for Education",
        "Statutory returns for the Department for Education.",
        dest="export_command",
        metavar="RETURN",
        actions=(
            command(
                "ssda903",
                "the SSDA903 Missing table (CHILD,DOB,MISSING,MIS_START,MIS_END) as CSV, "
                "after checking every rule",
                "Write the SSDA903 Missing table (CHILD,DOB,MISSING,MIS_START,MIS_END) of "
                "one collection year as CSV, after checking every rule; the episodes left out "
                "are listed with the reason (docs/ssda903.md).",
                arg(
                    "--year",
                    required=True,
                    help="collection year: 2026 or 2026-27 means 1 April 2026 to 31 March 2027",
                ),
                arg(
                    "--out",
                    metavar="PATH",
                    help="write the file here (atomically), and the episodes left out to "
                    "PATH-excluded.csv beside it; default: stdout",
                ),
                flag(
                    "--strict",
                    "all or nothing: if any episode breaks a rule, write nothing and exit 1",
                ),
            ),
        ),
        run=cmd_export,
    ),
    command(
        "digest",
        "the weekly/monthly statistics digest: what is due; --send queues it",
        "The statistics digest (digest.periods): for each period, whether it is "
        "due, sent, or not due and why; --send queues the due ones and delivers them.",
        as_of(),
        flag("--send", "queue the due digests, then deliver"),
        json_flag("each period's state as JSON on stdout"),
        run=cmd_digest,
    ),
    command(
        "report",
        "figures for a period (episodes that started in it) as HTML, CSV or JSON",
        "The figures for a period, counting the episodes that started in it, as "
        "HTML (the managers' report, docs/report.md), CSV or JSON. Children are pseudonyms "
        "unless --names is given.",
        arg("--from", dest="start", required=True, metavar="YYYY-MM-DD", help="first day (local)"),
        arg(
            "--to",
            dest="end",
            required=True,
            metavar="YYYY-MM-DD",
            help="last day (local), included",
        ),
        arg("--format", choices=["html", "csv", "json"], default="html", help="default: html"),
        arg("--out", metavar="PATH", help="write to this file; default stdout"),
        flag(
            "--names",
            "show children's names and IDs (default: pseudonyms such as 'Child 1')",
        ),
        run=cmd_report,
    ),
)
