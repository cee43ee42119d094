"""The tables. Migrations in ``migrations/`` must produce exactly this schema (a test checks)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints so Alembic and both databases agree on names.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out on both databases; SQLite would otherwise hand back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; mailbridge stores UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class InboundMessage(Base):
    """A message exactly as received; the row exists before anyone is told 250."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str | None] = mapped_column(Text)
    # 'm:'+sha256(Message-ID) or 'c:'+sha256(raw); NULL on the duplicate rows themselves.
    dedupe_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(Integer)
    mail_from: Mapped[str | None] = mapped_column(Text)
    rcpt_tos: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    peer: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duplicate_of: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    # Set when retention purged the raw bytes (raw is then NULL); the row itself stays.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Priority lane decided at intake from header facts (intake.py, issue 18): 1 known carers
    # and live threads, 2 other new mail, 3 backlog and replays. Claims take lane, then age.
    lane: Mapped[int] = mapped_column(SmallInteger, default=2, server_default=text("2"))

    __table_args__ = (
        Index("ix_inbound_messages_status_lease", "status", "lease_until"),
        Index("ix_inbound_messages_status_lane", "status", "lane", "id"),
    )


class AuditEntry(Base):
    """Who did what to which record, and when: the trail inspectors and subject access need."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)


# Message states; the terminal ones are the only way a row may end.
PENDING = "pending"
PROCESSED = "processed"
IGNORED = "ignored"
FAILED = "failed"
TERMINAL = (PROCESSED, IGNORED, FAILED)


# -- the directory: who the children are and who is responsible for them ------------------


class Placement(Base):
    __tablename__ = "placements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    placement_type: Mapped[str | None] = mapped_column(String(80))


class Child(Base):
    """A child in the directory; ``attributes`` keeps the extra CSV columns for routing."""

    __tablename__ = "children"

    child_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(120))
    last_name: Mapped[str] = mapped_column(String(120))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    placement_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("placements.id", ondelete="SET NULL")
    )
    carer_emails: Mapped[list[str]] = mapped_column(JSON)
    attributes: Mapped[dict[str, str]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Placed in another council's area (docs/out-of-area.md): an authorities-file code, the
    # placement's postcode, and the Philomena profile document the council keeps.
    placement_authority: Mapped[str | None] = mapped_column(String(200))
    placement_postcode: Mapped[str | None] = mapped_column(String(20))
    profile_file: Mapped[str | None] = mapped_column(String(500))


class Allocation(Base):
    """Who holds a role for a child, and since when; history is kept, never overwritten."""

    __tablename__ = "allocations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    child_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("children.child_id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_allocations_child_role", "child_id", "role", "valid_to"),)


# -- episodes ---------------------------------------------------------------------------


class ReferenceCounter(Base):
    """Per-year sequence for human references (MB-2026-00042); a row lock serialises it."""

    __tablename__ = "reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Episode(Base):
    __tablename__ = "episodes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    child_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("children.child_id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), index=True)  # open / returned / void
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_text: Mapped[str | None] = mapped_column(Text)
    last_seen_location: Mapped[str | None] = mapped_column(Text)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    returned_by: Mapped[str | None] = mapped_column(Text)
    safe_and_well: Mapped[bool | None] = mapped_column(Boolean)
    police_reference: Mapped[str | None] = mapped_column(String(200))
    risk_level: Mapped[str | None] = mapped_column(String(16))
    risk_notes: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    clothing: Mapped[str | None] = mapped_column(Text)
    reported_by: Mapped[str | None] = mapped_column(String(320))
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_phone: Mapped[str | None] = mapped_column(String(60))
    sender_known: Mapped[bool] = mapped_column(Boolean)
    # SPF/DKIM/DMARC as a trusted upstream (or our own DKIM check) judged the first report:
    # True passed, False failed or no evidence; NULL for episodes from before the check existed.
    sender_verified: Mapped[bool | None] = mapped_column(Boolean)
    child_name_given: Mapped[str | None] = mapped_column(String(240))
    match_method: Mapped[str | None] = mapped_column(String(40))
    match_confidence: Mapped[float | None] = mapped_column(Float)
    allocations: Mapped[dict[str, Any]] = mapped_column(JSON)
    absence_type: Mapped[str] = mapped_column(String(1))  # SSDA903: M missing, A away
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when retention purged the free-text details; the facts for the figures stay.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reading was unsure (docs/reading.md): the episode stays open until a person confirms.
    needs_confirmation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    confirmation_reason: Mapped[str | None] = mapped_column(Text)
    # Casework (docs/casework.md): the reference this one was merged into, and why it is void.
    merged_into: Mapped[str | None] = mapped_column(String(20))
    void_reason: Mapped[str | None] = mapped_column(Text)
    # The child's placement authority when the episode opened (out-of-area figures).
    placement_authority: Mapped[str | None] = mapped_column(String(200))

    # Reports select episodes by when they began.
    __table_args__ = (Index("ix_episodes_opened_at", "opened_at"),)


class EpisodeChange(Base):
    """One change a person made to an episode (docs/casework.md): who, when, what, old, new."""

    __tablename__ = "episode_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    episode_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(40))  # link, void, correct, ...
    field: Mapped[str | None] = mapped_column(String(40))  # the column changed, if one
    old: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # cli, email, web


class EpisodeMessage(Base):
    """Every message that touched an episode, and what it did there."""

    __tablename__ = "episode_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    episode_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    inbound_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("inbound_messages.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (UniqueConstraint("episode_id", "inbound_id"),)


# -- the outbox -------------------------------------------------------------------------


class Alert(Base):
    """One email to one recipient for one event: a row before it is an email (invariant 4).

    Rendered when the event commits, so a queued alert does not change if templates do;
    ``message_id`` is fixed at creation so a resend after a crash is seen as the same email.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(40))
    episode_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("episodes.id", ondelete="SET NULL"), index=True
    )
    inbound_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inbound_messages.id", ondelete="SET NULL"), index=True
    )
    role: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    rule: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    attach_inbound: Mapped[bool] = mapped_column(Boolean)  # attach the original message
    # A file sent with the email (the digest's HTML report); fixed when the row is written.
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # queued / sent (to the relay) / written (to an .eml file: no relay) / failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The lane of the message that caused it (2 when none did): the sender claims lane first.
    lane: Mapped[int] = mapped_column(SmallInteger, default=2, server_default=text("2"))

    __table_args__ = (
        UniqueConstraint("event_key", "recipient"),
        Index("ix_alerts_status_next", "status", "next_attempt_at"),
        Index("ix_alerts_status_lane", "status", "lane", "next_attempt_at"),
    )


