"""The Directory (search; CSV upload with a preview before it is applied), the Audit log
(filterable, CSV) and the Users page (admin only).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from mailbridge.directory import csv_file, records
from mailbridge.errors import InvalidRequestError, MailbridgeError
from mailbridge.store import accounts, registers, tx
from mailbridge.store import directory as directory_store
from mailbridge.web import auth
from mailbridge.web.core import Ctx, WebApp, page, text

log = logging.getLogger(__name__)

# -- directory --------------------------------------------------------------------------------


@page(auth.CAN_DIRECTORY)
async def directory_page(app: WebApp, ctx: Ctx) -> Response:
    query = text(ctx.form, "q")

    def load() -> tuple[int, list[registers.DirectoryChild]]:
        with tx.write(app.engine) as s:
            found = registers.search_children(s, query) if query else []
            if query:
                app.audit(
                    s,
                    ctx,
                    entity="directory",
                    entity_id="search",
                    action="searched",
                    detail={"results": len(found)},
                )
            return registers.count_children(s), found

    count, found = await run_in_threadpool(load)
    return app.render(
        ctx.request,
        "directory.html",
        who=ctx.who,
        count=count,
        query=query,
        found=found,
        preview=None,
        csv_text="",
        applied=None,
    )


async def _csv_from(form: FormData | None) -> str:
    if form is None:
        return ""
    upload = form.get("file")
    if isinstance(upload, UploadFile):
        data = await upload.read()
        return csv_file.decode_csv(data) if data else ""
    return text(form, "csv_text")


@page(auth.CAN_EDIT_DIRECTORY)
async def directory_upload(app: WebApp, ctx: Ctx) -> Response:
    apply = text(ctx.form, "apply") == "yes"
    csv_text = ""

    def run() -> tuple[int, records.ImportReport]:
        parsed = csv_file.parse_csv(csv_text)  # a bad file is a 400 with its reason, not a 500
        with tx.write(app.engine) as s:
            if apply:
                report = directory_store.import_directory(s, parsed, now=app.now(), actor=ctx.actor)
            else:
                report = directory_store.preview_import(s, parsed, now=app.now(), actor=ctx.actor)
            return registers.count_children(s), report

    try:
        csv_text = await _csv_from(ctx.form)
        count, report = await run_in_threadpool(run)
    except MailbridgeError as exc:
        return app.error(ctx.request, 400, "Not imported", str(exc), who=ctx.who)
    return app.render(
        ctx.request,
        "directory.html",
        who=ctx.who,
        count=count,
        query="",
        found=[],
        preview=None if apply else report,
        csv_text=csv_text,
        applied=report if apply else None,
    )


# -- audit and users --------------------------------------------------------------------------


@page(auth.CAN_AUDIT)
async def audit_page(app: WebApp, ctx: Ctx) -> Response:
    q = ctx.request.query_params
    filters = {
        "actor": q.get("actor", "").strip(),
        "entity_id": q.get("ref", "").strip(),
        "action": q.get("action", "").strip(),
    }
    tz = app.settings.tz

    def day(name: str, plus: int = 0) -> datetime | None:
        try:
            d = date.fromisoformat(q.get(name, ""))
        except ValueError:
            return None
        return datetime(d.year, d.month, d.day, tzinfo=tz) + timedelta(days=plus)

    def load() -> tuple[list[registers.AuditLine], list[str]]:
        with tx.read(app.engine) as s:
            lines = registers.audit_lines(
                s,
                actor=filters["actor"],
                entity_id=filters["entity_id"],
                action=filters["action"],
                since=day("from"),
                until=day("to", 1),
            )
            return lines, registers.audit_actions(s)

    lines, actions = await run_in_threadpool(load)
    if q.get("format") == "csv":
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["at", "actor", "entity", "entity_id", "action"])
        for line in lines:
            w.writerow([line.at.isoformat(), line.actor, line.entity, line.entity_id, line.action])
        return Response(out.getvalue(), media_type="text/csv")
    return app.render(
        ctx.request,
        "audit.html",
        who=ctx.who,
        lines=lines,
        actions=actions,
        f={**filters, "from": q.get("from", ""), "to": q.get("to", "")},
    )


@page(auth.CAN_USERS)
async def users_page(app: WebApp, ctx: Ctx) -> Response:
    message = ""
    status = 200
    if ctx.form is not None:
        op = text(ctx.form, "op")
        try:
            message = await run_in_threadpool(_user_op, app, ctx, op)
        except MailbridgeError as exc:
            message, status = str(exc), 400

    def load() -> list[accounts.Account]:
        with tx.read(app.engine) as s:
            return accounts.list_accounts(s)

    users = await run_in_threadpool(load)
    return app.render(
        ctx.request, "users.html", status, who=ctx.who, users=users, message=message
    )


def _user_op(app: WebApp, ctx: Ctx, op: str) -> str:
    form: Mapping[str, Any] = ctx.form or {}
    with tx.write(app.engine) as s:
        if op == "add":
            username = text(ctx.form, "username")
            role = text(ctx.form, "role")
            if not username or role not in auth.ROLES:
                raise InvalidRequestError("a new account needs a username and one of the roles")
            password = str(form.get("password") or "")
            accounts.add_account(
                s,
                username=username,
                role=role,
                email=text(ctx.form, "email") or None,
                display_name=text(ctx.form, "display_name") or None,
                password_hash=auth.hash_password(password) if password else None,
                now=app.now(),
            )
            app.audit(
                s, ctx, entity="web_user", entity_id=username, action="user_added",
                detail={"role": role},
            )
            return f"Account {username} added as {role}."
        if op in ("disable", "enable"):
            account_id = int(text(ctx.form, "id") or 0)
            accounts.set_active(s, account_id, op == "enable", app.now())
            app.audit(
                s, ctx, entity="web_user", entity_id=str(account_id), action=f"user_{op}d",
                detail=None,
            )
            return f"Account {op}d."
    raise InvalidRequestError(f"unknown operation {op!r}")

