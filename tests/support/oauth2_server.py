"""A real OAuth2 authorization server on localhost for the OAuth2 tests (it is not Microsoft).

Authlib's AuthorizationServer (RFC 6749 client credentials, RFC 7523 JWT bearer grant and
``private_key_jwt`` client authentication) behind Flask, over HTTPS with a trustme CA, shaped
where it matters like the two real providers:

- Microsoft Entra ID: ``/{tenant}/v2.0/.well-known/openid-configuration`` and
  ``/{tenant}/oauth2/v2.0/token`` (what MSAL asks for once authority validation is off), error
  bodies with ``error_codes`` (AADSTS numbers) as Entra ID sends them (700016 for an unknown
  client, 7000215 for a wrong secret, 1002012 for a scope without ``/.default``, 500011 for an
  unknown resource), and JWT access tokens whose ``aud`` is the scope's resource (Exchange
  Online or Graph) and whose ``roles`` are the app's roles on that resource;
- Google: ``/token``, the ``token_uri`` of a service account key file, taking the JWT bearer
  grant that google-auth signs with the key, ``sub`` = the mailbox user (domain-wide
  delegation);
- for Dovecot's ``oauth2`` passdb: RFC 7662 token introspection on a second, plain-HTTP port
  (``POST /introspect``), answering ``active`` and ``username``.

The test controls it: :meth:`OAuth2Server.expire_all` ends every issued token early (what the
server of record does when a token's lifetime ends sooner than the client thinks);
:meth:`OAuth2Server.revoke` disables an app (tokens dead, no new ones).
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask
import jwt
import trustme
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion, JWTBearerGrant
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry
from werkzeug.serving import BaseWSGIServer, make_server

TENANT = "11111111-2222-3333-4444-555555555555"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class App:
    """An app registration (Microsoft) or a service account (Google)."""

    client_id: str
    secret: str | None = None
    public_key_pem: bytes | None = None
    # Granted app roles (admin consent given), e.g. ("IMAP.AccessAsApp",).
    roles: tuple[str, ...] = ()
    # The mailbox the app may open (Microsoft: Add-MailboxPermission); Google: the subject.
    mailbox: str = ""
    email: str = ""  # a service account's client_email
    delegation: bool = True  # Google domain-wide delegation granted
    active: bool = True

    # -- authlib's ClientMixin, by duck typing --------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, secret: str) -> bool:
        return self.secret is not None and secrets.compare_digest(secret, self.secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if method == "client_secret_post":
            return self.secret is not None
        if method == JWTBearerClientAssertion.CLIENT_AUTH_METHOD:
            return self.public_key_pem is not None
        return method == "none" and self.email != ""

    def check_grant_type(self, grant_type: str) -> bool:
        return self.active and grant_type in ("client_credentials", JWT_BEARER)

    def get_allowed_scope(self, scope: str) -> str:
        return scope


@dataclass
class Issued:
    client_id: str
    user: str
    expires_at: float
    active: bool = True
    # An app-only token opens a mailbox only with the service's role (IMAP.AccessAsApp,
    # SMTP.SendAsApp), as Exchange Online checks; a delegated one (Google's, the tester's) is
    # the user's own.
    roles: tuple[str, ...] = ()
    delegated: bool = True
    # The token's ``aud``: the resource it was asked for (Exchange Online unless said).
    audience: str = "https://outlook.office365.com"


@dataclass
class _State:
    apps: dict[str, App] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    introspections: int = 0
    token_requests: int = 0
    lifetime: int = 3600
    # Fail the next N token requests with HTTP 503 (a token endpoint outage).
    fail_next: int = 0


class _Assertion(JWTBearerClientAssertion):  # type: ignore[misc]
    """``private_key_jwt``: the client signs with its certificate's key (MSAL's way)."""

    def __init__(self, server: OAuth2Server) -> None:
        super().__init__(validate_jti=False)
        self.server = server

    def get_audiences(self) -> list[str]:
        return [self.server.token_url]

    def resolve_client_public_key(self, client: App) -> Any:
        assert client.public_key_pem is not None
        return RSAKey.import_key(client.public_key_pem)

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> Any:
        # MSAL signs with PS256 (RSA-PSS), which Entra ID takes and joserfc leaves off its
        # default list.
        try:
            token = jose_jwt.decode(assertion, resolve_key, algorithms=["RS256", "PS256"])
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return token.claims


class _ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
    """The app-only grant, with the two ways MSAL authenticates a confidential client."""

    TOKEN_ENDPOINT_AUTH_METHODS = [  # noqa: RUF012 - authlib's class attribute
        "client_secret_post",
        JWTBearerClientAssertion.CLIENT_AUTH_METHOD,
    ]


class _JwtBearer(JWTBearerGrant):  # type: ignore[misc]
    """RFC 7523 grant: google-auth's signed assertion, sub = the Workspace user."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012 - authlib's class attribute
    server_ref: OAuth2Server

    def get_audiences(self) -> list[str]:
        # google-auth always signs for Google's own endpoint, whatever the key's token_uri.
        return [self.server_ref.google_token_url, "https://oauth2.googleapis.com/token"]

    def resolve_issuer_client(self, issuer: str) -> App | None:
        for app in self.server_ref.state.apps.values():
            if app.email == issuer:
                return app
        return None

    def resolve_client_public_key(self, client: App) -> Any:
        assert client.public_key_pem is not None
        return RSAKey.import_key(client.public_key_pem)

    def authenticate_user(self, subject: str) -> str | None:
        if subject not in self.server_ref.state.users:
            raise InvalidGrantError(description="Invalid email or User ID")  # Google's words
        return subject

    def has_granted_permission(self, client: App, user: str) -> bool:
        if not client.delegation:
            # Google's answer when domain-wide delegation is missing for the scope.
            raise UnauthorizedClientError(
                description="Client is unauthorized to retrieve access tokens using this method,"
                " or client not authorized for any of the scopes requested."
            )
        return True


