"""`directory import` and `directory show`: who each child is and who is told."""

from __future__ import annotations

import argparse
import sys

from mailbridge.cli.common import print_json, read_store
from mailbridge.cli.parsers import arg, command, json_flag
from mailbridge.clock import system_clock
from mailbridge.directory.csv_file import read_directory_file
from mailbridge.directory.records import (
    ParsedDirectory,
    child_lines,
    report_lines,
)
from mailbridge.errors import ConfigError, NotFoundError, StorageError
from mailbridge.runtime.serve import open_store
from mailbridge.settings.config import (
    Settings,
    load_authorities_file,
)
from mailbridge.store import tx
from mailbridge.store.directory import describe_child, import_directory


def cmd_directory(args: argparse.Namespace, settings: Settings) -> int:
    """Import exits 1 if any row was rejected (the good rows are still in)."""
    # A fatal problem in the file is found before the database is touched.
    if args.directory_command == "import":
        return _import(args.file, read_directory_file(args.file), settings)
    detail = read_store(settings, lambda t: describe_child(t, args.child_id))
    if detail is None:
        raise NotFoundError(f"no child with id {args.child_id!r} in the directory")
    if args.json:
        print_json(detail)
    else:
        print("\n".join(child_lines(detail)))
    return 0


def _import(file: str, parsed: ParsedDirectory, settings: Settings) -> int:
    engine = open_store(settings)
    try:
        with tx.write(engine) as t:
            report = import_directory(t, parsed, now=system_clock(), actor="cli")
    except tx.DatabaseError as exc:
        raise StorageError(
            f"{file}: the database refused the import "
            f"({str(exc).splitlines()[0]}); nothing imported"
        ) from exc
    finally:
        engine.dispose()
    for problem in report.rejected:
        print(f"line {problem.line}: {problem.reason}", file=sys.stderr)
    _warn_unknown_authorities(parsed, settings)
    print("\n".join(report_lines(report)))
    return 1 if report.rejected else 0


def _warn_unknown_authorities(parsed: ParsedDirectory, settings: Settings) -> None:
    """The rows are in; a code the authorities file lacks means a host authority that cannot
    be told (duty is alerted instead), so the operator hears of it now."""
    codes = [(r.child_id, r.placement_authority) for r in parsed.rows if r.placement_authority]
    if not codes:
        return
    try:
        authorities = load_authorities_file(settings)
    except ConfigError as exc:
        print(f"mailbridge: warning: placement authorities not checked: {exc}", file=sys.stderr)
        return
    for problem in authorities.unknown(codes):
        print(f"mailbridge: warning: {problem}", file=sys.stderr)


PARSERS = (
    command(
        "directory",
        "children, placements, carers and allocations",
        "The directory mailbridge matches reports against: children, their "
        "placements and carers' addresses, and the staff allocated to each.",
        dest="directory_command",
        actions=(
            command(
                "import",
                "import a directory CSV (its columns: README, 'The directory')",
                "Import a directory CSV exported from the case management system (columns: "
                "README, 'The directory'). Dates of birth may be ISO (2012-03-14) or UK day-first "
                "(14/03/2012). Every row is checked first; a rejected row is named by its line and "
                "reason, and the good rows are imported in one transaction.",
                arg("file", metavar="FILE.csv", help="the CSV file (UTF-8)"),
            ),
            command(
                "show",
                "one child, with current and past allocations",
                "Show one child of the directory: date of birth, placement, carer emails, "
                "and current and past allocations.",
                arg("child_id", metavar="CHILD_ID", help="the child's ID in the directory"),
                json_flag(),
            ),
        ),
        run=cmd_directory,
    ),
)
