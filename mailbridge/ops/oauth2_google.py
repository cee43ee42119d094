"""The ``google`` OAuth2 provider: a service account with domain-wide delegation (google-auth).

Why a module of its own: the token is the mailbox user's, had by the service account acting as
that user, so what goes wrong is Google's own (delegation not granted, no such Workspace user, a
deleted key), and ``explain_google`` turns each into one line naming what to fix, never the key.
google-auth is imported only when this provider fetches a token. The choice among the providers
is in ``oauth2_providers.py``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC

import requests

from mailbridge.ops.oauth2 import GOOGLE_SCOPE, OAuth2Error, Token, http_session
from mailbridge.ops.oauth2_secret_file import read_secret


@dataclass(frozen=True)
class GoogleConfig:
    service_account_file: str
    scope: str = GOOGLE_SCOPE
    # A PEM bundle that verifies the token endpoint instead of the system's CAs (tests).
    ca_file: str = ""
    timeout_seconds: float = 30.0


def explain_google(message: str, *, user: str, client_id: str, scope: str) -> str:
    """One line from a google-auth RefreshError's text."""
    low = message.lower()
    if "unauthorized_client" in low:
        return (
            f"Google: domain-wide delegation is not granted for client ID {client_id} "
            f"with scope {scope} (Admin console > Security > API controls > Domain-wide "
            "delegation)"
        )
    if "invalid_grant" in low and ("email" in low or "user" in low):
        return f"Google: no Workspace user {user}: check the user in imap.url"
    if "invalid_grant" in low and "signature" in low:
        return "Google: the service account key was deleted or is wrong: make a new key file"
    if "invalid_scope" in low:
        return f"Google: the scope {scope} is not valid"
    first = message.strip().splitlines()[0][:200] if message.strip() else "refused"
    return f"Google: {first}"


class GoogleProvider:
    """A service account's key, acting as the mailbox user (domain-wide delegation)."""

    name = "google"

    def __init__(self, config: GoogleConfig) -> None:
        self.config = config

    def fetch(self, user: str) -> Token:
        # Only this provider needs google-auth; every CLI start would pay for it at the top.
        import google.auth.exceptions  # noqa: PLC0415
        from google.auth.transport.requests import Request  # noqa: PLC0415
        from google.oauth2 import service_account  # noqa: PLC0415

        c = self.config
        raw = read_secret(c.service_account_file, "service_account_file")
        try:
            info = json.loads(raw)
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=[c.scope], subject=user
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise OAuth2Error(
                f"oauth2.service_account_file {c.service_account_file}: not a service account "
                f"key file (JSON with client_email, private_key, token_uri): {type(exc).__name__}"
            ) from exc
        session = http_session(c.ca_file, c.timeout_seconds)
        started = time.time()
        try:
            credentials.refresh(Request(session))
        except google.auth.exceptions.RefreshError as exc:
            raise OAuth2Error(
                explain_google(
                    str(exc.args[0]) if exc.args else "",
                    user=user,
                    client_id=str(info.get("client_id", "?")),
                    scope=c.scope,
                )
            ) from exc
        except (google.auth.exceptions.TransportError, requests.RequestException) as exc:
            raise OAuth2Error(
                f"Google: cannot reach the token endpoint: {type(exc).__name__}"
            ) from exc
        finally:
            session.close()
        expiry = credentials.expiry  # naive UTC in google-auth
        expires_at = (
            expiry.replace(tzinfo=UTC).timestamp() if expiry is not None else started + 3600
        )
        return Token(str(credentials.token), expires_at, (c.scope,))
