"""The directory's plain records: the children matching and routing see, the rows an import
applies, what an import changed, and the lines the CLI prints for them.

Pure, and apart from the file they come from: routing and matching import these types without the
CSV reader (``directory/csv_file.py`` reads and validates the file into them), and the store
applies and reads them (``store.directory``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parseaddr
from typing import Any

# Optional: the names a child goes by ("KJ;Kay"), ';'-separated. Kept with the extra columns
# (``attributes``), so it needs no schema change; matching reads it (reading/match.py).
KNOWN_AS = "known_as"

# The staff roles a row names (``<role>_name``, ``<role>_email``); each becomes an allocation.
ROLES = ("social_worker", "iro", "team_manager")


@dataclass(frozen=True)
class RowError:
    """A rejected row: ``line`` is the physical line in the file (the header is line 1)."""

    line: int
    reason: str


@dataclass(frozen=True)
class Staff:
    """Whoever holds a role; team managers are known by email only."""

    name: str | None
    email: str | None


@dataclass(frozen=True)
class ChildRecord:
    """A child as matching and routing see it: plain data, detached from the session."""

    child_id: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    placement_name: str | None
    placement_type: str | None
    carer_emails: tuple[str, ...]
    attributes: dict[str, str] = field(default_factory=dict, hash=False)
    placement_authority: str | None = None
    placement_postcode: str | None = None
    profile_file: str | None = None

    @functools.cached_property
    def known_as(self) -> tuple[str, ...]:
        """The optional ``known_as`` CSV column: names the child goes by, ';'-separated (read
        once per record: matching asks for it for every child on every report)."""
        raw = self.attributes.get(KNOWN_AS) or ""
        return tuple(n.strip() for n in raw.split(";") if n.strip())


@dataclass(frozen=True, kw_only=True)
class DirectoryRow(ChildRecord):
    """One valid row of the file: the child as matching sees it, plus the row's line and the
    staff it names (which become allocations)."""

    line: int
    social_worker: Staff | None
    iro: Staff | None
    team_manager: Staff | None

    def staff(self, role: str) -> Staff | None:
        value: Staff | None = getattr(self, role)
        return value


@dataclass(frozen=True)
class ParsedDirectory:
    """The good rows, the rejected ones, and what the header said; nothing applied yet."""

    rows: tuple[DirectoryRow, ...]
    errors: tuple[RowError, ...]
    columns: tuple[str, ...]
    has_placement_type: bool
    sha256: str
    # Which of the out-of-area columns the header has: a re-import without one leaves it alone.
    out_of_area_columns: tuple[str, ...] = ()


def normalise_address(address: str) -> str:
    """The bare, lowercased address from 'Name <addr>' or 'addr' (empty if none)."""
    return parseaddr(address)[1].strip().lower()


@dataclass(frozen=True)
class ImportReport:
    """What an import changed; ``children_updated`` includes allocation-only changes."""

    children_added: int
    children_updated: int
    children_unchanged: int
    allocations_changed: int
    placements_added: int
    placements_updated: int
    rejected: tuple[RowError, ...]
    # The child IDs added and updated (the web app's preview lists them).
    added: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()

    @property
    def rows_rejected(self) -> int:
        return len(self.rejected)

    @property
    def changes(self) -> int:
        return (
            self.children_added
            + self.children_updated
            + self.allocations_changed
            + self.placements_added
            + self.placements_updated
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "children_added": self.children_added,
            "children_updated": self.children_updated,
            "children_unchanged": self.children_unchanged,
            "allocations_changed": self.allocations_changed,
            "placements_added": self.placements_added,
            "placements_updated": self.placements_updated,
            "rows_rejected": self.rows_rejected,
            "rejected": [{"line": e.line, "reason": e.reason} for e in self.rejected],
        }


@dataclass(frozen=True)
class AllocationRecord:
    role: str
    name: str | None
    email: str | None
    valid_from: datetime
    valid_to: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "name": self.name,
            "email": self.email,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


def report_lines(report: ImportReport) -> list[str]:
    imported = report.children_added + report.children_updated + report.children_unchanged
    return [
        f"directory import: {imported} row(s) imported, {report.rows_rejected} rejected",
        f"  children:    {report.children_added} added, {report.children_updated} updated, "
        f"{report.children_unchanged} unchanged",
        f"  allocations: {report.allocations_changed} changed",
        f"  placements:  {report.placements_added} added, {report.placements_updated} updated",
        "no changes" if report.changes == 0 else f"{report.changes} change(s) applied",
    ]


def _when(iso: str | None) -> str:
    if iso is None:
        return "current"
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _who(name: str | None, email: str | None) -> str:
    if name and email:
        return f"{name} <{email}>"
    return name or email or "-"


def child_lines(detail: dict[str, Any]) -> list[str]:
    placement = detail["placement"]
    where = "none on record"
    if placement is not None:
        where = placement["name"] + (f" ({placement['type']})" if placement["type"] else "")
    lines = [
        f"{detail['first_name']} {detail['last_name']} (child {detail['child_id']})",
        f"  date of birth:  {detail['date_of_birth'] or 'not on record'}",
        f"  placement:      {where}",
        f"  carer emails:   {', '.join(detail['carer_emails']) or 'none on record'}",
    ]
    if detail.get("placement_authority") or detail.get("placement_postcode"):
        lines.append(
            f"  placed in:      {detail.get('placement_authority') or 'authority not on record'}"
            + (f", {detail['placement_postcode']}" if detail.get("placement_postcode") else "")
        )
    if detail.get("profile_file"):
        lines.append(f"  profile file:   {detail['profile_file']}")
    for key, value in sorted(detail["attributes"].items()):
        lines.append(f"  {key + ':':<15} {value}")
    if detail["updated_at"]:
        lines.append(f"  record updated: {_when(detail['updated_at'])}")
    lines.append("current allocations:")
    since = {
        a["role"]: a["valid_from"] for a in detail["allocation_history"] if a["valid_to"] is None
    }
    for role in ROLES:
        held = detail["current_allocations"].get(role)
        if held is None:
            lines.append(f"  {role:<14} none on record")
        else:
            lines.append(
                f"  {role:<14} {_who(held['name'], held['email'])}  since {_when(since[role])}"
            )
    lines.append("allocation history:")
    if not detail["allocation_history"]:
        lines.append("  none")
    for a in detail["allocation_history"]:
        lines.append(
            f"  {_when(a['valid_from'])} to {_when(a['valid_to']):<20}  {a['role']:<14} "
            f"{_who(a['name'], a['email'])}"
        )
    return lines
