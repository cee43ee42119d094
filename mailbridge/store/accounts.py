"""Web accounts and signed-in sessions: the only SQL about ``web_users`` and ``web_sessions``.

Sessions are rows, not signed cookies, so they can expire on the server (an absolute lifetime
and an idle limit), be ended at sign-out, and be ended all at once when an account is disabled.
The browser's cookie holds a random token; the row is keyed by its SHA-256, so a copy of the
database does not hand out live sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbridge.errors import InvalidRequestError, NotFoundError
from mailbridge.store.models import WebSession, WebUser

# last_seen_at is written at most this often, so a polling duty screen is not a write a second.
_TOUCH_EVERY = timedelta(seconds=60)


class AccountExists(InvalidRequestError):
    """``users add`` for a name that is already taken."""


class NoSuchAccount(NotFoundError):
    """An account name that is not in web_users."""


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    role: str
    email: str | None
    display_name: str | None
    active: bool
    has_password: bool
    created_at: datetime
    has_totp: bool = False

    @property
    def label(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class SignedIn:
    account: Account
    csrf_token: str
    method: str
    expires_at: datetime


def _account(u: WebUser) -> Account:
    return Account(
        u.id,
        u.username,
        u.role,
        u.email,
        u.display_name,
        u.active,
        u.password_hash is not None,
        u.created_at,
        u.totp_secret is not None,
    )


def add_account(
    session: Session,
    *,
    username: str,
    role: str,
    email: str | None,
    display_name: str | None,
    password_hash: str | None,
    now: datetime,
) -> Account:
    user = WebUser(
        username=username,
        role=role,
        email=email.lower() if email else None,
        display_name=display_name,
        password_hash=password_hash,
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        raise AccountExists(f"a web account named {username!r} already exists") from exc
    return _account(user)


def set_password(session: Session, username: str, password_hash: str, now: datetime) -> None:
    _update_named(session, username, now, password_hash=password_hash)


def set_totp(session: Session, username: str, secret: str | None, now: datetime) -> None:
    """Require a TOTP code at sign-in (``secret``), or stop requiring one (None)."""
    _update_named(session, username, now, totp_secret=secret)


def _update_named(session: Session, username: str, now: datetime, **values: object) -> None:
    """Set ``values`` on the account named ``username``; NoSuchAccount when there is none."""
    done = session.execute(
        update(WebUser).where(WebUser.username == username).values(updated_at=now, **values)
    )
    if not done.rowcount:  # type: ignore[attr-defined]
        raise NoSuchAccount(f"no web account named {username!r}")


def totp_secret_of(session: Session, account_id: int) -> tuple[Account, str | None] | None:
    user = session.get(WebUser, account_id)
    return (_account(user), user.totp_secret) if user is not None else None


def set_active(session: Session, account_id: int, active: bool, now: datetime) -> None:
    """Enable or disable an account; disabling ends its sessions at once."""
    session.execute(
        update(WebUser).where(WebUser.id == account_id).values(active=active, updated_at=now)
    )
    if not active:
        session.execute(delete(WebSession).where(WebSession.user_id == account_id))


def password_hash_of(session: Session, username: str) -> tuple[Account, str | None] | None:
    user = session.scalars(select(WebUser).where(WebUser.username == username)).first()
    return (_account(user), user.password_hash) if user is not None else None


def account_by_email(session: Session, email: str) -> Account | None:
    user = session.scalars(
        select(WebUser).where(func.lower(WebUser.email) == email.lower()).order_by(WebUser.id)
    ).first()
    return _account(user) if user is not None else None


def account_by_name(session: Session, username: str) -> Account | None:
    user = session.scalars(select(WebUser).where(WebUser.username == username)).first()
    return _account(user) if user is not None else None


def list_accounts(session: Session) -> list[Account]:
    return [_account(u) for u in session.scalars(select(WebUser).order_by(WebUser.username))]


def start_session(
    session: Session,
    *,
    account_id: int,
    token_hash: str,
    csrf_token: str,
    method: str,
    now: datetime,
    lifetime: timedelta,
) -> None:
    session.add(
        WebSession(
            id=token_hash,
            user_id=account_id,
            csrf_token=csrf_token,
            method=method,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )


def find_session(
    session: Session, token_hash: str, *, now: datetime, idle: timedelta
) -> SignedIn | None:
    """The live session for a cookie, or None when unknown, expired, idle too long or disabled.

    An expired or idle row is deleted on sight; a live one has its last_seen_at moved on.
    """
    row = session.execute(
        select(WebSession, WebUser)
        .join(WebUser, WebUser.id == WebSession.user_id)
        .where(WebSession.id == token_hash)
    ).first()
    if row is None:
        return None
    ws, user = row
    if ws.expires_at <= now or ws.last_seen_at + idle <= now or not user.active:
        session.delete(ws)
        return None
    if now - ws.last_seen_at >= _TOUCH_EVERY:
        ws.last_seen_at = now
    return SignedIn(_account(user), ws.csrf_token, ws.method, ws.expires_at)


def end_session(session: Session, token_hash: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == token_hash))


def purge_sessions(session: Session, *, now: datetime, idle: timedelta) -> int:
    done = session.execute(
        delete(WebSession).where(
            (WebSession.expires_at <= now) | (WebSession.last_seen_at <= now - idle)
        )
    )
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