QUEUED = "queued"
SENT = "sent"
# Delivered to a file in DATA_DIR/outbox (no relay set): done, but nobody has been emailed.
WRITTEN = "written"
DELIVERED = (SENT, WRITTEN)


# -- the IMAP watcher's place in each mailbox ---------------------------------------------


class ImapState(Base):
    """How far the watcher has stored a mailbox: UIDs mean nothing without their UIDVALIDITY.

    ``mailbox`` is the account and folder (``user@host:port/INBOX``). ``last_uid`` is the
    highest UID whose message is committed; a UIDVALIDITY change resets it to 0.
    """

    __tablename__ = "imap_state"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    mailbox: Mapped[str] = mapped_column(String(500), unique=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GraphState(Base):
    """Where the Graph reader's next delta round starts, per mailbox folder.

    ``mailbox`` is ``graph:user@council/Folder``; ``delta_link`` is Graph's opaque
    ``@odata.deltaLink``, saved only after the round's messages are committed and moved.
    """

    __tablename__ = "graph_state"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    mailbox: Mapped[str] = mapped_column(String(500), unique=True)
    delta_link: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- clocks: acknowledgements, due actions and return home interviews --------------------


class Acknowledgement(Base):
    """A person who replied to an alert: the episode has an owner from this moment."""

    __tablename__ = "acknowledgements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    episode_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    alert_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("alerts.id", ondelete="SET NULL")
    )
    inbound_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    role: Mapped[str] = mapped_column(String(40))
    address: Mapped[str] = mapped_column(String(320))
    at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("episode_id", "role", "address"),)