# MSAL puts the certificate chain (x5c) in the assertion's header, as Entra ID's subject name
# and issuer authentication expects; joserfc's default limit of 512 bytes is for strangers.
JWSRegistry.max_header_length = 8192

# Entra ID's AADSTS numbers for what authlib reports (what the real service sends).
_AAD_CODES = {"invalid_client": [7000215], "unauthorized_client": [700016]}

# The resources an app-only token may be for, and the app roles each one grants.
EXCHANGE = "https://outlook.office365.com"
GRAPH = "https://graph.microsoft.com"
_EXCHANGE_ROLES = frozenset({"IMAP.AccessAsApp", "SMTP.SendAsApp"})


def _roles_on(resource: str, roles: tuple[str, ...]) -> tuple[str, ...]:
    """The app's roles that belong to ``resource`` (a token carries only those)."""
    if resource == EXCHANGE:
        return tuple(r for r in roles if r in _EXCHANGE_ROLES)
    if resource == GRAPH:
        return tuple(r for r in roles if r not in _EXCHANGE_ROLES)
    return roles


def _entra_error(error: str, code: int, description: str) -> Any:
    return flask.jsonify(
        error=error, error_description=f"AADSTS{code}: {description}", error_codes=[code]
    ), 400


class OAuth2Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = _State()
        self._lock = threading.Lock()
        self.ca = trustme.CA()
        self.ca_file = root / "oauth2-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self._signing = secrets.token_bytes(32)
        # The test's own IMAP client (appending mail) logs in with tokens of this app.
        self._tester = App(client_id="tester")
        self.state.apps["tester"] = self._tester
        self.app = flask.Flask("oauth2-test-server")
        self.authorization = AuthorizationServer(
            self.app, query_client=self._query_client, save_token=self._save_token
        )
        self.authorization.register_token_generator("default", self._generate)
        self.authorization.register_grant(_ClientCredentials)
        jwt_bearer = type("JwtBearer", (_JwtBearer,), {"server_ref": self})
        self.authorization.register_grant(jwt_bearer)
        self.authorization.register_client_auth_method(
            JWTBearerClientAssertion.CLIENT_AUTH_METHOD, _Assertion(self)
        )
        self._routes()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self._https: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self.app, threaded=True, ssl_context=context
        )
        self._http: BaseWSGIServer = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self._https.server_port
        self.introspection_port = self._http.server_port
        self._threads = [
            threading.Thread(target=s.serve_forever, daemon=True) for s in (self._https, self._http)
        ]

    # -- URLs --------------------------------------------------------------------------------
    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/{TENANT}/oauth2/v2.0/token"

    @property
    def google_token_url(self) -> str:
        return f"{self.authority}/token"

    @property
    def introspection_url(self) -> str:
        """For Dovecot: a token is active for IMAP with IMAP.AccessAsApp or delegated."""
        return self.introspection_url_for("imap")

    def introspection_url_for(self, service: str) -> str:
        return f"http://127.0.0.1:{self.introspection_port}/introspect/{service}"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> OAuth2Server:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        for server in (self._https, self._http):
            server.shutdown()
            server.server_close()

    def microsoft_toml(self, app: App, secret_file: Path) -> str:
        """The [oauth2] table an operator writes for ``app`` (its secret written to the file),
        pointed at this server: authority validation off, as only tests may."""
        secret_file.write_text(f"{app.secret}\n", encoding="utf-8")
        return f"""[oauth2]
provider = "microsoft"
tenant_id = "{TENANT}"
client_id = "{app.client_id}"
client_secret_file = "{secret_file}"
authority = "{self.authority}"
validate_authority = false
ca_file = "{self.ca_file}"
"""

    # -- set-up and control ------------------------------------------------------------------
    def add_secret_app(self, mailbox: str, roles: tuple[str, ...] = ("IMAP.AccessAsApp",)) -> App:
        app = App(
            client_id=secrets.token_hex(8), secret=secrets.token_urlsafe(24), roles=roles,
            mailbox=mailbox,
        )
        self.state.apps[app.client_id] = app
        self.state.users.add(mailbox)
        return app

    def add_certificate_app(self, mailbox: str) -> tuple[App, Path]:
        """An app with a certificate; returns it and a PEM file with key + certificate."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "mailbridge")])
        start = datetime.now(UTC) - timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        app = App(
            client_id=secrets.token_hex(8), public_key_pem=public,
            roles=("IMAP.AccessAsApp", "SMTP.SendAsApp"), mailbox=mailbox,
        )
        self.state.apps[app.client_id] = app
        self.state.users.add(mailbox)
        path = self.root / f"{app.client_id}.pem"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        return app, path

    def add_service_account(self, users: list[str], *, delegation: bool = True) -> Path:
        """A Google service account key file whose token_uri is this server."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        client_id = str(secrets.randbelow(10**20))
        email = f"mailbridge-{client_id[:6]}@project.iam.gserviceaccount.test"
        app = App(
            client_id=client_id,
            public_key_pem=key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            email=email,
            delegation=delegation,
        )
        self.state.apps[client_id] = app
        self.state.users.update(users)
        path = self.root / f"sa-{client_id}.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "project",
                    "private_key_id": secrets.token_hex(20),
                    "private_key": key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ).decode(),
                    "client_email": email,
                    "client_id": client_id,
                    "token_uri": self.google_token_url,
                }
            ),
            encoding="utf-8",
        )
        return path

    def expire_all(self) -> None:
        with self._lock:
            for issued in self.state.tokens.values():
                issued.active = False

    def revoke(self, client_id: str) -> None:
        with self._lock:
            self.state.apps[client_id].active = False
            for issued in self.state.tokens.values():
                if issued.client_id == client_id:
                    issued.active = False

    def carries(self, token: str, role: str) -> bool:
        """Whether ``token`` is live (issued here, not revoked, not expired) with the app
        role ``role``: the check a resource server such as Graph makes."""
        with self._lock:
            issued = self.state.tokens.get(token)
            return (
                issued is not None
                and issued.active
                and issued.expires_at > time.time()
                and role in issued.roles
            )

    def issued(self, client_id: str) -> int:
        return sum(1 for t in self.state.tokens.values() if t.client_id == client_id)

    def mint(self, user: str) -> str:
        """A live token for ``user`` without the HTTP round trip (the tests' own IMAP client)."""
        token = self._generate(grant_type="test", client=self._tester, user=user)
        with self._lock:
            self.state.tokens[token["access_token"]] = Issued(
                "tester", user, time.time() + int(token["expires_in"])
            )
        return str(token["access_token"])

    def _asking_client(self) -> App | None:
        form = flask.request.form
        client_id = form.get("client_id")
        if not client_id and form.get("client_assertion"):
            client_id = jwt.decode(
                form["client_assertion"], options={"verify_signature": False}
            ).get("sub")
        return self.state.apps.get(str(client_id)) if client_id else None

    # -- authlib hooks -----------------------------------------------------------------------
    def _query_client(self, client_id: str) -> App | None:
        return self.state.apps.get(client_id)

    def _save_token(self, token: dict[str, Any], request: Any) -> None:
        client: App = request.client
        user = request.user if isinstance(request.user, str) else client.mailbox
        claims = jwt.decode(token["access_token"], options={"verify_signature": False})
        with self._lock:
            self.state.tokens[token["access_token"]] = Issued(
                client.client_id,
                user,
                time.time() + int(token["expires_in"]),
                roles=tuple(claims.get("roles", ())),
                delegated=bool(client.email),
                audience=str(claims["aud"]),
            )

    def _generate(
        self,
        *,
        grant_type: str,
        client: App,
        user: str | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        lifetime = self.state.lifetime
        # An app-only token is for the resource its scope names (``…/.default``); Google's and
        # the tester's are the user's own, for Exchange Online as far as this server cares.
        resource = EXCHANGE
        if grant_type == "client_credentials" and scope and scope.endswith("/.default"):
            resource = scope.split()[0].removesuffix("/.default")
        claims: dict[str, Any] = {
            "aud": resource,
            "iss": self.authority,
            "appid": client.client_id,
            "exp": int(time.time()) + lifetime,
            "jti": secrets.token_hex(8),
        }
        app_only = grant_type == "client_credentials"
        roles = _roles_on(resource, client.roles) if app_only else client.roles
        if roles:
            claims["roles"] = list(roles)
        if user:
            claims["sub"] = user
        return {
            "token_type": "Bearer",
            "access_token": jwt.encode(claims, self._signing, algorithm="HS256"),
            "expires_in": lifetime,
            "scope": scope or "",
        }

    # -- routes ------------------------------------------------------------------------------
    def _routes(self) -> None:
        app = self.app
        state = self.state

        @app.get("/<tenant>/v2.0/.well-known/openid-configuration")
        def discovery(tenant: str) -> Any:
            if tenant != TENANT:
                return flask.jsonify(
                    error="invalid_tenant",
                    error_description=f"AADSTS90002: Tenant '{tenant}' not found.",
                    error_codes=[90002],
                ), 400
            base = f"{self.authority}/{TENANT}"
            return flask.jsonify(
                issuer=f"{base}/v2.0",
                token_endpoint=f"{base}/oauth2/v2.0/token",
                authorization_endpoint=f"{base}/oauth2/v2.0/authorize",
                jwks_uri=f"{base}/discovery/v2.0/keys",
                token_endpoint_auth_methods_supported=["client_secret_post", "private_key_jwt"],
            )

        def issue() -> Any:
            state.token_requests += 1
            if state.fail_next > 0:
                state.fail_next -= 1
                return flask.jsonify(error="temporarily_unavailable"), 503
            asked = self._asking_client()
            if asked is not None and not asked.active:
                return _entra_error(
                    "unauthorized_client", 7000112, f"Application {asked.client_id} is disabled."
                )
            form = flask.request.form
            if flask.request.path.endswith("/oauth2/v2.0/token"):
                claimed = form.get("client_id") or ""
                if asked is None and claimed:
                    return _entra_error(
                        "unauthorized_client",
                        700016,
                        f"Application with identifier '{claimed}' was not found in the "
                        f"directory '{TENANT}'.",
                    )
                scopes = form.get("scope", "").split()
                for scope in scopes:
                    if not scope.endswith("/.default"):
                        return _entra_error(
                            "invalid_scope",
                            1002012,
                            f"The provided value for scope {scope} is not valid. Client "
                            "credential flows must have a scope value with /.default suffixed "
                            "to the resource identifier (application ID URI).",
                        )
                    resource = scope.removesuffix("/.default")
                    if resource not in (EXCHANGE, GRAPH):
                        return _entra_error(
                            "invalid_resource",
                            500011,
                            f"The resource principal named {resource} was not found in the "
                            f"tenant named {TENANT}.",
                        )
            response = self.authorization.create_token_response()
            if response.status_code >= 400:
                body = response.get_json(silent=True) or {}
                codes = _AAD_CODES.get(str(body.get("error")))
                if codes:
                    body["error_codes"] = codes
                    body["error_description"] = (
                        f"AADSTS{codes[0]}: " + str(body.get("error_description") or "")
                    )
                    response.set_data(json.dumps(body))
            return response

        app.add_url_rule(f"/{TENANT}/oauth2/v2.0/token", "ms_token", issue, methods=["POST"])
        app.add_url_rule("/token", "google_token", issue, methods=["POST"])

        @app.post("/introspect/<service>")
        def introspect(service: str) -> Any:
            role = {"imap": "IMAP.AccessAsApp", "smtp": "SMTP.SendAsApp"}[service]
            state.introspections += 1
            token = flask.request.form.get("token", "")
            with self._lock:
                issued = state.tokens.get(token)
                live = (
                    issued is not None
                    and issued.active
                    and (issued.delegated or (role in issued.roles and issued.audience == EXCHANGE))
                    and issued.expires_at > time.time()
                    and state.apps[issued.client_id].active
                )
            if not live or issued is None:
                return flask.jsonify(active=False)
            return flask.jsonify(active=True, username=issued.user, client_id=issued.client_id)


def serving(tmp_path_factory: Any) -> Iterator[OAuth2Server]:
    """A started server for a module-scoped fixture (``pytest.TempPathFactory``)."""
    server = OAuth2Server(tmp_path_factory.mktemp("oauth2")).start()
    yield server
    server.stop()
