"""The Now page's table rows as HTML: the hot part of a page that a duty screen polls all night.

``NowRows.html(rows, now)`` gives the ``<tr>`` elements of ``now_table.html``'s ``<tbody>`` for
the rows of ``store.views.open_episodes``, as ``Markup``. Every value from the store is escaped
exactly once (``markupsafe.escape``, as the template's autoescape does); the output is the one
the Jinja loop it replaces gave, byte for byte (tests/unit/test_now_rows.py).

Why not a Jinja loop: at 500 rows the loop was most of the page's CPU time (about ten escape
calls, twenty attribute look-ups and three filter calls per row). Here each row is formatted
once into two strings, the cells before and after "Missing for", and kept in a small cache
keyed by the row itself (a frozen value: any change to the episode, its child, its
acknowledgements or its next escalation is a new key). The only cell that moves with the clock,
"Missing for", is formatted on every call. The cache holds the HTML of at most ``limit`` rows
(a few hundred bytes each) and is shared by every person's requests: a row's HTML depends on the
row alone, and what rows a person gets is decided before, by ``views.open_episodes(scope=…)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from markupsafe import Markup, escape

from mailbridge.store import views

# One row of the table. "{missing_for}" splits it in two: what comes before it and after it
# depend on the row alone, and are cached; the duration depends on the clock too.
_ROW = (
    "\n    <tr>\n"
    '      <td><a href="/episodes/{ref}">{ref}</a>\n'
    "{check}</td>\n"
    "      <td>{child}</td>\n"
    "      <td>{age}</td>\n"
    "      <td>{placement}</td>\n"
    '      <td><strong class="tag tag-risk-{risk_class}">{risk}</strong></td>\n'
    "      <td>{missing_for}</td>\n"
    "      <td>{seen}</td>\n"
    "      <td>{acks}</td>\n"
    "      <td>{next}</td>\n"
    "    </tr>"
)
_HEAD, _TAIL = _ROW.split("{missing_for}")
_CHECK = '<br><strong class="tag tag-warn">Check</strong>'
_UNMATCHED = '<strong class="tag tag-warn">Unmatched</strong> '
_NOT_ACKED = '<strong class="tag tag-alert">Not acknowledged</strong>'


class NowRows:
    """Formats Now rows for one app: its local time zone and its labels."""

    def __init__(
        self,
        local: Callable[[datetime, str], str],
        *,
        risk_label: dict[str | None, str],
        action_label: dict[str, str],
        duration: Callable[[timedelta], str],
        limit: int = 5000,
    ) -> None:
        self.local = local
        self.risk_label = risk_label
        self.action_label = action_label
        self.duration = duration
        self.limit = limit
        self._cache: dict[views.NowRow, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def html(self, rows: Iterable[views.NowRow], now: datetime) -> Markup:
        """The ``<tr>`` elements for ``rows``, in their order, "Missing for" as of ``now``."""
        parts: list[str] = []
        cache = self._cache
        for row in rows:
            cached = cache.get(row)
            if cached is None:
                cached = self._format(row)
                self._keep(row, cached)
            parts.append(cached[0])
            parts.append(self.duration(now - row.missing_since))  # digits and letters only
            parts.append(cached[1])
        return Markup("".join(parts))  # noqa: S704 - every value in it was escaped

    def _keep(self, row: views.NowRow, cached: tuple[str, str]) -> None:
        with self._lock:
            if len(self._cache) >= self.limit:
                # Oldest first (a dict keeps insertion order): closed episodes age out.
                for old in list(self._cache)[: self.limit // 4 or 1]:
                    del self._cache[old]
            self._cache[row] = cached

    def _format(self, r: views.NowRow) -> tuple[str, str]:
        if r.child_id:
            child = f'{escape(r.initials)} <span class="hint">{escape(r.child_id)}</span>'
        else:
            child = f"{_UNMATCHED}{escape(r.initials)}"
        seen = escape(self.local(r.last_seen_at, "%a %d %b %H:%M")) if r.last_seen_at else (
            "Time not given"
        )
        if r.last_seen_location:
            seen = f'{seen}<br><span class="hint">{escape(r.last_seen_location)}</span>'
        if r.acks:
            acks = "<br>".join(
                f'{escape(a.address)} <span class="hint">({escape(a.role.replace("_", " "))}, '
                f'{escape(self.local(a.at, "%H:%M"))})</span>'
                for a in r.acks
            )
        else:
            acks = _NOT_ACKED
        if r.next_action:
            kind = r.next_action.kind
            nxt = (
                f"{escape(self.action_label.get(kind, kind))}<br>"
                f'<span class="hint">{escape(self.local(r.next_action.due_at, "%a %H:%M"))}</span>'
            )
        else:
            nxt = "-"
        ref = escape(r.reference)
        values = {
            "ref": ref,
            "check": _CHECK if r.needs_confirmation else "",
            "child": child,
            "age": escape(r.age) if r.age is not None else "-",
            "placement": escape(r.placement or "-"),
            "risk_class": escape(r.risk or "unknown"),
            "risk": escape(self.risk_label.get(r.risk, r.risk or "")),
            "seen": seen,
            "acks": acks,
            "next": nxt,
        }
        return _HEAD.format_map(values), _TAIL.format_map(values)