class DueAction(Base):
    """One timed action (escalation, reminder, overdue); the key makes it happen once only."""

    __tablename__ = "due_actions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    episode_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("episodes.id", ondelete="CASCADE"), index=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    roles: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending / done / cancelled
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    late_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_due_actions_status_due", "status", "due_at"),
        # The Now page's next escalation of each open episode: one probe per episode.
        Index("ix_due_actions_episode_status_due", "episode_id", "status", "due_at"),
    )


class Interview(Base):
    """The return home interview owed after a return, and what the worker reported of it."""

    __tablename__ = "interviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    episode_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("episodes.id", ondelete="CASCADE"), unique=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # due / offered / accepted / declined / completed
    status: Mapped[str] = mapped_column(String(16))
    overdue: Mapped[bool] = mapped_column(Boolean)
    held_on: Mapped[date | None] = mapped_column(Date)
    interviewer: Mapped[str | None] = mapped_column(String(200))
    reason_codes: Mapped[list[str]] = mapped_column(JSON)
    reason_notes: Mapped[str | None] = mapped_column(Text)
    reason_not_held: Mapped[str | None] = mapped_column(Text)
    risks: Mapped[str | None] = mapped_column(Text)
    actions: Mapped[str | None] = mapped_column(Text)
    sent_back: Mapped[int] = mapped_column(Integer)  # incomplete outcomes returned to the worker
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inbound_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    # The authority (code) that holds the interview: the placing council, or the host
    # authority where the authorities file says so for a child placed there.
    by_authority: Mapped[str | None] = mapped_column(String(200))


# -- digests ------------------------------------------------------------------------------


class DigestRun(Base):
    """A digest sent for one period; the unique key is what stops a second send."""

    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # weekly / monthly
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("kind", "period_start"),)


# -- the staff web app: accounts and sessions (migration 0011) ---------------------------


class WebUser(Base):
    """A person who signs in to the web app: a local password, an OpenID Connect identity, or both.

    ``email`` ties a social worker or IRO to the children allocated to that address in the
    directory, and an OpenID Connect sign-in to this account.
    """

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    # argon2id (argon2-cffi); NULL: no local password, OpenID Connect only.
    password_hash: Mapped[str | None] = mapped_column(Text)
    # Base32 TOTP secret (RFC 6238) when the account signs in with a code as well; else NULL.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored here."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("web_users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))  # password / oidc
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_web_sessions_expires_at", "expires_at"),)


# -- what the listener answered, and what a running `serve` recorded ----------------------


class SmtpReplyCount(Base):
    """SMTP replies the listener gave, by hour, code and whether the recipient was ours.

    Each instance adds its own counts (an upsert), so `status` and the refusal alert see
    every instance's share; /metrics keeps a per-process counter beside it.
    """

    __tablename__ = "smtp_reply_counts"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    # True when the reply was about one of our domains (a 550 to a misspelt address of ours).
    own_domain: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ServiceFact(Base):
    """A fact a running `serve` records for the commands run later against the same store.

    For example ``relay``: whether `serve` delivers alerts to a relay, so an `inject` with no
    relay of its own can warn that its alerts will only be written to files.
    """

    __tablename__ = "service_facts"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- report rollups (store/rollups.py) ----------------------------------------------------


class ReportMark(Base):
    """A change to an episode, or to a row the figures read through one, not yet rolled up.

    Written by database triggers (migration 0016, ``store/rollups.py``) in the transaction that
    makes the change, whatever code makes it; ``at`` is the episode's start, which names the
    local day whose rollup is out of date. The report consumes the marks it has rolled up.
    """

    __tablename__ = "report_marks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReportDay(Base):
    """What one local day's episodes add to every figure of a report (``reports/daily.py``)."""

    __tablename__ = "report_days"

    tz: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    episodes: Mapped[int] = mapped_column(Integer)  # also in data: read alone for a count
    data: Mapped[str] = mapped_column(Text)


class ReportDaysState(Base):
    """One row: the time zone of the stored days, and a version bumped by every write of them.

    A report writes what it rolled up only if the version is the one it read, so two reports
    at once never leave a day older than the marks say.
    """

    __tablename__ = "report_days_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tz: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
