"""Alerts sent through Microsoft Graph ``sendMail`` (``relay.url = graph://mailbox``).

Graph here is tests/support/graph_server.py, a local server in Graph's documented shapes (NOT
Microsoft); tokens come from MSAL against the test's OAuth2 server, configured in TOML as an
operator would. Covered: the MIME of each alert reaches Graph for its one recipient, an expired
token is renewed once, throttling is waited out, a Graph outage or a missing access policy keeps
the alerts queued until it passes (nothing lost, nothing doubled), a message Graph refuses fails
alone, and `relay check` / `check-config` say what is wrong in one line.
"""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailbridge.settings.config import Settings
from tests.support.env import CliRunner, SettingsFactory
from tests.support.graph_server import GraphServer
from tests.support.oauth2_server import App, OAuth2Server, serving
from tests.support.relay import (
    ADDRESS,
    RECEIVED,
    FakeClock,
    alerts,
    by_recipient,
    import_fixture_directory,
    queue_alerts,
    report,
)

MAILBOX = ADDRESS  # the shared mailbox: carers write to it, alerts are sent as it


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuth2Server]:
    yield from serving(tmp_path_factory)


@pytest.fixture
def graph(server: OAuth2Server) -> Iterator[GraphServer]:
    g = GraphServer(
        lambda token: server.carries(token, "Mail.ReadWrite"),
        send_token_ok=lambda token: server.carries(token, "Mail.Send"),
    ).start()
    yield g
    g.stop()


@pytest.fixture
def world(engine: Engine) -> Engine:
    import_fixture_directory(engine)
    return engine


def graph_toml(server: OAuth2Server, app: App, graph: GraphServer, tmp_path: Path) -> str:
    return f"""\
[relay]
url = "graph://{MAILBOX}"
timeout_seconds = 5
backoff_seconds = 1
max_backoff_seconds = 2

[graph]
base_url = "{graph.base_url}"
max_retry_after_seconds = 5

""" + server.microsoft_toml(app, tmp_path / "client-secret")


GraphRelay = Callable[..., tuple[App, Settings]]


@pytest.fixture
def graph_relay(
    server: OAuth2Server, graph: GraphServer, make_settings: SettingsFactory, tmp_path: Path
) -> GraphRelay:
    """``make(roles)``: a new app with those roles, and settings sending as MAILBOX through it."""

    def make(roles: tuple[str, ...] = ("Mail.Send",)) -> tuple[App, Settings]:
        app = server.add_secret_app(MAILBOX, roles=roles)
        return app, make_settings(graph_toml(server, app, graph, tmp_path))

    return make


def test_each_alert_goes_to_graph_as_mime_for_its_one_recipient(
    server: OAuth2Server, graph: GraphServer, world: Engine, graph_relay: GraphRelay
) -> None:
    app, settings = graph_relay()
    clock = FakeClock(RECEIVED)
    sender = queue_alerts(world, settings, clock, report(1))
    delivered = sender.deliver_due()
    rows = by_recipient(world)
    assert len(rows) >= 3, rows
    assert all(a.status == "sent" and a.attempts == 1 for a in rows.values()), rows
    assert delivered.sent == len(rows) and delivered.written == 0
    assert sorted(s.recipients[0] for s in graph.sent) == sorted(rows)
    assert all(len(s.recipients) == 1 and s.mailbox == MAILBOX for s in graph.sent)
    for sent in graph.sent:
        message = email.message_from_bytes(sent.mime)
        row = rows[sent.recipients[0]]
        assert message["Message-ID"] == f"<{row.message_id}>"
        assert message["X-Mailbridge-Alert"] == str(row.id)
        assert MAILBOX in message["From"] and message["Reply-To"]
        assert "Jordan" in sent.mime.decode("utf-8", "replace") or message.is_multipart()
    assert server.issued(app.client_id) == 1
    assert app.secret and not any(app.secret.encode() in s.mime for s in graph.sent)

    # The token ends early at Graph: one 401, one new token, then delivery.
    server.expire_all()
    queue_alerts(world, settings, clock, report(2, body="Ellie Brown (100452) is missing."))
    sender.deliver_due()
    now = alerts(world)
    assert len(now) > len(rows) and all(a.status == "sent" for a in now)
    assert len(graph.sent) == len(now)
    assert server.issued(app.client_id) == 2


