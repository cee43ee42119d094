"""Alerts through a relay that takes only AUTH XOAUTH2 after STARTTLS (as smtp.office365.com).

The relay is aiosmtpd on localhost with an XOAUTH2 mechanism that asks the test's OAuth2 server
(tests/support/oauth2_server.py, Authlib; not Microsoft) whether the bearer token is active for
SMTP and whose it is. Tokens come from MSAL, configured as an operator would in the TOML file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from sqlalchemy import Engine

from mailbridge.delivery.transport import SmtpTransport, TemporaryFailure
from mailbridge.ops import oauth2, oauth2_command, oauth2_google, oauth2_microsoft
from tests.support.env import CliRunner, SettingsFactory
from tests.support.log_scan import leaks, run_debug, token_forms
from tests.support.oauth2_server import TENANT, App, OAuth2Server, serving
from tests.support.relay import (
    RECEIVED,
    FakeClock,
    SinkHandler,
    alerts,
    by_recipient,
    free_port,
    import_fixture_directory,
    queue_alerts,
    report,
)

SENDER = "missing@council.example"  # the shared mailbox alerts are sent as


class XOAuth2Handler(SinkHandler):
    """A sink that authenticates with XOAUTH2 by token introspection, and nothing else."""

    introspection_url: str = ""
    logins: list[str]
    refusals: int = 0

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        blob = (
            base64.b64decode(args[1])
            if len(args) > 1
            else await server.challenge_auth("", encode_to_b64=False)
        )
        assert isinstance(blob, bytes)
        fields = dict(
            part.split("=", 1) for part in blob.decode().split("\x01") if "=" in part
        )
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        answer = await asyncio.to_thread(self._introspect, token)
        if answer.get("active") and answer.get("username") == user:
            self.logins.append(user)
            return AuthResult(success=True, auth_data=user)
        self.refusals += 1
        # As Gmail and Exchange do: a JSON error as a challenge, then 535 after the empty reply.
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "SMTP"})
        await server.challenge_auth(error)
        return AuthResult(success=False, handled=False)

    def _introspect(self, token: str) -> dict[str, Any]:
        data = urllib.parse.urlencode({"token": token}).encode()
        with urllib.request.urlopen(self.introspection_url, data, timeout=5) as response:
            answer = json.loads(response.read())
        assert isinstance(answer, dict)
        return answer


class OAuthRelay:
    def __init__(self, server: OAuth2Server) -> None:
        self.port = free_port()
        self.handler = XOAuth2Handler()
        self.handler.logins = []
        self.handler.introspection_url = server.introspection_url_for("smtp")
        cert = server.ca.issue_cert("127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )

    def url(self, user: str = SENDER) -> str:
        return f"smtp://{urllib.parse.quote(user)}@127.0.0.1:{self.port}?starttls=1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuth2Server]:
    yield from serving(tmp_path_factory)


@pytest.fixture
def world(engine: Engine) -> Engine:
    import_fixture_directory(engine)
    return engine


@pytest.fixture
def relay(server: OAuth2Server) -> Iterator[OAuthRelay]:
    r = OAuthRelay(server)
    r.controller.start()
    yield r
    r.controller.stop()


def oauth2_toml(server: OAuth2Server, app: App, tmp_path: Path, relay_url: str) -> str:
    return f"""\
[relay]
url = "{relay_url}"
auth = "xoauth2"
ca_file = "{server.ca_file}"
timeout_seconds = 5

