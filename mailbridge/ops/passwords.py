"""Salted password hashes for `smtp.auth_file` (stdlib hashlib only).

The file holds ``user:HASH`` lines, so a leaked copy gives away no password. HASH is
``scrypt$N$r$p$SALT$DIGEST`` (what `mailbridge smtp hash-password` writes) or
``pbkdf2_sha256$ITERATIONS$SALT$DIGEST``, salt and digest in unpadded urlsafe base64.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

# scrypt cost: 16 MiB and about 50 ms per check; enough to make guessing from a leak slow.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_DKLEN = 32
_MAX_SCRYPT_N = 2**20  # refuse hashes that would ask for gigabytes at login


class BadHash(ValueError):
    """A stored hash we cannot read; the message names what is wrong, never the hash."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise BadHash("salt or digest is not base64") from exc


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A new scrypt hash with a random 16-byte salt."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=_DKLEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


@dataclass(frozen=True)
class _Parsed:
    scheme: str
    params: tuple[int, ...]
    salt: bytes
    digest: bytes


def _parse(stored: str) -> _Parsed:
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            if not (1 < n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
                raise BadHash("scrypt parameters out of range")
            return _Parsed("scrypt", (n, r, p), _unb64(parts[4]), _unb64(parts[5]))
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            iterations = int(parts[1])
            if not 1000 <= iterations <= 10_000_000:
                raise BadHash("pbkdf2 iterations out of range (1000 to 10,000,000)")
            return _Parsed("pbkdf2_sha256", (iterations,), _unb64(parts[2]), _unb64(parts[3]))
    except ValueError as exc:
        if isinstance(exc, BadHash):
            raise
        raise BadHash("a cost parameter is not a number") from exc
    raise BadHash("not scrypt$N$r$p$SALT$DIGEST nor pbkdf2_sha256$ITERATIONS$SALT$DIGEST")


def check_hash(stored: str) -> None:
    """Raise BadHash when ``stored`` could never verify anything."""
    parsed = _parse(stored)
    if len(parsed.salt) < 8 or len(parsed.digest) < 16:
        raise BadHash("salt or digest too short")


def verify_password(password: str, stored: str) -> bool:
    """Constant-time comparison against a stored hash; a malformed hash never matches."""
    try:
        parsed = _parse(stored)
    except BadHash:
        return False
    secret = password.encode("utf-8")
    if parsed.scheme == "scrypt":
        n, r, p = parsed.params
        computed = hashlib.scrypt(
            secret,
            salt=parsed.salt,
            n=n,
            r=r,
            p=p,
            maxmem=256 * n * r + 2**20,
            dklen=len(parsed.digest),
        )
    else:
        computed = hashlib.pbkdf2_hmac(
            "sha256", secret, parsed.salt, parsed.params[0], dklen=len(parsed.digest)
        )
    return hmac.compare_digest(computed, parsed.digest)


def parse_auth_file(text: str) -> tuple[dict[str, str], list[str]]:
    """``user:HASH`` lines (``#`` comments and blank lines allowed) -> (users, problems).

    A problem names the line number and the user, never the hash.
    """
    users: dict[str, str] = {}
    problems: list[str] = []
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, stored = line.partition(":")
        user = user.strip()
        if not colon or not user:
            problems.append(f"line {number}: expected user:HASH")
            continue
        try:
            check_hash(stored.strip())
        except BadHash as exc:
            problems.append(f"line {number} (user {user!r}): {exc}")
            continue
        if user in users:
            problems.append(f"line {number}: user {user!r} appears twice")
            continue
        users[user] = stored.strip()
    return users, problems
