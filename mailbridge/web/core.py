"""The state and the checks every page shares: the app object, the signed-in request, the role,
CSRF and access checks, and the one way an action runs.

``page(roles)`` wraps a handler: no session sends the person to ``/login``; a role outside
``roles`` gets 403 and an audit line; a POST without the session's CSRF token gets 403. A page
that shows one child's episode calls ``access`` first (``for_episode`` does it for the episode
in the path), which answers 404 or 403 (with a ``view_denied`` audit line) for a child outside
the person's scope. The database work runs in Starlette's thread pool through ``store.tx`` and
the named queries of ``store/`` (no SQL here).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mailbridge.clock import Clock, system_clock
from mailbridge.delivery.reply_secret import reply_secret
from mailbridge.errors import MailbridgeError
from mailbridge.routing.rules import Routing
from mailbridge.settings.config import Settings, load_routing_file
from mailbridge.store import accounts, db, tx, views
from mailbridge.store import inbound as store
from mailbridge.web import auth
from mailbridge.web.now_rows import NowRows
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
# A handler of the episode in the path, given its reference (upper case).
EpisodeHandler = Callable[["WebApp", Ctx, str], Awaitable[Response]]


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
        engine: tx.Engine,
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
            # Templates ship with the code: no stat() of each file on every page.
            auto_reload=False,
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
        self.now_rows = NowRows(
            self.local, risk_label=RISK_LABEL, action_label=ACTION_LABEL, duration=_duration
        )
        # Pages that only read take a plain BEGIN on SQLite (store/db.py): a WAL snapshot that
        # neither waits for nor holds up the writer a carer's report needs.
        self.reader = engine.execution_options(**{db.READ_ONLY: True})

    # -- helpers --------------------------------------------------------------------------

    def local(self, value: datetime | None, fmt: str = "%a %d %b %H:%M") -> str:
        if value is None:
            return "-"
        return value.astimezone(self.settings.tz).strftime(fmt)

    def now(self) -> datetime:
        return self.clock()

    def today(self) -> date:
        return self.now().astimezone(self.settings.tz).date()

    def secure(self, request: Request) -> bool:
        mode = self.web.cookie_secure
        if mode == "auto":
            return request.url.scheme == "https"
        return mode == "always"

    def render(
        self, request: Request, name: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        return HTMLResponse(self.html(request, name, **values), status_code=status)

    def error(
        self,
        request: Request,
        status: int,
        title: str,
        message: str,
        *,
        who: accounts.SignedIn | None = None,
        back: str | None = None,
    ) -> HTMLResponse:
        """The error page: what went wrong and, with ``back``, the page to go back to."""
        return self.render(
            request, "error.html", status, who=who, title=title, message=message, back=back
        )

    def html(self, request: Request, name: str, **values: Any) -> str:
        """The page as text; safe to call from the thread pool (the Now page renders there)."""
        values.setdefault("now", self.now())
        return self.env.get_template(name).render(
            request=request,
            auth=auth,
            oidc_label=self.oidc.label if self.oidc else None,
            **{"who": None, **values},
        )

    def audit(self, session: tx.Tx, ctx: Ctx | None, **kw: Any) -> None:
        store.audit(session, at=self.now(), actor=ctx.actor if ctx else kw.pop("actor"), **kw)

    def sign_in_audit(
        self,
        session: tx.Tx,
        actor: str,
        action: str,
        detail: dict[str, Any] | None,
        *,
        entity_id: str | None = None,
    ) -> None:
        """An audit line of signing in, before there is a session: the account (or the name
        given) is both who acted and what it was about, unless ``entity_id`` says otherwise."""
        store.audit(
            session,
            at=self.now(),
            actor=actor,
            entity="web_user",
            entity_id=actor if entity_id is None else entity_id,
            action=action,
            detail=detail,
        )

    def note_refusal(
        self, request: Request, who: accounts.SignedIn, action: str, what: str | None
    ) -> None:
        """An audit line for a refused request: on the episode when the path names one, else
        on the page. ``what`` is the operation refused (the method and path when None)."""
        reference = str(request.path_params.get("ref", "")).upper()
        with tx.write(self.engine) as s:
            store.audit(
                s,
                at=self.now(),
                actor=who.account.username,
                entity="episode" if reference else "page",
                entity_id=reference or request.url.path[:80],
                action=action,
                detail={
                    "role": who.account.role,
                    "what": what or f"{request.method} {request.url.path}",
                },
            )
        log.warning(
            "web: %s refused (%s) %s %s",
            who.account.username, action, request.method, request.url.path,
        )

    # -- sessions -------------------------------------------------------------------------

    def signed_in(self, request: Request) -> accounts.SignedIn | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        with tx.write(self.engine) as s:
            return accounts.find_session(
                s,
                auth.token_hash(token),
                now=self.now(),
                idle=timedelta(minutes=self.web.idle_minutes),
            )

    def signed_in_with_scope(
        self, request: Request
    ) -> tuple[accounts.SignedIn | None, views.Scope]:
        """The session and whose children it may see; no scope (None) when not signed in."""
        who = self.signed_in(request)
        return who, (self.scope_of(who) if who is not None else None)

    def scope_of(self, who: accounts.SignedIn) -> views.Scope:
        role = who.account.role
        if role in auth.SEES_ALL:
            return None
        with tx.read(self.reader) as s:
            return views.allocated_children(
                s, role=auth.OWN_CHILDREN.get(role, role), email=who.account.email
            )

    def start_session(self, request: Request, account: accounts.Account, method: str) -> Response:
        token = auth.new_token()
        with tx.write(self.engine) as s:
            accounts.start_session(
                s,
                account_id=account.id,
                token_hash=auth.token_hash(token),
                csrf_token=auth.new_token(),
                method=method,
                now=self.now(),
                lifetime=timedelta(hours=self.web.session_hours),
            )
            self.sign_in_audit(s, account.username, "signed_in", {"method": method})
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
                # One trip to the thread pool for the session and the scope (each trip waits
                # for a thread, which on a busy machine costs more than the queries).
                who, scope = await run_in_threadpool(app.signed_in_with_scope, request)
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
                    await run_in_threadpool(app.note_refusal, request, who, "role_denied", None)
                    return app.error(
                        request,
                        403,
                        "You cannot see this page",
                        "Your role does not give access to this page.",
                        who=who,
                    )
                form = None
                if request.method == "POST":
                    form = await request.form(max_files=2, max_fields=200)
                    if not auth.same_token(text(form, "csrf_token"), who.csrf_token):
                        await run_in_threadpool(
                            app.note_refusal, request, who, "csrf_refused", None
                        )
                        return app.error(
                            request,
                            403,
                            "This form has expired",
                            "Go back, reload the page and try again.",
                            who=who,
                        )
                return await fn(app, Ctx(request, who, form, scope))

            return endpoint

        return bind

    return wrap


def text(form: FormData | None, name: str) -> str:
    if form is None:
        return ""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""

async def act(
    app: WebApp,
    ctx: Ctx,
    work: Callable[[tx.Tx], object],
    done: str,
    *,
    back: str | None = None,
) -> Response:
    """Run one action in its own transaction; a refusal is shown with its reason (409).

    ``back`` is the page the refusal links back to (the episode the person was working on).
    """

    def run() -> None:
        with tx.write(app.engine) as s:
            work(s)

    try:
        await run_in_threadpool(run)
    except MailbridgeError as exc:
        return app.error(ctx.request, 409, "Not done", str(exc), who=ctx.who, back=back)
    return RedirectResponse(done, status_code=303)


def allowed(ctx: Ctx, child_id: str | None) -> bool:
    return ctx.scope is None or (child_id is not None and child_id in ctx.scope)


def denied(app: WebApp, ctx: Ctx, reference: str, what: str) -> Response:
    def note() -> None:
        with tx.write(app.engine) as s:
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
    return app.error(
        ctx.request,
        403,
        "You cannot see this episode",
        "This child is not allocated to you. The attempt has been recorded.",
        who=ctx.who,
    )


async def access(app: WebApp, ctx: Ctx, reference: str, what: str) -> Response | None:
    """None when the person may see the episode; else the 404 or 403 response to send."""

    def look() -> tuple[int, str | None] | None:
        with tx.read(app.engine) as s:
            return views.episode_access(s, reference)

    found = await run_in_threadpool(look)
    if found is None:
        return app.error(
            ctx.request,
            404,
            "Episode not found",
            f"There is no episode {reference.upper()}.",
            who=ctx.who,
        )
    if not allowed(ctx, found[1]):
        return await run_in_threadpool(denied, app, ctx, reference, what)
    return None


def for_episode(
    what: str, roles: frozenset[str] | tuple[str, ...] = auth.ROLES
) -> Callable[[EpisodeHandler], Callable[[WebApp], Callable[[Request], Awaitable[Response]]]]:
    """``page(roles)`` for the episode of the path's ``{ref}``: the handler runs only once
    ``access`` lets the person ``what`` it (else its 404 or 403), and gets the reference."""

    def wrap(fn: EpisodeHandler) -> Callable[[WebApp], Callable[[Request], Awaitable[Response]]]:
        async def checked(app: WebApp, ctx: Ctx) -> Response:
            reference = ctx.request.path_params["ref"].upper()
            refused = await access(app, ctx, reference, what)
            if refused is not None:
                return refused
            return await fn(app, ctx, reference)

        return page(roles)(checked)

    return wrap