""" + server.microsoft_toml(app, tmp_path / "client-secret")


def test_alerts_are_sent_with_xoauth2_and_an_expired_token_is_renewed_once(
    server: OAuth2Server,
    relay: OAuthRelay,
    world: Engine,
    make_settings: SettingsFactory,
    tmp_path: Path,
) -> None:
    app = server.add_secret_app(SENDER, roles=("SMTP.SendAsApp",))
    settings = make_settings(oauth2_toml(server, app, tmp_path, relay.url()))
    clock = FakeClock(RECEIVED)
    sender = queue_alerts(world, settings, clock, report(1))
    delivered = sender.deliver_due()
    rows = by_recipient(world)
    assert rows and all(a.status == "sent" for a in rows.values()), rows
    assert delivered.sent == len(rows)
    assert len(relay.handler.received) == len(rows)
    assert set(relay.handler.logins) == {SENDER}
    assert server.issued(app.client_id) == 1

    # The relay's idea of the token ends early: one refusal, one new token, then delivery.
    server.expire_all()
    queue_alerts(world, settings, clock, report(2, body="Ellie Brown (100452) is missing."))
    delivered = sender.deliver_due()
    rows_now = alerts(world)
    assert len(rows_now) > len(rows) and all(a.status == "sent" for a in rows_now)
    assert len(relay.handler.received) == len(rows_now)
    assert relay.handler.refusals == 1
    assert server.issued(app.client_id) == 2
    assert app.secret and not any(app.secret.encode() in r.content for r in relay.handler.received)


def test_no_token_or_secret_is_logged_at_debug_when_alerts_are_sent(  # noqa: PLR0917 - fixtures
    server: OAuth2Server,
    relay: OAuthRelay,
    world: Engine,
    make_settings: SettingsFactory,
    database_url: str,
    tmp_path: Path,
) -> None:
    """`relay check` and `deliver` in a process of their own, every logger at DEBUG."""
    app = server.add_secret_app(SENDER, roles=("SMTP.SendAsApp",))
    toml = oauth2_toml(server, app, tmp_path, relay.url())
    queue_alerts(world, make_settings(toml), FakeClock(RECEIVED), report(1))
    queued = len(alerts(world))
    assert queued > 0
    config = tmp_path / "debug.toml"
    config.write_text(toml, encoding="utf-8")
    outputs = []
    for args in (("relay", "check"), ("deliver",)):
        done = run_debug(config, database_url, tmp_path / "data", *args)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout + done.stderr)
    text = "\n".join(outputs)
    assert f"alerts: {queued} sent" in text
    assert len(relay.handler.received) == queued and set(relay.handler.logins) == {SENDER}
    for logger in ("msal.", "urllib3.", "mailbridge.ops.oauth2"):
        assert f"DEBUG {logger}" in text, (logger, text[-3000:])
    issued = [t for t, i in server.state.tokens.items() if i.client_id == app.client_id]
    assert len(issued) == 2  # one per process
    secrets = [form for token in issued for form in token_forms(token, SENDER)]
    assert app.secret
    assert leaks(text, [*secrets, app.secret]) == []


def test_relay_check_says_ok_or_names_the_missing_role(
    server: OAuth2Server,
    relay: OAuthRelay,
    tmp_path: Path,
    toml_cli: Callable[[str], CliRunner],
) -> None:
    app = server.add_secret_app(SENDER, roles=("SMTP.SendAsApp",))
    run = toml_cli(oauth2_toml(server, app, tmp_path, relay.url()))
    code, out, err = run("relay", "check")
    assert code == 0, err
    assert f"relay:      127.0.0.1:{relay.port} (STARTTLS)" in out
    assert f"login:      XOAUTH2 as {SENDER}: OAuth2 (microsoft), token valid for 59 min" in out
    assert "SMTP.SendAsApp" in out and out.rstrip().endswith("relay OK")

    no_role = server.add_secret_app(SENDER, roles=("IMAP.AccessAsApp",))
    code, out, err = toml_cli(oauth2_toml(server, no_role, tmp_path, relay.url()))(
        "relay", "check"
    )
    assert code == 1
    assert err.count("\n") == 1, err
    assert "refused a fresh OAuth2 token for missing@council.example (535" in err
    assert "carries no SMTP.SendAsApp role" in err
    assert (no_role.secret or "?") not in err

    wrong_tenant = oauth2_toml(server, app, tmp_path, relay.url()).replace(TENANT, "contoso")
    code, out, err = toml_cli(wrong_tenant)("relay", "check")
    assert code == 1
    assert "no OAuth2 token: Microsoft Entra ID: tenant contoso not found" in err


def test_relay_check_names_the_scope_the_app_or_the_secret_in_one_line(
    server: OAuth2Server,
    relay: OAuthRelay,
    tmp_path: Path,
    toml_cli: Callable[[str], CliRunner],
) -> None:
    app = server.add_secret_app(SENDER, roles=("SMTP.SendAsApp", "Mail.Send"))
    good = oauth2_toml(server, app, tmp_path, relay.url())

    def check(toml: str) -> str:
        code, _out, err = toml_cli(toml)("relay", "check")
        assert code == 1
        assert err.count("\n") == 1, err
        assert (app.secret or "?") not in err
        return err

    # The Graph scope for SMTP: Entra ID issues a token for Graph (with the app's Graph role
    # only), the relay refuses it, and the advice is the scope, not a permission.
    graph_scope = good + 'scope = "https://graph.microsoft.com/.default"\n'
    err = check(graph_scope)
    assert "the token is for https://graph.microsoft.com, not Exchange Online: fix the scope" in err
    assert "add the application permission" not in err
    # An Application (client) ID the tenant does not know.
    err = check(good.replace(app.client_id, "0badc0ffee"))
    assert "AADSTS700016: application 0badc0ffee is not registered in tenant" in err
    # A secret that is not the app's (its ID copied instead of its Value, say).
    (tmp_path / "client-secret").write_text("the-secret-id-not-its-value\n", encoding="utf-8")
    err = check(good)
    assert "AADSTS7000215: the client secret is wrong" in err
    assert "the-secret-id-not-its-value" not in err


def test_a_scope_without_default_is_refused_by_check_config_and_by_entra_id(
    server: OAuth2Server,
    relay: OAuthRelay,
    tmp_path: Path,
    toml_cli: Callable[[str], CliRunner],
) -> None:
    app = server.add_secret_app(SENDER, roles=("SMTP.SendAsApp",))
    bare = "https://outlook.office365.com"
    toml = oauth2_toml(server, app, tmp_path, relay.url()) + f'scope = "{bare}"\n'
    code, _out, err = toml_cli(toml)("check-config")
    assert code == 2
    assert "oauth2.scope: provider microsoft needs a scope ending in /.default" in err
    # Past check-config (an older config, a hand-built provider), Entra ID answers 1002012.
    provider = oauth2_microsoft.MicrosoftProvider(
        oauth2_microsoft.MicrosoftConfig(
            tenant_id=TENANT,
            client_id=app.client_id,
            client_secret_file=str(tmp_path / "client-secret"),
            authority=server.authority,
            ca_file=str(server.ca_file),
            validate_authority=False,
            scope=bare,
        )
    )
    with pytest.raises(oauth2.OAuth2Error) as caught:
        provider.fetch(SENDER)
    assert str(caught.value).startswith(
        f"Microsoft Entra ID: AADSTS1002012: the scope {bare} is not valid for app-only sign-in: "
        "fix the scope"
    )


def test_check_config_names_the_oauth2_keys_at_fault(
    server: OAuth2Server,
    relay: OAuthRelay,
    tmp_path: Path,
    toml_cli: Callable[[str], CliRunner],
) -> None:
    app = server.add_secret_app(SENDER, roles=("SMTP.SendAsApp",))
    good = oauth2_toml(server, app, tmp_path, relay.url())
    code, out, err = toml_cli(good)("check-config")
    assert code == 0, err
    assert "oauth2.validate_authority is false" in out + err
    assert f"oauth2:   microsoft (tenant {TENANT}, client {app.client_id}, client secret in " in out
    assert (app.secret or "?") not in out + err

    code, out, err = toml_cli(
        good.replace(relay.url(), f"smtp://a:pw@127.0.0.1:{relay.port}").replace(
            f'client_id = "{app.client_id}"', 'client_id = ""'
        )
    )("check-config")
    assert code == 2
    assert "relay.url: with relay.auth = xoauth2 the URL carries no password" in err
    assert "oauth2.client_id: provider microsoft needs it" in err
    assert ":pw@" not in err

    code, out, err = toml_cli(good.replace('provider = "microsoft"', 'provider = "okta"'))(
        "check-config"
    )
    assert code == 2
    assert "oauth2.provider: relay.auth = xoauth2 needs microsoft, google or command" in err


def test_the_command_provider_runs_a_real_script_without_a_shell(tmp_path: Path) -> None:
    script = tmp_path / "token helper"  # a space in the path: no shell splits it
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  json) printf \'{"access_token": "tok-%s", "expires_in": 120}\\n\' '
        '"$MAILBRIDGE_OAUTH2_USER" ;;\n'
        '  fail) echo "refresh token expired; run: helper --authorize" >&2; exit 3 ;;\n'
        '  *) echo "plain-$MAILBRIDGE_OAUTH2_USER"; echo "ignored second line" ;;\n'
        "esac\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    quoted = f'"{script}"'
    now = [1000.0]

    plain = oauth2_command.CommandProvider(quoted, clock=lambda: now[0])
    token = plain.fetch("a@council.example")
    assert token.value == "plain-a@council.example"
    assert token.expires_at == 1000.0 + oauth2_command.COMMAND_TOKEN_SECONDS

    source = oauth2.TokenSource(
        oauth2_command.CommandProvider(f"{quoted} json", clock=lambda: now[0]),
        clock=lambda: now[0],
    )
    assert source.token("b@council.example").value == "tok-b@council.example"
    assert source.fetches == 1
    now[0] += 59  # a 120 s token, shorter than the 300 s margin, is renewed half-way
    assert source.token("b@council.example").value == "tok-b@council.example"
    assert source.fetches == 1  # cached
    now[0] += 1
    source.token("b@council.example")
    assert source.fetches == 2
    # An hour's token is kept until five minutes before it ends.
    hour = oauth2.TokenSource(plain, clock=lambda: now[0])
    hour.token("a@council.example")
    now[0] += oauth2_command.COMMAND_TOKEN_SECONDS - oauth2.RENEW_MARGIN_SECONDS - 1
    hour.token("a@council.example")
    assert hour.fetches == 1
    now[0] += 1
    hour.token("a@council.example")
    assert hour.fetches == 2

    with pytest.raises(oauth2.OAuth2Error) as caught:
        oauth2_command.CommandProvider(f"{quoted} fail").fetch("c@council.example")
    assert str(caught.value) == (
        f"oauth2.token_command: {script} exited with 3: refresh token expired; run: helper "
        "--authorize"
    )
    with pytest.raises(oauth2.OAuth2Error, match="not found"):
        oauth2_command.CommandProvider("/nonexistent/helper").fetch("c@council.example")
    with pytest.raises(oauth2.OAuth2Error, match=r"did not finish in 0\.2 s"):
        oauth2_command.CommandProvider("sleep 5", timeout=0.2).fetch("c@council.example")
    # No shell: metacharacters are arguments, not commands.
    echo = oauth2_command.CommandProvider("echo $HOME;id").fetch("d@council.example")
    assert echo.value == "$HOME;id"


def test_a_refused_token_is_renewed_once_and_retried_once() -> None:
    issued: list[str] = []

    class Counting:
        name = "command"

        def fetch(self, user: str) -> oauth2.Token:
            issued.append(f"t{len(issued) + 1}")
            return oauth2.Token(issued[-1], 10_000.0)

    source = oauth2.TokenSource(Counting(), clock=lambda: 0.0)
    seen: list[str] = []

    def refuse_first(token: str) -> str:
        seen.append(token)
        if token == "t1":
            raise oauth2.TokenRefused("535")
        return "ok"

    assert source.call("u", refuse_first) == "ok"
    assert seen == ["t1", "t2"]

    def refuse_all(token: str) -> str:
        seen.append(token)
        raise oauth2.TokenRefused("535")

    with pytest.raises(oauth2.TokenRefused):
        source.call("u", refuse_all)
    assert seen[2:] == ["t2", "t3"]  # the cached one, then exactly one renewal


def test_google_service_account_tokens_act_as_the_mailbox_user(
    server: OAuth2Server, tmp_path: Path
) -> None:
    key = server.add_service_account(["carers@council.example"])
    provider = oauth2_google.GoogleProvider(
        oauth2_google.GoogleConfig(str(key), ca_file=str(server.ca_file))
    )
    token = provider.fetch("carers@council.example")
    assert token.value and token.expires_at > 0
    assert token.roles == (oauth2.GOOGLE_SCOPE,)
    with pytest.raises(oauth2.OAuth2Error) as caught:
        provider.fetch("someone.else@council.example")
    assert "no Workspace user someone.else@council.example" in str(caught.value)

    undelegated = server.add_service_account(["carers@council.example"], delegation=False)
    with pytest.raises(oauth2.OAuth2Error) as caught:
        oauth2_google.GoogleProvider(
            oauth2_google.GoogleConfig(str(undelegated), ca_file=str(server.ca_file))
        ).fetch("carers@council.example")
    assert "domain-wide delegation is not granted" in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value)


def test_msal_with_a_certificate_from_a_file(server: OAuth2Server) -> None:
    app, pem = server.add_certificate_app(SENDER)
    provider = oauth2_microsoft.MicrosoftProvider(
        oauth2_microsoft.MicrosoftConfig(
            tenant_id=TENANT,
            client_id=app.client_id,
            certificate_file=str(pem),
            authority=server.authority,
            ca_file=str(server.ca_file),
            validate_authority=False,
        )
    )
    token = provider.fetch(SENDER)
    assert "SMTP.SendAsApp" in token.roles
    claims = oauth2.unverified_claims(token.value)
    assert claims["appid"] == app.client_id


def _certificate_toml(server: OAuth2Server, app: App, pem: Path, relay_url: str) -> str:
    return f"""\
