"""Subject access: find a child by what a requester knows, and export everything held on them.

The export is a zip of JSON files and the raw messages still held (purged ones are listed
without bytes), with a README and an index. It holds special-category data: the file is
written mode 0600 and every export leaves an audit line naming who asked.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from mailbridge.episodes.timeline import episode_json, episode_messages
from mailbridge.errors import FileAccessError, InvalidRequestError, NotFoundError
from mailbridge.reading.match import fold
from mailbridge.store import episodes as episode_store
from mailbridge.store import inbound, tx
from mailbridge.store import reports as report_store
from mailbridge.store.directory import describe_child, load_snapshot

ENTITY = "subject_access"
INTERVIEW_COLUMNS = (
    "due_at",
    "status",
    "overdue",
    "held_on",
    "interviewer",
    "reason_codes",
    "reason_notes",
    "reason_not_held",
    "risks",
    "actions",
    "sent_back",
    "recorded_at",
    "inbound_id",
)
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


@dataclass
class SubjectMatch:
    """A child in the directory, or an unmatched episode that may be about the same child."""

    child_id: str | None
    name: str | None
    date_of_birth: date | None
    matched_by: list[str] = field(default_factory=list)
    episodes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "child_id": self.child_id,
            "name": self.name,
            "date_of_birth": self.date_of_birth.isoformat() if self.date_of_birth else None,
            "matched_by": self.matched_by,
            "episodes": self.episodes,
        }


def match_line(m: SubjectMatch) -> list[str]:
    return [
        f"{m.child_id or 'UNMATCHED':<10}",
        f"{m.name or '-':<28}",
        f"{m.date_of_birth.isoformat() if m.date_of_birth else '-':<10}",
        f"by {', '.join(m.matched_by):<22}",
        f"episodes: {', '.join(m.episodes) or 'none'}",
    ]


def parse_date(term: str) -> date | None:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(term, fmt).date()
        except ValueError:
            continue
    return None


def _squash(text: str) -> str:
    """Police references compared without case, spaces or punctuation."""
    return "".join(c for c in fold(text) if c.isalnum())


def search(session: tx.Tx, term: str) -> list[SubjectMatch]:
    """Children whose id, name (accents ignored, partial words), date of birth or carer email
    match, plus the children (and unmatched episodes) of a matching police reference."""
    term = term.strip()
    if not term:
        return []
    found: dict[str, SubjectMatch] = {}
    children = {c.child_id: c for c in load_snapshot(session)}

    def hit(child_id: str, how: str) -> None:
        c = children[child_id]
        m = found.setdefault(
            child_id,
            SubjectMatch(child_id, f"{c.first_name} {c.last_name}", c.date_of_birth),
        )
        if how not in m.matched_by:
            m.matched_by.append(how)

    day = parse_date(term)
    words = fold(term).split()
    address = term.lower() if "@" in term else None
    for c in children.values():
        if c.child_id.lower() == term.lower():
            hit(c.child_id, "child_id")
        if day is not None and c.date_of_birth == day:
            hit(c.child_id, "date_of_birth")
        if address is not None and address in {e.lower() for e in c.carer_emails}:
            hit(c.child_id, "carer_email")
        if (
            day is None
            and address is None
            and words
            and _has_all(fold(f"{c.first_name} {c.last_name}"), words)
        ):
            hit(c.child_id, "name")

    unmatched: list[SubjectMatch] = []
    squashed = _squash(term)
    episodes = report_store.episode_identities(session)
    for ref, child_id, police, name_given, reported_by in episodes:
        by_police = bool(police) and len(squashed) >= 3 and squashed in _squash(police or "")
        if child_id is not None and child_id in children:
            if by_police:
                hit(child_id, "police_reference")
            if child_id in found:
                found[child_id].episodes.append(ref)
            continue
        how = []
        if by_police:
            how.append("police_reference")
        if day is None and address is None and words and _has_all(fold(name_given or ""), words):
            how.append("name_given")
        if address is not None and (reported_by or "").lower() == address:
            how.append("reported_by")
        if how:
            unmatched.append(SubjectMatch(None, name_given, None, how, [ref]))
    return sorted(found.values(), key=lambda m: m.child_id or "") + unmatched


def _has_all(haystack: str, words: Iterable[str]) -> bool:
    tokens = haystack.split()
    return all(any(t.startswith(w) or w in t for t in tokens) for w in words)


# -- the export ---------------------------------------------------------------------------


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _row(obj: Any, columns: Iterable[str]) -> dict[str, Any]:
    return {c: _plain(getattr(obj, c)) for c in columns}


def _plain(value: Any) -> Any:
    return _iso(value) if isinstance(value, datetime | date) else value


def collect(session: tx.Tx, child_id: str) -> dict[str, Any]:
    """Everything held about one child, as JSON-ready data plus the raw messages."""
    child = describe_child(session, child_id)
    if child is None:
        raise NotFoundError(f"no child with id {child_id!r} in the directory")
    episodes = episode_store.of_child(session, child_id)
    ep_ids = [e.id for e in episodes]
    links = episode_messages(session, ep_ids)
    interviews = {i.episode_id: i for i in report_store.interviews_of(session, ep_ids)}
    acks = report_store.acknowledgements_of(session, ep_ids)
    due = report_store.due_actions_of(session, ep_ids)
    alerts = report_store.alerts_of(session, ep_ids)
    inbound_ids = {m["id"] for ms in links.values() for m in ms}
    inbound_ids |= {i.inbound_id for i in interviews.values() if i.inbound_id is not None}
    inbound_ids |= {a.inbound_id for a in acks if a.inbound_id is not None}
    inbound_ids |= {a.inbound_id for a in alerts if a.inbound_id is not None}
    messages = report_store.messages_with_raw(session, inbound_ids)
    refs = {e.id: e.reference for e in episodes}
    audit = report_store.audit_trail(
        session,
        references=list(refs.values()),
        inbound_ids=inbound_ids,
        alert_ids=[a.id for a in alerts],
        entity=ENTITY,
        entity_id=child_id,
    )
    episode_files = {}
    for e in episodes:
        data = episode_json(e, links[e.id])
        data["purged_at"] = _iso(e.purged_at)
        iv = interviews.get(e.id)
        data["interview"] = _row(iv, INTERVIEW_COLUMNS) if iv is not None else None
        data["acknowledgements"] = [
            _row(a, ("role", "address", "at", "alert_id", "inbound_id"))
            for a in acks
            if a.episode_id == e.id
        ]
        data["due_actions"] = [
            _row(d, ("key", "kind", "due_at", "roles", "note", "status", "done_at", "late_note"))
            for d in due
            if d.episode_id == e.id
        ]
        episode_files[e.reference] = data
    message_meta = [
        {
            **_row(
                m,
                (
                    "id",
                    "message_id",
                    "source",
                    "mail_from",
                    "rcpt_tos",
                    "received_at",
                    "status",
                    "reason",
                    "error",
                    "purged_at",
                ),
            ),
            "file": f"messages/{m.id}.eml" if m.raw is not None else None,
        }
        for m in messages
    ]
    alert_rows = [
        {
            "episode": refs.get(a.episode_id or 0),
            **_row(
                a,
                (
                    "id",
                    "event",
                    "role",
                    "recipient",
                    "recipient_name",
                    "status",
                    "created_at",
                    "sent_at",
                    "message_id",
                    "subject",
                    "body_text",
                    "body_html",
                ),
            ),
        }
        for a in alerts
    ]
    audit_rows = [
        _row(a, ("at", "actor", "entity", "entity_id", "action", "detail")) for a in audit
    ]
    return {
        "child": child,
        "episodes": episode_files,
        "messages": message_meta,
        "raw": {m.id: m.raw for m in messages if m.raw is not None},
        "alerts": alert_rows,
        "audit": audit_rows,
    }


README = """\
Subject access export for child {child_id}
Generated {generated_at} by mailbridge at the request of: {requested_by}

