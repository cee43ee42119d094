"""The one-line diagnoses of Microsoft sign-in failures: Entra ID's AADSTS codes (explain_aad)
and a refused token's advice (refused_advice), where a token for another resource means "fix the
scope", not "add the permission"."""

from __future__ import annotations

import pytest

from mailbridge.ops import oauth2
from mailbridge.ops.oauth2_microsoft import MICROSOFT_SCOPE, explain_aad

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "a1b2c3"
USER = "missing-reports@council.example"


def _explain(code: int, scope: str = MICROSOFT_SCOPE) -> str:
    result = {
        "error": "invalid_request",
        "error_description": f"AADSTS{code}: something Entra ID says.\r\nTrace ID: 1",
        "error_codes": [code],
    }
    line = explain_aad(result, tenant=TENANT, client=CLIENT, scope=scope)
    assert "\n" not in line
    assert line.startswith(f"Microsoft Entra ID: AADSTS{code}: "), line
    return line


def test_a_scope_without_default_is_fix_the_scope() -> None:
    line = _explain(1002012, scope="https://outlook.office365.com")
    assert "the scope https://outlook.office365.com is not valid for app-only sign-in" in line
    assert "fix the scope" in line and "/.default" in line and "oauth2.scope" in line


@pytest.mark.parametrize("code", [70011, 500011])
def test_other_scope_codes_say_fix_the_scope(code: int) -> None:
    assert "fix the scope" in _explain(code, scope="https://graph.microsoft.com/.default")


def test_an_app_not_in_the_tenant_names_both_ids() -> None:
    line = _explain(700016)
    assert f"application {CLIENT} is not registered in tenant {TENANT}" in line
    assert "oauth2.client_id" in line and "oauth2.tenant_id" in line


def test_a_wrong_client_secret_says_value_not_id() -> None:
    line = _explain(7000215)
    assert "the client secret is wrong" in line and "Value (not its ID)" in line


def test_an_unknown_code_is_entra_ids_first_line() -> None:
    result = {"error": "invalid_grant", "error_description": "AADSTS9999: Odd.\r\nTrace ID: 1"}
    line = explain_aad(result, tenant=TENANT, client=CLIENT, scope=MICROSOFT_SCOPE)
    assert line == "Microsoft Entra ID: invalid_grant: AADSTS9999: Odd."


class _Fixed:
    """A provider that hands out one given token (what MSAL would have fetched)."""

    name = "microsoft"

    def __init__(self, token: oauth2.Token) -> None:
        self.token = token

    def fetch(self, user: str) -> oauth2.Token:
        return self.token


def _advice(service: str, *, audience: str, roles: tuple[str, ...]) -> str:
    source = oauth2.TokenSource(
        _Fixed(oauth2.Token("t", 10_000.0, roles, audience=audience)), clock=lambda: 0.0
    )
    source.token(USER)
    advice = oauth2.refused_advice(source, USER, service)
    assert "\n" not in advice
    return advice


@pytest.mark.parametrize("service", ["IMAP", "SMTP"])
def test_a_graph_token_at_exchange_is_fix_the_scope(service: str) -> None:
    advice = _advice(service, audience="https://graph.microsoft.com", roles=("Mail.ReadWrite",))
    assert advice.startswith(
        "the token is for https://graph.microsoft.com, not Exchange Online: fix the scope"
    )
    assert "https://outlook.office365.com/.default" in advice
    assert "add the application permission" not in advice


def test_an_exchange_token_at_graph_is_fix_the_scope() -> None:
    advice = _advice("Graph", audience="https://outlook.office365.com", roles=("IMAP.AccessAsApp",))
    assert advice.startswith("the token is for https://outlook.office365.com, not Microsoft Graph")
    assert "fix the scope" in advice


@pytest.mark.parametrize(
    ("service", "audience"),
    [
        ("IMAP", "https://outlook.office365.com"),
        ("IMAP", "https://outlook.office365.us"),  # a national cloud
        ("SMTP", oauth2.EXCHANGE_APP_ID),  # Entra ID may put the app ID in aud
        ("Graph", "https://graph.microsoft.com"),
        ("GraphSend", oauth2.GRAPH_APP_ID),
        ("IMAP", ""),  # an opaque token says nothing: the role advice stands
    ],
)
def test_the_right_resource_without_the_role_is_add_the_permission(
    service: str, audience: str
) -> None:
    advice = _advice(service, audience=audience, roles=())
    assert "fix the scope" not in advice
    assert "add the application permission" in advice


def test_the_right_resource_and_role_points_at_exchange_or_the_access_policy() -> None:
    imap = _advice("IMAP", audience="https://outlook.office365.com", roles=("IMAP.AccessAsApp",))
    assert "New-ServicePrincipal" in imap and "Add-MailboxPermission" in imap
    graph = _advice("Graph", audience="https://graph.microsoft.com", roles=("Mail.ReadWrite",))
    assert "application access policy" in graph
