"""The ``microsoft`` OAuth2 provider: MSAL's confidential client, the client-credentials grant.

Why a module of its own: an app-only token from Microsoft Entra ID is the one provider with a
client library of its own (MSAL, imported only when it is used), a certificate to check before
MSAL sees it (``check_certificate``), and the AADSTS error codes to turn into what an IT person
must do (``explain_aad``), each naming the setting and never a secret. The choice among the
providers is in ``oauth2_providers.py``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from mailbridge.ops.oauth2 import (
    MICROSOFT_AUTHORITY,
    OAuth2Error,
    Token,
    http_session,
    token_roles,
    unverified_claims,
)
from mailbridge.ops.oauth2_secret_file import read_secret

# The app-only scope for IMAP.AccessAsApp and SMTP.SendAsApp (Exchange Online).
MICROSOFT_SCOPE = "https://outlook.office365.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"


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
            pem = read_secret(c.certificate_file, "certificate_file")
            check_certificate(pem, c.certificate_file)
            # MSAL (1.35 and later) computes the SHA-256 thumbprint from the public certificate.
            return {"private_key": pem, "public_certificate": pem}
        if c.client_secret_file:
            return read_secret(c.client_secret_file, "client_secret_file").strip()
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
