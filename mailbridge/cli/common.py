"""What several command groups share: JSON output, safe URLs, dates and times, who is asking."""


from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from mailbridge.clock import system_clock
from mailbridge.delivery.sender import DeliveryReport
from mailbridge.errors import InvalidRequestError
from mailbridge.settings.config import (
    Settings,
    redact_url,
)

log = logging.getLogger("mailbridge")

Command = Callable[[argparse.Namespace, Settings], int]


def print_json(data: Any) -> None:
    """One format for every --json: indented, and names like Chloé left readable."""
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    print()


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
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequestError(
            f"--at: not an ISO time: {value!r} (e.g. 2026-11-28T23:00)"
        ) from None
    return at.replace(tzinfo=tz) if at.tzinfo is None else at


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (a container): the audit still says it was the CLI
        return "unknown"


def print_delivery(report: DeliveryReport) -> None:
    if report.written:  # no relay: files only, and the line says so
        print(
            f"alerts: {report.written} written to files (no relay), {report.sent} sent, "
            f"{report.retried} to retry, {report.failed} failed"
        )
        return
    print(f"alerts: {report.sent} sent, {report.retried} to retry, {report.failed} failed")
