"""The staff web app: the Starlette app, its routes and its security headers.

Every page needs a signed-in session (``/login``: a local account, or OpenID Connect); every
POST needs the session's CSRF token; every view of a child's record writes an audit row
(``core.page`` and ``core.access``). The database work of a request runs in Starlette's thread
pool, and the whole app runs on its own thread and event loop (``server.WebServer``), so a slow
page never holds up the SMTP listener. The pages live in ``web/pages/``, one module per group;
they read through ``store.views`` and act through the episode operations, never SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mailbridge.clock import Clock, system_clock
from mailbridge.routing.rules import Routing
from mailbridge.settings.config import Settings
from mailbridge.store import tx
from mailbridge.web.core import CSP, HERE, WebApp
from mailbridge.web.pages.admin import audit_page, directory_page, directory_upload, users_page
from mailbridge.web.pages.casework import casework_action
from mailbridge.web.pages.episode import (
    acknowledge,
    attachment_download,
    episode_page,
    interview_outcome,
    now_page,
)
from mailbridge.web.pages.figures import figures_page, figures_report, ssda903_page
from mailbridge.web.pages.lists import interviews_page, reprocess, triage_page
from mailbridge.web.pages.signin import login_code, login_page, logout, oidc_callback, oidc_start

log = logging.getLogger(__name__)


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
    engine: tx.Engine,
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
