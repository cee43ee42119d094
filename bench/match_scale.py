"""Matching a report against a large directory: CPU per report for the name matching alone.

A county council may have two thousand children in care, and a regional deployment several
councils' worth; every report is matched against all of them (``match_child`` and
``read_each_child``). Prints the CPU per report for directories of 20, 200 and 2,000 children
(``time.process_time``; a ratio within one run means more than the absolute figure on a shared
machine). Pure: no database.

    .venv/bin/python bench/match_scale.py [--reports 20]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from mailbridge.directory.records import ChildRecord
from mailbridge.reading import extract_fields, read_message
from mailbridge.reading.children import read_each_child
from mailbridge.reading.match import match_child

LONDON = ZoneInfo("Europe/London")
FIRSTS = ["Amy", "Ben", "Cal", "Dana", "Eli", "Finn", "Gus", "Hana", "Ira", "Jo", "Kai", "Lily"]
RAW = (b"From: carer5@homes.example\nTo: missing@council.example\nSubject: Lily\n"
       b"Date: Thu, 07 Jan 2027 22:30:00 +0000\n\nLily Surname5 went out at 7pm and has not come "
       b"back. Ben is fine, he is in bed.\n")


def directory(n: int) -> list[ChildRecord]:
    rng = random.Random(1)
    return [ChildRecord(str(300000 + i), rng.choice(FIRSTS), f"Surname{rng.randrange(n // 2 + 1)}",
                        date(2011, 1, 1 + i % 28), f"Home {i % 300}", "Foster",
                        (f"carer{i % 300}@homes.example",), {}) for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=20)
    args = parser.parse_args()
    msg = read_message(RAW)
    received = datetime(2027, 1, 7, 22, 31, tzinfo=UTC)
    fields = extract_fields(msg, tz=LONDON, received_at=received)
    one, _five, _ = os.getloadavg()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {one:.1f}")
    base = None
    for n in (20, 200, 2000):
        children = directory(n)
        start = time.process_time()
        for _ in range(args.reports):
            match_child(subject=msg.subject, text=msg.text, fields=fields,
                        sender=msg.from_addr, children=children)
            read_each_child(msg, fields, sender=msg.from_addr, children=children, tz=LONDON,
                            received_at=received)
        ms = (time.process_time() - start) / args.reports * 1000
        base = base or ms
        print(f"{n:>5} children: {ms:7.2f} ms CPU per report (x{ms / base:.1f} the 20-child run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