THIS FILE HOLDS SPECIAL-CATEGORY PERSONAL DATA ABOUT A CHILD IN CARE.
Keep it on council systems only, send it by a secure route, and delete it once the request
is answered. Check it for third parties' data (carers, other children) before disclosure.

Contents (see index.json for counts):
  child.json           the directory record: name, date of birth, placement, carers'
                       addresses, current allocations and their history
  episodes/REF.json    every missing episode: the facts, the message timeline, the return
                       interview, acknowledgements and timed actions
  messages.json        every message about the child; "file" names the raw copy
  messages/ID.eml      the message exactly as received (absent once retention purged it)
  alerts.json          every alert email sent about the child, with its text
  audit.json           the audit trail of these records, including earlier exports
Details purged under the retention policy (docs/privacy.md) are no longer held and so are not
in this export; "purged_at" says when.
"""


def export(
    engine: tx.Engine, child_id: str, out: Path, *, requested_by: str, now: datetime
) -> dict[str, Any]:
    """Write the zip (refusing to overwrite one) and the audit line; return the index."""
    requested_by = requested_by.strip()
    if not requested_by:
        raise InvalidRequestError("--requested-by: say who asked for the export")
    if out.exists():
        raise FileAccessError(f"{out}: already exists; choose another path")
    with tx.read(engine) as session:
        data = collect(session, child_id)
    index = {
        "child_id": child_id,
        "generated_at": now.isoformat(),
        "requested_by": requested_by,
        "special_category_data": True,
        "counts": {
            "episodes": len(data["episodes"]),
            "messages": len(data["messages"]),
            "raw_messages": len(data["raw"]),
            "alerts": len(data["alerts"]),
            "audit": len(data["audit"]),
        },
        "episodes": sorted(data["episodes"]),
    }
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        # O_EXCL | O_NOFOLLOW: never write through a file or link someone else left there,
        # so the export is 0600 and ours.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise FileAccessError(
            f"{tmp}: exists (an export in progress, or left by a crash); remove it and retry"
        ) from None
    linked = False
    try:
        try:
            # closefd=False: closing the file object writes its buffer; the fd stays ours to
            # fsync, so the bytes are on disk before the audit line says the export exists.
            with (
                os.fdopen(fd, "wb", closefd=False) as fh,
                zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as z,
            ):
                _write_members(z, index, data, requested_by, now)
            os.fsync(fd)
        finally:
            os.close(fd)
        # The audit line and the file appear together: a failed audit leaves no file.
        try:
            with tx.write(engine) as session:
                inbound.audit(
                    session,
                    at=now,
                    actor=requested_by[:120],
                    entity=ENTITY,
                    entity_id=child_id,
                    action="export",
                    detail={"file": out.name, "counts": index["counts"]},
                )
                episode_store.send_changes(session)  # a failing audit fails before the link
                try:
                    os.link(tmp, out)  # unlike a rename, never replaces a file made meanwhile
                except FileExistsError:
                    raise FileAccessError(f"{out}: already exists; choose another path") from None
                linked = True
        except BaseException:
            if linked:
                out.unlink(missing_ok=True)
            raise
    finally:
        tmp.unlink(missing_ok=True)
    return index


def _write_members(
    z: zipfile.ZipFile, index: dict[str, Any], data: dict[str, Any], who: str, now: datetime
) -> None:
    readme = README.format(
        child_id=index["child_id"], generated_at=now.isoformat(), requested_by=who
    )
    z.writestr("README.txt", readme)
    z.writestr("index.json", _json(index))
    z.writestr("child.json", _json(data["child"]))
    for ref, episode in data["episodes"].items():
        z.writestr(f"episodes/{ref}.json", _json(episode))
    z.writestr("messages.json", _json(data["messages"]))
    for mid, raw in data["raw"].items():
        z.writestr(f"messages/{mid}.eml", raw)
    z.writestr("alerts.json", _json(data["alerts"]))
    z.writestr("audit.json", _json(data["audit"]))


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
