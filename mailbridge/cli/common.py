"""What several command groups share: JSON output, lists, one read of the store, safe URLs,
dates and times, who is asking."""


from __future__ import annotations

import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from mailbridge.clock import iso_in_zone, system_clock
from mailbridge.delivery.sender import DeliveryReport
from mailbridge.errors import InvalidRequestError, MailbridgeError
from mailbridge.runtime.serve import make_workers, open_store
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import redact_url
from mailbridge.store import tx

log = logging.getLogger("mailbridge")

T = TypeVar("T")


def print_json(data: Any) -> None:
    """One format for every --json: indented, and names like Chloé left readable."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    print()


def print_list(
    rows: Sequence[T],
    *,
    as_json: bool,
    line: Callable[[T], str],
    empty: str,
    jsonable: Callable[[T], Any] = lambda row: row,
) -> int:
    """A listing command's output: a JSON array with --json, else one line a row (or ``empty``
    when there is none). Returns the exit code, 0."""
    if as_json:
        print_json([jsonable(row) for row in rows])
        return 0
    for row in rows:
        print(line(row))
    if not rows:
        print(empty)
    return 0


@contextmanager
def opened_store(settings: Settings) -> Iterator[tx.Engine]:
    """The store for one command, disposed however the command ends."""
    engine = open_store(settings)
    try:
        yield engine
    finally:
        engine.dispose()


def read_store(settings: Settings, query: Callable[[tx.Tx], T]) -> T:
    """Open the store, run ``query`` in one read transaction, close the store again.

    ``query`` shapes what it reads into plain data before the transaction ends."""
    with opened_store(settings) as engine, tx.read(engine) as t:
        return query(t)


def safe_url(url: str) -> str:
    return redact_url(url) if url else ""


def parse_day(option: str, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidRequestError(f"{option}: not a date: {value!r} (e.g. 2026-11-01)") from None


def parse_at(value: str | None, tz: ZoneInfo) -> datetime:
    """``--at``: an ISO time, read in the service's zone when it names none; default now."""
    if not value:
        return system_clock()
    at = iso_in_zone(value, tz)
    if at is None:
        raise InvalidRequestError(f"--at: not an ISO time: {value!r} (e.g. 2026-11-28T23:00)")
    return at


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container): the audit still says it was the CLI
        return "unknown"


def process_pending(engine: tx.Engine, settings: Settings) -> None:
    """After mail is stored by a command (inject, imap fetch): process what is pending, then
    deliver the alerts that are due, and say what became of both."""
    worker, sender = make_workers(engine, settings)
    worker.lanes = False  # what the command stored, in arrival order
    print(f"processed {worker.run_once()} message(s)")
    print_delivery(sender.deliver_due())


def check_with_store(
    settings: Settings, what: str, check: Callable[[tx.Engine | None], list[str]]
) -> int:
    """A `... check` command: ``check`` is given the store when it opens (to show what the
    service recorded), else None with a warning, since the check itself needs no database.
    Prints its lines, then "<what> OK"; a failure is raised, one line naming what is wrong."""
    try:
        engine = open_store(settings)
    except MailbridgeError as exc:
        print(f"mailbridge: warning: {exc}; checking {what} only", file=sys.stderr)
        engine = None
    try:
        lines = check(engine)
    finally:
        if engine is not None:
            engine.dispose()
    print("\n".join(lines))
    print(f"{what} OK")
    return 0


def print_delivery(report: DeliveryReport) -> None:
    if report.written:  # no relay: files only, and the line says so
        print(
            f"alerts: {report.written} written to files (no relay), {report.sent} sent, "
            f"{report.retried} to retry, {report.failed} failed"
        )
        return
    print(f"alerts: {report.sent} sent, {report.retried} to retry, {report.failed} failed")
