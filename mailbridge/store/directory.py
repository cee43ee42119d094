"""The directory in the store: apply a parsed CSV in one transaction (history kept), and read
children, placements and allocations for matching, routing and the CLI."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, insert, select
from sqlalchemy.orm import Session

from mailbridge.directory.records import (
    ROLES,
    AllocationRecord,
    ChildRecord,
    DirectoryRow,
    ImportReport,
    ParsedDirectory,
    Staff,
    normalise_address,
)
from mailbridge.store import inbound
from mailbridge.store.models import Allocation, Child, Episode, Placement

_CHUNK = 500  # keeps IN (...) lists well under every driver's parameter limit


def import_directory(
    session: Session, parsed: ParsedDirectory, *, now: datetime, actor: str
) -> ImportReport:
    """Upsert placements, children and allocations from the good rows, in one transaction.

    Children absent from the file are left alone: a partial export must not erase anyone.
    """
    if now.tzinfo is None:
        raise ValueError("import_directory needs an aware datetime")
    rows = parsed.rows
    placement_ids, p_added, p_updated = _upsert_placements(
        session, rows, set_types=parsed.has_placement_type
    )
    ids = [r.child_id for r in rows]
    existing: dict[str, Child] = {}
    current: dict[tuple[str, str], list[Allocation]] = {}
    for chunk in _chunks(ids):
        # FOR UPDATE: two concurrent imports on PostgreSQL serialise per child.
        q = select(Child).where(Child.child_id.in_(chunk)).with_for_update()
        existing.update((c.child_id, c) for c in session.scalars(q))
        a_q = (
            select(Allocation)
            .where(Allocation.child_id.in_(chunk), Allocation.valid_to.is_(None))
            .order_by(Allocation.valid_from, Allocation.id)
        )
        for alloc in session.scalars(a_q):
            current.setdefault((alloc.child_id, alloc.role), []).append(alloc)

    # New rows go in as bulk INSERTs: thousands of ORM objects would cost seconds.
    new_children: list[dict[str, Any]] = []
    touched: set[str] = set()
    for row in rows:
        wanted: dict[str, Any] = {
            "first_name": row.first_name,
            "last_name": row.last_name,
            "date_of_birth": row.date_of_birth,
            "placement_id": placement_ids.get(row.placement_name or ""),
            "carer_emails": list(row.carer_emails),
            "attributes": dict(row.attributes),
        }
        # Out-of-area columns only when the file has them: an older export leaves them be.
        for column in parsed.out_of_area_columns:
            wanted[column] = getattr(row, column)
        child = existing.get(row.child_id)
        if child is None:
            new_children.append({"child_id": row.child_id, "updated_at": now, **wanted})
            continue
        for key, value in wanted.items():
            if getattr(child, key) != value:
                setattr(child, key, value)
                touched.add(row.child_id)
    if new_children:  # before their allocations reference them
        session.execute(insert(Child), new_children)
    added = [c["child_id"] for c in new_children]

    new_allocations: list[dict[str, Any]] = []
    allocations_changed = 0
    for row in rows:
        for role in ROLES:
            want = row.staff(role)
            held = current.get((row.child_id, role), [])
            if want is None and not held:
                continue
            if want is not None and len(held) == 1 and _same(held[0], want):
                continue
            for alloc in held:
                alloc.valid_to = now
            if want is not None:
                new_allocations.append(
                    {
                        "child_id": row.child_id,
                        "role": role,
                        "name": want.name,
                        "email": want.email,
                        "valid_from": now,
                        "valid_to": None,
                    }
                )
            allocations_changed += 1
            if row.child_id in existing:
                touched.add(row.child_id)
    for child_id in touched:
        existing[child_id].updated_at = now
    session.flush()
    if new_allocations:
        session.execute(insert(Allocation), new_allocations)

    updated = sorted(touched)
    report = ImportReport(
        children_added=len(added),
        children_updated=len(updated),
        children_unchanged=len(rows) - len(added) - len(updated),
        allocations_changed=allocations_changed,
        placements_added=p_added,
        placements_updated=p_updated,
        rejected=parsed.errors,
        added=tuple(added),
        updated=tuple(updated),
    )
    detail = {k: v for k, v in report.as_json().items() if k != "rejected"}
    detail.update(
        sha256=parsed.sha256,
        rejected_lines=[e.line for e in parsed.errors],
        added=added,
        updated=updated,
    )
    inbound.audit(
        session,
        at=now,
        actor=actor,
        entity="directory",
        entity_id=parsed.sha256,
        action="import",
        detail=detail,
    )
    return report


def preview_import(
    session: Session, parsed: ParsedDirectory, *, now: datetime, actor: str
) -> ImportReport:
    """What ``import_directory`` would change, worked out by the same code and rolled back."""
    nested = session.begin_nested()
    try:
        return import_directory(session, parsed, now=now, actor=actor)
    finally:
        nested.rollback()


def _same(alloc: Allocation, want: Staff) -> bool:
    return alloc.name == want.name and (alloc.email or None) == want.email


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _upsert_placements(
    session: Session, rows: Sequence[DirectoryRow], *, set_types: bool
) -> tuple[dict[str, int], int, int]:
    """Placements by exact name; the type is only touched when the file has the column."""
    types: dict[str, str | None] = {}
    for row in rows:
        if row.placement_name and types.get(row.placement_name) is None:
            types[row.placement_name] = row.placement_type
    names = sorted(types)
    found: dict[str, Placement] = {}
    for chunk in _chunks(names):
        found.update(
            (p.name, p) for p in session.scalars(select(Placement).where(Placement.name.in_(chunk)))
        )
    added = updated = 0
    for name in names:
        placement = found.get(name)
        if placement is None:
            placement = Placement(name=name, placement_type=types[name] if set_types else None)
            session.add(placement)
            found[name] = placement
            added += 1
        elif set_types and placement.placement_type != types[name]:
            placement.placement_type = types[name]
            updated += 1
    session.flush()
    return {name: p.id for name, p in found.items()}, added, updated


# Plain columns, not ORM objects: no identity map or change tracking for thousands of rows.
_SNAPSHOT = (
    select(
        Child.child_id,
        Child.first_name,
        Child.last_name,
        Child.date_of_birth,
        Placement.name,
        Placement.placement_type,
        Child.carer_emails,
        Child.attributes,
        Child.placement_authority,
        Child.placement_postcode,
        Child.profile_file,
    )
    .outerjoin(Placement, Child.placement_id == Placement.id)
    .order_by(Child.child_id)
)


def _record(row: Sequence[Any]) -> ChildRecord:
    cid, first, last, dob, p_name, p_type, carers, attributes, authority, postcode, profile = row
    return ChildRecord(
        child_id=cid,
        first_name=first,
        last_name=last,
        date_of_birth=dob,
        placement_name=p_name,
        placement_type=p_type,
        carer_emails=tuple(carers or ()),
        attributes=dict(attributes or {}),
        placement_authority=authority,
        placement_postcode=postcode,
        profile_file=profile,
    )


def load_snapshot(session: Session) -> list[ChildRecord]:
    """Every child in one query, for matching a report against the whole directory."""
    return [_record(r) for r in session.execute(_SNAPSHOT)]


_ONE_CHILD = _SNAPSHOT.where(Child.child_id == bindparam("child_id"))


def get_child(session: Session, child_id: str) -> ChildRecord | None:
    row = session.execute(_ONE_CHILD, {"child_id": child_id}).first()
    return _record(row) if row is not None else None


def child_of_episode(session: Session, episode: Episode) -> ChildRecord | None:
    """The directory record of the episode's child; None while the episode is unmatched."""
    return get_child(session, episode.child_id) if episode.child_id else None