def test_throttling_and_outages_keep_alerts_queued_then_send_each_once(
    server: OAuth2Server, graph: GraphServer, world: Engine, graph_relay: GraphRelay
) -> None:
    _app, settings = graph_relay()
    clock = FakeClock(RECEIVED)
    sender = queue_alerts(world, settings, clock, report(1))
    count = len(alerts(world))

    graph.throttle_next = 1  # 429, Retry-After: 1; waited out within the pass
    graph.fail_send = [500] * 20  # then Graph fails (a 500 is not waited out: retried later)
    graph.deny_send.add(MAILBOX)
    sender.deliver_due()
    rows = alerts(world)
    assert all(a.status == "queued" and a.attempts >= 1 for a in rows), rows
    assert graph.sent == []

    graph.fail_send = []  # Graph is back, but the access policy leaves the mailbox out
    clock.advance(minutes=5)
    sender.deliver_due()
    rows = alerts(world)
    assert all(a.status == "queued" for a in rows)
    errors = {a.last_error or "" for a in rows}
    assert all("403 ErrorAccessDenied" in e and "access policy" in e for e in errors), errors
    assert graph.sent == []

    graph.deny_send.clear()  # IT fixes the policy: every alert goes, once
    clock.advance(minutes=5)
    sender.deliver_due()
    rows = alerts(world)
    assert all(a.status == "sent" and a.last_error is None for a in rows), rows
    assert len(graph.sent) == count == len({s.recipients[0] for s in graph.sent})


def test_a_message_graph_refuses_fails_alone(
    server: OAuth2Server, graph: GraphServer, world: Engine, graph_relay: GraphRelay
) -> None:
    _app, settings = graph_relay()
    sender = queue_alerts(world, settings, FakeClock(RECEIVED), report(1))
    graph.fail_send = [400]
    sender.deliver_due()
    rows = alerts(world)
    failed = [a for a in rows if a.status == "failed"]
    assert len(failed) == 1 and (failed[0].last_error or "").startswith("Microsoft Graph POST")
    assert "400" in (failed[0].last_error or "")
    assert all(a.status == "sent" for a in rows if a is not failed[0])


def test_a_token_without_mail_send_is_named_and_nothing_is_lost(
    server: OAuth2Server, graph: GraphServer, world: Engine, graph_relay: GraphRelay
) -> None:
    _app, settings = graph_relay(("Mail.ReadWrite",))
    sender = queue_alerts(world, settings, FakeClock(RECEIVED), report(1))
    sender.deliver_due()
    rows = alerts(world)
    assert rows and all(a.status == "queued" for a in rows)
    assert all("carries no Mail.Send role" in (a.last_error or "") for a in rows), rows
    assert all("(Microsoft Graph)" in (a.last_error or "") for a in rows)
    assert graph.sent == []


def test_relay_check_and_check_config_name_what_is_wrong(
    server: OAuth2Server,
    graph: GraphServer,
    tmp_path: Path,
    toml_cli: Callable[[str], CliRunner],
) -> None:
    app = server.add_secret_app(MAILBOX, roles=("Mail.Send",))
    good = graph_toml(server, app, graph, tmp_path)
    code, out, err = toml_cli(good)("relay", "check")
    assert code == 0, err
    assert f"relay:      Microsoft Graph sendMail as {MAILBOX}" in out
    assert "Mail.Send" in out and out.rstrip().endswith("relay OK")
    assert graph.sent == []  # a check sends nothing

    no_role = server.add_secret_app(MAILBOX, roles=("Mail.ReadWrite",))
    code, out, err = toml_cli(graph_toml(server, no_role, graph, tmp_path))("relay", "check")
    assert code == 1 and err.count("\n") == 1, err
    assert "carries no Mail.Send role" in err and (no_role.secret or "?") not in err

    code, out, err = toml_cli(good)("check-config")
    assert code == 0, err

    other_from = good.replace("[relay]\n", '[relay]\nfrom_address = "duty@council.example"\n')
    assert toml_cli(other_from)("check-config")[0] == 0  # an explicit Send As address is allowed
    code, out, err = toml_cli(good.replace('provider = "microsoft"', 'provider = "google"'))(
        "check-config"
    )
    assert code == 2
    assert "oauth2.provider: relay.url graph:// needs provider microsoft" in err
    code, out, err = toml_cli(good.replace(f"graph://{MAILBOX}", "graph://council.example"))(
        "check-config"
    )
    assert code == 2
    assert "relay.url: graph:// names the sending mailbox and nothing else" in err
