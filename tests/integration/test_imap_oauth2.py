"""IMAP with OAuth2 against a real Dovecot whose only logins are XOAUTH2 and OAUTHBEARER.

Dovecot's ``oauth2`` passdb asks the test's OAuth2 server (tests/support/oauth2_server.py,
Authlib, not Microsoft) whether each bearer token is active and whose it is. The watcher gets
its tokens from MSAL against that server: a valid token, one the server ended early (renewed
once and retried), an app switched off (a clear error and nothing lost), a token for another
mailbox.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import Engine

from mailbridge.ingress.imap import client as imap_client
from mailbridge.ingress.imap import commands as imap_commands
from mailbridge.ingress.imap.client import ImapAuthError
from mailbridge.ingress.imap.watcher import Watcher
from mailbridge.intake import Intake
from mailbridge.ops import oauth2, oauth2_microsoft
from mailbridge.runtime.serve import make_workers, start_watcher
from mailbridge.settings.config import Settings
from tests.support.dovecot_oauth2 import OAuth2Dovecot, running
from tests.support.env import CliRunner, SettingsFactory
from tests.support.imap import folder_count, imap_rows, imap_toml, report, scalar, wait_for
from tests.support.log_scan import key_lines, leaks, run_debug, token_forms
from tests.support.oauth2_server import TENANT, App, OAuth2Server, serving

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuth2Server]:
    yield from serving(tmp_path_factory)


@pytest.fixture(scope="module")
def dovecot(server: OAuth2Server) -> Iterator[OAuth2Dovecot]:
    yield from running(server.introspection_url, server.mint)


@pytest.fixture
def user(dovecot: OAuth2Dovecot) -> str:
    if dovecot.proc is None:
        dovecot.start()
    return dovecot.new_user()


@pytest.fixture
def watchers() -> Iterator[list[Watcher]]:
    started: list[Watcher] = []
    yield started
    for w in started:
        w.stop()


def microsoft(
    server: OAuth2Server, app: App, tmp_path: Path, pem: Path | None = None
) -> oauth2.TokenSource:
    """Tokens from MSAL against the test server, secret or certificate from a file."""
    secret = tmp_path / f"{app.client_id}.secret"
    if app.secret:
        secret.write_text(app.secret + "\n", encoding="utf-8")
    config = oauth2_microsoft.MicrosoftConfig(
        tenant_id=TENANT,
        client_id=app.client_id,
        client_secret_file=str(secret) if app.secret else "",
        certificate_file=str(pem) if pem else "",
        authority=server.authority,
        ca_file=str(server.ca_file),
        validate_authority=False,
    )
    return oauth2.TokenSource(oauth2_microsoft.MicrosoftProvider(config))


def settings_for(make_settings: SettingsFactory, dovecot: OAuth2Dovecot, user: str) -> Settings:
    return make_settings(imap_toml(dovecot.url(user), backoff_seconds=0.2, max_backoff_seconds=0.5))


def start(
    engine: Engine, settings: Settings, tokens: oauth2.TokenSource, watchers: list[Watcher]
) -> Watcher:
    watcher = Watcher(engine, settings.imap, Intake(engine), tokens=tokens)
    watcher.start()
    watchers.append(watcher)
    return watcher


class Rig:
    """One test's OAuth2 server, Dovecot mailbox, store and watchers."""

    def __init__(  # noqa: PLR0917 - the fixtures it bundles
        self,
        server: OAuth2Server,
        dovecot: OAuth2Dovecot,
        user: str,
        engine: Engine,
        make_settings: SettingsFactory,
        watchers: list[Watcher],
        tmp_path: Path,
    ) -> None:
        self.server, self.dovecot, self.user = server, dovecot, user
        self.engine, self.make_settings = engine, make_settings
        self.watchers, self.tmp_path = watchers, tmp_path

    def tokens(self, app: App, pem: Path | None = None) -> oauth2.TokenSource:
        return microsoft(self.server, app, self.tmp_path, pem)

    def settings(self) -> Settings:
        return settings_for(self.make_settings, self.dovecot, self.user)

    def watcher(self, tokens: oauth2.TokenSource) -> Watcher:
        return start(self.engine, self.settings(), tokens, self.watchers)

    def append(self, count: int) -> None:
        tag = uuid.uuid4().hex[:8]
        client = self.dovecot.client(self.user)
        try:
            client.multiappend("INBOX", [report(n, tag) for n in range(count)])
        finally:
            client.logout()

    def stored(self) -> int:
        return imap_rows(self.engine)

    def count(self, folder: str) -> int:
        return folder_count(self.dovecot, self.user, folder)


