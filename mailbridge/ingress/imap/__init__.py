"""Intake from a shared IMAP mailbox: push latency, and nothing lost or doubled.

- ``client``: the mailbox from ``imap.*`` settings, connect, TLS, login (password, XOAUTH2,
  OAUTHBEARER) and the shared commands (capabilities, folders, MOVE);
- ``sync``: fetch, store, then move (exactly once; DESIGN invariant 1);
- ``backlog``: a backlog larger than one batch taken lane 1 first: header facts, each UID's
  lane, newer mail looked for before each batch (issue 18);
- ``order``: pure; the lane order in which a large set of new UIDs is fetched (issue 18);
- ``unfetchable``: setting aside a message the server will not deliver (a failed placeholder);
- ``leader``: one watcher per mailbox folder across ``serve`` processes (PostgreSQL lock);
- ``watcher``: the thread that ties them: sessions, IDLE or polling, reconnects with backoff;
- ``commands``: ``imap check`` and ``imap backfill``.

Nothing is re-exported here: import from the module that defines a name (a test that patches
a name patches it where it is looked up).
"""
