"""Casework from the Episode and Triage pages: link, split, merge, void, returned, reopen,
correct and confirm, each through ``episodes.casework`` as the signed-in person.

The apprentice may correct facts and confirm readings but do nothing else (not void); a social
worker only on their own children's episodes, and a merge only into another of those. Every
refusal is 403 with an audit line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from mailbridge.episodes import casework
from mailbridge.errors import CaseworkRefused
from mailbridge.store import tx
from mailbridge.web import auth
from mailbridge.web.core import Ctx, WebApp, access, act, allowed, denied, page, text

log = logging.getLogger(__name__)

# -- casework ---------------------------------------------------------------------------------

CASEWORK = ("link", "split", "merge", "void", "returned", "reopen", "correct", "confirm")
# The apprentice corrects facts and confirms readings; the rest is casework proper.
CASEWORK_ROLES = {"correct": auth.CAN_CORRECT, "confirm": auth.CAN_CORRECT}


def _when(app: WebApp, value: str, label: str) -> datetime:
    """A time typed in the council's zone (the datetime-local form, or "YYYY-MM-DD HH:MM")."""
    try:
        naive = datetime.strptime(value.strip().replace("T", " "), "%Y-%m-%d %H:%M")
    except ValueError as exc:
        raise CaseworkRefused(f"{label}: give the date and time as YYYY-MM-DD HH:MM") from exc
    return naive.replace(tzinfo=app.settings.tz)


def _casework(app: WebApp, ctx: Ctx, op: str, reference: str, s: tx.Tx) -> casework.Result:
    """Call one casework operation with the form's fields, as the signed-in person."""
    form = ctx.form
    common: dict[str, Any] = {
        "by": ctx.actor,
        "note": text(form, "note") or None,
        "source": "web",
        "now": app.now(),
    }
    settings = app.settings
    if op == "link":
        return casework.link(s, settings, reference, text(form, "child_id"), **common)
    if op == "split":
        ids = [c.strip() for c in text(form, "child_ids").replace(";", ",").split(",")]
        return casework.split(s, settings, reference, [c for c in ids if c], **common)
    if op == "merge":
        return casework.merge(s, settings, reference, text(form, "into").upper(), **common)
    if op == "void":
        return casework.void(s, settings, reference, text(form, "reason"), **common)
    if op == "reopen":
        return casework.reopen(s, settings, reference, text(form, "reason"), **common)
    if op == "returned":
        at = _when(app, text(form, "at"), "returned at")
        return casework.returned(s, settings, reference, at, **common)
    if op == "confirm":
        return casework.confirm(s, settings, reference, **common)
    fields: dict[str, Any] = {
        name: text(form, name)
        for name in ("police_reference", "risk_level", "absence_type")
        if text(form, name)
    }
    if text(form, "last_seen"):
        fields["last_seen_at"] = _when(app, text(form, "last_seen"), "last seen")
    return casework.correct(s, settings, reference, **common, **fields)


@page(auth.CAN_CORRECT | auth.CAN_CASEWORK)
async def casework_action(app: WebApp, ctx: Ctx) -> Response:
    reference = ctx.request.path_params["ref"].upper()
    op = ctx.request.path_params["op"]
    if op not in CASEWORK:
        return Response("not found", status_code=404)
    if ctx.role not in CASEWORK_ROLES.get(op, auth.CAN_CASEWORK):
        await run_in_threadpool(app.note_refusal, ctx.request, ctx.who, "role_denied", op)
        return app.error(
            ctx.request,
            403,
            "Your role cannot do this",
            f"The {ctx.role.replace('_', ' ')} role cannot {op} an episode.",
            who=ctx.who,
        )
    refused = await access(app, ctx, reference, op)
    if refused is not None:
        return refused
    target = text(ctx.form, "into").upper() if op == "merge" else reference
    if op == "merge" and target:
        # Merging moves the target's mail and history: it must be within the scope as well.
        refused = await access(app, ctx, target, "merge into")
        if refused is not None:
            return refused
    if op in ("link", "split") and ctx.scope is not None:
        # A social worker may not put an episode on a child who is not theirs.
        named = text(ctx.form, "child_id") + "," + text(ctx.form, "child_ids")
        wanted = {c.strip() for c in named.replace(";", ",").split(",") if c.strip()}
        if not all(allowed(ctx, c) for c in wanted):
            return await run_in_threadpool(denied, app, ctx, reference, f"{op} to another child")
    return await act(
        app,
        ctx,
        lambda s: _casework(app, ctx, op, reference, s),
        f"/episodes/{target or reference}?done={op}",
        back=f"/episodes/{reference}",
    )

