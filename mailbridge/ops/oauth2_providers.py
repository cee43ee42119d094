"""The three OAuth2 token providers behind ``oauth2.TokenSource``, and the choice among them
from the [oauth2] settings.

- ``command``: a program that prints a token, run without a shell;
- ``microsoft``: MSAL's confidential client (client credentials, a secret or a certificate);
- ``google``: a service account with domain-wide delegation (google-auth).

Each provider's errors name the setting and the provider's error code, never a secret
(explain_aad, explain_google).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import requests

from mailbridge.ops.oauth2 import (
    GOOGLE_SCOPE,
    MICROSOFT_AUTHORITY,
    OAuth2Error,
    Provider,
    Token,
    TokenSource,
    http_session,
    token_roles,
    unverified_claims,
)
from mailbridge.settings.sections import OAuth2Settings

# The app-only scope for IMAP.AccessAsApp and SMTP.SendAsApp (Exchange Online).
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
# A command's token whose lifetime is unknown is reused for this long (a refusal renews it).
COMMAND_TOKEN_SECONDS = 600.0
COMMAND_TIMEOUT_SECONDS = 60.0


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
            return Token(value, now + lifetime, token_roles(value))
        value = out.splitlines()[0].strip() if out else ""
        if not value:
            raise OAuth2Error(f"oauth2.token_command: {program} printed no token")
        exp = unverified_claims(value).get("exp")
        expires_at = float(exp) if isinstance(exp, int | float) else now + COMMAND_TOKEN_SECONDS
        return Token(value, expires_at, token_roles(value))


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
    70011: (
        "the scope {scope} is not valid for this app: fix the scope (oauth2.scope; empty means "
        "https://outlook.office365.com/.default)"
    ),
    1002012: (
        "the scope {scope} is not valid for app-only sign-in: fix the scope, it must end in "
        "/.default (oauth2.scope; empty means https://outlook.office365.com/.default)"
    ),
    500011: (
        "the resource for scope {scope} does not exist in tenant {tenant}: fix the scope "
        "(oauth2.scope), or Exchange Online is not licensed in the tenant"
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
            check_certificate(pem, c.certificate_file)
            # MSAL (1.35 and later) computes the SHA-256 thumbprint from the public certificate.
            return {"private_key": pem, "public_certificate": pem}
        if c.client_secret_file:
            return _read_secret(c.client_secret_file, "client_secret_file").strip()
        raise OAuth2Error("oauth2: provider microsoft needs client_secret_file or certificate_file")

    def _credential_setting(self) -> str:
        c = self.config
        if c.certificate_file:
            return f"oauth2.certificate_file {c.certificate_file}"
        return f"oauth2.client_secret_file {c.client_secret_file}"

    def _application(self) -> Any:
        import msal  # noqa: PLC0415 - only this provider needs it; every CLI start would pay

        with self._lock:
            if self._app is None:
                c = self.config
                authority = f"{c.authority.rstrip('/')}/{c.tenant_id}"
                # Read and checked first, so that a bad file is never taken for a bad tenant.
                credential = self._credential()
                try:
                    self._app = msal.ConfidentialClientApplication(
                        c.client_id,
                        client_credential=credential,
                        authority=authority,
                        validate_authority=c.validate_authority,
                        instance_discovery=None if c.validate_authority else False,
                        http_client=http_session(c.ca_file, c.timeout_seconds),
                    )
                except ValueError as exc:
                    if _is_credential_error(exc):
                        # A key or certificate that passed our checks but not MSAL's.
                        raise OAuth2Error(
                            f"{self._credential_setting()}: MSAL refused it ({_first_line(exc)})"
                        ) from exc
                    # Tenant discovery failed: MSAL says so in a ValueError.
                    raise OAuth2Error(
                        f"Microsoft Entra ID: tenant {c.tenant_id} not found at "
                        f"{c.authority}: check oauth2.tenant_id (the Directory (tenant) ID)"
                    ) from exc
                except OSError as exc:
                    raise OAuth2Error(
                        f"Microsoft Entra ID: cannot reach {c.authority}: {type(exc).__name__}"
                    ) from exc
            return self._app

    def fetch(self, user: str) -> Token:
        import jwt  # noqa: PLC0415 - as in _application (MSAL signs its assertion with PyJWT)
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
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            # MSAL signs the certificate assertion here (with PyJWT): a key it cannot sign with
            # says so in one of these. Name the file; the next fetch reads it again.
            with self._lock:
                self._app = None
            raise OAuth2Error(
                f"{self._credential_setting()}: MSAL could not use it to sign in "
                f"({type(exc).__name__}: {_first_line(exc)})"
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
        audience = unverified_claims(value).get("aud")
        return Token(
            value,
            started + expires_in,
            token_roles(value),
            audience=audience if isinstance(audience, str) else "",
        )


def check_certificate(pem: str, path: str) -> None:
    """An OAuth2Error in one line unless ``pem`` holds an unencrypted RSA private key and the
    X.509 certificate of that key, both PEM (what Entra ID takes for an app's certificate)."""
    from cryptography import x509  # noqa: PLC0415 - as msal: only this provider needs it
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    where = f"oauth2.certificate_file {path}"
    if "PRIVATE KEY-----" not in pem or "BEGIN CERTIFICATE" not in pem:
        raise OAuth2Error(
            f"{where}: needs the private key and the certificate, both PEM, in one file"
        )
    data = pem.encode("utf-8")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # a key under a passphrase
        raise OAuth2Error(
            f"{where}: the private key is encrypted; export it without a passphrase "
            "(keep the file readable by mailbridge only)"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise OAuth2Error(f"{where}: the private key is not a valid PEM key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise OAuth2Error(
            f"{where}: the private key is {type(key).__name__.removesuffix('PrivateKey')}, "
            "not RSA; Microsoft Entra ID takes RSA certificates"
        )
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise OAuth2Error(f"{where}: the certificate is not a valid PEM certificate") from exc
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if certificate.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise OAuth2Error(
            f"{where}: the certificate is not the private key's (the first certificate in the "
            "file must be the one uploaded to the app registration)"
        )


def _is_credential_error(exc: ValueError) -> bool:
    """MSAL's ValueError about the credential (thumbprint, certificate, key), as opposed to the
    authority or tenant it could not discover."""
    text = str(exc).lower()
    return any(
        word in text
        for word in ("thumbprint", "client_credential", "certificate", "private key", "pfx")
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:160] if lines else type(exc).__name__


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
