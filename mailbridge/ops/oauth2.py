"""OAuth2 access tokens for the mailbox (IMAP) and the relay (SMTP), behind one interface.

Exchange Online and Google Workspace no longer take passwords for IMAP and SMTP submission: a
client presents an access token instead (SASL XOAUTH2 or OAUTHBEARER). Three providers make
one:

- ``microsoft``: MSAL's confidential client, the client-credentials grant (an app-only token,
  ``https://outlook.office365.com/.default``), with a client secret or a certificate read from
  a file;
- ``google``: a service account with domain-wide delegation (google-auth), acting as the mailbox
  user;
- ``command``: a program that prints a token (the convention of mutt's, aerc's and isync's
  oauth2 helpers), run without a shell; it serves any other provider.

:class:`TokenSource` keeps tokens in memory, renews them a few minutes before they expire, and
:meth:`TokenSource.call` renews a token the server refused once and retries once. Secrets and
tokens never appear in a log line or an error message: errors name the setting, the provider's
error code and what to fix.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests

from mailbridge.errors import MailbridgeError
from mailbridge.settings.sections import OAuth2Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

MICROSOFT_AUTHORITY = "https://login.microsoftonline.com"
# The app-only scope for IMAP.AccessAsApp and SMTP.SendAsApp (Exchange Online).
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
# The one scope Gmail accepts for IMAP and SMTP.
GOOGLE_SCOPE = "https://mail.google.com/"
PROVIDERS = ("microsoft", "google", "command")

# Renew this long before the stated expiry, so a token never dies mid-session.
RENEW_MARGIN_SECONDS = 300.0
# A command's token whose lifetime is unknown is reused for this long (a refusal renews it).
COMMAND_TOKEN_SECONDS = 600.0
COMMAND_TIMEOUT_SECONDS = 60.0


class OAuth2Error(MailbridgeError):
    """No token could be had; the message says which setting or grant is wrong."""


class TokenRefused(MailbridgeError):
    """A server refused a token (raised by the caller's ``use`` in :meth:`TokenSource.call`)."""


@dataclass(frozen=True)
class Token:
    value: str = field(repr=False)
    # Wall-clock seconds (time.time()) when the provider says it expires.
    expires_at: float
    # The app roles (Microsoft) or scopes the token carries, when it says; for diagnostics.
    roles: tuple[str, ...] = ()


class Provider(Protocol):
    """Fetches a fresh token for a mailbox user; raises OAuth2Error naming what is wrong."""

    name: str

    def fetch(self, user: str) -> Token: ...


# -- the cache ------------------------------------------------------------------------------


class TokenSource:
    """Tokens per user from one provider: cached in memory, renewed before expiry, thread-safe."""

    def __init__(
        self,
        provider: Provider,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = RENEW_MARGIN_SECONDS,
    ) -> None:
        self.provider = provider
        self.clock = clock
        self.margin = margin
        self._lock = threading.Lock()
        self._tokens: dict[str, Token] = {}
        # When to fetch a new one: ``margin`` before expiry, or half-way for a short-lived token.
        self._renew_at: dict[str, float] = {}
        self.fetches = 0  # tokens fetched from the provider (for tests and check output)

    def token(self, user: str) -> Token:
        """The cached token, or a new one when it is absent or about to expire."""
        with self._lock:
            cached = self._tokens.get(user)
            if cached is not None and self.clock() < self._renew_at[user]:
                return cached
            return self._fetch(user)

    def cached(self, user: str) -> Token | None:
        """The token in hand for ``user``, if any (no fetch)."""
        with self._lock:
            return self._tokens.get(user)

    def renew(self, user: str) -> Token:
        """Drop the cached token (the server refused it) and fetch a new one."""
        with self._lock:
            self._tokens.pop(user, None)
            return self._fetch(user)

    def _fetch(self, user: str) -> Token:
        now = self.clock()
        token = self.provider.fetch(user)
        self.fetches += 1
        self._tokens[user] = token
        lifetime = max(0.0, token.expires_at - now)
        self._renew_at[user] = token.expires_at - min(self.margin, lifetime / 2)
        log.debug(
            "new OAuth2 access token from %s for %s, valid %d s",
            self.provider.name,
            user,
            max(0, int(token.expires_at - self.clock())),
        )
        return token

    def call(self, user: str, use: Callable[[str], T]) -> T:
        """``use(token)``; when it raises TokenRefused, renew the token once and try once more.

        A second refusal propagates: the caller turns it into its own clear error.
        """
        first = self.token(user)
        try:
            return use(first.value)
        except TokenRefused:
            log.info(
                "the server refused the OAuth2 token for %s; fetching a new one and retrying once",
                user,
            )
        return use(self.renew(user).value)


# -- diagnostics (for `imap check`, `relay check` and the logs) ---------------------------

_ROLE = {
    "IMAP": "IMAP.AccessAsApp",
    "SMTP": "SMTP.SendAsApp",
    "Graph": "Mail.ReadWrite",
    "GraphSend": "Mail.Send",
}
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def refused_advice(tokens: TokenSource, user: str, service: str) -> str:
    """What to fix when ``service`` (IMAP, SMTP, Graph or GraphSend) refused a fresh token."""
    name = tokens.provider.name
    cached = tokens.cached(user)
    roles = cached.roles if cached is not None else ()
    if name == "microsoft":
        role = _ROLE[service]
        if role not in roles:
            api = "Microsoft Graph" if service.startswith("Graph") else "Office 365 Exchange Online"
            return (
                f"the token carries no {role} role: add the application permission {role} "
                f"({api}) to the app registration and grant admin consent (docs/m365.md)"
            )
        if service.startswith("Graph"):
            return (
                f"Microsoft Graph refused the app for {user}: an application access policy or "
                "RBAC for Applications scope that leaves this mailbox out, or the mailbox does "
                "not exist (docs/m365.md)"
            )
        if service == "SMTP":
            return (
                f"Exchange Online refused the app for {user}: register its service principal "
                "(New-ServicePrincipal), give it the mailbox (Add-MailboxPermission "
                "-AccessRights FullAccess), and switch SMTP AUTH on for the mailbox "
                "(Set-CASMailbox -SmtpClientAuthenticationDisabled $false) (docs/m365.md)"
            )
        return (
            f"Exchange Online refused the app for {user}: register its service principal "
            "(New-ServicePrincipal), give it the mailbox (Add-MailboxPermission -AccessRights "
            "FullAccess), and check the application access policy (docs/m365.md)"
        )
    if name == "google":
        return (
            f"Gmail refused the token for {user}: check that the service account's client ID "
            f"has the scope {GOOGLE_SCOPE} under domain-wide delegation and that "
            f"{service} is on for the user (docs/google.md)"
        )
    return (
        f"the token from oauth2.token_command was refused for {user}: the helper must sign in "
        f"as this user (MAILBRIDGE_OAUTH2_USER) and ask for the {service} scope"
    )


def describe(tokens: TokenSource, user: str) -> str:
    """One line for `check` output: provider, lifetime and roles of the token in use."""
    cached = tokens.cached(user)
    if cached is None:
        return f"OAuth2 ({tokens.provider.name})"
    left = max(0, int(cached.expires_at - tokens.clock()))
    roles = f", roles/scopes: {' '.join(cached.roles)}" if cached.roles else ""
    return f"OAuth2 ({tokens.provider.name}), token valid for {left // 60} min{roles}"


# -- SASL ---------------------------------------------------------------------------------


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT access token's claims, NOT verified (for diagnostics only); {} when opaque."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _roles(token: str) -> tuple[str, ...]:
    claims = unverified_claims(token)
    found = claims.get("roles") or claims.get("scp") or claims.get("scope") or []
    if isinstance(found, str):
        found = found.split()
    return tuple(str(r) for r in found) if isinstance(found, list) else ()


class _HttpSession(requests.Session):
    """requests with our CA bundle for every request: a session's own ``verify`` loses to
    REQUESTS_CA_BUNDLE in the environment, a request's does not. Proxies still come from the
    environment (HTTPS_PROXY), as councils' networks often need."""

    def __init__(self, ca_file: str, timeout: float) -> None:
        super().__init__()
        self._verify: str | bool = ca_file or True
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("verify") is None:
            kwargs["verify"] = self._verify
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


def http_session(ca_file: str, timeout: float) -> requests.Session:
    """An HTTP session for token endpoints and Graph: ``ca_file`` (else the system's CAs) and
    ``timeout`` on every request; proxies from the environment."""
    return _HttpSession(ca_file, timeout)


def _read_secret(path: str, setting: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise OAuth2Error(f"oauth2.{setting} {path}: cannot read ({type(exc).__name__})") from exc
    if not text.strip():
        raise OAuth2Error(f"oauth2.{setting} {path}: the file is empty")
    return text


# -- command ------------------------------------------------------------------------------


class CommandProvider:
    """Runs ``token_command`` (split like a shell would, but no shell) and reads its stdout.

    The first line of stdout is the token; or stdout is JSON with ``access_token`` and
    ``expires_in`` (what an OAuth2 token endpoint returns). The command learns the mailbox user
    from the environment variable ``MAILBRIDGE_OAUTH2_USER``.
    """

    name = "command"

    def __init__(
        self,
        command: str,
        *,
        clock: Callable[[], float] = time.time,
        timeout: float = COMMAND_TIMEOUT_SECONDS,
    ) -> None:
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise OAuth2Error(f"oauth2.token_command: cannot split it into words ({exc})") from exc
        if not self.argv:
            raise OAuth2Error("oauth2.token_command is empty")
        self.clock = clock
        self.timeout = timeout

    def fetch(self, user: str) -> Token:
        program = self.argv[0]
        env = {**os.environ, "MAILBRIDGE_OAUTH2_USER": user}
        try:
            done = subprocess.run(  # noqa: S603 - the operator's own command, no shell
                self.argv,
                capture_output=True,
                timeout=self.timeout,
                env=env,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError as exc:
            raise OAuth2Error(f"oauth2.token_command: {program} not found") from exc
        except PermissionError as exc:
            raise OAuth2Error(f"oauth2.token_command: {program} is not executable") from exc
        except subprocess.TimeoutExpired as exc:
            raise OAuth2Error(
                f"oauth2.token_command: {program} did not finish in {self.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise OAuth2Error(f"oauth2.token_command: {program}: {exc.strerror}") from exc
        if done.returncode != 0:
            # stderr is the helper's own message: its last line, short. stdout may hold a token.
            said = done.stderr.decode(errors="replace").strip().splitlines()
            reason = f": {said[-1][:200]}" if said else ""
            raise OAuth2Error(
                f"oauth2.token_command: {program} exited with {done.returncode}{reason}"
            )
        out = done.stdout.decode(errors="replace").strip()
        now = self.clock()
        if out.startswith("{"):
            try:
                data = json.loads(out)
            except ValueError as exc:
                raise OAuth2Error(
                    f"oauth2.token_command: {program} printed JSON that does not parse"
                ) from exc
            value = str(data.get("access_token") or "") if isinstance(data, dict) else ""
            if not value:
                raise OAuth2Error(
                    f"oauth2.token_command: {program} printed JSON without access_token"
                )
            expires_in = data.get("expires_in")
            lifetime = (
                float(expires_in)
                if isinstance(expires_in, int | float | str) and str(expires_in).isdigit()
                else COMMAND_TOKEN_SECONDS
            )
            return Token(value, now + lifetime, _roles(value))
        value = out.splitlines()[0].strip() if out else ""
        if not value:
            raise OAuth2Error(f"oauth2.token_command: {program} printed no token")
        exp = unverified_claims(value).get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else now + COMMAND_TOKEN_SECONDS
        return Token(value, expires_at, _roles(value))


# -- Microsoft (MSAL) ---------------------------------------------------------------------

# AADSTS codes and what an IT person must do about them (one line each).
_AADSTS = {
    90002: "tenant {tenant} not found: check oauth2.tenant_id (the Directory (tenant) ID)",
    900023: "tenant {tenant} is not a valid tenant ID or domain: check oauth2.tenant_id",
    700016: (
        "application {client} is not registered in tenant {tenant}: check oauth2.client_id "
        "(the Application (client) ID) and oauth2.tenant_id"
    ),
    7000215: "the client secret is wrong: copy the secret's Value (not its ID) into the file",
    7000222: "the client secret has expired: add a new one to the app registration",
    700027: (
        "the certificate was not accepted: upload its public part to the app registration "
        "(Certificates & secrets)"
    ),
    70011: "the scope {scope} is not valid for this app",
    500011: (
        "the resource for scope {scope} does not exist in tenant {tenant} "
        "(Office 365 Exchange Online): wrong scope, or Exchange Online is not licensed"
    ),
    65001: (
        "admin consent is missing: grant admin consent for the app's permissions "
        "(API permissions > Grant admin consent)"
    ),
    7000112: (
        "application {client} is disabled in tenant {tenant}: enable it again (Enterprise "
        "applications > Properties > Enabled for users to sign in)"
    ),
    7000218: "the app needs a client secret or a certificate: set oauth2.client_secret_file",
}


def explain_aad(result: dict[str, Any], *, tenant: str, client: str, scope: str) -> str:
    """One line from an MSAL error result: our advice for a known AADSTS code, else its text."""
    codes = result.get("error_codes") or []
    for code in codes:
        if isinstance(code, int) and code in _AADSTS:
            advice = _AADSTS[code].format(tenant=tenant, client=client, scope=scope)
            return f"Microsoft Entra ID: AADSTS{code}: {advice}"
    error = str(result.get("error") or "error")
    description = str(result.get("error_description") or "").strip().splitlines()
    first = description[0][:200] if description else ""
    return f"Microsoft Entra ID: {error}" + (f": {first}" if first else "")


@dataclass(frozen=True)
class MicrosoftConfig:
    tenant_id: str
    client_id: str
    client_secret_file: str = ""
    certificate_file: str = ""
    # login.microsoftonline.com; another for a national cloud (or a test provider).
    authority: str = MICROSOFT_AUTHORITY
    scope: str = MICROSOFT_SCOPE
    # A PEM bundle that verifies the authority's certificate instead of the system's CAs.
    ca_file: str = ""
    # Only tests against a local provider switch these off (never for Microsoft itself).
    validate_authority: bool = True
    timeout_seconds: float = 30.0


class MicrosoftProvider:
    """MSAL ConfidentialClientApplication, client-credentials grant (app-only token).

    The token is the app's, not a user's: which mailbox it may open is Exchange's business
    (``Add-MailboxPermission`` and the application access policy), so ``user`` is not sent.
    """

    name = "microsoft"

    def __init__(self, config: MicrosoftConfig) -> None:
        self.config = config
        self._app: Any = None
        self._lock = threading.Lock()

    def _credential(self) -> str | dict[str, str]:
        c = self.config
        if c.certificate_file:
            pem = _read_secret(c.certificate_file, "certificate_file")
            if "PRIVATE KEY-----" not in pem or "BEGIN CERTIFICATE" not in pem:
                raise OAuth2Error(
                    f"oauth2.certificate_file {c.certificate_file}: needs the private key and "
                    "the certificate, both PEM, in one file"
                )
            # MSAL computes the SHA-256 thumbprint from the public certificate.
            return {"private_key": pem, "public_certificate": pem}
        if c.client_secret_file:
            return _read_secret(c.client_secret_file, "client_secret_file").strip()
        raise OAuth2Error("oauth2: provider microsoft needs client_secret_file or certificate_file")

    def _application(self) -> Any:
        import msal  # noqa: PLC0415 - only this provider needs it; every CLI start would pay

        with self._lock:
            if self._app is None:
                c = self.config
                authority = f"{c.authority.rstrip('/')}/{c.tenant_id}"
                try:
                    self._app = msal.ConfidentialClientApplication(
                        c.client_id,
                        client_credential=self._credential(),
                        authority=authority,
                        validate_authority=c.validate_authority,
                        instance_discovery=None if c.validate_authority else False,
                        http_client=_HttpSession(c.ca_file, c.timeout_seconds),
                    )
                except ValueError as exc:
                    # Tenant discovery failed: MSAL says so in a ValueError.
                    raise OAuth2Error(
                        f"Microsoft Entra ID: tenant {c.tenant_id} not found at {c.authority}: "
                        "check oauth2.tenant_id (the Directory (tenant) ID)"
                    ) from exc
                except OSError as exc:
                    raise OAuth2Error(
                        f"Microsoft Entra ID: cannot reach {c.authority}: {type(exc).__name__}"
                    ) from exc
            return self._app

    def fetch(self, user: str) -> Token:
        import msal.exceptions  # noqa: PLC0415 - as in _application

        c = self.config
        app = self._application()
        # MSAL keeps its own cache: drop it, or a refused token would come back again.
        app.remove_tokens_for_client()
        started = time.time()
        try:
            result = app.acquire_token_for_client(scopes=[c.scope])
        except requests.RequestException as exc:
            with self._lock:
                self._app = None
            raise OAuth2Error(
                f"Microsoft Entra ID: cannot reach the token endpoint: {type(exc).__name__}"
            ) from exc
        except msal.exceptions.MsalServiceError as exc:
            # An answer that is not OAuth2's error JSON (a 5xx from the endpoint or a proxy).
            with self._lock:
                self._app = None
            raise OAuth2Error(
                f"Microsoft Entra ID: the token endpoint failed ({str(exc).splitlines()[0][:80]})"
            ) from exc
        if not isinstance(result, dict) or "access_token" not in result:
            # Start afresh next time: the secret or certificate file is read again (an operator
            # may have fixed it), and MSAL's replay of an identical failed request for 60 s
            # does not outlast our own backoff.
            with self._lock:
                self._app = None
            raise OAuth2Error(
                explain_aad(
                    result if isinstance(result, dict) else {},
                    tenant=c.tenant_id,
                    client=c.client_id,
                    scope=c.scope,
                )
            )
        value = str(result["access_token"])
        expires_in = float(result.get("expires_in") or 3600)
        return Token(value, started + expires_in, _roles(value))


# -- Google (google-auth) -----------------------------------------------------------------


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
        raw = _read_secret(c.service_account_file, "service_account_file")
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
        session = _HttpSession(c.ca_file, c.timeout_seconds)
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


# -- from the settings ----------------------------------------------------------------------


def provider_from_settings(settings: OAuth2Settings) -> Provider:
    """The configured provider; OAuth2Error names the setting when it cannot be built."""
    if settings.provider == "microsoft":
        return MicrosoftProvider(
            MicrosoftConfig(
                tenant_id=settings.tenant_id.strip(),
                client_id=settings.client_id.strip(),
                client_secret_file=settings.client_secret_file,
                certificate_file=settings.certificate_file,
                authority=settings.authority,
                scope=settings.scope or MICROSOFT_SCOPE,
                ca_file=settings.ca_file,
                validate_authority=settings.validate_authority,
                timeout_seconds=settings.timeout_seconds,
            )
        )
    if settings.provider == "google":
        return GoogleProvider(
            GoogleConfig(
                service_account_file=settings.service_account_file,
                scope=settings.scope or GOOGLE_SCOPE,
                ca_file=settings.ca_file,
                timeout_seconds=settings.timeout_seconds,
            )
        )
    if settings.provider == "command":
        return CommandProvider(settings.token_command, timeout=settings.timeout_seconds)
    raise OAuth2Error(
        f"oauth2.provider: must be microsoft, google or command, got {settings.provider!r}"
    )


def source_from_settings(settings: OAuth2Settings, auth: str) -> TokenSource | None:
    """A token source when ``auth`` (imap.auth or relay.auth) is xoauth2, else None."""
    if auth != "xoauth2":
        return None
    return TokenSource(provider_from_settings(settings))


def graph_source(settings: OAuth2Settings) -> TokenSource:
    """App-only tokens for Microsoft Graph (reader and sender), from the microsoft settings."""
    if settings.provider != "microsoft":
        raise OAuth2Error("oauth2.provider: Microsoft Graph needs provider microsoft")
    provider = provider_from_settings(dataclasses.replace(settings, scope=GRAPH_SCOPE))
    return TokenSource(provider)