@pytest.fixture
def rig(  # noqa: PLR0917 - fixtures
    server: OAuth2Server,
    dovecot: OAuth2Dovecot,
    user: str,
    engine: Engine,
    make_settings: SettingsFactory,
    watchers: list[Watcher],
    tmp_path: Path,
) -> Rig:
    return Rig(server, dovecot, user, engine, make_settings, watchers, tmp_path)


def test_a_valid_token_logs_in_where_passwords_are_disabled_and_mail_is_stored_once(
    rig: Rig,
) -> None:
    app = rig.server.add_secret_app(rig.user)
    tokens = rig.tokens(app)
    rig.append(5)
    # Before login the server says passwords are off, as an OAuth2-only tenant does.
    client = IMAPClient("127.0.0.1", port=rig.dovecot.port, ssl=False)
    assert {b"LOGINDISABLED", b"AUTH=XOAUTH2"} <= set(client.capabilities())
    client.shutdown()

    text = "\n".join(imap_commands.check(rig.settings().imap, rig.engine, tokens=tokens))
    assert "login:      OAuth2 (microsoft), token valid for 59 min" in text
    assert "IMAP.AccessAsApp" in text
    assert app.secret and app.secret not in text

    rig.watcher(tokens)
    wait_for(lambda: rig.stored() == 5, 15, "five messages stored")
    wait_for(lambda: rig.count("Processed") == 5, 10, "the moves")
    assert rig.count("INBOX") == 0
    # check() fetched the token; the watcher used the cached one.
    assert tokens.fetches == 1 and rig.server.issued(app.client_id) == 1
    assert "method=XOAUTH2" in rig.dovecot.log_tail(50)


