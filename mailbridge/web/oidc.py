"""Sign-in with OpenID Connect (Microsoft Entra ID or any provider), through authlib.

authlib reads the provider's discovery document, sends the browser there with a state and a
nonce (kept for ten minutes in a signed cookie), swaps the code for tokens and checks the ID
token's signature, issuer, audience, expiry and nonce. mailbridge then takes the ``email`` claim
(or ``[web] oidc_username_claim``) and looks for an active account with that address or name:
the provider says who someone is; mailbridge's own account says what they may do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.starlette_client import OAuth
from starlette.requests import Request
from starlette.responses import Response

from mailbridge.errors import MailbridgeError


class OidcError(MailbridgeError):
    """The provider refused the sign-in or sent something that does not check out."""


@dataclass
class OidcClient:
    label: str
    origin: str
    client: Any

    @classmethod
    def from_settings(cls, web: Any) -> OidcClient | None:
        if not web.oidc_issuer or not web.oidc_client_id:
            return None
        issuer = web.oidc_issuer.rstrip("/")
        oauth = OAuth()
        client = oauth.register(
            name="mailbridge",
            client_id=web.oidc_client_id,
            client_secret=web.oidc_client_secret or None,
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": web.oidc_scopes, "code_challenge_method": "S256"},
        )
        parts = urlsplit(issuer)
        return cls(web.oidc_label, f"{parts.scheme}://{parts.netloc}", client)

    async def redirect(self, request: Request, callback: str) -> Response:
        response: Response = await self.client.authorize_redirect(request, callback)
        return response

    async def claims(self, request: Request) -> dict[str, Any]:
        if "error" in request.query_params:
            raise OidcError(
                "the identity provider refused: "
                + request.query_params.get("error_description", request.query_params["error"])
            )
        try:
            token = await self.client.authorize_access_token(request)
        except OAuthError as exc:
            raise OidcError(f"the identity provider's answer did not check out: {exc}") from exc
        info = token.get("userinfo")
        if not info:
            raise OidcError("the identity provider sent no ID token")
        return dict(info)
