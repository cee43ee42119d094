"""Every message of the shared corpus through the real SMTP listener, over a socket.

`test_corpus.py` feeds the corpus to `inject`; this feeds it to a running `serve` with smtplib,
as a sending server would. A message either gets 250, is stored byte for byte and ends
terminal, or is refused with the right permanent code for a real protocol violation, and then
nothing of it is stored.

The only violation in the corpus is the line length of RFC 5321 4.5.3.1.6 (1000 octets with
the CRLF). Files saved with bare LF line endings are, on the wire, one "line" as long as the
file, because SMTP lines end with CRLF only (RFC 5321 2.3.8; accepting bare LF is what SMTP
smuggling exploits). The listener answers those with 500 5.x "Line too long", after reading
the whole DATA. A real MTA sends CRLF: each such file is then sent again with its line endings
made CRLF, and must get 250.
"""

from __future__ import annotations

import re
import smtplib
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from mailbridge.store.models import InboundMessage
from tests.support.env import SettingsFactory, require_corpus

ADDR = "missing@council.example"
TERMINAL = ("processed", "ignored", "failed")
RFC_LINE = 1000  # RFC 5321 4.5.3.1.6: octets in a text line, the CRLF included
PER_CONNECTION = 100  # below smtp.max_commands (200 MAILs a connection)
STORED = re.compile(rb"stored as (\d+)")


def wire_lines(payload: bytes) -> list[bytes]:
    """The lines as the server reads them: dot-stuffed as smtplib does, split at CRLF only."""
    stuffed = re.sub(rb"(?m)^\.", b"..", payload)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return [line + b"\r\n" for line in stuffed.split(b"\r\n")[:-1]]


def crlf(payload: bytes) -> bytes:
    """The file as a real MTA would send it: every line ending made CRLF."""
    return re.sub(rb"\r?\n", b"\r\n", payload)


class Outcome:
    def __init__(self, path: Path, payload: bytes, code: int, reply: bytes) -> None:
        self.path = path
        self.payload = payload
        self.code = code
        self.reply = reply
        self.longest = max(len(line) for line in wire_lines(payload))
        found = STORED.search(reply)
        self.stored_id = int(found.group(1)) if found else None

    def check(self) -> None:
        """250 and stored: a line longer than RFC 5321's 1000 octets (web forms, bare-LF files,
        one "line" on the wire) is accepted up to the message size limit (issue 19)."""
        where = f"{self.path.name}: longest line {self.longest} octets"
        assert self.code == 250, (where, self.code, self.reply)
        assert self.stored_id is not None, (where, self.reply)


def send(c: smtplib.SMTP, payload: bytes) -> tuple[int, bytes]:
    code, reply = c.mail("carer@homes.example")
    assert code == 250, reply
    code, reply = c.rcpt(ADDR)
    assert code == 250, reply
    code, reply = c.data(payload)
    if code != 250:
        c.rset()
    return code, reply


def stored_rows(url: str) -> dict[int, Any]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as s:
            return {
                r.id: (r.status, bytes(r.raw or b""), r.reason, r.error)
                for r in s.scalars(select(InboundMessage))
            }
    finally:
        engine.dispose()


def test_every_corpus_message_over_smtp_is_stored_or_refused_for_a_reason(
    engine: Engine, database_url: str, make_settings: SettingsFactory, run_service: Any
) -> None:
    files = require_corpus()
    # 146 messages from one address in a minute: the rate limits (tested in
    # test_smtp_security.py) would defer them; this test is about what the mail itself does.
    svc = run_service(
        make_settings(
            "[processing]\npoll_seconds = 0.1\n"
            "[smtp]\nrate_limit_per_sender = 0\nrate_limit_per_ip = 0\n"
        )
    )
    outcomes: list[Outcome] = []
    c = smtplib.SMTP(svc.host, svc.port, timeout=60)
    try:
        c.ehlo()
        for path in files:
            payloads = [path.read_bytes()]
            while payloads:
                if len(outcomes) % PER_CONNECTION == PER_CONNECTION - 1:
                    c.quit()
                    c = smtplib.SMTP(svc.host, svc.port, timeout=60)
                    c.ehlo()
                payload = payloads.pop()
                outcome = Outcome(path, payload, *send(c, payload))
                outcome.check()
                outcomes.append(outcome)
                if outcome.code != 250 and crlf(payload) != payload:
                    payloads.append(crlf(payload))  # as a real MTA sends it
    finally:
        c.close()

    by_path: dict[Path, list[Outcome]] = {}
    for o in outcomes:
        by_path.setdefault(o.path, []).append(o)
    for path, tries in by_path.items():
        assert tries[-1].code == 250, f"{path.name} never stored: {[t.reply for t in tries]}"

    accepted = {o.stored_id: o for o in outcomes if o.stored_id is not None}
    deadline = time.monotonic() + 120
    rows = stored_rows(database_url)
    while time.monotonic() < deadline and any(r[0] not in TERMINAL for r in rows.values()):
        time.sleep(0.2)
        rows = stored_rows(database_url)
    assert set(rows) == set(accepted), "a refused message was stored, or an accepted one lost"
    statuses = Counter(r[0] for r in rows.values())
    assert set(statuses) <= set(TERMINAL), statuses
    for row_id, (status, raw, reason, error) in rows.items():
        o = accepted[row_id]
        if status == "ignored":
            assert reason, f"{o.path.name} ignored without a reason"
        if status == "failed":
            assert error, f"{o.path.name} failed without the error"
        if b"\n" not in o.payload.replace(b"\r\n", b""):  # CRLF throughout: byte for byte
            expected = o.payload if o.payload.endswith(b"\r\n") else o.payload + b"\r\n"
            assert raw == expected, f"{o.path.name}: stored bytes differ from those sent"
