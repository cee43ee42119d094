"""The Microsoft Graph reader against a local server in Graph's shapes
(tests/support/graph_server.py, NOT Microsoft), with app-only tokens from MSAL against the
test's OAuth2 server.

Pages and delta links, 429 with Retry-After, 410 resync, and the loss check: a failing $value, a
failing move and a token endpoint outage mid-round lose and double nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailbridge.ingress.graph import GraphReader
from mailbridge.intake import Intake
from mailbridge.ops import oauth2, oauth2_providers
from mailbridge.ops.graph import GraphError
from mailbridge.runtime.serve import start_graph_reader
from mailbridge.settings.sections import GraphSettings, OAuth2Settings
from mailbridge.store import graph as graph_store
from tests.support.env import SettingsFactory
from tests.support.graph_server import GraphServer
from tests.support.imap import report, scalar, wait_for
from tests.support.oauth2_server import TENANT, OAuth2Server, serving

MAILBOX = "missing-reports@council.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuth2Server]:
    yield from serving(tmp_path_factory)


@pytest.fixture
def graph(server: OAuth2Server) -> Iterator[GraphServer]:
    g = GraphServer(lambda token: server.carries(token, "Mail.ReadWrite")).start()
    yield g
    g.stop()


class Rig:
    def __init__(
        self, server: OAuth2Server, graph: GraphServer, engine: Engine, tmp_path: Path
    ) -> None:
        self.server, self.graph, self.engine, self.tmp_path = server, graph, engine, tmp_path
        self.app = server.add_secret_app(MAILBOX, roles=("Mail.ReadWrite",))
        secret = tmp_path / "secret"
        secret.write_text(f"{self.app.secret}\n", encoding="utf-8")
        self.oauth2 = OAuth2Settings(
            provider="microsoft",
            tenant_id=TENANT,
            client_id=self.app.client_id,
            client_secret_file=str(secret),
            authority=server.authority,
            validate_authority=False,
            ca_file=str(server.ca_file),
        )
        self.settings = GraphSettings(
            mailbox=MAILBOX,
            folder="inbox",
            base_url=graph.base_url,
            batch_size=3,
            poll_seconds=0.2,
            backoff_seconds=0.1,
            max_backoff_seconds=0.3,
            lock_retry_seconds=0.2,
        )
        self.waits: list[float] = []
        self.tag = uuid.uuid4().hex[:8]
        self.sent = 0

    def reader(self) -> GraphReader:
        return GraphReader(
            self.engine,
            self.settings,
            Intake(self.engine),
            oauth2_providers.graph_source(self.oauth2),
            sleep=self.waits.append,
        )

    def deliver(self, count: int) -> list[str]:
        ids = [
            self.graph.deliver(MAILBOX, report(self.sent + n, self.tag)) for n in range(count)
        ]
        self.sent += count
        return ids

    def originals(self) -> int:
        return int(
            scalar(
                self.engine,
                "SELECT count(*) FROM inbound_messages WHERE source = 'graph' "
                "AND duplicate_of IS NULL",
            )
        )

    def rows(self) -> int:
        return int(scalar(self.engine, "SELECT count(*) FROM inbound_messages"))

    def inbox(self) -> int:
        return self.graph.in_folder(MAILBOX, "Inbox")

    def processed(self) -> int:
        return self.graph.in_folder(MAILBOX, "Processed")


@pytest.fixture
def rig(server: OAuth2Server, graph: GraphServer, engine: Engine, tmp_path: Path) -> Rig:
    return Rig(server, graph, engine, tmp_path)


def test_pages_and_delta_links_store_each_message_once_then_move_it(rig: Rig) -> None:
    rig.deliver(7)  # four pages of two
    reader = rig.reader()
    assert reader.run_once() == 7
    assert (rig.originals(), rig.inbox(), rig.processed()) == (7, 0, 7)
    link = graph_store.load_delta(rig.engine, reader.key)
    assert link and "$deltatoken=" in link
    skip_pages = [p for m, p in rig.graph.requests if m == "GET" and "$skiptoken=" in p]
    assert len(skip_pages) >= 3  # followed @odata.nextLink
    # The next round starts at the delta link: only what is new; the moves come back as
    # @removed and are skipped.
    rig.deliver(2)
    assert reader.run_once() == 2
    assert (rig.originals(), rig.rows(), rig.inbox(), rig.processed()) == (9, 9, 0, 9)
    assert reader.run_once() == 0
    # Stored byte for byte from $value.
    raw = scalar(rig.engine, "SELECT raw FROM inbound_messages ORDER BY id LIMIT 1")
    assert bytes(raw) == report(0, rig.tag)


def test_429_is_waited_out_for_retry_after_and_410_resyncs_without_doubling(rig: Rig) -> None:
    rig.deliver(3)
    reader = rig.reader()
    rig.graph.throttle_next = 2
    assert reader.run_once() == 3
    assert rig.waits == [1.0, 1.0]  # Retry-After: 1, twice
    # The sync state is gone: the reader drops its link and reads the folder from the start.
    link = graph_store.load_delta(rig.engine, reader.key)
    assert link is not None
    rig.graph.gone_tokens.add(int(link.rsplit("=", 1)[1]))
    rig.deliver(2)
    assert reader.run_once() == 2
    assert (rig.originals(), rig.rows(), rig.inbox(), rig.processed()) == (5, 5, 0, 5)


def test_failures_mid_round_lose_and_double_nothing(rig: Rig) -> None:
    ids = rig.deliver(8)
    reader = rig.reader()
    # The third page's $value fails: the two pages before it (a batch each) are committed and
    # moved, the rest waits in the folder.
    rig.graph.fail_value.add(ids[4])
    with pytest.raises(GraphError, match="500"):
        reader.run_once()
    assert (rig.originals(), rig.processed(), rig.inbox()) == (4, 4, 4)
    rig.graph.fail_value.clear()
    # A move fails after the commit (a crash between the two): that message stays in the
    # folder, committed.
    rig.graph.fail_move.add(ids[6])
    with pytest.raises(GraphError, match="500"):
        reader.run_once()
    rig.graph.fail_move.clear()
    # The token endpoint is down and every token ended when the round is retried.
    rig.server.expire_all()
    rig.server.state.fail_next = 1
    with pytest.raises(oauth2.OAuth2Error):
        reader.run_once()
    assert reader.run_once() >= 1
    assert rig.originals() == 8  # each message once; a re-fetch is recorded as a duplicate
    assert (rig.inbox(), rig.processed()) == (0, 8)


def test_a_token_without_mail_readwrite_is_refused_with_the_steps(rig: Rig) -> None:
    no_role = rig.server.add_secret_app(MAILBOX, roles=("IMAP.AccessAsApp",))
    rig.oauth2 = OAuth2Settings(**{**rig.oauth2.__dict__, "client_id": no_role.client_id})
    (Path(rig.oauth2.client_secret_file)).write_text(f"{no_role.secret}\n", encoding="utf-8")
    reader = rig.reader()
    with pytest.raises(oauth2.TokenRefused):
        reader.run_once()
    advice = oauth2.refused_advice(reader.client.tokens, MAILBOX, "Graph")
    assert "carries no Mail.ReadWrite role" in advice


@pytest.mark.postgres
def test_one_reader_per_mailbox_across_instances(rig: Rig, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's")
    first, second = rig.reader(), rig.reader()
    first.start()
    try:
        wait_for(lambda: first.rounds >= 1, 15, "the first reader's round")
        second.start()
        rig.deliver(4)
        wait_for(lambda: rig.processed() == 4, 15, "the four messages moved")
        assert first.stored == 4 and second.stored == 0 and second.rounds == 0
    finally:
        first.stop()
        second.stop()
    assert rig.originals() == 4


def test_serve_starts_the_reader_from_the_settings(
    rig: Rig, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        f"""[graph]
mailbox = "{MAILBOX}"
base_url = "{rig.graph.base_url}"
poll_seconds = 0.2

"""
        + rig.server.microsoft_toml(rig.app, rig.tmp_path / "secret-2")
    )
    rig.deliver(3)
    reader = start_graph_reader(rig.engine, settings, Intake(rig.engine))
    assert reader is not None
    try:
        wait_for(lambda: rig.processed() == 3, 15, "three messages stored and moved")
        rig.deliver(1)
        wait_for(lambda: rig.processed() == 4, 15, "the fourth, found by the next round")
    finally:
        reader.stop()
    assert rig.originals() == 4
