"""Limits on the listener: open connections (total and per IP) and a per-key sliding window.

Both are plain in-process counters: each `serve` instance counts on its own, so with several
instances behind one name the effective limits are that many times larger. That is accepted:
the limits are against floods and loops, not accounting.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable


class ConnectionLimiter:
    """Admits a connection while both the total and its IP's count are below their limits."""

    def __init__(self, *, total: int, per_ip: int) -> None:
        self.total = total
        self.per_ip = per_ip
        self.open = 0
        self.by_ip: Counter[str] = Counter()

    def admit(self, ip: str) -> str | None:
        """Take a slot for ``ip``; return None, or the reason it was refused (no slot taken)."""
        if self.open >= self.total:
            return "too many connections"
        if self.by_ip[ip] >= self.per_ip:
            return "too many connections from your address"
        self.open += 1
        self.by_ip[ip] += 1
        return None

    def release(self, ip: str) -> None:
        """Give back the slot taken by ``admit``."""
        self.open -= 1
        self.by_ip[ip] -= 1
        if self.by_ip[ip] <= 0:
            del self.by_ip[ip]


class SlidingWindow:
    """At most ``limit`` events per key in any ``window`` seconds; a limit of 0 means no limit.

    A key with nothing in its window always passes, so the first event is never refused.
    """

    def __init__(
        self,
        *,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        track: bool = False,
    ) -> None:
        self.limit = limit
        # Count events even with no limit of its own (the sender window, so that a first
        # report is known when only the IP limit is set).
        self.track = track
        self.window = window
        self.clock = clock
        self.events: dict[str, deque[float]] = {}
        self._swept = clock()

    def _prune(self, key: str, now: float) -> deque[float] | None:
        times = self.events.get(key)
        if times is None:
            return None
        cutoff = now - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self.events[key]
            return None
        return times

    def count(self, key: str) -> int:
        """Events for ``key`` inside the window now."""
        times = self._prune(key, self.clock())
        return len(times) if times else 0

    def allows(self, key: str) -> bool:
        """Whether one more event for ``key`` stays within the limit."""
        return self.limit <= 0 or self.count(key) < self.limit

    def record(self, key: str) -> None:
        """Count one event for ``key`` now; forget keys whose windows emptied."""
        if self.limit <= 0 and not self.track:
            return
        now = self.clock()
        self.events.setdefault(key, deque()).append(now)
        if now - self._swept >= self.window:
            self._swept = now
            for stale in list(self.events):
                self._prune(stale, now)


class RateLimiter:
    """Messages per sender address and per IP, each in its own sliding window.

    A sender with nothing in its window always passes, even from an IP over its limit: a
    carer's first report is never deferred. The null sender (bounces) has no sender window
    and is held by the IP limit alone.
    """

    def __init__(
        self,
        *,
        per_sender: int,
        per_ip: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.senders = SlidingWindow(limit=per_sender, window=window, clock=clock, track=per_ip > 0)
        self.ips = SlidingWindow(limit=per_ip, window=window, clock=clock)

    @staticmethod
    def _sender_key(sender: str) -> str:
        return sender.strip().strip("<>").lower()

    def check(self, sender: str, ip: str) -> str | None:
        """None when one more message may pass; else which limit it would break."""
        key = self._sender_key(sender)
        if key:
            if self.senders.count(key) == 0:
                return None  # a first report is never deferred, whatever the IP has sent
            if not self.senders.allows(key):
                return "sender"
        if not self.ips.allows(ip):
            return "ip"
        return None

    def record(self, sender: str, ip: str) -> None:
        """Count one accepted message against its sender and its IP."""
        key = self._sender_key(sender)
        if key:
            self.senders.record(key)
        self.ips.record(ip)
