"""Every reply code the SMTP listener gives, counted, and each refusal logged without addresses.

Refusals were silent: a wrong `smtp.addresses` bounced every report with 550 and nothing was
logged or counted. The listener reports each reply here. The tally keeps a total per code for
this process (`/metrics`, `mailbridge_smtp_replies_total`) and the counts not yet written to the
store, per hour, code and whether the recipient was in one of our own domains; `serve` writes
those to the store on each timer tick (`status` and the refusal alert read them from there).
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from mailbridge.clock import Clock, system_clock

log = logging.getLogger(__name__)

_CODE = re.compile(r"^([2-5]\d\d)[ -]")
_ADDRESS = re.compile(r"<([^<>\s]*)>")


def address_hash(address: str) -> str:
    """A short, stable stand-in for an address in a log line: the same address, the same hash."""
    digest = hashlib.sha256(address.strip().lower().encode("utf-8", "replace")).hexdigest()
    return f"sha256:{digest[:12]}"


def without_addresses(reply: str) -> str:
    """The reply as logged: every <address> replaced by its hash."""
    return _ADDRESS.sub(lambda m: f"<{address_hash(m.group(1))}>" if m.group(1) else "<>", reply)


def reply_code(reply: str) -> str | None:
    """The code of a whole reply, or None. A multi-line reply ("250-mx", "250-SIZE ...",
    "250 HELP") is one reply: only its last line ("250 " or a bare "250") has the code, so a
    continuation line ("250-...", as aiosmtpd pushes each EHLO line) gives None."""
    lines = reply.rstrip("\r\n").splitlines()
    last = lines[-1] if lines else ""
    found = _CODE.match(last + " " if len(last) == 3 else last)
    if found is None or last[3:4] == "-":
        return None
    return found.group(1)


def domains_of(addresses: Iterable[str]) -> frozenset[str]:
    """The domains of our own addresses (``missing@council.example`` -> ``council.example``)."""
    return frozenset(a.rpartition("@")[2].lower() for a in addresses if "@" in a)


class ReplyTally:
    """Thread-safe counts of the replies given; one per listener."""

    def __init__(self, own_domains: Iterable[str] = (), *, clock: Clock = system_clock) -> None:
        self.own_domains = frozenset(d.lower() for d in own_domains)
        self.clock = clock
        self._lock = threading.Lock()
        self._totals: dict[str, int] = {}
        self._pending: dict[tuple[datetime, str, bool], int] = {}

    def is_own(self, address: str | None) -> bool:
        if not address or "@" not in address:
            return False
        return address.rpartition("@")[2].strip(" <>").lower() in self.own_domains

    def reply(self, reply: str, *, own_domain: bool, peer: str | None) -> None:
        """Count one reply (a multi-line reply once, at its last line); log it when it is a
        refusal (4xx or 5xx), addresses hashed."""
        code = reply_code(reply)
        if code is None:
            return
        hour = self.clock().replace(minute=0, second=0, microsecond=0)
        with self._lock:
            self._totals[code] = self._totals.get(code, 0) + 1
            key = (hour, code, own_domain)
            self._pending[key] = self._pending.get(key, 0) + 1
        if code[0] in "45":
            log.warning(
                "SMTP refused (%s%s) peer=%s: %s",
                code,
                ", our domain" if own_domain else "",
                peer,
                without_addresses(reply.strip()),
            )

    def totals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._totals)

    def take_pending(self) -> dict[tuple[datetime, str, bool], int]:
        """The counts not yet stored, handed over and forgotten (give them back on failure)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def give_back(self, pending: dict[tuple[datetime, str, bool], int]) -> None:
        with self._lock:
            for key, n in pending.items():
                self._pending[key] = self._pending.get(key, 0) + n


def store_writer(
    tally: ReplyTally, write: Callable[[dict[tuple[datetime, str, bool], int]], None]
) -> Callable[[], None]:
    """A function that writes the tally's pending counts with ``write``, keeping them on failure."""

    def flush() -> None:
        pending = tally.take_pending()
        if not pending:
            return
        try:
            write(pending)
        except Exception:
            tally.give_back(pending)
            raise

    return flush
