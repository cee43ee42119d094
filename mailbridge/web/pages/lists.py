"""The Triage page (what needs a person; reprocessing a message) and the Interviews page
(return interviews due, overdue and done, within the person's scope).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mailbridge.store import inbound as store
from mailbridge.store import registers, tx, views
from mailbridge.web import auth
from mailbridge.web.core import Ctx, WebApp, act, page

log = logging.getLogger(__name__)

# -- triage, interviews -----------------------------------------------------------------------


@page(auth.CAN_TRIAGE)
async def triage_page(app: WebApp, ctx: Ctx) -> Response:
    def load() -> views.Triage:
        with tx.read(app.engine) as s:
            return views.triage(s, since=app.now() - timedelta(days=14))

    data = await run_in_threadpool(load)
    return app.render(
        ctx.request,
        "triage.html",
        who=ctx.who,
        t=data,
        reprocessed=ctx.request.query_params.get("reprocessed", ""),
    )


@page(auth.CAN_REPROCESS)
async def reprocess(app: WebApp, ctx: Ctx) -> Response:
    """A failed or not-a-report message goes round again; the running worker picks it up."""
    message_id = int(ctx.request.path_params["msg"])

    return await act(
        app,
        ctx,
        lambda s: store.reset_for_reprocess(s, message_id, now=app.now(), actor=ctx.actor),
        f"/triage?reprocessed={message_id}",
    )


@page()
async def interviews_page(app: WebApp, ctx: Ctx) -> Response:
    def load() -> dict[str, list[registers.InterviewRow]]:
        with tx.read(app.engine) as s:
            return registers.interviews(
                s, now=app.now(), scope=ctx.scope, done_since=app.now() - timedelta(days=31)
            )

    lists = await run_in_threadpool(load)
    return app.render(ctx.request, "interviews.html", who=ctx.who, lists=lists)