[relay]
url = "{relay_url}"
auth = "xoauth2"
ca_file = "{server.ca_file}"
timeout_seconds = 5

[oauth2]
provider = "microsoft"
tenant_id = "{TENANT}"
client_id = "{app.client_id}"
certificate_file = "{pem}"
authority = "{server.authority}"
validate_authority = false
ca_file = "{server.ca_file}"
"""


def test_a_malformed_certificate_file_is_reported_as_such_in_one_line(
    server: OAuth2Server,
    relay: OAuthRelay,
    toml_cli: Callable[[str], CliRunner],
) -> None:
    app, pem = server.add_certificate_app(SENDER)
    good = pem.read_text(encoding="utf-8")
    run = toml_cli(_certificate_toml(server, app, pem, relay.url()))
    code, _out, err = run("relay", "check")
    assert code == 0, err
    # The key's base64 cut short: the file is named, the tenant is not blamed.
    start = good.index("\n", good.index("BEGIN PRIVATE KEY")) + 1
    pem.write_text(good[:start] + good[start + 40 :], encoding="utf-8")
    code, _out, err = run("relay", "check")
    assert code == 1
    assert err.count("\n") == 1, err
    assert f"oauth2.certificate_file {pem}: the private key is not a valid PEM key" in err
    assert "tenant" not in err and "Traceback" not in err
    # The certificate of another app's key.
    _other, other_pem = server.add_certificate_app(SENDER)
    other = other_pem.read_text(encoding="utf-8")
    cert = other[other.index("-----BEGIN CERTIFICATE") :]
    pem.write_text(good[: good.index("-----BEGIN CERTIFICATE")] + cert, encoding="utf-8")
    code, _out, err = run("relay", "check")
    assert code == 1 and err.count("\n") == 1, err
    assert "the certificate is not the private key's" in err


def test_a_key_msal_cannot_sign_with_is_a_named_error(
    server: OAuth2Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An injected fault: a damaged key that got past our own check (switched off here) fails
    inside MSAL's token request; that is an OAuth2Error naming the file, not a ValueError."""
    app, pem = server.add_certificate_app(SENDER)
    good = pem.read_text(encoding="utf-8")
    start = good.index("\n", good.index("BEGIN PRIVATE KEY")) + 1
    pem.write_text(good[:start] + good[start + 40 :], encoding="utf-8")
    monkeypatch.setattr(oauth2_microsoft, "check_certificate", lambda pem, path: None)
    provider = oauth2_microsoft.MicrosoftProvider(
        oauth2_microsoft.MicrosoftConfig(
            tenant_id=TENANT,
            client_id=app.client_id,
            certificate_file=str(pem),
            authority=server.authority,
            ca_file=str(server.ca_file),
            validate_authority=False,
        )
    )
    with pytest.raises(oauth2.OAuth2Error) as caught:
        provider.fetch(SENDER)
    message = str(caught.value)
    assert message.startswith(f"oauth2.certificate_file {pem}: MSAL could not use it to sign in")
    assert "\n" not in message and "tenant" not in message and "PRIVATE KEY" not in message
    # Fixed on disk: the next fetch reads the file again and signs in.
    pem.write_text(good, encoding="utf-8")
    assert "SMTP.SendAsApp" in provider.fetch(SENDER).roles