def current_allocations(session: Session, child_id: str) -> dict[str, dict[str, str | None]]:
    """Who holds each role now; an episode copies this when it opens."""
    q = (
        select(Allocation)
        .where(Allocation.child_id == child_id, Allocation.valid_to.is_(None))
        .order_by(Allocation.valid_from, Allocation.id)
    )
    return {a.role: {"name": a.name, "email": a.email} for a in session.scalars(q)}


def allocation_history(session: Session, child_id: str) -> list[AllocationRecord]:
    """Every allocation the child has had, oldest first."""
    q = (
        select(Allocation)
        .where(Allocation.child_id == child_id)
        .order_by(Allocation.valid_from, Allocation.id)
    )
    return [
        AllocationRecord(a.role, a.name, a.email, a.valid_from, a.valid_to)
        for a in session.scalars(q)
    ]


def children_for_sender(session: Session, address: str) -> list[str]:
    """The children whose carers write from ``address`` ('Name <addr>' accepted)."""
    addr = normalise_address(address)
    if not addr:
        return []
    q = select(Child.child_id, Child.carer_emails)
    if addr.isascii() and '"' not in addr and "\\" not in addr:
        # A text prefilter on the stored JSON, so only likely rows leave the database;
        # the exact membership test below decides.
        q = q.where(cast(Child.carer_emails, Text).contains(addr, autoescape=True))
    return sorted(cid for cid, carers in session.execute(q) if addr in (carers or ()))


def describe_child(session: Session, child_id: str) -> dict[str, Any] | None:
    """Everything `directory show` prints, as JSON-ready data."""
    record = get_child(session, child_id.strip())
    if record is None:
        return None
    updated_at = session.scalar(select(Child.updated_at).where(Child.child_id == record.child_id))
    return {
        "child_id": record.child_id,
        "first_name": record.first_name,
        "last_name": record.last_name,
        "date_of_birth": record.date_of_birth.isoformat() if record.date_of_birth else None,
        "placement": (
            {"name": record.placement_name, "type": record.placement_type}
            if record.placement_name
            else None
        ),
        "carer_emails": list(record.carer_emails),
        "attributes": dict(record.attributes),
        "placement_authority": record.placement_authority,
        "placement_postcode": record.placement_postcode,
        "profile_file": record.profile_file,
        "updated_at": updated_at.isoformat() if updated_at else None,
        "current_allocations": current_allocations(session, record.child_id),
        "allocation_history": [a.as_json() for a in allocation_history(session, record.child_id)],
    }


def placement_authorities(session: Session) -> list[tuple[str, str]]:
    """(child_id, placement authority) for every child that has one: check-config checks
    each code against the authorities file."""
    q = (
        select(Child.child_id, Child.placement_authority)
        .where(Child.placement_authority.is_not(None))
        .order_by(Child.child_id)
    )
    return [(cid, code) for cid, code in session.execute(q) if code]


def child_row(session: Session, child_id: str) -> Child | None:
    """The child's directory row (the transaction's copy when it already holds it)."""
    return session.get(Child, child_id)
