"""The period report: the figures of ``stats`` as HTML, CSV, JSON and a few lines of text.

Children are pseudonymised ("Child 1", "Child 2", ... in the order of the report's own list)
unless ``names=True``: a report is printed, filed and forwarded, and the figures do not need
to know who the children are. The pseudonyms are replaced in the figures themselves, so no
output (and no caller reading ``Report.figures``) can see a child ID by accident.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from mailbridge.errors import MailbridgeError
from mailbridge.reports import stats
from mailbridge.reports.figures import WEEKDAYS, Figures, RepeatChild
from mailbridge.resources import resource_path
from mailbridge.routing.authorities import Authorities
from mailbridge.routing.reason_codes import DEFAULT_REASON_CODES
from mailbridge.settings.config import Settings, load_authorities_file, load_routing_file
from mailbridge.store import rollups, tx

CSV_COLUMNS = ("section", "figure", "value")


def build_report(
    engine: tx.Engine,
    settings: Settings,
    start: date,
    end: date,
    *,
    names: bool = False,
    now: datetime | None = None,
    recompute: bool = False,
) -> Report:
    """The figures for the local dates ``start``..``end`` (inclusive) as of ``now``.

    ``recompute``: by a full scan of the period instead of its daily rollups (``stats``).
    """
    figures = stats.compute(
        engine,
        start=start,
        end=end,
        tz=settings.tz,
        now=now,
        authorities=_authorities(settings),
        recompute=recompute,
    )
    figures = dataclasses.replace(
        figures, repeat_children=_identify(engine, figures.repeat_children, names=names)
    )
    # The period of the same length just before, for the headline's "against the last one".
    days = (end - start).days + 1
    before = stats.count_episodes(
        engine,
        start=start - timedelta(days=days),
        end=start - timedelta(days=1),
        tz=settings.tz,
        recompute=recompute,
    )
    return Report(
        figures, names=names, reason_labels=_reason_labels(settings), previous_episodes=before
    )


def _identify(engine: tx.Engine, children: list[RepeatChild], *, names: bool) -> list[RepeatChild]:
    if not names:
        return [
            RepeatChild(f"Child {i}", c.episodes, None, None) for i, c in enumerate(children, 1)
        ]
    ids = [c.child_id for c in children if c.child_id]
    with tx.read(engine) as t:
        known = rollups.child_names(t, ids)
    out = []
    for c in children:
        name = known.get(c.child_id or "")
        label = f"{name} ({c.child_id})" if name else str(c.child_id)
        out.append(RepeatChild(label, c.episodes, c.child_id, name))
    return out


def _authorities(settings: Settings) -> Authorities:
    """The authorities file, for the out-of-area figures; a broken one counts nothing."""
    try:
        return load_authorities_file(settings)
    except MailbridgeError:
        return Authorities(source="the authorities file could not be read")


def _reason_labels(settings: Settings) -> dict[str, str]:
    """The council's reason codes (routing ``interviews.reason_codes``), else the defaults."""
    try:
        codes: Mapping[str, Sequence[str]] = load_routing_file(settings).interviews.reason_codes
    except MailbridgeError:
        codes = DEFAULT_REASON_CODES
    return {code: (synonyms[0] if synonyms else code) for code, synonyms in codes.items()}


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _hours(value: float | None) -> str:
    """A duration for people: minutes under an hour, hours under two days, else days."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.1f} h"
    return f"{value / 24:.1f} days"


@dataclass(frozen=True)
class Report:
    figures: Figures
    names: bool = False
    reason_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Episodes in the period of the same length just before this one (None: not worked out).
    previous_episodes: int | None = None

    def label(self, code: str) -> str:
        return self.reason_labels.get(code) or code.replace("_", " ")

    # -- derived figures shared by every format ---------------------------------------

    @property
    def police_pct(self) -> float | None:
        return _pct(self.figures.police_reference, self.figures.episodes)

    @property
    def in_time_pct_of_owed(self) -> float | None:
        iv = self.figures.interviews
        return _pct(iv.completed_in_time, iv.owed)

    @property
    def in_time_pct_of_completed(self) -> float | None:
        iv = self.figures.interviews
        return _pct(iv.completed_in_time, iv.by_status["completed"])

    # -- formats ------------------------------------------------------------------------

    def rows(self) -> Iterator[tuple[str, str, Any]]:
        """(section, figure, value): the CSV, one figure per row (docs/report.md)."""
        f = self.figures
        yield "period", "from", f.period.start.isoformat()
        yield "period", "to", f.period.end.isoformat()
        yield "period", "timezone", f.period.timezone
        yield "period", "generated_at", f.generated_at.isoformat()
        yield "period", "names_shown", self.names
        yield "episodes", "episodes", f.episodes
        yield "episodes", "returned", f.returned
        yield "episodes", "still_missing", f.still_missing
        yield "episodes", "police_reference", f.police_reference
        yield "episodes", "police_reference_pct", self.police_pct
        yield "children", "children", f.children
        yield "children", "episodes_per_child", f.episodes_per_child
        yield "children", "children_2plus", f.children_2plus
        yield "children", "children_3plus", f.children_3plus
        yield "children", "missing_now_children", f.missing_now_children
        yield "children", "missing_now_unmatched", f.missing_now_unmatched
        for band, n in f.duration_bands.items():
            yield "duration", band, n
        yield "duration", "invalid", f.duration_invalid
        yield "duration", "median_hours", _round(f.duration.median_hours)
        yield "duration", "p90_hours", _round(f.duration.p90_hours)
        for band, n in f.by_age_band.items():
            yield "age_band", band, n
        for name, kind, n in f.by_placement:
            yield "placement", f"{name} ({kind})", n
        for kind, n in f.by_placement_type.items():
            yield "placement_type", kind, n
        yield "out_of_area", "episodes", f.out_of_area
        for host, n in f.by_host_authority:
            yield "out_of_area", host, n
        for hour, n in enumerate(f.by_hour):
            yield "hour", f"{hour:02d}", n
        for day, n in zip(WEEKDAYS, f.by_weekday, strict=True):
            yield "weekday", day, n
        for month, n in f.by_month:
            yield "month", month, n
        iv = f.interviews
        yield "interviews", "owed", iv.owed
        for status, n in iv.by_status.items():
            yield "interviews", f"status_{status}", n
        yield "interviews", "offered", iv.offered
        yield "interviews", "completed_in_72h", iv.completed_in_time
        yield "interviews", "completed_in_72h_pct_of_owed", self.in_time_pct_of_owed
        yield "interviews", "completed_in_72h_pct_of_completed", self.in_time_pct_of_completed
        yield "interviews", "completed_late", iv.completed_late
        yield "interviews", "completed_undated", iv.completed_undated
        yield "interviews", "overdue_open", iv.overdue_open
        yield "reasons", "interviews_with_reasons", f.interviews_with_reasons
        for code, n in f.reasons:
            yield "reasons", code, n
        for ack in f.acks:
            yield "acknowledgement", f"{ack.role}.alerted", ack.alerted
            yield "acknowledgement", f"{ack.role}.acknowledged", ack.acknowledged
            yield (
                "acknowledgement",
                f"{ack.role}.median_hours",
                _round(ack.time_to_ack.median_hours),
            )
            yield "acknowledgement", f"{ack.role}.p90_hours", _round(ack.time_to_ack.p90_hours)
        for short, n in f.escalations.items():
            yield "escalations", short, n
        yield "escalations", "episodes_escalated", f.episodes_escalated
        yield "unmatched", "reported", f.unmatched.reported
        yield "unmatched", "matched_later", f.unmatched.matched_later
        yield "unmatched", "still_unmatched", f.unmatched.still_unmatched
        for field in dataclasses.fields(f.failed):
            yield "failed_messages", field.name, getattr(f.failed, field.name)
        for child in f.repeat_children:
            yield "repeat_children", child.label, child.episodes
        yield "repeat_children", "not_listed", f.repeat_children_more

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for section, figure, value in self.rows():
            writer.writerow([section, _cell(figure), "" if value is None else _cell(value)])
        return out.getvalue()

    def as_json(self) -> dict[str, Any]:
        f = self.figures
        data: dict[str, Any] = _plain(dataclasses.asdict(f))
        data["names_shown"] = self.names
        data["police_reference_pct"] = self.police_pct
        data["by_placement"] = [
            {"placement": name, "type": kind, "episodes": n} for name, kind, n in f.by_placement
        ]
        data["by_host_authority"] = [
            {"authority": host, "episodes": n} for host, n in f.by_host_authority
        ]
        data["by_weekday"] = dict(zip(WEEKDAYS, f.by_weekday, strict=True))
        data["by_month"] = dict(f.by_month)
        data["reasons"] = [
            {"code": code, "label": self.label(code), "interviews": n} for code, n in f.reasons
        ]
        data["interviews"]["completed_in_72h_pct_of_owed"] = self.in_time_pct_of_owed
        data["interviews"]["completed_in_72h_pct_of_completed"] = self.in_time_pct_of_completed
        return data

    def summary_text(self) -> str:
        """Eight plain lines for an email body; the details are in the attached report."""
        f, iv = self.figures, self.figures.interviews
        per = f" ({f.episodes_per_child} per child)" if f.episodes_per_child else ""
        bands = ", ".join(f"{b} {n}" for b, n in f.duration_bands.items())
        reasons = ", ".join(f"{self.label(c)} {n}" for c, n in f.reasons[:3]) or "none recorded"
        acks = "; ".join(
            f"{a.role.replace('_', ' ')} {_hours(a.time_to_ack.median_hours)} "
            f"(p90 {_hours(a.time_to_ack.p90_hours)})"
            for a in f.acks
            if a.acknowledged
        )
        reprocessed = (
            f.failed.reprocessed_processed + f.failed.reprocessed_ignored + f.failed.pending
        )
        return "\n".join(
            [
                f"Missing episodes {f.period.start:%d %b %Y} to {f.period.end:%d %b %Y} "
                f"({f.period.timezone}): {f.episodes} episode(s) of {f.children} child(ren){per}.",
                f"Repeat missing: {f.children_2plus} child(ren) with 2+ episodes, "
                f"{f.children_3plus} with 3+. Missing now: {f.missing_now_children} child(ren)"
                f" and {f.missing_now_unmatched} unmatched episode(s).",
                f"Returned: {f.returned}, median {_hours(f.duration.median_hours)} ({bands}); "
                f"still missing: {f.still_missing}.",
                f"Police reference recorded: {f.police_reference} of {f.episodes}"
                f"{_pct_text(self.police_pct)}.",
                f"Placed out of area: {f.out_of_area} of {f.episodes} episode(s)"
                + (
                    " (" + ", ".join(f"{host} {n}" for host, n in f.by_host_authority) + ")."
                    if f.by_host_authority
                    else "."
                ),
                f"Return interviews: {iv.owed} owed, {iv.by_status['completed']} completed, "
                f"{iv.completed_in_time} within 72 h{_pct_text(self.in_time_pct_of_owed)}, "
                f"{iv.by_status['declined']} declined, {iv.overdue_open} overdue.",
                f"Reasons given: {reasons}.",
                f"First acknowledgement, median: {acks or 'none recorded'}. Escalations: "
                f"{f.escalations['esc1']} to the team manager, {f.escalations['esc2']} to "
                "duty/EDT.",
                f"Unmatched reports: {f.unmatched.reported} ({f.unmatched.matched_later} matched "
                f"later). Failed messages: {f.failed.failed} ({reprocessed} reprocessed, "
                f"{f.failed.still_failed} still failed).",
            ]
        )

    def html(self) -> str:
        return (
            _environment()
            .get_template("report.html")
            .render(r=self, f=self.figures, weekdays=WEEKDAYS, charts=self.charts())
        )

    def headline(self) -> list[tuple[str, str]]:
        """The managers' first row: missing now, this period against the last, interviews on
        time. Each is a figure defined once in docs/report.md."""
        f = self.figures
        now = f"{f.missing_now_children} child(ren)"
        if f.missing_now_unmatched:
            now += f" + {f.missing_now_unmatched} unmatched"
        if self.previous_episodes is None:
            trend = f"{f.episodes} episode(s)"
        else:
            change = f.episodes - self.previous_episodes
            trend = (
                f"{f.episodes} episode(s), {self.previous_episodes} the period before "
                f"({'+' if change > 0 else ''}{change})"
            )
        iv = f.interviews
        on_time = f"{iv.completed_in_time} of {iv.owed} owed{_pct_text(self.in_time_pct_of_owed)}"
        return [
            ("Missing now", now),
            ("This period against the last", trend),
            ("Return interviews held on time", on_time),
        ]

    def charts(self) -> dict[str, list[tuple[str, int]]]:
        """The data of the charts, as (label, value) bars."""
        f, iv = self.figures, self.figures.interviews
        months = [(m, n) for m, n in f.by_month]
        durations = [*f.duration_bands.items(), ("still missing", f.still_missing)]
        reasons = [(self.label(c), n) for c, n in f.reasons]
        waiting = iv.by_status["due"] + iv.by_status["offered"] + iv.by_status["accepted"]
        timeliness = [
            ("completed within 72 h", iv.completed_in_time),
            ("completed later", iv.completed_late),
            ("completed, date not given", iv.completed_undated),
            ("declined", iv.by_status["declined"]),
            ("not yet held", waiting),
        ]
        return {
            "hours": [(f"{h:02d}", n) for h, n in enumerate(f.by_hour)],
            "months": months,
            "durations": durations,
            "reasons": reasons,
            "timeliness": timeliness,
        }


@functools.cache
def _environment() -> Environment:
    """Compiled once per process: the digest renders a report every week from ``serve``."""
    env = Environment(
        loader=FileSystemLoader(str(resource_path("templates") / "report")),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["hours"] = _hours
    env.filters["pct"] = lambda v: "-" if v is None else f"{v:.1f}%"
    return env


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _pct_text(value: float | None) -> str:
    return "" if value is None else f" ({value:.0f}%)"


def _plain(value: Any) -> Any:
    """dataclasses.asdict output made JSON-ready: ISO dates, lists for tuples."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 2)
    return value


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula (a placement named "=HYPERLINK(...)") is
    quoted with a leading apostrophe; numbers pass as they are (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