def test_an_expired_token_is_renewed_once_and_the_login_retried(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    app = rig.server.add_secret_app(rig.user)
    tokens = rig.tokens(app)
    watcher = rig.watcher(tokens)
    wait_for(watcher.idling.is_set, 15, "the watcher to IDLE")
    assert tokens.fetches == 1
    # The server ends every token early; the watcher's copy still looks good for an hour.
    rig.server.expire_all()
    # And the token endpoint fails twice while the watcher reconnects (an outage mid-batch).
    rig.server.state.fail_next = 2
    rig.dovecot.restart()
    rig.append(3)
    wait_for(lambda: rig.stored() == 3, 30, "three messages stored after the renewal")
    wait_for(lambda: rig.count("INBOX") == 0, 10, "the moves")
    assert rig.count("Processed") == 3
    # Refused once, renewed (through the outage) and retried: exactly one new token.
    assert rig.server.issued(app.client_id) == 2
    # The outage was an expected failure, told as such: no traceback of a bug.
    assert not [r for r in caplog.records if "unexpectedly" in r.getMessage()]


def test_a_token_refused_at_login_is_renewed_and_taken_on_the_same_connection(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    app = rig.server.add_secret_app(rig.user)
    tokens = rig.tokens(app)
    settings = rig.settings()
    imap_commands.check(settings.imap, rig.engine, tokens=tokens)
    assert tokens.fetches == 1
    # The server ends every token early (a restart drops Dovecot's cache of the answer); ours
    # still looks good for an hour, so it is offered, refused, renewed and offered again.
    rig.server.expire_all()
    rig.dovecot.restart()
    log_start = rig.dovecot.log.stat().st_size
    asked_before = rig.server.state.introspections
    mailbox = imap_client.mailbox_from_settings(settings.imap)
    with caplog.at_level(logging.INFO, logger="mailbridge"):
        connected = imap_client.connect(mailbox, settings.imap, tokens)
        try:
            assert connected.client.select_folder("INBOX")[b"EXISTS"] == 0
        finally:
            imap_client.close_quietly(connected.client)
    assert tokens.fetches == 2 and rig.server.issued(app.client_id) == 2
    assert "the server refused the OAuth2 token" in caplog.text
    # Dovecot asked about two tokens (the ended one, then the new one) and logged one login:
    # one connection, no failed session, no reconnect.
    assert rig.server.state.introspections - asked_before == 2

    def since_restart() -> str:
        with rig.dovecot.log.open("rb") as f:
            f.seek(log_start)
            return f.read().decode(errors="replace")

    wait_for(lambda: f"Login: user=<{rig.user}>" in since_restart(), 5, "Dovecot's login line")
    log = since_restart()
    assert log.count(f"Login: user=<{rig.user}>") == 1
    assert "auth failed" not in log and "Aborted login" not in log
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    # The watcher the same way: it reconnects after a restart, is refused once, renews and
    # drains the folder without a single error line.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mailbridge"):
        watcher = rig.watcher(tokens)
        wait_for(watcher.idling.is_set, 15, "the watcher to IDLE")
        rig.server.expire_all()
        rig.dovecot.restart()
        rig.append(3)
        wait_for(lambda: rig.count("Processed") == 3, 30, "three messages stored and moved")
    assert rig.stored() == 3
    assert rig.server.issued(app.client_id) == 3 and tokens.fetches == 3
    assert "the server refused the OAuth2 token" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


def test_a_revoked_app_gives_a_clear_error_and_loses_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    app, pem = rig.server.add_certificate_app(rig.user)
    tokens = rig.tokens(app, pem)
    watcher = rig.watcher(tokens)
    wait_for(watcher.idling.is_set, 15, "the watcher to IDLE")
    rig.server.revoke(app.client_id)
    rig.dovecot.restart()
    rig.append(4)
    with caplog.at_level(logging.ERROR, logger="mailbridge.ingress.imap"):
        wait_for(
            lambda: any("AADSTS7000112" in r.getMessage() for r in caplog.records),
            15,
            "the watcher to say the app is disabled",
        )
    said = next(r.getMessage() for r in caplog.records if "AADSTS7000112" in r.getMessage())
    assert f"IMAP account {rig.user}@127.0.0.1:{rig.dovecot.port}: no OAuth2 token" in said
    assert "is disabled in tenant" in said
    assert "PRIVATE KEY" not in caplog.text
    # Nothing stored, nothing moved: the mail waits in the folder.
    assert rig.stored() == 0
    assert rig.count("INBOX") == 4
    # The administrator enables the app again: everything arrives, once.
    app.active = True
    wait_for(lambda: rig.stored() == 4, 20, "the four messages stored")
    wait_for(lambda: rig.count("INBOX") == 0, 10, "the moves")
    assert rig.count("Processed") == 4


def test_a_token_for_another_mailbox_is_refused_with_the_exchange_steps(rig: Rig) -> None:
    other = rig.dovecot.new_user()
    app = rig.server.add_secret_app(other)  # the app was given the other mailbox only
    tokens = rig.tokens(app)
    with pytest.raises(ImapAuthError) as caught:
        imap_commands.check(rig.settings().imap, rig.engine, tokens=tokens)
    message = str(caught.value)
    assert message.startswith(
        f"IMAP server for account {rig.user}@127.0.0.1:{rig.dovecot.port} refused a fresh "
        "OAuth2 token (XOAUTH2: LoginError:"
    ), message
    assert "New-ServicePrincipal" in message and "Add-MailboxPermission" in message
    assert "\n" not in message
    # Refused, renewed once, refused again: two tokens, no loop.
    assert tokens.fetches == 2


def test_a_token_without_the_imap_role_says_admin_consent_is_missing(rig: Rig) -> None:
    app = rig.server.add_secret_app(rig.user, roles=())
    tokens = rig.tokens(app)
    with pytest.raises(ImapAuthError) as caught:
        imap_commands.check(rig.settings().imap, rig.engine, tokens=tokens)
    assert "carries no IMAP.AccessAsApp role" in str(caught.value)
    assert "grant admin consent" in str(caught.value)


def test_backfill_logs_in_with_oauthbearer_when_that_is_all_the_server_offers(
    server: OAuth2Server, engine: Engine, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    for dovecot in running(server.introspection_url, server.mint, mechanisms="oauthbearer"):
        user = dovecot.new_user()
        tokens = microsoft(server, server.add_secret_app(user), tmp_path)
        tag = uuid.uuid4().hex[:8]
        client = dovecot.client(user)
        client.multiappend("INBOX", [report(n, tag) for n in range(3)])
        client.logout()
        settings = settings_for(make_settings, dovecot, user)
        result = imap_commands.backfill(settings.imap, Intake(engine), tokens=tokens)
        assert (result.found, result.stored, result.duplicates) == (3, 3, 0)
        assert "method=OAUTHBEARER" in dovecot.log_tail(50)
        assert folder_count(dovecot, user, "INBOX") == 3  # read-only: nothing moved


# -- the settings path: `mailbridge imap check` / `imap backfill` as an operator runs them -------


def test_imap_check_with_a_google_service_account_from_the_settings(
    rig: Rig, engine: Engine, toml_cli: Callable[[str], CliRunner]
) -> None:
    key = rig.server.add_service_account([rig.user])
    toml = (
        imap_toml(rig.dovecot.url(rig.user), auth="xoauth2")
        + f'[oauth2]\nprovider = "google"\nservice_account_file = "{key}"\n'
        + f'ca_file = "{rig.server.ca_file}"\n'
    )
    code, out, err = toml_cli(toml)("imap", "check")
    assert code == 0, err
    assert "login:      OAuth2 (google), token valid for 59 min" in out
    assert out.rstrip().endswith("IMAP OK")

    other = rig.server.add_service_account([], delegation=False)
    code, out, err = toml_cli(toml.replace(str(key), str(other)))("imap", "check")
    assert code == 1
    assert err.count("\n") == 1, err
    assert "no OAuth2 token: Google: domain-wide delegation is not granted" in err


def test_imap_backfill_with_a_token_command_from_the_settings(
    rig: Rig, engine: Engine, toml_cli: Callable[[str], CliRunner], tmp_path: Path
) -> None:
    # The helper prints a token it got elsewhere (here: a file the test fills), as mutt's
    # oauth2.py or `oama` would.
    token_file = tmp_path / "token"
    token_file.write_text(rig.server.mint(rig.user) + "\n", encoding="utf-8")
    rig.append(3)
    toml = (
        imap_toml(rig.dovecot.url(rig.user), auth="xoauth2")
        + f'[oauth2]\nprovider = "command"\ntoken_command = "cat {token_file}"\n'
    )
    run = toml_cli(toml)
    code, out, err = run("imap", "backfill", "--no-process")
    assert code == 0, err
    assert "stored 3 message(s), 0 duplicate(s)" in out

    # A token the server does not know: refused, renewed (the same again), a clear line.
    token_file.write_text("not-a-token\n", encoding="utf-8")
    code, out, err = run("imap", "check")
    assert code == 1
    assert "refused a fresh OAuth2 token (XOAUTH2:" in err
    assert "the token from oauth2.token_command was refused" in err
    assert "not-a-token" not in err


def test_nothing_is_lost_when_dovecot_and_the_token_endpoint_fail_mid_batch(
    rig: Rig, tmp_path: Path
) -> None:
    """`serve`'s own wiring (settings -> token source -> watcher); a backlog being drained when
    Dovecot restarts, every token is ended and the token endpoint fails once."""
    app = rig.server.add_secret_app(rig.user)
    settings = rig.make_settings(
        imap_toml(
            rig.dovecot.url(rig.user),
            auth="xoauth2",
            batch_size=25,
            backoff_seconds=0.2,
            max_backoff_seconds=0.5,
        )
        + rig.server.microsoft_toml(app, tmp_path / "secret")
    )
    total = 300
    rig.append(total)
    worker, sender = make_workers(rig.engine, settings)
    watcher = start_watcher(rig.engine, settings, Intake(rig.engine), worker, sender)
    assert watcher is not None and watcher.tokens is not None
    rig.watchers.append(watcher)
    wait_for(lambda: rig.stored() >= 50, 30, "the drain to be under way")
    rig.server.expire_all()
    rig.server.state.fail_next = 1
    rig.dovecot.restart()
    wait_for(
        lambda: unique_stored(rig.engine) == total and rig.count("INBOX") == 0,
        60,
        "every message stored once and moved",
    )
    assert rig.count("Processed") == total
    # Each message has one original row; a re-fetch after the restart is recorded as such.
    originals = scalar(
        rig.engine,
        "SELECT count(*) FROM inbound_messages WHERE source = 'imap' AND duplicate_of IS NULL",
    )
    assert originals == total
    assert rig.server.issued(app.client_id) == 2


def test_no_token_key_or_secret_is_logged_at_debug_in_an_xoauth2_session(
    rig: Rig, database_url: str, tmp_path: Path
) -> None:
    """`imap check` then `imap backfill` in a process of their own, every logger at DEBUG."""
    app, pem = rig.server.add_certificate_app(rig.user)
    rig.append(2)
    config = tmp_path / "mailbridge.toml"
    config.write_text(
        imap_toml(rig.dovecot.url(rig.user), auth="xoauth2")
        + f"""[oauth2]
provider = "microsoft"
tenant_id = "{TENANT}"
client_id = "{app.client_id}"
certificate_file = "{pem}"
authority = "{rig.server.authority}"
validate_authority = false
ca_file = "{rig.server.ca_file}"
""",
        encoding="utf-8",
    )
    outputs = []
    for args in (("imap", "check"), ("imap", "backfill", "--no-process")):
        done = run_debug(config, database_url, tmp_path / "data", *args)
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout + done.stderr)
    text = "\n".join(outputs)
    # It did log at DEBUG, MSAL's, urllib3's and imapclient's protocol lines included (the
    # AUTHENTICATE among them), so the scan means something.
    for logger in ("msal.", "urllib3.", "imapclient.imaplib", "mailbridge.ops.oauth2"):
        assert f"DEBUG {logger}" in text, (logger, text[-3000:])
    assert "AUTHENTICATE" in text
    assert "stored 2 message(s)" in text
    issued = [t for t, i in rig.server.state.tokens.items() if i.client_id == app.client_id]
    assert len(issued) == 2  # one per process
    secrets = [form for token in issued for form in token_forms(token, rig.user)]
    secrets += key_lines(pem.read_text(encoding="utf-8"))
    assert leaks(text, secrets) == []


def unique_stored(engine: Engine) -> int:
    return int(
        scalar(
            engine,
            "SELECT count(DISTINCT message_id) FROM inbound_messages WHERE source = 'imap'",
        )
    )
