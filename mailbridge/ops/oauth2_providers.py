"""The choice of the OAuth2 token provider behind ``oauth2.TokenSource``, from the [oauth2]
settings.

Why a module of its own: the users of a token (the IMAP watcher, the relay, Microsoft Graph)
ask for a token source from the settings and need not know the providers; each provider is in
its own module:

- ``command``: a program that prints a token, run without a shell (``oauth2_command.py``);
- ``microsoft``: MSAL's confidential client (client credentials, a secret or a certificate;
  ``oauth2_microsoft.py``);
- ``google``: a service account with domain-wide delegation (google-auth; ``oauth2_google.py``).

Each provider's errors name the setting and the provider's error code, never a secret
(explain_aad, explain_google).
"""

from __future__ import annotations

import dataclasses

from mailbridge.ops.oauth2 import GOOGLE_SCOPE, OAuth2Error, Provider, TokenSource
from mailbridge.ops.oauth2_command import CommandProvider
from mailbridge.ops.oauth2_google import GoogleConfig, GoogleProvider
from mailbridge.ops.oauth2_microsoft import (
    GRAPH_SCOPE,
    MICROSOFT_SCOPE,
    MicrosoftConfig,
    MicrosoftProvider,
)
from mailbridge.settings.sections import OAuth2Settings


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