def test_a_token_is_never_sent_to_a_relay_without_tls() -> None:
    """A relay URL without TLS to a host not known to be loopback gets no token: a clear error.

    All traffic stays on 127.0.0.1. The relay is named ``127.1``, which the resolver turns into
    127.0.0.1 but which is no loopback address by its spelling (as ``smtp.council.example``
    would not be), so the transport must treat it as a host across the network.
    """
    port = free_port()
    controller = Controller(SinkHandler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        tokens = oauth2.TokenSource(
            oauth2_command.CommandProvider("echo never-sent", clock=time.time)
        )

        def transport(host: str) -> SmtpTransport:
            return SmtpTransport(
                f"smtp://{urllib.parse.quote(SENDER)}@{host}:{port}",
                sender=SENDER,
                verify_tls=True,
                timeout=5,
                tokens=tokens,
            )

        assert socket.getaddrinfo("127.1", port)[0][4][0] == "127.0.0.1"
        # The connection and EHLO succeed; then no token is fetched, let alone sent.
        with pytest.raises(TemporaryFailure, match="has no TLS: an OAuth2 token is never sent"):
            transport("127.1").check()
        assert tokens.fetches == 0
        # The same relay by its loopback address: clear text is no exposure there, so the
        # token is fetched and offered (this relay takes no AUTH, so it is refused).
        with pytest.raises(TemporaryFailure, match="refused a fresh OAuth2 token"):
            transport("127.0.0.1").check()
        assert tokens.fetches == 2  # the first, and one renewal after the refusal
    finally:
        controller.stop()
