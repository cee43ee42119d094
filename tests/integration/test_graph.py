"""The Microsoft Graph reader against a local server in Graph's shapes
(tests/support/graph_server.py, NOT Microsoft), with app-only tokens from MSAL against the
test's OAuth2 server.

Pages and delta links, 429 with Retry-After, 410 resync, and the loss check: a failing $value, a
failing move and a token endpoint outage mid-round lose and double nothing. A message whose
$value keeps failing holds up no other, and is set aside with a placeholder and a duty alert.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sqlalchemy import Engine, text

from mailbridge.clock import system_clock
from mailbridge.ingress.graph import GraphReader
from mailbridge.intake import Intake
from mailbridge.ops import health, oauth2, oauth2_providers
from mailbridge.ops.graph import FolderNotFound, GraphError
from mailbridge.ops.http import Probes, check
from mailbridge.runtime.serve import make_workers, start_graph_reader
from mailbridge.settings.config import Settings
from mailbridge.settings.sections import GraphSettings, OAuth2Settings
from mailbridge.store import graph as graph_store
from mailbridge.store import tx
from tests.support.env import CliRunner, RunningService, SettingsFactory
from tests.support.graph_server import GraphServer
from tests.support.imap import report, scalar, wait_for
from tests.support.oauth2_server import TENANT, OAuth2Server, serving
from tests.support.serve import free_port

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

    def reader(self, **kwargs: Any) -> GraphReader:
        return GraphReader(
            self.engine,
            self.settings,
            Intake(self.engine),
            oauth2_providers.graph_source(self.oauth2),
            sleep=self.waits.append,
            **kwargs,
        )

    def set(self, **changes: Any) -> None:
        self.settings = GraphSettings(**{**self.settings.__dict__, **changes})

    def value_calls(self, message_id: str) -> int:
        return sum(1 for m, p in self.graph.requests if m == "GET" and f"/{message_id}/$value" in p)

    def query(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def deliver(self, count: int) -> list[str]:
        ids = [self.graph.deliver(MAILBOX, report(self.sent + n, self.tag)) for n in range(count)]
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
    # The fifth message's $value fails: the seven others are committed and moved, and the delta
    # link stays where it was, so the next round sees the fifth again.
    rig.graph.fail_value.add(ids[4])
    assert reader.run_once() == 7
    assert (rig.originals(), rig.processed(), rig.inbox()) == (7, 7, 1)
    assert graph_store.load_delta(rig.engine, reader.key) is None
    rig.graph.fail_value.clear()
    assert reader.run_once() == 1
    assert (rig.originals(), rig.processed(), rig.inbox()) == (8, 8, 0)
    assert reader.fetch_failures == {} and reader.set_aside == set()
    # A move fails after the commit (a crash between the two): that message stays in the
    # folder, committed.
    more = rig.deliver(4)
    rig.graph.fail_move.add(more[2])
    with pytest.raises(GraphError, match="500"):
        reader.run_once()
    rig.graph.fail_move.clear()
    # The token endpoint is down and every token ended when the round is retried.
    rig.server.expire_all()
    rig.server.state.fail_next = 1
    with pytest.raises(oauth2.OAuth2Error):
        reader.run_once()
    assert reader.run_once() >= 1
    assert rig.originals() == 12  # each message once; a re-fetch is recorded as a duplicate
    assert (rig.inbox(), rig.processed()) == (0, 12)


def test_a_message_graph_will_not_hand_over_is_set_aside_and_holds_up_nothing(
    rig: Rig, make_settings: SettingsFactory
) -> None:
    rig.set(fetch_attempts=2, failed_folder="Failed")
    worker, _sender = make_workers(rig.engine, make_settings())
    woken: list[bool] = []
    reader = rig.reader(gave_up=worker.pipeline.gave_up, on_alert=lambda: woken.append(True))
    ids = rig.deliver(6)
    poison = ids[1]
    rig.graph.fail_value.add(poison)  # as Exchange's ErrorMimeContentConversionFailed does
    # Round 1: the five others are stored and moved; the link does not move past the poison.
    assert reader.run_once() == 5
    assert (rig.originals(), rig.inbox(), rig.processed()) == (5, 1, 5)
    assert graph_store.load_delta(rig.engine, reader.key) is None and reader.retrying
    assert woken == []
    # Round 2: a message that came meanwhile is stored; the poison fails a second time and is
    # set aside: a failed placeholder, the duty desk told, the message moved to Failed.
    rig.deliver(1)
    assert reader.run_once() == 1
    assert (reader.retrying, reader.set_aside) == (False, {poison})
    assert rig.value_calls(poison) == 2
    assert (rig.inbox(), rig.processed(), rig.graph.in_folder(MAILBOX, "Failed")) == (0, 6, 1)
    assert rig.originals() == 7  # six reports and the placeholder
    rows = rig.query(
        "SELECT id, message_id, status, error, raw FROM inbound_messages "
        "WHERE message_id LIKE 'graph-unfetchable.%'"
    )
    assert len(rows) == 1
    placeholder = rows[0]
    assert placeholder.status == "failed"
    assert "could not be fetched" in placeholder.error and "500" in placeholder.error
    body = bytes(placeholder.raw).decode()
    assert f"carer1.{rig.tag}@homes.example" in body  # the sender, from Graph's metadata
    assert "Moved to:    Failed" in body and poison in body
    alerts = rig.query("SELECT role, event FROM alerts WHERE inbound_id = :i", i=placeholder.id)
    assert ("duty", "failed") in [tuple(a) for a in alerts]
    assert woken == [True]
    # The delta link moved on: the poison is not asked for again.
    assert graph_store.load_delta(rig.engine, reader.key)
    assert reader.run_once() == 0
    assert rig.value_calls(poison) == 2


def test_a_set_aside_message_left_in_place_alerts_once_across_restarts(
    rig: Rig, make_settings: SettingsFactory
) -> None:
    rig.set(fetch_attempts=1)  # no failed_folder: the message stays in the folder read
    worker, _sender = make_workers(rig.engine, make_settings())
    ids = rig.deliver(3)
    rig.graph.fail_value.add(ids[0])
    first = rig.reader(gave_up=worker.pipeline.gave_up)
    assert first.run_once() == 2
    assert (rig.inbox(), rig.processed()) == (1, 2)
    # A restart, then Graph loses the sync state: a new reader reads the folder again, finds
    # the same message, sets it aside again; the placeholder is a duplicate, so no second alert.
    link = graph_store.load_delta(rig.engine, first.key)
    assert link is not None
    rig.graph.gone_tokens.add(int(link.rsplit("=", 1)[1]))
    second = rig.reader(gave_up=worker.pipeline.gave_up)
    assert second.run_once() == 0
    assert second.set_aside == {ids[0]}
    placeholders = rig.query(
        "SELECT id, duplicate_of FROM inbound_messages WHERE message_id LIKE 'graph-unfetchable.%'"
        " ORDER BY id"
    )
    assert len(placeholders) == 2 and placeholders[1].duplicate_of == placeholders[0].id
    alerts = rig.query(
        "SELECT count(*) FROM alerts WHERE role = 'duty' AND event = 'failed' AND inbound_id IN "
        "(SELECT id FROM inbound_messages WHERE message_id LIKE 'graph-unfetchable.%')"
    )
    assert alerts[0][0] == 1
    assert rig.inbox() == 1  # still there for a person to read


def test_graph_refusing_every_message_counts_against_none(rig: Rig) -> None:
    rig.set(fetch_attempts=1)
    ids = rig.deliver(3)
    rig.graph.fail_value.update(ids)  # Graph itself is unwell: nothing is set aside
    reader = rig.reader()
    with pytest.raises(GraphError, match="handed over none of 3"):
        reader.run_once()
    assert reader.set_aside == set() and reader.fetch_failures == {}
    assert rig.originals() == 0 and rig.inbox() == 3
    rig.graph.fail_value.clear()
    assert reader.run_once() == 3
    assert (rig.originals(), rig.inbox(), rig.processed()) == (3, 0, 3)


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


# -- folders named as a person types them ----------------------------------------------------


def filters(rig: Rig) -> list[str]:
    """The folder look-ups the reader made ($filter on mailFolders or childFolders)."""
    return [p for m, p in rig.graph.requests if m == "GET" and "$filter=" in p]


def test_a_display_name_is_resolved_and_the_move_goes_to_processed_by_name(rig: Rig) -> None:
    rig.graph.make_folder(MAILBOX, "Missing reports")
    rig.set(folder="Missing reports", processed_folder="Processed")
    for n in range(3):
        rig.graph.deliver(MAILBOX, report(n, rig.tag), folder="Missing reports")
    rig.deliver(1)  # in the Inbox, which is not the folder read
    reader = rig.reader()
    assert reader.run_once() == 3
    assert rig.graph.in_folder(MAILBOX, "Missing reports") == 0
    assert (rig.processed(), rig.inbox(), rig.originals()) == (3, 1, 3)
    # Looked up once each by display name, with Graph's $filter; Processed made at the top.
    assert len(filters(rig)) == 2
    assert any("displayName%20eq%20%27Missing%20reports%27" in p for p in filters(rig))
    folder_id = reader.folders.cached("Missing reports")
    assert folder_id and folder_id.startswith("AAMk")
    delta = [p for m, p in rig.graph.requests if "/messages/delta" in p]
    assert delta and all(f"/mailFolders/{folder_id}/" in unquote(p) for p in delta)
    # The ids are cached: the next round looks nothing up.
    rig.graph.deliver(MAILBOX, report(9, rig.tag), folder="Missing reports")
    assert reader.run_once() == 1
    assert len(filters(rig)) == 2 and rig.processed() == 4


def test_a_nested_path_and_a_missing_last_level_made_under_its_parent(rig: Rig) -> None:
    rig.graph.make_folder(MAILBOX, "Inbox/Missing reports")
    rig.set(folder="Inbox/Missing reports", processed_folder="Inbox/Missing reports/Done")
    for n in range(2):
        rig.graph.deliver(MAILBOX, report(n, rig.tag), folder="Inbox/Missing reports")
    rig.deliver(1)  # the Inbox itself is not read
    reader = rig.reader()
    assert reader.run_once() == 2
    assert rig.graph.in_folder(MAILBOX, "Inbox/Missing reports/Done") == 2
    assert rig.graph.in_folder(MAILBOX, "Inbox/Missing reports") == 0
    assert rig.inbox() == 1
    # "Inbox" is a well-known name: the path starts there, each level a childFolders look-up.
    assert all(
        "/mailFolders/inbox/childFolders?" in p or "/childFolders?" in p for p in filters(rig)
    )
    assert not any(p.split("?")[0].endswith("/mailFolders") for p in filters(rig))


def test_well_known_names_pass_through_without_a_look_up(rig: Rig) -> None:
    rig.set(folder="Inbox", processed_folder="archive")
    rig.deliver(3)
    reader = rig.reader()
    assert reader.run_once() == 3
    assert (rig.inbox(), rig.graph.in_folder(MAILBOX, "Archive"), rig.processed()) == (0, 3, 0)
    assert filters(rig) == []
    assert all(
        "/mailFolders/inbox/messages/delta" in p for m, p in rig.graph.requests if "/delta" in p
    )


def test_a_folder_id_is_taken_as_it_is(rig: Rig) -> None:
    folder_id = rig.graph.make_folder(MAILBOX, "Missing reports")
    processed_id = rig.graph.make_folder(MAILBOX, "Processed")
    rig.set(folder=folder_id, processed_folder=processed_id)
    rig.graph.deliver(MAILBOX, report(0, rig.tag), folder="Missing reports")
    assert rig.reader().run_once() == 1
    assert rig.processed() == 1 and filters(rig) == []


def test_a_missing_folder_is_one_line_and_nothing_is_lost(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    rig.graph.make_folder(MAILBOX, "Missing reports")
    rig.graph.deliver(MAILBOX, report(0, rig.tag), folder="Missing reports")
    rig.set(folder="Missing reprots")  # a typo
    reader = rig.reader()
    with pytest.raises(FolderNotFound) as caught:
        reader.run_once()
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("graph.folder: no folder 'Missing reprots' at the top of the mailbox")
    assert MAILBOX in line
    # A path whose upper level is missing: the folder stored into is not made out of nothing.
    rig.set(folder="Missing reports", processed_folder="Casework/Processed")
    with pytest.raises(FolderNotFound, match=r"graph.processed_folder: no folder 'Casework'"):
        rig.reader().run_once()
    assert rig.originals() == 0 and rig.graph.in_folder(MAILBOX, "Missing reports") == 1
    assert rig.graph.in_folder(MAILBOX, "Casework") == 0
    # In serve the thread logs the one line and keeps trying; once the folder is right, the
    # message is stored.
    rig.set(processed_folder="Processed")
    rig.set(folder="Missing reprots")
    caplog.set_level("ERROR", logger="mailbridge.ingress.graph")
    reader = rig.reader()
    reader.start()
    try:
        wait_for(
            lambda: any("no folder 'Missing reprots'" in r.getMessage() for r in caplog.records),
            15,
            "the error line",
        )
    finally:
        reader.stop()
    assert rig.originals() == 0
    rig.set(folder="Missing reports")
    assert rig.reader().run_once() == 1
    assert rig.processed() == 1


def test_a_folder_made_again_is_looked_up_once_after_a_404(rig: Rig) -> None:
    rig.graph.make_folder(MAILBOX, "Missing reports")
    rig.set(folder="Missing reports", processed_folder="Processed")
    reader = rig.reader()
    rig.graph.deliver(MAILBOX, report(0, rig.tag), folder="Missing reports")
    assert reader.run_once() == 1
    old_processed = reader.folders.cached("Processed")
    # Someone deletes Processed and makes it again: the cached id answers 404, the name is
    # looked up once more, and the move goes to the new folder.
    rig.graph.delete_folder(MAILBOX, "Processed")
    rig.graph.make_folder(MAILBOX, "Processed")
    rig.graph.deliver(MAILBOX, report(1, rig.tag), folder="Missing reports")
    assert reader.run_once() == 1
    assert reader.folders.cached("Processed") not in (None, old_processed)
    assert rig.processed() == 1 and rig.graph.in_folder(MAILBOX, "Missing reports") == 0
    # The folder read is made again (its stored delta link names the old id): looked up once
    # more and read from the start, what was stored before recorded as duplicates.
    old_folder = reader.folders.cached("Missing reports")
    rig.graph.delete_folder(MAILBOX, "Missing reports")
    rig.graph.make_folder(MAILBOX, "Missing reports")
    rig.graph.deliver(MAILBOX, report(0, rig.tag), folder="Missing reports")  # a resend
    rig.graph.deliver(MAILBOX, report(2, rig.tag), folder="Missing reports")
    assert reader.run_once() == 2
    assert reader.folders.cached("Missing reports") not in (None, old_folder)
    assert rig.originals() == 3 and rig.rows() == 4  # the resend is a duplicate
    assert rig.processed() == 3
    # Deleted and not made again: FolderNotFound, one line, after the one look-up.
    rig.graph.delete_folder(MAILBOX, "Missing reports")
    before = len(filters(rig))
    with pytest.raises(FolderNotFound, match=r"graph\.folder: no folder 'Missing reports'"):
        reader.run_once()
    assert len(filters(rig)) == before + 1


# -- graph check, /healthz and status ----------------------------------------------------------


def reader_toml(rig: Rig, **graph: str) -> str:
    table = {"mailbox": MAILBOX, "base_url": rig.graph.base_url, **graph}
    lines = "".join(f'{key} = "{value}"\n' for key, value in table.items())
    return f"[graph]\n{lines}\n" + rig.server.microsoft_toml(rig.app, rig.tmp_path / "secret-3")


def test_graph_check_finds_the_folders_by_name_and_names_a_missing_one_in_one_line(
    rig: Rig, toml_cli: Callable[[str], CliRunner]
) -> None:
    rig.graph.make_folder(MAILBOX, "Inbox/Missing reports")
    rig.graph.deliver(MAILBOX, report(0, rig.tag), folder="Inbox/Missing reports")
    good = reader_toml(
        rig, folder="Inbox/Missing reports", processed_folder="Inbox/Missing reports/Processed"
    )
    code, out, err = toml_cli(good)("graph", "check")
    assert code == 0, err
    assert f"graph:      Microsoft Graph reader for {MAILBOX}" in out
    assert "Mail.ReadWrite" in out
    assert "folder:     'Inbox/Missing reports' found, 1 message(s) in it" in out
    assert (
        "processed:  'Inbox/Missing reports/Processed' not there yet; serve makes it when first "
        "used" in out
    )
    assert "delta link saved never" in out and "graph last error: none" in out
    assert out.rstrip().endswith("Graph OK")
    # The check reads, moves and makes nothing.
    assert rig.graph.in_folder(MAILBOX, "Inbox/Missing reports") == 1
    assert not [p for m, p in rig.graph.requests if m == "POST"]
    assert rig.rows() == 0

    # A folder that is not there: one line naming the setting and the level, exit 1.
    code, out, err = toml_cli(reader_toml(rig, folder="Inbox/Missing reprots"))("graph", "check")
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith(
        "mailbridge: error: graph.folder: no folder 'Missing reprots' in 'Inbox' of "
        f"{MAILBOX} (looking for 'Inbox/Missing reprots')"
    )
    code, out, err = toml_cli(reader_toml(rig, folder="inbox", failed_folder="Casework/Failed"))(
        "graph", "check"
    )
    assert code == 1 and err.count("\n") == 1, err
    assert "graph.failed_folder: no folder 'Casework' at the top of the mailbox" in err
    # No Mail.ReadWrite role: the step to take, in one line.
    rig.app = rig.server.add_secret_app(MAILBOX, roles=("Mail.Send",))
    code, out, err = toml_cli(reader_toml(rig))("graph", "check")
    assert code == 1 and err.count("\n") == 1, err
    assert "carries no Mail.ReadWrite role" in err
    # No graph.mailbox: said so.
    code, out, err = toml_cli("")("graph", "check")
    assert code == 1 and "graph.mailbox is not set" in err


def test_healthz_and_status_show_the_graph_readers_round_delta_link_and_last_error(
    rig: Rig, make_settings: SettingsFactory
) -> None:
    rig.graph.make_folder(MAILBOX, "Missing reports")
    rig.set(folder="Missing reports")
    rig.graph.deliver(MAILBOX, report(0, rig.tag), folder="Missing reports")
    where = (MAILBOX, "Missing reports")
    reader = rig.reader()
    probes = Probes(
        rig.engine, lambda: True, lambda: "disabled", graph=where, graph_state=lambda: reader.state
    )
    healthy, body = check(probes)
    assert healthy is False and body["graph"]["state"] == "stopped"  # not started: a dead thread
    assert body["graph"]["last_round_at"] is None and body["graph"]["last_error"] is None
    assert "graph" not in check(Probes(rig.engine, lambda: True, lambda: "disabled"))[1]

    reader.start()
    try:
        # the round's time is recorded just after the round counts: wait for it to be seen
        wait_for(lambda: reader.rounds >= 1 and rig.processed() == 1
                 and check(probes)[1]["graph"]["last_round_at"] is not None, 15, "a round")
        healthy, body = check(probes)
    finally:
        reader.stop()
    part = body["graph"]
    assert healthy is True and part["ok"] is True
    assert part["state"] in ("reading", "waiting") and part["folder"] == "Missing reports"
    assert part["last_round_at"] is not None and 0 <= part["last_round_age_seconds"] < 15
    assert part["delta_link_saved_at"] is not None and 0 <= part["delta_link_age_seconds"] < 15
    assert part["last_error"] is None

    # The folder goes: the next rounds fail, and the line is kept for status and /healthz.
    rig.graph.delete_folder(MAILBOX, "Missing reports")
    second = rig.reader()
    failing = Probes(
        rig.engine, lambda: True, lambda: "disabled", graph=where, graph_state=lambda: second.state
    )
    second.start()
    try:
        # the error is recorded in the store just after the round fails: wait for it there
        wait_for(lambda: second.last_error is not None
                 and check(failing)[1]["graph"]["last_error"] is not None, 15, "the failed round")
        assert second.state in ("backing off", "reading")
        healthy, body = check(failing)
    finally:
        second.stop()
    assert healthy is True  # a mailbox in trouble does not take the listener out
    assert body["graph"]["last_error"].startswith("graph.folder: no folder 'Missing reports'")
    assert body["graph"]["last_error_at"] is not None

    # `mailbridge status` and `status --json` from the store, in any instance.
    settings = make_settings(reader_toml(rig, folder="Missing reports"))
    graph = (settings.graph.mailbox, settings.graph.folder)
    with tx.read(rig.engine) as t:
        snap = health.snapshot(t, system_clock(), graph=graph)
    data = health.snapshot_json(snap)["graph"]
    assert data["folder"] == "Missing reports"
    assert data["last_error"].startswith("graph.folder: no folder 'Missing reports'")
    assert data["last_round_at"] >= part["last_round_at"]  # the first reader's last round
    assert data["delta_link_age_seconds"] is not None
    lines = health.snapshot_lines(snap, UTC)
    assert lines[-2].startswith("graph:    folder 'Missing reports': last round ")
    assert "delta link saved " in lines[-2] and "never" not in lines[-2]
    assert lines[-1].startswith("graph last error (") and "no folder 'Missing reports'" in lines[-1]
    with tx.read(rig.engine) as t:
        plain = health.snapshot(t, system_clock())
    assert health.snapshot_json(plain)["graph"] is None
    assert not any(line.startswith("graph") for line in health.snapshot_lines(plain, UTC))


def test_serve_healthz_has_the_graph_part(
    rig: Rig,
    make_settings: SettingsFactory,
    run_service: Callable[[Settings], RunningService],
) -> None:
    rig.graph.make_folder(MAILBOX, "Missing reports")
    rig.graph.deliver(MAILBOX, report(0, rig.tag), folder="Missing reports")
    port = free_port()
    toml = reader_toml(rig, folder="Missing reports", poll_seconds="0.2")
    settings = make_settings(toml, http_enabled="true", http_port=str(port))
    run_service(settings)
    wait_for(lambda: rig.processed() == 1, 20, "the message stored and moved by serve")

    def graph_part() -> dict[str, Any] | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            body = json.loads(resp.read())
        part = body.get("graph")
        return part if part and part["last_round_at"] else None

    wait_for(lambda: graph_part() is not None, 20, "a round in /healthz")
    part = graph_part()
    assert part is not None
    assert part["ok"] is True and part["state"] in ("reading", "waiting")
    assert part["folder"] == "Missing reports" and part["last_error"] is None
    assert part["delta_link_age_seconds"] is not None
