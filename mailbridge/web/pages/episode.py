"""The Now page (every open episode) and one episode's page, its attachments, acknowledging
and the return interview outcome.

Every view of an episode and every download is an audit line; a person outside the child's
scope gets 403 (``core.access``, which ``core.for_episode`` runs before each handler here).
Acknowledging and recording an outcome call ``episodes.staff``, never SQL.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from mailbridge.episodes import staff
from mailbridge.store import episode_view, tx, views
from mailbridge.web import auth, mail_view
from mailbridge.web.core import Ctx, WebApp, act, for_episode, page, text

log = logging.getLogger(__name__)

# -- Now (the open episodes) ------------------------------------------------------------------


@page()
async def now_page(app: WebApp, ctx: Ctx) -> Response:
    """The open episodes; ``?fragment=1`` is the table alone, for the page's own poll.

    The query and the rendering both run in the thread pool (the app's event loop stays free).
    The table carries an ETag, a hash of its HTML: a poll that sends it back as
    ``If-None-Match`` and finds the table unchanged gets 304 and no body (now.js).
    """
    fragment = bool(ctx.request.query_params.get("fragment"))

    def build() -> str:
        now = app.now()
        with tx.read(app.reader) as s:
            rows = views.open_episodes(
                s, today=now.astimezone(app.settings.tz).date(), scope=ctx.scope
            )
        return app.html(
            ctx.request,
            "now_table.html" if fragment else "now.html",
            who=ctx.who,
            now=now,
            rows=rows,
            body=app.now_rows.html(rows, now),
            scope=ctx.scope,
        )

    body = (await run_in_threadpool(build)).encode()
    if not fragment:
        return HTMLResponse(body)
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    if etag in _etags(ctx.request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers={"ETag": etag})
    return HTMLResponse(body, headers={"ETag": etag})


def _etags(header: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in header.split(",")]


@for_episode("view")
async def episode_page(app: WebApp, ctx: Ctx, reference: str) -> Response:
    def load() -> tuple[
        episode_view.EpisodePage | None, list[tuple[episode_view.TimelineMessage, Any]]
    ]:
        with tx.write(app.engine) as s:
            data = episode_view.episode_page(s, reference, today=app.today())
            app.audit(s, ctx, entity="episode", entity_id=reference, action="viewed", detail=None)
            mails: list[tuple[episode_view.TimelineMessage, Any]] = []
            for m in data.messages if data else []:
                raw = None if m.purged else episode_view.message_raw(
                    s, reference=reference, inbound_id=m.inbound_id
                )
                mails.append((m, mail_view.view(raw) if raw else None))
            return data, mails

    data, mails = await run_in_threadpool(load)
    assert data is not None
    return app.render(
        ctx.request,
        "episode.html",
        who=ctx.who,
        e=data,
        f=data.facts,
        mails=mails,
        can_ack=_can_ack(ctx, data),
        can_interview=ctx.role in auth.CAN_INTERVIEW and data.facts.status == "returned",
        interview_form=None,
        interview_missing=(),
        notice=ctx.request.query_params.get("done", ""),
    )


def _can_ack(ctx: Ctx, data: episode_view.EpisodePage) -> bool:
    role = auth.ACK_ROLE.get(ctx.role)
    if role is None or data.facts.status != "open":
        return False
    me = (ctx.who.account.email or ctx.actor).lower()
    return not any(a.role == role and a.address.lower() == me for a in data.acks)


@for_episode("attachment")
async def attachment_download(app: WebApp, ctx: Ctx, reference: str) -> Response:
    inbound_id = int(ctx.request.path_params["msg"])
    index = int(ctx.request.path_params["n"])

    def load() -> tuple[str, bytes] | None:
        with tx.write(app.engine) as s:
            raw = episode_view.message_raw(s, reference=reference, inbound_id=inbound_id)
            part = mail_view.attachment(raw, index) if raw else None
            if part is not None:
                app.audit(
                    s,
                    ctx,
                    entity="episode",
                    entity_id=reference,
                    action="downloaded",
                    detail={"message": inbound_id, "attachment": index},
                )
            return part

    found = await run_in_threadpool(load)
    if found is None:
        return Response("not found", status_code=404)
    name, data = found
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120] or "attachment"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename=\"{safe}\"; filename*=UTF-8''"
            + quote(name),
        },
    )


@for_episode("acknowledge", tuple(auth.ACK_ROLE))
async def acknowledge(app: WebApp, ctx: Ctx, reference: str) -> Response:
    return await act(
        app,
        ctx,
        lambda s: staff.acknowledge(
            s,
            reference=reference,
            role=auth.ACK_ROLE[ctx.role],
            address=(ctx.who.account.email or ctx.actor).lower(),
            actor=ctx.actor,
            routing=app.routing,
            now=app.now(),
        ),
        f"/episodes/{reference}?done=acknowledged",
    )


@for_episode("interview", auth.CAN_INTERVIEW)
async def interview_outcome(app: WebApp, ctx: Ctx, reference: str) -> Response:
    form = staff.InterviewForm(
        result=text(ctx.form, "result"),
        held_on=text(ctx.form, "held_on"),
        interviewer=text(ctx.form, "interviewer"),
        reasons="; ".join(
            v for v in (ctx.form.getlist("reasons") if ctx.form else []) if isinstance(v, str)
        ),
        reason_not_held=text(ctx.form, "reason_not_held"),
        risks=text(ctx.form, "risks"),
        actions=text(ctx.form, "actions"),
    )
    outcome = staff.read_interview(
        form,
        reference=reference,
        codes=app.routing.interviews.reason_codes,
        today=app.today(),
    )
    if outcome.missing_parts:

        def reload() -> tuple[episode_view.EpisodePage | None, list[Any]]:
            with tx.read(app.engine) as s:
                data = episode_view.episode_page(s, reference, today=app.today())
                return data, []

        data, _ = await run_in_threadpool(reload)
        assert data is not None
        return app.render(
            ctx.request,
            "episode.html",
            400,
            who=ctx.who,
            e=data,
            f=data.facts,
            mails=[],
            can_ack=False,
            can_interview=True,
            interview_form=form,
            interview_missing=outcome.missing_parts,
            notice="",
        )

    return await act(
        app,
        ctx,
        lambda s: staff.record_interview(
            s,
            reference=reference,
            outcome=outcome,
            actor=ctx.actor,
            routing=app.routing,
            now=app.now(),
        ),
        f"/episodes/{reference}?done=interview",
    )

