"""Signing in and out: the local password form, its TOTP second step, and OpenID Connect.

A wrong password and an unknown username cost the same and say the same; every failure and every
sign-in is an audit line. OpenID Connect says who someone is; only an active mailbridge account
with that email (or username) gets a session.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mailbridge.errors import MailbridgeError
from mailbridge.store import accounts, tx
from mailbridge.web import auth
from mailbridge.web.core import SESSION_COOKIE, Ctx, WebApp, page, text

log = logging.getLogger(__name__)

# -- sign-in ----------------------------------------------------------------------------------


async def login_page(app: WebApp, request: Request) -> Response:
    who = await run_in_threadpool(app.signed_in, request)
    if who is not None and request.method == "GET":
        return RedirectResponse("/episodes", status_code=303)
    if request.method == "GET":
        return _form(app, request, "login.html", 200, None)
    form = await request.form(max_files=0, max_fields=10)
    username = text(form, "username")
    password = form.get("password")
    if not auth.login_token_ok(app.login_key, text(form, "csrf_token")):
        return _form(
            app, request, "login.html", 403, "The sign-in form had expired. Please try again."
        )
    account = await run_in_threadpool(
        _check_login, app, username, password if isinstance(password, str) else ""
    )
    if account is None:
        return _form(
            app,
            request,
            "login.html",
            401,
            "The username or password is not right.",
            username=username,
        )
    if account.has_totp:
        return _code_form(app, request, account.id, None, 200)
    return await run_in_threadpool(app.start_session, request, account, "password")


def _form(
    app: WebApp, request: Request, name: str, status: int, error: str | None, **values: Any
) -> Response:
    """A sign-in step's form with a fresh login token: anew, or again with what was wrong."""
    return app.render(
        request, name, status, csrf=auth.login_token(app.login_key), error=error, **values
    )


def _code_form(
    app: WebApp, request: Request, account_id: int, error: str | None, status: int
) -> Response:
    pending = auth.pending_token(app.login_key, account_id)
    return _form(app, request, "login_code.html", status, error, pending=pending)


async def login_code(app: WebApp, request: Request) -> Response:
    """The second step for an account with TOTP: the code from the person's authenticator."""
    form = await request.form(max_files=0, max_fields=10)
    account_id = auth.pending_account(app.login_key, text(form, "pending"))
    if not auth.login_token_ok(app.login_key, text(form, "csrf_token")) or account_id is None:
        return _form(
            app, request, "login.html", 403, "The sign-in took too long. Please start again."
        )
    account = await run_in_threadpool(_check_code, app, account_id, text(form, "code"))
    if account is None:
        return _code_form(app, request, account_id, "The code is not right.", 401)
    return await run_in_threadpool(app.start_session, request, account, "password+totp")


def _check_code(app: WebApp, account_id: int, code: str) -> accounts.Account | None:
    with tx.write(app.engine) as s:
        found = accounts.totp_secret_of(s, account_id)
        if found is None:
            return None
        account, secret = found
        if secret is None or not account.active:
            return None
        ok = auth.totp_ok(secret, code, app.now())
        if not ok:
            app.sign_in_audit(s, account.username, "sign_in_failed", {"step": "totp"})
        return account if ok else None


def _check_login(app: WebApp, username: str, password: str) -> accounts.Account | None:
    with tx.write(app.engine) as s:
        found = accounts.password_hash_of(s, username) if username else None
        account, stored = found if found is not None else (None, None)
        checked = auth.check_password(password, stored)
        ok = checked.ok and account is not None and account.active
        if ok and checked.rehash and account is not None:
            accounts.set_password(s, account.username, checked.rehash, app.now())
        app.sign_in_audit(
            s,
            username[:120] or "-",
            "sign_in_failed" if not ok else "password_ok",
            None,
            entity_id=username[:80] or "-",
        )
        return account if ok else None


@page()
async def logout(app: WebApp, ctx: Ctx) -> Response:
    token = ctx.request.cookies.get(SESSION_COOKIE, "")

    def end() -> None:
        with tx.write(app.engine) as s:
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
        return app.error(request, 400, "Sign-in did not complete", str(exc))

    def find() -> accounts.Account | None:
        with tx.write(app.engine) as s:
            account = None
            email = str(claims.get("email") or "")
            if email:
                account = accounts.account_by_email(s, email)
            name = str(claims.get(app.web.oidc_username_claim) or "")
            if account is None and name:
                account = accounts.account_by_name(s, name)
            if account is None or not account.active:
                app.sign_in_audit(
                    s,
                    (email or name or str(claims.get("sub")))[:120],
                    "sign_in_refused",
                    {"method": "oidc", "reason": "no active account"},
                    entity_id=(email or name or "-")[:80],
                )
                return None
            return account

    account = await run_in_threadpool(find)
    if account is None:
        return app.error(
            request,
            403,
            "No mailbridge account",
            "Your organisation signed you in, but there is no active mailbridge "
            "account for you. Ask an administrator to add one with your email address.",
        )
    return await run_in_threadpool(app.start_session, request, account, "oidc")
