"""The staff web app: Starlette routes over the store, server-rendered with Jinja2.

Every page needs a signed-in session (``/login``: a local account, or OpenID Connect); every
POST needs the session's CSRF token; every view of a child's record writes an audit row. The
database work of a request runs in Starlette's thread pool (``run_in_threadpool``), and the
whole app runs on its own thread and event loop (``server.WebServer``), so a slow page never
holds up the SMTP listener.

Pages read through ``views_sql`` (all their SQL) and act through the episode operations; there is
no SQL here.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, MutableHeaders, UploadFile
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailbridge.clock import Clock, system_clock
from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.directory import records
from mailbridge.episodes import casework, staff
from mailbridge.errors import CaseworkRefused, InvalidRequestError, MailbridgeError
from mailbridge.reports import ssda903
from mailbridge.reports.report import build_report
from mailbridge.routing.rules import Routing
from mailbridge.settings.config import Settings, load_routing_file
from mailbridge.store import accounts, views
from mailbridge.store import directory as directory_store
from mailbridge.store import inbound as store
from mailbridge.web import auth, mail_view
from mailbridge.web.oidc import OidcClient

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "mb_session"
NEXT_COOKIE = "mb_next"  # where to go after signing in
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self' {oidc}; frame-ancestors 'self'"
)
ROLE_LABEL = {
    "social_worker": "Social worker",
    "iro": "IRO",
    "team_manager": "Team manager",
    "duty": "Duty desk",
    "edt": "Emergency duty team",
    "manager": "Manager",
    "apprentice": "Apprentice",
    "admin": "Administrator",
}
RISK_LABEL = {"high": "High", "medium": "Medium", "low": "Low", None: "Not assessed"}
ACTION_LABEL = {
    "escalate_team_manager": "to the team manager",
    "escalate_duty": "to the duty desk",
    "still_missing": "still-missing reminder",
}


@dataclass
class Ctx:
    """One signed-in request."""

    request: Request
    who: accounts.SignedIn
    form: FormData | None
    scope: views.Scope

    @property
    def role(self) -> str:
        return self.who.account.role

    @property
    def actor(self) -> str:
        return self.who.account.username


Handler = Callable[["WebApp", Ctx], Awaitable[Response]]


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min"


class WebApp:
    """The state every request shares: settings, the engine, the clock, the routing file."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock = system_clock,
        routing: Routing | None = None,
    ) -> None:
        self.settings = settings
        self.web = settings.web
        self.engine = engine
        self.clock = clock
        self.routing = routing or load_routing_file(settings)
        secret = reply_secret(settings)
        self.login_key = auth.derive_key(secret, "login-form")
        self.state_key = auth.derive_key(secret, "oidc-state").hex()
        self.oidc = OidcClient.from_settings(self.web)
        self.env = Environment(
            loader=FileSystemLoader(str(HERE / "templates")),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = self.local
        self.env.filters["localdate"] = lambda d: d.strftime("%d %b %Y") if d else "-"
        self.env.filters["duration"] = _duration
        self.env.filters["iso_local"] = lambda v: self.local(
            datetime.fromisoformat(v) if v else None
        )
        self.env.globals["risk_label"] = RISK_LABEL
        self.env.filters["role"] = lambda r: ROLE_LABEL.get(r, str(r).replace("_", " "))
        self.env.globals["action_label"] = ACTION_LABEL
        self.env.globals["reason_codes"] = self.routing.interviews.reason_codes

    # -- helpers --------------------------------------------------------------------------

    def local(self, value: datetime | None, fmt: str = "%a %d %b %H:%M") -> str:
        if value is None:
            return "-"
        return value.astimezone(self.settings.tz).strftime(fmt)

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.now().astimezone(self.settings.tz).date()

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as session, session.begin():
            yield session

    def secure(self, request: Request) -> bool:
        mode = self.web.cookie_secure
        if mode == "auto":
            return request.url.scheme == "https"
        return mode == "always"

    def render(
        self, request: Request, name: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        who = values.pop("who", None)
        html = self.env.get_template(name).render(
            request=request,
            who=who,
            auth=auth,
            now=self.now(),
            oidc_label=self.oidc.label if self.oidc else None,
            **values,
        )
        return HTMLResponse(html, status_code=status)

    def audit(self, session: Session, ctx: Ctx | None, **kw: Any) -> None:
        store.audit(session, at=self.now(), actor=ctx.actor if ctx else kw.pop("actor"), **kw)

    # -- sessions -------------------------------------------------------------------------

    def signed_in(self, request: Request) -> accounts.SignedIn | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        with self.session() as s:
            return accounts.find_session(
                s,
                auth.token_hash(token),
                now=self.now(),
                idle=timedelta(minutes=self.web.idle_minutes),
            )

    def scope_of(self, who: accounts.SignedIn) -> views.Scope:
        role = who.account.role
        if role in auth.SEES_ALL:
            return None
        with self.session() as s:
            return views.allocated_children(
                s, role=auth.OWN_CHILDREN.get(role, role), email=who.account.email
            )

    def start_session(self, request: Request, account: accounts.Account, method: str) -> Response:
        token = auth.new_token()
        with self.session() as s:
            accounts.start_session(
                s,
                account_id=account.id,
                token_hash=auth.token_hash(token),
                csrf_token=auth.new_token(),
                method=method,
                now=self.now(),
                lifetime=timedelta(hours=self.web.session_hours),
            )
            store.audit(
                s,
                at=self.now(),
                actor=account.username,
                entity="web_user",
                entity_id=account.username,
                action="signed_in",
                detail={"method": method},
            )
        nxt = request.cookies.get(NEXT_COOKIE, "")
        target = nxt if nxt.startswith("/") and not nxt.startswith("//") else "/episodes"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(NEXT_COOKIE, path="/")
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=self.web.session_hours * 3600,
            httponly=True,
            secure=self.secure(request),
            samesite="lax",
            path="/",
        )
        return response


def page(
    roles: frozenset[str] | tuple[str, ...] = auth.ROLES,
) -> Callable[[Handler], Callable[[WebApp], Callable[[Request], Awaitable[Response]]]]:
    """Sign-in, role and CSRF checks around a page; the handler gets a ``Ctx``."""

    def wrap(fn: Handler) -> Callable[[WebApp], Callable[[Request], Awaitable[Response]]]:
        def bind(app: WebApp) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                who = await run_in_threadpool(app.signed_in, request)
                if who is None:
                    response = RedirectResponse("/login", status_code=303)
                    response.delete_cookie(SESSION_COOKIE, path="/")
                    if request.method == "GET" and "fragment" not in request.query_params:
                        # Back here after signing in; the path holds at most a reference.
                        response.set_cookie(
                            NEXT_COOKIE,
                            request.url.path,
                            max_age=900,
                            httponly=True,
                            secure=app.secure(request),
                            samesite="lax",
                            path="/",
                        )
                    return response
                if who.account.role not in roles:
                    return app.render(
                        request,
                        "error.html",
                        403,
                        who=who,
                        title="You cannot see this page",
                        message="Your role does not give access to this page.",
                    )
                form = None
                if request.method == "POST":
                    form = await request.form(max_files=2, max_fields=200)
                    if not auth.same_token(_text(form, "csrf_token"), who.csrf_token):
                        return app.render(
                            request,
                            "error.html",
                            403,
                            who=who,
                            title="This form has expired",
                            message="Go back, reload the page and try again.",
                        )
                scope = await run_in_threadpool(app.scope_of, who)
                return await fn(app, Ctx(request, who, form, scope))

            return endpoint

        return bind

    return wrap


def _text(form: FormData | None, name: str) -> str:
    if form is None:
        return ""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# -- sign-in ----------------------------------------------------------------------------------


async def login_page(app: WebApp, request: Request) -> Response:
    who = await run_in_threadpool(app.signed_in, request)
    if who is not None and request.method == "GET":
        return RedirectResponse("/episodes", status_code=303)
    if request.method == "GET":
        return app.render(request, "login.html", csrf=auth.login_token(app.login_key), error=None)
    form = await request.form(max_files=0, max_fields=10)
    username = _text(form, "username")
    password = form.get("password")
    if not auth.login_token_ok(app.login_key, _text(form, "csrf_token")):
        return app.render(
            request,
            "login.html",
            403,
            csrf=auth.login_token(app.login_key),
            error="The sign-in form had expired. Please try again.",
        )
    account = await run_in_threadpool(
        _check_login, app, username, password if isinstance(password, str) else ""
    )
    if account is None:
        return app.render(
            request,
            "login.html",
            401,
            csrf=auth.login_token(app.login_key),
            error="The username or password is not right.",
            username=username,
        )
    if account.has_totp:
        return _code_form(app, request, account.id, None, 200)
    return await run_in_threadpool(app.start_session, request, account, "password")


def _code_form(
    app: WebApp, request: Request, account_id: int, error: str | None, status: int
) -> Response:
    return app.render(
        request,
        "login_code.html",
        status,
        csrf=auth.login_token(app.login_key),
        pending=auth.pending_token(app.login_key, account_id),
        error=error,
    )


async def login_code(app: WebApp, request: Request) -> Response:
    """The second step for an account with TOTP: the code from the person's authenticator."""
    form = await request.form(max_files=0, max_fields=10)
    account_id = auth.pending_account(app.login_key, _text(form, "pending"))
    if not auth.login_token_ok(app.login_key, _text(form, "csrf_token")) or account_id is None:
        return app.render(
            request,
            "login.html",
            403,
            csrf=auth.login_token(app.login_key),
            error="The sign-in took too long. Please start again.",
        )
    account = await run_in_threadpool(_check_code, app, account_id, _text(form, "code"))
    if account is None:
        return _code_form(app, request, account_id, "The code is not right.", 401)
    return await run_in_threadpool(app.start_session, request, account, "password+totp")


def _check_code(app: WebApp, account_id: int, code: str) -> accounts.Account | None:
    with app.session() as s:
        found = accounts.totp_secret_of(s, account_id)
        if found is None:
            return None
        account, secret = found
        if secret is None or not account.active:
            return None
        ok = auth.totp_ok(secret, code, app.now())
        if not ok:
            store.audit(
                s,
                at=app.now(),
                actor=account.username,
                entity="web_user",
                entity_id=account.username,
                action="sign_in_failed",
                detail={"step": "totp"},
            )
        return account if ok else None


def _check_login(app: WebApp, username: str, password: str) -> accounts.Account | None:
    with app.session() as s:
        found = accounts.password_hash_of(s, username) if username else None
        account, stored = found if found is not None else (None, None)
        checked = auth.check_password(password, stored)
        ok = checked.ok and account is not None and account.active
        if ok and checked.rehash and account is not None:
            accounts.set_password(s, account.username, checked.rehash, app.now())
        store.audit(
            s,
            at=app.now(),
            actor=username[:120] or "-",
            entity="web_user",
            entity_id=username[:80] or "-",
            action="sign_in_failed" if not ok else "password_ok",
            detail=None,
        )
        return account if ok else None


@page()
async def logout(app: WebApp, ctx: Ctx) -> Response:
    token = ctx.request.cookies.get(SESSION_COOKIE, "")

    def end() -> None:
        with app.session() as s:
            accounts.end_session(s, auth.token_hash(token))
            app.audit(
                s, ctx, entity="web_user", entity_id=ctx.actor, action="signed_out", detail=None
            )

    await run_in_threadpool(end)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def oidc_start(app: WebApp, request: Request) -> Response:
    if app.oidc is None:
        return Response("OpenID Connect is not configured", status_code=404)
    return await app.oidc.redirect(request, str(request.url_for("oidc_callback")))


async def oidc_callback(app: WebApp, request: Request) -> Response:
    if app.oidc is None:
        return Response("OpenID Connect is not configured", status_code=404)
    try:
        claims = await app.oidc.claims(request)
    except MailbridgeError as exc:
        return app.render(
            request, "error.html", 400, title="Sign-in did not complete", message=str(exc)
        )

    def find() -> accounts.Account | None:
        with app.session() as s:
            account = None
            email = str(claims.get("email") or "")
            if email:
                account = accounts.account_by_email(s, email)
            name = str(claims.get(app.web.oidc_username_claim) or "")
            if account is None and name:
                account = accounts.account_by_name(s, name)
            if account is None or not account.active:
                store.audit(
                    s,
                    at=app.now(),
                    actor=(email or name or str(claims.get("sub")))[:120],
                    entity="web_user",
                    entity_id=(email or name or "-")[:80],
                    action="sign_in_refused",
                    detail={"method": "oidc", "reason": "no active account"},
                )
                return None
            return account

    account = await run_in_threadpool(find)
    if account is None:
        return app.render(
            request,
            "error.html",
            403,
            title="No mailbridge account",
            message="Your organisation signed you in, but there is no active mailbridge "
            "account for you. Ask an administrator to add one with your email address.",
        )
    return await run_in_threadpool(app.start_session, request, account, "oidc")


# -- Now (the open episodes) ------------------------------------------------------------------


@page()
async def now_page(app: WebApp, ctx: Ctx) -> Response:
    def load() -> list[views.NowRow]:
        with app.session() as s:
            return views.open_episodes(s, today=app.today(), scope=ctx.scope)

    rows = await run_in_threadpool(load)
    name = "now_table.html" if ctx.request.query_params.get("fragment") else "now.html"
    return app.render(ctx.request, name, who=ctx.who, rows=rows, scope=ctx.scope)


# -- one episode ------------------------------------------------------------------------------


def _allowed(ctx: Ctx, child_id: str | None) -> bool:
    return ctx.scope is None or (child_id is not None and child_id in ctx.scope)


def _denied(app: WebApp, ctx: Ctx, reference: str, what: str) -> Response:
    def note() -> None:
        with app.session() as s:
            app.audit(
                s,
                ctx,
                entity="episode",
                entity_id=reference.upper(),
                action="view_denied",
                detail={"role": ctx.role, "what": what},
            )

    note()
    log.warning("web: %s denied %s of %s", ctx.actor, what, reference.upper())
    return app.render(
        ctx.request,
        "error.html",
        403,
        who=ctx.who,
        title="You cannot see this episode",
        message="This child is not allocated to you. The attempt has been recorded.",
    )


async def _access(app: WebApp, ctx: Ctx, reference: str, what: str) -> Response | None:
    """None when the person may see the episode; else the 404 or 403 response to send."""

    def look() -> tuple[int, str | None] | None:
        with app.session() as s:
            return views.episode_access(s, reference)

    found = await run_in_threadpool(look)
    if found is None:
        return app.render(
            ctx.request,
            "error.html",
            404,
            who=ctx.who,
            title="Episode not found",
            message=f"There is no episode {reference.upper()}.",
        )
    if not _allowed(ctx, found[1]):
        return await run_in_threadpool(_denied, app, ctx, reference, "view")
    return None


@page()
async def episode_page(app: WebApp, ctx: Ctx) -> Response:
    reference = ctx.request.path_params["ref"].upper()
    refused = await _access(app, ctx, reference, "view")
    if refused is not None:
        return refused

    def load() -> tuple[views.EpisodePage | None, list[tuple[views.TimelineMessage, Any]]]:
        with app.session() as s:
            data = views.episode_page(s, reference, today=app.today())
            app.audit(s, ctx, entity="episode", entity_id=reference, action="viewed", detail=None)
            mails: list[tuple[views.TimelineMessage, Any]] = []
            for m in data.messages if data else []:
                raw = None if m.purged else views.message_raw(
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


def _can_ack(ctx: Ctx, data: views.EpisodePage) -> bool:
    role = auth.ACK_ROLE.get(ctx.role)
    if role is None or data.facts.status != "open":
        return False
    me = (ctx.who.account.email or ctx.actor).lower()
    return not any(a.role == role and a.address.lower() == me for a in data.acks)


@page()
async def attachment_download(app: WebApp, ctx: Ctx) -> Response:
    reference = ctx.request.path_params["ref"].upper()
    refused = await _access(app, ctx, reference, "attachment")
    if refused is not None:
        return refused
    inbound_id = int(ctx.request.path_params["msg"])
    index = int(ctx.request.path_params["n"])

    def load() -> tuple[str, bytes] | None:
        with app.session() as s:
            raw = views.message_raw(s, reference=reference, inbound_id=inbound_id)
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


async def _act(
    app: WebApp,
    ctx: Ctx,
    work: Callable[[Session], object],
    done: str,
    *,
    back: str | None = None,
) -> Response:
    """Run one action in its own transaction; a refusal is shown with its reason (409).

    ``back`` is the page the refusal links back to (the episode the person was working on).
    """

    def run() -> None:
        with app.session() as s:
            work(s)

    try:
        await run_in_threadpool(run)
    except MailbridgeError as exc:
        return app.render(
            ctx.request,
            "error.html",
            409,
            who=ctx.who,
            title="Not done",
            message=str(exc),
            back=back,
        )
    return RedirectResponse(done, status_code=303)


@page(tuple(auth.ACK_ROLE))
async def acknowledge(app: WebApp, ctx: Ctx) -> Response:
    reference = ctx.request.path_params["ref"].upper()
    refused = await _access(app, ctx, reference, "acknowledge")
    if refused is not None:
        return refused

    return await _act(
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


@page(auth.CAN_INTERVIEW)
async def interview_outcome(app: WebApp, ctx: Ctx) -> Response:
    reference = ctx.request.path_params["ref"].upper()
    refused = await _access(app, ctx, reference, "interview")
    if refused is not None:
        return refused
    form = staff.InterviewForm(
        result=_text(ctx.form, "result"),
        held_on=_text(ctx.form, "held_on"),
        interviewer=_text(ctx.form, "interviewer"),
        reasons="; ".join(
            v for v in (ctx.form.getlist("reasons") if ctx.form else []) if isinstance(v, str)
        ),
        reason_not_held=_text(ctx.form, "reason_not_held"),
        risks=_text(ctx.form, "risks"),
        actions=_text(ctx.form, "actions"),
    )
    outcome = staff.read_interview(
        form,
        reference=reference,
        codes=app.routing.interviews.reason_codes,
        today=app.today(),
    )
    if outcome.missing_parts:

        def reload() -> tuple[views.EpisodePage | None, list[Any]]:
            with app.session() as s:
                data = views.episode_page(s, reference, today=app.today())
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

    return await _act(
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


def _casework(app: WebApp, ctx: Ctx, op: str, reference: str, s: Session) -> casework.Result:
    """Call one casework operation with the form's fields, as the signed-in person."""
    form = ctx.form
    common: dict[str, Any] = {
        "by": ctx.actor,
        "note": _text(form, "note") or None,
        "source": "web",
        "now": app.now(),
    }
    settings = app.settings
    if op == "link":
        return casework.link(s, settings, reference, _text(form, "child_id"), **common)
    if op == "split":
        ids = [c.strip() for c in _text(form, "child_ids").replace(";", ",").split(",")]
        return casework.split(s, settings, reference, [c for c in ids if c], **common)
    if op == "merge":
        return casework.merge(s, settings, reference, _text(form, "into").upper(), **common)
    if op == "void":
        return casework.void(s, settings, reference, _text(form, "reason"), **common)
    if op == "reopen":
        return casework.reopen(s, settings, reference, _text(form, "reason"), **common)
    if op == "returned":
        at = _when(app, _text(form, "at"), "returned at")
        return casework.returned(s, settings, reference, at, **common)
    if op == "confirm":
        return casework.confirm(s, settings, reference, **common)
    fields: dict[str, Any] = {
        name: _text(form, name)
        for name in ("police_reference", "risk_level", "absence_type")
        if _text(form, name)
    }
    if _text(form, "last_seen"):
        fields["last_seen_at"] = _when(app, _text(form, "last_seen"), "last seen")
    return casework.correct(s, settings, reference, **common, **fields)


@page(auth.CAN_CORRECT | auth.CAN_CASEWORK)
async def casework_action(app: WebApp, ctx: Ctx) -> Response:
    reference = ctx.request.path_params["ref"].upper()
    op = ctx.request.path_params["op"]
    if op not in CASEWORK:
        return Response("not found", status_code=404)
    if ctx.role not in CASEWORK_ROLES.get(op, auth.CAN_CASEWORK):
        return app.render(
            ctx.request,
            "error.html",
            403,
            who=ctx.who,
            title="Your role cannot do this",
            message=f"The {ctx.role.replace('_', ' ')} role cannot {op} an episode.",
        )
    refused = await _access(app, ctx, reference, op)
    if refused is not None:
        return refused
    target = _text(ctx.form, "into").upper() if op == "merge" else reference
    return await _act(
        app,
        ctx,
        lambda s: _casework(app, ctx, op, reference, s),
        f"/episodes/{target or reference}?done={op}",
        back=f"/episodes/{reference}",
    )


# -- triage, interviews -----------------------------------------------------------------------


@page(auth.CAN_TRIAGE)
async def triage_page(app: WebApp, ctx: Ctx) -> Response:
    def load() -> views.Triage:
        with app.session() as s:
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

    return await _act(
        app,
        ctx,
        lambda s: store.reset_for_reprocess(s, message_id, now=app.now(), actor=ctx.actor),
        f"/triage?reprocessed={message_id}",
    )


@page()
async def interviews_page(app: WebApp, ctx: Ctx) -> Response:
    def load() -> dict[str, list[views.InterviewRow]]:
        with app.session() as s:
            return views.interviews(
                s, now=app.now(), scope=ctx.scope, done_since=app.now() - timedelta(days=31)
            )

    lists = await run_in_threadpool(load)
    return app.render(ctx.request, "interviews.html", who=ctx.who, lists=lists)


# -- figures ----------------------------------------------------------------------------------


def _period(request: Request, today: date) -> tuple[date, date]:
    first = today.replace(day=1)
    try:
        start = date.fromisoformat(request.query_params.get("start", "") or first.isoformat())
        end = date.fromisoformat(request.query_params.get("end", "") or today.isoformat())
    except ValueError:
        start, end = first, today
    if end < start:
        start, end = end, start
    return start, end


@page(auth.CAN_FIGURES)
async def figures_page(app: WebApp, ctx: Ctx) -> Response:
    start, end = _period(ctx.request, app.today())

    def load() -> Any:
        return build_report(app.engine, app.settings, start, end, now=app.now())

    report = await run_in_threadpool(load)
    year = ssda903.parse_year(str(app.today().year - (1 if app.today().month < 4 else 0)))
    return app.render(
        ctx.request,
        "figures.html",
        who=ctx.who,
        r=report,
        rows=list(report.rows()),
        charts=report.charts(),
        start=start,
        end=end,
        year=ctx.request.query_params.get("year", str(year.first_day.year)),
    )


@page(auth.CAN_FIGURES)
async def figures_report(app: WebApp, ctx: Ctx) -> Response:
    start, end = _period(ctx.request, app.today())
    report = await run_in_threadpool(
        lambda: build_report(app.engine, app.settings, start, end, now=app.now())
    )
    response = HTMLResponse(report.html())
    # The report is a standalone document with its own inline styles and SVG charts.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    )
    return response


@page(auth.CAN_FIGURES)
async def ssda903_page(app: WebApp, ctx: Ctx) -> Response:
    try:
        year = ssda903.parse_year(ctx.request.query_params.get("year", ""))
    except (MailbridgeError, ValueError) as exc:
        return app.render(
            ctx.request, "error.html", 400, who=ctx.who, title="Not a year", message=str(exc)
        )

    def load() -> tuple[list[ssda903.MissingRow], list[ssda903.Violation]]:
        with app.session() as s:
            rows = ssda903.load_rows(s, year, app.settings.tz)
        return rows, ssda903.validate(rows, year)

    rows, problems = await run_in_threadpool(load)
    if ctx.request.query_params.get("download") and not problems:

        def note() -> None:
            with app.session() as s:
                app.audit(
                    s,
                    ctx,
                    entity="ssda903",
                    entity_id=year.label,
                    action="exported",
                    detail={"rows": len(rows)},
                )

        await run_in_threadpool(note)
        return Response(
            ssda903.render_csv(rows, year),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="ssda903-missing-{year.label}.csv"'
            },
        )
    return app.render(
        ctx.request, "ssda903.html", who=ctx.who, year=year, rows=rows, problems=problems
    )


# -- directory --------------------------------------------------------------------------------


@page(auth.CAN_DIRECTORY)
async def directory_page(app: WebApp, ctx: Ctx) -> Response:
    query = _text(ctx.form, "q")

    def load() -> tuple[int, list[views.DirectoryChild]]:
        with app.session() as s:
            found = views.search_children(s, query) if query else []
            if query:
                app.audit(
                    s,
                    ctx,
                    entity="directory",
                    entity_id="search",
                    action="searched",
                    detail={"results": len(found)},
                )
            return views.count_children(s), found

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
        return records.decode_csv(data) if data else ""
    return _text(form, "csv_text")


@page(auth.CAN_EDIT_DIRECTORY)
async def directory_upload(app: WebApp, ctx: Ctx) -> Response:
    text = await _csv_from(ctx.form)
    apply = _text(ctx.form, "apply") == "yes"
    parsed = records.parse_csv(text)

    def run() -> tuple[int, records.ImportReport]:
        with app.session() as s:
            if apply:
                report = directory_store.import_directory(s, parsed, now=app.now(), actor=ctx.actor)
            else:
                report = directory_store.preview_import(s, parsed, now=app.now(), actor=ctx.actor)
            return views.count_children(s), report

    try:
        count, report = await run_in_threadpool(run)
    except MailbridgeError as exc:
        return app.render(
            ctx.request, "error.html", 400, who=ctx.who, title="Not imported", message=str(exc)
        )
    return app.render(
        ctx.request,
        "directory.html",
        who=ctx.who,
        count=count,
        query="",
        found=[],
        preview=None if apply else report,
        csv_text=text,
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

    def load() -> tuple[list[views.AuditLine], list[str]]:
        with app.session() as s:
            lines = views.audit_lines(
                s,
                actor=filters["actor"],
                entity_id=filters["entity_id"],
                action=filters["action"],
                since=day("from"),
                until=day("to", 1),
            )
            return lines, views.audit_actions(s)

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
        op = _text(ctx.form, "op")
        try:
            message = await run_in_threadpool(_user_op, app, ctx, op)
        except MailbridgeError as exc:
            message, status = str(exc), 400

    def load() -> list[accounts.Account]:
        with app.session() as s:
            return accounts.list_accounts(s)

    users = await run_in_threadpool(load)
    return app.render(
        ctx.request, "users.html", status, who=ctx.who, users=users, message=message
    )


def _user_op(app: WebApp, ctx: Ctx, op: str) -> str:
    form: Mapping[str, Any] = ctx.form or {}
    with app.session() as s:
        if op == "add":
            username = _text(ctx.form, "username")
            role = _text(ctx.form, "role")
            if not username or role not in auth.ROLES:
                raise InvalidRequestError("a new account needs a username and one of the roles")
            password = str(form.get("password") or "")
            accounts.add_account(
                s,
                username=username,
                role=role,
                email=_text(ctx.form, "email") or None,
                display_name=_text(ctx.form, "display_name") or None,
                password_hash=auth.hash_password(password) if password else None,
                now=app.now(),
            )
            app.audit(
                s, ctx, entity="web_user", entity_id=username, action="user_added",
                detail={"role": role},
            )
            return f"Account {username} added as {role}."
        if op in ("disable", "enable"):
            account_id = int(_text(ctx.form, "id") or 0)
            accounts.set_active(s, account_id, op == "enable", app.now())
            app.audit(
                s, ctx, entity="web_user", entity_id=str(account_id), action=f"user_{op}d",
                detail=None,
            )
            return f"Account {op}d."
    raise InvalidRequestError(f"unknown operation {op!r}")


class SecurityHeaders:
    """CSP, nosniff, no referrer off-site, and no caching of pages that carry children's data."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = self.csp
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["X-Frame-Options"] = "SAMEORIGIN"
                if not static:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- the app ----------------------------------------------------------------------------------


async def root(request: Request) -> Response:
    return RedirectResponse("/episodes", status_code=303)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    clock: Clock = system_clock,
    routing: Routing | None = None,
) -> Starlette:
    """The ASGI app for ``settings.web``; ``clock`` is injected by tests."""
    web = WebApp(settings, engine, clock=clock, routing=routing)
    csp = CSP.format(oidc=web.oidc.origin if web.oidc else "")

    def plain(fn: Callable[[WebApp, Request], Awaitable[Response]]) -> Any:
        async def endpoint(request: Request) -> Response:
            return await fn(web, request)

        return endpoint

    routes = [
        Route("/", root),
        Route("/login", plain(login_page), methods=["GET", "POST"]),
        Route("/login/code", plain(login_code), methods=["POST"]),
        Route("/login/oidc", plain(oidc_start)),
        Route("/login/oidc/callback", plain(oidc_callback), name="oidc_callback"),
        Route("/logout", logout(web), methods=["POST"]),
        Route("/episodes", now_page(web)),
        Route("/now", now_page(web)),
        Route("/episodes/{ref}", episode_page(web)),
        Route("/episodes/{ref}/acknowledge", acknowledge(web), methods=["POST"]),
        Route("/episodes/{ref}/interview", interview_outcome(web), methods=["POST"]),
        Route("/episodes/{ref}/casework/{op}", casework_action(web), methods=["POST"]),
        Route("/episodes/{ref}/messages/{msg:int}/attachments/{n:int}", attachment_download(web)),
        Route("/triage", triage_page(web)),
        Route("/messages/{msg:int}/reprocess", reprocess(web), methods=["POST"]),
        Route("/interviews", interviews_page(web)),
        Route("/figures", figures_page(web)),
        Route("/figures/report", figures_report(web)),
        Route("/figures/ssda903", ssda903_page(web)),
        Route("/directory", directory_page(web), methods=["GET", "POST"]),
        Route("/directory/upload", directory_upload(web), methods=["POST"]),
        Route("/audit", audit_page(web)),
        Route("/users", users_page(web), methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,  # only the OpenID Connect state and nonce, for ten minutes
            secret_key=web.state_key,
            session_cookie="mb_oidc",
            max_age=600,
            same_site="lax",
            https_only=settings.web.cookie_secure == "always",
        ),
    ]
    middleware.append(Middleware(SecurityHeaders, csp=csp))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.web = web
    return app


__all__ = ["create_app"]
