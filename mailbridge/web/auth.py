"""Who may sign in and what each role may do: passwords, tokens, CSRF and the role table.

* Passwords are hashed with argon2id (argon2-cffi, the OWASP first choice; its parameters live in
  the hash, so they can be raised later and old hashes still verify and are re-hashed).
* A session cookie holds 32 random bytes; the store keeps only their SHA-256.
* Every form carries a CSRF token. Signed-in forms carry the session's own token. The sign-in form
  carries a token signed with a key derived from the reply secret and valid for an hour, so it
  works before there is a session (and for a script that does not keep cookies).
* The role table is the one place that says who sees and does what.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

ROLES = ("duty", "social_worker", "iro", "manager", "apprentice", "admin")

# Roles that see every child's episodes (and the unmatched ones); the rest see their own.
SEES_ALL = frozenset({"duty", "manager", "apprentice", "admin"})
# The allocation role (directory) through which a social worker or IRO sees a child.
OWN_CHILDREN = {"social_worker": "social_worker", "iro": "iro"}
# Who may acknowledge an episode, and as which alert role.
ACK_ROLE = {
    "duty": "duty",
    "social_worker": "social_worker",
    "iro": "iro",
    "manager": "team_manager",
}
# Casework: correcting facts and confirming readings; voiding is kept from the apprentice.
CAN_CORRECT = frozenset({"duty", "social_worker", "manager", "apprentice"})
CAN_CASEWORK = frozenset({"duty", "social_worker", "manager"})
CAN_INTERVIEW = frozenset({"duty", "social_worker", "iro", "manager"})
CAN_REPROCESS = frozenset({"duty", "manager"})
CAN_TRIAGE = frozenset({"duty", "manager", "apprentice", "admin"})
CAN_FIGURES = frozenset({"duty", "manager", "apprentice", "admin"})
CAN_DIRECTORY = frozenset({"duty", "manager", "apprentice", "admin"})
CAN_EDIT_DIRECTORY = frozenset({"admin"})
CAN_AUDIT = frozenset({"manager", "admin"})
CAN_USERS = frozenset({"admin"})

_HASHER = PasswordHasher()


@functools.cache
def _dummy() -> str:
    """A hash of a random password: checking it costs what a real check costs, so an unknown
    username takes as long to refuse as a wrong password. Made on first use, not at import
    (every CLI start and test process imports this module)."""
    return _HASHER.hash(secrets.token_hex(16))


LOGIN_TOKEN_SECONDS = 3600


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


@dataclass(frozen=True)
class Checked:
    ok: bool
    rehash: str | None = None  # a new hash when the stored one uses older parameters


def check_password(password: str, stored: str | None) -> Checked:
    """Constant work whatever the account: an absent hash is checked against a dummy."""
    try:
        _HASHER.verify(stored or _dummy(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Checked(False)
    if stored is None:
        return Checked(False)
    rehash = hash_password(password) if _HASHER.check_needs_rehash(stored) else None
    return Checked(True, rehash)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A key for one purpose from the service secret, so one leak does not serve another."""
    return hmac.new(secret, b"mailbridge-web:" + purpose.encode(), hashlib.sha256).digest()


def login_token(key: bytes, *, now: float | None = None) -> str:
    stamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(8)
    mac = hmac.new(key, f"{stamp}.{nonce}".encode(), hashlib.sha256).hexdigest()
    return f"{stamp}.{nonce}.{mac}"


def login_token_ok(key: bytes, token: str, *, now: float | None = None) -> bool:
    try:
        stamp, nonce, mac = token.split(".")
        issued = int(stamp)
    except ValueError:
        return False
    want = hmac.new(key, f"{stamp}.{nonce}".encode(), hashlib.sha256).hexdigest()
    age = (now if now is not None else time.time()) - issued
    return hmac.compare_digest(want, mac) and 0 <= age <= LOGIN_TOKEN_SECONDS


PENDING_SECONDS = 300


def pending_token(key: bytes, account_id: int, *, now: float | None = None) -> str:
    """Carries "this account gave the right password" to the code form, for five minutes."""
    stamp = str(int(now if now is not None else time.time()))
    mac = hmac.new(key, f"totp.{account_id}.{stamp}".encode(), hashlib.sha256).hexdigest()
    return f"{account_id}.{stamp}.{mac}"


def pending_account(key: bytes, token: str, *, now: float | None = None) -> int | None:
    try:
        account, stamp, mac = token.split(".")
        account_id, issued = int(account), int(stamp)
    except ValueError:
        return None
    want = hmac.new(key, f"totp.{account_id}.{stamp}".encode(), hashlib.sha256).hexdigest()
    age = (now if now is not None else time.time()) - issued
    if hmac.compare_digest(want, mac) and 0 <= age <= PENDING_SECONDS:
        return account_id
    return None


def totp_ok(secret: str, code: str, at: datetime) -> bool:
    """A six-digit code of this 30-second step or the one either side (clock drift)."""
    digits = "".join(ch for ch in code if ch.isdigit())
    return len(digits) == 6 and pyotp.TOTP(secret).verify(digits, for_time=at, valid_window=1)


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="mailbridge")


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given), expected)
